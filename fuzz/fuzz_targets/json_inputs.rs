#![no_main]
//! Every operation's input decoded from arbitrary JSON text (see `fuzz/harness.rs`).

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::json_inputs(data));
