//! Hinted handoff: a stand-in that accepted writes for an unreachable home
//! replica periodically offers them to it, and drops each hint once the
//! home replica acknowledged exactly what the hint holds.

use super::Node;
use super::msg::{Entry, Msg};
use super::server::Server;
use super::version::digest;
use sim_core::{Ctx, Key, NodeId, ms};
use std::collections::BTreeMap;

/// At most this many keys per handoff message, so one message never
/// carries a stand-in's whole backlog.
const MAX_HANDOFF_KEYS: usize = 64;

impl Server {
    /// Offers hinted copies to every home replica they are for, one
    /// message per replica, unless the previous offer is still awaiting its
    /// acknowledgement. An unreachable replica simply drops the offer; the
    /// next tick tries again.
    pub(super) fn hand_off(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        self.handoff_inflight.retain(|_, until| *until > now);
        let mut batches: BTreeMap<NodeId, Vec<Entry>> = BTreeMap::new();
        for ((intended, key), versions) in &self.hints {
            if self.handoff_inflight.contains_key(intended) {
                continue;
            }
            let batch = batches.entry(*intended).or_default();
            if batch.len() < MAX_HANDOFF_KEYS {
                batch.push((*key, versions.clone()));
            }
        }
        for (intended, entries) in batches {
            self.handoff_inflight.insert(intended, now.after(ms(self.params.replica_timeout_ms)));
            self.send(ctx, intended, Msg::Handoff { entries });
        }
    }

    /// A home replica stores the handed-off versions and says what it
    /// stored.
    pub(super) fn on_handoff(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, entries: Vec<Entry>) {
        let mut acks = Vec::with_capacity(entries.len());
        for (key, versions) in entries {
            self.store(ctx, key, &versions, None);
            acks.push((key, digest(&versions)));
        }
        self.send(ctx, from, Msg::HandoffAck { entries: acks });
    }

    /// Drops the hints the home replica stored, unless they grew since the
    /// offer (then the next tick offers the rest).
    pub(super) fn on_handoff_ack(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, entries: Vec<(Key, u64)>) {
        self.handoff_inflight.remove(&from);
        for (key, stored) in entries {
            if self.hints.get(&(from, key)).is_some_and(|vs| digest(vs) == stored) {
                self.remove_hint(ctx, from, key);
            }
        }
    }
}
