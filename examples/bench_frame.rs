//! GUI frame time (issue 6): the CPU time of one frame of the main window over a snapshot
//! of 10,000 servers (100 sets × 100), drawn with egui's `Context::run_ui` (no GPU).
//!
//! ```sh
//! cargo run --release --example bench_frame [frames]
//! ```
//!
//! Prints mean and p99 per scenario: the Server Sets tab with a set of 100 servers
//! selected beside the list of 100 sets, the same with every server row expanded, and
//! the list of 100 sets with an empty set selected.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use eframe::egui;
use standby::engine::decision::{Basis, Decision};
use standby::engine::server_state::ServerStatus;
use standby::engine::{
    DnsPairView, EngineConfig, EngineHandle, PairState, ServerView, SetHealth, SetStatus, Snapshot,
};
use standby::model::Settings;
use standby::ui::app::StandbyApp;

fn server(set: usize, i: usize) -> ServerView {
    let recent = (0..30)
        .map(|k| (k % 11 != 7).then_some(20.0 + ((k * 7 + i) % 13) as f32))
        .collect();
    ServerView {
        public_ip: format!("10.{set}.{}.{}", i / 250, i % 250 + 1),
        poll_ip: String::new(),
        name: format!("server {i}"),
        status: if i.is_multiple_of(17) {
            ServerStatus::Failed
        } else {
            ServerStatus::Ok
        },
        last_response: "HTTP/1.1 200 OK".into(),
        last_response_time: Some(Duration::from_millis(23)),
        successes: 1000 + i as u64,
        failures: (i % 5) as u64,
        last_success: Some(SystemTime::now()),
        last_failure: None,
        problem_code: None,
        recent_times_ms: recent,
        last_lateness: Some(Duration::from_millis(3)),
        admin: Default::default(),
        response_times: Default::default(),
        certificate_not_after: None,
    }
}

fn set(n: usize, servers: usize) -> Arc<SetStatus> {
    let dns = (0..4)
        .map(|k| DnsPairView {
            dns_server: format!("192.0.2.{}", 53 + k % 2),
            host: format!("www{}.set{n}.example.test", k / 2),
            state: if k == 3 {
                PairState::Failed
            } else {
                PairState::Matched
            },
            served: Some("10.0.0.1, 10.0.0.2".into()),
            last_change: Some(SystemTime::now()),
            error: (k == 3).then(|| "time-out after 5 s".to_string()),
            error_code: (k == 3).then_some(211),
            propagation: Some(standby::dnsupdate::propagation::Propagation::known(2, 3)),
            in_flight: false,
            updates: 0,
            update_failures: 0,
        })
        .collect();
    Arc::new(SetStatus {
        name: format!("set-{n:03}"),
        paused: false,
        health: SetHealth::Ok,
        method: "HTTP".into(),
        servers: (0..servers).map(|i| server(n, i)).collect(),
        decision: Decision::Publish {
            addresses: vec![(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1)],
            basis: Basis::Functional,
        },
        host_names: vec![format!("www.set{n}.example.test")],
        error: None,
        dns,
        published: None,
        ttl: 60,
        low_ttl: None,
    })
}

fn measure(ctx: &egui::Context, app: &mut StandbyApp, frames: usize) -> (f64, f64) {
    let mut times = Vec::with_capacity(frames);
    let start = Instant::now();
    // Ten warm-up frames: fonts and layout caches fill up first.
    for frame in 0..frames + 10 {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1280.0, 800.0),
            )),
            time: Some(start.elapsed().as_secs_f64()),
            ..Default::default()
        };
        let t = Instant::now();
        let output = ctx.run_ui(input, |ui| app.show(ui));
        // Tessellation is part of a real frame's CPU work too.
        let _ = ctx.tessellate(output.shapes, output.pixels_per_point);
        if frame >= 10 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    (mean, p99)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(300);
    let engine = EngineHandle::spawn(EngineConfig::in_memory(Settings::default()))?;
    let ctx = egui::Context::default();
    let mut app = StandbyApp::new(engine, &ctx);
    let mut snapshot = Snapshot::empty(Arc::new(Settings::default()), None);
    snapshot.sets = (0..100).map(|n| set(n, 100)).collect();
    snapshot.sets.push(set(100, 0));
    snapshot.generation = 1;
    let snapshot = Arc::new(snapshot);
    let servers: usize = snapshot.sets.iter().map(|s| s.servers.len()).sum();
    app.show_snapshot(snapshot.clone());
    println!(
        "{servers} servers in {} sets, {frames} frames per scenario, 1280×800",
        snapshot.sets.len()
    );

    app.view_mut().sets.selected = Some("set-050".into());
    let (mean, p99) = measure(&ctx, &mut app, frames);
    println!("set of 100 servers + list of 101 sets: mean {mean:.2} ms, p99 {p99:.2} ms");

    for server in &snapshot.sets[50].servers {
        app.view_mut()
            .sets
            .expanded
            .toggle("set-050", &server.public_ip);
    }
    let (mean, p99) = measure(&ctx, &mut app, frames);
    println!("same, every server row expanded:      mean {mean:.2} ms, p99 {p99:.2} ms");

    app.view_mut().sets.selected = Some("set-100".into());
    let (mean, p99) = measure(&ctx, &mut app, frames);
    println!("list of 101 sets, empty set selected: mean {mean:.2} ms, p99 {p99:.2} ms");
    Ok(())
}
