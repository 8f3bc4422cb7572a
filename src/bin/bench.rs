//! The native contestant of `make bench`: the Rust core over an in-memory
//! store, driven exactly as the wasm binding drives it (JSON text in, JSON
//! text out), on the workload of `bench/workload.mjs`.
//!
//! `cargo run --profile native --bin bench -- [--ops N]` prints one JSON line
//! per measured stream; `bench/bench.mjs` reads them into the table.

use std::time::Instant;

use credit_pools::block_on;
use credit_pools::core::catalog::CatalogInput;
use credit_pools::core::decode::FromJson;
use credit_pools::core::json::ToJson;
use credit_pools::core::store::{ManualEnvironment, MemoryStore};
use credit_pools::core::Ledger;

/// Resource pools of the benchmark customer, and warm-up operations per stream.
const POOLS: usize = 8;
const WARMUP_OPS: usize = 2_000;
const T0_MS: i64 = 1_772_323_200_000; // 2026-03-01T00:00:00Z, as bench/workload.mjs

/// The catalog of `bench/workload.mjs`.
const CATALOG: &str = r#"{"currencies":[{"id":"credits"}],"plans":[{"id":"plan-bench",
  "credits":[{"currencyId":"credits","amount":1000000,"cadence":"MONTH"}],
  "creditRates":[{"featureId":"tokens","currencyId":"credits","amount":0.001}]}]}"#;

fn input<T: FromJson>(text: &str) -> T {
    T::from_json_text(text, "").expect("benchmark inputs are valid")
}

type BenchLedger = Ledger<MemoryStore, ManualEnvironment>;

/// The customer of `bench/workload.mjs`: 8 resource pools, each with a plan
/// and three grants of mixed priority, type and expiry.
fn setup() -> BenchLedger {
    let catalog = CatalogInput::from_json_text(CATALOG, "catalog").expect("the benchmark catalog is valid");
    let ledger = Ledger::new(MemoryStore::default(), ManualEnvironment::new(T0_MS, 7), catalog, None)
        .expect("the benchmark ledger builds")
        .exclusive();
    for pool in 0..POOLS {
        let who = format!(r#""customerId":"bench-customer","resourceId":"ws-{pool}""#);
        block_on(ledger.provision_subscription(input(&format!(r#"{{{who},"planId":"plan-bench"}}"#)))).unwrap();
        let grants = [
            format!(
                r#"{{{who},"currencyId":"credits","amount":500000,"priority":0,"grantType":"PROMOTIONAL","expireAt":{}}}"#,
                T0_MS + 10 * 86_400_000
            ),
            format!(
                r#"{{{who},"currencyId":"credits","amount":1000000,"priority":1,"expireAt":{}}}"#,
                T0_MS + 30 * 86_400_000
            ),
            format!(r#"{{{who},"currencyId":"credits","amount":2000000,"priority":2}}"#),
        ];
        for grant in grants {
            block_on(ledger.grant_credits(input(&grant))).unwrap();
        }
    }
    ledger
}

/// The `n`-th operation of a stream: a keyed usage report, or (every fourth
/// operation of the mixed stream) an entitlement check. Returns the result's
/// JSON text, as the binding would hand it to `JSON.parse`.
fn operation(ledger: &BenchLedger, n: usize, mixed: bool) -> String {
    let pool = n % POOLS;
    let who = format!(r#""customerId":"bench-customer","resourceId":"ws-{pool}""#);
    if mixed && n % 4 == 3 {
        let text = format!(r#"{{{who},"currencyId":"credits","requestedUsage":10}}"#);
        return block_on(ledger.get_credit_entitlement(input(&text))).unwrap().to_json();
    }
    let text = format!(r#"{{{who},"featureId":"tokens","value":{},"idempotencyKey":"u-{n}"}}"#, 1 + n % 100);
    block_on(ledger.report_usage(input(&text))).unwrap().to_json()
}

fn measure(stream: &str, ops: usize) -> String {
    let ledger = setup();
    let mixed = stream == "mixed";
    for n in 0..WARMUP_OPS {
        operation(&ledger, n, mixed);
    }
    let mut latencies_ns: Vec<u64> = Vec::with_capacity(ops);
    let started = Instant::now();
    for n in WARMUP_OPS..WARMUP_OPS + ops {
        ledger.env().set_now(T0_MS + n as i64);
        let at = Instant::now();
        let answer = operation(&ledger, n, mixed);
        latencies_ns.push(at.elapsed().as_nanos() as u64);
        assert!(answer.starts_with('{'));
    }
    let total_s = started.elapsed().as_secs_f64();
    latencies_ns.sort_unstable();
    let percentile = |p: f64| latencies_ns[((latencies_ns.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    format!(
        r#"{{"contestant":"native","stream":"{stream}","ops":{ops},"opsPerSec":{:.0},"p50us":{:.2},"p99us":{:.2}}}"#,
        ops as f64 / total_s,
        percentile(0.50),
        percentile(0.99)
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ops = args
        .iter()
        .position(|a| a == "--ops")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    for stream in ["reportUsage", "mixed"] {
        println!("{}", measure(stream, ops));
    }
}
