//! The in-app Ping window's pings: the ping probe, once a second, each reply sent to the
//! window until it closes (its receiver is dropped) or an hour has passed.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::model::PollMethod;
use crate::probe::{self, PollTarget};

/// One line of the Ping window.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PingReply {
    pub time: SystemTime,
    pub success: bool,
    /// `echo reply in 0.1 ms`, or why not (with the problem code).
    pub text: String,
    pub ms: Option<f64>,
}

/// At most this many pings per window (one an hour at one a second).
const MAX_PINGS: usize = 3600;

pub(super) async fn ping_loop(address: IpAddr, replies: mpsc::Sender<PingReply>) {
    let probe = match probe::build(&PollMethod::Ping) {
        Ok(probe) => probe,
        Err(e) => {
            let _ = replies
                .send(PingReply {
                    time: SystemTime::now(),
                    success: false,
                    text: e.to_string(),
                    ms: None,
                })
                .await;
            return;
        }
    };
    let target = PollTarget {
        address,
        public_address: address,
        name: address.to_string(),
        host: String::new(),
        set_name: String::new(),
        timeout: Duration::from_secs(4),
    };
    for _ in 0..MAX_PINGS {
        let outcome = probe.poll(&target).await;
        let reply = PingReply {
            time: SystemTime::now(),
            success: outcome.is_success(),
            text: match outcome.failure {
                None => outcome.response.clone(),
                Some(f) => format!("{} {}", f.code(), outcome.response),
            },
            ms: outcome
                .is_success()
                .then_some(outcome.elapsed.as_secs_f64() * 1000.0),
        };
        if replies.send(reply).await.is_err() {
            return; // the window was closed
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
