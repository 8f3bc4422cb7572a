//! What the simulator expects, and the invariants it checks after every round.
//!
//! The model records only what callers were told (acknowledged operations);
//! the checks read the store through a fresh instance with faults off, so
//! they see what is durable, never what some instance holds in memory.

use std::collections::BTreeMap;

use credit_pools::core::api::LedgerEventOutput;
use credit_pools::core::ledger_event::EventKind;
use credit_pools::core::pool::{GrantStatus, GrantType};
use credit_pools::core::LedgerError;
use serde_json::json;

use crate::executor::{SimLedger, TaskEnd};
use crate::ops::{Op, Outcome, CURRENCY, CUSTOMER, RATE_MICROS, RECHARGE_CAP_MICROS, RESOURCES};

/// One acknowledged debit, to be applied exactly once under its key.
#[derive(Debug, Clone)]
pub struct Debit {
    pub scope: usize,
    pub key: String,
    pub micros: i64,
    /// A `consumeCredits` debit: its key can be repeated as one.
    pub repeatable: bool,
}

/// One acknowledged keyed grant.
#[derive(Debug, Clone)]
pub struct KnownGrant {
    pub scope: usize,
    pub key: String,
    pub grant_id: String,
    pub micros: i64,
    /// A void was attempted: it is never voided twice.
    pub settled: bool,
}

#[derive(Debug, Clone)]
pub struct OpenReservation {
    pub scope: usize,
    pub reservation_id: String,
    pub micros: i64,
    pub expires_ms: i64,
}

/// Rounds between full re-reads of every ledger (append-only and every key).
const FULL_CHECK_EVERY_ROUNDS: u64 = 50;

#[derive(Debug, Default)]
pub struct Model {
    pub subscription: [Option<String>; 3],
    pub consumed_micros: [i64; 3],
    pub debits: Vec<Debit>,
    pub grants: Vec<KnownGrant>,
    pub open: Vec<OpenReservation>,
    pub rounds: u64,
    /// Ledger rows read so far, per scope: what must never change.
    committed: [Vec<LedgerEventOutput>; 3],
    /// Which scope's ledger each grant id appeared in.
    grant_scope: BTreeMap<String, usize>,
    /// Running sums over `committed`, per scope.
    tallies: [Tally; 3],
    /// Each pool's available balance at the last check.
    available_micros: [i64; 3],
    /// Debits acknowledged since the last check (checked key by key).
    fresh_debits: usize,
}

/// Sums over one scope's ledger rows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tally {
    sum_micros: i64,
    consumed_micros: i64,
    consumed_by_key: BTreeMap<String, i64>,
    /// Per grant: how many `CREDITS_GRANTED` rows, and their amount.
    granted_by_grant: BTreeMap<String, (u32, i64)>,
}

impl Tally {
    fn add(
        &mut self,
        events: &[LedgerEventOutput],
        scope: usize,
        grant_scope: &mut BTreeMap<String, usize>,
    ) -> Result<(), String> {
        for event in events {
            let amount = micros(event.amount);
            // No credit moves between pools: every row of a grant sits in one scope's ledger.
            let owner = *grant_scope.entry(event.credit_grant_id.clone()).or_insert(scope);
            if owner != scope {
                return Err(format!(
                    "grant {} appears in the ledgers of scopes {owner} and {scope}",
                    event.credit_grant_id
                ));
            }
            match event.event_type {
                EventKind::Granted => {
                    self.sum_micros += amount;
                    let entry = self.granted_by_grant.entry(event.credit_grant_id.clone()).or_default();
                    entry.0 += 1;
                    entry.1 += amount;
                }
                EventKind::Consumed => {
                    self.sum_micros -= amount;
                    self.consumed_micros += amount;
                    let key = event.event_id.clone().unwrap_or_default();
                    *self.consumed_by_key.entry(key).or_default() += amount;
                }
                EventKind::Expired | EventKind::Voided => self.sum_micros -= amount,
                EventKind::TransferSource | EventKind::TransferTarget => {}
            }
        }
        Ok(())
    }
}

/// What to do with an operation after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Settled,
    /// The store failed or the instance crashed: the caller retries.
    Retry,
    /// Another writer committed first, for every bounded attempt (`CONFLICT`).
    RetryConflict,
    /// A refusal from an instance that was served a stale value: it changed
    /// nothing, and only a fresh read can tell whether it stands.
    RetryStale,
}

fn micros(credits: f64) -> i64 {
    (credits * 1e6).round() as i64
}

fn is_transient(error: &LedgerError) -> bool {
    matches!(error.code(), "STORE_ERROR" | "CONFLICT")
}

impl Model {
    /// Applies one attempt's end to the model. `stale`: the instance that ran
    /// it was served a stale value during the round, so a refusal may be
    /// based on an old head (it changed nothing): it is retried, not trusted.
    pub fn settle(
        &mut self,
        op: &Op,
        attempts: u32,
        end: TaskEnd<Outcome>,
        stale: bool,
        now_ms: i64,
    ) -> Result<Decision, String> {
        let result = match end {
            TaskEnd::Crashed => return Ok(Decision::Retry),
            TaskEnd::Done(Err(error)) if error.code() == "CONFLICT" => return Ok(Decision::RetryConflict),
            TaskEnd::Done(Err(error)) if is_transient(&error) => return Ok(Decision::Retry),
            TaskEnd::Done(result) => result,
        };
        let unless_stale = if stale { Decision::RetryStale } else { Decision::Settled };
        let refused = |error: &LedgerError, codes: &[&str]| codes.contains(&error.code());
        let retried = attempts > 1;
        let decision = match (op, result) {
            (Op::Provision { scope }, Ok(Outcome::Provisioned { subscription_id })) => {
                self.subscription[*scope] = Some(subscription_id);
                Decision::Settled
            }
            (Op::Grant { scope, micros, key, .. }, Ok(Outcome::Granted { grant_id })) => {
                self.acknowledge_grant(*scope, key, grant_id, *micros)?;
                Decision::Settled
            }
            (Op::Grant { .. }, Err(e)) if refused(&e, &["LIMIT_EXCEEDED"]) => Decision::Settled,
            (Op::Consume { scope, micros, key, strict }, result) => match result {
                Ok(Outcome::Consumed { micros: taken }) => {
                    self.acknowledge_debit(*scope, key, *micros, taken, retried, true)?;
                    Decision::Settled
                }
                // A fresh read that refuses proves no earlier attempt committed (it would be a repeat).
                Err(e) if *strict && refused(&e, &["INSUFFICIENT_CREDITS"]) => unless_stale,
                other => return Err(format!("consume {key}: {other:?}")),
            },
            (Op::Usage { scope, value_cents, key }, result) => match result {
                Ok(Outcome::Consumed { micros: taken }) => {
                    if self.subscription[*scope].is_none() {
                        return Err(format!("usage {key} was priced in a scope with no subscription"));
                    }
                    let cost = *value_cents as i64 * RATE_MICROS / 100;
                    self.acknowledge_debit(*scope, key, cost, taken, retried, false)?;
                    Decision::Settled
                }
                Err(e) if refused(&e, &["NOT_FOUND"]) => {
                    if self.subscription[*scope].is_none() {
                        Decision::Settled
                    } else if stale {
                        Decision::RetryStale
                    } else {
                        return Err(format!("usage {key}: NOT_FOUND although the scope has a subscription: {e}"));
                    }
                }
                other => return Err(format!("usage {key}: {other:?}")),
            },
            (Op::Repeat { key, .. }, result) => match result {
                Ok(Outcome::Consumed { micros: 0 }) => Decision::Settled,
                other => return Err(format!("repeating {key}: {other:?} (it must consume nothing)")),
            },
            (Op::Reserve { scope, micros, key, .. }, result) => match result {
                Ok(Outcome::Reserved { reservation_id, expires_ms }) => {
                    if !self.open.iter().any(|r| r.reservation_id == reservation_id) {
                        let micros = *micros;
                        self.open.push(OpenReservation { scope: *scope, reservation_id, micros, expires_ms });
                    }
                    Decision::Settled
                }
                Err(e) if refused(&e, &["INSUFFICIENT_CREDITS", "LIMIT_EXCEEDED"]) => unless_stale,
                other => return Err(format!("reserve {key}: {other:?}")),
            },
            (Op::Resolve { .. }, result) => self.settle_resolution(op, result, retried, stale, now_ms)?,
            (Op::Void { grant_id }, result) => match result {
                // An expired or pruned grant cannot be voided; a retry may find its own earlier void.
                Ok(Outcome::Voided) => Decision::Settled,
                Err(e) if refused(&e, &["INVALID_STATE", "NOT_FOUND"]) => Decision::Settled,
                other => return Err(format!("void {grant_id}: {other:?}")),
            },
            (Op::Transfer { to, .. }, result) => match result {
                Ok(Outcome::Transferred) => {
                    self.move_subscription(*to);
                    Decision::Settled
                }
                // A retry after the attempt that moved it: already there.
                Err(e) if retried && refused(&e, &["INVALID_ARGUMENT"]) => {
                    self.move_subscription(*to);
                    Decision::Settled
                }
                Err(e) if stale && refused(&e, &["INVALID_STATE", "NOT_FOUND"]) => Decision::RetryStale,
                other => return Err(format!("transfer to scope {to}: {other:?}")),
            },
            (Op::SaveRecharge, Ok(Outcome::Saved)) => Decision::Settled,
            // A stale head's rows are an older snapshot plus the clock events it
            // projects, which later commits may have overtaken: nothing to compare.
            (Op::ReadLedger { .. }, Ok(Outcome::Rows(_))) if stale => Decision::Settled,
            (Op::ReadLedger { scope }, Ok(Outcome::Rows(rows))) => {
                // Whatever instance read it: a row is the row the audit saw at that sequence number.
                let known = &self.committed[*scope];
                for row in rows.iter().filter(|row| (row.seq as usize) < known.len()) {
                    if *row != known[row.seq as usize] {
                        return Err(format!(
                            "scope {scope}: row {} read as {row:?}, audited as {:?}",
                            row.seq, known[row.seq as usize]
                        ));
                    }
                }
                Decision::Settled
            }
            (Op::FinishRecharge { recharge_id, .. }, result) => match result {
                Ok(Outcome::Finished) => Decision::Settled,
                Err(e) if stale && refused(&e, &["INVALID_STATE", "NOT_FOUND"]) => Decision::RetryStale,
                Err(e) if retried && refused(&e, &["INVALID_STATE"]) => Decision::Settled,
                other => return Err(format!("finishing recharge {recharge_id}: {other:?}")),
            },
            (op, other) => return Err(format!("{op:?}: unexpected {other:?}")),
        };
        Ok(decision)
    }

    fn settle_resolution(
        &mut self,
        op: &Op,
        result: Result<Outcome, Box<LedgerError>>,
        retried: bool,
        stale: bool,
        now_ms: i64,
    ) -> Result<Decision, String> {
        let Op::Resolve { reservation_id, settle_micros } = op else { unreachable!("only resolutions") };
        let reservation = self.open.iter().find(|r| &r.reservation_id == reservation_id).cloned();
        let reservation = reservation.ok_or_else(|| format!("resolving unknown reservation {reservation_id}"))?;
        let expired = reservation.expires_ms <= now_ms;
        let applied = match result {
            Ok(Outcome::Resolved) if expired => return Err(format!("expired reservation {reservation_id} resolved")),
            Ok(Outcome::Resolved) => true,
            Err(e) if e.code() == "INVALID_STATE" && !expired && stale => return Ok(Decision::RetryStale),
            // Settled by an earlier attempt whose acknowledgement was lost.
            Err(e) if e.code() == "INVALID_STATE" && !expired && retried => true,
            Err(e) if e.code() == "INVALID_STATE" && expired => false,
            other => return Err(format!("resolving {reservation_id}: {other:?}")),
        };
        self.open.retain(|r| &r.reservation_id != reservation_id);
        if let (true, Some(micros)) = (applied, settle_micros) {
            self.consumed_micros[reservation.scope] += micros;
            let debit =
                Debit { scope: reservation.scope, key: reservation_id.clone(), micros: *micros, repeatable: false };
            self.debits.push(debit);
            self.fresh_debits += 1;
        }
        Ok(Decision::Settled)
    }

    fn acknowledge_debit(
        &mut self,
        scope: usize,
        key: &str,
        micros: i64,
        taken: i64,
        retried: bool,
        repeatable: bool,
    ) -> Result<(), String> {
        // 0 only when an earlier attempt committed and its acknowledgement was lost.
        if taken != micros && !(taken == 0 && retried) {
            return Err(format!("debit {key} of {micros} micros consumed {taken}"));
        }
        self.consumed_micros[scope] += micros;
        self.debits.push(Debit { scope, key: key.to_string(), micros, repeatable });
        self.fresh_debits += 1;
        Ok(())
    }

    fn acknowledge_grant(&mut self, scope: usize, key: &str, grant_id: String, micros: i64) -> Result<(), String> {
        if let Some(known) = self.grants.iter().find(|g| g.key == key) {
            if known.grant_id != grant_id {
                return Err(format!("grant key {key} answered {grant_id}, earlier {}", known.grant_id));
            }
            return Ok(());
        }
        self.grants.push(KnownGrant { scope, key: key.to_string(), grant_id, micros, settled: false });
        Ok(())
    }

    fn move_subscription(&mut self, to: usize) {
        let from = 3 - to;
        self.subscription[to] = self.subscription[from].take();
    }

    /// Every invariant, read through `auditor` (a fresh instance, faults off).
    /// `safe_pools`: pools whose every operation this round could only keep
    /// the available balance from going negative (requireBalance debits,
    /// reservations, resolutions, grants): if it was ≥ 0, it still is.
    pub fn check(&mut self, auditor: &SimLedger, safe_pools: [bool; 3], now_ms: i64) -> Result<(), String> {
        self.rounds += 1;
        let full = self.rounds % FULL_CHECK_EVERY_ROUNDS == 0;
        for (scope, safe) in safe_pools.into_iter().enumerate() {
            self.read_ledger(auditor, scope, full)?;
            let available = self.check_pool(auditor, scope, full, now_ms)?;
            if safe && self.available_micros[scope] >= 0 && available < 0 {
                return Err(format!(
                    "scope {scope}: requireBalance debits and reservations took the available balance to {available} micros"
                ));
            }
            self.available_micros[scope] = available;
        }
        self.check_recharges(auditor, now_ms)?;
        self.fresh_debits = 0;
        Ok(())
    }

    /// Reads the rows past those already known and adds them to the scope's
    /// tally. At a full check, re-reads every row: the known ones must be
    /// unchanged (append-only), and a tally rebuilt from scratch must equal
    /// the incremental one.
    fn read_ledger(&mut self, auditor: &SimLedger, scope: usize, full: bool) -> Result<(), String> {
        let known = if full { 0 } else { self.committed[scope].len() };
        let mut fresh = Vec::new();
        let mut cursor: Option<String> = (known > 0).then(|| format!("e{known}"));
        for _page in 0..100_000 {
            let query = json!({ "customerId": CUSTOMER, "resourceId": RESOURCES[scope], "order": "ASC", "limit": 1000,
                "cursor": cursor });
            let page = block(auditor.get_credit_ledger(crate::ops::input(query)))?;
            fresh.extend(page.events);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if full {
            let previous = &self.committed[scope];
            if fresh.len() < previous.len() || fresh[..previous.len()] != previous[..] {
                return Err(format!("scope {scope}: a committed ledger row changed or disappeared"));
            }
            let mut rebuilt = Tally::default();
            rebuilt.add(&fresh, scope, &mut self.grant_scope)?;
            let mut incremental = std::mem::take(&mut self.tallies[scope]);
            incremental.add(&fresh[previous.len()..], scope, &mut self.grant_scope)?;
            if rebuilt != incremental {
                return Err(format!(
                    "scope {scope}: the ledger re-read from the start differs from the rows read so far"
                ));
            }
            self.tallies[scope] = rebuilt;
            self.committed[scope] = fresh;
            return Ok(());
        }
        self.tallies[scope].add(&fresh, scope, &mut self.grant_scope)?;
        self.committed[scope].extend(fresh);
        Ok(())
    }

    /// The pool's invariants; returns its available balance.
    fn check_pool(&mut self, auditor: &SimLedger, scope: usize, full: bool, now_ms: i64) -> Result<i64, String> {
        let balance = balance_of(auditor, scope)?;
        let tally = &self.tallies[scope];
        let who = RESOURCES[scope].unwrap_or("(global)");
        if tally.sum_micros != micros(balance.current_balance) {
            return Err(format!(
                "{who}: ledger sums to {} micros, balance is {}",
                tally.sum_micros, balance.current_balance
            ));
        }
        let identity = balance.total_granted - balance.total_consumed - balance.total_expired - balance.total_voided;
        if micros(identity) != micros(balance.current_balance) {
            return Err(format!(
                "{who}: granted − consumed − expired − voided = {identity}, balance is {}",
                balance.current_balance
            ));
        }
        if tally.consumed_micros != self.consumed_micros[scope] {
            return Err(format!(
                "{who}: ledger consumed {} micros, acknowledged debits {}",
                tally.consumed_micros, self.consumed_micros[scope]
            ));
        }
        // Each key consumed exactly its debit: the round's new ones, every one at a full check.
        let checked = if full { self.debits.len() } else { self.fresh_debits };
        for debit in self.debits.iter().rev().take(checked).filter(|d| d.scope == scope) {
            let seen = tally.consumed_by_key.get(debit.key.as_str()).copied().unwrap_or(0);
            if seen != debit.micros {
                return Err(format!("{who}: key {} consumed {seen} micros, its debit was {}", debit.key, debit.micros));
            }
        }
        // Each acknowledged keyed grant was granted exactly once, in its own pool, for its amount.
        for grant in self.grants.iter().filter(|g| g.scope == scope) {
            let (count, amount) = tally.granted_by_grant.get(grant.grant_id.as_str()).copied().unwrap_or((0, 0));
            if count != 1 || amount != grant.micros {
                return Err(format!(
                    "{who}: grant {} ({}) granted {count} times, {amount} micros",
                    grant.key, grant.grant_id
                ));
            }
        }
        let held: i64 = self.open.iter().filter(|r| r.scope == scope && r.expires_ms > now_ms).map(|r| r.micros).sum();
        if micros(balance.reserved_amount) != held {
            return Err(format!("{who}: {} reserved, open reservations hold {held} micros", balance.reserved_amount));
        }
        if micros(balance.available_balance) != micros(balance.current_balance) - held {
            return Err(format!("{who}: available {} is not balance less reservations", balance.available_balance));
        }
        Ok(micros(balance.available_balance))
    }

    /// At most one recharge awaits payment per pool, and the month's recharges
    /// (pending or paid) never exceed what the account counts, nor the cap.
    fn check_recharges(&self, auditor: &SimLedger, now_ms: i64) -> Result<(), String> {
        let config = block(auditor.get_automatic_recharge_configuration(crate::ops::input(
            json!({ "customerId": CUSTOMER, "currencyId": CURRENCY }),
        )))?;
        let spend = micros(config.current_monthly_spend);
        if spend > RECHARGE_CAP_MICROS {
            return Err(format!("the month's recharge spend {spend} exceeds the cap {RECHARGE_CAP_MICROS}"));
        }
        let month = &credit_pools::core::time::format_iso(now_ms)[..7];
        let mut this_month = 0;
        for (scope, grants) in self.recharge_grants(auditor)?.iter().enumerate() {
            let pending = grants.iter().filter(|g| g.status == GrantStatus::PaymentPending).count();
            if pending > 1 {
                return Err(format!("scope {scope}: {pending} recharges await payment at once"));
            }
            this_month += grants
                .iter()
                .filter(|g| g.status != GrantStatus::Voided && g.created_at.starts_with(month))
                .map(|g| micros(g.amount))
                .sum::<i64>();
        }
        if this_month > spend {
            return Err(format!("recharges of {this_month} micros this month, the account counts {spend}"));
        }
        Ok(())
    }

    /// Every scope's recharge grants still in its head.
    pub fn recharge_grants(
        &self,
        auditor: &SimLedger,
    ) -> Result<Vec<Vec<credit_pools::core::api::GrantOutput>>, String> {
        let mut all = Vec::new();
        for resource in RESOURCES {
            let query = json!({ "customerId": CUSTOMER, "resourceId": resource, "limit": 1000 });
            let page = block(auditor.get_credit_grants(crate::ops::input(query)))?;
            let recharges = page
                .grants
                .into_iter()
                .filter(|g| g.automatic_recharge_configuration_id.is_some() && g.grant_type == GrantType::Paid)
                .collect();
            all.push(recharges);
        }
        Ok(all)
    }
}

fn balance_of(auditor: &SimLedger, scope: usize) -> Result<credit_pools::core::api::CreditBalanceOutput, String> {
    let query = json!({ "customerId": CUSTOMER, "resourceId": RESOURCES[scope], "currencyId": CURRENCY });
    block(auditor.get_credit_balance(crate::ops::input(query)))
}

/// Runs an audit read; its futures never wait (faults are off).
fn block<T>(future: impl std::future::Future<Output = Result<T, Box<LedgerError>>>) -> Result<T, String> {
    credit_pools::block_on(future).map_err(|e| format!("audit read failed: {} {e}", e.code()))
}
