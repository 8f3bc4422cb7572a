//! Property tests: random operation sequences and clock jumps against the
//! conservation law and the append-only ledger, at every step.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    Provision {
        resource: u8,
        yearly: bool,
    },
    Grant {
        resource: u8,
        amount_cents: u32,
        priority: u8,
        expire_days: Option<u8>,
        delay_days: Option<u8>,
        promo: bool,
        key: Option<u8>,
    },
    Usage {
        resource: u8,
        value_tenths: u16,
        key: Option<u8>,
    },
    Consume {
        resource: u8,
        amount_cents: u32,
        key: u8,
    },
    Void {
        resource: u8,
        pick: u8,
    },
    Recharge {
        enabled: bool,
        threshold: u8,
        cap: Option<u16>,
    },
    Pay {
        resource: u8,
        paid: bool,
    },
    Reserve {
        resource: u8,
        amount_cents: u32,
        ttl_hours: u8,
    },
    Resolve {
        resource: u8,
        settle_percent: Option<u8>,
    },
    Strict {
        resource: u8,
        amount_cents: u32,
    },
    Transfer {
        from: u8,
        to: u8,
    },
    Advance {
        hours: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let resource = 0u8..3;
    prop_oneof![
        1 => (resource.clone(), any::<bool>()).prop_map(|(resource, yearly)| Op::Provision { resource, yearly }),
        3 => (resource.clone(), 1u32..100_000, 0u8..3, proptest::option::of(1u8..60), proptest::option::of(1u8..20), any::<bool>(), proptest::option::of(0u8..8))
            .prop_map(|(resource, amount_cents, priority, expire_days, delay_days, promo, key)| Op::Grant { resource, amount_cents, priority, expire_days, delay_days, promo, key }),
        5 => (resource.clone(), 1u16..5_000, proptest::option::of(0u8..8)).prop_map(|(resource, value_tenths, key)| Op::Usage { resource, value_tenths, key }),
        2 => (resource.clone(), 1u32..50_000, 0u8..8).prop_map(|(resource, amount_cents, key)| Op::Consume { resource, amount_cents, key }),
        1 => (resource.clone(), any::<u8>()).prop_map(|(resource, pick)| Op::Void { resource, pick }),
        1 => (any::<bool>(), 0u8..100, proptest::option::of(0u16..2_000)).prop_map(|(enabled, threshold, cap)| Op::Recharge { enabled, threshold, cap }),
        2 => (resource.clone(), any::<bool>()).prop_map(|(resource, paid)| Op::Pay { resource, paid }),
        2 => (resource.clone(), 1u32..50_000, 1u8..48).prop_map(|(resource, amount_cents, ttl_hours)| Op::Reserve { resource, amount_cents, ttl_hours }),
        2 => (resource.clone(), proptest::option::of(0u8..=100)).prop_map(|(resource, settle_percent)| Op::Resolve { resource, settle_percent }),
        2 => (resource.clone(), 1u32..50_000).prop_map(|(resource, amount_cents)| Op::Strict { resource, amount_cents }),
        1 => (resource.clone(), resource).prop_map(|(from, to)| Op::Transfer { from, to }),
        2 => (1u16..2_000).prop_map(|hours| Op::Advance { hours }),
    ]
}

fn resource_id(index: u8) -> Option<String> {
    (index > 0).then(|| format!("ws-{index}"))
}

const C: &str = "prop-customer";

/// Open reservations of a scope, read through the public API (the balance's
/// reserved amount) and the store (their ids), oldest first.
fn open_reservations(h: &Harness, resource: Option<&str>) -> Vec<(String, f64)> {
    let entries = h.store().snapshot();
    let head = entries.iter().find(|(key, _)| {
        let stem = credit_pools::core::keys::Scope::new(C, resource).unwrap().head_key("credit-pools");
        **key == stem
    });
    let Some((_, text)) = head else { return Vec::new() };
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let now = *h.ledger.env().now_ms.borrow();
    value["pools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|pool| pool["reservations"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["x"].as_i64().unwrap() > now)
        .map(|r| (r["i"].as_str().unwrap().to_string(), r["a"].as_i64().unwrap() as f64 / 1e6))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn balance_equals_the_ledger_and_the_ledger_only_grows(ops in proptest::collection::vec(op(), 1..60)) {
        let h = Harness::new();
        let mut now = ms(T0);
        let mut previous: Vec<Vec<_>> = vec![Vec::new(); 3];
        let mut subscriptions: Vec<Option<String>> = vec![None; 3];
        for op in ops {
            let outcome = match &op {
                Op::Provision { resource, yearly } => h.provision(json!({ "customerId": C, "resourceId": resource_id(*resource),
                    "planId": if *yearly { "plan-yearly" } else { "plan-basic" } })).map(|result| {
                        subscriptions[*resource as usize] = Some(result.id);
                    }),
                Op::Transfer { from, to } => match subscriptions[*from as usize].clone() {
                    // Subscriptions move between resources, not into the global pool.
                    Some(id) if from != to && *to != 0 => match h.transfer(&id, &format!("ws-{to}")) {
                        Ok(_) => {
                            subscriptions[*from as usize] = None;
                            subscriptions[*to as usize] = Some(id);
                            Ok(())
                        }
                        // The destination has its own subscription: refused, nothing changed.
                        Err(error) if error.code() == "INVALID_STATE" => Ok(()),
                        Err(error) => Err(error),
                    },
                    _ => Ok(()),
                },
                Op::Grant { resource, amount_cents, priority, expire_days, delay_days, promo, key } => {
                    let effective = now + i64::from(delay_days.unwrap_or(0)) * 86_400_000;
                    h.grant(json!({ "customerId": C, "resourceId": resource_id(*resource), "currencyId": "ai-tokens",
                        "amount": f64::from(*amount_cents) / 100.0, "priority": priority,
                        "effectiveAt": delay_days.map(|_| effective),
                        "expireAt": expire_days.map(|d| effective + i64::from(d) * 86_400_000),
                        "grantType": if *promo { "PROMOTIONAL" } else { "PAID" },
                        "idempotencyKey": key.map(|k| format!("g{k}-{amount_cents}")) })).map(|_| ())
                }
                Op::Usage { resource, value_tenths, key } => h.usage(json!({ "customerId": C, "resourceId": resource_id(*resource),
                    "featureId": "feature-ai-tokens", "value": f64::from(*value_tenths) / 10.0,
                    "idempotencyKey": key.map(|k| format!("u{k}-{value_tenths}")) })).map(|_| ()),
                Op::Consume { resource, amount_cents, key } => h.consume(json!({ "customerId": C, "resourceId": resource_id(*resource),
                    "currencyId": "ai-tokens", "amount": f64::from(*amount_cents) / 100.0,
                    "idempotencyKey": format!("c{key}-{amount_cents}") })).map(|_| ()),
                Op::Void { resource, pick } => {
                    let grants = h.grants(C, resource_id(*resource).as_deref());
                    match grants.get(usize::from(*pick) % grants.len().max(1)) {
                        Some(grant) => h.void(&grant.id).map(|_| ()),
                        None => Ok(()),
                    }
                }
                Op::Recharge { enabled, threshold, cap } => h.save_recharge(json!({ "customerId": C, "currencyId": "ai-tokens",
                    "isEnabled": enabled, "thresholdValue": threshold, "targetBalance": u32::from(*threshold) + 50,
                    "maxSpendLimit": cap })).map(|_| ()),
                Op::Pay { resource, paid } => {
                    let pending = h.grants(C, resource_id(*resource).as_deref()).into_iter()
                        .find(|g| format!("{:?}", g.status) == "PaymentPending");
                    match (pending, paid) {
                        (Some(grant), true) => h.confirm(&grant.id).map(|_| ()),
                        (Some(grant), false) => h.fail(&grant.id, "declined").map(|_| ()),
                        (None, _) => Ok(()),
                    }
                }
                Op::Reserve { resource, amount_cents, ttl_hours } => {
                    let key = format!("r{}-{amount_cents}-{ttl_hours}", previous.iter().map(Vec::len).sum::<usize>());
                    h.reserve(json!({ "customerId": C, "resourceId": resource_id(*resource), "currencyId": "ai-tokens",
                        "amount": f64::from(*amount_cents) / 100.0, "ttlMs": i64::from(*ttl_hours) * 3_600_000, "idempotencyKey": key }))
                        .map(|_| ())
                }
                Op::Resolve { resource, settle_percent } => {
                    let rid = resource_id(*resource);
                    let open = open_reservations(&h, rid.as_deref());
                    match (open.first(), settle_percent) {
                        (Some((id, amount)), Some(percent)) => h.settle(id, (amount * f64::from(*percent)).round() / 100.0).map(|_| ()),
                        (Some((id, _)), None) => h.release(id).map(|_| ()),
                        (None, _) => Ok(()),
                    }
                }
                Op::Strict { resource, amount_cents } => {
                    let rid = resource_id(*resource);
                    let available_before = h.balance(C, rid.as_deref(), "ai-tokens").available_balance;
                    let key = format!("s{}-{amount_cents}", previous.iter().map(Vec::len).sum::<usize>());
                    let outcome = h.consume(json!({ "customerId": C, "resourceId": rid, "currencyId": "ai-tokens",
                        "amount": f64::from(*amount_cents) / 100.0, "idempotencyKey": key, "requireBalance": true }));
                    let available_after = h.balance(C, rid.as_deref(), "ai-tokens").available_balance;
                    if outcome.is_ok() {
                        prop_assert!(available_after >= 0.0, "a requireBalance debit never overdraws: {available_before} -> {available_after}");
                    } else {
                        prop_assert_eq!(available_after, available_before, "a refused debit changes nothing");
                    }
                    outcome.map(|_| ())
                }
                Op::Advance { hours } => {
                    now += i64::from(*hours) * 3_600_000;
                    h.ledger.env().set_now(now);
                    Ok(())
                }
            };
            if let Err(error) = outcome {
                // Expected refusals: usage in a scope nobody provisioned (NOT_FOUND),
                // voiding a finished or overdraft grant (INVALID_STATE).
                let expected = match op {
                    Op::Void { .. } => "INVALID_STATE",
                    Op::Reserve { .. } | Op::Strict { .. } => "INSUFFICIENT_CREDITS",
                    _ => "NOT_FOUND",
                };
                prop_assert_eq!(error.code(), expected, "{:?} failed: {}", op, error);
            }
            for resource in 0..3u8 {
                let rid = resource_id(resource);
                let events = h.events(C, rid.as_deref());
                let balance = h.balance(C, rid.as_deref(), "ai-tokens");
                let balance_micros = (balance.current_balance * 1e6).round() as i64;
                prop_assert_eq!(ledger_balance_micros(&events, "ai-tokens"), balance_micros, "after {:?}", op);
                let totals = balance.total_granted - balance.total_consumed - balance.total_expired - balance.total_voided;
                prop_assert_eq!((totals * 1e6).round() as i64, balance_micros);
                // Committed events never change; pending clock events may only be appended.
                let committed = &previous[resource as usize];
                prop_assert!(events.len() >= committed.len());
                prop_assert_eq!(&events[..committed.len()], &committed[..]);
                let active: f64 = h.grants(C, rid.as_deref()).iter()
                    .filter(|g| format!("{:?}", g.status) == "Active")
                    .map(|g| g.amount - g.consumed_amount).sum();
                prop_assert_eq!((active * 1e6).round() as i64, balance_micros);
                prop_assert!(balance.reserved_amount >= 0.0);
                prop_assert_eq!(((balance.current_balance - balance.reserved_amount) * 1e6).round(), (balance.available_balance * 1e6).round());
                let pending = h.grants(C, rid.as_deref()).iter().filter(|g| format!("{:?}", g.status) == "PaymentPending").count();
                prop_assert!(pending <= 1, "one recharge at a time per pool");
                previous[resource as usize] = events;
            }
        }
        // The usage breakdown over all time adds up to what the ledger consumed.
        for resource in 0..3u8 {
            let rid = resource_id(resource);
            let consumed: f64 = h.events(C, rid.as_deref()).iter()
                .filter(|e| event_type(e) == "CREDITS_CONSUMED" && e.currency_id == "ai-tokens")
                .map(|e| e.amount).sum();
            let report = h.usage_report(json!({ "customerId": C, "resourceId": rid, "currencyId": "ai-tokens",
                "startDate": T0, "endDate": now + 1, "groupBy": ["featureId"] })).unwrap();
            prop_assert!(report.complete);
            let reported: f64 = report.series.iter().map(|s| s.total_credits).sum();
            prop_assert_eq!((reported * 1e6).round(), (consumed * 1e6).round());
            let points: f64 = report.series.iter().flat_map(|s| s.points.iter()).map(|p| p.value).sum();
            prop_assert_eq!((points * 1e6).round(), (consumed * 1e6).round());
        }
    }

    // A linear formula over two dimensions costs exactly a·x + b·y, rounded up to a micro.
    #[test]
    fn formulas_are_exact_decimal_arithmetic(a_cents in 0u32..100_000, b_cents in 0u32..100_000, x in 0u32..1_000_000, y in 0u32..1_000_000) {
        use credit_pools::core::formula::{DimensionValue, Formula};
        let text = format!("{}*x + {}/100*y", f64::from(a_cents) / 100.0, b_cents);
        let formula = Formula::parse("costFormula", &text).unwrap();
        let dims = [("x".to_string(), DimensionValue::Number(x.to_string())), ("y".to_string(), DimensionValue::Text(y.to_string()))]
            .into_iter().collect();
        let expected = (i128::from(a_cents) * i128::from(x) + i128::from(b_cents) * i128::from(y)) * 10_000; // micros
        match formula.cost_micros(1, &dims) {
            Ok(micros) => prop_assert_eq!(i128::from(micros), expected),
            Err(error) => prop_assert!(expected > 1_000_000_000_000_000, "{error}"),
        }
    }
}
