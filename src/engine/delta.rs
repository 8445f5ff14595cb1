//! Snapshots across a process: "what changed since generation N" as plain, versioned data.
//!
//! The engine shares the unchanged parts of successive snapshots (`Arc`), so a delta is
//! cheap to compute: a part that is the same `Arc` (or an equal value) is sent as `Same`,
//! a set as the index it had in the base, the log and events as the lines appended and
//! how many fell off the front. The other side applies the delta to the snapshot it has
//! and gets an equal snapshot, again sharing what did not change. A delta without a base
//! (`since: None`) carries everything: it is how a newcomer gets its first snapshot.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::events::{Event, LogLine};
use super::problems::Problem;
use super::snapshot::{PollStats, SetStatus, Snapshot};
use crate::model::Settings;

/// The version of the wire form; a receiver refuses any other. (2: propagation counts
/// the name servers that could not be asked.)
pub const WIRE_VERSION: u16 = 2;

/// One part of a snapshot: unchanged, or its new value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Part<T> {
    Same,
    New(T),
}

/// One set of the new snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SetPart {
    /// The set at this index of the base snapshot, unchanged.
    Kept(usize),
    New(Arc<SetStatus>),
}

/// A ring (log, events) that keeps the newest lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RingPart<T> {
    Same,
    /// `dropped` lines fell off the front, `appended` came at the back.
    Appended {
        dropped: usize,
        appended: Vec<T>,
    },
}

/// What changed from the snapshot of generation `since` to that of `generation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotDelta {
    pub version: u16,
    /// The generation this applies to; `None`: to nothing (everything is in it).
    pub since: Option<u64>,
    pub generation: u64,
    pub settings: Part<Arc<Settings>>,
    pub settings_revision: u64,
    pub settings_path: Part<Option<PathBuf>>,
    pub settings_error: Part<Option<String>>,
    pub all_paused: bool,
    pub sets: Vec<SetPart>,
    pub problems: Part<Arc<Vec<Problem>>>,
    pub events: RingPart<Event>,
    pub log: RingPart<LogLine>,
    pub polls_in_flight: usize,
    pub stats: PollStats,
    pub uptime: Part<Arc<crate::store::report::UptimeReport>>,
    #[serde(default)]
    pub outbox: crate::notify::OutboxStats,
    #[serde(default = "unchanged")]
    pub cluster: Part<Option<Arc<crate::engine::ClusterStatus>>>,
    #[serde(default)]
    pub shared_settings: crate::cluster::shared_settings::SharedStatus,
}

/// Why a delta cannot be applied; the receiver then asks for a full snapshot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("snapshot wire version {got}, this program reads version {WIRE_VERSION}")]
    Version { got: u16 },
    #[error("the delta applies to generation {since:?}, the snapshot here is generation {have:?}")]
    Generation {
        since: Option<u64>,
        have: Option<u64>,
    },
    #[error("the delta keeps set {0}, which the base snapshot does not have")]
    NoSuchSet(usize),
    #[error("the delta drops {dropped} lines of a ring of {len}")]
    Ring { dropped: usize, len: usize },
}

fn part<T: PartialEq + Clone>(
    base: Option<&T>,
    next: &T,
    same: impl Fn(&T, &T) -> bool,
) -> Part<T> {
    match base {
        Some(base) if same(base, next) => Part::Same,
        _ => Part::New(next.clone()),
    }
}

/// A part left out of the wire form is unchanged.
fn unchanged<T>() -> Part<T> {
    Part::Same
}

fn same_arc<T: PartialEq>(a: &Arc<T>, b: &Arc<T>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// How `next` continues `base`: the fewest lines dropped from the front of `base` such
/// that what is left is where `next` begins.
fn ring<T: PartialEq + Clone>(
    base: Option<&Arc<VecDeque<T>>>,
    next: &Arc<VecDeque<T>>,
) -> RingPart<T> {
    let Some(base) = base else {
        return RingPart::Appended {
            dropped: 0,
            appended: next.iter().cloned().collect(),
        };
    };
    if same_arc(base, next) {
        return RingPart::Same;
    }
    let dropped = (0..base.len())
        .find(|&d| {
            let kept = base.len() - d;
            kept <= next.len() && base.range(d..).eq(next.range(..kept))
        })
        .unwrap_or(base.len());
    let kept = base.len() - dropped;
    RingPart::Appended {
        dropped,
        appended: next.range(kept..).cloned().collect(),
    }
}

/// The new value, or the base's (a default without a base).
fn taken<T: Default>(part: Part<T>, base: Option<T>) -> T {
    match part {
        Part::New(value) => value,
        Part::Same => base.unwrap_or_default(),
    }
}

fn apply_ring<T: Clone>(
    base: Option<&Arc<VecDeque<T>>>,
    part: RingPart<T>,
) -> Result<Arc<VecDeque<T>>, DeltaError> {
    match (part, base) {
        (RingPart::Same, Some(base)) => Ok(base.clone()),
        (RingPart::Same, None) => Ok(Arc::default()),
        (RingPart::Appended { dropped, appended }, base) => {
            let mut ring: VecDeque<T> = base.map(|b| (**b).clone()).unwrap_or_default();
            if dropped > ring.len() {
                return Err(DeltaError::Ring {
                    dropped,
                    len: ring.len(),
                });
            }
            ring.drain(..dropped);
            ring.extend(appended);
            Ok(Arc::new(ring))
        }
    }
}

impl SnapshotDelta {
    /// What changed from `base` (`None`: from nothing) to `next`.
    pub fn between(base: Option<&Snapshot>, next: &Snapshot) -> SnapshotDelta {
        // Sets are found by identity first (the engine shares unchanged sets), then by
        // name and value.
        let by_pointer: HashMap<*const SetStatus, usize> = base
            .map(|b| {
                b.sets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Arc::as_ptr(s), i))
                    .collect()
            })
            .unwrap_or_default();
        let sets = next
            .sets
            .iter()
            .map(|set| {
                if let Some(&i) = by_pointer.get(&Arc::as_ptr(set)) {
                    return SetPart::Kept(i);
                }
                let equal = base.and_then(|b| {
                    b.sets
                        .iter()
                        .position(|old| old.name == set.name && old == set)
                });
                match equal {
                    Some(i) => SetPart::Kept(i),
                    None => SetPart::New(set.clone()),
                }
            })
            .collect();
        SnapshotDelta {
            version: WIRE_VERSION,
            since: base.map(|b| b.generation),
            generation: next.generation,
            settings: part(base.map(|b| &b.settings), &next.settings, same_arc),
            settings_path: part(
                base.map(|b| &b.settings_path),
                &next.settings_path,
                PartialEq::eq,
            ),
            settings_error: part(
                base.map(|b| &b.settings_error),
                &next.settings_error,
                PartialEq::eq,
            ),
            settings_revision: next.settings_revision,
            all_paused: next.all_paused,
            sets,
            problems: part(base.map(|b| &b.problems), &next.problems, same_arc),
            events: ring(base.map(|b| &b.events), &next.events),
            log: ring(base.map(|b| &b.log), &next.log),
            polls_in_flight: next.polls_in_flight,
            stats: next.stats,
            uptime: part(base.map(|b| &b.uptime), &next.uptime, same_arc),
            outbox: next.outbox,
            cluster: part(base.map(|b| &b.cluster), &next.cluster, PartialEq::eq),
            shared_settings: next.shared_settings.clone(),
        }
    }

    /// The snapshot this delta leads to from `base`, which must be the snapshot of
    /// generation `since` (`None` for a delta that carries everything). Unchanged parts
    /// are shared with `base`.
    pub fn apply(self, base: Option<&Snapshot>) -> Result<Snapshot, DeltaError> {
        if self.version != WIRE_VERSION {
            return Err(DeltaError::Version { got: self.version });
        }
        let have = base.map(|b| b.generation);
        if self.since.is_some() && self.since != have {
            return Err(DeltaError::Generation {
                since: self.since,
                have,
            });
        }
        // A delta without a base takes nothing from the snapshot here.
        let base = if self.since.is_none() { None } else { base };
        let sets = self
            .sets
            .into_iter()
            .map(|set| match set {
                SetPart::New(set) => Ok(set),
                SetPart::Kept(i) => base
                    .and_then(|b| b.sets.get(i).cloned())
                    .ok_or(DeltaError::NoSuchSet(i)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot {
            generation: self.generation,
            settings: taken(self.settings, base.map(|b| b.settings.clone())),
            settings_path: taken(self.settings_path, base.map(|b| b.settings_path.clone())),
            settings_error: taken(self.settings_error, base.map(|b| b.settings_error.clone())),
            settings_revision: self.settings_revision,
            all_paused: self.all_paused,
            sets,
            problems: taken(self.problems, base.map(|b| b.problems.clone())),
            events: apply_ring(base.map(|b| &b.events), self.events)?,
            log: apply_ring(base.map(|b| &b.log), self.log)?,
            polls_in_flight: self.polls_in_flight,
            stats: self.stats,
            uptime: taken(self.uptime, base.map(|b| b.uptime.clone())),
            outbox: self.outbox,
            cluster: taken(self.cluster, base.map(|b| b.cluster.clone())),
            shared_settings: self.shared_settings,
        })
    }
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
