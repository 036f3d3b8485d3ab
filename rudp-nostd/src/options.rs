//! SYN options (SPEC §3.1): a list of `type (u8), length (u8), value` entries, ended by type
//! 0 or by the end of the payload.
//!
//! A receiver skips options it does not know and ignores a malformed list (an option whose
//! length runs past the end of the payload) as a whole; a known option with the wrong length
//! is ignored by itself; when a type repeats only its first occurrence counts. The tests at the
//! bottom, and the vectors of `PROTOCOL.md`, show the encoding.

use crate::digest::DigestAlgorithm;

/// Type 0: the end of the list.
pub const END: u8 = 0;
/// Type 1: the total number of data bytes the sender will send (u64 little-endian).
pub const TRANSFER_SIZE: u8 = 1;
/// Type 2: window offer (SYN) or grant (SYN|ACK), one byte (SPEC §10.1).
pub const WINDOW: u8 = 2;
/// Type 3: digest algorithm offered (SYN) or granted (SYN|ACK), one byte (SPEC §10.2).
pub const DIGEST: u8 = 3;
/// Type 4: selective-ack bitmap in receiver ACKs (SPEC §10.1).
pub const SACK: u8 = 4;
/// Type 5: the digest value, in the FIN (SPEC §10.2).
pub const DIGEST_VALUE: u8 = 5;
/// Type 6: the receiver's verdict on the digest, in the FIN|ACK: 0 verified, 1 mismatch.
pub const RESULT: u8 = 6;
/// `result` value: the digest matched.
pub const RESULT_VERIFIED: u8 = 0;
/// `result` value: the digest did not match (or was missing).
pub const RESULT_MISMATCH: u8 = 1;
/// Type 7: the object's name, UTF-8, 1 to 255 bytes, in the SYN (SPEC §10.4).
pub const NAME: u8 = 7;
/// Type 8: why the receiver will not take (go on taking, commit) a transfer, or why the sender
/// abandons it: one byte (SPEC §10.4).
pub const REFUSE: u8 = 8;
/// Type 9: an identifier of the object's whole content, 8 to 32 bytes, in the SYN (SPEC §10.5).
pub const OBJECT_ID: u8 = 9;
/// Type 10: the bytes of the object the receiver holds already, u64 little-endian, in the
/// SYN|ACK (SPEC §10.5).
pub const RESUME_FROM: u8 = 10;
/// Length of a transfer-size option's value.
pub const TRANSFER_SIZE_LEN: usize = 8;

/// One option: its type and its value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RawOption<'a> {
    /// The type byte.
    pub kind: u8,
    /// The value bytes.
    pub value: &'a [u8],
}

/// The list's end runs past the payload: the whole list is to be ignored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Malformed;

/// Walks an option list. Yields `Err(Malformed)` once, then ends, if an option runs past
/// the end of the payload.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    /// The options in `payload`.
    pub fn new(payload: &'a [u8]) -> Options<'a> {
        Options { rest: payload }
    }

    /// Whether the list is well formed (every option fits in the payload).
    #[cfg(test)]
    pub fn is_well_formed(&self) -> bool {
        self.clone().all(|option| option.is_ok())
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<RawOption<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after_kind) = self.rest.split_first()?;
        if kind == END {
            self.rest = &[];
            return None;
        }
        let Some((&len, after_len)) = after_kind.split_first() else {
            self.rest = &[];
            return Some(Err(Malformed));
        };
        let Some((value, rest)) = after_len.split_at_checked(len as usize) else {
            self.rest = &[];
            return Some(Err(Malformed));
        };
        self.rest = rest;
        Some(Ok(RawOption { kind, value }))
    }
}

/// What a SYN offers, as far as this version understands it.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SynOptions {
    /// The announced number of data bytes (SPEC §3.1: it binds).
    pub transfer_size: Option<u64>,
    /// The most data frames the sender can keep in flight (1 to 64).
    pub window: Option<u8>,
    /// The digest the sender will prove the data with.
    pub digest: Option<DigestAlgorithm>,
    /// The SYN carried an option of type 2 or above: the sender understands a `refuse`
    /// (SPEC §10.4), and only then does the SYN|ACK carry options (SPEC §3.1).
    pub extension: bool,
    /// A well-formed `object-id` (8 to 32 bytes) came with a well-formed `transfer-size`: the
    /// sender offers resume (SPEC §10.5).
    pub resume: bool,
}

/// The number of option types of SPEC §10's table, type 0 included.
const KNOWN_TYPES: usize = 11;

/// A well-formed option list, read in one pass: the first occurrence of each type of SPEC
/// §10's table (index: the type), and the first type beyond it.
struct Listed<'a> {
    first: [Option<&'a [u8]>; KNOWN_TYPES],
    unknown: Option<u8>,
    /// An option of type 2 or above is in the list.
    extension: bool,
}

/// Reads `payload` as an option list; `None` for a malformed one.
fn first_of_each(payload: &[u8]) -> Option<Listed<'_>> {
    let mut listed = Listed { first: [None; KNOWN_TYPES], unknown: None, extension: false };
    for option in Options::new(payload) {
        let option = option.ok()?;
        listed.extension |= option.kind >= WINDOW;
        match listed.first.get_mut(usize::from(option.kind)) {
            Some(slot) => {
                slot.get_or_insert(option.value);
            }
            None => {
                listed.unknown.get_or_insert(option.kind);
            }
        }
    }
    Some(listed)
}

/// A one-byte value, if `value` is exactly one byte.
fn one_byte(value: Option<&[u8]>) -> Option<u8> {
    match value {
        Some(&[byte]) => Some(byte),
        _ => None,
    }
}

impl SynOptions {
    /// Reads a SYN's payload. A malformed list gives no options at all; unknown types are
    /// skipped; a known option of the wrong length or with a value out of range is ignored;
    /// repeats after the first are ignored.
    pub fn parse(payload: &[u8]) -> SynOptions {
        let Some(list) = first_of_each(payload) else {
            return SynOptions::default();
        };
        let [_, transfer_size, window, digest, ..] = list.first;
        SynOptions {
            transfer_size: transfer_size
                .and_then(|v| <[u8; TRANSFER_SIZE_LEN]>::try_from(v).ok())
                .map(u64::from_le_bytes),
            window: one_byte(window).filter(|w| (1..=64).contains(w)),
            digest: one_byte(digest).and_then(DigestAlgorithm::from_code),
            extension: list.extension,
            resume: transfer_size.is_some_and(|v| v.len() == TRANSFER_SIZE_LEN)
                && list
                    .first
                    .get(usize::from(OBJECT_ID))
                    .copied()
                    .flatten()
                    .is_some_and(|id| (8..=32).contains(&id.len())),
        }
    }
}

/// The `name` in a SYN's payload (SPEC §10.4): 1 to 255 bytes, not checked further here.
pub fn name(payload: &[u8]) -> Option<&[u8]> {
    let [.., name, _, _, _] = first_of_each(payload)?.first;
    name.filter(|n| !n.is_empty())
}

/// The `object-id` in a SYN's payload (SPEC §10.5): 8 to 32 bytes.
pub fn object_id(payload: &[u8]) -> Option<&[u8]> {
    let [.., id, _] = first_of_each(payload)?.first;
    id.filter(|id| (8..=32).contains(&id.len()))
}

/// The `refuse` reason in a reply's (or an abandoning FIN's) payload (SPEC §10.4): one byte.
pub fn refuse(payload: &[u8]) -> Option<u8> {
    let [.., refuse, _, _] = first_of_each(payload)?.first;
    one_byte(refuse)
}

/// What a SYN|ACK grants.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Grants {
    /// The window granted (2 to 64); `None` means 1.
    pub window: Option<u8>,
    /// The digest the receiver will verify.
    pub digest: Option<DigestAlgorithm>,
    /// The bytes of the object the receiver holds already: the data starts there (SPEC §10.5).
    pub resume_from: Option<u64>,
}

/// Why a sender refuses a SYN|ACK's grants (SPEC §10).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GrantError {
    /// An option of a type that was not offered (unknown types included).
    NotOffered {
        /// The option's type.
        kind: u8,
    },
    /// A window above the offer.
    WindowAboveOffer,
    /// A digest other than the one offered.
    OtherDigest,
    /// A `resume-from` that is 0, past the `transfer-size`, neither a multiple of 512 nor the
    /// size, or without a SHA-256 grant (SPEC §10.5).
    BadResume,
}

impl core::fmt::Display for GrantError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GrantError::NotOffered { kind } => {
                write!(f, "it grants an option of type {kind}, which was not offered")
            }
            GrantError::WindowAboveOffer => f.write_str("it grants a window larger than the one offered"),
            GrantError::OtherDigest => f.write_str("it grants a digest other than the one offered"),
            GrantError::BadResume => f.write_str("it grants a resume point the object cannot have"),
        }
    }
}

impl core::error::Error for GrantError {}

impl Grants {
    /// Reads a SYN|ACK's payload against what our SYN offered. Ill-formed options of the
    /// known types are ignored first (a malformed list is ignored whole); then anything not
    /// offered, a window above the offer or another digest is an error.
    pub fn parse(payload: &[u8], offered: &SynOptions) -> Result<Grants, GrantError> {
        let Some(list) = first_of_each(payload) else {
            return Ok(Grants::default());
        };
        // Types beyond the table: unknown, never offered.
        if let Some(kind) = list.unknown {
            return Err(GrantError::NotOffered { kind });
        }
        // Destructured rather than indexed: no bounds check, so no panic path in firmware.
        // `refuse` (type 8) is always understood: a SYN|ACK that carries one with a `conn` is
        // no refusal (SPEC §10.4), and it grants nothing.
        let [_, transfer_size, window, digest, sack, digest_value, result, name, _, object_id, resume_from] =
            list.first;
        let window = one_byte(window).filter(|w| (2..=64).contains(w));
        let digest = one_byte(digest).and_then(DigestAlgorithm::from_code);
        let resume_from = resume_from.and_then(|v| <[u8; 8]>::try_from(v).ok()).map(u64::from_le_bytes);
        // A well-formed option of the other known types was never offered in a SYN (the
        // ill-formed ones are ignored); `resume-from` answers an `object-id`.
        for (kind, value) in [
            (TRANSFER_SIZE, transfer_size),
            (SACK, sack),
            (DIGEST_VALUE, digest_value),
            (RESULT, result),
            (NAME, name),
            (OBJECT_ID, object_id),
        ] {
            if well_formed(kind, value) {
                return Err(GrantError::NotOffered { kind });
            }
        }
        match (window, offered.window) {
            (Some(_), None) => return Err(GrantError::NotOffered { kind: WINDOW }),
            (Some(granted), Some(offer)) if granted > offer => return Err(GrantError::WindowAboveOffer),
            _ => {}
        }
        match (digest, offered.digest) {
            (Some(_), None) => return Err(GrantError::NotOffered { kind: DIGEST }),
            (Some(granted), Some(offer)) if granted != offer => return Err(GrantError::OtherDigest),
            _ => {}
        }
        if let Some(from) = resume_from {
            if !offered.resume {
                return Err(GrantError::NotOffered { kind: RESUME_FROM });
            }
            if !resume_allowed(offered, digest, from) {
                return Err(GrantError::BadResume);
            }
        }
        Ok(Grants { window, digest, resume_from })
    }
}

/// Whether an option of a known `kind` with this value is well formed (SPEC §10's table).
fn well_formed(kind: u8, value: Option<&[u8]>) -> bool {
    let Some(value) = value else {
        return false;
    };
    match kind {
        TRANSFER_SIZE => value.len() == TRANSFER_SIZE_LEN,
        SACK => (1..=8).contains(&value.len()),
        DIGEST_VALUE => value.len() == 4 || value.len() == 32,
        RESULT => matches!(value, [RESULT_VERIFIED | RESULT_MISMATCH]),
        NAME => !value.is_empty(),
        OBJECT_ID => (8..=32).contains(&value.len()),
        RESUME_FROM => value.len() == 8,
        _ => false,
    }
}

/// The `digest-value` in a FIN's payload, if there is a well-formed one of length `len`.
pub fn digest_value(payload: &[u8], len: usize) -> Option<&[u8]> {
    let [.., value, _, _, _, _, _] = first_of_each(payload)?.first;
    value.filter(|v| v.len() == len)
}

/// The `result` in a FIN|ACK's payload: `Some(true)` verified, `Some(false)` mismatch.
pub fn result(payload: &[u8]) -> Option<bool> {
    let [.., result, _, _, _, _] = first_of_each(payload)?.first;
    match one_byte(result)? {
        RESULT_VERIFIED => Some(true),
        RESULT_MISMATCH => Some(false),
        _ => None,
    }
}

/// The `sack` bitmap in a receiver ACK's payload (SPEC §10.1): bit `i` (byte `i / 8`, least
/// significant bit first) set means the frame at `k = i + 1` after the cumulative ack is held.
/// `None` without a well-formed `sack` (1 to 8 bytes) or when it shows nothing.
pub fn sack(payload: &[u8]) -> Option<u64> {
    let [_, _, _, _, value, ..] = first_of_each(payload)?.first;
    let value = value.filter(|v| (1..=SACK_MAX_LEN).contains(&v.len()))?;
    let mut bytes = [0u8; SACK_MAX_LEN];
    for (byte, &v) in bytes.iter_mut().zip(value) {
        *byte = v;
    }
    Some(u64::from_le_bytes(bytes)).filter(|&bitmap| bitmap != 0)
}

/// The longest `sack` value: 8 bytes, 64 frames.
pub const SACK_MAX_LEN: usize = 8;

/// The bytes of a `sack` value for `bitmap`: the shortest length that holds the highest set
/// bit (SPEC §10.1), and that length (0 for an empty bitmap: no `sack` is sent).
pub fn sack_value(bitmap: u64) -> ([u8; SACK_MAX_LEN], usize) {
    let bits = 64 - bitmap.leading_zeros() as usize;
    (bitmap.to_le_bytes(), bits.div_ceil(8))
}

/// Writes one option (`kind`, `value`) at the start of `buf`; returns its length, or `None`
/// if `buf` is too short or the value longer than 255 bytes.
pub fn write_option(buf: &mut [u8], kind: u8, value: &[u8]) -> Option<usize> {
    let len = u8::try_from(value.len()).ok()?;
    let out = buf.get_mut(..2 + value.len())?;
    out[0] = kind;
    out[1] = len;
    out[2..].copy_from_slice(value);
    Some(2 + value.len())
}

/// Whether `resume-from = from` may answer a SYN with these offers (SPEC §10.5): `object-id`
/// and `transfer-size` offered, SHA-256 granted (`digest`), `0 < from <= size`, and `from` a
/// multiple of 512 or the size.
pub fn resume_allowed(offers: &SynOptions, digest: Option<DigestAlgorithm>, from: u64) -> bool {
    let size = offers.transfer_size.unwrap_or(0);
    offers.resume
        && digest == Some(DigestAlgorithm::Sha256)
        && from > 0
        && from <= size
        && (from.is_multiple_of(crate::frame::MAX_PAYLOAD as u64) || from == size)
}

/// Writes a transfer-size option at the start of `buf`; returns its length, or `None` if
/// `buf` is too short.
pub fn write_transfer_size(buf: &mut [u8], size: u64) -> Option<usize> {
    write_option(buf, TRANSFER_SIZE, &size.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vector_transfer_size_1000_with_extension_offers() {
        // SPEC §10.3: transfer-size 1000, window 32, CRC-32C. The last two are unknown here
        // and skipped.
        let payload = [1, 8, 0xe8, 3, 0, 0, 0, 0, 0, 0, 2, 1, 0x20, 3, 1, 1];
        assert_eq!(SynOptions::parse(&payload).transfer_size, Some(1000));
        let with_end = [&payload[..], &[0, 0xff, 0xff][..]].concat();
        assert_eq!(SynOptions::parse(&with_end).transfer_size, Some(1000));
    }

    #[test]
    fn malformed_list_is_ignored_whole() {
        // A valid transfer-size, then an option claiming 9 bytes with 1 left.
        let payload = [1, 8, 0xe8, 3, 0, 0, 0, 0, 0, 0, 7, 9, 0];
        assert_eq!(SynOptions::parse(&payload), SynOptions::default());
        // A lone type byte with no length.
        assert_eq!(SynOptions::parse(&[1]), SynOptions::default());
    }

    #[test]
    fn wrong_length_is_ignored_alone_and_first_occurrence_counts() {
        let payload = [1, 4, 1, 2, 3, 4, 1, 8, 5, 0, 0, 0, 0, 0, 0, 0];
        // The first transfer-size has the wrong length; it is ignored, and being the first it
        // also hides the second.
        assert_eq!(SynOptions::parse(&payload).transfer_size, None);
        let payload = [1, 8, 5, 0, 0, 0, 0, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(SynOptions::parse(&payload).transfer_size, Some(5));
    }

    #[test]
    fn end_marker_stops_the_walk() {
        let payload = [0, 1, 8, 5, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(SynOptions::parse(&payload).transfer_size, None);
        assert_eq!(Options::new(&payload).count(), 0);
    }

    #[test]
    fn spec_vector_syn_offers() {
        let payload = [1, 8, 0xe8, 3, 0, 0, 0, 0, 0, 0, 2, 1, 0x20, 3, 1, 1];
        let offers = SynOptions::parse(&payload);
        assert_eq!(offers.window, Some(32));
        assert_eq!(offers.digest, Some(DigestAlgorithm::Crc32c));
        assert!(offers.extension);
        assert!(!SynOptions::parse(&payload[..10]).extension);
        // Any option of type 2 or above counts, an unknown one or an ill-formed one too.
        assert!(SynOptions::parse(&[1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 7, 1, b'a']).extension);
        assert!(SynOptions::parse(&[99, 0]).extension);
        assert!(SynOptions::parse(&[2, 2, 1, 1]).extension);
        assert!(!SynOptions::parse(&[0; 512]).extension);
    }

    #[test]
    fn out_of_range_offers_are_ignored_alone() {
        let payload = [2, 1, 65, 3, 1, 9, 3, 1, 1];
        let offers = SynOptions::parse(&payload);
        assert_eq!(offers.window, None);
        // The first digest option (code 9) is out of range and hides the second.
        assert_eq!(offers.digest, None);
    }

    fn offer(window: Option<u8>, digest: Option<DigestAlgorithm>) -> SynOptions {
        SynOptions { transfer_size: None, window, digest, extension: true, resume: false }
    }

    #[test]
    fn spec_vector_syn_ack_grants() {
        let grants = Grants::parse(&[2, 1, 8, 3, 1, 1], &offer(Some(32), Some(DigestAlgorithm::Crc32c)));
        assert_eq!(
            grants,
            Ok(Grants { window: Some(8), digest: Some(DigestAlgorithm::Crc32c), resume_from: None })
        );
        assert_eq!(Grants::parse(&[], &offer(Some(32), None)), Ok(Grants::default()));
    }

    #[test]
    fn grant_rules() {
        let crc = Some(DigestAlgorithm::Crc32c);
        let both = offer(Some(8), crc);
        assert_eq!(Grants::parse(&[2, 1, 9], &both), Err(GrantError::WindowAboveOffer));
        assert_eq!(Grants::parse(&[3, 1, 2], &both), Err(GrantError::OtherDigest));
        assert_eq!(Grants::parse(&[3, 1, 1], &offer(None, None)), Err(GrantError::NotOffered { kind: 3 }));
        assert_eq!(Grants::parse(&[2, 1, 4], &offer(None, crc)), Err(GrantError::NotOffered { kind: 2 }));
        assert_eq!(Grants::parse(&[11, 0], &both), Err(GrantError::NotOffered { kind: 11 }));
        assert_eq!(
            Grants::parse(&[9, 8, 1, 2, 3, 4, 5, 6, 7, 8], &both),
            Err(GrantError::NotOffered { kind: 9 })
        );
        assert_eq!(
            Grants::parse(&[10, 8, 0, 2, 0, 0, 0, 0, 0, 0], &both),
            Err(GrantError::NotOffered { kind: 10 })
        );
        // Resume (SPEC §10.5): offered with an object-id and a size, granted with SHA-256 only,
        // at a multiple of 512 or the size, never 0 or past the size.
        let sha = Some(DigestAlgorithm::Sha256);
        let resumable = SynOptions {
            transfer_size: Some(5000),
            window: None,
            digest: sha,
            extension: true,
            resume: true,
        };
        let grant = |from: u64, digest: u8| {
            let mut payload = std::vec![3, 1, digest, 10, 8];
            payload.extend_from_slice(&from.to_le_bytes());
            Grants::parse(&payload, &resumable)
        };
        assert_eq!(grant(4096, 2), Ok(Grants { window: None, digest: sha, resume_from: Some(4096) }));
        assert_eq!(grant(5000, 2).map(|g| g.resume_from), Ok(Some(5000)));
        for bad in [0, 100, 5001, 5120] {
            assert_eq!(grant(bad, 2), Err(GrantError::BadResume), "{bad}");
        }
        assert_eq!(grant(4096, 1), Err(GrantError::OtherDigest));
        let crc = SynOptions { digest: Some(DigestAlgorithm::Crc32c), ..resumable };
        let mut payload = std::vec![3, 1, 1, 10, 8];
        payload.extend_from_slice(&512u64.to_le_bytes());
        assert_eq!(Grants::parse(&payload, &crc), Err(GrantError::BadResume));
        assert!(resume_allowed(&resumable, sha, 512) && !resume_allowed(&resumable, sha, 513));
        assert!(!resume_allowed(&SynOptions { resume: false, ..resumable }, sha, 512));
        assert_eq!(Grants::parse(&[7, 1, b'a'], &both), Err(GrantError::NotOffered { kind: 7 }));
        // `refuse` is always understood, and grants nothing.
        assert_eq!(Grants::parse(&[8, 1, 1], &both), Ok(Grants::default()));
        assert_eq!(Grants::parse(&[6, 1, 0], &both), Err(GrantError::NotOffered { kind: 6 }));
        // Ill-formed known options are ignored first: a 2-byte window, a digest code 7, a
        // window of 1 (grants are 2..=64), a result of 5.
        assert_eq!(Grants::parse(&[2, 2, 4, 4, 3, 1, 7], &both), Ok(Grants::default()));
        assert_eq!(Grants::parse(&[2, 1, 1, 6, 1, 5], &both), Ok(Grants::default()));
        // A malformed list is ignored whole, even with an unknown type in it.
        assert_eq!(Grants::parse(&[11, 0, 2, 5, 1], &both), Ok(Grants::default()));
    }

    #[test]
    fn fin_and_fin_ack_payloads() {
        let fin = [5, 4, 0x83, 0x92, 0x06, 0xe3];
        assert_eq!(digest_value(&fin, 4), Some(&fin[2..]));
        assert_eq!(digest_value(&fin, 32), None);
        assert_eq!(digest_value(&[0; 512], 4), None);
        assert_eq!(result(&[6, 1, 0]), Some(true));
        assert_eq!(result(&[6, 1, 1]), Some(false));
        assert_eq!(result(&[6, 1, 2]), None);
        assert_eq!(result(&[]), None);
    }

    #[test]
    fn spec_vector_sack() {
        // SPEC §10.3: an ACK holding the frames at k = 2 and 3 (bits 1 and 2).
        let (value, len) = sack_value(0b110);
        let mut payload = [0u8; 10];
        let written = write_option(&mut payload, SACK, &value[..len]).unwrap();
        assert_eq!(&payload[..written], &[4, 1, 6]);
        assert_eq!(sack(&payload[..written]), Some(0b110));
        // The shortest length holding the highest bit: k = 9 needs a second byte, k = 64 eight.
        assert_eq!(sack_value(1 << 8).1, 2);
        assert_eq!(sack_value(1 << 63).1, 8);
        assert_eq!(sack_value(0).1, 0);
        assert_eq!(sack(&[4, 2, 0, 1]), Some(1 << 8));
        // Wrong lengths, an empty bitmap and a malformed list show nothing.
        assert_eq!(sack(&[4, 0]), None);
        assert_eq!(sack(&[4, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1]), None);
        assert_eq!(sack(&[4, 1, 0]), None);
        assert_eq!(sack(&[4, 3, 1]), None);
    }

    #[test]
    fn names_refusals_and_object_ids() {
        let syn =
            [1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 7, 5, b'a', b'/', b'b', b'.', b'c', 9, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(name(&syn), Some(&b"a/b.c"[..]));
        assert_eq!(object_id(&syn), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
        // A name of length 0 and an object-id of 7 bytes are ill-formed: ignored.
        assert_eq!(name(&[7, 0]), None);
        assert_eq!(object_id(&[9, 7, 1, 2, 3, 4, 5, 6, 7]), None);
        assert_eq!(refuse(&[8, 1, 3]), Some(3));
        assert_eq!(refuse(&[8, 2, 3, 3]), None);
        assert_eq!(refuse(&[4, 1, 1, 8, 1, 200]), Some(200));
        assert_eq!(refuse(&[8, 1]), None);
    }

    #[test]
    fn write_needs_room() {
        assert_eq!(write_transfer_size(&mut [0u8; 9], 1), None);
    }
}
