//! HTTPS for the API: a configured certificate chain and key (PEM files), or a self-signed
//! certificate made at the first start and kept beside the settings (`api-cert.pem`,
//! `api-key.pem`, owner-only). Clients pin the self-signed certificate by its SHA-256
//! fingerprint, which the start's log line and `standby api fingerprint` print.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::model::options::{ApiTls, HttpApiOptions};

pub const CERT_FILE: &str = "api-cert.pem";
pub const KEY_FILE: &str = "api-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no certificate in it", .0.display())]
    NoCertificate(PathBuf),
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("the certificate and key do not go together: {0}")]
    Invalid(String),
    #[error("the API does not use TLS (options.http_api.tls is Off)")]
    Off,
}

/// A certificate chain and its key.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// SHA-256 of the (first) certificate, as `AB:CD:...`.
    pub fn fingerprint(&self) -> String {
        self.chain
            .first()
            .map(|cert| fingerprint(cert.as_ref()))
            .unwrap_or_default()
    }

    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Invalid(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Invalid(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

/// SHA-256 of DER bytes, as upper-case hex pairs joined by `:` (as browsers show it).
pub use crate::probe::tls::fingerprint;

/// A chain and key from PEM files.
pub fn load(certificate: &Path, key: &Path) -> Result<Identity, TlsError> {
    fn read(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError + '_ {
        move |source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
    let chain = CertificateDer::pem_file_iter(certificate)
        .map_err(read(certificate))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read(certificate))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(certificate.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(read(key))?;
    Ok(Identity { chain, key })
}

/// The self-signed identity in `dir`, made (for `names`) if it is not there yet.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<Identity, TlsError> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if !cert.exists() || !key.exists() {
        let made = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        write_private(&key, made.signing_key.serialize_pem().as_bytes())?;
        write_private(&cert, made.cert.pem().as_bytes())?;
    }
    load(&cert, &key)
}

/// Writes a new owner-only file (the key must never be readable by others, not even for
/// a moment).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let error = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_all().map_err(error)
}

/// The names a self-signed certificate is made for: `localhost`, the listen address and
/// the allowed host names.
pub fn names(api: &HttpApiOptions) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Ok(address) = api.listen.parse::<std::net::SocketAddr>()
        && !address.ip().is_unspecified()
    {
        names.push(address.ip().to_string());
    }
    names.extend(api.allowed_hosts.iter().cloned());
    names
}

/// The identity the options ask for; `dir` is where a self-signed one lives (`None`: made
/// in memory for this run).
pub fn identity(api: &HttpApiOptions, dir: Option<&Path>) -> Result<Option<Identity>, TlsError> {
    match &api.tls {
        ApiTls::Off => Ok(None),
        ApiTls::Files { certificate, key } => load(certificate, key).map(Some),
        ApiTls::SelfSigned => match dir {
            Some(dir) => self_signed(dir, &names(api)).map(Some),
            None => {
                let made = rcgen::generate_simple_self_signed(names(api))
                    .map_err(|e| TlsError::Generate(e.to_string()))?;
                let key =
                    PrivateKeyDer::from_pem_slice(made.signing_key.serialize_pem().as_bytes())
                        .map_err(|source| TlsError::Read {
                            path: PathBuf::from("(in memory)"),
                            source,
                        })?;
                Ok(Some(Identity {
                    chain: vec![made.cert.der().clone()],
                    key,
                }))
            }
        },
    }
}

/// `standby api fingerprint`: the fingerprint of the certificate the API serves with the
/// settings file `settings_path` (a self-signed one is made now if it does not exist yet).
pub fn fingerprint_for(settings_path: &Path) -> Result<String, Box<dyn std::error::Error>> {
    let settings = if settings_path.exists() {
        crate::model::file::load(settings_path)?
    } else {
        crate::model::Settings::default()
    };
    let dir = settings_path.parent().unwrap_or(Path::new("."));
    match identity(&settings.options.http_api, Some(dir))? {
        Some(identity) => Ok(identity.fingerprint()),
        None => Err(TlsError::Off.into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_kept_owner_only_and_its_fingerprint_stays() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = self_signed(dir.path(), &names).unwrap();
        let again = self_signed(dir.path(), &names).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_eq!(first.fingerprint().len(), 32 * 3 - 1);
        first.server_config().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let missing = load(&dir.path().join("nope.pem"), &dir.path().join(KEY_FILE));
        assert!(missing.unwrap_err().to_string().contains("nope.pem"));
    }
}
