#![no_main]
//! Operation sequences through the storage protocol (see `fuzz/harness.rs`).

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::operations(data));
