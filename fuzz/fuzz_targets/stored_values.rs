#![no_main]
//! Corrupt and foreign values in the store (see `fuzz/harness.rs`).

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::stored_values(data));
