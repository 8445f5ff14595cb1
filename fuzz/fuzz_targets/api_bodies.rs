//! Every API body type (`PUT /options`, `POST /serversets`, `PUT /serversets/{id}/config`)
//! through the API's own decoding: a complete JSON object, the confirmation field, secrets'
//! placeholders restored from the settings in force. Never a panic; a body that decodes
//! and validates is one `GET` could have returned: it encodes back to JSON that decodes
//! to the same value.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use standby::api::routes::{CONFIRM_API_OFF, decode_settings_body};
use standby::api::secrets::Redactor;
use standby::model::{Options, ServerSet, Settings};

/// Settings in force with secrets in them, so that placeholders have something to restore.
const STORED: &str = r#"(
    options: (http_api: (enabled: true, password: "api-secret")),
    server_sets: [(name: "web", servers: [(public_ip: "192.0.2.1")],
        polling: Tcp(service: Ftp, ftp_login: (user: "u", password: "ftp-secret")))],
)"#;

static STORED_JSON: LazyLock<Value> = LazyLock::new(|| {
    let settings = Settings::from_ron(STORED).expect("the fuzz settings parse");
    serde_json::to_value(&settings).expect("settings are JSON")
});

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let redactor = Redactor::default();
    match which % 2 {
        0 => {
            if let Ok((options, _)) = decode_settings_body::<Options>(
                body,
                &STORED_JSON,
                &redactor,
                Some(CONFIRM_API_OFF),
            ) {
                round_trip(&options, &redactor);
            }
        }
        _ => {
            if let Ok((set, _)) =
                decode_settings_body::<ServerSet>(body, &STORED_JSON, &redactor, None)
            {
                let mut settings = Settings::default();
                settings.server_sets.push(set.clone());
                let _ = standby::model::validate(&settings);
                round_trip(&set, &redactor);
            }
        }
    }
});

/// What decoded encodes to a body that decodes to the same value.
fn round_trip<T>(value: &T, redactor: &Redactor)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_vec(value).expect("encodes");
    let (again, _) = decode_settings_body::<T>(&json, &STORED_JSON, redactor, None)
        .unwrap_or_else(|e| panic!("a decoded body does not decode again: {e:?}"));
    assert_eq!(*value, again, "a body changed on its way back");
}
