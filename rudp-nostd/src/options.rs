//! SYN options (SPEC §3.1): a list of `type (u8), length (u8), value` entries, ended by type
//! 0 or by the end of the payload.
//!
//! A receiver skips options it does not know and ignores a malformed list (an option whose
//! length runs past the end of the payload) as a whole; a known option with the wrong length
//! is ignored by itself; when a type repeats only its first occurrence counts.
//!
//! ```
//! use rudp_nostd::options::{SynOptions, write_transfer_size};
//! let mut payload = [0u8; 16];
//! let len = write_transfer_size(&mut payload, 1000).unwrap();
//! assert_eq!(&payload[..len], &[1, 8, 0xe8, 3, 0, 0, 0, 0, 0, 0]);
//! assert_eq!(SynOptions::parse(&payload[..len]).transfer_size, Some(1000));
//! // The reference sender's all-zero padding means "no options".
//! assert_eq!(SynOptions::parse(&[0u8; 512]), SynOptions::default());
//! ```

/// Type 0: the end of the list.
pub const END: u8 = 0;
/// Type 1: the total number of data bytes the sender will send (u64 little-endian).
pub const TRANSFER_SIZE: u8 = 1;
/// Length of a transfer-size option's value.
pub const TRANSFER_SIZE_LEN: usize = 8;
/// Bytes a transfer-size option takes in a payload, type and length included.
pub const TRANSFER_SIZE_OPTION_LEN: usize = 2 + TRANSFER_SIZE_LEN;

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
    /// The announced number of data bytes, for progress and ETA only.
    pub transfer_size: Option<u64>,
}

impl SynOptions {
    /// Reads a SYN's payload. A malformed list gives no options at all; unknown types are
    /// skipped; a known option of the wrong length is ignored; repeats after the first are
    /// ignored.
    pub fn parse(payload: &[u8]) -> SynOptions {
        let options = Options::new(payload);
        if !options.is_well_formed() {
            return SynOptions::default();
        }
        let mut parsed = SynOptions::default();
        let mut seen_transfer_size = false;
        for option in options.flatten() {
            if option.kind == TRANSFER_SIZE && !seen_transfer_size {
                seen_transfer_size = true;
                if let Ok(value) = <[u8; TRANSFER_SIZE_LEN]>::try_from(option.value) {
                    parsed.transfer_size = Some(u64::from_le_bytes(value));
                }
            }
        }
        parsed
    }
}

/// Writes a transfer-size option at the start of `buf`; returns its length, or `None` if
/// `buf` is too short.
pub fn write_transfer_size(buf: &mut [u8], size: u64) -> Option<usize> {
    let out = buf.get_mut(..TRANSFER_SIZE_OPTION_LEN)?;
    out[0] = TRANSFER_SIZE;
    out[1] = TRANSFER_SIZE_LEN as u8;
    out[2..].copy_from_slice(&size.to_le_bytes());
    Some(TRANSFER_SIZE_OPTION_LEN)
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
    fn write_needs_room() {
        assert_eq!(write_transfer_size(&mut [0u8; 9], 1), None);
    }
}
