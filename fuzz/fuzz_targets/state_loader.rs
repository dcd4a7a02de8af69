//! Fuzz target: arbitrary bytes as a state snapshot, through
//! `State::decode`, the decoder `Engine::read_state` and `Session::open`
//! use. Any panic is a finding; a decoded state must survive
//! `encode` → `decode` unchanged (what a run writes, the next must read).
#![no_main]

use infra_engine::State;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = State::decode(data, "state/fuzz.json") else {
        return;
    };
    let encoded = state.encode();
    let again = State::decode(&encoded, "re-encoded state").unwrap_or_else(|e| {
        panic!(
            "a decoded state does not decode once encoded: {e}\n{}",
            String::from_utf8_lossy(&encoded)
        )
    });
    assert_eq!(again, state, "encode → decode changed the state");
    for r in state.resources() {
        let _ = r.address.to_string();
    }
});
