//! # rudp-nostd
//!
//! A reliable, TCP-like file transfer over UDP, small enough for a microcontroller: 524-byte
//! frames (a 12-byte header and up to 512 payload bytes), a SYN / SYN|ACK / ACK handshake,
//! a data transfer with RFC 6298 retransmission timers (stop-and-wait, or a window of frames
//! with selective acknowledgements), and a FIN teardown. The wire protocol is described in
//! `PROTOCOL.md` at the root of the repository; a *reference* profile interoperates with the
//! original Python tools it comes from.
//!
//! Stop-and-wait is the default. Engines built for `W` frames ([`Sender<E, W>`],
//! [`Receiver<E, W>`]) offer and grant a window of up to `W` frames: then up to that many frames
//! are in flight, acknowledged cumulatively with selective-ack bitmaps, with fast
//! retransmission and a congestion window ([`Congestion`]). Memory stays fixed and
//! compile-time: `W` frame buffers of 524 bytes in the sender, `W` payload slots of 512 bytes
//! in the receiver.
//!
//! ## Guarantees
//!
//! - `#![no_std]`, no `alloc`, `#![forbid(unsafe_code)]`: every buffer is a fixed array
//!   inside the engine; memory is known at compile time. CI links the engines into a
//!   bare-metal `thumbv7em-none-eabihf` binary that has no allocator.
//! - No panic on any input: every datagram from the network goes through [`wire::decode`],
//!   which returns a typed error for anything that is not a frame, and the engines drop (and
//!   trace) every frame that does not fit their state.
//! - Sans-IO, for the application's data too: the [`Sender`] and [`Receiver`] never touch a
//!   socket, a clock, a file or a flash. A driver feeds them datagrams and `now`, and sends
//!   what they hand out ([`Engine`]; the [`transport`] module has a small driver for any
//!   [`Transport`]); the application writes its data into the sender's frame buffers
//!   ([`Sender::write_buf`]) and takes what arrived from the receiver
//!   ([`Receiver::readable`]), which acknowledges only what was taken. [`blocking`] wraps
//!   both around `embedded_io` sources and sinks, [`asynch`] around async ones.
//! - Deterministic: randomness comes from a caller-supplied seed.
//! - MSRV: Rust 1.88; 1.91 with the `smoltcp` feature (smoltcp 0.13's own minimum).
//!
//! ## Example: a transfer through an in-memory link
//!
//! ```
//! use rudp_nostd::{Engine, Instant, Receiver, ReceiverConfig, Sender, SenderConfig, SenderEvent, ReceiverEvent};
//!
//! let data = b"hello, rudp".repeat(100);
//! let mut sender: Sender<&str> = Sender::new(SenderConfig::new(1), "rx", Instant::ZERO);
//! let mut receiver: Receiver<&str> = Receiver::new(ReceiverConfig::new(2), Instant::ZERO);
//! let (mut written, mut out) = (0, Vec::new());
//! let mut now = Instant::ZERO;
//! while !(sender.is_done() && receiver.is_done()) {
//!     // The application gives the sender what it has room for, and says when the data ends.
//!     written += sender.write(&data[written..]);
//!     if written == data.len() {
//!         sender.finish();
//!     }
//!     // Every datagram arrives at once: hand each transmit straight to the other side.
//!     let mut sent = false;
//!     while let Some(t) = sender.poll_transmit(now) {
//!         for event in receiver.handle_datagram(now, "tx", t.datagram).events {
//!             if event == ReceiverEvent::Finished {
//!                 // All data is in: make it durable, then let the FIN be answered.
//!                 receiver.committed(now);
//!             }
//!         }
//!         sent = true;
//!     }
//!     // The application takes what arrived; only then is it acknowledged.
//!     let mut buf = [0u8; 512];
//!     let n = receiver.read(&mut buf);
//!     out.extend_from_slice(&buf[..n]);
//!     while let Some(t) = receiver.poll_transmit(now) {
//!         sender.handle_datagram(now, "rx", t.datagram);
//!         sent = true;
//!     }
//!     if !sent {
//!         // Nothing to send: let time pass to the next timer (the sender's linger).
//!         now = sender.poll_timeout().into_iter().chain(receiver.poll_timeout()).min().unwrap();
//!         sender.handle_timeout(now);
//!         receiver.handle_timeout(now);
//!     }
//! }
//! assert!(sender.has_succeeded() && receiver.has_succeeded());
//! assert_eq!(out, data);
//! ```
//!
//! ## Features
//!
//! - `defmt`: `defmt::Format` on every public type, for firmware logging of trace events.
//! - `std`: conversions between this crate's `Duration` and `std::time::Duration`.
//! - `smoltcp`: the [`Transport`] over a smoltcp 0.13 UDP socket (`smoltcp_transport`), the
//!   smoltcp embassy-net 0.9 builds on; Rust 1.91 or later.
//! - `crc32c`, `sha256`: the whole-object digests of SPEC §10.2 ([`DigestAlgorithm`]).
//! - `async`: the `asynch` module, adapters for `embedded-io-async` sources and sinks.
//! - `embassy-net` (implies `async`): the `embassy` module, one `async` call that runs an
//!   engine over an embassy-net UDP socket with embassy-time timers (embassy-net 0.9, on
//!   smoltcp 0.13).
//! - `embedded-storage`: the `flash` module, a sink that writes a transfer into a region of a
//!   NOR flash (`embedded-storage` 0.3 `NorFlash`), with resume records (SPEC §10.5);
//!   `embedded-storage-async`: the same over an async `NorFlash`.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

#[cfg(feature = "async")]
pub mod asynch;
pub mod blocking;
mod config;
mod digest;
#[cfg(feature = "embassy-net")]
pub mod embassy;
mod engine;
mod error;
#[cfg(feature = "embedded-storage")]
pub mod flash;
mod frame;
mod half_open;
mod listener;
mod options;
pub mod random;
mod receiver;
mod reply;
mod rto;
mod sender;
mod seq;
#[cfg(feature = "smoltcp")]
pub mod smoltcp_transport;
mod time;
mod trace;
pub mod transport;

/// The frame codec (SPEC §1), for tools and fuzzers: decode a datagram into a
/// [`Frame`](wire::Frame) (a [`Repr`](wire::Repr) and its payload), build one with
/// [`Repr::emit_with_payload`](wire::Repr::emit_with_payload). The engines use it themselves;
/// an application needs it only to look at frames.
pub mod wire {
    pub use crate::frame::{
        DecodeError, Flags, Frame, HEADER_LEN, MAX_FRAME, MAX_PAYLOAD, Packet, Repr, decode,
    };
    pub use crate::seq::{MAX_SEQ, SeqNum};
}

#[cfg(test)]
mod protocol_vectors;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod testing;

pub use config::{Commit, Congestion, MAX_WINDOW, Profile, ReceiverConfig, SenderConfig, Timing};
pub use digest::DigestAlgorithm;
pub use engine::{Engine, Handled, MAX_EVENTS_PER_CALL, Transmit};
pub use error::{Error, RefuseReason};
pub use frame::{HEADER_LEN, MAX_FRAME, MAX_PAYLOAD};
pub use listener::{Admission, Admit, Listener, ListenerConfig, ListenerEvent, Offer, SameHost, TransferId};
pub use options::GrantError;
pub use receiver::{DEFAULT_HALF_OPEN, Receiver, ReceiverEvent};
pub use sender::{REFERENCE_ISN, Sender, SenderEvent};
pub use seq::{MAX_SEQ, SeqNum};
pub use time::{Duration, Instant};
pub use trace::{Direction, DropReason, Trace};
pub use transport::Transport;

/// A zero-sized flash, for the flash sink's size.
#[cfg(all(test, feature = "embedded-storage"))]
mod flash_tests {
    use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

    pub(crate) struct NoFlash;

    impl ErrorType for NoFlash {
        type Error = NorFlashErrorKind;
    }

    impl ReadNorFlash for NoFlash {
        const READ_SIZE: usize = 1;

        fn read(&mut self, _: u32, _: &mut [u8]) -> Result<(), Self::Error> {
            Ok(())
        }

        fn capacity(&self) -> usize {
            0
        }
    }

    impl NorFlash for NoFlash {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = 4096;

        fn erase(&mut self, _: u32, _: u32) -> Result<(), Self::Error> {
            Ok(())
        }

        fn write(&mut self, _: u32, _: &[u8]) -> Result<(), Self::Error> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod size_tests {
    use core::mem::size_of;
    use std::println;

    use super::*;

    /// A firmware-sized endpoint: an IPv4 address and a port (as smoltcp's `IpEndpoint` with
    /// only IPv4 enabled).
    type Ipv4Endpoint = ([u8; 4], u16);

    impl SameHost for Ipv4Endpoint {
        fn same_host(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }

    /// An admission policy with no state of its own (an application's policy adds its own).
    struct TakeAll;

    impl<E> Admit<E> for TakeAll {
        fn admit(&mut self, _: &Offer<'_, E>) -> Admission {
            Admission::Take(0)
        }
    }

    /// RAM budgets (issue 15), without the data buffers: the sender's state at most 672 bytes
    /// with its one 524-byte frame buffer (640 until SPEC §10.5's resume added the resume point
    /// and the prefix still to hash: 664); the receiver's state at most 400 bytes besides its
    /// payload slots (512 bytes and a length each: since the engines do no IO of the data, the
    /// stop-and-wait receiver keeps one frame until the application takes it).
    const SENDER_BUDGET: usize = 672;
    const RECEIVER_BUDGET: usize = 400;
    /// What a receiver's payload slot costs: its bytes and its length.
    const SLOT: usize = MAX_PAYLOAD + 2;

    #[test]
    fn engines_fit_the_ram_budget() {
        let sender = size_of::<Sender<Ipv4Endpoint>>();
        let sender_filtered = size_of::<Sender<()>>();
        let receiver = size_of::<Receiver<Ipv4Endpoint>>();
        let receiver_state = receiver - SLOT;
        let receiver_no_half_open = size_of::<Receiver<Ipv4Endpoint, 1, 1>>();
        let host_sender = size_of::<Sender<std::net::SocketAddr>>();
        let host_receiver = size_of::<Receiver<std::net::SocketAddr>>();
        println!("size_of Sender<IPv4 endpoint>                 = {sender} bytes");
        println!("size_of Sender<()>                            = {sender_filtered} bytes");
        println!("size_of Receiver<IPv4 endpoint> (W = 1, H = 4) = {receiver} bytes");
        println!("receiver state without its payload slot       = {receiver_state} bytes");
        println!("size_of Receiver<IPv4 endpoint, 1, 1>         = {receiver_no_half_open} bytes");
        println!("size_of Sender<SocketAddr> (host)             = {host_sender} bytes");
        println!("size_of Receiver<SocketAddr> (host)           = {host_receiver} bytes");
        // Windows (SPEC §10.1): W frame buffers in the sender, W payload slots in the
        // receiver; the stop-and-wait engines above are W = 1.
        let sender_8 = size_of::<Sender<Ipv4Endpoint, 8>>();
        let sender_32 = size_of::<Sender<Ipv4Endpoint, 32>>();
        let receiver_8 = size_of::<Receiver<Ipv4Endpoint, 8>>();
        let receiver_32 = size_of::<Receiver<Ipv4Endpoint, 32>>();
        println!("size_of Sender<IPv4 endpoint, 8>              = {sender_8} bytes");
        println!("size_of Sender<IPv4 endpoint, 32>             = {sender_32} bytes");
        println!("size_of Receiver<IPv4 endpoint, 8>            = {receiver_8} bytes");
        println!("size_of Receiver<IPv4 endpoint, 32>           = {receiver_32} bytes");
        // The listener (SPEC §10.4): M transfers, each a receiver with W payload slots (no
        // half-open table of its own), the listener's H half-open entries and its reply buffer.
        // No budget yet: reported by scripts/footprint.sh.
        let listener_1 = size_of::<Listener<Ipv4Endpoint, TakeAll, 1, 1, 4>>();
        let listener_4 = size_of::<Listener<Ipv4Endpoint, TakeAll, 4, 1, 4>>();
        let serve_pool = size_of::<Listener<std::net::SocketAddr, TakeAll, 64, 64, 64>>();
        println!("size_of Listener<IPv4 endpoint, M = 1> (W = 1, H = 4) = {listener_1} bytes");
        println!("size_of Listener<IPv4 endpoint, M = 4> (W = 1, H = 4) = {listener_4} bytes");
        println!("size_of Listener<SocketAddr, M = 64, W = 64, H = 64> (rudp serve) = {serve_pool} bytes");
        // The flash sink (feature `embedded-storage`): its buffer (512 bytes by default), the
        // newest record, the transfer it writes and the last offer; the flash driver's own state
        // besides (none here). No budget: reported by scripts/footprint.sh.
        #[cfg(feature = "embedded-storage")]
        {
            let sink = size_of::<flash::FlashSink<flash_tests::NoFlash, 512>>();
            println!("size_of FlashSink<F, 512> (F zero-sized)      = {sink} bytes");
        }
        // The embassy-boot adapter: the flash sink, embassy-boot's state (its STATE flash and a
        // reference to its WRITE_SIZE buffer) and two flags.
        #[cfg(feature = "embassy-boot")]
        {
            let boot = size_of::<flash::BootSink<'static, flash_tests::NoFlash, flash_tests::NoFlash, 512>>();
            println!("size_of BootSink<F, S, 512> (F, S zero-sized) = {boot} bytes");
        }
        // Each frame buffer and each payload slot costs its bytes and a little state (a frame
        // buffer: its payload length, its marks and its send time).
        assert!(sender_32 - sender <= 31 * (MAX_FRAME + 16));
        assert!(receiver_32 - receiver <= 31 * SLOT + 8);
        // The budget is for the engines as firmware links them by default. A digest adds its
        // state (CRC-32C: a table reference and a u32; SHA-256: about 110 bytes) to both.
        if cfg!(any(feature = "crc32c", feature = "sha256")) {
            println!("(digest features on: the RAM budgets are checked without them)");
        } else {
            assert!(sender <= SENDER_BUDGET, "sender is {sender} bytes");
            assert!(receiver_state <= RECEIVER_BUDGET, "receiver state is {receiver_state} bytes");
        }
    }
}
