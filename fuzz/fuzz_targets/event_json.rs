//! Arbitrary bytes decoded as a stored `aether_core::Event`.
#![no_main]

#[path = "../../tests/reliability_common/ledger.rs"]
mod ledger;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger::check_event_bytes(data));
