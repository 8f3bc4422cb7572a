//! What the core needs from the host: a key-value store and an environment.

use std::cell::RefCell;
use std::collections::BTreeMap;

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

/// The host's key-value store. Values are strings; a missing key is `None`.
/// Errors carry the host's message; the core adds the key and a code.
#[allow(async_fn_in_trait)] // Single-threaded (wasm) futures: no `Send` bound wanted.
pub trait Store {
    async fn get(&self, key: &str) -> Result<Option<String>, GetFailure>;
    async fn put(&self, key: &str, value: String) -> Result<(), String>;
}

/// Clock and randomness, injected so the core stays deterministic under test.
pub trait Environment {
    /// Current time in epoch milliseconds, or why it could not be read.
    fn now_ms(&self) -> Result<UnixMs, String>;
    /// 64 random bits for ids.
    fn random_u64(&self) -> u64;
}

/// An in-memory store for tests and for hosts that want one.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub entries: RefCell<BTreeMap<String, String>>,
    pub gets: RefCell<u64>,
    pub puts: RefCell<u64>,
}

impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, GetFailure> {
        *self.gets.borrow_mut() += 1;
        Ok(self.entries.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: String) -> Result<(), String> {
        *self.puts.borrow_mut() += 1;
        self.entries.borrow_mut().insert(key.to_string(), value);
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
