//! The write set of one operation, and how it reaches the store.
//!
//! An operation's writes are of two kinds:
//! - **before-writes**, each true whether or not the operation commits: a
//!   ledger page holding only events an earlier head already committed (any
//!   writer that writes it writes the same bytes), an idempotency record of a
//!   key an earlier head committed, an index record (a hint that lookups
//!   verify against the head it names). They may land in any order, or some
//!   without the rest.
//! - **commit records**, each with the version it was read at: the accounts
//!   an operation touched, then the scope head. The head is the commit: its
//!   write lands after (or atomically with) everything it names.
//!
//! With compare-and-set, a commit record is written only if its version is
//! still the one read; a stale read or a concurrent writer becomes a
//! `Conflict`, and the caller re-reads and retries. Without it, the host
//! must run one writer per scope (a Durable Object), as the README says.

use super::error::{LedgerError, LedgerResult};
use super::limits::BATCH_ENTRIES_MAX;
use super::store::Store;
use crate::prelude::*;

/// A record written with compare-and-set when the store offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    pub key: String,
    pub value: String,
    /// The version the operation read (0: the key did not exist).
    pub expected_version: u64,
}

#[derive(Debug, Default)]
pub struct WriteSet {
    pub before: Vec<(String, String)>,
    /// Accounts first, the scope head last.
    pub commits: Vec<CommitRecord>,
}

/// How a write set ended, short of a store error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Written,
    /// The commit record at `key` had moved on since it was read: nothing
    /// after it was written, and the operation must be read and run again.
    Conflict {
        key: String,
    },
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.before.is_empty() && self.commits.is_empty()
    }

    /// Writes the set: before-writes first (in batches of at most
    /// `BATCH_ENTRIES_MAX` where the store takes batches), then the commit
    /// records in order — with compare-and-set where offered, otherwise in
    /// the same atomic batch as the last before-writes.
    pub async fn apply<S: Store>(self, store: &S) -> LedgerResult<Applied> {
        let capabilities = store.capabilities();
        let WriteSet { mut before, commits } = self;
        assert!(!commits.is_empty(), "every write set ends with the scope head");
        if capabilities.compare_and_set {
            write_all(store, before, capabilities.batch).await?;
            for record in commits {
                let CommitRecord { key, value, expected_version } = record;
                let written = store
                    .put_if_version(&key, value, expected_version)
                    .await
                    .map_err(|reason| Box::new(LedgerError::StoreError { key: key.clone(), reason }))?;
                if !written {
                    return Ok(Applied::Conflict { key });
                }
            }
            return Ok(Applied::Written);
        }
        // No compare-and-set: the commit records are plain writes, last.
        let head_key = commits.last().map(|c| c.key.clone()).unwrap_or_else(|| unreachable!("checked above"));
        if !capabilities.batch {
            before.extend(commits.into_iter().map(|c| (c.key, c.value)));
            write_all(store, before, false).await?;
            return Ok(Applied::Written);
        }
        // One atomic batch holds the commit records and as many before-writes
        // as fit; any overflow (order-independent) goes first.
        let room = BATCH_ENTRIES_MAX.saturating_sub(commits.len());
        let tail = before.split_off(before.len().saturating_sub(room));
        write_all(store, before, true).await?;
        let mut last: Vec<(String, String)> = tail;
        last.extend(commits.into_iter().map(|c| (c.key, c.value)));
        put_batch(store, last, &head_key).await?;
        Ok(Applied::Written)
    }
}

/// Order-independent writes: batched where the store takes batches.
async fn write_all<S: Store>(store: &S, entries: Vec<(String, String)>, batch: bool) -> LedgerResult<()> {
    if !batch || entries.len() == 1 {
        for (key, value) in entries {
            store.put(&key, value).await.map_err(|reason| Box::new(LedgerError::StoreError { key, reason }))?;
        }
        return Ok(());
    }
    let mut entries = entries;
    while !entries.is_empty() {
        let rest = entries.split_off(entries.len().min(BATCH_ENTRIES_MAX));
        let named = entries[0].0.clone();
        put_batch(store, entries, &named).await?;
        entries = rest;
    }
    Ok(())
}

async fn put_batch<S: Store>(store: &S, entries: Vec<(String, String)>, named: &str) -> LedgerResult<()> {
    assert!(!entries.is_empty() && entries.len() <= BATCH_ENTRIES_MAX);
    if entries.len() == 1 {
        let (key, value) = entries.into_iter().next().unwrap_or_else(|| unreachable!("one entry"));
        return store.put(&key, value).await.map_err(|reason| Box::new(LedgerError::StoreError { key, reason }));
    }
    let count = entries.len();
    store.put_many(entries).await.map_err(|reason| {
        Box::new(LedgerError::StoreError { key: format!("{named} (a batch of {count} keys)"), reason })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::core::store::{MemoryStore, StoreCapabilities};

    fn set(before: usize) -> WriteSet {
        WriteSet {
            before: (0..before).map(|i| (format!("p/{i}"), format!("page {i}"))).collect(),
            commits: vec![CommitRecord { key: "h".into(), value: "head 1".into(), expected_version: 0 }],
        }
    }

    #[test]
    fn plain_store_gets_one_put_per_entry_head_last() {
        let store = MemoryStore::default();
        assert_eq!(block_on(set(2).apply(&store)).unwrap(), Applied::Written);
        assert_eq!(store.stats.get().write_calls, 3);
        assert_eq!(store.entries.borrow()["h"], "head 1");
    }

    #[test]
    fn batch_store_gets_one_call() {
        let store = MemoryStore::with_capabilities(StoreCapabilities { batch: true, compare_and_set: false });
        block_on(set(3).apply(&store)).unwrap();
        assert_eq!(store.stats.get().write_calls, 1);
        assert_eq!(store.stats.get().entries_written, 4);
        let big = MemoryStore::with_capabilities(StoreCapabilities { batch: true, compare_and_set: false });
        block_on(set(BATCH_ENTRIES_MAX + 5).apply(&big)).unwrap();
        assert_eq!(big.stats.get().write_calls, 2, "the overflow first, then one batch ending with the head");
        assert_eq!(big.entries.borrow().len(), BATCH_ENTRIES_MAX + 6);
    }

    #[test]
    fn compare_and_set_refuses_a_moved_version_and_writes_nothing_after_it() {
        let store = MemoryStore::with_capabilities(StoreCapabilities { batch: false, compare_and_set: true });
        assert_eq!(block_on(set(0).apply(&store)).unwrap(), Applied::Written);
        assert_eq!(store.versions.borrow()["h"], 1);
        let stale = WriteSet {
            before: vec![],
            commits: vec![
                CommitRecord { key: "h".into(), value: "head from v0".into(), expected_version: 0 },
                CommitRecord { key: "after".into(), value: "x".into(), expected_version: 0 },
            ],
        };
        assert_eq!(block_on(stale.apply(&store)).unwrap(), Applied::Conflict { key: "h".into() });
        assert_eq!(store.entries.borrow()["h"], "head 1");
        assert!(!store.entries.borrow().contains_key("after"));
    }
}
