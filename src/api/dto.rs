//! Wire types of the API: what the engine's snapshot looks like as JSON. The settings
//! themselves go over the wire as the model's types (the same shapes as the RON file).

use std::time::SystemTime;

use serde::Serialize;

use crate::engine::{LogLine, Problem, SetHealth, SetStatus};
use crate::store::history::iso_utc;

#[derive(Serialize)]
pub struct LogLineDto {
    pub time: String,
    pub level: &'static str,
    pub text: String,
}

impl From<&LogLine> for LogLineDto {
    fn from(l: &LogLine) -> Self {
        LogLineDto {
            time: iso_utc(l.time),
            level: match l.level {
                crate::engine::Level::Info => "info",
                crate::engine::Level::Warning => "warning",
                crate::engine::Level::Error => "error",
            },
            text: l.text.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct ProblemDto {
    pub first_seen: String,
    pub set: String,
    pub subject: String,
    pub code: u16,
    pub text: String,
}

impl From<&Problem> for ProblemDto {
    fn from(p: &Problem) -> Self {
        ProblemDto {
            first_seen: iso_utc(p.first_seen),
            set: p.set.clone(),
            subject: p.subject.clone(),
            code: p.code.get(),
            text: p.text.clone(),
        }
    }
}

pub fn health(h: SetHealth) -> &'static str {
    match h {
        SetHealth::Unknown => "unknown",
        SetHealth::Ok => "ok",
        SetHealth::Problem => "problem",
        SetHealth::Paused => "paused",
    }
}

/// `GET /serversets` and `GET /serversets/{id}`.
#[derive(Serialize)]
pub struct SetInfoDto {
    /// The set's name, which is its id in URLs.
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub paused: bool,
}

impl From<&SetStatus> for SetInfoDto {
    fn from(s: &SetStatus) -> Self {
        SetInfoDto {
            id: s.name.clone(),
            name: s.name.clone(),
            status: health(s.health),
            paused: s.paused,
        }
    }
}

#[derive(Serialize)]
pub struct ServerDto {
    pub public_ip: String,
    pub poll_ip: String,
    pub name: String,
    pub status: &'static str,
    pub last_response: String,
    pub last_response_ms: Option<f64>,
    pub successes: u64,
    pub failures: u64,
    pub last_success: Option<String>,
    pub last_failure: Option<String>,
    pub problem_code: Option<u16>,
    /// Weight 0: polled, published only while no other server is functional.
    pub drained: bool,
    /// The override in force: `{"state": "Down", "set_at": "...", "until": "..."}`.
    pub forced: Option<crate::model::Forced>,
    /// In maintenance until then (RFC 3339).
    pub maintenance_until: Option<String>,
}

/// `GET /serversets/{id}/status`.
#[derive(Serialize)]
pub struct SetStatusDto {
    #[serde(flatten)]
    pub info: SetInfoDto,
    pub method: String,
    pub host_names: Vec<String>,
    /// What DNS should give, in words.
    pub dns_should_give: String,
    pub addresses: Option<Vec<String>>,
    /// The TTL the records get now, and why it is the lower one (`null`: the normal one).
    pub ttl: u32,
    pub low_ttl: Option<&'static str>,
    pub servers: Vec<ServerDto>,
    /// Each DNS server × host name (SPEC §8: "detailed status of servers and DNS servers").
    pub dns: Vec<DnsPairDto>,
    pub error: Option<String>,
}

/// One DNS server × host name of a set.
#[derive(Serialize)]
pub struct DnsPairDto {
    pub dns_server: String,
    pub host: String,
    pub state: &'static str,
    pub served: Option<String>,
    pub last_change: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<u16>,
    pub propagation: Option<PropagationDto>,
    pub in_flight: bool,
}

/// Name servers that give the wanted records, of `total`; `unknown` could not be asked.
#[derive(Serialize)]
pub struct PropagationDto {
    pub serving: usize,
    pub total: usize,
    pub unknown: usize,
    /// `2 of 3, 1 unknown`, as the window shows it.
    pub text: String,
}

fn time(t: Option<SystemTime>) -> Option<String> {
    t.map(iso_utc)
}

impl From<&SetStatus> for SetStatusDto {
    fn from(s: &SetStatus) -> Self {
        SetStatusDto {
            info: SetInfoDto::from(s),
            method: s.method.to_string(),
            host_names: s.host_names.clone(),
            dns_should_give: s.decision.describe(),
            addresses: s
                .decision
                .addresses()
                .map(|list| list.iter().map(ToString::to_string).collect()),
            ttl: s.ttl,
            low_ttl: s.low_ttl.map(|r| r.label()),
            servers: s
                .servers
                .iter()
                .map(|v| ServerDto {
                    public_ip: v.public_ip.clone(),
                    poll_ip: v.poll_ip.clone(),
                    name: v.name.clone(),
                    status: v.status.label(),
                    last_response: v.last_response.clone(),
                    last_response_ms: v.last_response_time.map(|d| d.as_secs_f64() * 1000.0),
                    successes: v.successes,
                    failures: v.failures,
                    last_success: time(v.last_success),
                    last_failure: time(v.last_failure),
                    problem_code: v.problem_code,
                    drained: v.admin.drained,
                    forced: v.admin.forced.clone(),
                    maintenance_until: time(v.admin.maintenance_until),
                })
                .collect(),
            dns: s
                .dns
                .iter()
                .map(|p| DnsPairDto {
                    dns_server: p.dns_server.clone(),
                    host: p.host.clone(),
                    state: p.state.label(),
                    served: p.served.clone(),
                    last_change: time(p.last_change),
                    error: p.error.clone(),
                    error_code: p.error_code,
                    propagation: p.propagation.map(|n| PropagationDto {
                        serving: n.serving,
                        total: n.total,
                        unknown: n.unknown,
                        text: n.to_string(),
                    }),
                    in_flight: p.in_flight,
                })
                .collect(),
            error: s.error.clone(),
        }
    }
}
