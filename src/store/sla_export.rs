//! An [`SlaReport`] as CSV (one line per set and per server) or as one self-contained HTML
//! page: a table and an inline SVG chart of each set's uptime per slot, no script, no
//! file or address outside the page, so that it can be mailed or archived as it is.

use std::fmt::Write as _;

use super::report::{SlaReport, Uptime};

fn iso(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| secs.to_string())
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_default()
}

fn pct(u: &Uptime) -> String {
    u.percent().map(|p| format!("{p:.3}")).unwrap_or_default()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `from,to,set,server,polls,failures,uptime_percent,p50_ms,p95_ms,p99_ms`; a set's own
/// line has an empty server.
pub fn to_csv(r: &SlaReport) -> String {
    let mut out = String::from(
        "from_utc,to_utc,set,server,polls,failures,uptime_percent,p50_ms,p95_ms,p99_ms\n",
    );
    let (from, to) = (iso(r.from), iso(r.to));
    let mut line = |set: &str, server: &str, u: &Uptime| {
        let _ = writeln!(
            out,
            "{from},{to},{},{},{},{},{},{},{},{}",
            csv_field(set),
            csv_field(server),
            u.polls,
            u.failures,
            pct(u),
            ms(u.p50_ms),
            ms(u.p95_ms),
            ms(u.p99_ms)
        );
    };
    for set in &r.sets {
        line(&set.set, "", &set.total);
        for (server, u) in &set.servers {
            line(&set.set, server, u);
        }
    }
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// The chart: uptime % (90-100 %, lower values at the floor) per slot, one line per set.
fn svg(r: &SlaReport) -> String {
    let (w, h, left, bottom) = (720.0, 240.0, 48.0, 24.0);
    let slots = r.sets.first().map_or(0, |s| s.series.len()).max(1);
    let x = |i: usize| left + (w - left - 8.0) * (i as f64 + 0.5) / slots as f64;
    let y = |p: f64| 8.0 + (h - bottom - 8.0) * (100.0 - p.clamp(90.0, 100.0)) / 10.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Uptime per {}\">",
        if r.slot_secs == 3_600 { "hour" } else { "day" }
    );
    for p in [90.0, 95.0, 99.0, 100.0] {
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ccc\"/><text x=\"4\" y=\"{:.1}\" font-size=\"11\">{p} %</text>",
            w - 8.0,
            y(p) + 4.0,
            y = y(p)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{left}\" y=\"{}\" font-size=\"11\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
        h - 6.0,
        iso(r.from),
        w - 8.0,
        h - 6.0,
        iso(r.to)
    );
    for (n, set) in r.sets.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let points: Vec<String> = set
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| s.polls > 0)
            .map(|(i, s)| {
                let p = 100.0 * (s.polls - s.failures) as f64 / s.polls as f64;
                format!("{:.1},{:.1}", x(i), y(p))
            })
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            html_escape(&set.set)
        );
    }
    out.push_str("</svg>");
    out
}

/// The report as one HTML page.
pub fn to_html(r: &SlaReport) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Standby SLA report</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #999;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
         tr.set{font-weight:bold;background:#eee}</style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>SLA report</h1><p>From {} to {} (polls counted in rollups from their hour's start; percentiles within 2 %).</p>",
        iso(r.from),
        iso(r.to)
    );
    out.push_str(&svg(r));
    out.push_str("<p>");
    for (n, set) in r.sets.iter().enumerate() {
        let _ = write!(
            out,
            "<span style=\"color:{}\">&#9632; {}</span> ",
            COLOURS[n % COLOURS.len()],
            html_escape(&set.set)
        );
    }
    out.push_str("</p>\n<table><tr><th>Set / server</th><th>Polls</th><th>Failures</th><th>Uptime %</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>\n");
    let row = |out: &mut String, class: &str, name: &str, u: &Uptime| {
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(name),
            u.polls,
            u.failures,
            pct(u),
            ms(u.p50_ms),
            ms(u.p95_ms),
            ms(u.p99_ms)
        );
    };
    for set in &r.sets {
        row(&mut out, "set", &set.set, &set.total);
        for (server, u) in &set.servers {
            row(&mut out, "server", server, u);
        }
    }
    out.push_str("</table></body></html>\n");
    out
}

/// The format of an exported report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Html,
}

/// Why `standby report` could not make its report; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Settings(#[from] crate::model::file::SettingsError),
    #[error("{path}: no history database (the engine makes it on its first start)")]
    NoDatabase { path: String },
    #[error("{0}")]
    History(#[from] super::history::HistoryError),
}

/// The SLA report of every set of the settings file over `[from, to)`, read from the
/// database beside it (`standby report`; a running engine may go on writing meanwhile:
/// SQLite's WAL lets a reader in).
pub fn export(
    settings_path: &std::path::Path,
    from: i64,
    to: i64,
    format: Format,
) -> Result<String, ExportError> {
    let settings = crate::model::file::load(settings_path)?;
    let database = super::database_path(settings_path);
    if !database.exists() {
        return Err(ExportError::NoDatabase {
            path: database.display().to_string(),
        });
    }
    let history = super::history::History::open(Some(&database))?;
    let report = history.sla_report(&super::report::subjects(&settings), from, to)?;
    Ok(match format {
        Format::Csv => to_csv(&report),
        Format::Html => to_html(&report),
    })
}
