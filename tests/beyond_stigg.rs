//! Cost formulas over dimensions, usage breakdowns, and moving a subscription.

mod common;

use common::*;
use serde_json::json;

const C: &str = "customer-ai";

#[test]
fn a_cost_formula_prices_usage_from_its_dimensions_exactly() {
    let h = Harness::new();
    h.provision(json!({ "customerId": C, "planId": "plan-ai" })).unwrap();
    let usage = h
        .usage(json!({ "customerId": C, "featureId": "feature-llm", "value": 1,
            "dimensions": { "model1_tokens": 1000, "model2_tokens": "300" } }))
        .unwrap();
    assert_eq!((usage.credit.consumed, usage.credit.current_balance), (1550.0, -1550.0));
    let estimate =
        h.estimate(json!({ "customerId": C, "featureId": "feature-llm", "value": 1, "dimensions": { "model1_tokens": 0.1, "model2_tokens": 0.2 } }));
    assert_eq!(estimate.unwrap().estimates[0].estimated_cost, 0.41, "exact: 0.11 + 0.3");
    let missing = h.usage(
        json!({ "customerId": C, "featureId": "feature-llm", "value": 1, "dimensions": { "model1_tokens": 5 } }),
    );
    let missing = missing.unwrap_err();
    assert_eq!(missing.code(), "INVALID_ARGUMENT");
    assert!(missing.to_string().contains("dimensions.model2_tokens"), "{missing}");
    let text = h.usage(json!({ "customerId": C, "featureId": "feature-llm", "value": 1, "dimensions": { "model1_tokens": "lots", "model2_tokens": 1 } }));
    assert_eq!(text.unwrap_err().code(), "INVALID_ARGUMENT");
    let bad_key =
        h.usage(json!({ "customerId": C, "featureId": "feature-llm", "value": 1, "dimensions": { "model-1": 1 } }));
    assert_eq!(bad_key.unwrap_err().code(), "INVALID_ARGUMENT");
    assert_eq!(h.balance(C, None, "ai-tokens").current_balance, -1550.0, "refused usage changed nothing");
}

#[test]
fn a_bad_formula_is_refused_when_the_catalog_is_built() {
    use credit_pools::core::store::{ManualEnvironment, MemoryStore};
    let catalog = from(json!({ "currencies": [{ "id": "c" }], "plans": [{ "id": "p",
        "creditRates": [{ "featureId": "f", "currencyId": "c", "costFormula": "1.1 * (tokens" }] }] }));
    let error = credit_pools::core::Ledger::new(MemoryStore::default(), ManualEnvironment::new(0, 1), catalog, None)
        .unwrap_err();
    assert_eq!(error.code(), "INVALID_ARGUMENT");
    assert!(error.to_string().contains("catalog.plans[0].creditRates[0].costFormula"), "{error}");
}

#[test]
fn usage_breaks_down_by_feature_and_by_dimension_per_day() {
    let h = Harness::at("2026-03-01T09:00:00Z");
    h.provision(json!({ "customerId": C, "resourceId": "ws", "planId": "plan-basic" })).unwrap();
    let report = |feature: &str, value: f64, model: &str| {
        h.usage(json!({ "customerId": C, "resourceId": "ws", "featureId": feature, "value": value, "dimensions": { "model": model } })).unwrap();
    };
    report("feature-ai-tokens", 100.0, "small"); // 100 tokens
    report("feature-ai-tokens", 50.0, "large");
    report("feature-calls", 4.0, "small"); // 10 api-calls
    h.set_now("2026-03-02T15:00:00Z");
    report("feature-ai-tokens", 25.0, "large");
    let by_feature = h
        .usage_report(json!({ "customerId": C, "resourceId": "ws", "startDate": "2026-03-01", "endDate": "2026-03-03", "groupBy": ["featureId"] }))
        .unwrap();
    assert!(by_feature.complete);
    let summary: Vec<(Option<String>, f64, u64, usize)> = by_feature
        .series
        .iter()
        .map(|s| (s.group["featureId"].clone(), s.total_credits, s.event_count, s.points.len()))
        .collect();
    assert_eq!(
        summary,
        vec![(Some("feature-ai-tokens".into()), 175.0, 3, 2), (Some("feature-calls".into()), 10.0, 1, 1)]
    );
    assert_eq!(by_feature.series[0].points[0].timestamp, "2026-03-01T00:00:00.000Z");
    assert_eq!((by_feature.series[0].points[0].value, by_feature.series[0].points[1].value), (150.0, 25.0));
    let by_model = h
        .usage_report(
            json!({ "customerId": C, "resourceId": "ws", "currencyId": "ai-tokens", "startDate": "2026-03-01",
            "endDate": "2026-03-02T00:00:00Z", "groupBy": ["model"] }),
        )
        .unwrap();
    let models: Vec<(Option<String>, f64)> =
        by_model.series.iter().map(|s| (s.group["model"].clone(), s.total_credits)).collect();
    assert_eq!(models, vec![(Some("large".into()), 50.0), (Some("small".into()), 100.0)], "endDate is exclusive");
    let bad = h.usage_report(json!({ "customerId": C, "startDate": "2026-03-02", "endDate": "2026-03-01" }));
    assert_eq!(bad.unwrap_err().code(), "INVALID_ARGUMENT");
    let too_many = h.usage_report(
        json!({ "customerId": C, "startDate": "2026-03-01", "endDate": "2026-03-02", "groupBy": ["a", "b", "c", "d"] }),
    );
    assert_eq!(too_many.unwrap_err().code(), "INVALID_ARGUMENT");
}

#[test]
fn a_moved_subscription_renews_in_its_new_resource_and_its_old_credits_stay() {
    let h = Harness::new(); // 2026-01-31T10:00Z
    let sub = h.provision(json!({ "customerId": C, "resourceId": "old", "planId": "plan-basic" })).unwrap();
    h.set_now("2026-02-10T00:00:00Z");
    let moved = h.transfer(&sub.id, "new").unwrap();
    assert_eq!(
        (moved.subscription.resource_id.as_deref(), moved.source_resource_id.as_deref()),
        (Some("new"), Some("old"))
    );
    assert_eq!(
        h.balance(C, Some("old"), "ai-tokens").current_balance,
        1000.0,
        "granted credits stay where they were granted"
    );
    assert_eq!(h.balance(C, Some("new"), "ai-tokens").current_balance, 0.0, "no second grant for the current period");
    // A grant the subscription left behind can still be found (and voided) by its id.
    let left_behind =
        h.grants(C, Some("old")).into_iter().find(|g| g.subscription_id.as_deref() == Some(sub.id.as_str())).unwrap();
    assert_eq!(h.void(&left_behind.id).unwrap().consumed_amount, 0.0);
    assert_eq!(h.balance(C, Some("old"), "ai-tokens").total_voided, 1000.0);
    // Usage in the new resource is priced by the moved plan; the old one has no subscription now.
    h.usage(json!({ "customerId": C, "resourceId": "new", "featureId": "feature-ai-tokens", "value": 5 })).unwrap();
    let old_usage =
        h.usage(json!({ "customerId": C, "resourceId": "old", "featureId": "feature-ai-tokens", "value": 5 }));
    assert_eq!(old_usage.unwrap_err().code(), "NOT_FOUND");
    h.set_now("2026-03-01T00:00:00Z");
    assert_eq!(
        h.balance(C, Some("new"), "ai-tokens").current_balance,
        995.0,
        "the next period renews in the new resource"
    );
    let old = h.balance(C, Some("old"), "ai-tokens");
    assert_eq!((old.current_balance, old.total_expired), (0.0, 0.0), "voided above: nothing was left to expire");
    // Moving it again, into a resource that has its own subscription, is refused.
    h.provision(json!({ "customerId": C, "resourceId": "busy", "planId": "plan-basic" })).unwrap();
    let before = h.store().snapshot();
    assert_eq!(h.transfer(&sub.id, "busy").unwrap_err().code(), "INVALID_STATE");
    assert_eq!(before, h.store().snapshot(), "a refused transfer touches nothing");
    assert_eq!(h.transfer(&sub.id, "new").unwrap_err().code(), "INVALID_ARGUMENT");
    // A store failure while the destination adopts it thaws the source again.
    *h.store().fail_put_suffix.borrow_mut() = Some("9:elsewhere/h".to_string());
    assert_eq!(h.transfer(&sub.id, "elsewhere").unwrap_err().code(), "STORE_ERROR");
    *h.store().fail_put_suffix.borrow_mut() = None;
    h.set_now("2026-04-01T00:00:00Z");
    assert_eq!(
        h.balance(C, Some("new"), "ai-tokens").total_granted,
        2000.0,
        "still renewing where it was (Feb 28 and Mar 31)"
    );
    assert_eq!(h.transfer(&sub.id, "elsewhere").unwrap().subscription.resource_id.as_deref(), Some("elsewhere"));
    assert_eq!(h.transfer("sub-unknown", "x").unwrap_err().code(), "NOT_FOUND");
}

/// Found by the simulator (seed 17): when the source's last write of a
/// transfer (forgetting its frozen copy) failed, a later transfer back into
/// that resource found the stale frozen copy, took it for a finished adoption,
/// and left the subscription active nowhere.
#[test]
fn moving_a_subscription_back_over_a_stale_frozen_copy_makes_it_active_there() {
    let has_subscription = |h: &Harness, resource: &str| {
        let heads = h.store().snapshot();
        let (_, head) = heads.iter().find(|(k, _)| k.ends_with(&format!("{}:{resource}/h", resource.len()))).unwrap();
        serde_json::from_str::<serde_json::Value>(head).unwrap().get("s").is_some()
        // "s": the subscription
    };
    // Fail each put of the transfer in turn until the one that fails is the
    // source's tidy-up: the transfer succeeds and "a" keeps its frozen copy.
    let (h, sub) = (0..16)
        .find_map(|fail_at| {
            let h = Harness::new(); // 2026-01-31T10:00Z
            let sub = h.provision(json!({ "customerId": C, "resourceId": "a", "planId": "plan-basic" })).unwrap();
            h.store().fail_put_at.set(Some(h.store().puts.get() + fail_at));
            let moved = h.transfer(&sub.id, "b");
            h.store().fail_put_at.set(None);
            (moved.is_ok() && has_subscription(&h, "a")).then_some((h, sub))
        })
        .expect("one of the transfer's puts is the ignored tidy-up");
    h.set_now("2026-03-05T00:00:00Z"); // "b" issues the period of Feb 28
    assert_eq!(h.balance(C, Some("b"), "ai-tokens").total_granted, 1000.0);
    let back = h.transfer(&sub.id, "a").unwrap();
    assert_eq!(back.subscription.resource_id.as_deref(), Some("a"));
    let usage = h.usage(json!({ "customerId": C, "resourceId": "a", "featureId": "feature-ai-tokens", "value": 5 }));
    assert_eq!(usage.unwrap().credit.consumed, 5.0, "the subscription prices usage in \"a\" again");
    h.set_now("2026-03-31T10:00:00Z");
    let a = h.balance(C, Some("a"), "ai-tokens");
    assert_eq!(a.total_granted, 2000.0, "Jan 31 and Mar 31 in \"a\"; Feb 28 was issued in \"b\", not again here");
    assert_eq!(h.balance(C, Some("b"), "ai-tokens").total_granted, 1000.0);
}
