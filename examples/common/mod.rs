//! Pieces the benchmark programs share: this process's CPU time and RSS (Linux /proc), and
//! a clean exit on set-up errors.
#![allow(dead_code)] // each benchmark uses its own subset

pub mod bind;

/// User + system CPU seconds of this process.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .unwrap_or("")
        .split(' ')
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident set size of this process in KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Prints why the benchmark cannot run and exits with 2.
pub fn fail(why: &str) -> ! {
    let name = std::env::args().next().unwrap_or_default();
    let name = std::path::Path::new(&name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    eprintln!("{name}: {why}");
    std::process::exit(2)
}

/// The `q` quantile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// `servers` servers in sets of `per_set`, each with a distinct public address (never
/// contacted) and polled at 127.0.0.1 every `interval` (failed or not); `polling`
/// gives each set's method from its index.
pub fn loopback_sets(
    servers: usize,
    per_set: usize,
    interval: std::time::Duration,
    polling: impl Fn(usize) -> standby::model::PollMethod,
) -> Vec<standby::model::ServerSet> {
    use standby::model::{PollFrequency, Server, ServerSet};
    (0..servers)
        .collect::<Vec<_>>()
        .chunks(per_set.max(1))
        .enumerate()
        .map(|(set_index, chunk)| ServerSet {
            name: format!("set {set_index}"),
            servers: chunk
                .iter()
                .map(|i| Server {
                    public_ip: std::net::Ipv4Addr::from(0x6440_0000u32 + *i as u32).to_string(),
                    poll_ip: Some("127.0.0.1".into()),
                    ..Server::default()
                })
                .collect(),
            polling: polling(set_index),
            frequency: PollFrequency {
                interval,
                failed_interval: interval,
                ..PollFrequency::default()
            },
            ..ServerSet::default()
        })
        .collect()
}
