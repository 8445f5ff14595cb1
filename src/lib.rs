//! Standby: DNS failover. Polls every server of a server set, decides which are
//! functional, keeps DNS pointing at them and tells people what happened.
//!
//! Layers, arrows pointing down only (see ARCHITECTURE.md):
//! `ui`, `api`, `attach`, `dnsserve`, `autostart` (clients of the engine: snapshots in, commands out)
//! → `engine` → `probe`, `dnsupdate`, `notify`, `cluster` → `exec`, `httpclient`, `store` → `model`.
//! Among the clients, `attach` is the windows' protocol: `ui` runs on an `attach::Link`
//! and `api` carries `attach::session` to remote windows; `attach` names neither.
//! `service` (registration with the OS's service manager) names only `model`.
//! Only `main` wires concrete parts together.

pub mod api;
pub mod attach;
pub mod autostart;
pub mod cluster;
pub mod dnsserve;
pub mod dnsupdate;
pub mod engine;
pub mod exec;
pub mod httpclient;
pub mod model;
pub mod notify;
pub mod probe;
pub mod resources;
pub mod service;
pub mod store;
pub mod ui;
