//! SPEC's rules written out from the SPEC rather than taken from the crate, so that an oracle
//! does not share a wrong constant or a wrong rule with the code it checks: SPEC §1's
//! constants, byte layout and decoder, sequence arithmetic, SPEC §3.1, §10.1 and §10.4 option
//! lists and refusals, the reference receiver's trailing zeros (SPEC §7) and SPEC §8's trace
//! fields.

use rudp_nostd::wire::{DecodeError, Flags, Repr};
use rudp_nostd::{Error, RefuseReason, SeqNum};

/// Bytes in a header.
pub const HEADER_LEN: usize = 12;
/// The most payload bytes.
pub const MAX_PAYLOAD: usize = 512;
/// The largest frame.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD;
/// Sequence numbers are below it.
pub const MAX_SEQ: u32 = 204_800;
/// Flag bit 0.
pub const FIN: u16 = 1;
/// Flag bit 1.
pub const SYN: u16 = 2;
/// Flag bit 2.
pub const ACK: u16 = 4;
/// The defined flag bits; the others are reserved.
pub const DEFINED: u16 = FIN | SYN | ACK;
/// The reference sender's initial sequence number (SPEC §7).
pub const REFERENCE_ISN: u32 = 42;

/// `seq + n` modulo MAX_SEQ, computed here rather than with the crate's arithmetic.
pub(crate) fn seq_plus(seq: SeqNum, n: i64) -> SeqNum {
    let modulus = i64::from(MAX_SEQ);
    seq_of((i64::from(seq.get()) + n).rem_euclid(modulus) as u32)
}

/// `value` (below MAX_SEQ) as a sequence number.
pub(crate) fn seq_of(value: u32) -> SeqNum {
    SeqNum::new(value % MAX_SEQ).expect("reduced modulo MAX_SEQ")
}

/// A datagram laid out by hand from SPEC §1 (any field values, valid or not).
pub(crate) fn raw_frame(seq: u32, ack: u32, conn: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&ack.to_le_bytes());
    bytes.extend_from_slice(&conn.to_le_bytes());
    bytes.extend_from_slice(&flags.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The datagram of `repr` and `payload`, laid out by hand.
pub(crate) fn frame_bytes(repr: Repr, payload: &[u8]) -> Vec<u8> {
    raw_frame(repr.seq.get(), repr.ack.get(), repr.conn, repr.flags.bits(), payload)
}

/// The header fields of a datagram of at least 12 bytes: seq, ack, conn, flags.
pub(crate) fn header_fields(data: &[u8]) -> (u32, u32, u16, u16) {
    let u32_at = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let u16_at = |at: usize| u16::from_le_bytes([data[at], data[at + 1]]);
    (u32_at(0), u32_at(4), u16_at(8), u16_at(10))
}

/// The value of the first option of type `kind` in a SPEC §3.1 option list, if the list is
/// well formed up to it (written here, not taken from the crate).
pub(crate) fn option_value(payload: &[u8], kind: u8) -> Option<&[u8]> {
    let mut rest = payload;
    loop {
        match rest {
            [] | [0, ..] => return None,
            [t, len, tail @ ..] if usize::from(*len) <= tail.len() => {
                let (value, after) = tail.split_at(usize::from(*len));
                if *t == kind {
                    return Some(value);
                }
                rest = after;
            }
            _ => return None,
        }
    }
}

/// Whether a SPEC §3.1 option list is well formed: no option runs past the end.
pub(crate) fn options_well_formed(payload: &[u8]) -> bool {
    let mut rest = payload;
    loop {
        match rest {
            [] | [0, ..] => return true,
            [_, len, tail @ ..] if usize::from(*len) <= tail.len() => rest = &tail[usize::from(*len)..],
            _ => return false,
        }
    }
}

/// Option type 8, `refuse` (SPEC §10, §10.4).
pub const REFUSE: u8 = 8;

/// Whether a SYN's payload offers an extension (SPEC §3.1, §10.4): a well-formed option list
/// (a malformed one is ignored whole, SPEC §10) with an option of type 2 or above before its
/// end. Only to such a sender does a receiver send a `refuse`, and only such a sender takes one.
pub(crate) fn offers_extension(payload: &[u8]) -> bool {
    let mut rest = payload;
    let mut offers = false;
    loop {
        match rest {
            [] | [0, ..] => return offers,
            [t, len, tail @ ..] if usize::from(*len) <= tail.len() => {
                offers |= *t >= 2;
                rest = &tail[usize::from(*len)..];
            }
            _ => return false,
        }
    }
}

/// The reason byte of the `refuse` in `payload` (SPEC §10.4), if it is well formed: in a
/// well-formed list, the first option of type 8 (a repeated type counts once, SPEC §10), one
/// byte long.
pub(crate) fn refuse_code(payload: &[u8]) -> Option<u8> {
    if !options_well_formed(payload) {
        return None;
    }
    match option_value(payload, REFUSE)? {
        &[code] => Some(code),
        _ => None,
    }
}

/// A `refuse` option alone, with the reason byte `code`.
pub(crate) fn refuse_option(code: u8) -> [u8; 3] {
    [REFUSE, 1, code]
}

/// What a `refuse` byte stands for (SPEC §10.4's list; a reason not in it, 0 included, is
/// reported by number).
pub(crate) fn refuse_reason(code: u8) -> RefuseReason {
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

/// The reason byte an application that stops a transfer with `error` tells the peer (SPEC
/// §10.4): 4 when its storage or source failed, 6 when the data did not match
/// `transfer-size`, the reason it gave, 5 (cancelled) otherwise.
pub(crate) fn stop_reason(error: Error) -> u8 {
    match error {
        Error::Sink(_) | Error::Source(_) => 4,
        Error::SourceEndedEarly | Error::SourceRanLong | Error::LengthMismatch => 6,
        Error::Stopped(reason) => match reason {
            RefuseReason::Busy => 1,
            RefuseReason::TooLarge => 2,
            RefuseReason::Name => 3,
            RefuseReason::Storage => 4,
            RefuseReason::Cancelled => 5,
            RefuseReason::Length => 6,
            RefuseReason::Other(code) => code,
        },
        _ => 5,
    }
}

/// `(a - b) mod MAX_SEQ`: how far `a` is ahead of `b`.
pub(crate) fn seq_distance(a: SeqNum, b: SeqNum) -> u32 {
    (a.get() + MAX_SEQ - b.get()) % MAX_SEQ
}

/// The SPEC §10.1 `sack` option for the frames at `k` (bit `k - 1`): empty when none.
pub(crate) fn sack_option(bitmap: u64) -> Vec<u8> {
    if bitmap == 0 {
        return Vec::new();
    }
    let len = (64 - bitmap.leading_zeros() as usize).div_ceil(8);
    let mut option = vec![4, len as u8];
    option.extend_from_slice(&bitmap.to_le_bytes()[..len]);
    option
}

/// `payload` without its trailing zero bytes (the reference receiver's rule, SPEC §7).
pub(crate) fn strip_trailing_zeros(payload: &[u8]) -> &[u8] {
    let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &payload[..end]
}

/// SPEC §8's fields: `<seq> <ack> <conn>` and the flag names, in the order ACK, SYN, FIN.
pub(crate) fn spec_fields(seq: u32, ack: u32, conn: u16, flags: u16) -> String {
    let mut line = format!("{seq} {ack} {conn}");
    for (bit, name) in [(ACK, "ACK"), (SYN, "SYN"), (FIN, "FIN")] {
        if flags & bit != 0 {
            line.push(' ');
            line.push_str(name);
        }
    }
    line
}

/// The `transfer-size` a SYN's payload announces, read as SPEC §3.1 says: from a well-formed
/// list only, with exactly 8 bytes.
pub(crate) fn announced_size(payload: &[u8]) -> Option<u64> {
    if !options_well_formed(payload) {
        return None;
    }
    let value: [u8; 8] = option_value(payload, 1)?.try_into().ok()?;
    Some(u64::from_le_bytes(value))
}

/// SPEC §1's decoder, written from the SPEC: the rejections in the order the SPEC lists them.
pub(crate) fn spec_decode(data: &[u8]) -> Result<Repr, DecodeError> {
    let len = data.len();
    if len < HEADER_LEN {
        return Err(DecodeError::Truncated { len });
    }
    if len > MAX_FRAME {
        return Err(DecodeError::Oversized { len });
    }
    let (seq, ack, conn, flags) = header_fields(data);
    if flags & !DEFINED != 0 {
        return Err(DecodeError::ReservedFlags { flags });
    }
    if flags & (SYN | FIN) == SYN | FIN {
        return Err(DecodeError::SynAndFin);
    }
    if seq >= MAX_SEQ {
        return Err(DecodeError::SeqOutOfRange { seq });
    }
    if ack >= MAX_SEQ {
        return Err(DecodeError::AckOutOfRange { ack });
    }
    Ok(Repr { seq: seq_of(seq), ack: seq_of(ack), conn, flags: Flags::from_bits(flags) })
}
