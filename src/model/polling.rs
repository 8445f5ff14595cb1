//! How the servers of a set are polled: one method per set (SPEC §1).

use serde::{Deserialize, Serialize};

use super::criteria::{CommandSpec, HttpCriteria, TextRule};
use super::json_rule::JsonRule;
use super::secret::Secret;

/// The polling method of a server set, used for all its servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PollMethod {
    /// ICMP echo (v4 or v6): 3 tries of 1 s.
    Ping,
    /// GET or HEAD of a URL, connecting to the server's poll address.
    Http(HttpPoll),
    /// A TCP connection, optionally judging the greeting; FTP, SMTP, POP3, IMAP and NNTP
    /// are presets of it.
    Tcp(TcpPoll),
    /// A DNS query sent to the server.
    Dns(DnsPoll),
    /// A program run per server.
    Command(CommandSpec),
}

impl Default for PollMethod {
    fn default() -> Self {
        PollMethod::Http(HttpPoll::default())
    }
}

impl PollMethod {
    /// A short name for lists and logs.
    pub fn label(&self) -> &'static str {
        match self {
            PollMethod::Ping => "Ping",
            PollMethod::Http(h) if h.url.starts_with("https:") => "HTTPS",
            PollMethod::Http(_) => "HTTP",
            PollMethod::Tcp(t) => t.service.label(),
            PollMethod::Dns(_) => "DNS",
            PollMethod::Command(_) => "Command line",
        }
    }
}

/// The request method of an HTTP poll.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpPollMethod {
    #[default]
    Get,
    Head,
    /// Sends the poll's body.
    Post,
    /// Sends the poll's body.
    Put,
}

impl HttpPollMethod {
    pub const ALL: [HttpPollMethod; 4] = [
        HttpPollMethod::Get,
        HttpPollMethod::Head,
        HttpPollMethod::Post,
        HttpPollMethod::Put,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HttpPollMethod::Get => "GET",
            HttpPollMethod::Head => "HEAD",
            HttpPollMethod::Post => "POST",
            HttpPollMethod::Put => "PUT",
        }
    }

    /// POST and PUT send the poll's body.
    pub fn has_body(self) -> bool {
        matches!(self, HttpPollMethod::Post | HttpPollMethod::Put)
    }
}

/// How an HTTP poll authenticates. The secrets are sent only to the URL's own host, never
/// to another host a redirect leads to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum HttpAuth {
    /// `Authorization: Basic` with user and password.
    Basic { user: String, password: Secret },
    /// `Authorization: Bearer` with a token.
    Bearer { token: Secret },
}

/// An HTTP or HTTPS poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpPoll {
    /// The URL; its host is sent as Host header and TLS SNI, while the connection goes to the
    /// server's poll address (and the URL's port).
    pub url: String,
    pub method: HttpPollMethod,
    /// Status, length and body rules; all must pass.
    pub criteria: HttpCriteria,
    /// Verify the HTTPS certificate (chain and name).
    pub verify_certificate: bool,
    /// Warn this many days before the certificate expires; 0 = never.
    pub certificate_warning_days: u32,
    /// Extra request headers, name and value; the values take the poll tags. A header named
    /// like one Standby sends (`Host`, `User-Agent`) replaces it.
    pub headers: Vec<(String, String)>,
    /// The body of a POST or PUT, with the poll tags (its type goes in `headers`: with a JSON
    /// `Content-Type` the tag values are JSON-escaped, with a form type URL-encoded).
    pub body: String,
    /// Authentication; `None` = none.
    pub auth: Option<HttpAuth>,
    /// Follow at most this many redirects (301, 302, 303, 307, 308); 0 = the redirect itself
    /// is the response judged.
    pub follow_redirects: u32,
    /// Follow redirects only to the URL's own host: one to another host fails the poll.
    pub redirect_same_host_only: bool,
    /// A poll slower than this (connecting to the last byte judged, all redirects included)
    /// fails with its own problem code (128): `800ms`, `2s`; `0s` = no limit.
    #[serde(with = "super::duration::text")]
    pub response_time_limit: std::time::Duration,
    /// Conditions on the body as JSON, all of which must hold (not with HEAD).
    pub json: Vec<JsonRule>,
}

impl Default for HttpPoll {
    fn default() -> Self {
        Self {
            url: "http://www.example.com/".into(),
            method: HttpPollMethod::Get,
            criteria: HttpCriteria::default(),
            verify_certificate: true,
            certificate_warning_days: 14,
            headers: Vec::new(),
            body: String::new(),
            auth: None,
            follow_redirects: 0,
            redirect_same_host_only: true,
            response_time_limit: std::time::Duration::ZERO,
            json: Vec::new(),
        }
    }
}

/// The well-known services whose greeting a TCP poll can check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TcpService {
    /// Any port; the greeting is only checked when a rule is given.
    #[default]
    Custom,
    Ftp,
    Smtp,
    Pop3,
    Imap,
    Nntp,
    /// Sends `PING`, expects `+PONG`.
    Redis,
    /// memcached's text protocol: sends `version`, expects `VERSION `.
    Memcached,
}

impl TcpService {
    pub const ALL: [TcpService; 8] = [
        TcpService::Custom,
        TcpService::Ftp,
        TcpService::Smtp,
        TcpService::Pop3,
        TcpService::Imap,
        TcpService::Nntp,
        TcpService::Redis,
        TcpService::Memcached,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TcpService::Custom => "TCP connect",
            TcpService::Ftp => "FTP",
            TcpService::Smtp => "SMTP",
            TcpService::Pop3 => "POP3",
            TcpService::Imap => "IMAP",
            TcpService::Nntp => "NNTP",
            TcpService::Redis => "Redis",
            TcpService::Memcached => "Memcached",
        }
    }

    /// The preset's port; `None` for a custom TCP poll, whose port must be given.
    pub fn default_port(self) -> Option<u16> {
        match self {
            TcpService::Custom => None,
            TcpService::Ftp => Some(21),
            TcpService::Smtp => Some(25),
            TcpService::Pop3 => Some(110),
            TcpService::Imap => Some(143),
            TcpService::Nntp => Some(119),
            TcpService::Redis => Some(6379),
            TcpService::Memcached => Some(11211),
        }
    }

    /// The preset's greeting rule; `None` for custom (connecting is enough).
    pub fn default_greeting(self) -> Option<TextRule> {
        match self {
            TcpService::Custom => None,
            TcpService::Ftp | TcpService::Smtp => Some(TextRule::StartsWith("220".into())),
            TcpService::Pop3 => Some(TextRule::StartsWith("+OK".into())),
            TcpService::Imap => Some(TextRule::StartsWith("* OK".into())),
            TcpService::Nntp => Some(TextRule::Matches("^20[01]".into())),
            TcpService::Redis => Some(TextRule::StartsWith("+PONG".into())),
            TcpService::Memcached => Some(TextRule::StartsWith("VERSION ".into())),
        }
    }

    /// What the preset sends after connecting (escaped as in [`TcpPoll::send`]); its reply
    /// is judged instead of a greeting.
    pub fn default_send(self) -> Option<&'static str> {
        match self {
            TcpService::Redis => Some(r"PING\r\n"),
            TcpService::Memcached => Some(r"version\r\n"),
            _ => None,
        }
    }

    /// What to send before closing, so that the daemon logs a clean session end.
    pub fn goodbye(self) -> Option<&'static [u8]> {
        match self {
            TcpService::Custom => None,
            TcpService::Imap => Some(b"a1 LOGOUT\r\n"),
            TcpService::Memcached => Some(b"quit\r\n"),
            _ => Some(b"QUIT\r\n"),
        }
    }
}

/// A TCP connect poll, plain or as one of the presets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpPoll {
    pub service: TcpService,
    /// The port; `None` = the preset's port (required for a custom poll).
    pub port: Option<u16>,
    /// The greeting rule; `None` = the preset's rule (a custom poll then does not wait).
    pub greeting: Option<TextRule>,
    /// How long to wait for the greeting (first line or 100 bytes): `500ms`, `10s`.
    #[serde(with = "super::duration::text", alias = "greeting_timeout_secs")]
    pub greeting_timeout: std::time::Duration,
    /// FTP only: log in with this user and password, then QUIT.
    pub ftp_login: Option<FtpLogin>,
    /// A text sent right after connecting, with the escapes `\r`, `\n`, `\t`, `\0`, `\\`
    /// and `\xNN` (a byte); the reply (first line or 100 bytes) is then judged by the
    /// greeting rule, or must merely arrive when there is none. `None` = the preset's (Redis
    /// and Memcached send one), `Some("")` = send nothing.
    pub send: Option<String>,
}

impl Default for TcpPoll {
    fn default() -> Self {
        Self {
            service: TcpService::Custom,
            port: None,
            greeting: None,
            greeting_timeout: std::time::Duration::from_secs(10),
            ftp_login: None,
            send: None,
        }
    }
}

impl TcpPoll {
    /// The port actually used.
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or(self.service.default_port())
    }

    /// The greeting rule actually used.
    pub fn effective_greeting(&self) -> Option<TextRule> {
        self.greeting.clone().or(self.service.default_greeting())
    }

    /// The text actually sent after connecting, still escaped; `None` = nothing.
    pub fn effective_send(&self) -> Option<&str> {
        match &self.send {
            Some(text) if text.is_empty() => None,
            Some(text) => Some(text),
            None => self.service.default_send(),
        }
    }
}

/// An FTP login check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FtpLogin {
    pub user: String,
    pub password: Secret,
    /// Explicit FTPS (AUTH TLS) before logging in.
    pub explicit_tls: bool,
    /// With explicit FTPS: verify the server's certificate (chain, and the set's main host
    /// name) before sending the password.
    pub verify_certificate: bool,
}

impl Default for FtpLogin {
    fn default() -> Self {
        Self {
            user: String::new(),
            password: Secret::default(),
            explicit_tls: false,
            verify_certificate: true,
        }
    }
}

/// A or AAAA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddressRecordType {
    #[default]
    A,
    Aaaa,
}

/// A DNS query sent to the server being polled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsPoll {
    /// The name asked for.
    pub host_name: String,
    pub record_type: AddressRecordType,
    pub port: u16,
    /// Set the RD (recursion desired) flag.
    pub recursion_desired: bool,
    /// The answer must contain this address; `None` = any valid answer.
    pub expect_address: Option<String>,
    /// The answer must be authoritative (AA flag).
    pub require_authoritative: bool,
}

impl Default for DnsPoll {
    fn default() -> Self {
        Self {
            host_name: "www.example.com".into(),
            record_type: AddressRecordType::A,
            port: 53,
            recursion_desired: true,
            expect_address: None,
            require_authoritative: false,
        }
    }
}
