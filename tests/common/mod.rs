//! Shared fixtures for the native tests of the core.
#![allow(dead_code, unreachable_pub)]

use std::cell::Cell;
use std::collections::BTreeMap;

use credit_pools::block_on;
use credit_pools::core::api::*;
use credit_pools::core::catalog::CatalogInput;
use credit_pools::core::decode::FromJson;
use credit_pools::core::ledger::WriteResult;
use credit_pools::core::recharge::RechargeConfigOutput;
use credit_pools::core::store::{GetFailure, ManualEnvironment, MemoryStore, Store};
use credit_pools::core::time::parse_iso;
use credit_pools::core::{Ledger, LedgerError};
use serde_json::{json, Value};

pub const T0: &str = "2026-01-31T10:00:00Z";

pub fn ms(iso: &str) -> i64 {
    parse_iso(iso).unwrap_or_else(|| panic!("bad test date {iso}"))
}

pub fn catalog() -> CatalogInput {
    from(json!({
        "currencies": [{ "id": "ai-tokens", "displayName": "AI tokens" }, { "id": "api-calls" }],
        "plans": [
            { "id": "plan-basic",
              "credits": [{ "currencyId": "ai-tokens", "amount": 1000, "cadence": "MONTH" }],
              "creditRates": [
                  { "featureId": "feature-ai-tokens", "currencyId": "ai-tokens", "amount": 1 },
                  { "featureId": "feature-calls", "currencyId": "api-calls", "amount": 2.5 }] },
            { "id": "plan-yearly",
              "credits": [{ "currencyId": "ai-tokens", "amount": 12000, "cadence": "YEAR" }],
              "creditRates": [{ "featureId": "feature-ai-tokens", "currencyId": "ai-tokens", "amount": 1 }] },
            { "id": "plan-soft",
              "credits": [{ "currencyId": "ai-tokens", "amount": 10, "cadence": "MONTH", "hasSoftLimit": true }],
              "creditRates": [{ "featureId": "feature-ai-tokens", "currencyId": "ai-tokens", "amount": 1 }] },
            { "id": "plan-ai",
              "creditRates": [{ "featureId": "feature-llm", "currencyId": "ai-tokens", "costFormula": "1.1*model1_tokens + 1.5*model2_tokens" }] },
            { "id": "plan-payg",
              "creditRates": [{ "featureId": "feature-ai-tokens", "currencyId": "ai-tokens", "amount": 0.5 }] }
        ]
    }))
}

pub fn from<T: FromJson>(value: Value) -> T {
    T::from_json_text(&value.to_string(), "").expect("test input deserialises")
}

/// A store that can be told to fail its n-th put, before or after writing.
#[derive(Debug, Default)]
pub struct FlakyStore {
    pub inner: MemoryStore,
    pub fail_put_at: Cell<Option<u64>>,
    pub write_before_failing: Cell<bool>,
    pub puts: Cell<u64>,
    pub fail_gets: Cell<bool>,
    /// Fails every put whose key ends with this.
    pub fail_put_suffix: std::cell::RefCell<Option<String>>,
}

impl FlakyStore {
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        self.inner.entries.borrow().clone()
    }
}

impl Store for FlakyStore {
    async fn get(&self, key: &str) -> Result<Option<String>, GetFailure> {
        if self.fail_gets.get() {
            return Err(GetFailure::Failed("injected get failure".to_string()));
        }
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: String) -> Result<(), String> {
        let index = self.puts.get();
        self.puts.set(index + 1);
        let suffix_hit = self.fail_put_suffix.borrow().as_ref().is_some_and(|suffix| key.ends_with(suffix.as_str()));
        if self.fail_put_at.get() == Some(index) || suffix_hit {
            if self.write_before_failing.get() {
                self.inner.put(key, value).await?;
            }
            return Err("injected put failure".to_string());
        }
        self.inner.put(key, value).await
    }
}

pub struct Harness {
    pub ledger: Ledger<FlakyStore, ManualEnvironment>,
}

impl Harness {
    pub fn new() -> Self {
        Self::at(T0)
    }

    pub fn at(iso: &str) -> Self {
        let env = ManualEnvironment::new(ms(iso), 42);
        Self { ledger: Ledger::new(FlakyStore::default(), env, catalog(), None).unwrap() }
    }

    pub fn set_now(&self, iso: &str) {
        self.ledger.env().set_now(ms(iso));
    }

    pub fn store(&self) -> &FlakyStore {
        self.ledger.store()
    }

    pub fn provision(&self, value: Value) -> Result<ProvisionSubscriptionResult, Box<LedgerError>> {
        block_on(self.ledger.provision_subscription(from(value))).map(|r| r.result)
    }

    pub fn grant(&self, value: Value) -> Result<GrantOutput, Box<LedgerError>> {
        block_on(self.ledger.grant_credits(from(value))).map(|r| r.result)
    }

    pub fn usage(&self, value: Value) -> Result<ReportUsageResult, Box<LedgerError>> {
        block_on(self.ledger.report_usage(from(value))).map(|r| r.result)
    }

    pub fn consume(&self, value: Value) -> Result<ConsumeCreditsResult, Box<LedgerError>> {
        block_on(self.ledger.consume_credits(from(value))).map(|r| r.result)
    }

    pub fn void(&self, id: &str) -> Result<GrantOutput, Box<LedgerError>> {
        block_on(self.ledger.void_credit_grant(from(json!({ "id": id })))).map(|r| r.result)
    }

    pub fn entitlement(&self, value: Value) -> Result<CreditEntitlementOutput, Box<LedgerError>> {
        block_on(self.ledger.get_credit_entitlement(from(value)))
    }

    pub fn estimate(&self, value: Value) -> Result<UsageCostEstimation, Box<LedgerError>> {
        block_on(self.ledger.estimate_usage_cost(from(value)))
    }

    pub fn consume_full(&self, value: Value) -> Result<WriteResult<ConsumeCreditsResult>, Box<LedgerError>> {
        block_on(self.ledger.consume_credits(from(value)))
    }

    pub fn usage_full(&self, value: Value) -> Result<WriteResult<ReportUsageResult>, Box<LedgerError>> {
        block_on(self.ledger.report_usage(from(value)))
    }

    pub fn save_recharge(&self, value: Value) -> Result<WriteResult<RechargeConfigOutput>, Box<LedgerError>> {
        block_on(self.ledger.save_automatic_recharge_configuration(from(value)))
    }

    pub fn recharge_config(&self, customer: &str, currency: &str) -> RechargeConfigOutput {
        block_on(
            self.ledger
                .get_automatic_recharge_configuration(from(json!({ "customerId": customer, "currencyId": currency }))),
        )
        .unwrap()
    }

    pub fn confirm(&self, id: &str) -> Result<WriteResult<GrantOutput>, Box<LedgerError>> {
        block_on(self.ledger.confirm_recharge(from(json!({ "rechargeId": id }))))
    }

    pub fn fail(&self, id: &str, reason: &str) -> Result<WriteResult<GrantOutput>, Box<LedgerError>> {
        block_on(self.ledger.fail_recharge(from(json!({ "rechargeId": id, "reason": reason }))))
    }

    pub fn reserve(&self, value: Value) -> Result<ReservationOutput, Box<LedgerError>> {
        block_on(self.ledger.reserve_credits(from(value))).map(|r| r.result)
    }

    pub fn settle(&self, id: &str, amount: f64) -> Result<ReservationResolution, Box<LedgerError>> {
        block_on(self.ledger.settle_reservation(from(json!({ "reservationId": id, "amount": amount }))))
            .map(|r| r.result)
    }

    pub fn release(&self, id: &str) -> Result<ReservationResolution, Box<LedgerError>> {
        block_on(self.ledger.release_reservation(from(json!({ "reservationId": id })))).map(|r| r.result)
    }

    pub fn usage_report(&self, value: Value) -> Result<CreditUsageReport, Box<LedgerError>> {
        block_on(self.ledger.get_credit_usage(from(value)))
    }

    pub fn transfer(
        &self,
        subscription_id: &str,
        destination: &str,
    ) -> Result<TransferSubscriptionResult, Box<LedgerError>> {
        block_on(self.ledger.transfer_subscription_to_resource(from(json!({
            "subscriptionId": subscription_id, "destinationResourceId": destination }))))
        .map(|r| r.result)
    }

    pub fn balance(&self, customer: &str, resource: Option<&str>, currency: &str) -> CreditBalanceOutput {
        block_on(self.ledger.get_credit_balance(from(
            json!({ "customerId": customer, "resourceId": resource, "currencyId": currency }),
        )))
        .unwrap()
    }

    pub fn events(&self, customer: &str, resource: Option<&str>) -> Vec<LedgerEventOutput> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let page = block_on(self.ledger.get_credit_ledger(from(json!({
                "customerId": customer, "resourceId": resource, "order": "ASC", "limit": 1000, "cursor": cursor,
            }))))
            .unwrap();
            all.extend(page.events);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
        panic!("ledger paging did not terminate");
    }

    pub fn grants(&self, customer: &str, resource: Option<&str>) -> Vec<GrantOutput> {
        block_on(
            self.ledger
                .get_credit_grants(from(json!({ "customerId": customer, "resourceId": resource, "limit": 1000 }))),
        )
        .unwrap()
        .grants
    }
}

/// Σ granted − Σ consumed − Σ expired − Σ voided over a pool's ledger, in micros.
pub fn ledger_balance_micros(events: &[LedgerEventOutput], currency: &str) -> i64 {
    events
        .iter()
        .filter(|e| e.currency_id == currency)
        .map(|e| {
            let micros = (e.amount * 1e6).round() as i64;
            match e.event_type.name() {
                "CREDITS_GRANTED" => micros,
                "CREDITS_CONSUMED" | "CREDITS_EXPIRED" | "CREDITS_VOIDED" => -micros,
                _ => 0,
            }
        })
        .sum()
}

pub fn event_type(event: &LedgerEventOutput) -> String {
    event.event_type.name().to_string()
}

/// The `type` of a host event, as serialised.
pub fn host_event_type(event: &credit_pools::core::events::HostEvent) -> String {
    event.body.name().to_string()
}
