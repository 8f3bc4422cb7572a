//! Reservations (reserve, settle, release, expire) and atomic hard limits.

mod common;

use common::*;
use serde_json::json;

const C: &str = "customer-reserve";

fn funded(amount: i64) -> Harness {
    let h = Harness::new();
    h.grant(json!({ "customerId": C, "resourceId": "ws", "currencyId": "ai-tokens", "amount": amount })).unwrap();
    h
}

fn reserve(h: &Harness, amount: f64, ttl_ms: i64, key: &str) -> credit_pools::core::LedgerResult<String> {
    h.reserve(json!({ "customerId": C, "resourceId": "ws", "currencyId": "ai-tokens", "amount": amount, "ttlMs": ttl_ms, "idempotencyKey": key }))
        .map(|r| r.reservation_id)
}

#[test]
fn reserve_then_settle_consumes_what_was_used_and_returns_the_rest() {
    let h = funded(5000);
    let id = reserve(&h, 1000.0, 60_000, "llm-1").unwrap();
    let balance = h.balance(C, Some("ws"), "ai-tokens");
    assert_eq!((balance.current_balance, balance.reserved_amount, balance.available_balance), (5000.0, 1000.0, 4000.0));
    let settled = h.settle(&id, 640.0).unwrap();
    assert_eq!((settled.settled_amount, settled.released_amount), (640.0, 360.0));
    let balance = h.balance(C, Some("ws"), "ai-tokens");
    assert_eq!((balance.current_balance, balance.reserved_amount, balance.available_balance), (4360.0, 0.0, 4360.0));
    let consumed: Vec<_> =
        h.events(C, Some("ws")).into_iter().filter(|e| event_type(e) == "CREDITS_CONSUMED").collect();
    assert_eq!(consumed.len(), 1);
    assert_eq!((consumed[0].amount, consumed[0].event_id.as_deref()), (640.0, Some(id.as_str())));
    assert_eq!(h.settle(&id, 1.0).unwrap_err().code(), "INVALID_STATE", "a reservation resolves once");
    assert_eq!(h.release(&id).unwrap_err().code(), "INVALID_STATE");
    assert_eq!(h.settle("rsv-unknown", 1.0).unwrap_err().code(), "NOT_FOUND");
}

#[test]
fn reservations_take_credit_from_everything_that_checks_availability() {
    let h = funded(100);
    h.provision(json!({ "customerId": C, "resourceId": "ws", "planId": "plan-payg" })).unwrap();
    let first = reserve(&h, 70.0, 60_000, "a").unwrap();
    assert_eq!(reserve(&h, 31.0, 60_000, "b").unwrap_err().code(), "INSUFFICIENT_CREDITS");
    let entitlement = h
        .entitlement(json!({ "customerId": C, "resourceId": "ws", "currencyId": "ai-tokens", "requestedUsage": 31 }))
        .unwrap();
    assert_eq!(
        (entitlement.has_access, entitlement.reserved_amount, entitlement.current_balance),
        (false, 70.0, 100.0)
    );
    let estimate = h
        .estimate(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 62 }))
        .unwrap();
    assert_eq!((estimate.estimates[0].balance_after_estimate, estimate.estimates[0].would_overdraft), (69.0, true));
    let strict = h.consume(json!({ "customerId": C, "resourceId": "ws", "currencyId": "ai-tokens", "amount": 31, "idempotencyKey": "s", "requireBalance": true }));
    assert_eq!(strict.unwrap_err().code(), "INSUFFICIENT_CREDITS");
    assert_eq!(h.release(&first).unwrap().released_amount, 70.0);
    assert_eq!(reserve(&h, 100.0, 60_000, "c").map(|_| ()), Ok(()));
    // The same key and payload answer with the same reservation.
    assert_eq!(reserve(&h, 100.0, 60_000, "c").unwrap(), reserve(&h, 100.0, 60_000, "c").unwrap());
    assert_eq!(reserve(&h, 99.0, 60_000, "c").unwrap_err().code(), "IDEMPOTENCY_CONFLICT");
}

#[test]
fn a_reservation_past_its_expiry_releases_itself() {
    let h = funded(10);
    let id = reserve(&h, 10.0, 1_000, "x").unwrap();
    h.set_now("2026-01-31T10:00:00.999Z");
    assert_eq!(h.balance(C, Some("ws"), "ai-tokens").available_balance, 0.0);
    h.set_now("2026-01-31T10:00:01Z");
    assert_eq!(h.balance(C, Some("ws"), "ai-tokens").available_balance, 10.0, "expired exactly at expiresAt");
    assert_eq!(h.settle(&id, 5.0).unwrap_err().code(), "INVALID_STATE");
    assert_eq!(h.balance(C, Some("ws"), "ai-tokens").current_balance, 10.0);
    let bad_ttl = h
        .reserve(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 1, "ttlMs": 0, "idempotencyKey": "t" }));
    assert_eq!(bad_ttl.unwrap_err().code(), "INVALID_ARGUMENT");
    let over = reserve(&h, 5.0, 60_000, "y").unwrap();
    assert_eq!(h.settle(&over, 5.5).unwrap_err().code(), "INVALID_ARGUMENT", "settling more than reserved");
}

#[test]
fn require_balance_admits_exactly_what_the_pool_covers_and_changes_nothing_otherwise() {
    let h = funded(10);
    h.provision(json!({ "customerId": C, "resourceId": "ws", "planId": "plan-payg" })).unwrap();
    let mut admitted = 0;
    for n in 0..100 {
        let usage = h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 2,
            "requireBalance": true, "idempotencyKey": format!("r{n}") }));
        match usage {
            Ok(_) => admitted += 1,
            Err(error) => assert_eq!(error.code(), "INSUFFICIENT_CREDITS"),
        }
    }
    assert_eq!(admitted, 10, "plan-payg charges 0.5 per unit: ten debits of 1 credit");
    let before = h.store().snapshot();
    let refused = h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 2, "requireBalance": true }));
    assert_eq!(refused.unwrap_err().code(), "INSUFFICIENT_CREDITS");
    assert_eq!(before, h.store().snapshot());
    assert_eq!(h.balance(C, Some("ws"), "ai-tokens").current_balance, 0.0);
}
