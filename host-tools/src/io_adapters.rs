//! `embedded_io` views of std readers that keep the real `std::io::Error`, so
//! the CLI can say *why* a file failed ("No space left on device"), not only the error kind
//! the core sees.

use std::io;

use embedded_io::ErrorKind;

/// Maps a std error kind to the core's.
fn kind_of(error: &io::Error) -> ErrorKind {
    embedded_io::Error::kind(error)
}

/// An `embedded_io::Read` over a `std::io::Read`.
#[derive(Debug)]
pub struct StdSource<R> {
    inner: R,
    /// The last error the reader returned.
    pub last_error: Option<io::Error>,
}

impl<R> StdSource<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> StdSource<R> {
        StdSource { inner, last_error: None }
    }
}

impl<R> embedded_io::ErrorType for StdSource<R> {
    type Error = ErrorKind;
}

impl<R: io::Read> embedded_io::Read for StdSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.inner.read(buf).map_err(|e| {
            let kind = kind_of(&e);
            self.last_error = Some(e);
            kind
        })
    }
}

/// A reader that checks that what it reads is, in the end, the content whose SHA-256 was
/// taken before (SPEC §10.5: an `object-id` names a content; a file that changed while it
/// was sent must fail before its FIN, or a later resume would join two contents). At the
/// end of the input it fails if the digest differs.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    expected: [u8; 32],
    /// The length hashed, and the bytes read so far: an end at another length is left to
    /// the size check (SPEC §3.1), which says so in better words.
    len: u64,
    read: u64,
    /// Set once the end was reached and checked.
    checked: bool,
}

impl<R> VerifyingReader<R> {
    /// Reads `inner`, whose `len` bytes must hash to `expected`.
    pub fn new(inner: R, expected: [u8; 32], len: u64) -> VerifyingReader<R> {
        use sha2::Digest;
        VerifyingReader { inner, hasher: sha2::Sha256::new(), expected, len, read: 0, checked: false }
    }
}

impl<R: io::Read> io::Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.checked && self.read == self.len {
            self.checked = true;
            let digest: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
            if digest != self.expected {
                return Err(io::Error::other("the file changed while it was sent (its SHA-256 differs)"));
            }
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// The SHA-256 of everything `reader` holds.
pub fn sha256_of(mut reader: impl io::Read) -> io::Result<[u8; 32]> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}
