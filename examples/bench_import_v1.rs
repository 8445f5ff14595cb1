//! How long `import-v1` takes for a large first-generation file (issue 11: it was quadratic,
//! 36 s for 2.7 MB). Builds the XML in memory — SETS server sets of SERVERS servers each,
//! one per line, with a comment per set — and times `import_v1::import` alone.
//!
//! `cargo run --example bench_import_v1 [SETS] [SERVERS] [--old]` (defaults 1000 × 90 ≈
//! 2.8 MB). `--old` also times the line numbering the reader used before (counting the
//! newlines from the start of the file for every tag, verbatim), the quadratic part.

use std::fmt::Write as _;
use std::time::Instant;

fn main() {
    let old = std::env::args().any(|a| a == "--old");
    let mut args = std::env::args().skip(1).filter(|a| a != "--old");
    let sets: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let servers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(90);
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<SimpleFailover>\n");
    for s in 0..sets {
        let _ = writeln!(xml, "  <!-- set {s} -->");
        let _ = writeln!(
            xml,
            "  <ServerSet Domain=\"www{s}.example.test\" ServerType=\"HTTP\" PollingIV=\"30\">"
        );
        for k in 0..servers {
            // Documentation addresses: this file is only parsed, never polled.
            let _ = writeln!(xml, "    <Server IP=\"192.0.2.{}\"/>", k % 250 + 1);
        }
        let _ = writeln!(xml, "  </ServerSet>");
    }
    xml.push_str("</SimpleFailover>\n");
    if old {
        let started = Instant::now();
        let line_of = |rest: &str| xml[..xml.len() - rest.len()].matches('\n').count() + 1;
        let mut rest = xml.as_str();
        let mut last = 0;
        while let Some(start) = rest.find('<') {
            rest = &rest[start + 1..];
            last = line_of(rest);
        }
        println!(
            "before: the old line numbering alone took {:.3} s (last line {last})",
            started.elapsed().as_secs_f64()
        );
    }
    let started = Instant::now();
    match standby::model::import_v1::import(&xml) {
        Ok(imported) => println!(
            "{:.2} MB, {} sets, {} servers: imported in {:.3} s",
            xml.len() as f64 / 1e6,
            imported.settings.server_sets.len(),
            sets * servers,
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("import failed: {e}");
            std::process::exit(1);
        }
    }
}
