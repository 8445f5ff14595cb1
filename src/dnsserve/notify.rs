//! NOTIFY (RFC 1996): on every change of what a zone answers, Standby tells the zone's
//! secondaries, so that they ask for the new version at once instead of at the SOA
//! refresh (an hour by default). Each secondary is told again, with growing pauses, until
//! it acknowledges; a newer version of the zone replaces a NOTIFY still being retried.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::dnsupdate::tsig::{TsigSigner, now_unix};
use crate::engine::{EngineClient, Level};
use crate::model::options::{DnsZone, parse_notify_target};

/// Tries per secondary; the waits for an answer double from [`FIRST_WAIT`]: 1 + 2 + 4 +
/// 8 + 16 s, half a minute in all (after that the SOA refresh still brings it along).
const TRIES: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// The secondaries to NOTIFY for `zone`: its notify list, then (if asked) the glue
/// addresses of its name servers on port 53; each once.
pub fn targets(zone: &DnsZone) -> Vec<SocketAddr> {
    let mut targets: Vec<SocketAddr> = zone
        .transfer
        .notify
        .iter()
        .filter_map(|t| parse_notify_target(t).ok())
        .collect();
    if zone.transfer.notify_name_servers {
        for server in &zone.name_servers {
            for address in &server.addresses {
                if let Ok(ip) = address.trim().parse::<IpAddr>() {
                    targets.push(SocketAddr::new(ip, 53));
                }
            }
        }
    }
    let mut seen = Vec::with_capacity(targets.len());
    targets.retain(|t| {
        let new = !seen.contains(t);
        seen.push(*t);
        new
    });
    targets
}

/// The NOTIFYs in flight, one task per zone.
pub struct Notifier {
    client: EngineClient,
    tasks: HashMap<String, JoinHandle<()>>,
}

impl Notifier {
    pub fn new(client: EngineClient) -> Notifier {
        Notifier {
            client,
            tasks: HashMap::new(),
        }
    }

    /// Tells `zone`'s secondaries that it now has the version of `soa`, from `source`
    /// (the address DNS serving listens on: secondaries accept a NOTIFY only from their
    /// primary's address).
    pub fn changed(&mut self, zone: &DnsZone, soa: Record, source: IpAddr) {
        let targets = targets(zone);
        let apex = crate::model::idn::ascii_or_same(&zone.name)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if let Some(old) = self.tasks.remove(&apex) {
            old.abort();
        }
        if targets.is_empty() {
            return;
        }
        let signer = zone
            .transfer
            .key
            .as_ref()
            .and_then(|k| TsigSigner::new(k).ok());
        let client = self.client.clone();
        let name = apex.clone();
        let task = tokio::spawn(async move {
            notify_all(client, name, soa, targets, signer, source).await;
        });
        self.tasks.insert(apex, task);
    }
}

/// After a new table is served: notes each zone's version in the journal and NOTIFYs
/// the secondaries of the zones whose version is new (at start too: a secondary then
/// finds out at once whether the copy it kept is current).
pub fn after_change(
    notifier: &mut Notifier,
    journal: &super::transfer::Journal,
    table: &super::answers::Table,
    options: &crate::model::options::DnsServingOptions,
    source: IpAddr,
) {
    for apex in journal.record(table) {
        let zone = options.zones.iter().find(|z| {
            crate::model::idn::ascii_or_same(&z.name)
                .trim_end_matches('.')
                .eq_ignore_ascii_case(&apex)
        });
        if let (Some(zone), Some(records)) = (zone, table.zone_records(&apex)) {
            notifier.changed(zone, records.soa, source);
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// NOTIFYs every target at once and logs who acknowledged and who did not.
async fn notify_all(
    client: EngineClient,
    apex: String,
    soa: Record,
    targets: Vec<SocketAddr>,
    signer: Option<TsigSigner>,
    source: IpAddr,
) {
    let serial = match &soa.data {
        hickory_proto::rr::RData::SOA(s) => s.serial,
        _ => 0,
    };
    // One task per secondary, so that a silent one does not hold up the others.
    let mut tries = tokio::task::JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let (soa, signer, target) = (soa.clone(), signer.clone(), *target);
        tries.spawn(async move { (i, notify_one(&soa, target, signer.as_ref(), source).await) });
    }
    let mut results = Vec::with_capacity(targets.len());
    while let Some(done) = tries.join_next().await {
        if let Ok(result) = done {
            results.push(result);
        }
    }
    results.sort_by_key(|(i, _)| *i);
    let mut acknowledged = Vec::new();
    let mut failed = Vec::new();
    for (i, result) in results {
        let target = targets.get(i).map(ToString::to_string).unwrap_or_default();
        match result {
            Ok(()) => acknowledged.push(target),
            Err(why) => failed.push(format!("{target} ({why})")),
        }
    }
    if !acknowledged.is_empty() {
        let text = format!(
            "DNS serving: {apex} serial {serial}: NOTIFY acknowledged by {}",
            acknowledged.join(", ")
        );
        client.log(Level::Info, text).await;
    }
    if !failed.is_empty() {
        let text = format!(
            "DNS serving: {apex} serial {serial}: NOTIFY not acknowledged by {}",
            failed.join(", ")
        );
        client.log(Level::Warning, text).await;
    }
}

/// The NOTIFY message: opcode NOTIFY, AA, the zone's SOA as question and answer (the
/// serial lets a secondary that is already current skip its SOA query).
fn message(soa: &Record, id: u16) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Notify);
    message.metadata.authoritative = true;
    let mut query = Query::query(soa.name.clone(), RecordType::SOA);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    message.add_answer(soa.clone());
    message
}

/// Why a secondary did not acknowledge a NOTIFY (logged with its address).
#[derive(Debug, thiserror::Error)]
enum NotifyFailure {
    #[error("cannot open a UDP socket on {local}: {source}")]
    Socket {
        local: IpAddr,
        source: std::io::Error,
    },
    #[error("cannot sign: {0}")]
    Sign(#[from] crate::dnsupdate::tsig::TsigError),
    #[error("cannot encode: {0}")]
    Encode(#[from] hickory_proto::ProtoError),
    #[error("cannot send: {0}")]
    Send(std::io::Error),
    #[error("answered {0}")]
    Refused(ResponseCode),
    #[error("no answer after {TRIES} tries")]
    Silent,
}

/// NOTIFYs one secondary until it answers NOERROR (acknowledged) or another code (it
/// refuses: no use repeating), or the tries run out.
async fn notify_one(
    soa: &Record,
    target: SocketAddr,
    signer: Option<&TsigSigner>,
    source: IpAddr,
) -> Result<(), NotifyFailure> {
    let local = match (source, target) {
        (IpAddr::V4(_), SocketAddr::V4(_)) | (IpAddr::V6(_), SocketAddr::V6(_)) => source,
        (_, SocketAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (_, SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0))
        .await
        .map_err(|source| NotifyFailure::Socket { local, source })?;
    let id: u16 = rand::random();
    let unsigned = message(soa, id);
    let bytes = match signer {
        Some(signer) => signer.sign(&unsigned, now_unix()).map(|s| s.bytes)?,
        None => unsigned.to_vec()?,
    };
    let mut wait = FIRST_WAIT;
    let mut buffer = vec![0u8; 4096];
    for _ in 0..TRIES {
        socket
            .send_to(&bytes, target)
            .await
            .map_err(NotifyFailure::Send)?;
        let deadline = tokio::time::Instant::now() + wait;
        // Answers with another id (a late one, a stray) are skipped until the deadline.
        while let Ok(Ok((n, from))) =
            tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await
        {
            let Ok(answer) = Message::from_vec(&buffer[..n]) else {
                continue;
            };
            if from != target
                || answer.metadata.id != id
                || answer.metadata.message_type != MessageType::Response
                || answer.metadata.op_code != OpCode::Notify
            {
                continue;
            }
            return match answer.metadata.response_code {
                ResponseCode::NoError => Ok(()),
                code => Err(NotifyFailure::Refused(code)),
            };
        }
        wait *= 2;
    }
    Err(NotifyFailure::Silent)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::options::ZoneNameServer;

    #[test]
    fn targets_are_the_list_then_the_glue_each_once() {
        let mut zone = DnsZone {
            name: "failover.example.com".into(),
            name_servers: vec![
                ZoneNameServer {
                    name: "ns1.failover.example.com".into(),
                    addresses: vec!["192.0.2.53".into(), "2001:db8::53".into()],
                },
                ZoneNameServer {
                    name: "ns.provider.example".into(),
                    addresses: vec![],
                },
            ],
            ..DnsZone::default()
        };
        zone.transfer.notify = vec!["192.0.2.53".into(), "198.51.100.7:5300".into()];
        let plain: Vec<String> = targets(&zone).iter().map(ToString::to_string).collect();
        assert_eq!(plain, ["192.0.2.53:53", "198.51.100.7:5300"]);
        zone.transfer.notify_name_servers = true;
        let all: Vec<String> = targets(&zone).iter().map(ToString::to_string).collect();
        assert_eq!(
            all,
            ["192.0.2.53:53", "198.51.100.7:5300", "[2001:db8::53]:53"]
        );
    }

    #[test]
    fn a_notify_names_the_zone_and_its_serial() {
        let soa = hickory_proto::rr::rdata::SOA::new(
            hickory_proto::rr::Name::from_ascii("ns1.example.com.").unwrap(),
            hickory_proto::rr::Name::from_ascii("hostmaster.example.com.").unwrap(),
            42,
            3600,
            600,
            86400,
            60,
        );
        let owner = hickory_proto::rr::Name::from_ascii("failover.example.com.").unwrap();
        let record = Record::from_rdata(owner, 3600, hickory_proto::rr::RData::SOA(soa));
        let m = Message::from_vec(&message(&record, 7).to_vec().unwrap()).unwrap();
        assert_eq!(m.metadata.op_code, OpCode::Notify);
        assert!(m.metadata.authoritative);
        assert_eq!(m.queries[0].query_type(), RecordType::SOA);
        assert_eq!(m.queries[0].name().to_ascii(), "failover.example.com.");
        assert_eq!(m.answers.len(), 1);
    }
}
