//! `import-v1`: bytes → UTF-8 → the v1 XML reader → settings → validation. Never a panic;
//! an import that validates must save to a file that loads back unchanged.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use standby::model::file;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = file::utf8(data.to_vec()) else {
        return;
    };
    let Ok(imported) = standby::model::import_v1::import(&text) else {
        return;
    };
    if !standby::model::validate(&imported.settings).is_empty() {
        return;
    }
    let saved = imported
        .settings
        .to_ron()
        .expect("valid settings serialize");
    let again = file::parse(Path::new("standby.ron"), &saved).expect("an import loads again");
    assert_eq!(
        imported.settings, again,
        "a save and a load changed the import"
    );
});
