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
    pub servers: Vec<ServerDto>,
    pub error: Option<String>,
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
                })
                .collect(),
            error: s.error.clone(),
        }
    }
}
