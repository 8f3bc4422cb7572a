//! The scope head: the commit record of one `(customer, resource)` scope.
//!
//! It holds the scope's subscription and one pool per currency. Writing it is
//! the single write that commits an operation; ledger pages and idempotency
//! records written before it are unreachable until it names them.

use crate::prelude::*;
use alloc::rc::Rc;

use super::catalog::PlanCredit;
use super::decode::{self, At, Decoded, Fields};
use super::encoded::{write_list, Encoded};
use super::error::{LedgerError, LedgerResult};
use super::idempotency::{KeyEntry, IDEMPOTENCY_RECENT_MAX};
use super::json::{self, Json, ObjectWriter};
use super::keys::Scope;
use super::ledger_event::EventRecord;
use super::limits::{
    AMOUNT_MICROS_MAX, CURRENCIES_MAX, LEDGER_PAGE_EVENTS, LEDGER_TAIL_EVENTS_MAX, PLAN_ENTRIES_MAX,
    RECURRING_PERIODS_PER_ADVANCE_MAX, TIME_MS_MAX,
};
use super::pool::{Grant, GrantIds, GrantStatus, GrantType, Pool};
use super::time::{add_months, UnixMs};

/// 3: hand-written JSON with short field names (see `ScopeHead::encode`).
/// 2: the newest ledger events live in the head's `tail`; pages are written once, full.
pub const HEAD_SCHEMA: u32 = 3;

/// Periods elapsed are capped when searching for the current one (10,000 years of months).
const PERIODS_MAX: i64 = 120_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub id: String,
    pub plan_id: String,
    pub start_ms: UnixMs,
    pub created_at_ms: UnixMs,
    /// The plan's recurring credits as they were when provisioned.
    pub credits: Vec<PlanCredit>,
    /// Per entry of `credits`: the last period index granted, or -1 for none.
    pub periods_granted: Vec<i64>,
    /// Set while (and after) the subscription moves to another resource: from
    /// then on it issues and prices nothing here (see `transfer_subscription`).
    pub transferred_to: Option<String>,
}

impl SubscriptionState {
    /// `{"i","p":plan,"s":start,"t":created,"cr":[credits],"pg":[periods],"x"?:transferred_to}`.
    fn write(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("i", &self.id).str("p", &self.plan_id).int("s", self.start_ms).int("t", self.created_at_ms);
        o.list("cr", &self.credits, PlanCredit::write);
        o.list("pg", &self.periods_granted, |period, out| json::write_i64(out, *period));
        o.some_str("x", self.transferred_to.as_deref());
        o.finish();
    }

    fn read(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            id: f.string("i"),
            plan_id: f.string("p"),
            start_ms: f.integer("s"),
            created_at_ms: f.integer("t"),
            credits: f.req("cr", |v, p| decode::list(v, p, PlanCredit::read)),
            periods_granted: f.req("pg", |v, p| decode::list(v, p, decode::integer)),
            transferred_to: f.opt_string("x"),
        })
    }

    pub fn status(&self, now: UnixMs) -> &'static str {
        if now < self.start_ms {
            "NOT_STARTED"
        } else {
            "ACTIVE"
        }
    }

    /// The index of the period containing `now` for a cadence of `months`, or
    /// `None` before the start. Period k spans [start + k·months, start + (k+1)·months).
    pub fn period_index(&self, months: i64, now: UnixMs) -> Option<i64> {
        if now < self.start_ms {
            return None;
        }
        // A month is at least 28 days: this estimate is never below the answer.
        let mut index = ((now - self.start_ms) / (28 * 86_400_000) / months).min(PERIODS_MAX);
        while index > 0 && add_months(self.start_ms, index * months) > now {
            index -= 1;
        }
        Some(index)
    }

    /// The plan credit entry for `currency_id` and the end of its current
    /// period (`None` before the subscription starts).
    pub fn credit_for(&self, currency_id: &str, now: UnixMs) -> Option<(PlanCredit, Option<UnixMs>)> {
        let credit = self.credits.iter().find(|c| c.currency_id == currency_id)?;
        let months = credit.cadence.months();
        let end = self.period_index(months, now).map(|index| self.period_bounds(months, index).1);
        Some((credit.clone(), end))
    }

    pub fn period_bounds(&self, months: i64, index: i64) -> (UnixMs, UnixMs) {
        (add_months(self.start_ms, index * months), add_months(self.start_ms, (index + 1) * months))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeHead {
    pub schema: u32,
    pub customer_id: String,
    pub resource_id: Option<String>,
    /// Commits so far; each write of the head increments it.
    pub version: u64,
    /// Ledger events committed so far (sequence numbers `0..event_count`).
    pub event_count: u64,
    /// Next grant creation sequence number.
    pub grant_seq: u64,
    pub updated_at_ms: UnixMs,
    pub subscription: Option<SubscriptionState>,
    pub pools: Vec<Pool>,
    /// The newest idempotency keys, committed with the head (see `idempotency.rs`).
    pub recent_keys: Vec<Rc<Encoded<KeyEntry>>>,
    /// The newest committed ledger events, not yet in a page: sequence numbers
    /// `paged_count() .. event_count`. The next write moves every full page of
    /// them into its own record, so appending never reads or rewrites a page.
    pub tail: Vec<Rc<Encoded<EventRecord>>>,
}

impl ScopeHead {
    pub fn empty(scope: &Scope) -> Self {
        Self {
            schema: HEAD_SCHEMA,
            customer_id: scope.customer_id.clone(),
            resource_id: scope.resource_id.clone(),
            version: 0,
            event_count: 0,
            grant_seq: 0,
            updated_at_ms: 0,
            subscription: None,
            pools: Vec::new(),
            recent_keys: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// Events stored in pages (the rest are in `tail`); a multiple of the page size.
    pub fn paged_count(&self) -> u64 {
        self.event_count - self.tail.len() as u64
    }

    /// Decodes and checks a stored head: schema, owner and every pool invariant,
    /// so a truncated, foreign or hand-edited value is reported, never trusted.
    pub fn decode(key: &str, scope: &Scope, text: &str) -> LedgerResult<Self> {
        let value = json::parse(text).map_err(|reason| LedgerError::corrupt(key, reason))?;
        let head = Self::read(&value).map_err(|error| error.corrupt(key))?;
        if head.schema != HEAD_SCHEMA {
            return Err(LedgerError::corrupt(key, format!("head schema {} is not {HEAD_SCHEMA}", head.schema)));
        }
        if head.customer_id != scope.customer_id || head.resource_id != scope.resource_id {
            return Err(LedgerError::corrupt(key, "the head belongs to another customer or resource"));
        }
        if head.pools.len() > CURRENCIES_MAX {
            return Err(LedgerError::corrupt(key, "too many pools"));
        }
        for pool in &head.pools {
            pool.check_invariants().map_err(|reason| LedgerError::corrupt(key, reason))?;
        }
        if head.recent_keys.len() > IDEMPOTENCY_RECENT_MAX {
            return Err(LedgerError::corrupt(key, "too many recent idempotency keys"));
        }
        // Far beyond any real ledger, and far from overflowing the sequence arithmetic.
        if head.event_count > 1 << 48 || head.grant_seq > 1 << 48 {
            return Err(LedgerError::corrupt(key, "event or grant counter out of range"));
        }
        let tail_fits = head.tail.len() <= LEDGER_TAIL_EVENTS_MAX && head.tail.len() as u64 <= head.event_count;
        if !tail_fits || head.paged_count() % LEDGER_PAGE_EVENTS != 0 {
            return Err(LedgerError::corrupt(key, "the ledger tail does not fit its event count"));
        }
        if let Some(subscription) = &head.subscription {
            if subscription.credits.len() != subscription.periods_granted.len()
                || subscription.credits.len() > PLAN_ENTRIES_MAX
            {
                return Err(LedgerError::corrupt(key, "subscription credits and periods differ in length"));
            }
            let instants_ok =
                [subscription.start_ms, subscription.created_at_ms].iter().all(|t| (0..=TIME_MS_MAX).contains(t));
            let periods_ok = subscription.periods_granted.iter().all(|p| (-1..=PERIODS_MAX).contains(p));
            let credits_ok = subscription.credits.iter().all(|c| (1..=AMOUNT_MICROS_MAX).contains(&c.amount_micros));
            if !instants_ok || !periods_ok || !credits_ok {
                return Err(LedgerError::corrupt(key, "subscription fields out of range"));
            }
        }
        Ok(head)
    }

    /// `{"v":schema,"c":customer,"r"?:resource,"n":version,"e":event_count,"g":grant_seq,
    /// "u":updated_at,"s"?:subscription,"p":[pools],"k"?:[recent keys],"t"?:[tail events]}`.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(1024 + 110 * self.tail.len());
        let mut o = ObjectWriter::new(&mut out);
        o.int("v", i64::from(self.schema)).str("c", &self.customer_id).some_str("r", self.resource_id.as_deref());
        o.int("n", self.version as i64).int("e", self.event_count as i64).int("g", self.grant_seq as i64);
        o.int("u", self.updated_at_ms);
        if let Some(subscription) = &self.subscription {
            subscription.write(o.key("s"));
        }
        o.list("p", &self.pools, Pool::write);
        if !self.recent_keys.is_empty() {
            write_list(o.key("k"), &self.recent_keys);
        }
        if !self.tail.is_empty() {
            write_list(o.key("t"), &self.tail);
        }
        o.finish();
        out
    }

    fn read(value: &Json<'_>) -> Decoded<Self> {
        let f = Fields::of(value, &At::Root("head"));
        f.finish(Self {
            schema: f.unsigned("v") as u32,
            customer_id: f.string("c"),
            resource_id: f.opt_string("r"),
            version: f.unsigned("n"),
            event_count: f.unsigned("e"),
            grant_seq: f.unsigned("g"),
            updated_at_ms: f.integer("u"),
            subscription: f.opt("s", SubscriptionState::read),
            pools: f.req("p", |v, p| decode::list(v, p, Pool::read)),
            recent_keys: f.list_or_empty("k", |v, p| KeyEntry::read(v, p).map(KeyEntry::committed)),
            tail: f.list_or_empty("t", |v, p| EventRecord::read(v, p).map(EventRecord::committed)),
        })
    }

    /// The subscription that issues credits and prices usage in this scope:
    /// none while it is being (or has been) moved to another resource.
    pub fn active_subscription(&self) -> Option<&SubscriptionState> {
        self.subscription.as_ref().filter(|s| s.transferred_to.is_none())
    }

    pub fn pool(&self, currency_id: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.currency_id == currency_id)
    }

    pub fn pool_mut(&mut self, currency_id: &str) -> LedgerResult<&mut Pool> {
        let index = match self.pools.iter().position(|p| p.currency_id == currency_id) {
            Some(index) => index,
            None => {
                if self.pools.len() >= CURRENCIES_MAX {
                    return Err(LedgerError::limit("pools per scope", CURRENCIES_MAX));
                }
                self.pools.push(Pool::new(currency_id));
                self.pools.len() - 1
            }
        };
        Ok(&mut self.pools[index])
    }

    pub fn find_grant(&self, grant_id: &str) -> Option<(&Pool, &Grant)> {
        self.pools.iter().find_map(|pool| pool.grant(grant_id).map(|grant| (pool, grant)))
    }

    /// Brings the scope to `now`: issues the recurring grant of every period that
    /// started since the last write, and activates and expires grants, all in
    /// time order. A pure function of the stored head and `now`: a read that
    /// applies it to a copy shows exactly what the next write will store, so
    /// results never depend on when reads or writes happen.
    ///
    /// Periods that passed with no operation are issued too (each expires at its
    /// end, so nothing rolls over), exactly as a timer firing at every period
    /// start would have done; Stigg issues them on schedule, and a period's
    /// credits settle an overdraft run up before it. At most
    /// `RECURRING_PERIODS_PER_ADVANCE_MAX` periods are issued at once; older
    /// missed periods are skipped.
    pub fn advance_clock(
        &mut self,
        now: UnixMs,
        ids: &mut dyn GrantIds,
        events: &mut Vec<EventRecord>,
    ) -> LedgerResult<()> {
        for (period_start_ms, entry, index) in self.missed_periods(now) {
            self.advance_pools(period_start_ms, events);
            self.issue_recurring(entry, index, ids)?;
        }
        self.advance_pools(now, events);
        Ok(())
    }

    fn advance_pools(&mut self, now: UnixMs, events: &mut Vec<EventRecord>) {
        let keep: Vec<&str> = self.recent_keys.iter().filter_map(|entry| entry.grant_id.as_deref()).collect();
        for pool in &mut self.pools {
            pool.advance_clock(now, events);
            pool.prune_finished(&keep);
        }
    }

    /// Prunes finished grants, keeping those a recent idempotency key names.
    pub fn prune_finished(&mut self) {
        let keep: Vec<&str> = self.recent_keys.iter().filter_map(|entry| entry.grant_id.as_deref()).collect();
        for pool in &mut self.pools {
            pool.prune_finished(&keep);
        }
    }

    /// `(period start, credit entry, period index)` of every period due by `now`
    /// and not issued yet, oldest first.
    fn missed_periods(&self, now: UnixMs) -> Vec<(UnixMs, usize, i64)> {
        let Some(subscription) = self.active_subscription() else {
            return Vec::new();
        };
        let mut due = Vec::new();
        let mut missed = Vec::new();
        for (entry, credit) in subscription.credits.iter().enumerate() {
            let months = credit.cadence.months();
            let Some(current) = subscription.period_index(months, now) else {
                continue;
            };
            // A back-dated start issues no period that ended before provisioning.
            let provisioned_in = subscription.period_index(months, subscription.created_at_ms).unwrap_or(0);
            let newest_kept = current + 1 - RECURRING_PERIODS_PER_ADVANCE_MAX as i64;
            let first = (subscription.periods_granted[entry] + 1).max(provisioned_in).max(newest_kept);
            for index in first..current {
                missed.push((subscription.period_bounds(months, index).0, entry, index));
            }
            if subscription.periods_granted[entry] < current {
                due.push((subscription.period_bounds(months, current).0, entry, current));
            }
        }
        // Every entry's current period is issued; of the periods missed entirely,
        // only the newest fit in the bound (across entries).
        super::order::sort_by(&mut missed, |a, b| a.cmp(b));
        let room = RECURRING_PERIODS_PER_ADVANCE_MAX.saturating_sub(due.len());
        due.extend(missed.split_off(missed.len().saturating_sub(room)));
        super::order::sort_by(&mut due, |a, b| a.cmp(b));
        due
    }

    fn issue_recurring(&mut self, entry: usize, index: i64, ids: &mut dyn GrantIds) -> LedgerResult<()> {
        let subscription =
            self.subscription.as_mut().unwrap_or_else(|| unreachable!("missed periods come from the subscription"));
        assert!(index > subscription.periods_granted[entry]);
        subscription.periods_granted[entry] = index;
        let credit = subscription.credits[entry].clone();
        let (period_start_ms, period_end_ms) = subscription.period_bounds(credit.cadence.months(), index);
        let grant = Grant {
            // Derived, not random: a read that applies the clock to a copy of
            // the head shows the same id the next write will store.
            id: format!("{}-{entry}-{index}", subscription.id),
            seq: ids.next_seq(),
            grant_type: GrantType::Recurring,
            status: GrantStatus::Scheduled,
            amount_micros: credit.amount_micros,
            consumed_micros: 0,
            priority: 0,
            effective_at_ms: period_start_ms,
            expire_at_ms: Some(period_end_ms),
            created_at_ms: period_start_ms.max(subscription.created_at_ms),
            voided_at_ms: None,
            display_name: Some(format!("{} credits", subscription.plan_id)),
            comment: None,
            metadata: None,
            subscription_id: Some(subscription.id.clone()),
            recharge_config_id: None,
        };
        self.pool_mut(&credit.currency_id)?.add_grant(grant)
    }
}
