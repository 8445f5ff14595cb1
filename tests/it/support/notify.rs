//! Peers for the notification tests: the SMTP sink (tests/peers/smtp_sink.py, a real
//! aiosmtpd server) started in the foreground and stopped by its PID, and a test CA.
#![allow(dead_code)] // each area uses a part

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The Python that has Debian's python3-aiosmtpd.
pub const PYTHON: &str = "/usr/bin/python3";

/// How the sink is run.
#[derive(Clone, Debug, Default)]
pub struct SmtpOptions {
    /// Certificate and key files: STARTTLS, or TLS from the first byte with `implicit`.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub implicit: bool,
    pub auth: Option<(String, String)>,
    /// Answer the first N messages with 451 (kept as `rejected-N.eml`).
    pub fail_first: u32,
}

/// A running SMTP sink; killed when dropped.
pub struct SmtpSink {
    pub ip: IpAddr,
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl SmtpSink {
    /// Starts the sink and waits (bounded) until it listens.
    pub async fn start(ip: IpAddr, port: u16, dir: &Path, options: &SmtpOptions) -> SmtpSink {
        let script = super::peer_script("smtp_sink.py");
        let mut command = Command::new(PYTHON);
        command
            .arg(script)
            .arg(ip.to_string())
            .arg(port.to_string())
            .arg(dir)
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some((cert, key)) = &options.tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
            if options.implicit {
                command.arg("--implicit-tls");
            }
        }
        if let Some((user, password)) = &options.auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        if options.fail_first > 0 {
            command
                .arg("--fail-first")
                .arg(options.fail_first.to_string());
        }
        let mut child = command.spawn().expect("start tests/peers/smtp_sink.py");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink did not get ready in 20 s")
            .unwrap();
        assert_eq!(line.as_deref(), Some("ready"), "SMTP sink: {line:?}");
        // Keep reading: a closed pipe would break the sink's next write to stdout.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        SmtpSink {
            ip,
            port,
            dir: dir.to_path_buf(),
            child,
        }
    }

    /// Stops it and waits until it is gone (so the port is free again).
    pub async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }

    /// The delivered messages, in order of delivery.
    pub fn messages(&self) -> Vec<String> {
        messages(&self.dir)
    }
}

/// The delivered messages in `dir`, in order of delivery.
pub fn messages(dir: &Path) -> Vec<String> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let n = path
                .file_name()?
                .to_str()?
                .strip_suffix(".eml")?
                .parse()
                .ok()?;
            Some((n, path))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// A header's value in a message.
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}: ");
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(prefix.as_str()))
}

/// The body after the blank line (unfolded from quoted-printable soft breaks).
pub fn body(message: &str) -> String {
    let at = message.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0);
    message[at..].replace("=\r\n", "").replace("\r\n", "\n")
}

/// A test CA and a server certificate for `ip` signed by it, written to `dir`.
/// Returns (CA PEM, certificate file, key file).
pub fn test_certificate(dir: &Path, ip: IpAddr) -> (String, PathBuf, PathBuf) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Standby test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![ip.to_string()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf.signed_by(&key, &*ca).unwrap();
    let cert_file = dir.join("server.crt");
    let key_file = dir.join("server.key");
    std::fs::write(&cert_file, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (ca.pem(), cert_file, key_file)
}

/// A command method that appends `$EVENT$|$COUNT$|$SERVERIP$` as a line to `out` (argv, no
/// shell expansion of the values).
pub fn appending_command(out: &Path) -> standby::model::NotificationKind {
    appending_line(out, "$EVENT$|$COUNT$|$SERVERIP$")
}

/// A command method that appends `line` (its tags expanded, as one argument) to `out`.
pub fn appending_line(out: &Path, line: &str) -> standby::model::NotificationKind {
    standby::model::NotificationKind::Command(standby::model::CommandSpec {
        program: "sh".into(),
        args: vec![
            "-c".into(),
            "printf '%s\\n' \"$1\" >> \"$2\"".into(),
            "sh".into(),
            line.into(),
            out.display().to_string(),
        ],
        wait: None,
    })
}

/// The lines a command method appended to `out` so far (none when it has not written yet).
pub fn appended_lines(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// One request as a [`Recorder`] saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// A header's value (names are lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A real HTTP server (hyper) that records every request. It never answers the first
/// `hang_first` requests (as a receiver that took the message and then was cut off), and
/// answers the others with `status` and `body`.
pub struct Recorder {
    pub port: u16,
    log: std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub async fn start(ip: IpAddr, hang_first: usize) -> Recorder {
        Self::answering(ip, hang_first, 200, "{\"ok\":true}").await
    }

    pub async fn answering(ip: IpAddr, hang_first: usize, status: u16, body: &str) -> Recorder {
        use http_body_util::BodyExt;
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log: std::sync::Arc<std::sync::Mutex<Vec<Recorded>>> = Default::default();
        let server_log = log.clone();
        let answer = bytes::Bytes::from(body.to_string());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let log = server_log.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let log = log.clone();
                            let answer = answer.clone();
                            async move {
                                let method = request.method().to_string();
                                let uri = request.uri().to_string();
                                let headers = request
                                    .headers()
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or("").to_string())
                                    })
                                    .collect();
                                let body = request.into_body().collect().await.unwrap().to_bytes();
                                let n = {
                                    let mut log = log.lock().unwrap();
                                    log.push(Recorded {
                                        method,
                                        uri,
                                        headers,
                                        body: String::from_utf8_lossy(&body).into_owned(),
                                    });
                                    log.len()
                                };
                                if n <= hang_first {
                                    std::future::pending::<()>().await;
                                }
                                let response = hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(http_body_util::Full::new(answer))
                                    .unwrap();
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Recorder { port, log }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// `http://IP:PORT` of this recorder.
    pub fn base(&self, ip: IpAddr) -> String {
        format!("http://{ip}:{}", self.port)
    }
}
