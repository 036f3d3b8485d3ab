//! `cargo +nightly fuzz run frame_roundtrip`: the body and what it checks are in `src/frame_targets.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rudp_fuzz::frame_roundtrip(data);
});
