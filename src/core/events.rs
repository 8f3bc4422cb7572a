//! Events for the host (Stigg's webhook names), derived from each commit.
//!
//! An operation's events are computed from the head before and after it and
//! from the ledger rows it appended, and are handed to the host only after the
//! head commit succeeded: an event never describes a state that is not in `kv`.
//! Each carries a `messageId` unique to its scope, commit and position, so a
//! webhook receiver can deduplicate.

use super::json::{ObjectWriter, ToJson};
use crate::prelude::*;

use super::amount::micros_to_f64;
use super::idempotency::fingerprint;
use super::keys::Scope;
use super::ledger_event::{EventKind, EventRecord};
use super::pool::{GrantStatus, GrantType, Pool};
use super::scope::ScopeHead;
use super::time::{format_iso, month_start, UnixMs};

/// Low-balance thresholds, as remaining-balance percentages of what the pool
/// was granted this period: an event fires once per period as the balance
/// falls below each.
pub const USAGE_LOW_THRESHOLDS_DEFAULT: [u32; 3] = [80, 50, 20];
pub const USAGE_LOW_THRESHOLDS_MAX: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct HostEvent {
    pub message_id: String,
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub timestamp: String,
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    Granted {
        grant_id: String,
        amount: f64,
    },
    Expired {
        grant_id: String,
        amount: f64,
    },
    Voided {
        grant_id: String,
        amount: f64,
    },
    GrantDepleted {
        grant_id: String,
        amount: f64,
    },
    UsageLow {
        threshold_percentage: u32,
        remaining_balance: f64,
        remaining_balance_percentage: f64,
        granted_this_period: f64,
    },
    BalanceDepleted {
        current_balance: f64,
    },
    RechargeAttempted {
        recharge_id: String,
        configuration_id: String,
        grant_id: String,
        amount: f64,
        /// `PENDING` when the payment is requested, then `SUCCESS` or `FAILED`.
        status: &'static str,
        reason: Option<String>,
    },
    RechargeLimitExceeded {
        configuration_id: String,
        requested_amount: f64,
        allowed_amount: f64,
        max_spend_limit: f64,
        current_monthly_spend: f64,
    },
    ConfigurationChanged {
        configuration_id: String,
        changed_by: &'static str,
        is_enabled: bool,
    },
}

impl EventBody {
    /// Stigg's webhook name for the event.
    pub fn name(&self) -> &'static str {
        match self {
            EventBody::Granted { .. } => "credits.granted",
            EventBody::Expired { .. } => "credits.expired",
            EventBody::Voided { .. } => "credits.grant.voided",
            EventBody::GrantDepleted { .. } => "credits.grant.depleted",
            EventBody::UsageLow { .. } => "credits.balance.usage_low",
            EventBody::BalanceDepleted { .. } => "credits.balance.depleted",
            EventBody::RechargeAttempted { .. } => "automatic_recharge.operation.attempted",
            EventBody::RechargeLimitExceeded { .. } => "credits.automatic_recharge_limit_exceeded",
            EventBody::ConfigurationChanged { .. } => "automatic_recharge.configuration.changed",
        }
    }

    fn write_fields(&self, o: &mut ObjectWriter<'_>) {
        match self {
            EventBody::Granted { grant_id, amount }
            | EventBody::Expired { grant_id, amount }
            | EventBody::Voided { grant_id, amount }
            | EventBody::GrantDepleted { grant_id, amount } => {
                o.str("grantId", grant_id).amount("amount", *amount);
            }
            EventBody::UsageLow {
                threshold_percentage,
                remaining_balance,
                remaining_balance_percentage,
                granted_this_period,
            } => {
                o.int("thresholdPercentage", i64::from(*threshold_percentage));
                o.amount("remainingBalance", *remaining_balance);
                o.amount("remainingBalancePercentage", *remaining_balance_percentage);
                o.amount("grantedThisPeriod", *granted_this_period);
            }
            EventBody::BalanceDepleted { current_balance } => {
                o.amount("currentBalance", *current_balance);
            }
            EventBody::RechargeAttempted { recharge_id, configuration_id, grant_id, amount, status, reason } => {
                o.str("rechargeId", recharge_id).str("configurationId", configuration_id).str("grantId", grant_id);
                o.amount("amount", *amount).str("status", status).opt_str("reason", reason.as_deref());
            }
            EventBody::RechargeLimitExceeded {
                configuration_id,
                requested_amount,
                allowed_amount,
                max_spend_limit,
                current_monthly_spend,
            } => {
                o.str("configurationId", configuration_id).amount("requestedAmount", *requested_amount);
                o.amount("allowedAmount", *allowed_amount).amount("maxSpendLimit", *max_spend_limit);
                o.amount("currentMonthlySpend", *current_monthly_spend);
            }
            EventBody::ConfigurationChanged { configuration_id, changed_by, is_enabled } => {
                o.str("configurationId", configuration_id).str("changedBy", changed_by).bool("isEnabled", *is_enabled);
            }
        }
    }
}

impl ToJson for HostEvent {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("messageId", &self.message_id).str("customerId", &self.customer_id);
        o.opt_str("resourceId", self.resource_id.as_deref()).str("currencyId", &self.currency_id);
        o.str("timestamp", &self.timestamp).str("type", self.body.name());
        self.body.write_fields(&mut o);
        o.finish();
    }
}

/// Builds events with the scope's ids and unique message ids.
#[derive(Debug)]
pub struct EventSink {
    scope: Scope,
    /// `fingerprint(stem)` and the commit version: message ids are built from
    /// them only when an event is pushed (most writes push none).
    stem_fingerprint: String,
    version: u64,
    pub events: Vec<HostEvent>,
}

impl EventSink {
    /// `version` is the commit these events belong to.
    pub fn new(scope: &Scope, stem: &str, version: u64) -> Self {
        Self { scope: scope.clone(), stem_fingerprint: fingerprint(stem), version, events: Vec::new() }
    }

    pub fn push(&mut self, currency_id: &str, at_ms: UnixMs, body: EventBody) {
        let message_id = format!("{}-{}-{}", self.stem_fingerprint, self.version, self.events.len());
        self.events.push(HostEvent {
            message_id,
            customer_id: self.scope.customer_id.clone(),
            resource_id: self.scope.resource_id.clone(),
            currency_id: currency_id.to_string(),
            timestamp: format_iso(at_ms),
            body,
        });
    }
}

/// Derives the grant and balance events of one commit, and updates each
/// pool's low-balance bookkeeping in `after` (it is committed with the head).
pub fn derive(
    before: &ScopeHead,
    after: &mut ScopeHead,
    rows: &[EventRecord],
    now_ms: UnixMs,
    thresholds: &[u32],
    sink: &mut EventSink,
) {
    for row in rows {
        let amount = micros_to_f64(row.amount_micros);
        let grant_id = row.grant_id.clone();
        let body = match row.kind {
            EventKind::Granted => EventBody::Granted { grant_id, amount },
            EventKind::Expired => EventBody::Expired { grant_id, amount },
            EventKind::Voided => EventBody::Voided { grant_id, amount },
            EventKind::Consumed | EventKind::TransferSource | EventKind::TransferTarget => continue,
        };
        sink.push(&row.currency_id, row.timestamp_ms, body);
    }
    let period_starts: Vec<UnixMs> =
        after.pools.iter().map(|pool| alert_period_start(after, &pool.currency_id, now_ms)).collect();
    for (pool, period_start_ms) in after.pools.iter_mut().zip(period_starts) {
        let empty = Pool::new(&pool.currency_id);
        let old = before.pool(&pool.currency_id).unwrap_or(&empty);
        depleted_grants(old, pool, now_ms, sink);
        if old.balance_micros() > 0 && pool.balance_micros() <= 0 {
            sink.push(
                &pool.currency_id,
                now_ms,
                EventBody::BalanceDepleted { current_balance: micros_to_f64(pool.balance_micros()) },
            );
        }
        let granted_now: i64 = rows
            .iter()
            .filter(|r| {
                r.kind == EventKind::Granted && r.currency_id == pool.currency_id && r.timestamp_ms >= period_start_ms
            })
            .map(|r| r.amount_micros)
            .sum();
        // A threshold is crossed on the way down: only an operation that took
        // credit out of the pool (consumed, expired or voided some) fires one;
        // a grant that lifts a pool, even out of overdraft, does not.
        let falling = pool.consumed_micros > old.consumed_micros
            || pool.expired_micros > old.expired_micros
            || pool.voided_micros > old.voided_micros;
        usage_low(pool, period_start_ms, granted_now, falling, now_ms, thresholds, sink);
    }
}

/// Grants whose last credit this commit consumed.
fn depleted_grants(old: &Pool, new: &Pool, now_ms: UnixMs, sink: &mut EventSink) {
    for grant in &new.grants {
        if grant.grant_type == GrantType::Overdraft
            || grant.status != GrantStatus::Active
            || grant.remaining_micros() != 0
        {
            continue;
        }
        let had_credit = old.grant(&grant.id).is_none_or(|g| g.remaining_micros() > 0);
        if had_credit {
            let amount = micros_to_f64(grant.amount_micros);
            sink.push(&new.currency_id, now_ms, EventBody::GrantDepleted { grant_id: grant.id.clone(), amount });
        }
    }
}

/// The period low-balance alerts count in: the subscription's credit period
/// for this currency, else the UTC calendar month.
fn alert_period_start(head: &ScopeHead, currency_id: &str, now_ms: UnixMs) -> UnixMs {
    let period = head.active_subscription().and_then(|sub| {
        let credit = sub.credits.iter().find(|c| c.currency_id == currency_id)?;
        let months = credit.cadence.months();
        Some(sub.period_bounds(months, sub.period_index(months, now_ms)?).0)
    });
    period.unwrap_or_else(|| month_start(now_ms))
}

fn usage_low(
    pool: &mut Pool,
    period_start_ms: UnixMs,
    granted_now: i64,
    falling: bool,
    now_ms: UnixMs,
    thresholds: &[u32],
    sink: &mut EventSink,
) {
    let alerts = &mut pool.alerts;
    if alerts.period_start_ms != period_start_ms {
        alerts.period_start_ms = period_start_ms;
        alerts.granted_micros = 0;
        alerts.fired = 0;
    }
    alerts.granted_micros += granted_now;
    if alerts.granted_micros <= 0 || !falling {
        return;
    }
    let balance_micros = pool.balance_micros();
    let granted_micros = pool.alerts.granted_micros;
    for (index, threshold) in thresholds.iter().enumerate() {
        let bit = 1u8 << index;
        // balance / granted < threshold %, in integers.
        let below = i128::from(balance_micros) * 100 < i128::from(granted_micros) * i128::from(*threshold);
        if below && pool.alerts.fired & bit == 0 {
            pool.alerts.fired |= bit;
            sink.push(
                &pool.currency_id,
                now_ms,
                EventBody::UsageLow {
                    threshold_percentage: *threshold,
                    remaining_balance: micros_to_f64(balance_micros),
                    remaining_balance_percentage: crate::core::float::round(
                        balance_micros as f64 / granted_micros as f64 * 10_000.0,
                    ) / 100.0,
                    granted_this_period: micros_to_f64(granted_micros),
                },
            );
        }
    }
}
