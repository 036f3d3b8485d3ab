//! The frame codec (SPEC §1): a zero-copy [`Packet`] view over a datagram and the decoded
//! header [`Repr`], in the smoltcp way.
//!
//! ```
//! use rudp_nostd::wire::{self, Flags, Repr, MAX_FRAME};
//! use rudp_nostd::SeqNum;
//!
//! let repr = Repr {
//!     seq: SeqNum::new(43).unwrap(),
//!     ack: SeqNum::new(555).unwrap(),
//!     conn: 7,
//!     flags: Flags::ACK,
//! };
//! let mut buf = [0u8; MAX_FRAME];
//! let len = repr.emit_with_payload(&mut buf, b"hello").unwrap();
//! let decoded = wire::decode(&buf[..len]).unwrap();
//! assert_eq!(decoded.repr, repr);
//! assert_eq!(decoded.payload, b"hello");
//! ```

use core::fmt;

use crate::seq::{MAX_SEQ, SeqNum};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 12;
/// The most payload bytes a frame carries.
pub const MAX_PAYLOAD: usize = 512;
/// The largest frame: a header and a full payload.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const SEQ: Range<usize> = 0..4;
    pub const ACK: Range<usize> = 4..8;
    pub const CONN: Range<usize> = 8..10;
    pub const FLAGS: Range<usize> = 10..12;
    pub const PAYLOAD: RangeFrom<usize> = 12..;
}

/// The header's flag bits. Bits 3 to 15 are reserved and rejected by the decoder.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flags(u16);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// Bit 0: the sender has no more data.
    pub const FIN: Flags = Flags(1);
    /// Bit 1: opens a connection.
    pub const SYN: Flags = Flags(2);
    /// Bit 2: the `ack` field is meaningful.
    pub const ACK: Flags = Flags(4);
    /// Every defined bit.
    pub const DEFINED: Flags = Flags(7);

    /// The flags whose bits are `bits`, reserved bits included (see [`Flags::reserved`]).
    pub const fn from_bits(bits: u16) -> Flags {
        Flags(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The reserved bits that are set (zero in every valid frame).
    pub const fn reserved(self) -> u16 {
        self.0 & !Flags::DEFINED.0
    }

    /// `self` with the bits of `other` set too.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, other: Flags) -> Flags {
        self.union(other)
    }
}

impl fmt::Display for Flags {
    /// The names in SPEC §8's order, separated by spaces: `ACK SYN FIN`. Empty for no flag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (flag, name) in [(Flags::ACK, "ACK"), (Flags::SYN, "SYN"), (Flags::FIN, "FIN")] {
            if self.contains(flag) {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Why a datagram is not a frame: one variant per rejection rule of SPEC §1.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Truncated {
        /// The datagram's length.
        len: usize,
    },
    /// More than [`MAX_FRAME`] bytes.
    Oversized {
        /// The datagram's length.
        len: usize,
    },
    /// A reserved flag bit (3 to 15) is set.
    ReservedFlags {
        /// The whole flags field.
        flags: u16,
    },
    /// SYN and FIN are both set.
    SynAndFin,
    /// `seq` is not below [`MAX_SEQ`].
    SeqOutOfRange {
        /// The field's value.
        seq: u32,
    },
    /// `ack` is not below [`MAX_SEQ`].
    AckOutOfRange {
        /// The field's value.
        ack: u32,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated { len } => {
                write!(f, "truncated frame ({len} bytes, header is {HEADER_LEN})")
            }
            DecodeError::Oversized { len } => {
                write!(f, "oversized frame ({len} bytes, at most {MAX_FRAME})")
            }
            DecodeError::ReservedFlags { flags } => {
                write!(f, "reserved flag bits set (flags {flags:#06x})")
            }
            DecodeError::SynAndFin => f.write_str("SYN and FIN both set"),
            DecodeError::SeqOutOfRange { seq } => write!(f, "seq {seq} not below {MAX_SEQ}"),
            DecodeError::AckOutOfRange { ack } => write!(f, "ack {ack} not below {MAX_SEQ}"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// A read/write view of a frame in a byte buffer. Nothing is copied.
///
/// [`Packet::new_checked`] checks the length once, so every accessor after it indexes
/// safely; the field values are checked by [`Repr::parse`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking that its length is a frame's (12 to 524 bytes).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, DecodeError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(DecodeError::Truncated { len })
        } else if len > MAX_FRAME {
            Err(DecodeError::Oversized { len })
        } else {
            Ok(Packet { buffer })
        }
    }

    /// Wraps `buffer` without checking its length. The accessors panic if it is shorter than
    /// [`HEADER_LEN`]: use it only on buffers of a known size, such as a `[u8; MAX_FRAME]`.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u32_at(&self, range: core::ops::Range<usize>) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_le_bytes([b[range.start], b[range.start + 1], b[range.start + 2], b[range.start + 3]])
    }

    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_le_bytes([b[range.start], b[range.start + 1]])
    }

    /// The raw `seq` field.
    pub fn seq(&self) -> u32 {
        self.u32_at(field::SEQ)
    }

    /// The raw `ack` field.
    pub fn ack(&self) -> u32 {
        self.u32_at(field::ACK)
    }

    /// The connection id.
    pub fn conn(&self) -> u16 {
        self.u16_at(field::CONN)
    }

    /// The flags, reserved bits included.
    pub fn flags(&self) -> Flags {
        Flags::from_bits(self.u16_at(field::FLAGS))
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the `seq` field.
    pub fn set_seq(&mut self, seq: SeqNum) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&seq.get().to_le_bytes());
    }

    /// Sets the `ack` field.
    pub fn set_ack(&mut self, ack: SeqNum) {
        self.buffer.as_mut()[field::ACK].copy_from_slice(&ack.get().to_le_bytes());
    }

    /// Sets the connection id.
    pub fn set_conn(&mut self, conn: u16) {
        self.buffer.as_mut()[field::CONN].copy_from_slice(&conn.to_le_bytes());
    }

    /// Sets the flags.
    pub fn set_flags(&mut self, flags: Flags) {
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&flags.bits().to_le_bytes());
    }

    /// The bytes after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// A frame header's meaning: the fields, validated.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// Sequence number of the first byte (or of the SYN or FIN).
    pub seq: SeqNum,
    /// The next sequence number the sender of this frame expects.
    pub ack: SeqNum,
    /// Connection id (0 only in a first SYN).
    pub conn: u16,
    /// Flags; never reserved bits, never SYN with FIN.
    pub flags: Flags,
}

impl Repr {
    /// Checks the header fields of `packet` against SPEC §1.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, DecodeError> {
        let flags = packet.flags();
        if flags.reserved() != 0 {
            return Err(DecodeError::ReservedFlags { flags: flags.bits() });
        }
        if flags.contains(Flags::SYN | Flags::FIN) {
            return Err(DecodeError::SynAndFin);
        }
        let seq = packet.seq();
        let seq = SeqNum::new(seq).ok_or(DecodeError::SeqOutOfRange { seq })?;
        let ack = packet.ack();
        let ack = SeqNum::new(ack).ok_or(DecodeError::AckOutOfRange { ack })?;
        Ok(Repr { seq, ack, conn: packet.conn(), flags })
    }

    /// Writes the header into `packet`; the payload is left as it is.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_seq(self.seq);
        packet.set_ack(self.ack);
        packet.set_conn(self.conn);
        packet.set_flags(self.flags);
    }

    /// Writes the header and then `payload` into `buf`; returns the frame's length, or `None`
    /// when the payload is longer than [`MAX_PAYLOAD`].
    pub fn emit_with_payload(&self, buf: &mut [u8; MAX_FRAME], payload: &[u8]) -> Option<usize> {
        let len = HEADER_LEN.checked_add(payload.len()).filter(|&len| len <= MAX_FRAME)?;
        buf[HEADER_LEN..len].copy_from_slice(payload);
        self.emit(&mut Packet { buffer: &mut buf[..] });
        Some(len)
    }

    /// Reads back a header this crate emitted (an engine's own frame): no validation, so no
    /// error path. Debug builds check that it does parse.
    pub(crate) fn read_emitted(header: &[u8; HEADER_LEN]) -> Repr {
        let packet = Packet::new_unchecked(&header[..]);
        let repr = Repr {
            seq: SeqNum::from_wrapping(packet.seq()),
            ack: SeqNum::from_wrapping(packet.ack()),
            conn: packet.conn(),
            flags: packet.flags(),
        };
        debug_assert_eq!(Repr::parse(&packet), Ok(repr), "an emitted header parses");
        repr
    }

    /// Writes the header alone into `buf`.
    pub fn emit_header(&self, buf: &mut [u8; HEADER_LEN]) {
        self.emit(&mut Packet { buffer: &mut buf[..] });
    }
}

impl fmt::Display for Repr {
    /// `<seq> <ack> <conn>` and the flag names, as in SPEC §8's trace lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.seq, self.ack, self.conn)?;
        if self.flags != Flags::NONE {
            write!(f, " {}", self.flags)?;
        }
        Ok(())
    }
}

/// A decoded frame: its header and a view of its payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame<'a> {
    /// The header.
    pub repr: Repr,
    /// The payload (0 to 512 bytes), borrowed from the datagram.
    pub payload: &'a [u8],
}

/// Decodes one datagram (SPEC §1). Never panics and never reads past `datagram`.
pub fn decode(datagram: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let packet = Packet::new_checked(datagram)?;
    let repr = Repr::parse(&packet)?;
    Ok(Frame { repr, payload: &datagram[HEADER_LEN..] })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §9: `seq=43, ack=555, conn=7, flags=ACK`.
    static ACK_HEADER_BYTES: [u8; 12] = [0x2b, 0, 0, 0, 0x2b, 0x02, 0, 0, 0x07, 0, 0x04, 0];

    fn seq(v: u32) -> SeqNum {
        SeqNum::new(v).unwrap()
    }

    fn ack_repr() -> Repr {
        Repr { seq: seq(43), ack: seq(555), conn: 7, flags: Flags::ACK }
    }

    fn reference_syn() -> [u8; MAX_FRAME] {
        let mut bytes = [0u8; MAX_FRAME];
        bytes[..12].copy_from_slice(&[0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0]);
        bytes
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&ACK_HEADER_BYTES[..]).unwrap();
        assert_eq!(packet.seq(), 43);
        assert_eq!(packet.ack(), 555);
        assert_eq!(packet.conn(), 7);
        assert_eq!(packet.flags(), Flags::ACK);
        assert_eq!(packet.payload(), b"");
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 12];
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_seq(seq(43));
        packet.set_ack(seq(555));
        packet.set_conn(7);
        packet.set_flags(Flags::ACK);
        assert_eq!(bytes, ACK_HEADER_BYTES);
    }

    #[test]
    fn test_parse() {
        let frame = decode(&ACK_HEADER_BYTES).unwrap();
        assert_eq!(frame.repr, ack_repr());
        assert!(frame.payload.is_empty());
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0u8; 12];
        ack_repr().emit_header(&mut bytes);
        assert_eq!(bytes, ACK_HEADER_BYTES);
    }

    #[test]
    fn reference_syn_vector() {
        let bytes = reference_syn();
        let frame = decode(&bytes).unwrap();
        assert_eq!(frame.repr, Repr { seq: seq(42), ack: seq(0), conn: 0, flags: Flags::SYN });
        assert_eq!(frame.payload, &[0u8; MAX_PAYLOAD][..]);

        let mut built = [0xffu8; MAX_FRAME];
        let len = frame.repr.emit_with_payload(&mut built, &[0; MAX_PAYLOAD]).unwrap();
        assert_eq!(len, MAX_FRAME);
        assert_eq!(built, bytes);
    }

    #[test]
    fn rejects_truncated() {
        for len in 0..HEADER_LEN {
            assert_eq!(decode(&ACK_HEADER_BYTES[..len]), Err(DecodeError::Truncated { len }));
        }
    }

    #[test]
    fn rejects_oversized() {
        let bytes = [0u8; MAX_FRAME + 1];
        assert_eq!(decode(&bytes), Err(DecodeError::Oversized { len: MAX_FRAME + 1 }));
        assert!(decode(&bytes[..MAX_FRAME]).is_ok());
    }

    #[test]
    fn rejects_each_reserved_bit() {
        for bit in 3..16 {
            let mut bytes = ACK_HEADER_BYTES;
            let flags = 0x0004 | (1u16 << bit);
            bytes[10..12].copy_from_slice(&flags.to_le_bytes());
            assert_eq!(decode(&bytes), Err(DecodeError::ReservedFlags { flags }));
        }
    }

    #[test]
    fn rejects_syn_with_fin() {
        let mut bytes = ACK_HEADER_BYTES;
        bytes[10] = 0x03;
        assert_eq!(decode(&bytes), Err(DecodeError::SynAndFin));
        bytes[10] = 0x07;
        assert_eq!(decode(&bytes), Err(DecodeError::SynAndFin));
    }

    #[test]
    fn rejects_seq_and_ack_out_of_range() {
        let mut bytes = ACK_HEADER_BYTES;
        bytes[0..4].copy_from_slice(&MAX_SEQ.to_le_bytes());
        assert_eq!(decode(&bytes), Err(DecodeError::SeqOutOfRange { seq: MAX_SEQ }));
        let mut bytes = ACK_HEADER_BYTES;
        bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&bytes), Err(DecodeError::AckOutOfRange { ack: u32::MAX }));
        bytes[4..8].copy_from_slice(&(MAX_SEQ - 1).to_le_bytes());
        assert!(decode(&bytes).is_ok());
    }

    #[test]
    fn flags_print_in_spec_order() {
        extern crate std;
        use std::string::ToString;
        assert_eq!((Flags::SYN | Flags::ACK).to_string(), "ACK SYN");
        assert_eq!((Flags::FIN | Flags::ACK).to_string(), "ACK FIN");
        assert_eq!(Flags::NONE.to_string(), "");
        assert_eq!(ack_repr().to_string(), "43 555 7 ACK");
    }

    #[test]
    fn emit_rejects_long_payload() {
        let mut buf = [0u8; MAX_FRAME];
        assert_eq!(ack_repr().emit_with_payload(&mut buf, &[0; MAX_PAYLOAD + 1]), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_repr() -> impl Strategy<Value = Repr> {
            (0..MAX_SEQ, 0..MAX_SEQ, any::<u16>(), 0u16..8)
                .prop_filter("SYN with FIN", |(_, _, _, f)| f & 3 != 3)
                .prop_map(|(s, a, conn, f)| Repr {
                    seq: seq(s),
                    ack: seq(a),
                    conn,
                    flags: Flags::from_bits(f),
                })
        }

        proptest! {
            #[test]
            fn valid_reprs_round_trip(repr in any_repr(), payload in proptest::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD)) {
                let mut buf = [0u8; MAX_FRAME];
                let len = repr.emit_with_payload(&mut buf, &payload).unwrap();
                let frame = decode(&buf[..len]).unwrap();
                prop_assert_eq!(frame.repr, repr);
                prop_assert_eq!(frame.payload, &payload[..]);
            }

            #[test]
            fn arbitrary_bytes_decode_or_reject_by_the_rules(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                match decode(&bytes) {
                    Ok(frame) => {
                        // Whatever decodes re-emits to the same bytes.
                        let mut buf = [0u8; MAX_FRAME];
                        let len = frame.repr.emit_with_payload(&mut buf, frame.payload).unwrap();
                        prop_assert_eq!(&buf[..len], &bytes[..]);
                    }
                    Err(DecodeError::Truncated { len }) => prop_assert!(len < HEADER_LEN && len == bytes.len()),
                    Err(DecodeError::Oversized { len }) => prop_assert!(len > MAX_FRAME && len == bytes.len()),
                    Err(DecodeError::ReservedFlags { flags }) => prop_assert!(flags & !7 != 0),
                    Err(DecodeError::SynAndFin) => prop_assert!(bytes[10] & 3 == 3),
                    Err(DecodeError::SeqOutOfRange { seq }) => prop_assert!(seq >= MAX_SEQ),
                    Err(DecodeError::AckOutOfRange { ack }) => prop_assert!(ack >= MAX_SEQ),
                }
            }
        }
    }
}
