//! CRC-32C over the bytes of a transfer as they pass: a sink for the receiver and the pattern
//! source for the sender. A mebibyte does not fit in RAM, so neither keeps the data.

use core::convert::Infallible;

use crc::{CRC_32_ISCSI, Crc, Digest};
use embedded_io::{ErrorType, Read, Write};

/// CRC-32C (Castagnoli, reflected, polynomial 0x82F63B78): "123456789" gives e3069283. The
/// 1 KiB table lives in flash.
pub static CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// The prime the test pattern is taken modulo.
const PATTERN_MODULUS: u32 = 251;
/// The pattern's step from one byte to the next.
const PATTERN_STEP: u32 = 31;
/// The pattern's first byte.
const PATTERN_START: u32 = 7;

/// A sink that keeps only the count and the CRC-32C of what is written to it.
pub struct DigestSink {
    digest: Digest<'static, u32>,
    len: u64,
}

impl DigestSink {
    /// Nothing written yet.
    pub fn new() -> DigestSink {
        DigestSink { digest: CRC32C.digest(), len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The CRC-32C of the bytes written so far.
    pub fn crc(&self) -> u32 {
        self.digest.clone().finalize()
    }

    /// Adds `bytes` to the count and the CRC.
    fn count(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
        self.len += bytes.len() as u64;
    }
}

impl Default for DigestSink {
    fn default() -> DigestSink {
        DigestSink::new()
    }
}

impl ErrorType for DigestSink {
    type Error = Infallible;
}

impl Write for DigestSink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.count(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// `len` bytes of the test pattern `byte[i] = (i * 31 + 7) % 251`, with the count and CRC-32C
/// of what has been read.
pub struct PatternSource {
    remaining: u64,
    /// The next byte, `(i * 31 + 7) % 251` for the next `i`.
    next: u32,
    /// The count and CRC-32C of what has been read.
    read: DigestSink,
}

impl PatternSource {
    /// The first `len` bytes of the pattern.
    pub fn new(len: u64) -> PatternSource {
        PatternSource { remaining: len, next: PATTERN_START, read: DigestSink::new() }
    }

    /// The count and CRC-32C of what has been read.
    pub fn read(&self) -> &DigestSink {
        &self.read
    }
}

impl ErrorType for PatternSource {
    type Error = Infallible;
}

impl Read for PatternSource {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        for byte in &mut buf[..n] {
            // `next` < 251 always: the cast keeps every bit.
            *byte = self.next as u8;
            self.next = (self.next + PATTERN_STEP) % PATTERN_MODULUS;
        }
        self.read.count(&buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}
