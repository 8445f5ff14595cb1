//! TCP polling (placeholder until written).
use super::{BoxFuture, BuildError, PollOutcome, PollTarget, Probe};
use crate::model::TcpPoll;

pub struct TcpProbe;

impl TcpProbe {
    pub fn new(_settings: &TcpPoll) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported("TCP"))
    }
}

impl Probe for TcpProbe {
    fn poll<'a>(&'a self, _target: &'a PollTarget) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async { unreachable!("never built") })
    }
}
