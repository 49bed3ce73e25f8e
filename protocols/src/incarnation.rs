//! Incarnation numbering, shared by every protocol whose nodes restart.
//!
//! A node counts its boots on its own disk (a durable boot record, synced
//! before it acts) and starts its request or operation ids at
//! `first_id(boot)`. Ids of different lives never meet, so a reply meant for
//! a request of a previous life is never taken for an answer to a new one.

/// The first id of incarnation `boot`: each life has 2^40 ids to itself.
pub fn first_id(boot: u64) -> u64 {
    assert!(boot > 0 && boot < 1 << 23, "boot number {boot} out of range");
    boot << 40
}

/// The next boot number, given the boot numbers recorded on disk.
pub fn next_boot(recorded: impl IntoIterator<Item = u64>) -> u64 {
    recorded.into_iter().max().unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lives_get_disjoint_id_ranges() {
        assert_eq!(next_boot([]), 1);
        assert_eq!(next_boot([1, 3, 2]), 4);
        assert!(first_id(1) + (1 << 40) - 1 < first_id(2));
    }
}
