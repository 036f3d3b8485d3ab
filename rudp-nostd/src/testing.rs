//! Helpers for the engines' unit tests.

use std::vec::Vec;

use crate::engine::Engine;
use crate::frame::{self, Flags, MAX_FRAME, Repr};
use crate::seq::SeqNum;

/// The bytes of a frame.
pub(crate) fn datagram(seq: u32, ack: u32, conn: u16, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let repr = Repr { seq: SeqNum::from_wrapping(seq), ack: SeqNum::from_wrapping(ack), conn, flags };
    let mut buf = [0u8; MAX_FRAME];
    let len = repr.emit_with_payload(&mut buf, payload).expect("payload fits");
    buf[..len].to_vec()
}

/// What the engine sends next, decoded: its header, payload, and whether it is traced DUP.
pub(crate) fn next_frame<En: Engine>(engine: &mut En, now: crate::Instant) -> Option<(Repr, Vec<u8>, bool)> {
    let transmit = engine.poll_transmit(now)?;
    let frame = frame::decode(transmit.datagram).expect("engines send valid frames");
    Some((frame.repr, frame.payload.to_vec(), transmit.trace.dup))
}

/// A sink collecting into a vector.
#[derive(Default, Debug)]
pub(crate) struct VecSink(pub Vec<u8>);

impl embedded_io::ErrorType for VecSink {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for VecSink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A test's clock: `ms` milliseconds after the origin.
pub(crate) fn t(ms: u64) -> crate::Instant {
    crate::Instant::from_millis(ms)
}

/// A sink that fails every write.
pub(crate) struct BrokenSink;

impl embedded_io::ErrorType for BrokenSink {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Write for BrokenSink {
    fn write(&mut self, _buf: &[u8]) -> Result<usize, Self::Error> {
        Err(embedded_io::ErrorKind::OutOfMemory)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A source that fails every read.
pub(crate) struct BrokenSource;

impl embedded_io::ErrorType for BrokenSource {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for BrokenSource {
    fn read(&mut self, _buf: &mut [u8]) -> Result<usize, Self::Error> {
        Err(embedded_io::ErrorKind::BrokenPipe)
    }
}
