//! An actor whose store holds arbitrary events (and maybe an arbitrary snapshot) answers
//! with its state or with a start error naming actor and version; never panics.
#![no_main]

#[path = "../../tests/reliability_common/ledger.rs"]
mod ledger;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (history, snapshot) = ledger::history_from_bytes(data);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(ledger::check_rehydration(history, snapshot));
});
