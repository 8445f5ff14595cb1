//! The settings file: bytes → UTF-8 (with a position) → RON → validation. Whatever the
//! bytes, an error and never a panic; and settings that load must save to a text that
//! loads back to the same settings (a save may never write a file Standby cannot read).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use standby::model::Settings;
use standby::model::file;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = file::utf8(data.to_vec()) else {
        return;
    };
    let path = Path::new("standby.ron");
    let Ok(settings) = file::parse(path, &text) else {
        // Unvalidated settings must still print (the errors name fields of them).
        if let Ok(parsed) = Settings::from_ron(&text) {
            let _ = standby::model::validate(&parsed);
        }
        return;
    };
    let saved = settings.to_ron().expect("valid settings serialize");
    let again = file::parse(path, &saved).expect("saved settings load again");
    assert_eq!(settings, again, "a save and a load changed the settings");
});
