//! The fuzz harnesses (`fuzz/harness.rs`, run for real by `make fuzz`) over
//! deterministic pseudo-random inputs and the saved regressions, so every
//! `cargo test` exercises them.

#[path = "../fuzz/harness.rs"]
mod harness;

/// Inputs per harness; `FUZZ_HARNESS_CASES=N cargo test --test fuzz_harness` runs more.
fn cases() -> u64 {
    std::env::var("FUZZ_HARNESS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150)
}

fn inputs(salt: u64) -> impl Iterator<Item = Vec<u8>> {
    (0..cases()).map(move |case| {
        let mut state = salt ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let len = (next() % 600) as usize;
        (0..len).map(|_| next() as u8).collect()
    })
}

/// The files saved under `fuzz/regressions/{target}/`: inputs that once failed.
fn regressions(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|e| e.ok()).filter_map(|e| std::fs::read(e.path()).ok()).collect()
}

#[test]
fn operation_sequences_keep_every_pool_balanced() {
    for input in inputs(1).chain(regressions("operations")) {
        harness::operations(&input);
    }
}

#[test]
fn json_inputs_get_a_coded_answer() {
    let samples: [&[u8]; 6] = [
        br#"{"customerId":"fuzz","resourceId":"ws-a","featureId":"f","value":1e308}"#,
        br#"{"customerId":"fuzz","currencyId":"c","amount":"0.0000001","idempotencyKey":"x"}"#,
        br#"{"customerId":"","planId":"p"}"#,
        br#"{"id":"sub-x-0-999999999999999999999"}"#,
        br#"{"currencies":[{"id":"c"}],"plans":[{"id":"p","creditRates":[{"featureId":"f","currencyId":"c","costFormula":"((((((1"}]}]}"#,
        br#"{"customerId":"fuzz","startDate":"2026-01-01","endDate":"2025-01-01"}"#,
    ];
    for input in inputs(2).chain(samples.iter().map(|s| s.to_vec())).chain(regressions("json_inputs")) {
        harness::json_inputs(&input);
    }
}

#[test]
fn corrupt_stored_values_are_reported_never_trusted() {
    for input in inputs(3).chain(regressions("stored_values")) {
        harness::stored_values(&input);
    }
}
