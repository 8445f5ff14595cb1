//! Cluster mode's coordination through etcd (issue 13): the client of etcd's v3 JSON
//! gateway (`etcd.rs`) and its watch (`watch.rs`), the shared settings' pure rules
//! (`shared_settings.rs`), the keys and the published views' wire form (`views.rs`) and
//! the fence of the one writer (`election.rs`). A layer with `dnsupdate` and `notify`: the
//! engine's async shell calls it (`engine/shell/cluster.rs`); the pure core never does (it
//! gets what etcd holds as input data).

pub mod election;
pub mod etcd;
pub mod shared_settings;
pub mod views;
pub mod watch;

pub use election::Fence;
pub use etcd::{Compare, Etcd, EtcdError, KeyValue, Lease, TxnOutcome};
pub use watch::{EventKind, WatchEvent, Watcher};
