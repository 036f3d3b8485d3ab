//! `cargo +nightly fuzz run listener`: the body and what it checks are in `src/listener_world.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rudp_fuzz::listener(data);
});
