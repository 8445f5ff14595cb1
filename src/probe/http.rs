//! HTTP/HTTPS polling (placeholder until written).
use super::{BoxFuture, BuildError, PollOutcome, PollTarget, Probe};
use crate::model::HttpPoll;

pub struct HttpProbe;

impl HttpProbe {
    pub fn new(_settings: &HttpPoll) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported("HTTP"))
    }
}

impl Probe for HttpProbe {
    fn poll<'a>(&'a self, _target: &'a PollTarget) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async { unreachable!("never built") })
    }
}
