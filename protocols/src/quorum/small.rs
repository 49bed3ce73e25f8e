//! Small collections for the per-operation state of coordinators.
//!
//! A coordinator keeps a handful of operations in flight, and each one
//! tracks a handful of replicas. Tree maps and sets allocate and free a
//! node per operation for such sizes; these keep their elements in a
//! vector (inline up to a few elements) or a bitset. The map of replies
//! iterates in ascending node order, as the tree it replaces did, since
//! what a get returns and writes back depends on that order.

use sim_core::NodeId;
use smallvec::SmallVec;

/// Operations in flight, by operation id. Ids only grow within an
/// incarnation, so the newest operation is searched first.
///
/// A finished operation's slot is kept, past the live ones, for the next
/// operation to fill in place (`insert_with`): a task is a few hundred
/// bytes, and a task built on the stack and moved into the vector costs a
/// call to `memcpy`, whose wide loads of fields just stored one by one
/// stall on store forwarding.
#[derive(Clone)]
pub struct OpMap<T> {
    /// The live entries first, then spare slots of finished operations.
    entries: Vec<(u64, T)>,
    live: usize,
}

impl<T> Default for OpMap<T> {
    fn default() -> OpMap<T> {
        OpMap { entries: Vec::new(), live: 0 }
    }
}

/// The operations in flight; spare slots are not state.
impl<T: std::fmt::Debug> std::fmt::Debug for OpMap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.entries[..self.live]).finish()
    }
}

impl<T> OpMap<T> {
    fn position(&self, op: u64) -> Option<usize> {
        self.entries[..self.live].iter().rposition(|(o, _)| *o == op)
    }

    pub fn get(&self, op: u64) -> Option<&T> {
        self.position(op).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, op: u64) -> Option<&mut T> {
        self.position(op).map(|i| &mut self.entries[i].1)
    }

    /// Adds `op`, which must not be present.
    pub fn insert(&mut self, op: u64, task: T) {
        assert!(self.position(op).is_none(), "operation {op} is already in flight");
        if self.live < self.entries.len() {
            self.entries[self.live] = (op, task);
        } else {
            self.entries.push((op, task));
        }
        self.live += 1;
    }

    /// Adds `op`, which must not be present, in a spare slot if there is
    /// one: returns the finished task there, for the caller to overwrite
    /// field by field with the new one. With none spare it returns `None`,
    /// and the caller `insert`s the new task instead.
    #[inline]
    pub fn reuse(&mut self, op: u64) -> Option<&mut T> {
        assert!(self.position(op).is_none(), "operation {op} is already in flight");
        let (o, task) = self.entries.get_mut(self.live)?;
        *o = op;
        self.live += 1;
        Some(task)
    }

    pub fn remove(&mut self, op: u64) -> Option<T> {
        // Nothing iterates over the operations, so their order is free:
        // the entry moves to the end of the live ones, then out.
        let i = self.position(op)?;
        self.live -= 1;
        self.entries.swap(i, self.live);
        Some(self.entries.swap_remove(self.live).1)
    }

    /// Removes `op`, if present, keeping its slot as a spare: only the
    /// last live entry moves into its place when it was not the last.
    pub fn discard(&mut self, op: u64) {
        if let Some(i) = self.position(op) {
            self.live -= 1;
            if i != self.live {
                self.entries.swap(i, self.live);
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.live = 0;
    }
}

/// A set of nodes, as a bitset: bit `i % 64` of word `i / 64` for node `i`.
/// The first word is a field of its own, so the 64 lowest nodes (every
/// server of any usual cluster) are a mask and a test, with no length
/// check or resize; nodes above spill into a vector, which allocates only
/// then. Nothing iterates over it, so only membership and the count matter.
#[derive(Clone, Debug, Default)]
pub struct NodeSet {
    low: u64,
    high: Vec<u64>,
    len: usize,
}

impl NodeSet {
    /// Adds `node`; returns whether it was new.
    #[inline]
    pub fn insert(&mut self, node: NodeId) -> bool {
        let (word, bit) = (node.index() / 64, 1u64 << (node.index() % 64));
        let w = if word == 0 {
            &mut self.low
        } else {
            if word > self.high.len() {
                self.high.resize(word, 0);
            }
            &mut self.high[word - 1]
        };
        let new = *w & bit == 0;
        *w |= bit;
        self.len += usize::from(new);
        new
    }

    #[inline]
    pub fn contains(&self, node: &NodeId) -> bool {
        let (word, bit) = (node.index() / 64, 1u64 << (node.index() % 64));
        let w = if word == 0 { self.low } else { self.high.get(word - 1).copied().unwrap_or(0) };
        w & bit != 0
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
}

impl FromIterator<NodeId> for NodeSet {
    fn from_iter<I: IntoIterator<Item = NodeId>>(iter: I) -> NodeSet {
        let mut set = NodeSet::default();
        for n in iter {
            set.insert(n);
        }
        set
    }
}

/// A map from nodes to what they answered, iterated in ascending node
/// order (like a `BTreeMap`). Inline up to three: the replies of one get.
///
/// Nodes and values sit in two arrays rather than one of pairs: a value
/// (a reply's versions) is then copied in the same pieces it was stored
/// in, where a pair built around it first would be read back across the
/// pieces, a stall on store forwarding for every reply.
#[derive(Clone, Debug)]
pub struct NodeMap<V> {
    nodes: SmallVec<[NodeId; 3]>,
    values: SmallVec<[V; 3]>,
}

impl<V> Default for NodeMap<V> {
    fn default() -> NodeMap<V> {
        NodeMap { nodes: SmallVec::new(), values: SmallVec::new() }
    }
}

impl<V> NodeMap<V> {
    /// Sets `node`'s entry, replacing any earlier one.
    pub fn insert(&mut self, node: NodeId, value: V) {
        if let Some(i) = self.nodes.iter().position(|n| *n == node) {
            self.values[i] = value;
            return;
        }
        // Pushed and moved down into place: for a handful of entries this
        // beats a search and a shifting insert.
        self.nodes.push(node);
        self.values.push(value);
        let mut i = self.nodes.len() - 1;
        while i > 0 && self.nodes[i - 1] > node {
            self.nodes.swap(i - 1, i);
            self.values.swap(i - 1, i);
            i -= 1;
        }
    }

    pub fn get(&self, node: &NodeId) -> Option<&V> {
        self.nodes.iter().position(|n| n == node).map(|i| &self.values[i])
    }

    pub fn contains_key(&self, node: &NodeId) -> bool {
        self.nodes.contains(node)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn clear(&mut self) {
        self.nodes.clear();
        self.values.clear();
    }

    /// Entries in ascending node order.
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &V)> {
        self.nodes.iter().zip(&self.values)
    }

    /// Values in ascending node order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.values.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_count_and_maps_iterate_in_ascending_order() {
        let mut set: NodeSet = [NodeId(3), NodeId(1), NodeId(2), NodeId(1)].into_iter().collect();
        assert_eq!(set.len(), 3);
        assert!(set.insert(NodeId(200)) && !set.insert(NodeId(200)) && set.contains(&NodeId(200)));
        assert!(set.contains(&NodeId(1)) && !set.contains(&NodeId(0)) && !set.contains(&NodeId(64)));
        assert_eq!(set.len(), 4);
        let mut map = NodeMap::default();
        for (n, v) in [(5, 'a'), (1, 'b'), (3, 'c'), (1, 'd')] {
            map.insert(NodeId(n), v);
        }
        assert_eq!(map.iter().map(|(n, v)| (n.0, *v)).collect::<Vec<_>>(), [(1, 'd'), (3, 'c'), (5, 'a')]);
        let mut ops = OpMap::default();
        ops.insert(7, 'x');
        ops.insert(9, 'y');
        assert_eq!(ops.remove(7), Some('x'));
        assert_eq!(ops.get(9), Some(&'y'));
        assert_eq!(ops.remove(7), None);
        ops.discard(9);
        assert_eq!(ops.get(9), None);
        *ops.reuse(11).expect("a spare slot") = 'z';
        assert_eq!(ops.reuse(12), None, "no spare slot is left");
        ops.insert(12, 'w');
        assert_eq!((ops.get(11), ops.get(12), ops.get(9)), (Some(&'z'), Some(&'w'), None));
        ops.discard(11);
        assert_eq!(ops.remove(12), Some('w'));
        ops.insert(13, 'v');
        assert_eq!((ops.get(13), ops.get(11), ops.get(12)), (Some(&'v'), None, None));
    }
}
