//! `cargo +nightly fuzz run receiver`: the body and what it checks are in `src/receiver_world.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rudp_fuzz::receiver(data);
});
