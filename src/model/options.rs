//! The Options dialog, section by section (SPEC §9).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::dns_server::DnsServer;
use super::field::FieldError;
use super::notification::NotificationMethod;
use super::secret::Secret;

/// Global options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    pub user_interface: UserInterfaceOptions,
    pub polling: PollingOptions,
    pub notification: NotificationOptions,
    pub dns_updating: DnsUpdatingOptions,
    pub dns_serving: DnsServingOptions,
    pub logging: LoggingOptions,
    pub http_api: HttpApiOptions,
    pub system_log: SystemLogOptions,
    /// Reference targets that tell whether this monitor's own network works (issue 16).
    pub connectivity_guard: super::guard::ConnectivityGuard,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserInterfaceOptions {
    /// Start minimised to the tray.
    pub start_in_tray: bool,
    /// Start the window when the operator logs in (the desktop's autostart).
    pub start_at_login: bool,
    /// Closing the main window hides it to the tray instead of quitting the UI.
    pub close_to_tray: bool,
    /// A desktop notification (tray balloon) when a problem appears.
    pub desktop_notification: bool,
    /// Play a sound when a problem appears.
    pub play_sound: bool,
    /// The sound file; `None` = the built-in sound.
    pub sound_file: Option<PathBuf>,
}

impl Default for UserInterfaceOptions {
    fn default() -> Self {
        Self {
            start_in_tray: false,
            start_at_login: false,
            close_to_tray: true,
            desktop_notification: true,
            play_sound: false,
            sound_file: None,
        }
    }
}

/// The most an explicit `max_concurrent_polls` may be (and the most auto gives).
pub const MAX_CONCURRENT_POLLS: u32 = 100_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollingOptions {
    /// The most polls in flight at once, over all sets; 0 = auto: room for every server's
    /// poll to run to its time-out, and a quarter more, at least 100, at most half the
    /// open-file limit (`engine::machine::auto_limit`).
    pub max_concurrent_polls: u32,
    /// All polling paused (the tool bar's toggle).
    pub paused: bool,
    /// Store only changes of status in the history, not every poll.
    pub history_only_changes: bool,
    /// Days after which the history's rollups (uptime and response times per server per
    /// hour and per day) and events are purged.
    pub history_purge_days: u32,
    /// Hours raw polls are kept (for the History dialog); each poll counts in the hourly and
    /// daily rollups from a minute after it, whatever this is.
    pub history_raw_hours: u32,
}

impl Default for PollingOptions {
    fn default() -> Self {
        Self {
            max_concurrent_polls: 0,
            paused: false,
            history_only_changes: false,
            history_purge_days: 366,
            history_raw_hours: 48,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationOptions {
    /// Methods used by every set that says *use the defaults*.
    pub default_methods: Vec<NotificationMethod>,
    /// Seconds in which repeats of the same event for the same subject are coalesced.
    pub coalesce_secs: u32,
}

impl Default for NotificationOptions {
    fn default() -> Self {
        Self {
            default_methods: Vec::new(),
            coalesce_secs: 300,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsUpdatingOptions {
    /// The most DNS updates in flight at once.
    pub max_concurrent_updates: u32,
    /// DNS servers used by every set that says *use the default DNS servers*.
    pub default_dns_servers: Vec<DnsServer>,
    /// Where the names of a zone's name servers are resolved when the updated DNS server
    /// does not know them (they lie outside its zones), for propagation: blank = the
    /// system's resolver, else a resolver's `IP` or `IP:PORT` (port 53 when not given).
    pub propagation_resolver: String,
}

impl Default for DnsUpdatingOptions {
    fn default() -> Self {
        Self {
            max_concurrent_updates: 10,
            default_dns_servers: Vec::new(),
            propagation_resolver: String::new(),
        }
    }
}

impl DnsUpdatingOptions {
    /// [`DnsUpdatingOptions::propagation_resolver`] parsed: `None` = the system's resolver.
    pub fn resolver(&self) -> Result<Option<std::net::SocketAddr>, FieldError> {
        resolver_address(&self.propagation_resolver)
    }
}

/// A resolver as the settings give it: blank = `None` (the system's), `IP`, `IP:PORT` or
/// `[IPv6]:PORT`; port 53 when not given.
pub fn resolver_address(text: &str) -> Result<Option<std::net::SocketAddr>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(ip) = text.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok(Some(std::net::SocketAddr::new(ip, 53)));
    }
    match text.parse::<std::net::SocketAddr>() {
        Ok(at) if at.port() != 0 => Ok(Some(at)),
        _ => Err(FieldError::NotAResolver(text.into())),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsServingOptions {
    /// Answer DNS for the sets' host names.
    pub enabled: bool,
    /// Address to listen on (UDP and TCP).
    pub listen_address: String,
    pub port: u16,
    /// Forward other queries instead of refusing them.
    pub forward: bool,
    /// The DNS server that gets forwarded queries.
    pub forward_to: String,
    pub forward_port: u16,
    /// Clear RD in forwarded requests and RA in their answers.
    pub clear_recursion_flags: bool,
    /// The most TCP connections open at once; one more is closed at once (counted and
    /// logged), so that idle connections cannot use up the process's file descriptors.
    pub max_tcp_connections: u32,
    /// Seconds a TCP connection may wait for its next query before it is closed.
    pub tcp_idle_secs: u32,
    /// The most forwarded queries waiting for their answer at once; one more gets
    /// SERVFAIL (counted and logged), so that a slow upstream cannot pile up sockets.
    pub max_forwards_in_flight: u32,
    /// Threads answering UDP, each with its own socket; 0 = one per core.
    pub udp_workers: u32,
    /// Zones delegated to Standby: names under one are answered with authority (SOA, NS,
    /// NODATA and NXDOMAIN with the SOA). A set's host name under no zone is answered as
    /// a lone name.
    pub zones: Vec<DnsZone>,
    /// Client networks (`127.0.0.0/8`, `::1/128`...) whose queries may be forwarded; others
    /// get REFUSED for names that are not Standby's, so that it is no open resolver.
    pub forward_allowed_from: Vec<String>,
    /// Most UDP answers per second to one client network (/24 for IPv4, /56 for IPv6);
    /// past it every second answer is dropped and the other sent truncated (so a real
    /// client retries over TCP). 0 = no limit.
    pub rate_limit_per_sec: u32,
}

/// A zone delegated to Standby (its parent lists Standby's name servers as the zone's NS).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsZone {
    /// The zone's name (its apex), e.g. `failover.example.com`.
    pub name: String,
    /// The SOA's primary name server (MNAME).
    pub primary: String,
    /// The SOA's contact (RNAME), as a mail address: `hostmaster@example.com`.
    pub contact: String,
    /// SOA refresh, retry and expire, in seconds (for secondaries).
    pub refresh_secs: u32,
    pub retry_secs: u32,
    pub expire_secs: u32,
    /// SOA minimum: how long resolvers keep a negative answer (RFC 2308).
    pub minimum_secs: u32,
    /// TTL of the SOA, NS and glue records.
    pub ttl: u32,
    /// The zone's name servers (the NS records at its apex).
    pub name_servers: Vec<ZoneNameServer>,
    /// Standby as the (hidden) primary of this zone: who may transfer it (AXFR/IXFR over
    /// TCP), with which TSIG key, and whom to NOTIFY on every change.
    pub transfer: ZoneTransfer,
}

/// Zone transfers to secondaries (RFC 5936 AXFR, RFC 1995 IXFR) and NOTIFY (RFC 1996).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZoneTransfer {
    /// Client networks (`192.0.2.53/32`, `2001:db8::/64`...) that may transfer the zone;
    /// any other client is REFUSED. Empty: no transfers at all.
    pub allowed_from: Vec<String>,
    /// When set, a transfer must be TSIG-signed with this key (an unsigned one is
    /// REFUSED, a wrong signature NOTAUTH); the answers and the NOTIFYs are signed with it.
    pub key: Option<crate::model::TsigKey>,
    /// Secondaries to NOTIFY on every change of what the zone answers: `address` (port
    /// 53) or `address:port` (`[2001:db8::53]:53` for IPv6).
    pub notify: Vec<String>,
    /// Also NOTIFY the glue addresses of the zone's name servers (port 53).
    pub notify_name_servers: bool,
}

/// Transfer settings do not change what the zone answers, so they are not part of the
/// fingerprint that moves the serial (an edit of the ACL must not make every secondary
/// transfer the zone again). Equal values hash equally, as `Hash` requires.
impl std::hash::Hash for ZoneTransfer {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

impl Default for DnsZone {
    fn default() -> Self {
        Self {
            name: String::new(),
            primary: String::new(),
            contact: String::new(),
            refresh_secs: 3600,
            retry_secs: 600,
            expire_secs: 604_800,
            minimum_secs: 60,
            ttl: 3600,
            name_servers: Vec::new(),
            transfer: ZoneTransfer::default(),
        }
    }
}

/// One NS record of a zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZoneNameServer {
    /// The name server's host name.
    pub name: String,
    /// Its addresses (glue): required when the name is inside the zone itself.
    pub addresses: Vec<String>,
}

/// `name` (any case, a final dot or not) is `apex` or below it.
pub fn name_is_under(name: &str, apex: &str) -> bool {
    let name = name.trim_end_matches('.');
    let apex = apex.trim_end_matches('.');
    if apex.is_empty() {
        return false;
    }
    name.eq_ignore_ascii_case(apex)
        || (name.len() > apex.len()
            && name.as_bytes()[name.len() - apex.len() - 1] == b'.'
            && name
                .get(name.len() - apex.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(apex)))
}

/// A network as `address/prefix` (`192.0.2.0/24`, `2001:db8::/32`); a bare address is
/// the network of that address alone.
pub fn parse_network(text: &str) -> Result<(std::net::IpAddr, u8), FieldError> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let bad = || FieldError::NotANetwork(text.into());
    let address: std::net::IpAddr = address.parse().map_err(|_| bad())?;
    let longest = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().map_err(|_| bad())?,
        None => longest,
    };
    if prefix > longest {
        return Err(bad());
    }
    Ok((address, prefix))
}

/// A secondary to NOTIFY: `address` (port 53), `address:port` or `[v6 address]:port`.
pub fn parse_notify_target(text: &str) -> Result<std::net::SocketAddr, FieldError> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    match text.parse::<std::net::SocketAddr>() {
        Ok(address) if address.port() != 0 => Ok(address),
        _ => Err(FieldError::NotANotifyTarget(text.into())),
    }
}

/// `address` is in the network `(base, prefix)` (IPv4-mapped IPv6 addresses count as IPv4).
pub fn network_contains(network: (std::net::IpAddr, u8), address: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    let (base, prefix) = network;
    match (base, address) {
        (IpAddr::V4(b), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(b) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(b), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(b) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

impl DnsServingOptions {
    /// The deepest zone that `name` is in (wildcard names are in the zone of their base).
    pub fn zone_of(&self, name: &str) -> Option<&DnsZone> {
        // International names are compared in their punycode form.
        let name = super::idn::ascii_or_same(name.strip_prefix("*.").unwrap_or(name));
        self.zones
            .iter()
            .filter(|z| name_is_under(&name, &super::idn::ascii_or_same(&z.name)))
            .max_by_key(|z| z.name.trim_end_matches('.').len())
    }
}

impl Default for DnsServingOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            listen_address: "127.0.0.1".into(),
            port: 53,
            forward: false,
            forward_to: String::new(),
            forward_port: 53,
            clear_recursion_flags: false,
            max_tcp_connections: 100,
            tcp_idle_secs: 10,
            max_forwards_in_flight: 100,
            udp_workers: 0,
            zones: Vec::new(),
            forward_allowed_from: vec!["127.0.0.0/8".into(), "::1/128".into()],
            rate_limit_per_sec: 0,
        }
    }
}

/// How often a new log file is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogRotation {
    Hourly,
    #[default]
    Daily,
    Monthly,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingOptions {
    /// Lines kept in memory for the Log tab and the API.
    pub memory_lines: u32,
    /// Also write the log to files.
    pub to_files: bool,
    /// Directory of the log files; `None` = `logs` beside the settings file.
    pub directory: Option<PathBuf>,
    pub rotation: LogRotation,
    /// Time stamps in UTC instead of local time.
    pub utc: bool,
}

impl Default for LoggingOptions {
    fn default() -> Self {
        Self {
            memory_lines: 1000,
            to_files: false,
            directory: None,
            rotation: LogRotation::Daily,
            utc: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpApiOptions {
    pub enabled: bool,
    /// Address and port, e.g. `127.0.0.1:8100`.
    pub listen: String,
    /// Password of user `admin`; blank = none.
    pub password: Secret,
    /// Log every request.
    pub log_requests: bool,
    /// Host names (besides the listen address, IP literals and `localhost`) that clients
    /// use to reach the API. Requests naming another host are refused (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Tokens that may read but not change (`Authorization: Bearer TOKEN`): dashboards,
    /// Prometheus' `/metrics`. Only with a password set.
    pub read_tokens: Vec<Secret>,
    /// HTTPS: off, a self-signed certificate, or certificate and key files.
    pub tls: ApiTls,
}

/// HTTPS for the API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiTls {
    /// Plain HTTP (fine on 127.0.0.1).
    #[default]
    Off,
    /// A self-signed certificate made at the first start and kept beside the settings
    /// file (`api-cert.pem`, `api-key.pem`); `standby api fingerprint` prints its SHA-256.
    SelfSigned,
    /// A certificate chain and its private key, PEM files.
    Files { certificate: PathBuf, key: PathBuf },
}

impl Default for HttpApiOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:8100".into(),
            password: Secret::default(),
            log_requests: false,
            allowed_hosts: Vec::new(),
            read_tokens: Vec::new(),
            tls: ApiTls::Off,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemLogOptions {
    /// Write events to the Windows Event Log / syslog.
    pub enabled: bool,
}
