//! What keeps the DNS server from hurting the monitor it runs in: back-off after socket
//! errors (an `accept()` that fails with EMFILE fails again at once, and retrying it
//! without a pause spins a core), and counters of what the limits turned away, logged
//! at most once per interval so that a flood does not become a flood of log lines.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The first pause after an error, doubled after each further error in a row.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause: a freed descriptor is taken up within a second.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// A counter is logged at most this often.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Exponential back-off for a socket call that keeps failing.
#[derive(Debug, Default)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// The pause before the next try, after one more error.
    pub fn pause(&mut self) -> Duration {
        let pause = self.next.unwrap_or(FIRST_PAUSE);
        self.next = Some((pause * 2).min(LONGEST_PAUSE));
        pause
    }

    /// A success: the next error starts again with a short pause.
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// Calls `op` until it succeeds, pausing with back-off after each error; `on_error`
/// gets each error (to count and log it).
pub async fn retry<T, F, Fut>(
    backoff: &mut Backoff,
    op: F,
    on_error: impl FnMut(std::io::Error),
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<T>>,
{
    retry_with(backoff, op, on_error, tokio::time::sleep).await
}

/// [`retry`] with the pause given (a simulated clock in the tests).
async fn retry_with<T, F, Fut, S, SFut>(
    backoff: &mut Backoff,
    mut op: F,
    mut on_error: impl FnMut(std::io::Error),
    sleep: S,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<T>>,
    S: Fn(Duration) -> SFut,
    SFut: Future<Output = ()>,
{
    loop {
        match op().await {
            Ok(value) => {
                backoff.reset();
                return value;
            }
            Err(e) => {
                on_error(e);
                sleep(backoff.pause()).await;
            }
        }
    }
}

/// Counts one kind of thing turned away, and says when it is time to log the count.
#[derive(Debug, Default)]
pub struct Tally {
    total: u64,
    since_log: u64,
    logged_at: Option<Instant>,
}

impl Tally {
    /// Counts one; `Some((since the last line, in all))` when a line is due (the first
    /// at once, then at most once per [`LOG_INTERVAL`]).
    pub fn note(&mut self, now: Instant) -> Option<(u64, u64)> {
        self.total += 1;
        self.since_log += 1;
        let due = self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= LOG_INTERVAL);
        if !due {
            return None;
        }
        self.logged_at = Some(now);
        let since = std::mem::take(&mut self.since_log);
        Some((since, self.total))
    }
}

/// What response rate limiting says about one more UDP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    Send,
    /// Over the limit: send it truncated (TC, no records): a real client retries over
    /// TCP, which cannot be spoofed.
    Slip,
    /// Over the limit: send nothing.
    Drop,
}

/// Response rate limiting per client network (/24 for IPv4, /56 for IPv6), in windows
/// of one second; past the limit the answers alternate between dropped and slipped.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: u32,
    networks: std::collections::HashMap<u128, (Instant, u32)>,
}

/// Networks remembered at most (a flood of spoofed networks cannot grow the map for ever).
const NETWORKS_KEPT: usize = 100_000;

impl RateLimiter {
    pub fn new(per_sec: u32) -> RateLimiter {
        RateLimiter {
            per_sec,
            networks: std::collections::HashMap::new(),
        }
    }

    pub fn check(&mut self, client: std::net::IpAddr, now: Instant) -> Rate {
        if self.per_sec == 0 {
            return Rate::Send;
        }
        let key = match client {
            std::net::IpAddr::V4(v4) => u128::from(u32::from(v4) & 0xffff_ff00),
            std::net::IpAddr::V6(v6) => (u128::from(v6) & !((1u128 << 72) - 1)) | 1,
        };
        if self.networks.len() >= NETWORKS_KEPT && !self.networks.contains_key(&key) {
            let second = Duration::from_secs(1);
            self.networks
                .retain(|_, (start, _)| now.duration_since(*start) < second);
        }
        let (start, count) = self.networks.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(1) {
            *start = now;
            *count = 0;
        }
        *count += 1;
        if *count <= self.per_sec {
            Rate::Send
        } else if (*count - self.per_sec) % 2 == 1 {
            Rate::Drop
        } else {
            Rate::Slip
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn pauses_double_up_to_a_second_and_start_over() {
        let mut b = Backoff::default();
        let pauses: Vec<u128> = (0..9).map(|_| b.pause().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.pause().as_millis(), 10);
    }

    /// An `accept()` that fails for ever (EMFILE) is tried a few times a second, not in
    /// a busy loop: the tries counted over 10 s of a simulated clock.
    #[tokio::test]
    async fn a_failing_call_is_not_retried_in_a_busy_loop() {
        let clock = Cell::new(Duration::ZERO);
        let calls = Cell::new(0u32);
        let errors = Cell::new(0u32);
        let mut backoff = Backoff::default();
        retry_with(
            &mut backoff,
            || {
                calls.set(calls.get() + 1);
                // Stops once 10 s have passed; a busy loop would never let time pass.
                let stop = clock.get() >= Duration::from_secs(10) || calls.get() > 1000;
                async move {
                    if stop {
                        Ok(())
                    } else {
                        Err(std::io::Error::from_raw_os_error(24)) // EMFILE
                    }
                }
            },
            |_| errors.set(errors.get() + 1),
            |pause| {
                clock.set(clock.get() + pause);
                std::future::ready(())
            },
        )
        .await;
        assert!(calls.get() <= 20, "{} tries in 10 s", calls.get());
        assert!(calls.get() >= 8, "{} tries in 10 s", calls.get());
        assert_eq!(errors.get() + 1, calls.get());
        // The next error after a success pauses briefly again.
        assert_eq!(backoff.pause(), FIRST_PAUSE);
    }

    #[test]
    fn answers_past_the_rate_alternate_between_dropped_and_truncated() {
        let mut r = RateLimiter::new(3);
        let t0 = Instant::now();
        let a: std::net::IpAddr = "192.0.2.1"
            .parse()
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let same_net: std::net::IpAddr = "192.0.2.200".parse().unwrap_or(a);
        let other: std::net::IpAddr = "198.51.100.1".parse().unwrap_or(a);
        let got: Vec<Rate> = (0..3).map(|_| r.check(a, t0)).collect();
        assert_eq!(got, [Rate::Send; 3]);
        assert_eq!(r.check(same_net, t0), Rate::Drop);
        assert_eq!(r.check(a, t0), Rate::Slip);
        assert_eq!(r.check(other, t0), Rate::Send);
        // A new second, a new allowance.
        assert_eq!(r.check(a, t0 + Duration::from_secs(1)), Rate::Send);
        assert_eq!(RateLimiter::new(0).check(a, t0), Rate::Send);
    }

    #[test]
    fn a_tally_logs_the_first_then_once_per_interval() {
        let mut t = Tally::default();
        let t0 = Instant::now();
        assert_eq!(t.note(t0), Some((1, 1)));
        assert_eq!(t.note(t0 + Duration::from_secs(1)), None);
        assert_eq!(t.note(t0 + Duration::from_secs(2)), None);
        assert_eq!(t.note(t0 + LOG_INTERVAL), Some((3, 4)));
    }
}
