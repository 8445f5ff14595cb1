//! Where Route 53's credentials come from: the dialog's key, else the standard AWS chain's
//! first two links — the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), then the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`
//! or `~/.aws/credentials`, the profile from the dialog, `AWS_PROFILE` or `default`).
//! Looked up for every request, so a rotated key is picked up without a restart.

use std::path::PathBuf;

use super::sigv4::Credentials;
use crate::model::{Route53Api, Secret};

/// No credentials found; the text says where the chain looked.
#[derive(Debug, thiserror::Error)]
pub enum NoCredentials {
    #[error(
        "no credentials: no access key given, none in the environment, and no home directory for ~/.aws/credentials"
    )]
    NoHome,
    #[error(
        "no credentials: no access key given, none in the environment, and {} cannot be read ({source})",
        file.display()
    )]
    Unreadable {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no credentials: profile [{profile}] of {} has no aws_access_key_id and aws_secret_access_key",
        file.display()
    )]
    NoProfile { file: PathBuf, profile: String },
}

/// Finds the credentials; the error says where it looked.
pub fn resolve(settings: &Route53Api) -> Result<Credentials, NoCredentials> {
    resolve_with(settings, &|name| std::env::var(name).ok(), dirs::home_dir())
}

/// [`resolve`] with the environment and home directory given (for tests).
pub fn resolve_with(
    settings: &Route53Api,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<PathBuf>,
) -> Result<Credentials, NoCredentials> {
    let non_empty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    if !settings.access_key_id.trim().is_empty() {
        return Ok(Credentials {
            access_key_id: settings.access_key_id.trim().to_string(),
            secret_access_key: settings.secret_access_key.clone(),
            session_token: None,
        });
    }
    if let (Some(id), Some(secret)) = (
        non_empty(env("AWS_ACCESS_KEY_ID")),
        non_empty(env("AWS_SECRET_ACCESS_KEY")),
    ) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: non_empty(env("AWS_SESSION_TOKEN")).map(Secret::new),
        });
    }
    let file = non_empty(env("AWS_SHARED_CREDENTIALS_FILE"))
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".aws").join("credentials")));
    let profile = if settings.profile.trim().is_empty() {
        non_empty(env("AWS_PROFILE")).unwrap_or_else(|| "default".into())
    } else {
        settings.profile.trim().to_string()
    };
    let Some(file) = file else {
        return Err(NoCredentials::NoHome);
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(source) => return Err(NoCredentials::Unreadable { file, source }),
    };
    from_file(&text, &profile).ok_or(NoCredentials::NoProfile { file, profile })
}

/// The profile's keys in an INI-style credentials file.
fn from_file(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().to_string();
            match key.trim() {
                "aws_access_key_id" => id = Some(value),
                "aws_secret_access_key" => secret = Some(value),
                "aws_session_token" => token = Some(value),
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key_id: id?,
        secret_access_key: Secret::new(secret?),
        session_token: token.map(Secret::new),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dialog_then_environment_then_profile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s1\n\n\
             # a comment\n[ops]\naws_access_key_id=AKOPS\naws_secret_access_key=s2\naws_session_token=t2\n",
        )
        .unwrap();
        let home = Some(dir.path().to_path_buf());
        let none = |_: &str| None;
        let mut settings = Route53Api {
            access_key_id: "AKDIALOG".into(),
            secret_access_key: Secret::new("s0"),
            ..Route53Api::default()
        };
        let c = resolve_with(&settings, &none, home.clone()).unwrap();
        assert_eq!(c.access_key_id, "AKDIALOG");

        settings.access_key_id.clear();
        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("AKENV".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("senv".to_string()),
            "AWS_SESSION_TOKEN" => Some("tenv".to_string()),
            _ => None,
        };
        let c = resolve_with(&settings, &env, home.clone()).unwrap();
        assert_eq!(c.access_key_id, "AKENV");
        assert_eq!(c.session_token.unwrap().expose(), "tenv");

        let c = resolve_with(&settings, &none, home.clone()).unwrap();
        assert_eq!(c.access_key_id, "AKDEFAULT");
        let profile = |name: &str| (name == "AWS_PROFILE").then(|| "ops".to_string());
        let c = resolve_with(&settings, &profile, home.clone()).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.expose()),
            ("AKOPS", "s2")
        );

        settings.profile = "missing".into();
        let error = resolve_with(&settings, &none, home)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[missing]"), "{error}");
        let error = resolve_with(&settings, &none, Some(dir.path().join("nowhere")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot be read"), "{error}");
    }
}
