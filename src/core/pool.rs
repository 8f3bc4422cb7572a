//! A credit pool: the grants of one `(customer, resource, currency)` and the
//! rules that move credit through them: burn order, overdraft and its
//! settlement, and the lazy clock (activation of scheduled grants, expiry).
//!
//! Everything here is pure: functions take `now` and an id source and append
//! ledger event records; the caller persists them.

use super::sorted_map::SortedMap;
use crate::prelude::*;
use core::cmp::Ordering;

use super::decode::{self, At, Decoded, Fields};
use super::error::{LedgerError, LedgerResult};
use super::idempotency::IDEMPOTENCY_RECENT_MAX;
use super::json::{Json, ObjectWriter};
use super::ledger_event::{EventKind, EventRecord};
use super::limits::{
    AMOUNT_MICROS_MAX, GRANTS_FINISHED_PER_POOL_MAX, GRANTS_LIVE_PER_POOL_MAX, ID_BYTES_MAX, RESERVATIONS_PER_POOL_MAX,
    TIME_MS_MAX, TOTAL_MICROS_MAX,
};
use super::time::UnixMs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    Paid,
    Promotional,
    Recurring,
    Overdraft,
}

impl GrantType {
    pub const NAMED: [(&'static str, GrantType); 4] = [
        ("PAID", GrantType::Paid),
        ("PROMOTIONAL", GrantType::Promotional),
        ("RECURRING", GrantType::Recurring),
        ("OVERDRAFT", GrantType::Overdraft),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMED[self as usize].0
    }

    /// Category rank in the burn order: free credits before paid ones when
    /// priority and expiry tie. Recurring plan credits reset each period, so
    /// they count as free (use them before credits the customer paid for).
    fn burn_rank(self) -> u8 {
        match self {
            GrantType::Promotional | GrantType::Recurring => 0,
            GrantType::Paid => 1,
            GrantType::Overdraft => 2,
        }
    }
}

/// Where a grant stands as of the pool's last applied instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    Scheduled,
    /// An automatic recharge waiting for the host to confirm its payment.
    PaymentPending,
    Active,
    Expired,
    Voided,
}

impl GrantStatus {
    pub const NAMED: [(&'static str, GrantStatus); 5] = [
        ("SCHEDULED", GrantStatus::Scheduled),
        ("PAYMENT_PENDING", GrantStatus::PaymentPending),
        ("ACTIVE", GrantStatus::Active),
        ("EXPIRED", GrantStatus::Expired),
        ("VOIDED", GrantStatus::Voided),
    ];

    /// The name callers see (`"VOIDED"`).
    pub fn name(self) -> &'static str {
        match self {
            GrantStatus::Scheduled => "SCHEDULED",
            GrantStatus::PaymentPending => "PAYMENT_PENDING",
            GrantStatus::Active => "ACTIVE",
            GrantStatus::Expired => "EXPIRED",
            GrantStatus::Voided => "VOIDED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    /// Creation order within the scope; the burn order's last tiebreak before the id.
    pub seq: u64,
    pub grant_type: GrantType,
    pub status: GrantStatus,
    pub amount_micros: i64,
    pub consumed_micros: i64,
    pub priority: u32,
    pub effective_at_ms: UnixMs,
    pub expire_at_ms: Option<UnixMs>,
    pub created_at_ms: UnixMs,
    pub voided_at_ms: Option<UnixMs>,
    pub display_name: Option<String>,
    pub comment: Option<String>,
    pub metadata: Option<SortedMap<String>>,
    pub subscription_id: Option<String>,
    /// Set on grants created by automatic recharge.
    pub recharge_config_id: Option<String>,
}

impl Grant {
    pub fn remaining_micros(&self) -> i64 {
        self.amount_micros - self.consumed_micros
    }

    /// Still able to pay, now or later.
    fn is_live(&self) -> bool {
        match self.status {
            GrantStatus::Scheduled | GrantStatus::PaymentPending => true,
            GrantStatus::Active => self.grant_type == GrantType::Overdraft || self.remaining_micros() > 0,
            GrantStatus::Expired | GrantStatus::Voided => false,
        }
    }

    /// The burn order: priority ascending, then expiry ascending (never-expiring
    /// last), then promotional before paid, then effective time, creation time,
    /// creation sequence, id. The id makes it a total order.
    pub fn burn_order(&self, other: &Grant) -> Ordering {
        let expiry = |grant: &Grant| grant.expire_at_ms.unwrap_or(UnixMs::MAX);
        self.priority
            .cmp(&other.priority)
            .then(expiry(self).cmp(&expiry(other)))
            .then(self.grant_type.burn_rank().cmp(&other.grant_type.burn_rank()))
            .then(self.effective_at_ms.cmp(&other.effective_at_ms))
            .then(self.created_at_ms.cmp(&other.created_at_ms))
            .then(self.seq.cmp(&other.seq))
            .then(self.id.cmp(&other.id))
    }
}

/// One `(customer, resource, currency)` pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub currency_id: String,
    /// Lifetime totals. `granted − consumed − expired − voided` is the balance,
    /// which also equals the sum of the remainders of the active grants.
    pub granted_micros: i64,
    pub consumed_micros: i64,
    pub expired_micros: i64,
    pub voided_micros: i64,
    pub grants: Vec<Grant>,
    /// Low-balance alert bookkeeping (see `events.rs`).
    pub alerts: AlertState,
    /// Open reservations: credit set aside, not yet consumed.
    pub reservations: Vec<Reservation>,
}

/// Credit held for a caller until it settles, releases, or `expires_at_ms` passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: String,
    pub amount_micros: i64,
    pub expires_at_ms: UnixMs,
    pub created_at_ms: UnixMs,
}

/// What the low-balance alerts of the current period have seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertState {
    pub period_start_ms: UnixMs,
    /// Credits granted (activated) in the period.
    pub granted_micros: i64,
    /// One bit per threshold already fired this period.
    pub fired: u8,
}

impl AlertState {
    fn is_unset(&self) -> bool {
        *self == AlertState::default()
    }
}

// ----- Stored form -----------------------------------------------------------
//
// Grant: {"i","q":seq,"y":type,"s":status,"a","u":consumed,"p":priority,"e":effective,"x"?:expire,
//         "t":created,"vd"?,"dn"?,"cm"?,"md"?,"sb"?,"rc"?}; types and statuses as indexes.
// Pool: {"c","g","u","x","v":totals,"gr":[grants],"al"?:{"p","g","f"},"rs"?:[{"i","a","x","t"}]}

impl Grant {
    pub fn write(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("i", &self.id).int("q", self.seq as i64).int("y", self.grant_type as i64);
        o.int("s", self.status as i64).int("a", self.amount_micros).int("u", self.consumed_micros);
        o.int("p", i64::from(self.priority)).int("e", self.effective_at_ms).some_int("x", self.expire_at_ms);
        o.int("t", self.created_at_ms).some_int("vd", self.voided_at_ms);
        o.some_str("dn", self.display_name.as_deref()).some_str("cm", self.comment.as_deref());
        if let Some(metadata) = &self.metadata {
            super::api::write_string_map(o.key("md"), metadata);
        }
        o.some_str("sb", self.subscription_id.as_deref()).some_str("rc", self.recharge_config_id.as_deref());
        o.finish();
    }

    pub fn read(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let index = |name: &str, len: usize| -> usize {
            let at = f.unsigned(name) as usize;
            if at >= len {
                f.fail(decode::DecodeError::new(&f.path_of(name), "is out of range"));
                return 0;
            }
            at
        };
        let priority = u32::try_from(f.unsigned("p")).unwrap_or_else(|_| {
            f.fail(decode::DecodeError::new(&f.path_of("p"), "is out of range"));
            0
        });
        let grant = Self {
            id: f.string("i"),
            seq: f.unsigned("q"),
            grant_type: GrantType::NAMED[index("y", GrantType::NAMED.len())].1,
            status: GrantStatus::NAMED[index("s", GrantStatus::NAMED.len())].1,
            amount_micros: f.integer("a"),
            consumed_micros: f.integer("u"),
            priority,
            effective_at_ms: f.integer("e"),
            expire_at_ms: f.opt_integer("x"),
            created_at_ms: f.integer("t"),
            voided_at_ms: f.opt_integer("vd"),
            display_name: f.opt_string("dn"),
            comment: f.opt_string("cm"),
            metadata: f.opt("md", decode::string_map),
            subscription_id: f.opt_string("sb"),
            recharge_config_id: f.opt_string("rc"),
        };
        f.finish(grant)
    }
}

impl Pool {
    pub fn write(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("c", &self.currency_id).int("g", self.granted_micros).int("u", self.consumed_micros);
        o.int("x", self.expired_micros).int("v", self.voided_micros);
        o.list("gr", &self.grants, Grant::write);
        if !self.alerts.is_unset() {
            let mut a = ObjectWriter::new(o.key("al"));
            a.int("p", self.alerts.period_start_ms).int("g", self.alerts.granted_micros);
            a.int("f", i64::from(self.alerts.fired));
            a.finish();
        }
        if !self.reservations.is_empty() {
            o.list("rs", &self.reservations, |r, out| {
                let mut w = ObjectWriter::new(out);
                w.str("i", &r.id).int("a", r.amount_micros).int("x", r.expires_at_ms).int("t", r.created_at_ms);
                w.finish();
            });
        }
        o.finish();
    }

    pub fn read(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let alerts = f
            .opt("al", |value, path| {
                let a = Fields::of(value, path);
                let fired = u8::try_from(a.unsigned("f")).unwrap_or_else(|_| {
                    a.fail(decode::DecodeError::new(&a.path_of("f"), "is out of range"));
                    0
                });
                let alerts = AlertState { period_start_ms: a.integer("p"), granted_micros: a.integer("g"), fired };
                a.finish(alerts)
            })
            .unwrap_or_default();
        let reservations = f.list_or_empty("rs", |value, path| {
            let r = Fields::of(value, path);
            let reservation = Reservation {
                id: r.string("i"),
                amount_micros: r.integer("a"),
                expires_at_ms: r.integer("x"),
                created_at_ms: r.integer("t"),
            };
            r.finish(reservation)
        });
        let pool = Self {
            currency_id: f.string("c"),
            granted_micros: f.integer("g"),
            consumed_micros: f.integer("u"),
            expired_micros: f.integer("x"),
            voided_micros: f.integer("v"),
            grants: f.req("gr", |v, p| decode::list(v, p, Grant::read)),
            alerts,
            reservations,
        };
        f.finish(pool)
    }
}

/// What the pool-level rules need from the caller: the clock and fresh ids.
pub trait GrantIds {
    fn next_grant_id(&mut self) -> String;
    fn next_seq(&mut self) -> u64;
}

impl Pool {
    pub fn new(currency_id: &str) -> Self {
        Self {
            currency_id: currency_id.to_string(),
            granted_micros: 0,
            consumed_micros: 0,
            expired_micros: 0,
            voided_micros: 0,
            grants: Vec::new(),
            alerts: AlertState::default(),
            reservations: Vec::new(),
        }
    }

    pub fn balance_micros(&self) -> i64 {
        self.granted_micros - self.consumed_micros - self.expired_micros - self.voided_micros
    }

    /// Credit held by open reservations.
    pub fn reserved_micros(&self) -> i64 {
        self.reservations.iter().map(|r| r.amount_micros).sum()
    }

    /// What a new reservation or a `requireBalance` debit may take: the balance
    /// less what open reservations hold.
    pub fn available_micros(&self) -> i64 {
        self.balance_micros() - self.reserved_micros()
    }

    /// Holds `amount_micros` until `expires_at_ms`; refuses when the available
    /// balance does not cover it, so reservations never promise more than exists.
    pub fn reserve(&mut self, reservation: Reservation) -> LedgerResult<()> {
        assert!(reservation.amount_micros > 0);
        if self.reservations.len() >= RESERVATIONS_PER_POOL_MAX {
            return Err(LedgerError::limit(
                format!("open reservations in pool \"{}\"", self.currency_id),
                RESERVATIONS_PER_POOL_MAX,
            ));
        }
        self.require_available(reservation.amount_micros)?;
        self.reservations.push(reservation);
        Ok(())
    }

    /// `INSUFFICIENT_CREDITS` unless the available balance covers `amount_micros`.
    pub fn require_available(&self, amount_micros: i64) -> LedgerResult<()> {
        let available_micros = self.available_micros();
        if available_micros < amount_micros {
            return Err(Box::new(LedgerError::InsufficientCredits {
                currency_id: self.currency_id.clone(),
                available_micros,
                requested_micros: amount_micros,
            }));
        }
        Ok(())
    }

    /// Closes an open reservation and returns what it held.
    pub fn take_reservation(&mut self, reservation_id: &str) -> Option<Reservation> {
        let index = self.reservations.iter().position(|r| r.id == reservation_id)?;
        Some(self.reservations.remove(index))
    }

    /// The pool's conservation law and the shape of every grant; checked after
    /// every change and on load, so a hand-edited or foreign value is reported
    /// (`CORRUPT_STATE`) before any rule can trip over it.
    pub fn check_invariants(&self) -> Result<(), String> {
        let totals = [self.granted_micros, self.consumed_micros, self.expired_micros, self.voided_micros];
        if totals.iter().any(|t| !(0..=TOTAL_MICROS_MAX).contains(t)) {
            return Err(format!("pool \"{}\": a total is outside 0..=2^53", self.currency_id));
        }
        if self.grants.len() > GRANTS_LIVE_PER_POOL_MAX + GRANTS_FINISHED_PER_POOL_MAX + IDEMPOTENCY_RECENT_MAX {
            return Err(format!("pool \"{}\": {} grants", self.currency_id, self.grants.len()));
        }
        for grant in &self.grants {
            check_grant_shape(grant)?;
        }
        let reservations_ok = self.reservations.len() <= RESERVATIONS_PER_POOL_MAX
            && self.reservations.iter().all(|r| (1..=AMOUNT_MICROS_MAX).contains(&r.amount_micros) && !r.id.is_empty());
        if !reservations_ok {
            return Err(format!("pool \"{}\": reservations out of range", self.currency_id));
        }
        // Bounded above, so this sum cannot overflow.
        let active_sum: i64 =
            self.grants.iter().filter(|g| g.status == GrantStatus::Active).map(Grant::remaining_micros).sum();
        // Pruned grants are finished: their remainder is 0 by construction.
        if active_sum != self.balance_micros() {
            return Err(format!(
                "pool \"{}\": balance {} != sum of active remainders {}",
                self.currency_id,
                self.balance_micros(),
                active_sum
            ));
        }
        let overdrafts = self
            .grants
            .iter()
            .filter(|g| g.grant_type == GrantType::Overdraft && g.status == GrantStatus::Active)
            .count();
        if overdrafts > 1 {
            return Err(format!("pool \"{}\": {overdrafts} active overdraft grants", self.currency_id));
        }
        Ok(())
    }

    pub fn live_grant_count(&self) -> usize {
        self.grants.iter().filter(|g| g.is_live()).count()
    }

    /// Adds a grant as scheduled. It becomes active (and settles an overdraft)
    /// when `advance_clock` reaches its `effective_at_ms`, which the caller runs
    /// next, so every transition is applied in time order. Fields are validated.
    pub fn add_grant(&mut self, mut grant: Grant) -> LedgerResult<()> {
        assert!(grant.consumed_micros == 0 && grant.amount_micros > 0);
        assert!(grant.expire_at_ms.is_none_or(|expire| expire > grant.effective_at_ms));
        if self.live_grant_count() >= GRANTS_LIVE_PER_POOL_MAX {
            return Err(LedgerError::limit(
                format!("live grants in pool \"{}\"", self.currency_id),
                GRANTS_LIVE_PER_POOL_MAX,
            ));
        }
        let waiting_micros: i64 = self
            .grants
            .iter()
            .filter(|g| matches!(g.status, GrantStatus::Scheduled | GrantStatus::PaymentPending))
            .map(|g| g.amount_micros)
            .sum();
        check_total(self.granted_micros + waiting_micros + grant.amount_micros, "totalGranted")?;
        if grant.status != GrantStatus::PaymentPending {
            grant.status = GrantStatus::Scheduled;
        }
        self.grants.push(grant);
        Ok(())
    }

    /// The pool's recharge awaiting payment, if any: while it exists no other
    /// recharge starts, so one threshold crossing buys credits once.
    pub fn pending_recharge(&self) -> Option<&Grant> {
        self.grants.iter().find(|g| g.status == GrantStatus::PaymentPending)
    }

    /// Payment confirmed: the grant becomes effective now (the caller's next
    /// `advance_clock` activates it and settles any overdraft) and expires at
    /// `expire_at_ms`. Confirming an active grant again changes nothing.
    pub fn confirm_payment(&mut self, grant_id: &str, now: UnixMs, expire_at_ms: UnixMs) -> LedgerResult<()> {
        let index = self.grant_index(grant_id);
        let grant = &mut self.grants[index];
        match grant.status {
            GrantStatus::PaymentPending => {
                grant.status = GrantStatus::Scheduled;
                grant.effective_at_ms = now;
                grant.expire_at_ms = Some(expire_at_ms.max(now + 1));
                Ok(())
            }
            GrantStatus::Active | GrantStatus::Expired => Ok(()),
            status => Err(Box::new(LedgerError::InvalidState {
                what: format!("recharge \"{grant_id}\" is {}, not PAYMENT_PENDING", status.name()),
            })),
        }
    }

    pub fn grant(&self, grant_id: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.id == grant_id)
    }

    fn grant_index(&self, grant_id: &str) -> usize {
        self.grants
            .iter()
            .position(|g| g.id == grant_id)
            .unwrap_or_else(|| unreachable!("grant ids passed internally exist"))
    }

    /// Scheduled → active at `at_ms`: the amount joins the balance and first
    /// pays off an outstanding overdraft (Stigg's settlement rule).
    fn activate(&mut self, grant_id: &str, at_ms: UnixMs, events: &mut Vec<EventRecord>) {
        let index = self.grant_index(grant_id);
        assert!(self.grants[index].status == GrantStatus::Scheduled);
        let grant = &mut self.grants[index];
        grant.status = GrantStatus::Active;
        let amount_micros = grant.amount_micros;
        self.granted_micros += amount_micros;
        let timestamp = at_ms.max(self.grants[index].created_at_ms);
        events.push(EventRecord::new(EventKind::Granted, timestamp, &self.currency_id, amount_micros, grant_id));
        self.settle_overdraft(index, timestamp, events);
    }

    fn settle_overdraft(&mut self, target_index: usize, at_ms: UnixMs, events: &mut Vec<EventRecord>) {
        let Some(source_index) =
            self.grants.iter().position(|g| g.grant_type == GrantType::Overdraft && g.status == GrantStatus::Active)
        else {
            return;
        };
        let moved = self.grants[source_index].consumed_micros.min(self.grants[target_index].remaining_micros());
        if moved <= 0 {
            return;
        }
        self.grants[source_index].consumed_micros -= moved;
        self.grants[target_index].consumed_micros += moved;
        let (source_id, target_id) = (self.grants[source_index].id.clone(), self.grants[target_index].id.clone());
        events.push(EventRecord::new(EventKind::TransferSource, at_ms, &self.currency_id, moved, &source_id));
        events.push(EventRecord::new(EventKind::TransferTarget, at_ms, &self.currency_id, moved, &target_id));
        if self.grants[source_index].consumed_micros == 0 {
            // A fully settled overdraft is voided with nothing left to void.
            let source = &mut self.grants[source_index];
            source.status = GrantStatus::Voided;
            source.voided_at_ms = Some(at_ms);
            events.push(EventRecord::new(EventKind::Voided, at_ms, &self.currency_id, 0, &source_id));
        }
    }

    /// Active → expired at `at_ms`: the unused remainder leaves the pool.
    fn expire(&mut self, grant_id: &str, at_ms: UnixMs, events: &mut Vec<EventRecord>) {
        let index = self.grant_index(grant_id);
        let grant = &mut self.grants[index];
        assert!(grant.status == GrantStatus::Active);
        assert!(grant.grant_type != GrantType::Overdraft);
        let remaining = grant.remaining_micros();
        grant.status = GrantStatus::Expired;
        self.expired_micros += remaining;
        if remaining > 0 {
            events.push(EventRecord::new(EventKind::Expired, at_ms, &self.currency_id, remaining, grant_id));
        }
    }

    /// Applies every activation and expiry due at or before `now`, in time order
    /// (expiries before activations at the same instant). Reads apply it to a
    /// copy, writes persist it, so the outcome never depends on when reads happen.
    pub fn advance_clock(&mut self, now: UnixMs, events: &mut Vec<EventRecord>) {
        // A reservation past its expiry releases itself: it never touched the ledger.
        self.reservations.retain(|r| r.expires_at_ms > now);
        // Each grant transitions at most twice (activate, expire); this bounds the loop.
        let transitions_max = 2 * self.grants.len() + 1;
        for _ in 0..transitions_max {
            let next = self
                .grants
                .iter()
                .filter_map(|g| match g.status {
                    GrantStatus::Scheduled if g.effective_at_ms <= now => Some((g.effective_at_ms, 1u8, g.id.clone())),
                    GrantStatus::Active if g.expire_at_ms.is_some_and(|e| e <= now) => {
                        Some((g.expire_at_ms.unwrap_or(now), 0u8, g.id.clone()))
                    }
                    _ => None,
                })
                .min();
            match next {
                None => return,
                Some((at_ms, 0, grant_id)) => self.expire(&grant_id, at_ms, events),
                Some((at_ms, _, grant_id)) => self.activate(&grant_id, at_ms, events),
            }
        }
        unreachable!("advance_clock exceeded its transition bound");
    }

    /// Voids `grant_id`: the unused remainder of an active grant leaves the pool
    /// (`CREDITS_VOIDED`, even for 0); a scheduled grant is cancelled before it
    /// ever counted. Finished and overdraft grants refuse with `INVALID_STATE`
    /// (Stigg: overdraft grants cannot be voided by hand; settlement voids them).
    pub fn void(&mut self, grant_id: &str, now: UnixMs, events: &mut Vec<EventRecord>) -> LedgerResult<()> {
        let index = self.grant_index(grant_id);
        let grant = &mut self.grants[index];
        if grant.grant_type == GrantType::Overdraft {
            return Err(Box::new(LedgerError::InvalidState {
                what: format!(
                    "grant \"{grant_id}\" is an overdraft grant; it is voided by the next grant that settles it"
                ),
            }));
        }
        match grant.status {
            GrantStatus::Voided | GrantStatus::Expired => {
                return Err(Box::new(LedgerError::InvalidState {
                    what: format!("grant \"{grant_id}\" is already {}", grant.status.name()),
                }));
            }
            GrantStatus::Scheduled | GrantStatus::PaymentPending => {}
            GrantStatus::Active => {
                let remaining = grant.remaining_micros();
                self.voided_micros += remaining;
                events.push(EventRecord::new(EventKind::Voided, now, &self.currency_id, remaining, grant_id));
            }
        }
        let grant = &mut self.grants[index];
        grant.status = GrantStatus::Voided;
        grant.voided_at_ms = Some(now);
        Ok(())
    }

    /// Debits `amount_micros` in burn order; what the active grants cannot cover
    /// lands on the pool's single overdraft grant. Never refuses for lack of credit.
    pub fn consume(
        &mut self,
        amount_micros: i64,
        now: UnixMs,
        ids: &mut dyn GrantIds,
        events: &mut Vec<EventRecord>,
    ) -> LedgerResult<()> {
        assert!(amount_micros > 0);
        check_total(self.consumed_micros + amount_micros, "totalConsumed")?;
        let mut order: Vec<usize> = (0..self.grants.len())
            .filter(|&i| {
                let g = &self.grants[i];
                g.status == GrantStatus::Active && g.grant_type != GrantType::Overdraft && g.remaining_micros() > 0
            })
            .collect();
        super::order::sort_by(&mut order, |&a, &b| self.grants[a].burn_order(&self.grants[b]));
        let mut left = amount_micros;
        for index in order {
            if left == 0 {
                break;
            }
            let take = left.min(self.grants[index].remaining_micros());
            self.grants[index].consumed_micros += take;
            left -= take;
            events.push(EventRecord::new(EventKind::Consumed, now, &self.currency_id, take, &self.grants[index].id));
        }
        if left > 0 {
            let index = self.overdraft_index(now, ids);
            self.grants[index].consumed_micros += left;
            events.push(EventRecord::new(EventKind::Consumed, now, &self.currency_id, left, &self.grants[index].id));
        }
        self.consumed_micros += amount_micros;
        Ok(())
    }

    fn overdraft_index(&mut self, now: UnixMs, ids: &mut dyn GrantIds) -> usize {
        if let Some(index) =
            self.grants.iter().position(|g| g.grant_type == GrantType::Overdraft && g.status == GrantStatus::Active)
        {
            return index;
        }
        self.grants.push(Grant {
            id: ids.next_grant_id(),
            seq: ids.next_seq(),
            grant_type: GrantType::Overdraft,
            status: GrantStatus::Active,
            amount_micros: 0,
            consumed_micros: 0,
            priority: 0,
            effective_at_ms: now,
            expire_at_ms: None,
            created_at_ms: now,
            voided_at_ms: None,
            display_name: Some("Overdraft".to_string()),
            comment: None,
            metadata: None,
            subscription_id: None,
            recharge_config_id: None,
        });
        self.grants.len() - 1
    }

    /// Drops the oldest finished grants beyond `GRANTS_FINISHED_PER_POOL_MAX`.
    /// Their remainders are 0, so totals and the balance are unaffected; their
    /// history stays in the ledger. Grants in `keep` (named by an idempotency
    /// key still in the head's window) stay, so a repeat can answer with them.
    pub fn prune_finished(&mut self, keep: &[&str]) {
        let prunable = |g: &Grant| !g.is_live() && !keep.contains(&g.id.as_str());
        let finished = self.grants.iter().filter(|g| prunable(g)).count();
        let mut excess = finished.saturating_sub(GRANTS_FINISHED_PER_POOL_MAX);
        if excess == 0 {
            return;
        }
        self.grants.retain(|g| {
            if excess > 0 && prunable(g) {
                assert!(g.status != GrantStatus::Active || g.remaining_micros() == 0);
                excess -= 1;
                return false;
            }
            true
        });
    }
}

/// What every stored grant must look like, whatever its status.
fn check_grant_shape(grant: &Grant) -> Result<(), String> {
    let overdraft = grant.grant_type == GrantType::Overdraft;
    let amount_ok =
        if overdraft { grant.amount_micros == 0 } else { (1..=AMOUNT_MICROS_MAX).contains(&grant.amount_micros) };
    let consumed_max = if overdraft { TOTAL_MICROS_MAX } else { grant.amount_micros };
    if !amount_ok || !(0..=consumed_max).contains(&grant.consumed_micros) {
        return Err(format!(
            "grant \"{}\": amount {} or consumed {} out of range",
            grant.id, grant.amount_micros, grant.consumed_micros
        ));
    }
    if overdraft
        && (grant.expire_at_ms.is_some()
            || grant.status == GrantStatus::Scheduled
            || grant.status == GrantStatus::PaymentPending
            || grant.status == GrantStatus::Expired)
    {
        return Err(format!("grant \"{}\": an overdraft grant never expires and is never scheduled", grant.id));
    }
    if grant.expire_at_ms.is_some_and(|expire| expire <= grant.effective_at_ms) {
        return Err(format!("grant \"{}\": expires before it becomes effective", grant.id));
    }
    if matches!(grant.status, GrantStatus::Scheduled | GrantStatus::PaymentPending) && grant.consumed_micros != 0 {
        return Err(format!("grant \"{}\": scheduled but already consumed", grant.id));
    }
    let instants = [Some(grant.effective_at_ms), grant.expire_at_ms, Some(grant.created_at_ms), grant.voided_at_ms];
    if instants.into_iter().flatten().any(|t| !(0..=TIME_MS_MAX).contains(&t)) {
        return Err(format!("grant \"{}\": an instant is outside 1970..=9999", grant.id));
    }
    if grant.id.is_empty() || grant.id.len() > 2 * ID_BYTES_MAX {
        return Err("a grant id is empty or too long".to_string());
    }
    Ok(())
}

fn check_total(total: i64, what: &str) -> LedgerResult<()> {
    if total > TOTAL_MICROS_MAX {
        return Err(LedgerError::limit(format!("pool {what} in micros"), TOTAL_MICROS_MAX as usize));
    }
    Ok(())
}
