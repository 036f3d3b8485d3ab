//! Engine configuration: profile, timers and the random seed (SPEC §6, §7).

use crate::digest::DigestAlgorithm;
use crate::time::Duration;

/// Which behaviour the engine shows on the wire (SPEC intro, §7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Profile {
    /// Binary-safe, random initial numbers, adaptive timers.
    #[default]
    Native,
    /// Byte-for-byte interoperable with the original Python tools: every sender frame padded to
    /// 524 bytes, ISN 42, trailing zero bytes stripped from each payload by the receiver.
    /// **Text only**: data ending in zero bytes does not survive it.
    Reference,
}

/// Timers shared by both engines (SPEC §6).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timing {
    /// The retransmission timeout before any RTT sample (default 500 ms).
    pub initial_rto: Duration,
    /// The lower clamp of the retransmission timeout (default 10 ms).
    pub min_rto: Duration,
    /// The upper clamp of the retransmission timeout (default 2 s).
    pub max_rto: Duration,
    /// How long without a valid frame from the peer before giving up (default 10 s).
    pub idle_timeout: Duration,
}

impl Timing {
    /// SPEC §6's defaults.
    pub const DEFAULT: Timing = Timing {
        initial_rto: Duration::from_millis(500),
        min_rto: Duration::from_millis(10),
        max_rto: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(10),
    };
}

impl Default for Timing {
    fn default() -> Timing {
        Timing::DEFAULT
    }
}

/// The most data frames in flight that SPEC §10.1 allows to offer or grant.
pub const MAX_WINDOW: u8 = 64;

/// How a windowed sender sizes its congestion window (SPEC §10.1). Unused at window 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Congestion {
    /// Slow start and congestion avoidance from `min(4, W)` frames, halved on a fast
    /// retransmission, back to one frame on a timeout (RFC 5681 / 6582): for shared paths,
    /// where loss means congestion.
    #[default]
    Reno,
    /// Always the whole granted window: for dedicated links, where loss is not congestion
    /// (a radio link, a cable); it retransmits the same way.
    Fixed,
}

/// Configuration of a [`Sender`](crate::Sender).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SenderConfig {
    /// Wire behaviour.
    pub profile: Profile,
    /// Timers.
    pub timing: Timing,
    /// Seed for the initial sequence number (as smoltcp's `Config::random_seed`): give a
    /// different, unpredictable value to each connection. Unused in the reference profile
    /// (ISN 42).
    pub random_seed: u64,
    /// The number of bytes the source will give, when known: announced in the SYN (native
    /// profile). It binds (SPEC §3.1): a source that ends before it, or holds more, fails the
    /// transfer before the FIN, and the receiver fails a transfer whose data do not match it.
    pub transfer_size: Option<u64>,
    /// The digest to offer (native profile; only if this build supports it, see
    /// [`DigestAlgorithm::is_supported`]).
    pub digest: Option<DigestAlgorithm>,
    /// Fail before sending any data when the receiver does not grant the digest offered.
    pub require_digest: bool,
    /// The most data frames to offer to keep in flight (SPEC §10.1), further bounded by the
    /// sender's frame buffers (its `N`) and by [`MAX_WINDOW`]. A window is offered only when
    /// that bound is 2 or more, and only in the native profile. Default [`MAX_WINDOW`]: as
    /// many as the sender was built for.
    pub window: u8,
    /// The congestion policy used when a window is granted.
    pub congestion: Congestion,
}

impl SenderConfig {
    /// Native profile, default timers, the given seed, no transfer size.
    pub const fn new(random_seed: u64) -> SenderConfig {
        SenderConfig {
            profile: Profile::Native,
            timing: Timing::DEFAULT,
            random_seed,
            transfer_size: None,
            digest: None,
            require_digest: false,
            window: MAX_WINDOW,
            congestion: Congestion::Reno,
        }
    }
}

/// Configuration of a [`Receiver`](crate::Receiver).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReceiverConfig {
    /// Wire behaviour.
    pub profile: Profile,
    /// Idle timeout (the receiver keeps no retransmission timer).
    pub idle_timeout: Duration,
    /// Seed for connection ids and initial sequence numbers.
    pub random_seed: u64,
    /// How long to wait for a peer to complete a handshake; `None` waits for ever.
    pub accept_timeout: Option<Duration>,
    /// Verify a digest whenever the sender offers one this build supports (default `true`).
    pub verify_digest: bool,
    /// The largest window to grant (SPEC §10.1), further bounded by the receiver's reorder
    /// buffer (a receiver with `W` payload slots grants at most `W`). Default
    /// [`MAX_WINDOW`]: as many as the receiver was built for.
    pub max_window: u8,
    /// The application gives the digest (SPEC §10.2) every byte of the object, read back from
    /// where it wrote them ([`Receiver::hash_prefix`](crate::Receiver::hash_prefix)), instead
    /// of the receiver hashing the bytes as they are taken: a flash sink proves what the flash
    /// holds, not what passed through RAM. The receiver bounds what it takes (never more than
    /// the held prefix and the bytes taken so far); the application gives them in order, and
    /// all of them before the FIN can come: it writes and reads back the last bytes as it takes
    /// them (the `flash::FlashSink` of feature `embedded-storage` knows them by the
    /// `transfer-size`). A FIN that finds bytes not given is a digest mismatch. Default
    /// `false`.
    pub hash_read_back: bool,
}

/// Who commits a [`SinkReceiver`](crate::blocking::SinkReceiver)'s output, and so when the FIN
/// is answered (SPEC §5, §10.2: a FIN|ACK means the object is in place).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Commit {
    /// Flushing the sink commits the data (a buffer in RAM, a sink whose `flush` makes it
    /// durable): the FIN is answered as soon as the sink is flushed.
    #[default]
    Flush,
    /// The application commits the output after
    /// [`ReceiverEvent::Finished`](crate::ReceiverEvent::Finished) (sync and rename a file,
    /// mark a firmware image) and calls [`Receiver::committed`](crate::Receiver::committed);
    /// after [`Receiver::commit_failed`](crate::Receiver::commit_failed) the FIN is never
    /// answered, so the sender cannot report success.
    Application,
}

impl ReceiverConfig {
    /// Native profile, default idle timeout, the given seed, no accept timeout.
    pub const fn new(random_seed: u64) -> ReceiverConfig {
        ReceiverConfig {
            profile: Profile::Native,
            idle_timeout: Timing::DEFAULT.idle_timeout,
            random_seed,
            accept_timeout: None,
            verify_digest: true,
            max_window: MAX_WINDOW,
            hash_read_back: false,
        }
    }
}
