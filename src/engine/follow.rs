//! Following a slice of the options: the one supervisor loop that the parts beside the
//! engine share (the HTTP API, DNS serving, start at login). Each says which options it
//! follows; it gets them at once, then again each time they differ from the last ones it
//! got, until the engine stops. While it runs on one value it can follow the snapshots
//! and learn when that value is out of date.
//!
//! ```ignore
//! let mut follower = Follower::new(&client, |s| s.settings.options.dns_serving.clone());
//! while let Some((options, mut unchanged)) = follower.next().await {
//!     // start on `options`...
//!     while let Some(snapshot) = unchanged.next().await { /* follow it */ }
//!     // stop: the options changed or the engine stopped
//! }
//! ```

use std::sync::Arc;

use tokio::sync::watch;

use super::{EngineClient, Snapshot};

/// Picks the followed options out of a snapshot.
pub type Select<T> = fn(&Snapshot) -> T;

/// Hands out each new value of the followed options.
pub struct Follower<T> {
    watch: watch::Receiver<Arc<Snapshot>>,
    select: Select<T>,
    /// The value handed out last; `None` before the first.
    last: Option<T>,
}

impl<T: Clone + PartialEq> Follower<T> {
    pub fn new(client: &EngineClient, select: Select<T>) -> Self {
        Follower {
            watch: client.watch(),
            select,
            last: None,
        }
    }

    /// The options now (at once the first time), then each time they differ from the
    /// last ones handed out; `None` once the engine has stopped.
    pub async fn next(&mut self) -> Option<(T, Unchanged<T>)> {
        loop {
            let now = (self.select)(&self.watch.borrow_and_update());
            match &self.last {
                Some(last) if *last == now => {}
                // The first value is handed out even after the engine stopped: it is
                // what the engine ran on (start at login is set from it).
                Some(_) if self.watch.has_changed().is_err() => return None,
                _ => {
                    self.last = Some(now.clone());
                    let unchanged = Unchanged {
                        watch: self.watch.clone(),
                        select: self.select,
                        options: now.clone(),
                    };
                    return Some((now, unchanged));
                }
            }
            if self.watch.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// The snapshots while one value of the followed options holds.
pub struct Unchanged<T> {
    watch: watch::Receiver<Arc<Snapshot>>,
    select: Select<T>,
    options: T,
}

impl<T: PartialEq> Unchanged<T> {
    /// The next snapshot; `None` once the options differ or the engine has stopped.
    pub async fn next(&mut self) -> Option<Arc<Snapshot>> {
        self.watch.changed().await.ok()?;
        let snapshot = self.watch.borrow_and_update().clone();
        ((self.select)(&snapshot) == self.options).then_some(snapshot)
    }

    /// Resolves once the options differ or the engine has stopped (for a graceful
    /// shutdown).
    pub async fn ended(mut self) {
        while self.next().await.is_some() {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::Settings;

    fn snapshot(port: u16) -> Arc<Snapshot> {
        let mut settings = Settings::default();
        settings.options.dns_serving.port = port;
        Arc::new(Snapshot::empty(Arc::new(settings), None))
    }

    fn port(s: &Snapshot) -> u16 {
        s.settings.options.dns_serving.port
    }

    #[tokio::test]
    async fn each_new_value_once_and_snapshots_while_it_holds() {
        let (tx, rx) = watch::channel(snapshot(5300));
        let client = EngineClient::for_watch(rx);
        let mut follower = Follower::new(&client, port);
        let (first, mut unchanged) = follower.next().await.unwrap();
        assert_eq!(first, 5300);
        // Another snapshot with the same options is followed, not a new value.
        tx.send(snapshot(5300)).unwrap();
        assert!(unchanged.next().await.is_some());
        tx.send(snapshot(5301)).unwrap();
        assert!(unchanged.next().await.is_none());
        let (second, unchanged) = follower.next().await.unwrap();
        assert_eq!(second, 5301);
        // Back and forth before the follower looks: it sees the value now, not a stale one.
        tx.send(snapshot(5302)).unwrap();
        tx.send(snapshot(5301)).unwrap();
        tx.send(snapshot(5303)).unwrap();
        unchanged.ended().await;
        let (third, _) = follower.next().await.unwrap();
        assert_eq!(third, 5303);
        // The same value again is no new value; the engine stopping ends the follower.
        tx.send(snapshot(5303)).unwrap();
        drop(tx);
        assert!(follower.next().await.is_none());
    }
}
