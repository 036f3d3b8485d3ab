//! The bodies of the rudp-nostd fuzz targets (issue 6), shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and by the stable replay test `rudp-nostd/tests/fuzz_replay.rs`, which
//! includes this file as a module (by `#[path]`, so that its modules resolve from `fuzz/src/`
//! there too). So it uses only `rudp_nostd` and `std`: no `arbitrary` (the
//! fuzz input is parsed by hand with [`Cursor`]) and no `embedded_io` (the engines read a
//! `&[u8]` and write a `&mut [u8]`, which embedded-io implements).
//!
//! Each body checks invariants with `assert!`: a broken one panics, libFuzzer saves the input,
//! and the replay test prints it. What each body checks is written on it.
//!
//! Memory: the engines are `no_std` without `alloc`; every buffer they have is a fixed array
//! inside them (`size_of` is a compile-time constant). The harnesses allocate freely;
//! the engines never do.
//!
//! One job per module:
//! - `input.rs`: the byte codec of fuzz inputs: [`Cursor`] reads one, [`Program`] writes one;
//! - `spec.rs` ([`spec`]): SPEC's constants and rules written out from the SPEC, the oracle;
//! - `frame_targets.rs`: the bodies of [`decode_frame`] and [`frame_roundtrip`];
//! - `world.rs`: what the engine worlds share: endpoints, time steps, the [`pattern`];
//! - `scripted_sender.rs`: the well-behaved sender that drives the receiver world;
//! - `receiver_world.rs`: the body of [`receiver`] and its input format ([`rx_op`], [`rx_setup`]);
//! - `sender_world.rs`: the body of [`sender`], the receiver that answers it, and its input
//!   format ([`tx_op`], [`tx_setup`]);
//! - `listener_world.rs`: the body of [`listener`]: a `Listener` under two senders, an
//!   attacker and an application, all driven by the input;
//! - `seeds.rs`: the seed corpus, [`seed_corpus`].

mod frame_targets;
mod input;
mod listener_world;
mod receiver_world;
mod scripted_sender;
mod seeds;
mod sender_world;
pub mod spec;
mod world;

pub use frame_targets::{decode_frame, frame_roundtrip};
pub use listener_world::listener;
pub use receiver_world::{receiver, rx_op};
pub use seeds::seed_corpus;
pub use sender_world::{sender, tx_op};
pub use world::MAX_PATTERN;
// The rest of the crate's API. The replay test includes this file as a private module and
// uses none of these by name, so there they would be unused imports.
#[allow(unused_imports)]
pub use {
    input::{Cursor, Program},
    receiver_world::rx_setup,
    seeds::Seed,
    sender_world::tx_setup,
    world::pattern,
};

/// The targets, by name: the folders of `fuzz/corpus/` and the binaries in `fuzz_targets/`.
pub const TARGETS: [&str; 4] = ["decode_frame", "frame_roundtrip", "receiver", "sender"];

/// What an engine run reached, so that the replay test can tell that its generated inputs go
/// deep (a fuzz target ignores it).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Outcome {
    /// The engine under test connected.
    pub connected: bool,
    /// The whole scripted transfer went through: the receiver wrote the scripted data and
    /// acknowledged its FIN (receiver target), or the sender's FIN was acknowledged (sender target).
    pub completed: bool,
    /// The connection has a window of 2 or more (SPEC §10.1).
    pub windowed: bool,
}

/// Runs the body of `target` on `data`.
pub fn run(target: &str, data: &[u8]) -> Outcome {
    match target {
        "decode_frame" => {
            decode_frame(data);
            Outcome::default()
        }
        "frame_roundtrip" => {
            frame_roundtrip(data);
            Outcome::default()
        }
        "receiver" => receiver(data),
        "sender" => sender(data),
        "listener" => listener(data),
        _ => panic!("no fuzz target {target:?}"),
    }
}
