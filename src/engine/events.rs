//! Events (changes of state worth telling) and the live log.

use std::collections::VecDeque;
use std::time::SystemTime;

use crate::model::EventKind;

/// A change of state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub time: SystemTime,
    pub kind: EventKind,
    pub set: String,
    /// The server (address) or DNS server + host name concerned; blank for the whole set.
    pub subject: String,
    /// A human sentence.
    pub text: String,
    /// Tag values for notifications (`$STATUS$`, `$RESPONSE$`, `$PCODE$`...).
    pub details: EventDetails,
}

/// Details a notification may need.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventDetails {
    pub server_ip: String,
    pub server_name: String,
    pub status: String,
    pub response: String,
    pub problem: String,
    pub problem_code: Option<u16>,
    pub dns_server: String,
    pub old_ips: String,
    pub new_ips: String,
}

/// How bad a log line is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// One line of the live log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub time: SystemTime,
    pub level: Level,
    pub text: String,
}

/// A ring that keeps the newest `capacity` items.
pub fn push_bounded<T>(ring: &mut VecDeque<T>, item: T, capacity: usize) {
    while ring.len() >= capacity.max(1) {
        ring.pop_front();
    }
    ring.push_back(item);
}
