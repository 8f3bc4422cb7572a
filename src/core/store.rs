//! What the core needs from the host: a key-value store and an environment.
//!
//! The store has two required methods (`get`, `put`) and two optional ones
//! that make the ledger stronger where the host can offer them:
//! - `put_if_version` (compare-and-set): commit records are written only if
//!   nobody else committed since they were read, so two instances over one
//!   store can never lose an update (a conflict is retried, then `CONFLICT`);
//! - `put_many` (an atomic batch, as Durable Object storage has): an
//!   operation's writes go to the host in one call.

use crate::prelude::*;
use alloc::collections::BTreeMap;
use core::cell::{Cell, RefCell};

use super::time::UnixMs;

/// Why a `get` gave no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetFailure {
    /// The store failed (threw, rejected): `STORE_ERROR`.
    Failed(String),
    /// The store answered with something that is not text: `CORRUPT_STATE`.
    NotText(String),
}

impl From<String> for GetFailure {
    fn from(reason: String) -> Self {
        GetFailure::Failed(reason)
    }
}

/// The optional methods a store offers; read once, when the ledger is built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCapabilities {
    /// `put_if_version` is implemented.
    pub compare_and_set: bool,
    /// `put_many` is implemented, and atomic: all of its entries land or none.
    pub batch: bool,
}

/// The host's key-value store. Values are strings; a missing key is `None`.
/// Errors carry the host's message; the core adds the key and a code.
///
/// Versions (for `put_if_version`): a key that was never written has version
/// 0; every value the ledger writes with `put_if_version(key, value, n)` has
/// version `n + 1`, so a host can keep that number beside the value. Only
/// commit records (scope heads, accounts) are written this way; everything
/// else goes through `put` or `put_many`.
#[allow(async_fn_in_trait)] // Single-threaded (wasm) futures: no `Send` bound wanted.
pub trait Store {
    async fn get(&self, key: &str) -> Result<Option<String>, GetFailure>;
    async fn put(&self, key: &str, value: String) -> Result<(), String>;

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::default()
    }

    /// Writes `value` only if `key`'s version is `expected_version`, atomically.
    /// `Ok(false)`: another writer got there first and nothing was written.
    /// Only called when `capabilities().compare_and_set`.
    async fn put_if_version(&self, key: &str, value: String, expected_version: u64) -> Result<bool, String> {
        let _ = (key, value, expected_version);
        Err("this store has no putIfVersion".to_string())
    }

    /// Writes every entry, all or nothing. Only called when `capabilities().batch`.
    async fn put_many(&self, entries: Vec<(String, String)>) -> Result<(), String> {
        let _ = entries;
        Err("this store has no putMany".to_string())
    }
}

/// Clock and randomness, injected so the core stays deterministic under test.
pub trait Environment {
    /// Current time in epoch milliseconds, or why it could not be read.
    fn now_ms(&self) -> Result<UnixMs, String>;
    /// 64 random bits for ids.
    fn random_u64(&self) -> u64;
}

/// What a store was asked to do: for budgets and benchmarks (counts and
/// bytes, never time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub gets: u64,
    /// Write calls: `put`, `put_if_version` and `put_many` each count once.
    pub write_calls: u64,
    /// Entries written (a `put_many` of three entries counts three).
    pub entries_written: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

/// An in-memory store for tests, benchmarks and hosts that want one. It can
/// offer compare-and-set and atomic batches (`with_capabilities`) and counts
/// what it is asked to do.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub entries: RefCell<BTreeMap<String, String>>,
    /// The version of every key written through `put_if_version`.
    pub versions: RefCell<BTreeMap<String, u64>>,
    pub stats: Cell<StoreStats>,
    capabilities: StoreCapabilities,
}

impl MemoryStore {
    pub fn with_capabilities(capabilities: StoreCapabilities) -> Self {
        Self { capabilities, ..Self::default() }
    }

    fn count(&self, update: impl FnOnce(&mut StoreStats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }

    fn write(&self, key: &str, value: String) {
        self.count(|s| {
            s.entries_written += 1;
            s.bytes_written += (key.len() + value.len()) as u64;
        });
        self.entries.borrow_mut().insert(key.to_string(), value);
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, GetFailure> {
        let value = self.entries.borrow().get(key).cloned();
        let read = key.len() + value.as_ref().map_or(0, String::len);
        self.count(|s| {
            s.gets += 1;
            s.bytes_read += read as u64;
        });
        Ok(value)
    }

    async fn put(&self, key: &str, value: String) -> Result<(), String> {
        self.count(|s| s.write_calls += 1);
        self.write(key, value);
        Ok(())
    }

    fn capabilities(&self) -> StoreCapabilities {
        self.capabilities
    }

    async fn put_if_version(&self, key: &str, value: String, expected_version: u64) -> Result<bool, String> {
        assert!(self.capabilities.compare_and_set, "put_if_version on a store without compare-and-set");
        self.count(|s| s.write_calls += 1);
        let current = self.versions.borrow().get(key).copied().unwrap_or(0);
        if current != expected_version {
            return Ok(false);
        }
        self.versions.borrow_mut().insert(key.to_string(), expected_version + 1);
        self.write(key, value);
        Ok(true)
    }

    async fn put_many(&self, entries: Vec<(String, String)>) -> Result<(), String> {
        assert!(self.capabilities.batch, "put_many on a store without batches");
        self.count(|s| s.write_calls += 1);
        for (key, value) in entries {
            self.write(&key, value);
        }
        Ok(())
    }
}

/// A settable clock and a seeded generator (splitmix64), for deterministic runs.
#[derive(Debug)]
pub struct ManualEnvironment {
    pub now_ms: RefCell<UnixMs>,
    pub seed: RefCell<u64>,
}

impl ManualEnvironment {
    pub fn new(now_ms: UnixMs, seed: u64) -> Self {
        Self { now_ms: RefCell::new(now_ms), seed: RefCell::new(seed) }
    }

    pub fn set_now(&self, now_ms: UnixMs) {
        *self.now_ms.borrow_mut() = now_ms;
    }
}

impl Environment for ManualEnvironment {
    fn now_ms(&self) -> Result<UnixMs, String> {
        Ok(*self.now_ms.borrow())
    }

    fn random_u64(&self) -> u64 {
        let mut seed = self.seed.borrow_mut();
        *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
