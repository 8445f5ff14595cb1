//! The history's reports over the API: `GET /uptime` (24 h / 7 d / 30 d per set and
//! server), `GET /report?from=&to=&format=` (the SLA report: JSON, CSV or an HTML page),
//! `GET /events?kind=&set=&server=&limit=` (the event history), and the uptime gauges of
//! `/metrics`. All computed on the history thread (`store::report`), never here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult, ApiState};
use crate::engine::{CallError, Snapshot};
use crate::store::events::{EventFilter, EventKind};
use crate::store::report::{PERIODS, Uptime, UptimeReport};

fn unavailable(e: CallError) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// One period's figures on the wire.
#[derive(Serialize)]
pub struct UptimeDto {
    pub polls: u64,
    pub failures: u64,
    /// Successful polls in %, absent without polls.
    pub uptime_percent: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl From<&Uptime> for UptimeDto {
    fn from(u: &Uptime) -> Self {
        UptimeDto {
            polls: u.polls,
            failures: u.failures,
            uptime_percent: u.percent(),
            p50_ms: u.p50_ms,
            p95_ms: u.p95_ms,
            p99_ms: u.p99_ms,
        }
    }
}

fn periods(list: &[Uptime]) -> BTreeMap<&'static str, UptimeDto> {
    PERIODS
        .iter()
        .zip(list)
        .map(|((name, _), u)| (*name, UptimeDto::from(u)))
        .collect()
}

#[derive(Serialize)]
struct ServerDto {
    server: String,
    periods: BTreeMap<&'static str, UptimeDto>,
}

#[derive(Serialize)]
struct SetDto {
    set: String,
    periods: BTreeMap<&'static str, UptimeDto>,
    servers: Vec<ServerDto>,
}

/// `GET /uptime`: computed now, `{"sets": [{"set", "periods": {"24h": {...}, ...},
/// "servers": [...]}]}`.
pub async fn uptime(State(state): State<ApiState>) -> ApiResult<Response> {
    let report = state.client.uptime().await.map_err(unavailable)?;
    let sets: Vec<SetDto> = report
        .sets
        .iter()
        .map(|s| SetDto {
            set: s.set.clone(),
            periods: periods(&s.periods),
            servers: s
                .servers
                .iter()
                .map(|v| ServerDto {
                    server: v.server.clone(),
                    periods: periods(&v.periods),
                })
                .collect(),
        })
        .collect();
    Ok(axum::Json(serde_json::json!({ "sets": sets })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `YYYY-MM-DD` (UTC midnight) or Unix seconds.
    from: String,
    /// `YYYY-MM-DD` (that day included) or Unix seconds (excluded).
    to: String,
    /// `json` (default), `csv` or `html`.
    #[serde(default)]
    format: Option<String>,
}

/// `GET /report?from=2026-11-01&to=2026-11-30&format=html`.
pub async fn report(
    State(state): State<ApiState>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let bad = |e: String| ApiError::new(StatusCode::BAD_REQUEST, e);
    let bound = |text: &str, field: &str, is_to: bool| {
        crate::store::report::parse_bound(text, field, is_to).map_err(|e| bad(e.to_string()))
    };
    let (from, to) = (bound(&q.from, "from", false)?, bound(&q.to, "to", true)?);
    if to <= from {
        return Err(bad(format!("to: {} is not after from ({})", q.to, q.from)));
    }
    let report = state
        .client
        .sla_report(from, to)
        .await
        .map_err(unavailable)?;
    Ok(match q.format.as_deref().unwrap_or("json") {
        "json" => axum::Json(&report).into_response(),
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            crate::store::sla_export::to_csv(&report),
        )
            .into_response(),
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::store::sla_export::to_html(&report),
        )
            .into_response(),
        other => return Err(bad(format!("format: {other:?} is not json, csv or html"))),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    kind: Option<String>,
    set: Option<String>,
    server: Option<String>,
    /// The newest this many (default 1,000).
    limit: Option<usize>,
}

#[derive(Serialize)]
struct EventDto {
    time: String,
    kind: &'static str,
    set: String,
    server: String,
    text: String,
}

/// `GET /events?kind=dns_update&set=web`: the newest events, oldest first.
pub async fn events(
    State(state): State<ApiState>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(name) => Some(EventKind::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("kind: {name:?} is not one of {}", names.join(", ")),
            )
        })?),
    };
    let filter = EventFilter {
        kind,
        set: q.set.filter(|s| !s.is_empty()),
        server: q.server.filter(|s| !s.is_empty()),
        limit: q.limit.unwrap_or(1_000),
        ..EventFilter::default()
    };
    let events = state
        .client
        .query_events(filter)
        .await
        .map_err(unavailable)?;
    let dtos: Vec<EventDto> = events
        .iter()
        .map(|e| EventDto {
            time: crate::store::history::iso_utc(e.time),
            kind: e.kind.name(),
            set: e.set.clone(),
            server: e.server.clone(),
            text: e.text.clone(),
        })
        .collect();
    Ok(axum::Json(dtos).into_response())
}

/// Escapes a label value (backslash, quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The uptime gauges of `/metrics`, from the snapshot's last report: one series per
/// server and period, the percentiles as gauges of their own (no `quantile` label on a
/// gauge).
pub fn metrics(out: &mut String, s: &Snapshot) {
    let report: &UptimeReport = &s.uptime;
    type Gauge = (&'static str, &'static str, fn(&Uptime) -> Option<f64>);
    let gauges: [Gauge; 4] = [
        (
            "standby_server_uptime_ratio",
            "Successful polls / polls over the period (history).",
            |u| u.percent().map(|p| p / 100.0),
        ),
        (
            "standby_server_response_p50_seconds",
            "Median response time over the period (history, within 2 %).",
            |u| u.p50_ms.map(|v| v / 1000.0),
        ),
        (
            "standby_server_response_p95_seconds",
            "95th percentile response time over the period (history, within 2 %).",
            |u| u.p95_ms.map(|v| v / 1000.0),
        ),
        (
            "standby_server_response_p99_seconds",
            "99th percentile response time over the period (history, within 2 %).",
            |u| u.p99_ms.map(|v| v / 1000.0),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for set in &report.sets {
            for v in &set.servers {
                for ((period, _), u) in PERIODS.iter().zip(&v.periods) {
                    if let Some(x) = value(u) {
                        let _ = writeln!(
                            out,
                            "{name}{{set=\"{}\",server=\"{}\",period=\"{period}\"}} {x}",
                            label(&set.set),
                            label(&v.server)
                        );
                    }
                }
            }
        }
    }
}
