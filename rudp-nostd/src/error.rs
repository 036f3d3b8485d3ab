//! Why a transfer failed.

use core::fmt;

use crate::options::GrantError;

/// A failed transfer's reason, reported by [`SenderEvent::Failed`](crate::SenderEvent) and
/// [`ReceiverEvent::Failed`](crate::ReceiverEvent).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// No valid frame came from the peer for the idle timeout (SPEC §6): the peer is not
    /// answering, or vanished mid-transfer.
    IdleTimeout,
    /// The receiver's accept timeout passed with no completed handshake.
    AcceptTimeout,
    /// The sender's data source failed.
    Source(embedded_io::ErrorKind),
    /// Sender: the data source ended before the `transfer-size` announced in the SYN (SPEC
    /// §3.1: the size binds; no FIN is sent).
    SourceEndedEarly,
    /// Sender: the data source holds more than the `transfer-size` announced in the SYN.
    SourceRanLong,
    /// Receiver: the data ran past the sender's `transfer-size`, or its FIN came at another
    /// length (SPEC §3.1); the output must be discarded.
    LengthMismatch,
    /// The receiver's sink failed to take data or to flush.
    Sink(embedded_io::ErrorKind),
    /// The receiver's SYN|ACK granted something the sender did not offer (SPEC §10).
    BadGrant(GrantError),
    /// The sender requires a digest and the receiver did not grant one; no data was sent.
    DigestRefused,
    /// Sender: the receiver answered the FIN with `result` 1: the data it got does not match
    /// the digest (it discards its output).
    Rejected,
    /// Sender: a digest was agreed, but the FIN's answer carried no `result`.
    DigestUnconfirmed,
    /// Receiver: the data does not match the sender's digest (or the FIN carried none); the
    /// output must be discarded.
    DigestMismatch,
    /// The peer refused the transfer (SPEC §10.4): a receiver's `refuse` in its SYN|ACK, an
    /// ACK or its FIN|ACK, or a sender's abandoning FIN.
    Refused(RefuseReason),
    /// This side's application stopped the transfer with this reason (it told the peer, when
    /// the peer understands a `refuse`).
    Stopped(RefuseReason),
}

/// Why a receiver will not take (go on taking, or commit) a transfer, or why a sender
/// abandons one: the value of SPEC §10.4's `refuse` option.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RefuseReason {
    /// 1: no transfer can be taken now; try later.
    Busy,
    /// 2: the `transfer-size`, or the data so far, is more than the receiver can hold.
    TooLarge,
    /// 3: the name is invalid, exists, or is not accepted.
    Name,
    /// 4: the receiver cannot write or commit (full, I/O error); from a sender: its source
    /// failed.
    Storage,
    /// 5: the application stopped the transfer.
    Cancelled,
    /// 6: the data did not match `transfer-size`.
    Length,
    /// A reason this version does not know, by number.
    Other(u8),
}

impl RefuseReason {
    /// The reason's byte on the wire.
    pub const fn code(self) -> u8 {
        match self {
            RefuseReason::Busy => 1,
            RefuseReason::TooLarge => 2,
            RefuseReason::Name => 3,
            RefuseReason::Storage => 4,
            RefuseReason::Cancelled => 5,
            RefuseReason::Length => 6,
            RefuseReason::Other(code) => code,
        }
    }

    /// The reason a byte on the wire stands for.
    pub const fn from_code(code: u8) -> RefuseReason {
        match code {
            1 => RefuseReason::Busy,
            2 => RefuseReason::TooLarge,
            3 => RefuseReason::Name,
            4 => RefuseReason::Storage,
            5 => RefuseReason::Cancelled,
            6 => RefuseReason::Length,
            other => RefuseReason::Other(other),
        }
    }

    /// The reason to tell the peer when the application stops a transfer with `error`: its
    /// storage or source failed (4), the data did not match the size (6), or it was stopped
    /// (the reason given, else 5).
    pub const fn for_error(error: Error) -> RefuseReason {
        match error {
            Error::Sink(_) | Error::Source(_) => RefuseReason::Storage,
            Error::SourceEndedEarly | Error::SourceRanLong | Error::LengthMismatch => RefuseReason::Length,
            Error::Stopped(reason) => reason,
            _ => RefuseReason::Cancelled,
        }
    }
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefuseReason::Busy => f.write_str("busy"),
            RefuseReason::TooLarge => f.write_str("too large"),
            RefuseReason::Name => f.write_str("name not accepted"),
            RefuseReason::Storage => f.write_str("cannot write"),
            RefuseReason::Cancelled => f.write_str("cancelled"),
            RefuseReason::Length => f.write_str("length does not match the size announced"),
            RefuseReason::Other(code) => write!(f, "reason {code}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::IdleTimeout => f.write_str("peer not answering (idle timeout)"),
            Error::AcceptTimeout => f.write_str("no sender connected in time"),
            Error::Source(kind) => write!(f, "reading the data source failed: {}", describe(*kind)),
            Error::SourceEndedEarly => f.write_str("the data source ended before the size announced"),
            Error::SourceRanLong => f.write_str("the data source holds more than the size announced"),
            Error::LengthMismatch => {
                f.write_str("the data received did not match the size the sender announced")
            }
            Error::Sink(kind) => write!(f, "writing the output failed: {}", describe(*kind)),
            Error::BadGrant(error) => write!(f, "the receiver's answer breaks the protocol: {error}"),
            Error::DigestRefused => f.write_str("the receiver does not verify a digest, and one is required"),
            Error::Rejected => f.write_str("the receiver rejected the data: digest mismatch"),
            Error::DigestUnconfirmed => f.write_str("the receiver did not confirm the digest"),
            Error::DigestMismatch => f.write_str("digest mismatch: the data received is not what was sent"),
            Error::Refused(RefuseReason::Busy) => f.write_str("receiver busy, try again later"),
            Error::Refused(RefuseReason::Storage) => f.write_str("refused: the peer cannot write (or read)"),
            Error::Refused(RefuseReason::Cancelled) => f.write_str("cancelled by the peer"),
            Error::Refused(reason) => write!(f, "refused: {reason}"),
            Error::Stopped(reason) => write!(f, "stopped here: {reason}"),
        }
    }
}

impl core::error::Error for Error {}

/// Words for an I/O error kind (embedded-io's `Display` prints the variant's name).
fn describe(kind: embedded_io::ErrorKind) -> &'static str {
    use embedded_io::ErrorKind as K;
    match kind {
        K::NotFound => "not found",
        K::PermissionDenied => "permission denied",
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::NotConnected => "not connected",
        K::AddrInUse => "address in use",
        K::AddrNotAvailable => "address not available",
        K::BrokenPipe => "broken pipe",
        K::AlreadyExists => "already exists",
        K::InvalidInput => "invalid input",
        K::InvalidData => "invalid data",
        K::TimedOut => "timed out",
        K::Interrupted => "interrupted",
        K::Unsupported => "unsupported",
        K::OutOfMemory => "out of memory (or of space)",
        K::WriteZero => "nothing could be written",
        _ => "an I/O error",
    }
}
