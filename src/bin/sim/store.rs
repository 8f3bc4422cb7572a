//! The simulated host store: every fault the simulator injects lives here.
//!
//! One `SimStore` holds the data; each ledger instance reaches it through its
//! own `SimKv` handle, so a crash can be pinned on the instance whose write it
//! interrupted. Faults are drawn from the run's generator, so a run is a pure
//! function of its seed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use credit_pools::core::store::{GetFailure, Store, StoreCapabilities};

/// A seeded generator (splitmix64).
#[derive(Debug)]
pub struct Rng(Cell<u64>);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(Cell::new(seed))
    }

    pub fn next(&self) -> u64 {
        let seed = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.0.set(seed);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    pub fn chance(&self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// What the host offers and how it misbehaves, fixed per seed.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// `put_if_version` is offered: instances may share the store.
    pub compare_and_set: bool,
    /// `put_many` is offered.
    pub batch: bool,
    /// Reads may return an older value of a commit record, or miss a ledger page.
    pub stale_reads: bool,
    /// Ledger instances writing the store concurrently.
    pub instances: usize,
    /// The one instance is declared the only writer: it trusts its cache.
    pub exclusive: bool,
}

/// Faults per thousand calls.
const GET_FAILS_PER_MILLE: u64 = 4;
const PUT_FAILS_BEFORE_PER_MILLE: u64 = 6;
const PUT_ACK_LOST_PER_MILLE: u64 = 6;
const CRASH_PER_MILLE: u64 = 3;
const STALE_READ_PER_MILLE: u64 = 40;
const MISSING_PAGE_PER_MILLE: u64 = 20;
const YIELD_PER_MILLE: u64 = 500;

/// Older values kept per key, for stale reads.
const HISTORY_KEPT: usize = 4;

#[derive(Debug, Default, Clone, Copy)]
pub struct FaultCounts {
    pub put_before: u64,
    pub put_after: u64,
    pub get_failed: u64,
    pub stale_reads: u64,
    pub missing_pages: u64,
    pub crashes: u64,
    pub conflicts: u64,
    pub stale_refusals: u64,
    pub cas_refused: u64,
}

impl FaultCounts {
    pub fn add(&mut self, other: &FaultCounts) {
        self.put_before += other.put_before;
        self.put_after += other.put_after;
        self.get_failed += other.get_failed;
        self.stale_reads += other.stale_reads;
        self.missing_pages += other.missing_pages;
        self.crashes += other.crashes;
        self.conflicts += other.conflicts;
        self.stale_refusals += other.stale_refusals;
        self.cas_refused += other.cas_refused;
    }
}

#[derive(Debug)]
pub struct SimStore {
    pub rng: Rc<Rng>,
    pub profile: Profile,
    /// Each key's values, oldest first, the current one last.
    entries: RefCell<BTreeMap<String, Vec<String>>>,
    versions: RefCell<BTreeMap<String, u64>>,
    /// Off while the model audits the store (a failing read proves nothing).
    pub faults: Cell<bool>,
    /// Instances whose write crashed, not yet rebuilt.
    crashed: RefCell<Vec<usize>>,
    /// Instances served a stale value since the model last asked.
    stale_served: RefCell<Vec<usize>>,
    pub counts: RefCell<FaultCounts>,
}

impl SimStore {
    pub fn new(rng: Rc<Rng>, profile: Profile) -> Self {
        Self {
            rng,
            profile,
            entries: RefCell::default(),
            versions: RefCell::default(),
            faults: Cell::new(true),
            crashed: RefCell::default(),
            stale_served: RefCell::default(),
            counts: RefCell::default(),
        }
    }

    pub fn take_crashes(&self) -> Vec<usize> {
        std::mem::take(&mut *self.crashed.borrow_mut())
    }

    pub fn take_stale_served(&self) -> Vec<usize> {
        std::mem::take(&mut *self.stale_served.borrow_mut())
    }

    fn injecting(&self) -> bool {
        self.faults.get()
    }

    fn draw(&self, per_mille: u64) -> bool {
        self.injecting() && self.rng.chance(per_mille)
    }

    fn is_crashed(&self, instance: usize) -> bool {
        self.crashed.borrow().contains(&instance)
    }

    fn read(&self, key: &str, instance: usize) -> Option<String> {
        let entries = self.entries.borrow();
        let history = entries.get(key)?;
        let current = history.last().cloned();
        if !self.profile.stale_reads || !self.injecting() {
            return current;
        }
        let commit_record = key.ends_with("/h") || key.contains("/a/");
        if commit_record && history.len() > 1 && self.rng.chance(STALE_READ_PER_MILLE) {
            self.counts.borrow_mut().stale_reads += 1;
            self.stale_served.borrow_mut().push(instance);
            return Some(history[self.rng.below(history.len() as u64 - 1) as usize].clone());
        }
        if key.contains("/l/") && self.rng.chance(MISSING_PAGE_PER_MILLE) {
            self.counts.borrow_mut().missing_pages += 1;
            return None;
        }
        current
    }

    fn land(&self, key: &str, value: String) {
        let mut entries = self.entries.borrow_mut();
        let history = entries.entry(key.to_string()).or_default();
        history.push(value);
        if history.len() > HISTORY_KEPT {
            history.remove(0);
        }
    }

    /// A write call's faults: fails before landing, or crashes the instance
    /// (the write may or may not land), or lands and loses its acknowledgement.
    fn write(&self, instance: usize, land: impl FnOnce() -> Result<(), ()>) -> Result<bool, String> {
        if self.draw(PUT_FAILS_BEFORE_PER_MILLE) {
            self.counts.borrow_mut().put_before += 1;
            return Err("injected: put failed before landing".into());
        }
        if self.draw(CRASH_PER_MILLE) {
            self.counts.borrow_mut().crashes += 1;
            if self.rng.chance(500) {
                let _ = land();
            }
            self.crashed.borrow_mut().push(instance);
            return Err("injected: the instance crashed during this write".into());
        }
        let landed = land().is_ok();
        if landed && self.draw(PUT_ACK_LOST_PER_MILLE) {
            self.counts.borrow_mut().put_after += 1;
            return Err("injected: put landed, acknowledgement lost".into());
        }
        Ok(landed)
    }
}

/// One instance's handle on the shared store.
#[derive(Debug, Clone)]
pub struct SimKv {
    pub store: Rc<SimStore>,
    pub instance: usize,
}

/// Pending once: lets the executor run other operations between two store calls.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            self.0 = false;
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}

impl SimKv {
    async fn maybe_yield(&self) -> Result<(), String> {
        let store = &self.store;
        YieldOnce(store.injecting() && store.rng.chance(YIELD_PER_MILLE)).await;
        if store.is_crashed(self.instance) {
            return Err("the instance crashed".into());
        }
        Ok(())
    }
}

impl Store for SimKv {
    async fn get(&self, key: &str) -> Result<Option<String>, GetFailure> {
        self.maybe_yield().await?;
        if self.store.draw(GET_FAILS_PER_MILLE) {
            self.store.counts.borrow_mut().get_failed += 1;
            return Err(GetFailure::Failed("injected: get failed".into()));
        }
        Ok(self.store.read(key, self.instance))
    }

    async fn put(&self, key: &str, value: String) -> Result<(), String> {
        self.maybe_yield().await?;
        self.store.write(self.instance, || {
            self.store.land(key, value);
            Ok(())
        })?;
        Ok(())
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities { compare_and_set: self.store.profile.compare_and_set, batch: self.store.profile.batch }
    }

    async fn put_if_version(&self, key: &str, value: String, expected_version: u64) -> Result<bool, String> {
        assert!(self.store.profile.compare_and_set);
        self.maybe_yield().await?;
        let store = &self.store;
        store.write(self.instance, || {
            let current = store.versions.borrow().get(key).copied().unwrap_or(0);
            if current != expected_version {
                store.counts.borrow_mut().cas_refused += 1;
                return Err(());
            }
            store.versions.borrow_mut().insert(key.to_string(), expected_version + 1);
            store.land(key, value);
            Ok(())
        })
    }

    async fn put_many(&self, entries: Vec<(String, String)>) -> Result<(), String> {
        assert!(self.store.profile.batch);
        self.maybe_yield().await?;
        self.store.write(self.instance, || {
            for (key, value) in entries {
                self.store.land(&key, value);
            }
            Ok(())
        })?;
        Ok(())
    }
}
