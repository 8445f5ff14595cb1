//! The API's listener: a bounded number of connections, each closed when it stays silent
//! (idle between requests, or slow to send its headers), and accept errors that back off
//! instead of spinning. A flood of idle connections can neither exhaust the process's file
//! descriptors (the polls need them) nor keep the API to itself for long.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// How much the listener gives one client and all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; further clients wait in the kernel's backlog.
    pub max_connections: usize,
    /// A connection that sends no complete request head for this long (a new one, or one
    /// idle after its last answer) is closed.
    pub header_timeout: Duration,
    /// The time a request may take to send its body.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(20),
        }
    }
}

/// Counts of the listener, for tests and metrics.
#[derive(Debug, Default)]
pub struct ServeStats {
    /// Connections open now.
    pub open: AtomicUsize,
    /// The most connections ever open at once.
    pub peak: AtomicUsize,
    /// Failed `accept` calls.
    pub accept_errors: AtomicUsize,
}

/// Something that hands out connections: a `TcpListener`, or a test's failing stand-in.
pub trait Acceptor {
    fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send;

    /// Waits out the pause after an accept error.
    fn pause(&self, pause: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(pause)
    }
}

impl Acceptor for TcpListener {
    fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }
}

/// The pause after consecutive accept errors (EMFILE, ENFILE, ENOBUFS...): such an error
/// does not go away by retrying at once, and retrying at once is a busy loop.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// The pause after one more error: 10 ms, doubling up to 1 s.
    pub fn failed(&mut self) -> Duration {
        let pause = Self::FIRST
            .saturating_mul(1 << self.failures.min(10))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    /// An accept succeeded: the next error pauses briefly again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Serves `app` on `acceptor` until `shutdown` completes; open connections then finish
/// their request and close. With `tls`, each connection speaks HTTPS (its handshake within
/// the header time-out). `log` gets the first accept error of each streak.
pub async fn serve<A: Acceptor>(
    acceptor: A,
    app: Router,
    limits: Limits,
    stats: Arc<ServeStats>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    log: impl Fn(String),
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    loop {
        // A permit before accepting: past the cap, clients wait in the backlog and cost
        // this process no file descriptor.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = acceptor.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(e) => {
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                if backoff.failures() == 0 {
                    log(format!(
                        "HTTP API: cannot accept a connection: {e} (retrying with back-off)"
                    ));
                }
                let pause = backoff.failed();
                drop(permit);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = acceptor.pause(pause) => continue,
                }
            }
        };
        let open = stats.open.fetch_add(1, Ordering::Relaxed) + 1;
        stats.peak.fetch_max(open, Ordering::Relaxed);
        let app = app.clone();
        let stats = stats.clone();
        let mut stop = stop_rx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tls {
                None => serve_connection(stream, peer, app, limits, &mut stop).await,
                Some(tls) => {
                    let handshake = tokio::time::timeout(limits.header_timeout, tls.accept(stream));
                    // A failed or silent handshake just closes the connection.
                    if let Ok(Ok(stream)) = handshake.await {
                        serve_connection(stream, peer, app, limits, &mut stop).await;
                    }
                }
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let _ = stop_tx.send(true);
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    stop: &mut watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // The peer's address for the login throttle, as axum's `ConnectInfo`.
    let service = TowerToHyperService::new(app.layer(axum::Extension(ConnectInfo(peer))));
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper arms this timer whenever it waits for a request head: on a new connection and
    // on one idle after its answer, so it is both the header and the idle time-out.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        // The guard `wait_for` returns is dropped at once (it must not live across an await).
        _ = async { stop.wait_for(|stopped| *stopped).await.is_ok() } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_up_to_a_second_and_starts_over_after_a_success() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u128> = (0..9).map(|_| backoff.failed().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(10));
    }

    /// A listener whose every accept fails like one at the file-descriptor limit; it
    /// records the pauses asked of it instead of sleeping, and ends the test after 12.
    struct Exhausted {
        accepts: AtomicUsize,
        pauses: std::sync::Mutex<Vec<u128>>,
        done: tokio::sync::Notify,
    }

    impl Acceptor for Exhausted {
        fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
            let accepts = self.accepts.fetch_add(1, Ordering::Relaxed) + 1;
            let pauses = self.pauses.lock().unwrap().len();
            // Every retry came after a pause: a loop that spins fails here at once.
            assert_eq!(accepts, pauses + 1, "accept retried without a pause");
            async { Err(io::Error::from_raw_os_error(24)) } // EMFILE
        }

        fn pause(&self, pause: Duration) -> impl Future<Output = ()> + Send {
            let mut pauses = self.pauses.lock().unwrap();
            pauses.push(pause.as_millis());
            if pauses.len() == 12 {
                self.done.notify_one();
            }
            async {}
        }
    }

    #[tokio::test]
    async fn accept_errors_back_off_instead_of_spinning() {
        let acceptor = Arc::new(Exhausted {
            accepts: AtomicUsize::new(0),
            pauses: std::sync::Mutex::default(),
            done: tokio::sync::Notify::new(),
        });
        let stats = Arc::new(ServeStats::default());
        let logged = Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = logged.clone();
        let done = acceptor.clone();
        let served = serve(
            SharedAcceptor(acceptor.clone()),
            Router::new(),
            Limits::default(),
            stats.clone(),
            None,
            async move { done.done.notified().await },
            move |line| lines.lock().unwrap().push(line),
        );
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .expect("the loop ends at the 12th pause");
        let pauses = acceptor.pauses.lock().unwrap().clone();
        assert_eq!(
            pauses[..9],
            [10, 20, 40, 80, 160, 320, 640, 1000, 1000],
            "{pauses:?}"
        );
        assert_eq!(stats.accept_errors.load(Ordering::Relaxed), pauses.len());
        let logged = logged.lock().unwrap();
        assert_eq!(logged.len(), 1, "one line per streak: {logged:?}");
        assert!(logged[0].contains("os error 24"), "{logged:?}");
    }

    struct SharedAcceptor(Arc<Exhausted>);

    impl Acceptor for SharedAcceptor {
        fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
            self.0.accept()
        }

        fn pause(&self, pause: Duration) -> impl Future<Output = ()> + Send {
            self.0.pause(pause)
        }
    }
}
