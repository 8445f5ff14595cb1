//! HTTP notifications (a web hook, an SMS gateway): GET/POST/PUT, headers, body, basic
//! auth, judged by the request's criteria (status codes, body rules).
//!
//! Kept small on purpose: a shared HTTP client module is being written beside this one and
//! the two are to be unified.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{BoxFuture, FailureKind, Notifier, NotifyConfig, NotifyError, Stage};
use crate::model::criteria::CompiledHttpCriteria;
use crate::model::tags::{Encoding, TagValues, expand};
use crate::model::{HttpRequest, HttpVerb};

/// Answer text kept for the log and error messages.
const ANSWER_KEPT: usize = 200;

pub struct HttpNotifier {
    request: HttpRequest,
    criteria: CompiledHttpCriteria,
    client: reqwest::Client,
}

impl HttpNotifier {
    pub fn new(request: &HttpRequest, config: &NotifyConfig) -> Result<Self, NotifyError> {
        if request.url.trim().is_empty() {
            return Err(NotifyError::settings("HTTP: no URL"));
        }
        let criteria = request
            .criteria
            .compile()
            .map_err(|e| NotifyError::settings(format!("HTTP: a body rule: {e}")))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(config)?)
            .timeout(Duration::from_secs(u64::from(request.timeout_secs.max(1))))
            .build()
            .map_err(|e| NotifyError::settings(format!("HTTP client: {e}")))?;
        Ok(Self {
            request: request.clone(),
            criteria,
            client,
        })
    }

    async fn deliver(&self, tags: &TagValues) -> Result<String, NotifyError> {
        let url = expand(&self.request.url, tags, Encoding::Url);
        // The URL without its query names the target in messages (a token may be in it).
        let shown = url.split('?').next().unwrap_or_default().to_string();
        let method = match self.request.verb {
            HttpVerb::Get => reqwest::Method::GET,
            HttpVerb::Post => reqwest::Method::POST,
            HttpVerb::Put => reqwest::Method::PUT,
        };
        let mut builder = self.client.request(method, &url);
        for (name, value) in &self.request.headers {
            builder = builder.header(name.as_str(), expand(value, tags, Encoding::Plain));
        }
        if self.request.verb != HttpVerb::Get {
            builder = builder.body(expand(&self.request.body, tags, Encoding::Plain));
        }
        if let Some(auth) = &self.request.basic_auth {
            builder = builder.basic_auth(&auth.user, Some(auth.password.expose()));
        }
        let response = builder
            .send()
            .await
            .map_err(|e| classify(&e, Stage::Connecting, &shown))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| classify(&e, Stage::Answer, &shown))?;
        let short: String = body.chars().take(ANSWER_KEPT).collect();
        let judged = self
            .criteria
            .judge_status(status)
            .and_then(|()| self.criteria.judge_body(body.len() as u64, Some(&body)));
        match judged {
            Ok(()) => Ok(format!("{shown}: status {status}")),
            Err(why) => Err(NotifyError::new(
                FailureKind::Answer,
                Stage::Answer,
                format!("{shown}: {why}: {}", short.trim()),
            )),
        }
    }
}

impl Notifier for HttpNotifier {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>> {
        Box::pin(self.deliver(tags))
    }
}

/// The ring provider and the platform's roots, plus the configured extra roots.
fn tls_config(config: &NotifyConfig) -> Result<rustls::ClientConfig, NotifyError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut extra = Vec::new();
    for pem in &config.extra_roots_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            extra.push(cert.map_err(|e| {
                NotifyError::settings(format!("HTTP: extra root certificate: {e}"))
            })?);
        }
    }
    let verifier = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
    }
    .map_err(|e| NotifyError::settings(format!("cannot load the root certificates: {e}")))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NotifyError::settings(format!("TLS set-up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

fn classify(e: &reqwest::Error, stage: Stage, url: &str) -> NotifyError {
    // reqwest's text may hold the full URL (with a token in its query): print the cause only.
    let mut text = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text = inner.to_string();
        source = inner.source();
    }
    if text.is_empty() {
        let mut bare = String::new();
        if e.is_timeout() {
            bare = "timed out".into();
        } else if let Some(status) = e.status() {
            bare = format!("status {status}");
        }
        text = if bare.is_empty() {
            "request failed".into()
        } else {
            bare
        };
    }
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_connect() {
        FailureKind::Network
    } else if e.is_body() || e.is_decode() {
        FailureKind::Closed
    } else {
        FailureKind::Network
    };
    let stage = if e.is_connect() && text.to_ascii_lowercase().contains("certificate") {
        Stage::TlsAuth
    } else if e.is_connect() {
        Stage::Connecting
    } else if stage == Stage::Connecting {
        Stage::Sending
    } else {
        stage
    };
    NotifyError::new(kind, stage, format!("{url}: {text}"))
}
