//! The keys of a cluster in etcd and the published views' wire form. Under
//! `/standby/<cluster>/`:
//!
//! - `leader` — the leader's name, bound to its lease (`election.rs`);
//! - `instances/<instance>` — its heartbeat (`{"at_ms":...}`), bound to its lease;
//! - `views/<instance>/<set>/<server>` — its view of one server, bound to its lease,
//!   written when the view changes (not at every poll);
//! - `outbox/<message id>` — a notification the leader is sending, bound to no lease
//!   (a new leader sends what is left), deleted once delivered (`engine/shared_outbox.rs`).
//!
//! Names are escaped (`%2F` for `/`, `%25` for `%`) so that a set name with a slash
//! cannot make a key of another layout.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One instance's view of one server, as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedView {
    /// `up`, `down` or `unknown` (not polled yet, disabled, skipped: no vote).
    pub seen: String,
    /// The server's status there (`OK`, `retrying`, `failed`...).
    pub status: String,
    /// Since when it is so (Unix milliseconds).
    pub since_ms: u64,
    /// The response of the poll that made it so.
    pub last_response: String,
}

/// An instance's heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// When it was written, by that instance's clock (Unix milliseconds).
    pub at_ms: u64,
}

/// What a key of the cluster is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterKey {
    Leader,
    Instance(String),
    View {
        instance: String,
        set: String,
        server: String,
    },
    /// Another part's key (shared settings...).
    Other,
}

pub fn escape(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

pub fn unescape(text: &str) -> String {
    text.replace("%2F", "/").replace("%25", "%")
}

pub fn leader_key(prefix: &str) -> String {
    format!("{prefix}leader")
}

pub fn instance_key(prefix: &str, instance: &str) -> String {
    format!("{prefix}instances/{}", escape(instance))
}

pub fn view_key(prefix: &str, instance: &str, set: &str, server: &str) -> String {
    format!(
        "{prefix}views/{}/{}/{}",
        escape(instance),
        escape(set),
        escape(server)
    )
}

/// Where the shared outbox's messages are.
pub fn outbox_prefix(prefix: &str) -> String {
    format!("{prefix}outbox/")
}

/// Where the problems the leaders announced and did not resolve yet are.
pub fn problems_prefix(prefix: &str) -> String {
    format!("{prefix}announced/")
}

/// Where the coalescing windows the leaders hold open are.
pub fn windows_prefix(prefix: &str) -> String {
    format!("{prefix}held/")
}

/// Reads a key under `prefix`.
pub fn parse_key(prefix: &str, key: &str) -> ClusterKey {
    let Some(rest) = key.strip_prefix(prefix) else {
        return ClusterKey::Other;
    };
    if rest == "leader" {
        return ClusterKey::Leader;
    }
    if let Some(name) = rest.strip_prefix("instances/")
        && !name.contains('/')
    {
        return ClusterKey::Instance(unescape(name));
    }
    if let Some(view) = rest.strip_prefix("views/") {
        let parts: Vec<&str> = view.split('/').collect();
        if let [instance, set, server] = parts.as_slice() {
            return ClusterKey::View {
                instance: unescape(instance),
                set: unescape(set),
                server: unescape(server),
            };
        }
    }
    ClusterKey::Other
}

pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_a_slash_in_a_name_stays_in_its_part() {
        let p = "/standby/c/";
        let key = view_key(p, "ber/lin", "web%1/a", "127.0.0.1");
        assert_eq!(key, "/standby/c/views/ber%2Flin/web%251%2Fa/127.0.0.1");
        assert_eq!(
            parse_key(p, &key),
            ClusterKey::View {
                instance: "ber/lin".into(),
                set: "web%1/a".into(),
                server: "127.0.0.1".into()
            }
        );
        assert_eq!(parse_key(p, &leader_key(p)), ClusterKey::Leader);
        assert_eq!(
            parse_key(p, &instance_key(p, "paris")),
            ClusterKey::Instance("paris".into())
        );
        assert_eq!(parse_key(p, "/standby/c/settings"), ClusterKey::Other);
        assert_eq!(parse_key(p, "/standby/d/leader"), ClusterKey::Other);
    }
}
