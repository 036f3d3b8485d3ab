//! Why a transfer failed.

use core::fmt;

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
    /// The receiver's sink failed to take data or to flush.
    Sink(embedded_io::ErrorKind),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::IdleTimeout => f.write_str("peer not answering (idle timeout)"),
            Error::AcceptTimeout => f.write_str("no sender connected in time"),
            Error::Source(kind) => write!(f, "reading the data source failed ({kind:?})"),
            Error::Sink(kind) => write!(f, "writing the output failed ({kind:?})"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
