//! Fuzz harnesses of the core, shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and by `tests/fuzz_harness.rs` (which runs them over
//! generated inputs and `fuzz/regressions/` on every `cargo test`).
//!
//! - `operations`: bytes decode into a sequence of operations (with store
//!   failures and clock jumps) run through the storage protocol; after each
//!   one, every pool's ledger must sum to its balance and the totals'
//!   identity must hold.
//! - `json_inputs`: bytes as JSON text, decoded into each operation's input
//!   type and run: a coded error or a result, never a panic.
//! - `stored_values`: bytes replace, or corrupt, one stored record; reads and
//!   writes must answer `CORRUPT_STATE` (or succeed on a value that is still
//!   valid), never panic, and a write must never overwrite what it refused.
//!
//! A panic anywhere is a finding: the fuzzer keeps the input.

#![allow(dead_code, unreachable_pub, clippy::manual_is_multiple_of)]

use std::cell::Cell;

use credit_pools::block_on;
use credit_pools::core::catalog::CatalogInput;
use credit_pools::core::decode::FromJson;
use credit_pools::core::ledger_event::EventKind;
use credit_pools::core::store::{GetFailure, ManualEnvironment, MemoryStore, Store, StoreCapabilities};
use credit_pools::core::{Ledger, LedgerError};
use serde_json::{json, Value};

const CODES: [&str; 9] = [
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "IDEMPOTENCY_CONFLICT",
    "LIMIT_EXCEEDED",
    "INVALID_STATE",
    "INSUFFICIENT_CREDITS",
    "STORE_ERROR",
    "CORRUPT_STATE",
    "CONFLICT",
];
const CUSTOMER: &str = "fuzz";
const SCOPES: [Option<&str>; 3] = [None, Some("ws-a"), Some("ws-b")];
const OPERATIONS_MAX: usize = 256;

pub fn catalog() -> CatalogInput {
    from(json!({
        "currencies": [{ "id": "c" }, { "id": "d" }],
        "plans": [{ "id": "p", "credits": [{ "currencyId": "c", "amount": 100, "cadence": "MONTH" }],
            "creditRates": [{ "featureId": "f", "currencyId": "c", "amount": 0.5 },
                            { "featureId": "g", "currencyId": "d", "costFormula": "1.5*x + min(y, 3)" }] }]
    }))
}

/// A memory store whose puts can be told to fail (before or after landing).
#[derive(Debug, Default)]
pub struct FaultyStore {
    pub inner: MemoryStore,
    /// 0: none; 1: fail before landing; 2: land, then fail.
    pub fail_next_put: Cell<u8>,
}

impl Store for FaultyStore {
    async fn get(&self, key: &str) -> Result<Option<String>, GetFailure> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: String) -> Result<(), String> {
        match self.fail_next_put.replace(0) {
            1 => Err("fuzz: put failed".into()),
            2 => {
                self.inner.put(key, value).await?;
                Err("fuzz: acknowledgement lost".into())
            }
            _ => self.inner.put(key, value).await,
        }
    }

    fn capabilities(&self) -> StoreCapabilities {
        self.inner.capabilities()
    }

    async fn put_if_version(&self, key: &str, value: String, expected: u64) -> Result<bool, String> {
        if self.fail_next_put.replace(0) == 1 {
            return Err("fuzz: put failed".into());
        }
        self.inner.put_if_version(key, value, expected).await
    }

    async fn put_many(&self, entries: Vec<(String, String)>) -> Result<(), String> {
        if self.fail_next_put.replace(0) == 1 {
            return Err("fuzz: batch failed".into());
        }
        self.inner.put_many(entries).await
    }
}

type FuzzLedger = Ledger<FaultyStore, ManualEnvironment>;

fn ledger(capabilities: StoreCapabilities) -> FuzzLedger {
    let store = FaultyStore { inner: MemoryStore::with_capabilities(capabilities), ..FaultyStore::default() };
    Ledger::new(store, ManualEnvironment::new(1_767_225_600_000, 7), catalog(), None).expect("the fuzz ledger builds")
}

/// Reads bytes as a stream of small numbers; 0 once exhausted.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let byte = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        byte
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.byte()) << 8 | u16::from(self.byte())
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

fn coded<T>(result: Result<T, Box<LedgerError>>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            assert!(CODES.contains(&error.code()), "an uncoded error: {error:?}");
            assert!(!error.to_string().is_empty());
            None
        }
    }
}

fn from<T: FromJson>(value: Value) -> T {
    T::from_json_text(&value.to_string(), "").expect("harness inputs are well-formed")
}

/// The ledger of every scope sums to its balance; the totals agree.
fn check_pools(l: &FuzzLedger) {
    for scope in SCOPES {
        for currency in ["c", "d"] {
            let query = json!({ "customerId": CUSTOMER, "resourceId": scope, "currencyId": currency });
            let balance = block_on(l.get_credit_balance(from(query))).expect("a balance read over a healthy store");
            let micros = |x: f64| (x * 1e6).round() as i64;
            let identity =
                balance.total_granted - balance.total_consumed - balance.total_expired - balance.total_voided;
            assert_eq!(micros(identity), micros(balance.current_balance), "{scope:?}/{currency}: totals");
            let mut sum = 0;
            let mut cursor: Option<String> = None;
            for _ in 0..1000 {
                let query = json!({ "customerId": CUSTOMER, "resourceId": scope, "currencyId": currency,
                    "order": "ASC", "limit": 1000, "cursor": cursor });
                let page = block_on(l.get_credit_ledger(from(query))).expect("a ledger read over a healthy store");
                for event in &page.events {
                    match event.event_type {
                        EventKind::Granted => sum += micros(event.amount),
                        EventKind::Consumed | EventKind::Expired | EventKind::Voided => sum -= micros(event.amount),
                        EventKind::TransferSource | EventKind::TransferTarget => {}
                    }
                }
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            assert_eq!(sum, micros(balance.current_balance), "{scope:?}/{currency}: ledger sum");
            assert_eq!(
                micros(balance.available_balance),
                micros(balance.current_balance) - micros(balance.reserved_amount)
            );
        }
    }
}

/// Operation sequences decoded from bytes, with store failures and clock
/// jumps; the pools are checked after every fourth operation and at the end.
pub fn operations(data: &[u8]) {
    let mut bytes = Bytes { data, at: 0 };
    let flags = bytes.byte();
    let l = ledger(StoreCapabilities { compare_and_set: flags & 1 == 1, batch: flags & 2 == 2 });
    let mut grants: Vec<String> = Vec::new();
    let mut reservations: Vec<String> = Vec::new();
    let mut subscriptions: Vec<String> = Vec::new();
    for count in 0..OPERATIONS_MAX {
        if bytes.done() {
            break;
        }
        let (op, scope) = (bytes.byte(), SCOPES[usize::from(bytes.byte() % 3)]);
        let currency = if op & 0x80 == 0 { "c" } else { "d" };
        let amount = f64::from(bytes.u16()) / 100.0;
        let key = format!("k{}", bytes.byte() % 16);
        let who = json!({ "customerId": CUSTOMER, "resourceId": scope });
        let with = |extra: Value| {
            let mut value = who.clone();
            value.as_object_mut().expect("an object").extend(extra.as_object().expect("an object").clone());
            value
        };
        match op % 14 {
            0 => {
                if let Some(ack) = coded(block_on(l.provision_subscription(from(with(json!({ "planId": "p" })))))) {
                    subscriptions.push(ack.result.id);
                }
            }
            1 => {
                let expire = (bytes.byte() % 2 == 1).then(|| 1_767_225_600_000i64 + i64::from(bytes.u16()) * 3_600_000);
                let input = with(json!({ "currencyId": currency, "amount": amount, "priority": bytes.byte() % 3,
                    "expireAt": expire, "idempotencyKey": (key.len() % 2 == 0).then_some(&key) }));
                if let Some(ack) = coded(block_on(l.grant_credits(from(input)))) {
                    grants.push(ack.result.id);
                }
            }
            2 | 3 => {
                let input = with(json!({ "currencyId": currency, "amount": amount, "idempotencyKey": key,
                    "requireBalance": op % 14 == 3 }));
                coded(block_on(l.consume_credits(from(input))));
            }
            4 => {
                let dims = json!({ "x": f64::from(bytes.byte()), "y": f64::from(bytes.byte()) });
                let feature = if currency == "c" { "f" } else { "g" };
                let input = with(json!({ "featureId": feature, "value": amount.max(0.01), "idempotencyKey": key,
                    "dimensions": dims }));
                coded(block_on(l.report_usage(from(input))));
            }
            5 => {
                let input = with(
                    json!({ "currencyId": currency, "amount": amount, "ttlMs": 1 + u64::from(bytes.u16()) * 60_000,
                    "idempotencyKey": key }),
                );
                if let Some(ack) = coded(block_on(l.reserve_credits(from(input)))) {
                    reservations.push(ack.result.reservation_id);
                }
            }
            6 => {
                if let Some(id) = reservations.get(usize::from(bytes.byte()) % reservations.len().max(1)) {
                    let settle = json!({ "reservationId": id, "amount": amount });
                    if bytes.byte() % 2 == 0 {
                        coded(block_on(l.settle_reservation(from(settle))));
                    } else {
                        coded(block_on(l.release_reservation(from(json!({ "reservationId": id })))));
                    }
                }
            }
            7 => {
                if let Some(id) = grants.get(usize::from(bytes.byte()) % grants.len().max(1)) {
                    coded(block_on(l.void_credit_grant(from(json!({ "id": id })))));
                }
            }
            8 => {
                let jump_ms = i64::from(bytes.u16()) * 60_000 * i64::from(1 + bytes.byte() % 60);
                let now = *l.env().now_ms.borrow();
                l.env().set_now(now + jump_ms);
            }
            9 => {
                let input = json!({ "customerId": CUSTOMER, "currencyId": currency, "isEnabled": bytes.byte() % 4 != 0,
                    "thresholdValue": amount, "targetBalance": f64::from(bytes.u16()) / 10.0,
                    "maxSpendLimit": (bytes.byte() % 2 == 0).then(|| f64::from(bytes.u16())) });
                coded(block_on(l.save_automatic_recharge_configuration(from(input))));
            }
            10 => {
                let pending = block_on(l.get_credit_grants(from(with(json!({ "limit": 1000 })))))
                    .map(|page| page.grants)
                    .unwrap_or_default();
                let pending: Vec<_> =
                    pending.iter().filter(|g| g.automatic_recharge_configuration_id.is_some()).collect();
                if let Some(grant) = pending.get(usize::from(bytes.byte()) % pending.len().max(1)) {
                    let outcome = json!({ "rechargeId": grant.id });
                    if bytes.byte() % 3 == 0 {
                        coded(block_on(l.fail_recharge(from(outcome))));
                    } else {
                        coded(block_on(l.confirm_recharge(from(outcome))));
                    }
                }
            }
            11 => {
                if let Some(id) = subscriptions.get(usize::from(bytes.byte()) % subscriptions.len().max(1)) {
                    let to = ["ws-a", "ws-b", "ws-c"][usize::from(bytes.byte() % 3)];
                    let input = json!({ "subscriptionId": id, "destinationResourceId": to });
                    coded(block_on(l.transfer_subscription_to_resource(from(input))));
                }
            }
            12 => l.store().fail_next_put.set(1 + bytes.byte() % 2),
            _ => {
                let input = with(json!({ "currencyId": currency, "requestedUsage": amount }));
                coded(block_on(l.get_credit_entitlement(from(input))));
            }
        }
        l.store().fail_next_put.set(0);
        if count % 4 == 3 {
            check_pools(&l);
        }
    }
    check_pools(&l);
}

/// JSON text from bytes, decoded into every input type and run.
pub fn json_inputs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let l = ledger(StoreCapabilities::default());
    block_on(l.provision_subscription(from(json!({ "customerId": CUSTOMER, "planId": "p", "resourceId": "ws-a" }))))
        .expect("provisioning works");
    macro_rules! each {
        ($($method:ident),*) => {$(
            if let Ok(input) = FromJson::from_json_text(&text, "") {
                coded(block_on(l.$method(input)).map(|_| ()));
            }
        )*};
    }
    each!(
        provision_subscription,
        grant_credits,
        report_usage,
        consume_credits,
        void_credit_grant,
        get_credit_entitlement,
        estimate_usage_cost,
        get_credit_balance,
        get_credit_ledger,
        get_credit_grants,
        get_credit_usage,
        transfer_subscription_to_resource,
        save_automatic_recharge_configuration,
        get_automatic_recharge_configuration,
        reserve_credits,
        settle_reservation,
        release_reservation,
        confirm_recharge,
        fail_recharge
    );
    if let Ok(catalog) = CatalogInput::from_json_text(&text, "catalog") {
        coded(Ledger::new(MemoryStore::default(), ManualEnvironment::new(0, 1), catalog, None).map(|_| ()));
    }
    check_pools(&l);
}

/// One stored record replaced by bytes, or a valid one with bytes spliced in.
pub fn stored_values(data: &[u8]) {
    let mut bytes = Bytes { data, at: 0 };
    let l = ledger(StoreCapabilities::default());
    let who = json!({ "customerId": CUSTOMER, "resourceId": "ws-a" });
    block_on(l.provision_subscription(from(json!({ "customerId": CUSTOMER, "planId": "p", "resourceId": "ws-a" }))))
        .expect("provisioning works");
    for n in 0..40 {
        let usage = json!({ "customerId": CUSTOMER, "resourceId": "ws-a", "featureId": "f", "value": 1, "idempotencyKey": format!("u{n}") });
        block_on(l.report_usage(from(usage))).expect("usage works");
    }
    block_on(l.save_automatic_recharge_configuration(from(json!({ "customerId": CUSTOMER, "currencyId": "c",
        "isEnabled": true, "thresholdValue": 10, "targetBalance": 50 }))))
    .expect("a valid configuration");
    let keys: Vec<String> = l.store().inner.entries.borrow().keys().cloned().collect();
    let key = keys[usize::from(bytes.byte()) % keys.len()].clone();
    let original = l.store().inner.entries.borrow()[&key].clone();
    let value = if bytes.byte() % 2 == 0 {
        String::from_utf8_lossy(&data[bytes.at.min(data.len())..]).into_owned()
    } else {
        // Splice: keep most of the valid value, overwrite a window with the rest of the bytes.
        let mut raw = original.clone().into_bytes();
        let at = usize::from(bytes.u16()) % raw.len().max(1);
        for (offset, byte) in data[bytes.at.min(data.len())..].iter().enumerate() {
            if let Some(slot) = raw.get_mut(at + offset) {
                *slot = *byte;
            }
        }
        String::from_utf8_lossy(&raw).into_owned()
    };
    l.store().inner.entries.borrow_mut().insert(key.clone(), value.clone());
    let reads = [
        block_on(
            l.get_credit_balance(from(json!({ "customerId": CUSTOMER, "resourceId": "ws-a", "currencyId": "c" }))),
        )
        .map(|_| ()),
        block_on(l.get_credit_ledger(from(json!({ "customerId": CUSTOMER, "resourceId": "ws-a", "order": "ASC" }))))
            .map(|_| ()),
        block_on(l.get_credit_grants(from(who.clone()))).map(|_| ()),
        block_on(l.get_automatic_recharge_configuration(from(json!({ "customerId": CUSTOMER, "currencyId": "c" }))))
            .map(|_| ()),
        block_on(l.get_credit_usage(from(json!({ "customerId": CUSTOMER, "resourceId": "ws-a",
            "startDate": "2025-01-01", "endDate": "2027-01-01" }))))
        .map(|_| ()),
    ];
    for read in reads {
        coded(read);
    }
    let writes = [
        block_on(l.report_usage(from(json!({ "customerId": CUSTOMER, "resourceId": "ws-a", "featureId": "f",
            "value": 1, "idempotencyKey": "u3" }))))
        .map(|_| ()),
        block_on(l.consume_credits(from(json!({ "customerId": CUSTOMER, "resourceId": "ws-a", "currencyId": "c",
            "amount": 500, "idempotencyKey": "fresh" }))))
        .map(|_| ()),
    ];
    for write in writes {
        if let Err(error) = &write {
            if error.code() == "CORRUPT_STATE" {
                let now = l.store().inner.entries.borrow().get(&key).cloned();
                assert_eq!(now.as_deref(), Some(value.as_str()), "a refused corrupt value was overwritten");
            }
        }
        coded(write);
    }
}
