//! Why one field's text is wrong: the single-field checks of `validate`, `options`,
//! `cluster`, `duration` and `admin` return a [`FieldError`]; validation puts its text under
//! the field's path in a [`ValidationError`](super::ValidationError), the API and the
//! dialogs show it beside the field. One type, so that a caller can match on the reason
//! (a test, the API's 400) instead of comparing sentences.

use super::idn::NotIdna;

/// One field's reason. The texts are the ones operators read; each quotes what was typed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{0:?} is not an IP address")]
    NotAnIpAddress(String),
    #[error(transparent)]
    NotIdna(#[from] NotIdna),
    #[error("{0:?}: a wildcard is not allowed here")]
    WildcardNotAllowed(String),
    #[error("a host name is required")]
    HostNameRequired,
    #[error("{text:?} is longer than {most} characters")]
    TooLong { text: String, most: usize },
    #[error("{0:?} is not a valid host name")]
    NotAHostName(String),
    #[error("{0:?} is neither an IP address nor a host name")]
    NotAHostOrIp(String),
    #[error("{text:?} is not a valid URL ({reason})")]
    NotAUrl { text: String, reason: String },
    #[error("{0:?} must start with http:// or https://")]
    NotHttp(String),
    #[error("{0:?} has no host")]
    NoHost(String),
    #[error("bad regular expression: {0}")]
    BadRegex(String),
    #[error("a secret is required")]
    SecretRequired,
    #[error("the secret is not valid base64")]
    NotBase64,
    #[error("{0:?} is not an address:port such as 127.0.0.1:8100")]
    NotASocketAddress(String),
    #[error("the port must be between 1 and 65535")]
    PortZero,
    #[error("{0:?} is not an e-mail address")]
    NotAnEmailAddress(String),
    /// `least` as the field writes it (`3`, `10ms`).
    #[error("must be at least {least}")]
    TooSmall { least: String },
    /// `hint` says what else the field accepts (may be empty).
    #[error("must be at most {most}{}", spaced(hint))]
    TooLarge { most: u32, hint: String },
    #[error("{0:?}: an etcd endpoint is scheme, host and port only (http://127.0.0.1:2379)")]
    NotAnEtcdEndpoint(String),
    #[error("{0:?}: the port must be between 1 and 65535")]
    EndpointPortZero(String),
    #[error("a name is required")]
    NameRequired,
    #[error("{0:?}: only letters, digits, '-', '_' and '.' (it becomes part of etcd's keys)")]
    NotAClusterName(String),
    #[error(
        "{0:?} is not a resolver address such as 127.0.0.53 or 127.0.0.53:5353 \
         (blank = the system's resolver)"
    )]
    NotAResolver(String),
    #[error("{0:?} is not a network (address/prefix)")]
    NotANetwork(String),
    #[error("{0:?} is not an address or address:port such as 192.0.2.53:53")]
    NotANotifyTarget(String),
    #[error("{0:?} is not a date like 2026-11-25")]
    NotADate(String),
    #[error("{0:?} is not a time like 2026-12-01T12:00:00Z")]
    NotATime(String),
    #[error("{0:?} is not a duration like 250ms, 10s, 30m, 2h or 1d")]
    NotADuration(String),
    #[error("{0:?} is not a time zone name like Europe/Berlin or UTC")]
    NotATimeZone(String),
    #[error("{0:?} is not a time of day like 22:00")]
    NotATimeOfDay(String),
    /// A window's `to` is not after its `from`.
    #[error("must be after from")]
    EndsBeforeItStarts,
    #[error("name at least one day")]
    NoDays,
    #[error("{0:?} is not a whole number")]
    NotAWholeNumber(String),
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{0:?} is not a port number")]
    NotAPort(String),
    #[error("{0:?} is not an HTTP status code")]
    NotAStatusCode(String),
    #[error("{0:?} is not 'Name: value'")]
    NotAHeader(String),
    /// A report's bound; `field` names it as the caller knows it (`from`, `--to`).
    #[error("{field}: {text:?} is not a date like 2026-11-25 or Unix seconds")]
    NotABound { field: String, text: String },
}

fn spaced(hint: &str) -> String {
    if hint.trim().is_empty() {
        String::new()
    } else {
        format!(" {}", hint.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_quote_what_was_typed_and_a_hint_is_spaced() {
        assert_eq!(
            FieldError::NotAnIpAddress("10.0.0.300".into()).to_string(),
            r#""10.0.0.300" is not an IP address"#
        );
        let most = |hint: &str| {
            FieldError::TooLarge {
                most: 5,
                hint: hint.into(),
            }
            .to_string()
        };
        assert_eq!(most(""), "must be at most 5");
        assert_eq!(most("(0 = auto)"), "must be at most 5 (0 = auto)");
    }
}
