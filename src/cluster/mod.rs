//! Cluster mode's coordination through etcd (issue 13): the client of etcd's v3 JSON
//! gateway (`etcd.rs`), its watch (`watch.rs`) and the shared settings' pure rules
//! (`shared_settings.rs`). A layer with `dnsupdate` and `notify`:
//! the engine's async shell calls it; the pure core never does (it gets what etcd holds as
//! input data).

pub mod etcd;
pub mod shared_settings;
pub mod watch;

pub use etcd::{Compare, Etcd, EtcdError, KeyValue, Lease, TxnOutcome};
pub use watch::{EventKind, WatchEvent, Watcher};
