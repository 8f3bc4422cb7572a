//! Automatic recharge across a customer's pools, and the events it emits.

mod common;

use common::*;
use credit_pools::core::json::ToJson;
use credit_pools::core::pool::GrantStatus;
use serde_json::{json, Value};

const C: &str = "customer-recharge";

fn stigg_example(h: &Harness, max_spend: Option<f64>) {
    // Stigg's example: below 20, bring the balance back up to 50.
    let saved = h
        .save_recharge(json!({ "customerId": C, "currencyId": "ai-tokens", "isEnabled": true,
            "thresholdValue": 20, "targetBalance": 50, "maxSpendLimit": max_spend }))
        .unwrap();
    assert!(saved.result.is_enabled);
    assert_eq!(host_event_type(&saved.events[0]), "automatic_recharge.configuration.changed");
}

fn types(events: &[credit_pools::core::events::HostEvent]) -> Vec<String> {
    events.iter().map(host_event_type).collect()
}

/// A field of the event as JS reads it; numbers as doubles (JS has no integer type).
fn field(event: &credit_pools::core::events::HostEvent, name: &str) -> Value {
    let value = serde_json::from_str::<serde_json::Value>(&event.to_json()).unwrap()[name].clone();
    match value.as_f64() {
        Some(number) if name != "thresholdPercentage" => json!(number),
        _ => value,
    }
}

#[test]
fn configuration_defaults_validation_and_round_trip() {
    let h = Harness::new();
    let defaults = h.recharge_config(C, "ai-tokens");
    assert_eq!((defaults.id.clone(), defaults.is_enabled, defaults.target_balance), (None, false, 0.0));
    let looping = h.save_recharge(json!({ "customerId": C, "currencyId": "ai-tokens", "isEnabled": true, "thresholdValue": 50, "targetBalance": 50 }));
    assert_eq!(looping.unwrap_err().code(), "INVALID_ARGUMENT");
    let unknown = h.save_recharge(
        json!({ "customerId": C, "currencyId": "gold", "isEnabled": true, "thresholdValue": 1, "targetBalance": 5 }),
    );
    assert_eq!(unknown.unwrap_err().code(), "NOT_FOUND");
    stigg_example(&h, Some(100.0));
    let saved = h.recharge_config(C, "ai-tokens");
    assert_eq!((saved.threshold_value, saved.target_balance, saved.max_spend_limit), (20.0, 50.0, Some(100.0)));
    assert!(saved.id.as_deref().unwrap().starts_with("arc-"));
}

#[test]
fn a_crossing_in_a_resource_pool_recharges_that_pool_only() {
    let h = Harness::new();
    for resource in [Some("ws-a"), Some("ws-b"), None] {
        h.grant(json!({ "customerId": C, "resourceId": resource, "currencyId": "ai-tokens", "amount": 40 })).unwrap();
    }
    stigg_example(&h, None);
    let debit = h.consume_full(json!({ "customerId": C, "resourceId": "ws-a", "currencyId": "ai-tokens", "amount": 25, "idempotencyKey": "d1" })).unwrap();
    assert_eq!(debit.recharges.len(), 1);
    let request = &debit.recharges[0];
    assert_eq!((request.resource_id.as_deref(), request.amount), (Some("ws-a"), 35.0));
    // 15 of the 40 granted this month remain: below 80% and 50%.
    assert_eq!(
        types(&debit.events),
        ["credits.balance.usage_low", "credits.balance.usage_low", "automatic_recharge.operation.attempted"]
    );
    assert_eq!(field(&debit.events[2], "status"), "PENDING");
    // Pending: the credits do not count yet.
    assert_eq!(h.balance(C, Some("ws-a"), "ai-tokens").current_balance, 15.0);
    let confirmed = h.confirm(&request.recharge_id).unwrap();
    assert_eq!(confirmed.result.status, GrantStatus::Active);
    assert_eq!(confirmed.result.expire_at.as_deref(), Some("2026-02-28T10:00:00.000Z"), "1_MONTH after confirmation");
    assert_eq!(types(&confirmed.events), ["automatic_recharge.operation.attempted", "credits.granted"]);
    assert_eq!(h.balance(C, Some("ws-a"), "ai-tokens").current_balance, 50.0);
    assert_eq!(h.balance(C, Some("ws-b"), "ai-tokens").current_balance, 40.0);
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, 40.0);
    assert_eq!(h.recharge_config(C, "ai-tokens").current_monthly_spend, 35.0);
    assert_eq!(
        h.confirm(&request.recharge_id).unwrap().result.status,
        GrantStatus::Active,
        "confirming twice is harmless"
    );
    assert_eq!(h.fail(&request.recharge_id, "late").unwrap_err().code(), "INVALID_STATE");
}

#[test]
fn one_crossing_recharges_once_under_retries_and_back_to_back_debits() {
    let h = Harness::new();
    h.grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 30 })).unwrap();
    stigg_example(&h, None);
    let debit = json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 15, "idempotencyKey": "same" });
    assert_eq!(h.consume_full(debit.clone()).unwrap().recharges.len(), 1);
    assert_eq!(h.consume_full(debit).unwrap().recharges.len(), 0, "a retried debit is a repeat");
    let second = h
        .consume_full(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 5, "idempotencyKey": "other" }))
        .unwrap();
    assert_eq!(second.recharges.len(), 0, "a recharge awaiting payment blocks a second one");
    let pending: Vec<_> = h.grants(C, None).into_iter().filter(|g| g.status == GrantStatus::PaymentPending).collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].amount, 35.0, "target 50 minus the balance of 15 when it crossed");
    assert_eq!(h.recharge_config(C, "ai-tokens").current_monthly_spend, 35.0);
}

#[test]
fn a_failed_payment_voids_the_recharge_releases_its_spend_and_disables_the_configuration() {
    let h = Harness::new();
    stigg_example(&h, Some(100.0));
    let debit = h.consume_full(json!({ "customerId": C, "resourceId": "ws", "currencyId": "ai-tokens", "amount": 1, "idempotencyKey": "d" })).unwrap();
    let recharge_id = debit.recharges[0].recharge_id.clone();
    let failed = h.fail(&recharge_id, "card declined").unwrap();
    assert_eq!(failed.result.status, GrantStatus::Voided);
    assert_eq!(
        types(&failed.events),
        ["automatic_recharge.operation.attempted", "automatic_recharge.configuration.changed"]
    );
    assert_eq!(
        (field(&failed.events[0], "status"), field(&failed.events[0], "reason")),
        (json!("FAILED"), json!("card declined"))
    );
    let config = h.recharge_config(C, "ai-tokens");
    assert_eq!((config.is_enabled, config.current_monthly_spend), (false, 0.0));
    let next = h.consume_full(json!({ "customerId": C, "resourceId": "ws", "currencyId": "ai-tokens", "amount": 1, "idempotencyKey": "d2" })).unwrap();
    assert!(next.recharges.is_empty(), "disabled until the host enables it again");
    assert_eq!(h.balance(C, Some("ws"), "ai-tokens").current_balance, -2.0);
    assert_eq!(h.fail(&recharge_id, "again").unwrap_err().code(), "INVALID_STATE");
}

#[test]
fn the_monthly_spend_cap_spans_every_pool_and_resets_with_the_month() {
    let h = Harness::new(); // 2026-01-31
    stigg_example(&h, Some(80.0));
    let debit = |resource: &str, key: &str| {
        h.consume_full(json!({ "customerId": C, "resourceId": resource, "currencyId": "ai-tokens", "amount": 10, "idempotencyKey": key }))
            .unwrap()
    };
    let a = debit("ws-a", "a"); // wants 60
    assert_eq!(a.recharges[0].amount, 60.0);
    let b = debit("ws-b", "b"); // wants 60, 20 left under the cap
    assert_eq!(b.recharges[0].amount, 20.0);
    assert_eq!(
        types(&b.events),
        ["credits.automatic_recharge_limit_exceeded", "automatic_recharge.operation.attempted"]
    );
    assert_eq!(
        (field(&b.events[0], "requestedAmount"), field(&b.events[0], "allowedAmount")),
        (json!(60.0), json!(20.0))
    );
    let c = debit("ws-c", "c"); // nothing left: skipped, and said so
    assert!(c.recharges.is_empty());
    assert_eq!(types(&c.events), ["credits.automatic_recharge_limit_exceeded"]);
    assert_eq!(h.recharge_config(C, "ai-tokens").current_monthly_spend, 80.0);
    h.set_now("2026-02-01T00:00:00Z");
    let d = debit("ws-d", "d");
    assert_eq!(d.recharges[0].amount, 60.0, "a new calendar month, a new budget");
    assert_eq!(h.recharge_config(C, "ai-tokens").current_monthly_spend, 60.0);
}

#[test]
fn low_balance_alerts_fire_once_each_per_period() {
    let h = Harness::new(); // 2026-01-31T10:00Z; plan-basic grants 1000 per month
    h.provision(json!({ "customerId": C, "planId": "plan-basic" })).unwrap();
    let spend = |value: f64, key: &str| {
        h.usage_full(
            json!({ "customerId": C, "featureId": "feature-ai-tokens", "value": value, "idempotencyKey": key }),
        )
        .unwrap()
        .events
    };
    let first = spend(150.0, "u1"); // 850 left: 85% remains
    assert!(types(&first).is_empty());
    let second = spend(100.0, "u2"); // 750 left: below 80%
    assert_eq!(types(&second), ["credits.balance.usage_low"]);
    assert_eq!(
        (field(&second[0], "thresholdPercentage"), field(&second[0], "remainingBalancePercentage")),
        (json!(80), json!(75.0))
    );
    assert!(types(&spend(10.0, "u3")).is_empty(), "80% fired once this period");
    let deep = spend(600.0, "u4"); // 140 left: below 50% and 20% at once
    assert_eq!(deep.iter().map(|e| field(e, "thresholdPercentage")).collect::<Vec<_>>(), [json!(50), json!(20)]);
    let dry = spend(140.0, "u5");
    assert_eq!(types(&dry), ["credits.grant.depleted", "credits.balance.depleted"]);
    // The next period re-arms every threshold.
    h.set_now("2026-02-28T10:00:00Z");
    let renewed = spend(300.0, "u6");
    assert_eq!(types(&renewed), ["credits.granted", "credits.balance.usage_low"]);
    let ids: std::collections::BTreeSet<String> =
        [first, second, deep, dry, renewed].concat().iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(ids.len(), 7, "every event has its own message id");
}

#[test]
fn no_event_is_reported_for_an_operation_that_did_not_commit() {
    let h = Harness::new();
    stigg_example(&h, None);
    // The head is written last: every other record of the operation has landed.
    *h.store().fail_put_suffix.borrow_mut() = Some("/h".to_string());
    let failed =
        h.consume_full(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 5, "idempotencyKey": "k" }));
    assert_eq!(failed.unwrap_err().code(), "STORE_ERROR");
    *h.store().fail_put_suffix.borrow_mut() = None;
    assert!(h.grants(C, None).is_empty(), "neither the debit nor its recharge happened");
    let retried = h
        .consume_full(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 5, "idempotencyKey": "k" }))
        .unwrap();
    assert_eq!(retried.recharges.len(), 1);
    assert_eq!(retried.recharges[0].amount, 55.0);
    // The failed attempt had reserved its spend before failing to commit; the
    // next debit of that pool finds no grant for it and releases it.
    assert_eq!(h.recharge_config(C, "ai-tokens").current_monthly_spend, 55.0);
}
