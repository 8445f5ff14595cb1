//! Every problem code Standby raises, with what it means and what to check: the help's
//! problem-code page is made from this list.
//!
//! The codes are built by the same constructors the probes, DNS updaters and notifiers use
//! (`Failure::problem_code`, `DnsError::problem_code`, `NotifyError::problem_code`) and the
//! engine's own constants, over every stage and kind; the descriptions are exhaustive
//! `match`es, so a new stage or kind does not compile until it is described here.

use crate::dnsupdate::{DnsError, DnsStage};
use crate::model::failure::{Area, FailureKind, ProblemCode};
use crate::notify::{NotifyError, Stage as NotifyStage};
use crate::probe::{Failure, PollStage};

use super::problems;

/// One code of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    pub code: ProblemCode,
    /// What happened, e.g. "Polling: no answer in time while connecting".
    pub meaning: String,
    /// What the operator should look at.
    pub check: String,
}

const KINDS: [FailureKind; 4] = [
    FailureKind::Network,
    FailureKind::Timeout,
    FailureKind::ClosedEarly,
    FailureKind::WrongAnswer,
];

const POLL_STAGES: [PollStage; 7] = [
    PollStage::Connecting,
    PollStage::Tls,
    PollStage::Sending,
    PollStage::Waiting,
    PollStage::ReadingHead,
    PollStage::ReadingBody,
    PollStage::Judging,
];

const DNS_STAGES: [DnsStage; 4] = [
    DnsStage::Asking,
    DnsStage::FindingZone,
    DnsStage::Updating,
    DnsStage::Verifying,
];

const NOTIFY_STAGES: [NotifyStage; 4] = [
    NotifyStage::Connecting,
    NotifyStage::TlsAuth,
    NotifyStage::Sending,
    NotifyStage::Answer,
];

fn kind_text(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Network => "network error (refused, reset, unreachable)",
        FailureKind::Timeout => "no answer in time",
        FailureKind::ClosedEarly => "connection closed before the answer was complete",
        FailureKind::WrongAnswer => "wrong or unexpected answer",
        FailureKind::Local => "this monitor ran short of its own resources",
    }
}

fn kind_check(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Network => {
            "Is the peer up, the address and port right, and no firewall between Standby and it?"
        }
        FailureKind::Timeout => {
            "Is the peer overloaded or a firewall dropping packets? Is the time-out long enough?"
        }
        FailureKind::ClosedEarly => {
            "The peer hung up: look at its log (a crash, a limit of connections, a TLS or \
             protocol mismatch)."
        }
        FailureKind::WrongAnswer => {
            "The peer answered, but not as the settings expect: read \
             the response text beside the problem."
        }
        FailureKind::Local => {
            "Raise the open-file limit or lower the polls in flight (Options > Server polling)."
        }
    }
}

fn poll_stage_text(stage: PollStage) -> (&'static str, &'static str) {
    match stage {
        PollStage::Connecting => (
            "connecting (or sending the echo / DNS query, starting the program)",
            "Ping the server from this machine; for a command, is the program there?",
        ),
        PollStage::Tls => (
            "the TLS handshake",
            "The certificate (chain, host name, expiry) and the TLS versions the server offers.",
        ),
        PollStage::Sending => ("sending the request", "The server's request limits."),
        PollStage::Waiting => (
            "waiting for the answer (greeting, response head, echo reply, exit)",
            "The service behind the port: is it hung?",
        ),
        PollStage::ReadingHead => (
            "reading the response head",
            "A proxy or load balancer in front of the server.",
        ),
        PollStage::ReadingBody => (
            "reading the body or the program's output",
            "The size of the page and the server's speed.",
        ),
        PollStage::Judging => (
            "judging the answer against the criteria",
            "The set's polling method: status codes, length, text and JSON rules, expected \
             greeting, exit code.",
        ),
        PollStage::ResponseTime => (
            "the answer was slower than the response-time limit",
            "The server's load, or the set's response-time limit (Polling method).",
        ),
    }
}

fn dns_stage_text(stage: DnsStage) -> (&'static str, &'static str) {
    match stage {
        DnsStage::Asking => (
            "asking the DNS server for the current records",
            "The DNS server's address and port; it must answer for the zone without recursion.",
        ),
        DnsStage::FindingZone => (
            "finding the zone (SOA lookup)",
            "Is the server authoritative for the host name's zone?",
        ),
        DnsStage::Updating => (
            "sending the update",
            "The server's update permission: the TSIG key (name, algorithm, secret, clock for \
             BADTIME), update-policy / ACL, or the provider's token, URL and status; see the \
             DNS server setup page.",
        ),
        DnsStage::Verifying => (
            "verifying that the server now gives the wanted records",
            "The server accepted the update but serves something else: another primary, a \
             zone reload, a signing delay.",
        ),
    }
}

fn notify_stage_text(stage: NotifyStage) -> (&'static str, &'static str) {
    match stage {
        NotifyStage::Settings => (
            "the method's settings cannot work",
            "The notification method's fields (addresses, URL, program).",
        ),
        NotifyStage::Connecting => (
            "connecting to the mail server, web hook or program",
            "The SMTP host and port, the URL's host, the program's path.",
        ),
        NotifyStage::TlsAuth => (
            "TLS or the login",
            "STARTTLS / TLS setting, certificate, user and password of the SMTP server or web hook.",
        ),
        NotifyStage::Sending => (
            "sending the message",
            "The mail server's or web hook's limits (size, rate).",
        ),
        NotifyStage::Answer => (
            "the answer to the message",
            "The recipient address, the HTTP status the hook expects, the program's exit code.",
        ),
    }
}

fn area_text(area: Area) -> &'static str {
    match area {
        Area::Polling => "Polling",
        Area::Dns => "DNS check or update",
        Area::Notification => "Notification",
    }
}

fn entry(code: ProblemCode, area: Area, kind: FailureKind, stage: (&str, &str)) -> CodeInfo {
    CodeInfo {
        code,
        meaning: format!("{}: {} while {}", area_text(area), kind_text(kind), stage.0),
        check: format!("{} {}", kind_check(kind), stage.1),
    }
}

fn special(code: ProblemCode, meaning: &str, check: &str) -> CodeInfo {
    CodeInfo {
        code,
        meaning: meaning.to_string(),
        check: check.to_string(),
    }
}

/// Every code, in order.
pub fn catalogue() -> Vec<CodeInfo> {
    let mut codes = Vec::new();
    for kind in KINDS {
        for stage in POLL_STAGES {
            let code = Failure::new(kind, stage).problem_code();
            codes.push(entry(code, Area::Polling, kind, poll_stage_text(stage)));
        }
        for stage in DNS_STAGES {
            let code = DnsError::new(kind, stage, "").problem_code();
            codes.push(entry(code, Area::Dns, kind, dns_stage_text(stage)));
        }
        for stage in NOTIFY_STAGES {
            let code = NotifyError::new(kind, stage, "").problem_code();
            codes.push(entry(
                code,
                Area::Notification,
                kind,
                notify_stage_text(stage),
            ));
        }
    }
    let slow = Failure::new(FailureKind::Timeout, PollStage::ResponseTime).problem_code();
    codes.push(CodeInfo {
        code: slow,
        meaning: format!("Polling: {}", poll_stage_text(PollStage::ResponseTime).0),
        check: poll_stage_text(PollStage::ResponseTime).1.to_string(),
    });
    let settings = NotifyError::settings("");
    codes.push(entry(
        settings.problem_code(),
        Area::Notification,
        settings.kind,
        notify_stage_text(settings.stage),
    ));
    codes.extend([
        special(
            ProblemCode::of_area(Area::Polling),
            "Polling: the set cannot poll at all (its method cannot be built, e.g. a \
             program that is not there)",
            "The set's polling method; the text beside the problem says what is wrong.",
        ),
        special(
            problems::POLLING_LATE,
            "Polling: polls start later than their interval allows",
            "Too many servers for the polls allowed in flight: raise Options > Server \
             polling > Max concurrent polls, or lengthen the intervals.",
        ),
        special(
            problems::CERTIFICATE_WARNING,
            "Polling: a server's HTTPS certificate expires soon, or has expired (a warning: \
             the server stays OK)",
            "Renew the certificate; the warning's days are in the set's polling method.",
        ),
        special(
            problems::MONITOR_SHORTAGE,
            "This monitor ran short of its own resources (file descriptors, memory, socket \
             buffers); no server is judged failed for it",
            kind_check(FailureKind::Local),
        ),
        special(
            problems::NETWORK_DOWN,
            "This monitor's network is down: most reference targets of the connectivity \
             guard fail, so no server's failure is judged",
            "The network of the machine Standby runs on (cable, router, upstream), and the \
             guard's targets (Options).",
        ),
        special(
            problems::CLUSTER_ETCD,
            "Cluster mode: etcd cannot be reached, or the members that answer have lost their \
             majority; no instance writes DNS (or notifies) until etcd works again",
            "The etcd members (are most of them running, can they reach each other?) and \
             this instance's path to them; Options > Cluster lists the endpoints.",
        ),
        special(
            ProblemCode::of_area(Area::Notification),
            "Notification: the outbox (messages waiting to be delivered) cannot be kept",
            "The disk and the permissions of the directory beside the settings file.",
        ),
    ]);
    codes.sort_by_key(|c| c.code);
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_with_its_digits() {
        let list = catalogue();
        let mut seen = std::collections::BTreeSet::new();
        for info in &list {
            assert!(seen.insert(info.code), "{} twice", info.code);
            assert!(info.code.area().is_some(), "{} has no area", info.code);
            assert!(!info.meaning.is_empty() && !info.check.is_empty());
        }
        // 4 kinds × (7 poll + 4 DNS + 4 notification stages) + 128 + 340 + 7 of the engine.
        assert_eq!(list.len(), 4 * 15 + 2 + 7);
        for code in [
            111, 124, 127, 128, 120, 149, 150, 151, 100, 213, 243, 250, 300, 340, 344,
        ] {
            assert!(
                seen.contains(&ProblemCode::from_number(code)),
                "{code} missing"
            );
        }
        let tsig = list
            .iter()
            .find(|c| c.code == 243)
            .map(|c| c.check.as_str());
        assert!(tsig.is_some_and(|c| c.contains("TSIG")));
    }
}
