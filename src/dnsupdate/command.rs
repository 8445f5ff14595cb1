//! Command-line update (placeholder until written).

use super::{BoxFuture, BuildError, DnsError, DnsUpdater, UpdateRequest};
use crate::model::CommandSpec;

pub struct CommandUpdater;

impl CommandUpdater {
    pub fn new(_settings: &CommandSpec) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported(
            "Command-line updates are not written yet".into(),
        ))
    }
}

impl DnsUpdater for CommandUpdater {
    fn update<'a>(
        &'a self,
        _request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(async { unreachable!("never built") })
    }
}
