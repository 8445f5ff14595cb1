//! HTTP update (placeholder until written).

use super::{BoxFuture, BuildError, DnsError, DnsUpdater, UpdateRequest};
use crate::model::HttpRequest;

pub struct HttpUpdater;

impl HttpUpdater {
    pub fn new(_settings: &HttpRequest) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported(
            "HTTP updates are not written yet".into(),
        ))
    }
}

impl DnsUpdater for HttpUpdater {
    fn update<'a>(
        &'a self,
        _request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(async { unreachable!("never built") })
    }
}
