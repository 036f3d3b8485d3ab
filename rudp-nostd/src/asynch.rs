//! Thin async conveniences: move data between the engines and `embedded-io-async` sources and
//! sinks (an async file, an async flash driver, a socket), so that an async driver (embassy,
//! tokio) can await a slow sink while the engines' timers keep running in its other branch.
//!
//! They do what [`crate::blocking`]'s adapters do after each datagram, as `async fn`s that the
//! driver calls when the engine has room ([`fill_from`]) or data ([`write_readable`]):
//!
//! ```ignore
//! loop {
//!     // ... take a datagram in, or let a timer run, as the blocking driver does ...
//!     if let Some(failure) = asynch::fill_from(&mut sender, &mut file).await? { /* report it */ }
//!     // ... send what the engine has to send ...
//! }
//! ```

use embedded_io_async::{Error as _, ErrorKind, Read, Write};

use crate::error::Error;
use crate::receiver::{Receiver, ReceiverEvent};
use crate::sender::{Sender, SenderEvent};

/// Reads from `source` into the sender's frame buffers while it has room (no copy), as
/// [`SourceSender`](crate::blocking::SourceSender) does; at the source's end the sender
/// finishes. Returns the failure it caused (the source failed, or did not match the announced
/// `transfer-size`), if any.
pub async fn fill_from<R: Read, E: Copy + PartialEq, const W: usize>(
    sender: &mut Sender<E, W>,
    source: &mut R,
) -> Option<SenderEvent> {
    loop {
        if sender.is_size_reached() {
            // All announced bytes are written: the source must be at its end.
            return match source.read(&mut [0u8; 1]).await {
                Ok(0) => sender.finish(),
                Ok(_) => Some(sender.abort(Error::SourceRanLong)),
                Err(e) => Some(sender.abort(Error::Source(e.kind()))),
            };
        }
        let buf = sender.write_buf();
        if buf.is_empty() {
            return None;
        }
        match source.read(buf).await {
            Ok(0) => return sender.finish(),
            Ok(n) => {
                let n = n.min(buf.len());
                sender.advance(n);
            }
            Err(e) => return Some(sender.abort(Error::Source(e.kind()))),
        }
    }
}

/// Writes what the receiver has in order to `sink` and takes it (so it is acknowledged), as
/// [`SinkReceiver`](crate::blocking::SinkReceiver) does. Returns the failure it caused (the
/// sink failed), if any. After [`ReceiverEvent::Finished`], flush the sink (or commit the
/// output as the application does) and call [`Receiver::committed`].
pub async fn write_readable<K: Write, E: Copy + PartialEq, const W: usize, const H: usize>(
    receiver: &mut Receiver<E, W, H>,
    sink: &mut K,
) -> Option<ReceiverEvent> {
    loop {
        let data = receiver.readable();
        if data.is_empty() {
            return None;
        }
        match sink.write(data).await {
            Ok(0) => return Some(receiver.abort(Error::Sink(ErrorKind::WriteZero))),
            Ok(n) => {
                let n = n.min(data.len());
                receiver.consume(n);
            }
            Err(e) => return Some(receiver.abort(Error::Sink(e.kind()))),
        }
    }
}
