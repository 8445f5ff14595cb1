//! A hand edit of the settings file is never silently overwritten: not by a change through
//! the API (or a dialog) that arrives before the engine's next look at the file (every
//! 2 s), nor by a pause the engine saves itself.

use std::path::Path;
use std::time::Duration;

use standby::engine::{Call, Command, EngineConfig, EngineHandle};
use standby::model::{Server, ServerSet, Settings, file};

use crate::support::wait_until;

fn set(name: &str, ip: &str) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: vec![Server {
            public_ip: ip.into(),
            ..Server::default()
        }],
        ..ServerSet::default()
    }
}

/// One set, all polling paused: nothing here needs a poll.
fn settings(sets: &[(&str, &str)]) -> Settings {
    let mut settings = Settings::default();
    settings.options.polling.paused = true;
    settings.server_sets = sets.iter().map(|(n, ip)| set(n, ip)).collect();
    settings
}

fn spawn(path: &Path) -> EngineHandle {
    let settings = file::load(path).unwrap();
    EngineHandle::spawn(EngineConfig {
        settings_path: Some(path.to_path_buf()),
        ..EngineConfig::in_memory(settings)
    })
    .unwrap()
}

fn names(settings: &Settings) -> Vec<String> {
    settings
        .server_sets
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

/// The hand edit: written as most editors do (a new file renamed over the old, so that
/// the engine never reads half of it), not through Standby.
fn hand_edit(path: &Path, settings: &Settings) -> String {
    let text = settings.to_ron().unwrap();
    let tmp = path.with_extension("ron~");
    std::fs::write(&tmp, &text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_change_right_after_a_hand_edit_does_not_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    file::save(&path, &settings(&[("web", "127.0.0.2")])).unwrap();
    let engine = spawn(&path);
    let mut conflicts = 0;
    // The engine's own look at the file (every 2 s) may fall between the edit and the
    // change; then it has loaded the edit first and the change may apply. Three rounds
    // make at least one a real race.
    for round in 0..3 {
        let edited_names: Vec<(&str, &str)> = vec![("web", "127.0.0.2"), ("hand", "127.0.0.3")];
        let mut edited = settings(&edited_names);
        edited.server_sets[1].name = format!("hand{round}");
        let edited_text = hand_edit(&path, &edited);
        let log_before = engine.snapshot().log.len();
        let (call, answer) =
            Call::apply_settings(settings(&[("web", "127.0.0.2"), ("api", "127.0.0.4")]));
        engine.try_send(call).unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), answer.wait())
            .await
            .unwrap();
        match answer {
            Err(why) => {
                conflicts += 1;
                assert!(why.to_string().contains("changed by someone else"), "{why}");
                assert_eq!(std::fs::read_to_string(&path).unwrap(), edited_text);
                // The edit is in force now.
                let wanted = names(&edited);
                wait_until(&engine, "the hand edit is loaded", |s| {
                    names(&s.settings) == wanted
                })
                .await;
            }
            Ok(()) => {
                // Only allowed when the engine had loaded the edit before the change.
                let s = engine.snapshot();
                let recent: Vec<&str> = s
                    .log
                    .iter()
                    .skip(log_before.saturating_sub(1))
                    .map(|l| l.text.as_str())
                    .collect();
                let reloaded = recent.iter().position(|l| l.contains("settings reloaded"));
                let applied = recent.iter().position(|l| l.contains("settings applied"));
                assert!(
                    reloaded.is_some() && reloaded < applied,
                    "the hand edit was overwritten unseen: {recent:?}"
                );
            }
        }
    }
    assert!(conflicts >= 1, "no round raced the engine's file check");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_right_after_a_hand_edit_is_applied_to_the_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let mut start = settings(&[("web", "127.0.0.2")]);
    start.options.polling.paused = false;
    start.server_sets[0].paused = true;
    file::save(&path, &start).unwrap();
    let engine = spawn(&path);
    wait_until(&engine, "the engine runs", |s| s.set("web").is_some()).await;
    let mut edited = start.clone();
    edited.server_sets.push(set("hand", "127.0.0.3"));
    edited.server_sets[1].paused = true;
    hand_edit(&path, &edited);
    // At once, before the engine's next look at the file.
    engine.try_send(Command::ResumeSet("web".into())).unwrap();
    wait_until(&engine, "web resumed with the edit loaded", |s| {
        s.set("hand").is_some() && s.set("web").is_some_and(|w| !w.paused)
    })
    .await;
    let saved = file::load(&path).unwrap();
    assert_eq!(names(&saved), ["web", "hand"], "the hand edit is kept");
    assert!(!saved.server_sets[0].paused, "and the change made on top");
    assert!(saved.server_sets[1].paused);
    engine.shutdown();
}
