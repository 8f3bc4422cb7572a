//! Deterministic simulation: random operations through the real storage
//! protocol, over a store that injects faults, with the ledger's invariants
//! checked after every round.
//!
//! `cargo run --profile native --bin sim -- --seeds 200 --ops 2000 [--first-seed N]`
//! A failing seed prints the command that replays it alone.
//!
//! Each seed draws a host profile. Odd seeds: one instance over a store
//! without compare-and-set (a Durable Object), with concurrent operations
//! interleaved inside the instance (half of them `exclusive`: the instance
//! trusts the heads it cached). Even seeds: two instances sharing a store
//! with compare-and-set, writing concurrently, with stale reads. Every seed:
//! puts that fail before landing or land and lose their acknowledgement,
//! failing gets, crashes in the middle of a write (the instance and its
//! in-flight operations are dropped and it is rebuilt from the store), and
//! half the seeds an atomic batch write. Operations: provisioning, grants,
//! usage, consumption (plain and `requireBalance`), reservations and their
//! resolution, voids, transfers between resources, automatic recharges and
//! their payment outcomes, repeats of acknowledged debits, clock jumps across
//! expiries and billing periods. A failed operation is retried as a caller
//! would (same payload, same idempotency key) until it is answered.
//!
//! The invariants are in `model.rs`.

// A binary's modules: `pub` means "shared between the simulator's files".
#![allow(unreachable_pub)]

mod executor;
mod model;
mod ops;
mod store;

use std::cell::Cell;
use std::rc::Rc;

use executor::{Instances, SimClock, Task};
use model::{Decision, Model};
use ops::{Op, RESOURCES};
use store::{FaultCounts, Profile, Rng, SimStore};

/// Sub-rounds of retries before an operation counts as never answered.
const RETRY_ROUNDS_MAX: u32 = 200;
/// Operations drawn into one concurrent round, at most.
const OPERATIONS_PER_ROUND_MAX: u64 = 4;
const DAY_MS: i64 = 86_400_000;

thread_local! {
    static CURRENT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn profile_of(seed: u64) -> Profile {
    let shared = seed % 2 == 0;
    Profile {
        compare_and_set: shared,
        batch: seed % 4 < 2,
        stale_reads: shared,
        instances: if shared { 2 } else { 1 },
        exclusive: !shared && seed % 8 >= 4,
    }
}

struct Run {
    rng: Rc<Rng>,
    store: Rc<SimStore>,
    instances: Instances,
    model: Model,
    next_key: u64,
    operations: u64,
}

impl Run {
    fn new(seed: u64) -> Self {
        let rng = Rc::new(Rng::new(seed));
        let store = Rc::new(SimStore::new(Rc::clone(&rng), profile_of(seed)));
        let clock = SimClock { now_ms: Rc::new(Cell::new(1_767_225_600_000)), rng: Rc::clone(&rng) };
        let instances = Instances::new(Rc::clone(&store), clock, ops::catalog);
        Self { rng, store, instances, model: Model::default(), next_key: 0, operations: 0 }
    }

    fn now_ms(&self) -> i64 {
        self.instances.clock.now_ms.get()
    }

    fn key(&mut self) -> String {
        self.next_key += 1;
        format!("k{}", self.next_key)
    }

    /// One round: a clock jump, an operation that runs alone, or up to
    /// `OPERATIONS_PER_ROUND_MAX` concurrent ones.
    fn round(&mut self) -> Result<(), String> {
        let roll = self.rng.below(100);
        if roll < 7 {
            self.operations += 1;
            let jump_ms = self.rng.below(20 * DAY_MS as u64) as i64;
            self.instances.clock.now_ms.set(self.now_ms() + jump_ms);
            return self.run_ops(Vec::new());
        }
        if roll < 11 {
            let scope = self.rng.below(3) as usize;
            return self.run_ops(vec![Op::Provision { scope }]);
        }
        if roll < 13 {
            if let Some(transfer) = self.draw_transfer() {
                return self.run_ops(vec![transfer]);
            }
        }
        let count = 1 + self.rng.below(OPERATIONS_PER_ROUND_MAX);
        let mut ops = Vec::new();
        for _ in 0..count {
            if let Some(op) = self.draw_concurrent(&ops)? {
                ops.push(op);
            }
        }
        self.run_ops(ops)
    }

    fn draw_transfer(&self) -> Option<Op> {
        let (a, b) = (&self.model.subscription[1], &self.model.subscription[2]);
        let (from, to) = match (a, b) {
            (Some(_), None) => (1, 2),
            (None, Some(_)) => (2, 1),
            _ => return None,
        };
        let subscription_id = self.model.subscription[from].clone().expect("checked");
        Some(Op::Transfer { subscription_id, to })
    }

    /// An operation that may run concurrently with the others of its round.
    fn draw_concurrent(&mut self, round: &[Op]) -> Result<Option<Op>, String> {
        let rng = Rc::clone(&self.rng);
        let scope = rng.below(3) as usize;
        Ok(Some(match rng.below(100) {
            0..=14 => {
                let micros = (rng.below(50_000) + 1) as i64 * 10_000;
                let expire_ms = rng.chance(500).then(|| self.now_ms() + 1 + rng.below(90) as i64 * DAY_MS);
                Op::Grant { scope, micros, priority: rng.below(3), expire_ms, key: self.key() }
            }
            15..=39 => {
                Op::Consume { scope, micros: (rng.below(20_000) + 1) as i64 * 10_000, key: self.key(), strict: false }
            }
            40..=49 => {
                Op::Consume { scope, micros: (rng.below(5_000) + 1) as i64 * 10_000, key: self.key(), strict: true }
            }
            50..=64 => Op::Usage { scope, value_cents: rng.below(10_000) + 1, key: self.key() },
            65..=74 => {
                let micros = (rng.below(20_000) + 1) as i64 * 10_000;
                Op::Reserve { scope, micros, ttl_ms: (rng.below(72) + 1) * 3_600_000, key: self.key() }
            }
            75..=84 => return Ok(self.draw_resolution(round)),
            85..=87 => return Ok(self.draw_void()),
            88..=92 => return Ok(self.draw_repeat()),
            93..=94 => Op::ReadLedger { scope },
            95..=96 => Op::SaveRecharge,
            _ => return self.draw_recharge_outcome(round),
        }))
    }

    fn draw_resolution(&self, round: &[Op]) -> Option<Op> {
        let busy =
            |id: &str| round.iter().any(|op| matches!(op, Op::Resolve { reservation_id, .. } if reservation_id == id));
        let open: Vec<_> = self.model.open.iter().filter(|r| !busy(&r.reservation_id)).collect();
        let reservation = open.get(self.rng.below(open.len() as u64) as usize)?;
        let settle_micros = self.rng.chance(700).then(|| reservation.micros * self.rng.below(101) as i64 / 100);
        Some(Op::Resolve { reservation_id: reservation.reservation_id.clone(), settle_micros })
    }

    fn draw_void(&mut self) -> Option<Op> {
        let candidates: Vec<usize> = (0..self.model.grants.len()).filter(|&i| !self.model.grants[i].settled).collect();
        let index = *candidates.get(self.rng.below(candidates.len() as u64) as usize)?;
        self.model.grants[index].settled = true;
        Some(Op::Void { grant_id: self.model.grants[index].grant_id.clone() })
    }

    fn draw_repeat(&self) -> Option<Op> {
        // Only consumptions repeat as consumptions (a usage key would be a conflict).
        let debits: Vec<_> = self.model.debits.iter().filter(|d| d.repeatable).collect();
        let debit = debits.get(self.rng.below(debits.len() as u64) as usize)?;
        Some(Op::Repeat { scope: debit.scope, micros: debit.micros, key: debit.key.clone() })
    }

    /// Pays or declines one recharge awaiting payment (found as a host would,
    /// from the pools' grants: the request itself may have been lost).
    fn draw_recharge_outcome(&self, round: &[Op]) -> Result<Option<Op>, String> {
        if round.iter().any(|op| matches!(op, Op::FinishRecharge { .. })) {
            return Ok(None);
        }
        self.store.faults.set(false);
        let found = self.model.recharge_grants(&self.instances.auditor());
        self.store.faults.set(true);
        let pending: Vec<String> = found?
            .into_iter()
            .flatten()
            .filter(|g| g.status == credit_pools::core::pool::GrantStatus::PaymentPending)
            .map(|g| g.id)
            .collect();
        let Some(recharge_id) = pending.get(self.rng.below(pending.len() as u64) as usize).cloned() else {
            return Ok(None);
        };
        Ok(Some(Op::FinishRecharge { recharge_id, paid: self.rng.chance(700) }))
    }

    /// Pools whose operations this round cannot take the available balance below 0.
    fn safe_pools(&self, ops: &[Op]) -> [bool; 3] {
        let mut safe = [!ops.is_empty(); 3];
        for op in ops {
            let unsafe_scope = match op {
                Op::Consume { scope, strict: false, .. } | Op::Usage { scope, .. } | Op::Provision { scope } => *scope,
                Op::Void { grant_id } => {
                    self.model.grants.iter().find(|g| &g.grant_id == grant_id).map_or(0, |g| g.scope)
                }
                Op::Transfer { .. } => {
                    safe = [false; 3];
                    continue;
                }
                _ => continue,
            };
            safe[unsafe_scope] = false;
        }
        safe
    }

    fn run_ops(&mut self, ops: Vec<Op>) -> Result<(), String> {
        if std::env::var("SIM_TRACE").is_ok() {
            eprintln!("round {}: {ops:?}", self.model.rounds + 1);
        }
        self.operations += ops.len() as u64;
        let safe = self.safe_pools(&ops);
        let mut pending: Vec<(Op, u32)> = ops.into_iter().map(|op| (op, 0)).collect();
        let instances = self.store.profile.instances as u64;
        for _ in 0..RETRY_ROUNDS_MAX {
            if pending.is_empty() {
                break;
            }
            let placed: Vec<usize> = pending.iter().map(|_| self.rng.below(instances) as usize).collect();
            let tasks = pending
                .iter()
                .zip(&placed)
                .enumerate()
                .map(|(slot, ((op, _), &instance))| Task {
                    slot,
                    instance,
                    future: op.start(Rc::clone(&self.instances.ledgers[instance])),
                })
                .collect();
            let ended = self.instances.run(tasks, &self.rng)?;
            let stale = self.store.take_stale_served();
            let mut retry = vec![false; pending.len()];
            for (slot, end) in ended {
                if std::env::var("SIM_TRACE").is_ok() {
                    let text = format!("{end:?}");
                    eprintln!("  slot {slot} on {}: {}", placed[slot], &text[..text.len().min(300)]);
                }
                pending[slot].1 += 1;
                let (op, attempts) = &pending[slot];
                let decision = self.model.settle(op, *attempts, end, stale.contains(&placed[slot]), self.now_ms())?;
                let mut counts = self.store.counts.borrow_mut();
                match decision {
                    Decision::Settled => continue,
                    Decision::Retry => {}
                    Decision::RetryConflict => counts.conflicts += 1,
                    Decision::RetryStale => counts.stale_refusals += 1,
                }
                retry[slot] = true;
            }
            pending = pending.into_iter().zip(retry).filter(|(_, again)| *again).map(|(op, _)| op).collect();
        }
        if let Some((op, attempts)) = pending.first() {
            return Err(format!("{op:?} was never answered in {attempts} attempts"));
        }
        self.store.faults.set(false);
        let checked = self.model.check(&self.instances.auditor(), safe, self.now_ms());
        self.store.faults.set(true);
        checked
    }
}

struct SeedReport {
    counts: FaultCounts,
    rounds: u64,
}

fn run_seed(seed: u64, ops: u64) -> Result<SeedReport, String> {
    let mut run = Run::new(seed);
    while run.operations < ops {
        CURRENT.set((seed, run.model.rounds + 1));
        run.round()
            .map_err(|message| format!("round {} (operation {}): {message}", run.model.rounds + 1, run.operations))?;
    }
    let counts = *run.store.counts.borrow();
    Ok(SeedReport { counts, rounds: run.model.rounds })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (seeds, ops, first) = (flag("--seeds", 200), flag("--ops", 2000), flag("--first-seed", 1));
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let (seed, round) = CURRENT.get();
        eprintln!("seed {seed} panicked in round {round}");
        eprintln!("replay: cargo run --profile native --bin sim -- --first-seed {seed} --seeds 1 --ops {ops}");
    }));
    let mut totals = FaultCounts::default();
    let mut rounds = 0;
    for seed in first..first + seeds {
        match run_seed(seed, ops) {
            Ok(report) => {
                totals.add(&report.counts);
                rounds += report.rounds;
            }
            Err(message) => {
                let profile = profile_of(seed);
                eprintln!("seed {seed} ({profile:?}) failed at {message}");
                eprintln!("replay: cargo run --profile native --bin sim -- --first-seed {seed} --seeds 1 --ops {ops}");
                std::process::exit(1);
            }
        }
    }
    let shared = (first..first + seeds).filter(|s| profile_of(*s).instances > 1).count();
    let exclusive = (first..first + seeds).filter(|s| profile_of(*s).exclusive).count();
    println!(
        "sim: {seeds} seeds x {ops} operations passed ({shared} with two instances sharing a compare-and-set store, {} with one instance, {exclusive} of those exclusive; {rounds} rounds, scopes {})",
        seeds as usize - shared,
        RESOURCES.len()
    );
    println!(
        "faults injected: {} puts failed before landing, {} puts landed with the acknowledgement lost, {} gets failed, {} stale reads of a commit record, {} ledger pages missing on read, {} crashes mid-write (instance rebuilt from the store)",
        totals.put_before, totals.put_after, totals.get_failed, totals.stale_reads, totals.missing_pages, totals.crashes
    );
    println!(
        "concurrency: {} compare-and-set writes refused (another writer first, or a stale read) and retried inside the ledger; {} operations rejected with CONFLICT and {} refusals after a stale read, retried by the caller",
        totals.cas_refused, totals.conflicts, totals.stale_refusals
    );
}
