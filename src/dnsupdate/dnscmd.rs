//! Microsoft DNS through dnscmd (placeholder until written).

use std::sync::Arc;

use super::{BuildError, DnsUpdater};
use crate::model::DnscmdUpdate;

pub fn build(_settings: &DnscmdUpdate) -> Result<Arc<dyn DnsUpdater>, BuildError> {
    Err(BuildError::Unsupported(
        "Microsoft DNS (dnscmd) works only on Windows".into(),
    ))
}
