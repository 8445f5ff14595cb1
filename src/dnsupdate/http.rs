//! HTTP update (SPEC §4): GET, POST or PUT to a provider's API, with the update tags in the
//! URL (URL-encoded), the headers and the body (as they are). The sending and judging is
//! the shared [`crate::httpclient`], which HTTP notifications use too.

use super::{BoxFuture, BuildError, DnsError, DnsStage, DnsUpdater, UpdateRequest};
use crate::httpclient::PreparedRequest;
use crate::model::HttpRequest;

/// An HTTP update method, ready to update.
#[derive(Debug)]
pub struct HttpUpdater {
    request: PreparedRequest,
}

impl HttpUpdater {
    pub fn new(settings: &HttpRequest) -> Result<Self, BuildError> {
        let request =
            PreparedRequest::new(settings).map_err(|e| BuildError::Invalid(e.to_string()))?;
        Ok(Self { request })
    }
}

impl DnsUpdater for HttpUpdater {
    fn update<'a>(&'a self, request: &'a UpdateRequest) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(async move {
            self.request
                .send(&request.tags(), Some(request.timeout))
                .await
                .map_err(|f| DnsError::new(f.kind, DnsStage::Updating, f.text))
        })
    }
}
