//! A node's durable storage, modelled as an append-only log of records.
//!
//! `write` appends a record to the page cache: it is readable at once but
//! volatile. `sync` makes everything written so far durable
//! (`write_and_sync` does both for one record). A crash keeps only the
//! synced prefix, the way a machine that loses power keeps only what
//! reached the platter; a restarted actor rebuilds its state from
//! `synced()`. `replace` models compaction (write a new file, fsync,
//! rename): the new contents become durable at the next sync, and until
//! then a crash leaves the old durable log in place.

/// Durable storage of one node, holding records of type `R`.
#[derive(Clone, Debug)]
pub struct Disk<R> {
    synced: Vec<R>,
    unsynced: Vec<R>,
    /// A pending compaction: contents that replace `synced` at the next sync.
    replacement: Option<Vec<R>>,
    writes: u64,
    syncs: u64,
    lost_on_crash: u64,
}

impl<R> Default for Disk<R> {
    fn default() -> Self {
        Disk { synced: Vec::new(), unsynced: Vec::new(), replacement: None, writes: 0, syncs: 0, lost_on_crash: 0 }
    }
}

impl<R: Clone> Disk<R> {
    /// Appends a record; volatile until the next `sync`.
    pub fn write(&mut self, record: R) {
        self.writes += 1;
        self.unsynced.push(record);
    }

    /// Makes all writes so far durable.
    pub fn sync(&mut self) {
        self.syncs += 1;
        if let Some(new) = self.replacement.take() {
            self.install(new);
        }
        if !self.unsynced.is_empty() {
            self.synced.append(&mut self.unsynced);
        }
    }

    /// `write(record)` then `sync()`, the way a node makes one record
    /// durable before it acknowledges anything: the same log and the same
    /// counters, but the record goes straight to the durable log instead
    /// of through the page cache's buffer (the common case, one record per
    /// sync, otherwise pays a move in and a copy out).
    #[inline]
    pub fn write_and_sync(&mut self, record: R) {
        self.writes += 1;
        self.syncs += 1;
        if self.replacement.is_some() || !self.unsynced.is_empty() {
            self.sync_slow();
        }
        self.synced.push(record);
    }

    /// What `write_and_sync` does before its push when a compaction or
    /// earlier writes are pending (the sync without its count).
    #[cold]
    #[inline(never)]
    fn sync_slow(&mut self) {
        if let Some(new) = self.replacement.take() {
            self.install(new);
        }
        self.synced.append(&mut self.unsynced);
    }

    /// Makes a compaction's contents the durable log. The log grows back
    /// to about its old length before the next compaction, so the larger
    /// of the two buffers is kept: regrowing the compacted one by doubling
    /// would copy the log over again.
    fn install(&mut self, mut new: Vec<R>) {
        if new.capacity() < self.synced.capacity() {
            self.synced.clear();
            self.synced.append(&mut new);
        } else {
            self.synced = new;
        }
    }

    /// Replaces the whole log (compaction); durable at the next `sync`.
    pub fn replace(&mut self, records: Vec<R>) {
        self.writes += 1;
        self.unsynced.clear();
        self.replacement = Some(records);
    }

    /// What a live node reads back: the durable log plus unsynced writes.
    pub fn read(&self) -> impl Iterator<Item = &R> {
        let base: &[R] = self.replacement.as_deref().unwrap_or(&self.synced);
        base.iter().chain(self.unsynced.iter())
    }

    /// What survives a crash.
    pub fn synced(&self) -> &[R] {
        &self.synced
    }

    /// Loses everything not synced (the engine calls this on a crash).
    pub fn crash(&mut self) {
        self.lost_on_crash += self.unsynced.len() as u64 + u64::from(self.replacement.is_some());
        self.unsynced.clear();
        self.replacement = None;
    }

    pub fn stats(&self) -> DiskStats {
        DiskStats {
            writes: self.writes,
            syncs: self.syncs,
            records: self.synced.len() as u64,
            lost_on_crash: self.lost_on_crash,
        }
    }
}

/// Counters for the per-node report.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiskStats {
    pub writes: u64,
    pub syncs: u64,
    pub records: u64,
    pub lost_on_crash: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_loses_unsynced_writes_only() {
        let mut d = Disk::default();
        d.write(1);
        d.write(2);
        d.sync();
        d.write(3);
        assert_eq!(d.read().copied().collect::<Vec<_>>(), [1, 2, 3]);
        d.crash();
        assert_eq!(d.synced(), [1, 2]);
        assert_eq!(d.read().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(d.stats().lost_on_crash, 1);
    }

    #[test]
    fn write_and_sync_is_a_write_then_a_sync() {
        let mut a = Disk::default();
        let mut b = Disk::default();
        for d in [&mut a, &mut b] {
            d.write(1);
            d.sync();
            d.write(2);
        }
        a.write(3);
        a.sync();
        b.write_and_sync(3);
        assert_eq!(a.synced(), b.synced());
        assert_eq!(a.stats(), b.stats());
        for d in [&mut a, &mut b] {
            d.replace(vec![9]);
        }
        a.write(4);
        a.sync();
        b.write_and_sync(4);
        assert_eq!(b.synced(), [9, 4]);
        assert_eq!(a.synced(), b.synced());
        assert_eq!(a.stats(), b.stats());
        b.write_and_sync(5);
        assert_eq!(b.synced(), [9, 4, 5]);
    }

    #[test]
    fn compaction_is_atomic_across_a_crash() {
        let mut d = Disk::default();
        d.write("a");
        d.write("b");
        d.sync();
        d.replace(vec!["ab"]);
        assert_eq!(d.read().copied().collect::<Vec<_>>(), ["ab"]);
        d.crash();
        assert_eq!(d.synced(), ["a", "b"], "old log survives an unsynced compaction");
        d.replace(vec!["ab"]);
        d.write("c");
        d.sync();
        assert_eq!(d.synced(), ["ab", "c"]);
    }
}
