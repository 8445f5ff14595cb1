//! TLS client set-up shared by the probes and the remote window: the ring provider, the
//! platform verifier, and a verifier that judges the certificate alone (checking off, or a
//! pinned fingerprint).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::BuildError;

/// A client configuration for HTTP/1.1 over TLS. With `verify` the chain and name are
/// checked against the system's roots; without it any certificate is accepted.
pub fn client_config(verify: bool) -> Result<Arc<ClientConfig>, BuildError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if verify {
        Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| {
                BuildError::Invalid(format!("cannot load the system's root certificates: {e}"))
            })?,
        )
    } else {
        Arc::new(KeyHolder::any(provider.clone()))
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Invalid(format!("TLS set-up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // Only HTTP/1.1 is spoken; say so, in case the server would pick h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS server name for a URL host: an IP literal (brackets stripped) or a DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, BuildError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned())
        .map_err(|_| BuildError::Invalid(format!("{host:?} is not a valid TLS server name")))
}

/// The SHA-256 of a certificate (DER) as colon-separated hex pairs, as `standby api
/// fingerprint` prints it and a window pins it.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What [`KeyHolder`] asks of the certificate the server sent.
type CertificateCheck = dyn Fn(&CertificateDer<'_>) -> Result<(), rustls::Error> + Send + Sync;

/// Judges the server's certificate by `check` alone — no chain, no name: any certificate for
/// sets that turn checking off, one fingerprint for a pinned API — but still checks the
/// handshake's signatures, so the server must own the key of the certificate it sent and a
/// broken handshake is still a failure.
pub struct KeyHolder {
    check: Box<CertificateCheck>,
    provider: Arc<CryptoProvider>,
}

impl KeyHolder {
    pub fn new(
        provider: Arc<CryptoProvider>,
        check: impl Fn(&CertificateDer<'_>) -> Result<(), rustls::Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            check: Box::new(check),
            provider,
        }
    }

    /// Accepts any certificate whose key the server holds.
    pub fn any(provider: Arc<CryptoProvider>) -> Self {
        Self::new(provider, |_| Ok(()))
    }
}

impl std::fmt::Debug for KeyHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyHolder").finish_non_exhaustive()
    }
}

impl ServerCertVerifier for KeyHolder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        (self.check)(end_entity).map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(matches!(
            server_name("www.example.com").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name("192.0.2.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[2001:db8::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(server_name("bad name!").is_err());
    }

    #[test]
    fn configs_build() {
        assert!(client_config(false).is_ok());
        assert!(client_config(true).is_ok());
    }
}
