//! The quorum decision of cluster mode (issue 13 item 4), pure: the views that the live
//! instances published of one server, the cluster's quorum rule and what the decision took
//! the server for until now, in; what the decision takes it for now, and the problem this
//! instance must raise on itself when it alone cannot reach the server, out.
//!
//! A server is *failed* for the decision only when the quorum of the live instances that
//! poll it sees it failed, and it recovers the same way: between the two it stays as it
//! was, so that one instance's flapping path never moves DNS. An instance that sees the
//! server failed while the quorum does not raises "cannot reach X; 2 of 3 instances can"
//! instead.

use crate::engine::server_state::{ServerStatus, Transition};
use crate::model::Quorum;

/// What one instance sees of a server, from its published view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Seen {
    /// Functional (OK, or failing with retries left).
    Up,
    /// Failed after its retries.
    Down,
    /// No view: not polled yet, disabled, skipped (sequential mode) — it does not vote.
    Unknown,
}

impl From<ServerStatus> for Seen {
    fn from(status: ServerStatus) -> Self {
        match status {
            ServerStatus::Ok | ServerStatus::Retrying => Seen::Up,
            ServerStatus::Failed => Seen::Down,
            ServerStatus::NotTested | ServerStatus::Disabled | ServerStatus::Skipped => {
                Seen::Unknown
            }
        }
    }
}

/// One live instance's view of the server (an instance whose lease expired has none).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceView {
    pub instance: String,
    pub seen: Seen,
}

/// What the decision takes the server for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    /// No quorum has spoken yet (a fresh start): the decision waits, DNS does not move.
    #[default]
    Undecided,
    Up,
    Down,
}

/// The quorum's answer for one server.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuorumOutcome {
    pub verdict: Verdict,
    /// The instances that see it failed, by name (sorted), for "failed at 2 of 3: berlin,
    /// paris".
    pub down_at: Vec<String>,
    /// The instances that vote (they see it up or down).
    pub voting: usize,
    /// How many votes a change needs now (more than `voting`: none can be decided).
    pub needed: usize,
    /// This instance sees the server failed but the quorum does not: the text of the
    /// problem it raises on itself instead of moving DNS.
    pub own_problem: Option<String>,
}

impl QuorumOutcome {
    /// The cluster view of the server as a row shows it: "failed at 2 of 3: berlin, paris",
    /// "OK at 3 of 3".
    pub fn describe(&self) -> String {
        if self.down_at.is_empty() {
            format!("OK at {0} of {0}", self.voting)
        } else {
            format!(
                "failed at {} of {}: {}",
                self.down_at.len(),
                self.voting,
                self.down_at.join(", ")
            )
        }
    }
}

/// Decides one server. `me` is this instance's name; `server` names the server in the
/// problem text; `previous` is the verdict until now.
pub fn decide(
    rule: Quorum,
    previous: Verdict,
    views: &[InstanceView],
    me: &str,
    server: &str,
) -> QuorumOutcome {
    let mut down_at: Vec<String> = views
        .iter()
        .filter(|v| v.seen == Seen::Down)
        .map(|v| v.instance.clone())
        .collect();
    down_at.sort();
    down_at.dedup();
    let up = views.iter().filter(|v| v.seen == Seen::Up).count();
    let down = down_at.len();
    let voting = up + down;
    let needed = rule.needed(voting);
    let verdict = match previous {
        _ if voting == 0 => previous,
        Verdict::Up if down >= needed => Verdict::Down,
        Verdict::Down if up >= needed => Verdict::Up,
        Verdict::Undecided if down >= needed => Verdict::Down,
        Verdict::Undecided if up >= needed => Verdict::Up,
        other => other,
    };
    let mine = views
        .iter()
        .find(|v| v.instance == me)
        .map_or(Seen::Unknown, |v| v.seen);
    let own_problem = (mine == Seen::Down && verdict != Verdict::Down && up > 0)
        .then(|| format!("cannot reach {server}; {up} of {voting} instances can"));
    QuorumOutcome {
        verdict,
        down_at,
        voting,
        needed,
        own_problem,
    }
}

/// What a change of the verdict tells, and is notified (issue 13: notifications follow
/// the quorum, not one instance's view): failed when it turns down, recovered when it
/// turns up from down. A first verdict of up is no news (like a first poll that works).
pub fn transition(previous: Verdict, next: Verdict) -> Option<Transition> {
    match (previous, next) {
        (Verdict::Up | Verdict::Undecided, Verdict::Down) => Some(Transition::Failed),
        (Verdict::Down, Verdict::Up) => Some(Transition::Recovered),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_that_turns_is_a_transition_and_a_first_up_is_none() {
        use Verdict::*;
        let table = [
            (Undecided, Undecided, None),
            (Undecided, Up, None),
            (Undecided, Down, Some(Transition::Failed)),
            (Up, Up, None),
            (Up, Down, Some(Transition::Failed)),
            (Down, Down, None),
            (Down, Up, Some(Transition::Recovered)),
            // Settings changed under it: no news either way.
            (Up, Undecided, None),
            (Down, Undecided, None),
        ];
        for (previous, next, want) in table {
            assert_eq!(transition(previous, next), want, "{previous:?} -> {next:?}");
        }
    }

    /// `"bpl"`: berlin, paris, london; `U` up, `D` down, `-` unknown, ` ` not live.
    fn views(pattern: &str) -> Vec<InstanceView> {
        let names = ["berlin", "paris", "london", "tokyo", "lima"];
        pattern
            .chars()
            .zip(names)
            .filter_map(|(c, name)| {
                let seen = match c {
                    'U' => Seen::Up,
                    'D' => Seen::Down,
                    '-' => Seen::Unknown,
                    _ => return None,
                };
                Some(InstanceView {
                    instance: name.into(),
                    seen,
                })
            })
            .collect()
    }

    use Verdict::{Down, Undecided, Up};

    /// (rule, verdict before, views of berlin paris london..., verdict after, berlin's
    /// problem). berlin is this instance.
    #[test]
    fn scenarios() {
        let table: &[(Quorum, Verdict, &str, Verdict, Option<&str>)] = &[
            // Three instances, majority: one that cannot reach the server moves nothing.
            (
                Quorum::Majority,
                Up,
                "DUU",
                Up,
                Some("cannot reach web-a; 2 of 3 instances can"),
            ),
            // Two of three see it failed: it is failed.
            (Quorum::Majority, Up, "DDU", Down, None),
            (Quorum::Majority, Up, "UDD", Down, None),
            // Someone else alone: no problem on berlin, nothing moves.
            (Quorum::Majority, Up, "UDU", Up, None),
            // Recovery needs the quorum too: one instance seeing it up again is not enough.
            (Quorum::Majority, Down, "UDD", Down, None),
            (Quorum::Majority, Down, "UUD", Up, None),
            // berlin still cannot reach it after the others saw it recover.
            (
                Quorum::Majority,
                Down,
                "DUU",
                Up,
                Some("cannot reach web-a; 2 of 3 instances can"),
            ),
            // A dead instance (lease expired) does not vote: one of two live is no majority.
            (
                Quorum::Majority,
                Up,
                "D U",
                Up,
                Some("cannot reach web-a; 1 of 2 instances can"),
            ),
            (Quorum::Majority, Up, "DD ", Down, None),
            // Not polled yet (or skipped, disabled) does not vote either.
            (
                Quorum::Majority,
                Up,
                "D-U",
                Up,
                Some("cannot reach web-a; 1 of 2 instances can"),
            ),
            // A lone live instance is its own majority.
            (Quorum::Majority, Up, "D  ", Down, None),
            // Everyone failed: it is failed, and no one is alone.
            (Quorum::Majority, Up, "DDD", Down, None),
            // A fresh start waits until a quorum has spoken.
            (Quorum::Majority, Undecided, "---", Undecided, None),
            (Quorum::Majority, Undecided, "U--", Up, None),
            (
                Quorum::Majority,
                Undecided,
                "DU-",
                Undecided,
                Some("cannot reach web-a; 1 of 2 instances can"),
            ),
            (Quorum::Majority, Undecided, "DDU", Down, None),
            // No live instance at all: the verdict stays.
            (Quorum::Majority, Down, "   ", Down, None),
            // All: every live instance must agree, both ways.
            (
                Quorum::All,
                Up,
                "DDU",
                Up,
                Some("cannot reach web-a; 1 of 3 instances can"),
            ),
            (Quorum::All, Up, "DDD", Down, None),
            (Quorum::All, Down, "UUD", Down, None),
            (Quorum::All, Down, "UUU", Up, None),
            // At least 2: fewer live than that decides nothing.
            (Quorum::AtLeast(2), Up, "D  ", Up, None),
            (Quorum::AtLeast(2), Up, "DDU", Down, None),
            (
                Quorum::AtLeast(2),
                Up,
                "DUUUU",
                Up,
                Some("cannot reach web-a; 4 of 5 instances can"),
            ),
            (Quorum::AtLeast(2), Up, "DDUUU", Down, None),
            // Five instances, majority: three are needed.
            (
                Quorum::Majority,
                Up,
                "DDUUU",
                Up,
                Some("cannot reach web-a; 3 of 5 instances can"),
            ),
            (Quorum::Majority, Up, "DDDUU", Down, None),
        ];
        for (i, (rule, before, pattern, after, problem)) in table.iter().enumerate() {
            let out = decide(*rule, *before, &views(pattern), "berlin", "web-a");
            assert_eq!(
                out.verdict, *after,
                "row {i}: {rule:?} {before:?} {pattern:?}"
            );
            assert_eq!(
                out.own_problem.as_deref(),
                *problem,
                "row {i}: {rule:?} {before:?} {pattern:?}"
            );
        }
    }

    #[test]
    fn the_cluster_view_names_who_sees_it_failed() {
        let out = decide(Quorum::Majority, Up, &views("UDD"), "berlin", "web-a");
        assert_eq!(out.describe(), "failed at 2 of 3: london, paris");
        assert_eq!((out.voting, out.needed), (3, 2));
        let out = decide(Quorum::Majority, Up, &views("UUU"), "berlin", "web-a");
        assert_eq!(out.describe(), "OK at 3 of 3");
    }

    #[test]
    fn statuses_vote_as_their_functional_meaning() {
        assert_eq!(Seen::from(ServerStatus::Retrying), Seen::Up);
        assert_eq!(Seen::from(ServerStatus::Failed), Seen::Down);
        assert_eq!(Seen::from(ServerStatus::Skipped), Seen::Unknown);
        assert_eq!(Seen::from(ServerStatus::NotTested), Seen::Unknown);
    }
}
