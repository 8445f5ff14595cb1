//! Standby: DNS failover. Polls every server of a server set, decides which are
//! functional, keeps DNS pointing at them and tells people what happened.
//!
//! Layers, arrows pointing down only (see ARCHITECTURE.md):
//! `ui` → `engine` → `probe`, `dnsupdate`, `notify` → `exec`, `store` → `model`.

pub mod dnsupdate;
pub mod engine;
pub mod exec;
pub mod model;
pub mod notify;
pub mod probe;
pub mod store;
pub mod ui;
