//! `embedded_io` views of std readers and writers that keep the real `std::io::Error`, so
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

/// An `embedded_io::Write` over a `std::io::Write`.
#[derive(Debug)]
pub struct StdSink<W> {
    inner: W,
    /// The last error the writer returned.
    pub last_error: Option<io::Error>,
}

impl<W> StdSink<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> StdSink<W> {
        StdSink { inner, last_error: None }
    }

    /// The writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W> embedded_io::ErrorType for StdSink<W> {
    type Error = ErrorKind;
}

impl<W: io::Write> embedded_io::Write for StdSink<W> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.inner.write(buf).map_err(|e| {
            let kind = kind_of(&e);
            self.last_error = Some(e);
            kind
        })
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        self.inner.flush().map_err(|e| {
            let kind = kind_of(&e);
            self.last_error = Some(e);
            kind
        })
    }
}
