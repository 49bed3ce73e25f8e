//! Faults: a timed schedule written in the scenario, and a random nemesis
//! that draws targets and timings from its own random stream.

use crate::NodeId;
use crate::dist::Dist;
use crate::net::NodeSet;
use crate::time::SimTime;

/// One change to the world.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Split the nodes into groups; unlisted nodes form one more group.
    Partition(Vec<Vec<NodeId>>),
    /// Block messages from `from` to `to` only.
    Cut {
        from: NodeSet,
        to: NodeSet,
    },
    /// Remove all partitions and cuts.
    Heal,
    /// Stop a node: volatile state and unsynced writes are lost.
    Crash(NodeId),
    /// Start a crashed node again from its synced disk.
    Restart(NodeId),
    /// Freeze a node: its events wait until it resumes (a long GC pause).
    Pause(NodeId),
    Resume(NodeId),
    SetLoss(f64),
    SetDuplicate(f64),
    SetLatency(Dist),
}

/// An action at a fixed time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedFault {
    pub at: SimTime,
    pub action: FaultAction,
}

/// What a random nemesis does each time it strikes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NemesisKind {
    /// Split the targets into a random majority and minority.
    Partition,
    /// Cut one random target off from every other node.
    Isolate,
    /// Crash one random target; restart it when the fault ends.
    Crash,
    /// Pause one random target; resume it when the fault ends.
    Pause,
}

impl NemesisKind {
    pub fn name(self) -> &'static str {
        match self {
            NemesisKind::Partition => "partition",
            NemesisKind::Isolate => "isolate",
            NemesisKind::Crash => "crash",
            NemesisKind::Pause => "pause",
        }
    }
}

/// A recurring random fault: every `interval_ms` (drawn anew each time) it
/// strikes, and the fault lasts `duration_ms` (also drawn).
#[derive(Clone, Debug, PartialEq)]
pub struct Nemesis {
    pub kind: NemesisKind,
    pub targets: Vec<NodeId>,
    pub interval_ms: Dist,
    pub duration_ms: Dist,
    pub start: SimTime,
    pub stop: SimTime,
}

/// All faults of a scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    pub schedule: Vec<TimedFault>,
    pub nemeses: Vec<Nemesis>,
    /// At the workload's stop time, heal partitions, restart crashed nodes
    /// and resume paused ones, so the run can quiesce.
    pub final_heal: bool,
}

/// Where an injected fault came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultSource {
    Schedule,
    Nemesis,
    FinalHeal,
}

/// A fault as injected, for the trace and the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FaultRecord {
    pub at: SimTime,
    pub source: FaultSource,
    /// `partition`, `cut`, `heal`, `crash`, `restart`, `pause`, `resume`,
    /// `set-loss`, `set-duplicate`, `set-latency`.
    pub kind: &'static str,
    pub nodes: Vec<NodeId>,
    /// Human-readable detail with node names.
    pub detail: String,
}
