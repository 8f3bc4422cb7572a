//! The simulator's operations: drawn once (a retry sends exactly the same
//! payload), started as futures on any instance, and answered as `Outcome`s.

use std::rc::Rc;

use credit_pools::core::time::parse_iso;
use credit_pools::core::LedgerError;
use serde_json::{json, Value};

use crate::executor::{OpFuture, SimLedger};

pub const CUSTOMER: &str = "sim-customer";
/// The customer's scopes: the global pool and two resources.
pub const RESOURCES: [Option<&str>; 3] = [None, Some("ws-a"), Some("ws-b")];
pub const CURRENCY: &str = "credits";
/// The plan's price of one unit of the feature, in micros.
pub const RATE_MICROS: i64 = 1_500_000;
/// Automatic recharge: below 100 top up to 400, at most 3,000 per month.
pub const RECHARGE_THRESHOLD: f64 = 100.0;
pub const RECHARGE_TARGET: f64 = 400.0;
pub const RECHARGE_CAP_MICROS: i64 = 3_000_000_000;

pub fn catalog() -> credit_pools::core::catalog::CatalogInput {
    input(json!({
        "currencies": [{ "id": CURRENCY }],
        "plans": [{ "id": "plan", "credits": [{ "currencyId": CURRENCY, "amount": 1000, "cadence": "MONTH" }],
            "creditRates": [{ "featureId": "feature", "currencyId": CURRENCY, "amount": 1.5 }] }]
    }))
}

pub fn input<T: credit_pools::core::decode::FromJson>(value: Value) -> T {
    T::from_json_text(&value.to_string(), "").expect("simulation inputs are well-formed")
}

/// One operation, with everything a retry must repeat.
#[derive(Debug, Clone)]
pub enum Op {
    Provision {
        scope: usize,
    },
    Grant {
        scope: usize,
        micros: i64,
        priority: u64,
        expire_ms: Option<i64>,
        key: String,
    },
    Consume {
        scope: usize,
        micros: i64,
        key: String,
        strict: bool,
    },
    Usage {
        scope: usize,
        value_cents: u64,
        key: String,
    },
    Reserve {
        scope: usize,
        micros: i64,
        ttl_ms: u64,
        key: String,
    },
    Resolve {
        reservation_id: String,
        settle_micros: Option<i64>,
    },
    Void {
        grant_id: String,
    },
    Transfer {
        subscription_id: String,
        to: usize,
    },
    SaveRecharge,
    FinishRecharge {
        recharge_id: String,
        paid: bool,
    },
    /// A repeat of an acknowledged consumption: must change nothing.
    Repeat {
        scope: usize,
        micros: i64,
        key: String,
    },
    /// The newest rows of a scope's ledger, read by an instance under faults.
    ReadLedger {
        scope: usize,
    },
}

/// What an operation answered, reduced to what the model needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Provisioned {
        subscription_id: String,
    },
    Granted {
        grant_id: String,
    },
    /// Credits this call consumed (0: a repeat of an earlier attempt).
    Consumed {
        micros: i64,
    },
    Reserved {
        reservation_id: String,
        expires_ms: i64,
    },
    Resolved,
    Voided,
    Transferred,
    Saved,
    Finished,
    Rows(Vec<credit_pools::core::api::LedgerEventOutput>),
}

fn micros(credits: f64) -> i64 {
    (credits * 1e6).round() as i64
}

fn credits(micros: i64) -> f64 {
    micros as f64 / 1e6
}

impl Op {
    pub fn start(&self, ledger: Rc<SimLedger>) -> OpFuture<Outcome> {
        let op = self.clone();
        Box::pin(async move { op.run(&ledger).await })
    }

    async fn run(self, l: &SimLedger) -> Result<Outcome, Box<LedgerError>> {
        let at = |scope: usize| RESOURCES[scope];
        match self {
            Op::Provision { scope } => {
                let ack = l
                    .provision_subscription(input(
                        json!({ "customerId": CUSTOMER, "resourceId": at(scope), "planId": "plan" }),
                    ))
                    .await?;
                Ok(Outcome::Provisioned { subscription_id: ack.result.id })
            }
            Op::Grant { scope, micros, priority, expire_ms, key } => {
                let ack = l
                    .grant_credits(input(json!({ "customerId": CUSTOMER, "resourceId": at(scope), "currencyId": CURRENCY,
                        "amount": credits(micros), "priority": priority, "expireAt": expire_ms, "idempotencyKey": key })))
                    .await?;
                Ok(Outcome::Granted { grant_id: ack.result.id })
            }
            Op::Consume { scope, micros: amount, key, strict } => {
                let ack = l
                    .consume_credits(input(
                        json!({ "customerId": CUSTOMER, "resourceId": at(scope), "currencyId": CURRENCY,
                        "amount": credits(amount), "idempotencyKey": key, "requireBalance": strict }),
                    ))
                    .await?;
                Ok(Outcome::Consumed { micros: micros(ack.result.amount) })
            }
            Op::Repeat { scope, micros: amount, key } => {
                let ack = l
                    .consume_credits(input(
                        json!({ "customerId": CUSTOMER, "resourceId": at(scope), "currencyId": CURRENCY,
                        "amount": credits(amount), "idempotencyKey": key }),
                    ))
                    .await?;
                Ok(Outcome::Consumed { micros: micros(ack.result.amount) })
            }
            Op::Usage { scope, value_cents, key } => {
                let ack = l
                    .report_usage(input(
                        json!({ "customerId": CUSTOMER, "resourceId": at(scope), "featureId": "feature",
                        "value": value_cents as f64 / 100.0, "idempotencyKey": key }),
                    ))
                    .await?;
                Ok(Outcome::Consumed { micros: micros(ack.result.credit.consumed) })
            }
            Op::Reserve { scope, micros, ttl_ms, key } => {
                let ack = l
                    .reserve_credits(input(
                        json!({ "customerId": CUSTOMER, "resourceId": at(scope), "currencyId": CURRENCY,
                        "amount": credits(micros), "ttlMs": ttl_ms, "idempotencyKey": key }),
                    ))
                    .await?;
                let expires_ms = parse_iso(&ack.result.expires_at).expect("expiresAt is ISO-8601");
                Ok(Outcome::Reserved { reservation_id: ack.result.reservation_id, expires_ms })
            }
            Op::Resolve { reservation_id, settle_micros } => {
                match settle_micros {
                    Some(amount) => {
                        let settle = json!({ "reservationId": reservation_id, "amount": credits(amount) });
                        l.settle_reservation(input(settle)).await?;
                    }
                    None => {
                        l.release_reservation(input(json!({ "reservationId": reservation_id }))).await?;
                    }
                }
                Ok(Outcome::Resolved)
            }
            Op::Void { grant_id } => {
                l.void_credit_grant(input(json!({ "id": grant_id }))).await?;
                Ok(Outcome::Voided)
            }
            Op::Transfer { subscription_id, to } => {
                let transfer = json!({ "subscriptionId": subscription_id, "destinationResourceId": at(to) });
                l.transfer_subscription_to_resource(input(transfer)).await?;
                Ok(Outcome::Transferred)
            }
            Op::SaveRecharge => {
                let config = json!({ "customerId": CUSTOMER, "currencyId": CURRENCY, "isEnabled": true,
                    "thresholdValue": RECHARGE_THRESHOLD, "targetBalance": RECHARGE_TARGET,
                    "maxSpendLimit": credits(RECHARGE_CAP_MICROS), "grantExpirationPeriod": "1_MONTH" });
                l.save_automatic_recharge_configuration(input(config)).await?;
                Ok(Outcome::Saved)
            }
            Op::ReadLedger { scope } => {
                let query = json!({ "customerId": CUSTOMER, "resourceId": at(scope), "limit": 100 });
                Ok(Outcome::Rows(l.get_credit_ledger(input(query)).await?.events))
            }
            Op::FinishRecharge { recharge_id, paid } => {
                let outcome = input(json!({ "rechargeId": recharge_id, "reason": (!paid).then_some("sim: declined") }));
                if paid {
                    l.confirm_recharge(outcome).await?;
                } else {
                    l.fail_recharge(outcome).await?;
                }
                Ok(Outcome::Finished)
            }
        }
    }
}
