//! Settings types, their validation and the settings file. Pure data: no sockets, no clock.
//!
//! Every struct has `#[serde(default, deny_unknown_fields)]`: a field left out takes SPEC's
//! default, a misspelt field is an error that names it.

pub mod admin;
pub mod cluster;
pub mod criteria;
pub mod dns_server;
pub mod duration;
pub mod escapes;
pub mod example;
pub mod failure;
pub mod field;
pub mod file;
pub mod guard;
pub mod idn;
pub mod import_v1;
pub mod json_rule;
pub mod notification;
pub mod options;
pub mod polling;
pub mod redact;
pub mod secret;
pub mod server_set;
pub mod services;
pub mod tags;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use admin::{Day, Forced, ForcedState, Maintenance};
pub use cluster::{Cluster, EtcdTls, Quorum};
pub use criteria::{
    CommandSpec, CommandWait, Comparison, ExitCodeRule, HttpCriteria, LengthRule, TextRule,
};
pub use dns_server::{
    BasicAuth, BodyType, CloudflareApi, DnsServer, DnscmdUpdate, HttpRequest, HttpVerb,
    PowerDnsApi, Rfc2136Update, Route53Api, TsigAlgorithm, TsigKey, UpdateMethod,
};
pub use json_rule::{JsonRule, JsonTest};
pub use notification::{
    EmailDefaults, EmailMessage, EmailNotification, EventKind, NotificationKind,
    NotificationMethod, SmtpLogin, SmtpSecurity, SmtpServer,
};
pub use options::Options;
pub use polling::{
    AddressRecordType, DnsPoll, FtpLogin, HttpAuth, HttpPoll, HttpPollMethod, PollMethod, TcpPoll,
    TcpService,
};
pub use secret::Secret;
pub use server_set::{
    AddressSelection, AllFailedPolicy, DnsData, LowTtl, PollFrequency, Server, ServerSet,
    SetNotification, UpdateDns,
};
pub use validate::{ValidationError, validate};

/// Everything Standby is told: one RON file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub options: Options,
    pub email_defaults: EmailDefaults,
    pub server_sets: Vec<ServerSet>,
    /// Cluster mode (issue 13): this instance's own part, never shared through etcd.
    /// `None` (left out of the file) = Standby runs alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Cluster>,
}

/// The defaults shipped in `settings/default.ron`, used when there is no settings file.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../../settings/default.ron");

impl Settings {
    /// Parses RON text (the `implicit_some` and `unwrap_variant_newtypes` extensions are on,
    /// so `port: 21` and `Http(url: "...")` need no extra brackets).
    pub fn from_ron(text: &str) -> Result<Self, ron::error::SpannedError> {
        ron_options().from_str(text)
    }

    /// Writes pretty RON that [`Settings::from_ron`] reads back.
    pub fn to_ron(&self) -> Result<String, ron::Error> {
        let pretty = ron::ser::PrettyConfig::new()
            .struct_names(false)
            .extensions(ron_extensions());
        ron_options().to_string_pretty(self, pretty)
    }

    /// The set with this name.
    pub fn set(&self, name: &str) -> Option<&ServerSet> {
        self.server_sets.iter().find(|s| s.name == name)
    }
}

fn ron_extensions() -> ron::extensions::Extensions {
    ron::extensions::Extensions::IMPLICIT_SOME
        | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES
}

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron_extensions())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_equal_the_code_defaults() {
        let parsed = Settings::from_ron(EMBEDDED_DEFAULTS).unwrap();
        assert_eq!(parsed, Settings::default());
    }

    #[test]
    fn round_trip_through_ron() {
        let mut settings = Settings::default();
        settings.server_sets.push(ServerSet {
            name: "web".into(),
            servers: vec![Server {
                public_ip: "192.0.2.1".into(),
                poll_ip: Some("10.0.0.1".into()),
                ..Server::default()
            }],
            polling: PollMethod::Tcp(TcpPoll {
                service: TcpService::Smtp,
                ..TcpPoll::default()
            }),
            ..ServerSet::default()
        });
        let text = settings.to_ron().unwrap();
        assert_eq!(Settings::from_ron(&text).unwrap(), settings);
    }

    #[test]
    fn unknown_field_is_named() {
        let err = Settings::from_ron("(options: (polling: (max_polls: 3)))").unwrap_err();
        assert!(err.to_string().contains("max_polls"), "{err}");
        assert_eq!(err.span.start.line, 1);
    }
}
