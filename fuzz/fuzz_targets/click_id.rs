//! `cargo fuzz run click_id`: see `fuzz_harness::click_id` for the input format and the invariants.
#![no_main]

#[allow(dead_code, reason = "each target uses one of the harness's checks")]
#[path = "../../tests/it/fuzz_harness.rs"]
mod fuzz_harness;
#[allow(dead_code, reason = "only parse_postback asks the oracle")]
#[path = "../../tests/it/oracle.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::click_id(data));
