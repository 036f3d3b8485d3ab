//! The fuzz inputs' byte codec: [`Cursor`] reads an input, [`Program`] writes one (for the
//! seed corpus). The targets' op codes and set-up bytes are beside the bodies that read them.

/// Reads a fuzz input front to back. Past its end every read gives zeros, so that any input,
/// however short, is a valid program; a program ends with its input, so every loop over one
/// is bounded by the input's length.
pub struct Cursor<'a> {
    rest: &'a [u8],
}

/// Datagram lengths up to this are one byte (`0..=63`); longer ones take two, the first
/// marked with [`LONG_LEN`].
const SHORT_LEN_MAX: usize = 0x3f;
/// The mark of a two-byte datagram length.
const LONG_LEN: u8 = 0xc0;
/// The longest junk datagram: past the largest frame, to reach the `Oversized` rejection.
const MAX_JUNK_LEN: usize = 600;

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { rest: data }
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&byte, rest)) => {
                self.rest = rest;
                byte
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next `n` bytes, fewer at the end of the input.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.rest.len())
    }

    /// A junk datagram: a length (see [`LONG_LEN`]) and that many bytes.
    pub fn datagram(&mut self) -> &'a [u8] {
        let first = self.u8();
        let len = if first & LONG_LEN == LONG_LEN {
            ((usize::from(first & !LONG_LEN) << 8) | usize::from(self.u8())).min(MAX_JUNK_LEN)
        } else {
            usize::from(first) & SHORT_LEN_MAX
        };
        self.bytes(len)
    }
}

/// Writes fuzz inputs: the inverse of [`Cursor`], for the seed corpus.
#[derive(Default)]
pub struct Program {
    bytes: Vec<u8>,
}

impl Program {
    /// The input written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends `v`.
    pub(crate) fn u8(&mut self, v: u8) -> &mut Program {
        self.bytes.push(v);
        self
    }

    /// Appends `v`, little-endian.
    pub(crate) fn u16(&mut self, v: u16) -> &mut Program {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends `v`, little-endian.
    pub(crate) fn u32(&mut self, v: u32) -> &mut Program {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a junk datagram as [`Cursor::datagram`] reads it: its length, then its bytes.
    pub(crate) fn datagram(&mut self, datagram: &[u8]) -> &mut Program {
        let len = datagram.len();
        assert!(len <= MAX_JUNK_LEN, "a junk datagram has at most {MAX_JUNK_LEN} bytes");
        if len <= SHORT_LEN_MAX {
            self.u8(len as u8);
        } else {
            self.u8(LONG_LEN | (len >> 8) as u8).u8(len as u8);
        }
        self.bytes.extend_from_slice(datagram);
        self
    }
}
