//! Trace events (SPEC §8): one for every frame sent, received or dropped.
//!
//! The engines return them as values; formatting happens outside the core: `Display` gives
//! SPEC §8's line on a host, `defmt::Format` (feature `defmt`) logs them on firmware.

use core::fmt;

#[cfg(feature = "defmt")]
use crate::frame::Flags;
use crate::frame::{self, DecodeError, Repr};

/// What happened to the frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// The engine sent it.
    Send,
    /// The engine took it in.
    Recv,
    /// The engine dropped it: it did not decode or did not fit the state.
    Drop,
}

/// Why a frame was dropped.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DropReason {
    /// It did not decode.
    Malformed,
    /// It came from another endpoint than the peer.
    WrongPeer,
    /// Its connection id is not the connection's.
    WrongConn,
    /// It does not fit the engine's state (unexpected seq, ack or flags).
    Unexpected,
    /// The half-open table was full of newer entries, or the engine is done.
    NotAccepting,
}

/// One trace event.
///
/// With the `defmt` feature its `defmt::Format` prints the same SPEC §8 line as `Display`
/// (`SEND 43 555 7 ACK DUP`), so firmware logs read like the host's `-v` output.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Trace {
    /// Sent, received or dropped.
    pub direction: Direction,
    /// The header, or why the datagram did not decode.
    pub header: Result<Repr, DecodeError>,
    /// A retransmitted frame (SEND) or a duplicate that was re-acknowledged (RECV).
    pub dup: bool,
    /// Why it was dropped ([`Direction::Drop`] only).
    pub reason: Option<DropReason>,
}

impl Trace {
    /// A sent frame.
    pub const fn send(repr: Repr, dup: bool) -> Trace {
        Trace { direction: Direction::Send, header: Ok(repr), dup, reason: None }
    }

    /// A received frame that the engine acted on.
    pub const fn recv(repr: Repr, dup: bool) -> Trace {
        Trace { direction: Direction::Recv, header: Ok(repr), dup, reason: None }
    }

    /// A dropped frame.
    pub const fn drop(repr: Repr, reason: DropReason) -> Trace {
        Trace { direction: Direction::Drop, header: Ok(repr), dup: false, reason: Some(reason) }
    }

    /// A dropped datagram, decoded as far as it goes: its header if it decodes.
    pub fn drop_datagram(datagram: &[u8], reason: DropReason) -> Trace {
        match frame::decode(datagram) {
            Ok(frame) => Trace::drop(frame.repr, reason),
            Err(error) => Trace::malformed(error),
        }
    }

    /// A datagram that did not decode.
    pub const fn malformed(error: DecodeError) -> Trace {
        Trace {
            direction: Direction::Drop,
            header: Err(error),
            dup: false,
            reason: Some(DropReason::Malformed),
        }
    }
}

impl Trace {
    fn direction_name(&self) -> &'static str {
        match self.direction {
            Direction::Send => "SEND",
            Direction::Recv => "RECV",
            Direction::Drop => "DROP",
        }
    }

    /// Whether `DUP` is printed.
    fn shows_dup(&self) -> bool {
        self.dup && self.direction != Direction::Drop
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Trace {
    fn format(&self, f: defmt::Formatter<'_>) {
        match &self.header {
            Ok(repr) => {
                defmt::write!(
                    f,
                    "{=str} {=u32} {=u32} {=u16}",
                    self.direction_name(),
                    repr.seq.get(),
                    repr.ack.get(),
                    repr.conn
                );
                for (flag, name) in [(Flags::ACK, " ACK"), (Flags::SYN, " SYN"), (Flags::FIN, " FIN")] {
                    if repr.flags.contains(flag) {
                        defmt::write!(f, "{=str}", name);
                    }
                }
            }
            Err(error) => defmt::write!(f, "{=str} {}", self.direction_name(), error),
        }
        if self.shows_dup() {
            defmt::write!(f, " DUP");
        }
    }
}

impl fmt::Display for Trace {
    /// SPEC §8's line: `SEND <seq> <ack> <conn> [ACK] [SYN] [FIN] [DUP]`, or `DROP <error>`
    /// for a datagram that did not decode. No trailing space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.direction_name())?;
        match &self.header {
            Ok(repr) => write!(f, " {repr}")?,
            Err(error) => write!(f, " {error}")?,
        }
        if self.shows_dup() {
            f.write_str(" DUP")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;
    use crate::SeqNum;
    use crate::frame::Flags;

    fn repr(flags: Flags) -> Repr {
        Repr { seq: SeqNum::new(43).unwrap(), ack: SeqNum::new(555).unwrap(), conn: 7, flags }
    }

    #[test]
    fn lines_match_spec_format() {
        assert_eq!(Trace::send(repr(Flags::SYN | Flags::ACK), false).to_string(), "SEND 43 555 7 ACK SYN");
        assert_eq!(Trace::recv(repr(Flags::ACK), true).to_string(), "RECV 43 555 7 ACK DUP");
        assert_eq!(Trace::send(repr(Flags::FIN), true).to_string(), "SEND 43 555 7 FIN DUP");
        assert_eq!(Trace::recv(repr(Flags::NONE), false).to_string(), "RECV 43 555 7");
        assert_eq!(
            Trace::drop(repr(Flags::ACK | Flags::FIN), DropReason::WrongConn).to_string(),
            "DROP 43 555 7 ACK FIN"
        );
        assert_eq!(
            Trace::drop_datagram(&[1, 2, 3], DropReason::WrongPeer).to_string(),
            "DROP truncated frame (3 bytes, header is 12)"
        );
    }
}
