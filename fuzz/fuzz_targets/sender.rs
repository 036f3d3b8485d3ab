//! `cargo +nightly fuzz run sender`: the body and what it checks are in `src/sender_world.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rudp_fuzz::sender(data);
});
