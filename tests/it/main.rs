//! Standby's integration tests: one binary (one link instead of thirty), a module per
//! area, one shared [`support`] module (bounded waits, free ports, real peers, test servers).
//!
//! Every area's tests run as threads of this one process: they take free ports, never set
//! process-wide state (environment, working directory, a global subscriber), and run a child
//! process where they need another environment. `cargo test --test it probe_http` runs an area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod admin;
mod api;
mod api_hardening;
#[cfg(unix)]
mod api_metrics;
mod api_tls;
#[cfg(unix)]
mod attach;
mod cli;
mod cluster;
mod cluster_faults;
mod cluster_security;
mod cluster_settings;
#[cfg(unix)]
mod crash_kill9;
mod desktop_session;
mod dns_dnssec;
mod dns_e2e;
mod dns_idn;
mod dns_propagation;
mod dns_rfc2136;
mod dns_sync;
#[cfg(unix)]
mod dns_sync_bind;
#[cfg(unix)]
mod dns_sync_peers;
mod dnsserve;
#[cfg(unix)]
mod dnsserve_fds;
mod dnsserve_limits;
mod dnsserve_primary;
mod dnsserve_zones;
mod dnsupdate_cloudflare;
mod dnsupdate_http_json;
mod dnsupdate_methods;
mod dnsupdate_powerdns;
mod dnsupdate_route53;
mod engine_e2e;
mod engine_history;
mod engine_scheduler;
mod fault_peers;
#[cfg(unix)]
mod history_disk_full;
mod history_reports;
mod judgement;
#[cfg(unix)]
mod monitor_faults;
mod notify_channels;
#[cfg(unix)]
mod notify_coalesce;
mod notify_email;
#[cfg(unix)]
mod notify_flapping;
#[cfg(unix)]
mod notify_ids;
mod notify_outbox;
#[cfg(unix)]
mod notify_reminders;
#[cfg(unix)]
mod notify_restart;
mod notify_services;
#[cfg(unix)]
mod notify_shared;
#[cfg(target_os = "linux")]
mod package;
mod probe_cert;
#[cfg(unix)]
mod probe_command;
mod probe_dns;
mod probe_http;
mod probe_http_checks;
mod probe_peers;
mod probe_ping;
mod probe_tcp;
#[cfg(target_os = "linux")]
mod remote;
mod service;
mod settings_conflict;
mod settings_files;
mod tsig_bind_vectors;
mod ui_cluster;
mod ui_dialogs;
mod ui_dns_serving;
mod ui_file_dialogs;
mod ui_first_run;
mod ui_help;
mod ui_history_tray;
mod ui_main_window;
mod ui_smtp_warning;
mod ui_what_if;
mod ui_window_polish;
