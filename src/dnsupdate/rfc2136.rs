//! RFC 2136 dynamic update (placeholder until written).

use super::{BoxFuture, BuildError, DnsError, DnsUpdater, UpdateRequest};
use crate::model::Rfc2136Update;

pub struct Rfc2136Updater;

impl Rfc2136Updater {
    pub fn new(_settings: &Rfc2136Update) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported(
            "RFC 2136 updates are not written yet".into(),
        ))
    }
}

impl DnsUpdater for Rfc2136Updater {
    fn update<'a>(
        &'a self,
        _request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(async { unreachable!("never built") })
    }
}
