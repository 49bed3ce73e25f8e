//! Anti-entropy with Merkle trees (Dynamo §4.7).
//!
//! Every key range (the arc of the ring ending at one token) has a Merkle
//! tree per replica: a complete binary tree whose `merkle_leaves` leaves
//! slice the range's arc into equal parts. A leaf's hash folds the digests
//! of the keys in its slice, in key order; an inner node's hash folds its
//! two children's. Two replicas whose trees have equal roots hold the same
//! versions of every key in the range, so comparing a range costs one hash
//! when nothing differs.
//!
//! A round: a server picks a random peer that shares ranges with it and
//! sends the roots of all shared ranges (`AeTree`). Whoever receives
//! hashes compares them with its own; for every inner node that differs it
//! sends back its hashes of the node's two children, so the two sides walk
//! down the differing paths together, one level per message. Where a leaf
//! differs, the side that notices sends the keys it holds in that leaf
//! (`AeSync`); the other merges them and answers with what it holds there
//! that the sender lacked (`AeSyncReply`). Both end with the merge of both.
//! Trees are computed on demand from the stored keys, which is what a real
//! store's incrementally maintained trees would hold at that instant.

use super::Node;
use super::msg::{Entry, Msg};
use super::ring::mix;
use super::server::Server;
use super::version::digest;
use sim_core::{Ctx, NodeId};
use std::collections::{BTreeMap, BTreeSet};

impl Server {
    /// The Merkle trees of `ranges` over this server's home copies, as
    /// heap-ordered arrays: index 1 is the root, node `i` has children `2i`
    /// and `2i + 1`, and the leaves are `L..2L`.
    fn merkle_trees(&self, ranges: &BTreeSet<usize>) -> BTreeMap<usize, Vec<u64>> {
        let leaves = self.params.merkle_leaves as usize;
        let mut trees: BTreeMap<usize, Vec<u64>> = ranges.iter().map(|&r| (r, vec![0; 2 * leaves])).collect();
        for (&key, versions) in &self.data {
            let r = self.ring.range_of(key);
            if let Some(tree) = trees.get_mut(&r) {
                let leaf = leaves + self.ring.leaf_of(key, r, self.params.merkle_leaves) as usize;
                tree[leaf] = mix(tree[leaf], mix(key, digest(versions)));
            }
        }
        for tree in trees.values_mut() {
            for i in (1..leaves).rev() {
                tree[i] = mix(tree[2 * i], tree[2 * i + 1]);
            }
        }
        trees
    }

    /// This server's home copies in the given leaves.
    fn entries_in(&self, leaves: &BTreeSet<(u32, u32)>) -> Vec<Entry> {
        self.data
            .iter()
            .filter(|(key, _)| {
                let r = self.ring.range_of(**key);
                let leaf = self.ring.leaf_of(**key, r, self.params.merkle_leaves);
                leaves.contains(&(r as u32, leaf))
            })
            .map(|(k, vs)| (*k, vs.clone()))
            .collect()
    }

    /// Starts a round with a random peer sharing at least one range.
    pub(super) fn start_anti_entropy(&mut self, ctx: &mut Ctx<'_, Node>) {
        let mine = self.ring.ranges_of(self.me);
        let mut shared: BTreeMap<NodeId, BTreeSet<usize>> = BTreeMap::new();
        for &r in &mine {
            for &peer in self.ring.range_homes(r) {
                if peer != self.me {
                    shared.entry(peer).or_default().insert(r);
                }
            }
        }
        let peers: Vec<NodeId> = shared.keys().copied().collect();
        let Some(&peer) = ctx.rng().pick(&peers) else { return };
        self.counters.anti_entropy_rounds += 1;
        let ranges = &shared[&peer];
        let trees = self.merkle_trees(ranges);
        let nodes = trees.iter().map(|(&r, t)| (r as u32, 1, t[1])).collect();
        self.send(ctx, peer, Msg::AeTree { nodes });
    }

    pub(super) fn on_ae_tree(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, nodes: Vec<(u32, u32, u64)>) {
        let leaves = self.params.merkle_leaves;
        let ranges: BTreeSet<usize> = nodes.iter().map(|(r, _, _)| *r as usize).collect();
        for &r in &ranges {
            let homes = self.ring.range_homes(r);
            assert!(
                homes.contains(&self.me) && homes.contains(&from),
                "anti-entropy of range {r} between non-replicas"
            );
        }
        let trees = self.merkle_trees(&ranges);
        let mut deeper = Vec::new();
        let mut differing = BTreeSet::new();
        for (r, i, hash) in nodes {
            assert!(i >= 1 && i < 2 * leaves, "tree node {i} outside a tree of {leaves} leaves");
            let tree = &trees[&(r as usize)];
            if tree[i as usize] == hash {
                continue;
            }
            if i >= leaves {
                differing.insert((r, i - leaves));
            } else {
                deeper.push((r, 2 * i, tree[2 * i as usize]));
                deeper.push((r, 2 * i + 1, tree[2 * i as usize + 1]));
            }
        }
        if !deeper.is_empty() {
            self.send(ctx, from, Msg::AeTree { nodes: deeper });
        }
        if !differing.is_empty() {
            let entries = self.entries_in(&differing);
            self.send(ctx, from, Msg::AeSync { leaves: differing.into_iter().collect(), entries });
        }
    }

    pub(super) fn on_ae_sync(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        leaves: Vec<(u32, u32)>,
        entries: Vec<Entry>,
    ) {
        let sent: BTreeMap<_, _> = entries.iter().map(|(k, vs)| (*k, vs)).collect();
        for (key, versions) in &entries {
            self.repair(ctx, *key, versions);
        }
        let leaves: BTreeSet<(u32, u32)> = leaves.into_iter().collect();
        let reply: Vec<Entry> = self
            .entries_in(&leaves)
            .into_iter()
            .filter(|(k, vs)| sent.get(k).is_none_or(|theirs| *theirs != vs))
            .collect();
        if !reply.is_empty() {
            self.send(ctx, from, Msg::AeSyncReply { entries: reply });
        }
    }

    pub(super) fn on_ae_sync_reply(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, entries: Vec<Entry>) {
        for (key, versions) in &entries {
            assert!(self.ring.is_home(from, *key), "{from:?} sent key {key}, which it does not replicate");
            self.repair(ctx, *key, versions);
        }
    }

    fn repair(&mut self, ctx: &mut Ctx<'_, Node>, key: sim_core::Key, versions: &super::version::Versions) {
        if self.store(ctx, key, versions, None) {
            self.counters.anti_entropy_keys_repaired += 1;
        }
    }
}
