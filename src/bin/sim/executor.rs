//! A deterministic executor for the simulator: runs a round of operations on
//! several ledger instances, interleaving them at every store call in an
//! order drawn from the seed, and crashing an instance when the store says so
//! (its in-flight operations are dropped, unacknowledged, and it is rebuilt
//! from the store with nothing in memory).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use credit_pools::core::{Ledger, LedgerError};

use crate::store::{Rng, SimKv, SimStore};

/// The environment each instance reads: the run's clock and generator.
#[derive(Debug, Clone)]
pub struct SimClock {
    pub now_ms: Rc<std::cell::Cell<i64>>,
    pub rng: Rc<Rng>,
}

impl credit_pools::core::store::Environment for SimClock {
    fn now_ms(&self) -> Result<i64, String> {
        Ok(self.now_ms.get())
    }

    fn random_u64(&self) -> u64 {
        self.rng.next()
    }
}

pub type SimLedger = Ledger<SimKv, SimClock>;
pub type OpFuture<T> = Pin<Box<dyn Future<Output = Result<T, Box<LedgerError>>>>>;

/// Polls one round may take before it is declared stuck (a deadlock).
const POLLS_PER_ROUND_MAX: u64 = 5_000_000;

/// How one operation of a round ended.
#[derive(Debug)]
pub enum TaskEnd<T> {
    Done(Result<T, Box<LedgerError>>),
    /// Its instance crashed first: the caller never heard back.
    Crashed,
}

pub struct Task<T> {
    pub slot: usize,
    pub instance: usize,
    pub future: OpFuture<T>,
}

/// The instances writing one store.
pub struct Instances {
    pub store: Rc<SimStore>,
    pub clock: SimClock,
    pub ledgers: Vec<Rc<SimLedger>>,
    catalog: fn() -> credit_pools::core::catalog::CatalogInput,
}

impl Instances {
    pub fn new(
        store: Rc<SimStore>,
        clock: SimClock,
        catalog: fn() -> credit_pools::core::catalog::CatalogInput,
    ) -> Self {
        let mut instances = Self { store, clock, ledgers: Vec::new(), catalog };
        for index in 0..instances.store.profile.instances {
            let ledger = instances.build(index);
            instances.ledgers.push(ledger);
        }
        instances
    }

    fn build(&self, index: usize) -> Rc<SimLedger> {
        let kv = SimKv { store: Rc::clone(&self.store), instance: index };
        let ledger = Ledger::new(kv, self.clock.clone(), (self.catalog)(), None).expect("the simulation ledger builds");
        Rc::new(if self.store.profile.exclusive { ledger.exclusive() } else { ledger })
    }

    /// A fresh instance with faults off, for audits: it reads only what is stored.
    pub fn auditor(&self) -> SimLedger {
        let kv = SimKv { store: Rc::clone(&self.store), instance: usize::MAX };
        Ledger::new(kv, self.clock.clone(), (self.catalog)(), None).expect("the audit ledger builds")
    }

    /// Runs every task to its end. Returns `(slot, end)` in completion order.
    pub fn run<T>(&mut self, mut tasks: Vec<Task<T>>, rng: &Rng) -> Result<Vec<(usize, TaskEnd<T>)>, String> {
        let mut ended = Vec::with_capacity(tasks.len());
        let mut context = Context::from_waker(Waker::noop());
        let mut polls = 0u64;
        while !tasks.is_empty() {
            polls += 1;
            if polls > POLLS_PER_ROUND_MAX {
                return Err(format!("{} operations never finished (a deadlock?)", tasks.len()));
            }
            let index = rng.below(tasks.len() as u64) as usize;
            if let Poll::Ready(result) = tasks[index].future.as_mut().poll(&mut context) {
                let task = tasks.swap_remove(index);
                ended.push((task.slot, TaskEnd::Done(result)));
            }
            for crashed in self.store.take_crashes() {
                // Everything the instance had in flight dies with it, unanswered.
                let (dead, alive): (Vec<_>, Vec<_>) = tasks.into_iter().partition(|t| t.instance == crashed);
                tasks = alive;
                ended.extend(dead.into_iter().map(|task| (task.slot, TaskEnd::Crashed)));
                self.ledgers[crashed] = self.build(crashed);
            }
        }
        Ok(ended)
    }
}
