//! How a put spreads among a key's replicas, shared by the two writers: the
//! directory (recursive query) and the client (iterative query).

use super::Node;
use super::msg::Msg;
use super::params::Replication;
use sim_core::{Ctx, Key, NodeId, Value};
use std::collections::BTreeSet;

/// Sends one put to `targets`: to each of them (fan-out), or to the first
/// one with the rest of the chain attached (chain). `ack_head` makes the
/// first link of a chain ack as well, for writers that answer on the first
/// stored copy; in fan-out every replica acks anyway.
#[allow(clippy::too_many_arguments)]
pub fn send_put(
    ctx: &mut Ctx<'_, Node>,
    replication: Replication,
    op: u64,
    key: Key,
    value: Value,
    version: Option<u64>,
    targets: &[NodeId],
    ack_head: bool,
) {
    assert!(!targets.is_empty(), "put of key {key} sent to no replica");
    let writer = ctx.me();
    match replication {
        Replication::Iterative => {
            for &t in targets {
                ctx.send(t, Msg::StorePut { op, key, value, version, rest: Vec::new(), writer, ack_head: false });
            }
        }
        Replication::Recursive => {
            let rest = targets[1..].to_vec();
            ctx.send(targets[0], Msg::StorePut { op, key, value, version, rest, writer, ack_head });
        }
    }
}

/// How far one put has spread, as its writer knows from the acks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WriteProgress {
    /// The replicas the put must reach, in chain order.
    targets: Vec<NodeId>,
    /// The targets known to hold it.
    stored: BTreeSet<NodeId>,
}

impl WriteProgress {
    pub fn new(targets: Vec<NodeId>) -> WriteProgress {
        assert!(!targets.is_empty(), "a put needs at least one replica");
        assert_eq!(targets.iter().collect::<BTreeSet<_>>().len(), targets.len(), "duplicate replica in {targets:?}");
        WriteProgress { targets, stored: BTreeSet::new() }
    }

    /// Notes an ack from `from`. In a chain, a link only acks after every
    /// link before it stored the put, so the ack covers them too. That also
    /// holds for a chain re-sent after a death: it lists the unstored
    /// targets in the same order, and the stored ones are already counted.
    pub fn ack(&mut self, from: NodeId, replication: Replication) {
        let Some(pos) = self.targets.iter().position(|t| *t == from) else {
            // A replica removed after its death: its ack says nothing about
            // the replicas that still count.
            return;
        };
        match replication {
            Replication::Iterative => {
                self.stored.insert(from);
            }
            Replication::Recursive => self.stored.extend(self.targets[..=pos].iter().copied()),
        }
    }

    /// Stops waiting for a dead replica; returns whether it was a target.
    pub fn remove(&mut self, node: NodeId) -> bool {
        let before = self.targets.len();
        self.targets.retain(|t| *t != node);
        self.stored.remove(&node);
        self.targets.len() != before
    }

    pub fn any_stored(&self) -> bool {
        !self.stored.is_empty()
    }

    /// Every remaining target holds the put (and at least one remains).
    pub fn complete(&self) -> bool {
        !self.targets.is_empty() && self.targets.iter().all(|t| self.stored.contains(t))
    }

    /// No target is left: every replica died before the put completed.
    pub fn orphaned(&self) -> bool {
        self.targets.is_empty()
    }

    /// The targets not yet known to hold the put, in chain order.
    pub fn unstored(&self) -> Vec<NodeId> {
        self.targets.iter().copied().filter(|t| !self.stored.contains(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);
    const C: NodeId = NodeId(3);

    #[test]
    fn chain_ack_covers_earlier_links() {
        let mut w = WriteProgress::new(vec![A, B, C]);
        w.ack(B, Replication::Recursive);
        assert_eq!(w.unstored(), [C]);
        w.ack(C, Replication::Recursive);
        assert!(w.complete());
    }

    #[test]
    fn fan_out_ack_covers_only_its_sender() {
        let mut w = WriteProgress::new(vec![A, B, C]);
        w.ack(C, Replication::Iterative);
        assert_eq!(w.unstored(), [A, B]);
        assert!(w.any_stored() && !w.complete());
    }

    #[test]
    fn removing_the_last_unstored_target_completes_and_removing_all_orphans() {
        let mut w = WriteProgress::new(vec![A, B]);
        w.ack(A, Replication::Iterative);
        assert!(w.remove(B));
        assert!(w.complete());
        w.ack(B, Replication::Iterative);
        assert!(!w.remove(B), "an ack from a removed replica does not bring it back");
        assert!(w.remove(A) && w.orphaned() && !w.complete());
    }
}
