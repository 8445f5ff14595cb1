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
    standby::model::NotificationKind::Command(standby::model::CommandSpec {
        program: "sh".into(),
        args: vec![
            "-c".into(),
            "printf '%s\\n' \"$1\" >> \"$2\"".into(),
            "sh".into(),
            "$EVENT$|$COUNT$|$SERVERIP$".into(),
            out.display().to_string(),
        ],
        wait: None,
    })
}
