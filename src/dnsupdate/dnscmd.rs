//! Microsoft DNS through `dnscmd` (SPEC §4), Windows only: delete the name's A and AAAA
//! records, then add one record per wanted address. Not atomic (dnscmd has no way to be),
//! so a failure half way is reported and the pair is retried.

use std::sync::Arc;

use super::{BuildError, DnsUpdater, UpdateRequest};
use crate::model::DnscmdUpdate;

/// Builds the dnscmd updater; elsewhere than on Windows the method is not available.
pub fn build(settings: &DnscmdUpdate) -> Result<Arc<dyn DnsUpdater>, BuildError> {
    #[cfg(windows)]
    {
        Ok(Arc::new(windows::DnscmdUpdater {
            zone: settings.zone.trim().to_string(),
        }))
    }
    #[cfg(not(windows))]
    {
        let _ = settings;
        Err(BuildError::Unsupported(
            "Microsoft DNS (dnscmd) works only on Windows".into(),
        ))
    }
}

/// One run of dnscmd: its arguments, and whether "no such record" counts as done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub args: Vec<String>,
    pub delete: bool,
}

/// The dnscmd runs that make `request.host` give the wanted records in `zone`.
pub fn plan(request: &UpdateRequest, zone: &str) -> Vec<Step> {
    let zone = zone.trim_end_matches('.');
    let node = node_name(&request.host, zone);
    let server = request.server_label.clone();
    let mut steps: Vec<Step> = ["A", "AAAA"]
        .iter()
        .map(|kind| Step {
            args: vec![
                server.clone(),
                "/RecordDelete".into(),
                zone.into(),
                node.clone(),
                (*kind).into(),
                "/f".into(),
            ],
            delete: true,
        })
        .collect();
    for address in &request.wanted.addresses {
        let kind = if address.is_ipv4() { "A" } else { "AAAA" };
        steps.push(Step {
            args: vec![
                server.clone(),
                "/RecordAdd".into(),
                zone.into(),
                node.clone(),
                request.ttl.to_string(),
                kind.into(),
                address.to_string(),
            ],
            delete: false,
        });
    }
    steps
}

/// The name relative to its zone, as dnscmd wants it: `www`, `*`, or `@` for the apex.
fn node_name(host: &str, zone: &str) -> String {
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case(zone) {
        return "@".into();
    }
    let lower = host.to_ascii_lowercase();
    let suffix = format!(".{}", zone.to_ascii_lowercase());
    match lower.strip_suffix(&suffix) {
        Some(relative) => host[..relative.len()].to_string(),
        // Not inside the zone: dnscmd then takes it as a fully qualified name.
        None => format!("{host}."),
    }
}

/// Whether dnscmd's output says the records to delete were not there (nothing to do).
pub fn nothing_to_delete(stdout: &str) -> bool {
    // DNS_ERROR_RECORD_DOES_NOT_EXIST (9701), DNS_ERROR_NAME_DOES_NOT_EXIST (9714).
    stdout.contains("DOES_NOT_EXIST") || stdout.contains("9701") || stdout.contains("9714")
}

#[cfg(windows)]
mod windows {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::super::{BoxFuture, DnsError, DnsStage, DnsUpdater, FailureKind, UpdateRequest};
    use super::{nothing_to_delete, plan};
    use crate::exec::{self, CommandFailure, describe};

    pub struct DnscmdUpdater {
        /// Blank = the zone found by SOA lookup.
        pub zone: String,
    }

    impl DnsUpdater for DnscmdUpdater {
        fn update<'a>(
            &'a self,
            request: &'a UpdateRequest,
        ) -> BoxFuture<'a, Result<String, DnsError>> {
            Box::pin(async move {
                let zone = if self.zone.is_empty() {
                    &request.zone
                } else {
                    &self.zone
                };
                let deadline = Instant::now() + request.timeout;
                let steps = plan(request, zone);
                for step in &steps {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let left = left.max(Duration::from_secs(1));
                    let finished = exec::run("dnscmd", &step.args, left)
                        .await
                        .map_err(|e| super::super::command::error_of(&CommandFailure::Exec(e)))?;
                    let ok = finished.exit_code == Some(0)
                        || (step.delete && nothing_to_delete(&finished.stdout));
                    if !ok {
                        return Err(DnsError::new(
                            FailureKind::WrongAnswer,
                            DnsStage::Updating,
                            format!("dnscmd {}: {}", step.args[1], describe(&finished)),
                        ));
                    }
                }
                Ok(format!("dnscmd: {} command(s) done", steps.len()))
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::dnsupdate::Records;
    use std::time::Duration;

    #[test]
    fn node_names() {
        assert_eq!(node_name("www.example.com.", "example.com"), "www");
        assert_eq!(node_name("WWW.Example.com", "example.com"), "WWW");
        assert_eq!(node_name("*.example.com", "example.com"), "*");
        assert_eq!(node_name("example.com", "example.com"), "@");
        assert_eq!(node_name("www.other.org", "example.com"), "www.other.org.");
    }

    #[test]
    fn deletes_then_adds_each_address() {
        let request = UpdateRequest {
            server: "192.0.2.53:53".parse().unwrap(),
            server_label: "dc1".into(),
            host: "www.example.com".into(),
            zone: "example.com.".into(),
            wanted: Records::new(
                vec!["2001:db8::1".parse().unwrap(), "192.0.2.1".parse().unwrap()],
                Some(60),
            ),
            ttl: 60,
            current: Records::default(),
            set_name: "web".into(),
            timeout: Duration::from_secs(5),
        };
        let steps = plan(&request, &request.zone);
        let lines: Vec<String> = steps.iter().map(|s| s.args.join(" ")).collect();
        assert_eq!(
            lines,
            vec![
                "dc1 /RecordDelete example.com www A /f",
                "dc1 /RecordDelete example.com www AAAA /f",
                "dc1 /RecordAdd example.com www 60 A 192.0.2.1",
                "dc1 /RecordAdd example.com www 60 AAAA 2001:db8::1",
            ]
        );
        assert!(steps[0].delete && !steps[2].delete);
        assert!(nothing_to_delete(
            "Command failed: DNS_ERROR_RECORD_DOES_NOT_EXIST 9701"
        ));
    }

    #[cfg(not(windows))]
    #[test]
    fn unsupported_elsewhere() {
        let err = build(&DnscmdUpdate::default()).err().unwrap();
        assert_eq!(
            err.to_string(),
            "Microsoft DNS (dnscmd) works only on Windows"
        );
    }
}
