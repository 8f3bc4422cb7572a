//! Native tests of the ledger rules, through the core's public API.
//! Each test states the rule it pins and asserts exact figures.

mod common;

use common::*;
use serde_json::json;

const C: &str = "customer-demo-01";

#[test]
fn provisioning_a_resource_creates_its_isolated_pool_with_the_plans_credits() {
    let h = Harness::new();
    let result = h.provision(json!({ "customerId": C, "planId": "plan-basic", "resourceId": "ws-a" })).unwrap();
    assert_eq!(result.status, "SUCCESS");
    assert_eq!(result.subscription.resource_id.as_deref(), Some("ws-a"));
    assert_eq!(result.subscription.status, "ACTIVE");
    assert_eq!(h.balance(C, Some("ws-a"), "ai-tokens").current_balance, 1000.0);
    assert_eq!(h.balance(C, Some("ws-b"), "ai-tokens").current_balance, 0.0);
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, 0.0);
    let grants = h.grants(C, Some("ws-a"));
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].expire_at.as_deref(), Some("2026-02-28T10:00:00.000Z"), "Jan 31 + 1 month clamps to Feb 28");
}

#[test]
fn usage_debits_only_its_own_pool_and_never_the_global_one() {
    let h = Harness::new();
    for resource in [Some("ws-a"), Some("ws-b"), None] {
        h.provision(json!({ "customerId": C, "planId": "plan-payg", "resourceId": resource })).unwrap();
    }
    h.grant(json!({ "customerId": C, "resourceId": "ws-a", "creditTypeId": "ai-tokens", "amount": 5000 })).unwrap();
    h.grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 100 })).unwrap();
    let a = h
        .usage(json!({ "customerId": C, "resourceId": "ws-a", "featureId": "feature-ai-tokens", "value": 300 }))
        .unwrap();
    assert_eq!(a.credit.consumed, 150.0, "plan-payg charges 0.5 per unit");
    let b = h
        .usage(json!({ "customerId": C, "resourceId": "ws-b", "featureId": "feature-ai-tokens", "value": 40 }))
        .unwrap();
    assert_eq!(b.credit.current_balance, -20.0, "ws-b has no credits: it overdraws itself, not ws-a or global");
    h.usage(json!({ "customerId": C, "featureId": "feature-ai-tokens", "value": 10 })).unwrap();
    assert_eq!(h.balance(C, Some("ws-a"), "ai-tokens").current_balance, 4850.0);
    assert_eq!(h.balance(C, Some("ws-b"), "ai-tokens").current_balance, -20.0);
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, 95.0);
    assert_eq!(h.events(C, Some("ws-b")).len(), 1);
}

#[test]
fn burn_order_is_priority_then_expiry_then_promotional_then_creation() {
    let h = Harness::new();
    h.provision(json!({ "customerId": C, "planId": "plan-payg", "resourceId": "ws" })).unwrap();
    let grant = |amount: i64, priority: u32, expire: Option<&str>, kind: &str| {
        h.grant(json!({ "customerId": C, "resourceId": "ws", "currencyId": "ai-tokens", "amount": amount,
            "priority": priority, "expireAt": expire, "grantType": kind }))
            .unwrap()
            .id
    };
    let p2_soon = grant(100, 2, Some("2026-02-05T00:00:00Z"), "PROMOTIONAL");
    let p1_never_paid = grant(100, 1, None, "PAID");
    let p1_late_paid = grant(100, 1, Some("2026-06-01T00:00:00Z"), "PAID");
    let p1_late_promo = grant(100, 1, Some("2026-06-01T00:00:00Z"), "PROMOTIONAL");
    let p1_late_paid_2 = grant(100, 1, Some("2026-06-01T00:00:00Z"), "PAID");
    // 450 credits = 900 units at 0.5: spans five grants in order.
    h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 900 })).unwrap();
    let consumed: Vec<(String, f64)> = h
        .events(C, Some("ws"))
        .iter()
        .filter(|e| event_type(e) == "CREDITS_CONSUMED")
        .map(|e| (e.credit_grant_id.clone(), e.amount))
        .collect();
    assert_eq!(
        consumed,
        vec![
            (p1_late_promo.clone(), 100.0),
            (p1_late_paid, 100.0),
            (p1_late_paid_2, 100.0),
            (p1_never_paid, 100.0),
            (p2_soon.clone(), 50.0),
        ]
    );
    let status = h.grants(C, Some("ws"));
    let soon = status.iter().find(|g| g.id == p2_soon).unwrap();
    assert_eq!(soon.consumed_amount, 50.0, "the priority-2 grant pays only once all priority-1 grants are empty");
}

#[test]
fn overdraft_is_settled_by_the_next_grant() {
    // Stigg's worked example: overdraft 15, new grant 50 → consumed 15, balance 35.
    let h = Harness::new();
    h.consume(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 15, "idempotencyKey": "k1" })).unwrap();
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, -15.0);
    let overdraft =
        h.grants(C, None).into_iter().find(|g| g.grant_type == credit_pools::core::pool::GrantType::Overdraft).unwrap();
    assert_eq!((overdraft.amount, overdraft.consumed_amount), (0.0, 15.0));
    let grant = h.grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 50 })).unwrap();
    assert_eq!(grant.consumed_amount, 15.0);
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, 35.0);
    let grants = h.grants(C, None);
    let overdraft = grants.iter().find(|g| g.id == overdraft.id).unwrap();
    assert_eq!(overdraft.status, credit_pools::core::pool::GrantStatus::Voided);
    let kinds: Vec<String> = h.events(C, None).iter().map(event_type).collect();
    assert_eq!(
        kinds,
        [
            "CREDITS_CONSUMED",
            "CREDITS_GRANTED",
            "CREDITS_CONSUMPTION_TRANSFER_SOURCE",
            "CREDITS_CONSUMPTION_TRANSFER_TARGET",
            "CREDITS_VOIDED"
        ]
    );
    assert_eq!(ledger_balance_micros(&h.events(C, None), "ai-tokens"), 35_000_000);
}

#[test]
fn scheduled_grants_pay_from_their_effective_instant_and_expire_at_theirs() {
    let h = Harness::at("2026-03-01T00:00:00Z");
    h.provision(json!({ "customerId": C, "planId": "plan-payg" })).unwrap();
    let later = h
        .grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 40,
        "effectiveAt": "2026-03-02T00:00:00Z", "expireAt": "2026-03-03T00:00:00Z" }))
        .unwrap();
    assert_eq!(format!("{:?}", later.status), "Scheduled");
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, 0.0);
    h.set_now("2026-03-01T23:59:59.999Z");
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, 0.0, "one millisecond early");
    h.set_now("2026-03-02T00:00:00Z");
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, 40.0, "effective exactly at now");
    h.usage(json!({ "customerId": C, "featureId": "feature-ai-tokens", "value": 20 })).unwrap();
    h.set_now("2026-03-03T00:00:00Z");
    let balance = h.balance(C, None, "ai-tokens");
    assert_eq!((balance.current_balance, balance.total_expired), (0.0, 30.0), "expiring exactly at now");
    let events = h.events(C, None);
    let expired: Vec<_> = events.iter().filter(|e| event_type(e) == "CREDITS_EXPIRED").collect();
    assert_eq!(expired.len(), 1);
    assert_eq!((expired[0].amount, expired[0].timestamp.as_str()), (30.0, "2026-03-03T00:00:00.000Z"));
    // Reads do not write, and a later write commits the same events.
    let before = h.store().snapshot();
    h.balance(C, None, "ai-tokens");
    assert_eq!(before, h.store().snapshot());
    h.grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 1 })).unwrap();
    assert_eq!(&h.events(C, None)[..events.len()], &events[..]);
}

#[test]
fn recurring_credits_renew_each_period_without_rollover_even_across_skipped_periods() {
    let h = Harness::new(); // Jan 31, 10:00
    h.provision(json!({ "customerId": C, "planId": "plan-basic", "resourceId": "ws" })).unwrap();
    h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 300 })).unwrap();
    h.set_now("2026-02-28T10:00:00Z");
    let balance = h.balance(C, Some("ws"), "ai-tokens");
    assert_eq!((balance.current_balance, balance.total_expired), (1000.0, 700.0), "700 unused expire, 1000 new");
    // A write in the February period commits its grant (the read above wrote nothing).
    h.set_now("2026-03-01T00:00:00Z");
    h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 1 })).unwrap();
    // No operation in March or April: on May 10 the pool holds only the current
    // period's credits. The March period was issued and expired unused on
    // schedule, as a timer would have done, so no credits roll over.
    h.set_now("2026-05-10T00:00:00Z");
    h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 1 })).unwrap();
    let balance = h.balance(C, Some("ws"), "ai-tokens");
    assert_eq!((balance.current_balance, balance.total_granted, balance.total_expired), (999.0, 4000.0, 2699.0));
    let recurring: Vec<_> = h.grants(C, Some("ws")).into_iter().filter(|g| g.subscription_id.is_some()).collect();
    let mut periods: Vec<_> =
        recurring.iter().map(|g| (g.effective_at.clone(), g.expire_at.clone().unwrap())).collect();
    periods.sort();
    assert_eq!(
        periods,
        vec![
            ("2026-01-31T10:00:00.000Z".into(), "2026-02-28T10:00:00.000Z".into()),
            ("2026-02-28T10:00:00.000Z".into(), "2026-03-31T10:00:00.000Z".into()),
            ("2026-03-31T10:00:00.000Z".into(), "2026-04-30T10:00:00.000Z".into()),
            ("2026-04-30T10:00:00.000Z".into(), "2026-05-31T10:00:00.000Z".into()),
        ]
    );
}

#[test]
fn a_second_subscription_replaces_the_first_and_voids_its_unused_credits() {
    let h = Harness::new();
    h.provision(json!({ "customerId": C, "planId": "plan-basic", "resourceId": "ws" })).unwrap();
    h.provision(json!({ "customerId": C, "planId": "plan-basic", "resourceId": "other" })).unwrap();
    h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 100 })).unwrap();
    h.provision(json!({ "customerId": C, "planId": "plan-yearly", "resourceId": "ws" })).unwrap();
    let balance = h.balance(C, Some("ws"), "ai-tokens");
    assert_eq!((balance.current_balance, balance.total_voided), (12000.0, 900.0));
    assert_eq!(h.balance(C, Some("other"), "ai-tokens").current_balance, 1000.0);
}

#[test]
fn ten_tenths_consume_exactly_one() {
    let h = Harness::new();
    h.provision(json!({ "customerId": C, "planId": "plan-basic" })).unwrap();
    for _ in 0..10 {
        h.usage(json!({ "customerId": C, "featureId": "feature-ai-tokens", "value": 0.1 })).unwrap();
    }
    let balance = h.balance(C, None, "ai-tokens");
    assert_eq!((balance.total_consumed, balance.current_balance), (1.0, 999.0));
    h.usage(json!({ "customerId": C, "featureId": "feature-calls", "value": "0.3" })).unwrap();
    assert_eq!(h.balance(C, None, "api-calls").current_balance, -0.75);
}

#[test]
fn idempotent_repeats_apply_once_even_after_leaving_the_heads_window() {
    let h = Harness::new();
    h.provision(json!({ "customerId": C, "planId": "plan-basic" })).unwrap();
    let usage = |key: &str, value: i64| {
        h.usage(json!({ "customerId": C, "featureId": "feature-ai-tokens", "value": value, "idempotencyKey": key }))
    };
    assert_eq!(usage("first", 5).unwrap().credit.consumed, 5.0);
    assert_eq!(usage("first", 5).unwrap().credit.consumed, 0.0);
    assert_eq!(usage("first", 6).unwrap_err().code(), "IDEMPOTENCY_CONFLICT");
    for n in 0..40 {
        usage(&format!("k{n}"), 1).unwrap();
    }
    assert!(h.store().snapshot().keys().any(|k| k.ends_with("/i/5:first")), "evicted keys get their own record");
    let before = h.store().snapshot();
    let repeat = usage("first", 5).unwrap();
    assert_eq!((repeat.credit.consumed, repeat.credit.current_balance), (0.0, 955.0));
    assert_eq!(usage("k3", 2).unwrap_err().code(), "IDEMPOTENCY_CONFLICT");
    assert_eq!(before, h.store().snapshot(), "repeats write nothing");
    let grant = |key: &str| {
        h.grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 10, "idempotencyKey": key })).unwrap()
    };
    let first = grant("g");
    assert_eq!(grant("g").id, first.id);
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, 965.0);
    // Same key, different kind of operation: a conflict, not a silent repeat.
    let consume = h.consume(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 10, "idempotencyKey": "g" }));
    assert_eq!(consume.unwrap_err().code(), "IDEMPOTENCY_CONFLICT");
}

#[test]
fn a_failed_put_leaves_the_scope_as_before_and_a_retry_applies_once() {
    // With 31 earlier usages the head's tail holds a full page (32 events with
    // the provisioning grant), so the usage writes that page, then the head.
    for (earlier_usages, puts) in [(0, 1), (31, 2)] {
        for fail_at in 0..puts {
            for write_first in [false, true] {
                let h = Harness::new();
                h.provision(json!({ "customerId": C, "planId": "plan-basic" })).unwrap();
                for _ in 0..earlier_usages {
                    h.usage(json!({ "customerId": C, "featureId": "feature-ai-tokens", "value": 1 })).unwrap();
                }
                let committed = h.store().puts.get();
                let balance_before = h.balance(C, None, "ai-tokens");
                let events_before = h.events(C, None);
                h.store().fail_put_at.set(Some(committed + fail_at));
                h.store().write_before_failing.set(write_first);
                let input = json!({ "customerId": C, "featureId": "feature-ai-tokens", "value": 7,
                    "idempotencyKey": "retry-me" });
                let result = h.usage(input.clone());
                // The head is the last put. Failing it after it landed is a commit
                // whose acknowledgement was lost; anything earlier is no commit.
                let head_landed = fail_at == puts - 1 && write_first;
                assert_eq!(result.unwrap_err().code(), "STORE_ERROR");
                let start = 1000.0 - earlier_usages as f64;
                let expected = if head_landed { start - 7.0 } else { start };
                let case = format!("earlier={earlier_usages} fail_at={fail_at} write_first={write_first}");
                assert_eq!(h.balance(C, None, "ai-tokens").current_balance, expected, "{case}");
                if !head_landed {
                    assert_eq!(h.balance(C, None, "ai-tokens"), balance_before, "{case}");
                    assert_eq!(h.events(C, None), events_before, "{case}");
                }
                h.store().fail_put_at.set(None);
                let retry = h.usage(input).unwrap();
                assert_eq!(retry.credit.current_balance, start - 7.0, "the retry applies exactly once: {case}");
                assert_eq!(retry.credit.consumed, if head_landed { 0.0 } else { 7.0 }, "{case}");
                let expected_micros = ((start - 7.0) * 1e6) as i64;
                assert_eq!(ledger_balance_micros(&h.events(C, None), "ai-tokens"), expected_micros, "{case}");
                let retry_puts = if head_landed { 0 } else { puts };
                assert_eq!(
                    h.store().puts.get(),
                    committed + fail_at + 1 + retry_puts,
                    "{case}: the failed attempt's puts, then the retry's (none for a repeat)"
                );
            }
        }
    }
}

#[test]
fn bad_input_is_rejected_with_a_code_and_writes_nothing() {
    let h = Harness::new();
    h.provision(json!({ "customerId": C, "planId": "plan-basic", "resourceId": "ws" })).unwrap();
    let before = h.store().snapshot();
    let cases = [
        (
            h.usage(json!({ "customerId": "", "featureId": "feature-ai-tokens", "value": 1 })).unwrap_err(),
            "INVALID_ARGUMENT",
            "customerId",
        ),
        (
            h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": -1 }))
                .unwrap_err(),
            "INVALID_ARGUMENT",
            "value",
        ),
        (
            h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 0 }))
                .unwrap_err(),
            "INVALID_ARGUMENT",
            "value",
        ),
        (
            h.usage(
                json!({ "customerId": C, "resourceId": "ws", "featureId": "feature-ai-tokens", "value": 0.0000001 }),
            )
            .unwrap_err(),
            "INVALID_ARGUMENT",
            "value",
        ),
        (
            h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": "nope", "value": 1 })).unwrap_err(),
            "NOT_FOUND",
            "nope",
        ),
        (
            h.usage(json!({ "customerId": C, "resourceId": "none", "featureId": "feature-ai-tokens", "value": 1 }))
                .unwrap_err(),
            "NOT_FOUND",
            "subscription",
        ),
        (h.provision(json!({ "customerId": C, "planId": "plan-gold" })).unwrap_err(), "NOT_FOUND", "plan-gold"),
        (h.grant(json!({ "customerId": C, "currencyId": "gold", "amount": 1 })).unwrap_err(), "NOT_FOUND", "gold"),
        (
            h.grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": "1e3" })).unwrap_err(),
            "INVALID_ARGUMENT",
            "amount",
        ),
        (
            h.grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 1, "priority": -1 })).unwrap_err(),
            "INVALID_ARGUMENT",
            "priority",
        ),
        (
            h.grant(
                json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 1, "expireAt": "2026-01-01T00:00:00Z" }),
            )
            .unwrap_err(),
            "INVALID_ARGUMENT",
            "expireAt",
        ),
        (
            h.grant(json!({ "customerId": C, "currencyId": "ai-tokens", "amount": 1, "effectiveAt": "2026-02-30" }))
                .unwrap_err(),
            "INVALID_ARGUMENT",
            "effectiveAt",
        ),
        (
            h.grant(json!({ "customerId": "x".repeat(129), "currencyId": "ai-tokens", "amount": 1 })).unwrap_err(),
            "INVALID_ARGUMENT",
            "customerId",
        ),
    ];
    for (error, code, mentions) in cases {
        assert_eq!(error.code(), code, "{error}");
        assert!(error.to_string().contains(mentions), "{error} should mention {mentions}");
    }
    assert_eq!(before, h.store().snapshot());
}

#[test]
fn corrupt_or_foreign_values_are_reported_not_trusted() {
    let h = Harness::new();
    h.provision(json!({ "customerId": "a", "planId": "plan-basic" })).unwrap();
    h.provision(json!({ "customerId": "b", "planId": "plan-basic" })).unwrap();
    let entries = h.store().snapshot();
    let (head_a, head_b) = (
        entries.keys().find(|k| k.contains("/1:a-/h")).unwrap().clone(),
        entries.keys().find(|k| k.contains("/1:b-/h")).unwrap().clone(),
    );
    h.store().inner.entries.borrow_mut().insert(head_a.clone(), entries[&head_b].clone());
    let error = credit_pools::block_on(
        h.ledger.get_credit_balance(from(json!({ "customerId": "a", "currencyId": "ai-tokens" }))),
    )
    .unwrap_err();
    assert_eq!(error.code(), "CORRUPT_STATE");
    assert!(error.to_string().contains(&head_a));
    h.store().inner.entries.borrow_mut().insert(head_a.clone(), entries[&head_a][..20].to_string());
    assert_eq!(
        h.usage(json!({ "customerId": "a", "featureId": "feature-ai-tokens", "value": 1 })).unwrap_err().code(),
        "CORRUPT_STATE"
    );
    h.store().fail_gets.set(true);
    assert_eq!(
        h.usage(json!({ "customerId": "b", "featureId": "feature-ai-tokens", "value": 1 })).unwrap_err().code(),
        "STORE_ERROR"
    );
}

#[test]
fn ledger_pages_hold_history_and_queries_page_through_it() {
    let h = Harness::new();
    h.provision(json!({ "customerId": C, "planId": "plan-basic" })).unwrap();
    for n in 0..150 {
        h.usage(json!({ "customerId": C, "featureId": if n % 3 == 0 { "feature-calls" } else { "feature-ai-tokens" }, "value": 1 })).unwrap();
    }
    let all = h.events(C, None);
    assert_eq!(all.len(), 151);
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64));
    let calls = credit_pools::block_on(h.ledger.get_credit_ledger(from(json!({
        "customerId": C, "currencyId": "api-calls", "limit": 7, "order": "DESC" }))))
    .unwrap();
    assert_eq!(calls.events.len(), 7);
    assert_eq!(calls.events[0].seq, 148, "newest first");
    assert!(calls.events.iter().all(|e| e.currency_id == "api-calls"));
    let granted = credit_pools::block_on(h.ledger.get_credit_ledger(from(json!({
        "customerId": C, "eventType": ["CREDITS_GRANTED"] }))))
    .unwrap();
    assert_eq!(granted.events.len(), 1);
    assert_eq!(granted.next_cursor, None);
    // 151 events: four full pages of 32, the last 23 in the head's tail.
    assert_eq!(h.store().snapshot().keys().filter(|k| k.contains("/l/")).count(), 4, "32 events per page");
}

#[test]
fn a_scope_idle_for_fifteen_years_renews_in_one_bounded_step() {
    let h = Harness::new();
    h.provision(json!({ "customerId": C, "planId": "plan-basic" })).unwrap();
    h.set_now("2041-02-01T00:00:00Z");
    let usage = h.usage(json!({ "customerId": C, "featureId": "feature-ai-tokens", "value": 1 })).unwrap();
    assert_eq!(usage.credit.current_balance, 999.0);
    let balance = h.balance(C, None, "ai-tokens");
    // The first period, the newest 119 missed ones, and the current one.
    assert_eq!(balance.total_granted, 121_000.0);
    assert_eq!(balance.total_expired, 120_000.0);
    let current = h.grants(C, None).into_iter().find(|g| format!("{:?}", g.status) == "Active").unwrap();
    assert_eq!(current.effective_at, "2041-01-31T10:00:00.000Z");
}
