//! The TCP presets and the FTP login check against real daemons started by the
//! tests/peers/ scripts: Pure-FTPd (FTP, explicit FTPS), Dovecot (POP3, IMAP) and aiosmtpd
//! (SMTP). Each preset passes against the running daemon, fails with 147 when the port
//! answers wrongly and with 111 once the daemon is stopped. No NNTP server is started:
//! Debian's INN needs its news user, spool and databases under /var, so NNTP is checked
//! against a minimal listener here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use standby::model::{FtpLogin, Secret, TcpPoll, TcpService, TextRule};
use standby::probe::tcp::TcpProbe;
use standby::probe::{PollOutcome, PollTarget, Probe};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::support::ports::{free_port, refusing_port};
use crate::support::{bounded, peer_script};

const FTP_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 12));
const MAIL_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 13));
const SMTP_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 14));
const NNTP_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 15));

/// A daemon run by a tests/peers/ script in the foreground; stopped by SIGTERM and reaped
/// when dropped.
struct Peer {
    child: Child,
    stopped: bool,
    _dir: tempfile::TempDir,
}

impl Peer {
    /// Runs `script dir args…` and waits until `ip:port` accepts connections.
    fn start(script: &str, args: &[String], ip: IpAddr, port: u16) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let path = peer_script(script);
        let mut command = Command::new("bash");
        command.arg(&path);
        if script != "smtp.sh" {
            command.arg(dir.path());
        }
        let child = command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
        let mut peer = Peer {
            child,
            stopped: false,
            _dir: dir,
        };
        // Readiness: these daemons say nothing on stdout when ready, so try connecting,
        // bounded; an early exit of the script is reported at once.
        let until = Instant::now() + Duration::from_secs(20);
        let address = SocketAddr::new(ip, port);
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return peer;
            }
            if let Some(status) = peer.child.try_wait().unwrap() {
                peer.stopped = true;
                panic!("{script} exited with {status} before listening on {address}");
            }
            assert!(
                Instant::now() < until,
                "{script} not listening on {address} after 20 s"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn poll(ip: IpAddr, settings: TcpPoll) -> PollOutcome {
    TcpProbe::new(&settings)
        .unwrap()
        .poll(&PollTarget {
            address: ip,
            public_address: ip,
            name: "peer".into(),
            host: "ftp.example.test".into(),
            set_name: "set".into(),
            // Generous: Pure-FTPd delays its answer to a wrong password by design, more so on a
            // loaded machine.
            timeout: Duration::from_secs(30),
        })
        .await
}

fn preset(service: TcpService, port: u16) -> TcpPoll {
    TcpPoll {
        service,
        port: Some(port),
        ..TcpPoll::default()
    }
}

fn code(outcome: &PollOutcome) -> Option<u16> {
    outcome.failure.map(|f| f.code())
}

fn login(password: &str, explicit_tls: bool, verify_certificate: bool) -> Option<FtpLogin> {
    Some(FtpLogin {
        user: "standby".into(),
        password: Secret::new(password),
        explicit_tls,
        verify_certificate,
    })
}

#[tokio::test]
async fn ftp_greeting_and_login() {
    bounded(async {
        let port = free_port(FTP_IP);
        let mut ftp = Peer::start(
            "pureftpd.sh",
            &[FTP_IP.to_string(), port.to_string()],
            FTP_IP,
            port,
        );
        let greeting = "220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------";

        let outcome = poll(FTP_IP, preset(TcpService::Ftp, port)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, greeting);

        let mut plain = preset(TcpService::Ftp, port);
        plain.ftp_login = login("secret", false, false);
        let outcome = poll(FTP_IP, plain.clone()).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(
            outcome.response,
            format!("{greeting}; logged in as standby")
        );

        let mut tls = preset(TcpService::Ftp, port);
        tls.ftp_login = login("secret", true, false);
        let outcome = poll(FTP_IP, tls.clone()).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(
            outcome.response,
            format!("{greeting}; logged in over TLS as standby")
        );

        // The daemon's certificate is self-signed: verifying it fails in the TLS stage,
        // before the password is sent.
        tls.ftp_login = login("secret", true, true);
        let outcome = poll(FTP_IP, tls).await;
        assert_eq!(code(&outcome), Some(112), "{outcome:?}");
        assert!(outcome.response.starts_with("TLS: "), "{outcome:?}");

        plain.ftp_login = login("wrong", false, false);
        let outcome = poll(FTP_IP, plain).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert!(outcome.response.starts_with("530"), "{outcome:?}");

        let mut wrong = preset(TcpService::Ftp, port);
        wrong.greeting = Some(TextRule::StartsWith("220 (vsFTPd".into()));
        let outcome = poll(FTP_IP, wrong).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            format!("{greeting}: does not start with \"220 (vsFTPd\"")
        );

        ftp.stop();
        let outcome = poll(FTP_IP, preset(TcpService::Ftp, port)).await;
        assert_eq!(code(&outcome), Some(111), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn pop3_and_imap_with_dovecot() {
    bounded(async {
        let (pop3, imap) = (free_port(MAIL_IP), free_port(MAIL_IP));
        let args = [MAIL_IP.to_string(), pop3.to_string(), imap.to_string()];
        let mut dovecot = Peer::start("dovecot.sh", &args, MAIL_IP, imap);
        // Both listeners come up together, but check the second one too.
        assert!(TcpStream::connect(SocketAddr::new(MAIL_IP, pop3)).is_ok());

        let outcome = poll(MAIL_IP, preset(TcpService::Pop3, pop3)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "+OK Dovecot ready.");
        let outcome = poll(MAIL_IP, preset(TcpService::Imap, imap)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert!(
            outcome.response.starts_with("* OK [CAPABILITY IMAP4rev1"),
            "{outcome:?}"
        );

        // The wrong service on the port: an IMAP greeting for a POP3 poll and back.
        let outcome = poll(MAIL_IP, preset(TcpService::Pop3, imap)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        let outcome = poll(MAIL_IP, preset(TcpService::Imap, pop3)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "+OK Dovecot ready.: does not start with \"* OK\""
        );

        dovecot.stop();
        for port in [pop3, imap] {
            let outcome = poll(MAIL_IP, preset(TcpService::Imap, port)).await;
            assert_eq!(code(&outcome), Some(111), "{outcome:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn smtp_with_aiosmtpd() {
    bounded(async {
        let port = free_port(SMTP_IP);
        let mut smtp = Peer::start(
            "smtp.sh",
            &[SMTP_IP.to_string(), port.to_string()],
            SMTP_IP,
            port,
        );
        let outcome = poll(SMTP_IP, preset(TcpService::Smtp, port)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert!(
            outcome.response.starts_with("220 ") && outcome.response.contains("Python SMTP"),
            "{outcome:?}"
        );

        let mut wrong = preset(TcpService::Smtp, port);
        wrong.greeting = Some(TextRule::Contains("ESMTP Postfix".into()));
        let outcome = poll(SMTP_IP, wrong).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");

        smtp.stop();
        let outcome = poll(SMTP_IP, preset(TcpService::Smtp, port)).await;
        assert_eq!(code(&outcome), Some(111), "{outcome:?}");
        assert!(
            outcome.response.to_lowercase().contains("refused"),
            "{outcome:?}"
        );
    })
    .await;
}

/// A minimal NNTP greeter (no NNTP daemon is packaged in a form that runs from a temp dir).
async fn nntp_listener(greeting: &'static [u8]) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(SocketAddr::new(NNTP_IP, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(greeting).await;
        }
    });
    (port, task)
}

#[tokio::test]
async fn nntp_with_a_minimal_listener() {
    bounded(async {
        let (port, server) =
            nntp_listener(b"200 news.example.test InterNetNews NNRP server ready\r\n").await;
        let outcome = poll(NNTP_IP, preset(TcpService::Nntp, port)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "200 news.example.test InterNetNews NNRP server ready"
        );
        server.abort();
        let _ = server.await;
        // Nothing listens: a port bound and held without listening, so that no test running
        // beside this one can take it (a freed port was once reused here: "reset", 114).
        let (_held, closed) = refusing_port(NNTP_IP);
        let outcome = poll(NNTP_IP, preset(TcpService::Nntp, closed)).await;
        assert_eq!(code(&outcome), Some(111), "{outcome:?}");

        let (port, _server) = nntp_listener(b"502 You have no permission to talk\r\n").await;
        let outcome = poll(NNTP_IP, preset(TcpService::Nntp, port)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "502 You have no permission to talk: does not match /^20[01]/"
        );
    })
    .await;
}

const REDIS_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 18));
const MEMCACHED_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 19));

/// A real redis-server (tests/peers/redis.sh: no persistence); `password` = requirepass.
fn redis(password: Option<&str>) -> (Peer, u16) {
    let port = free_port(REDIS_IP);
    let mut args = vec![REDIS_IP.to_string(), port.to_string()];
    args.extend(password.map(str::to_owned));
    (Peer::start("redis.sh", &args, REDIS_IP, port), port)
}

#[tokio::test]
async fn redis_preset_sends_ping_and_expects_pong() {
    bounded(async {
        let (_redis, port) = redis(None);
        let outcome = poll(REDIS_IP, preset(TcpService::Redis, port)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "+PONG");
        // The same command in RESP, written with the escapes (`\x2a` is `*`).
        let mut resp = preset(TcpService::Redis, port);
        resp.send = Some(r"\x2a1\r\n$4\r\nPING\r\n".into());
        let outcome = poll(REDIS_IP, resp).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "+PONG");
        // Failing: a reply the preset's rule refuses.
        let mut echo = preset(TcpService::Redis, port);
        echo.send = Some(r"ECHO hello\r\n".into());
        let outcome = poll(REDIS_IP, echo).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(outcome.response, "$5: does not start with \"+PONG\"");
    })
    .await;
}

#[tokio::test]
async fn redis_that_wants_a_password_fails_the_preset() {
    bounded(async {
        let (_redis, port) = redis(Some("hunter2"));
        let outcome = poll(REDIS_IP, preset(TcpService::Redis, port)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "-NOAUTH Authentication required.: does not start with \"+PONG\""
        );
        // Logging in first: the first reply line is AUTH's.
        let mut auth = preset(TcpService::Redis, port);
        auth.send = Some(r"AUTH hunter2\r\nPING\r\n".into());
        auth.greeting = Some(TextRule::StartsWith("+OK".into()));
        let outcome = poll(REDIS_IP, auth).await;
        assert!(outcome.is_success(), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn memcached_preset_speaks_the_text_protocol() {
    bounded(async {
        let port = free_port(MEMCACHED_IP);
        let _memcached = Peer::start(
            "memcached.sh",
            &[MEMCACHED_IP.to_string(), port.to_string()],
            MEMCACHED_IP,
            port,
        );
        let outcome = poll(MEMCACHED_IP, preset(TcpService::Memcached, port)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert!(
            outcome.response.starts_with("VERSION 1."),
            "{}",
            outcome.response
        );
        // Failing: a command whose reply is no version.
        let mut stats = preset(TcpService::Memcached, port);
        stats.send = Some(r"stats\r\n".into());
        let outcome = poll(MEMCACHED_IP, stats).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert!(
            outcome.response.starts_with("STAT pid "),
            "{}",
            outcome.response
        );
    })
    .await;
}
