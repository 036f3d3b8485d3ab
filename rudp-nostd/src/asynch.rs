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
use crate::time::Instant;

/// Reads from `source` into the sender's frame buffers while it has room (no copy), as
/// [`SourceSender`](crate::blocking::SourceSender) does; at the source's end the sender
/// finishes. Returns the failure it caused (the source failed, or did not match the announced
/// `transfer-size`), if any.
pub async fn fill_from<R: Read, E: Copy + PartialEq, const W: usize>(
    sender: &mut Sender<E, W>,
    source: &mut R,
) -> Option<SenderEvent> {
    loop {
        // Resumed (SPEC §10.5): the object's first bytes, up to where the data starts, go to the
        // digest only.
        let prefix = sender.prefix_buf();
        if !prefix.is_empty() {
            match source.read(prefix).await {
                Ok(0) => return Some(sender.abort(Error::SourceEndedEarly)),
                Ok(n) => {
                    let n = n.min(prefix.len());
                    sender.advance_prefix(n);
                }
                Err(e) => return Some(sender.abort(Error::Source(e.kind()))),
            }
            continue;
        }
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
/// sink failed, at about `now`: the refusal it sends runs from then), if any. After [`ReceiverEvent::Finished`], flush the sink (or commit the
/// output as the application does) and call [`Receiver::committed`].
pub async fn write_readable<K: Write, E: Copy + PartialEq, const W: usize, const H: usize>(
    receiver: &mut Receiver<E, W, H>,
    sink: &mut K,
    now: Instant,
) -> Option<ReceiverEvent> {
    loop {
        let data = receiver.readable();
        if data.is_empty() {
            return None;
        }
        match sink.write(data).await {
            Ok(0) => return Some(receiver.abort(now, Error::Sink(ErrorKind::WriteZero))),
            Ok(n) => {
                let n = n.min(data.len());
                receiver.consume(n);
            }
            Err(e) => return Some(receiver.abort(now, Error::Sink(e.kind()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Poll, Waker};
    use std::vec::Vec;

    use super::*;
    use crate::engine::Engine;
    use crate::testing::t;
    use crate::{ReceiverConfig, SenderConfig};

    /// Runs a future that never waits (slices as source and sink) to its end.
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("a slice source or sink never waits"),
        }
    }

    /// A whole transfer through an in-memory link, the data moved by the async adapters.
    fn transfer(data: &[u8], sink_len: usize) -> (bool, Vec<u8>, Option<ReceiverEvent>) {
        let config = SenderConfig { transfer_size: Some(data.len() as u64), ..SenderConfig::new(1) };
        let mut sender: Sender<u8, 4> = Sender::new(config, 2, t(0));
        let mut receiver: Receiver<u8, 4> = Receiver::new(ReceiverConfig::new(2), t(0));
        let (mut source, mut out) = (data, std::vec![0u8; sink_len]);
        let mut sink = &mut out[..];
        let mut failure = None;
        for step in 0..10_000 {
            let now = t(step);
            while let Some(transmit) = sender.poll_transmit(now) {
                for event in receiver.handle_datagram(now, 1, transmit.datagram).events {
                    if event == ReceiverEvent::Finished {
                        receiver.committed(now);
                    }
                }
            }
            failure = failure.or(ready(write_readable(&mut receiver, &mut sink, now)));
            while let Some(transmit) = receiver.poll_transmit(now) {
                sender.handle_datagram(now, 2, transmit.datagram);
            }
            assert_eq!(ready(fill_from(&mut sender, &mut source)), None);
            sender.handle_timeout(now);
            receiver.handle_timeout(now);
            if sender.is_done() && receiver.is_done() {
                break;
            }
        }
        let left = sink.len();
        out.truncate(sink_len - left);
        (sender.has_succeeded() && receiver.has_succeeded(), out, failure)
    }

    #[test]
    fn a_transfer_runs_through_the_async_adapters() {
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let (ok, out, failure) = transfer(&data, 8000);
        assert!(ok && failure.is_none());
        assert_eq!(out, data);
    }

    #[test]
    fn a_full_async_sink_fails_the_transfer_with_what_fitted_written() {
        let data = [7u8; 3000];
        let (ok, out, failure) = transfer(&data, 1000);
        assert!(!ok);
        assert_eq!(failure, Some(ReceiverEvent::Failed(Error::Sink(ErrorKind::WriteZero))));
        assert_eq!(out, [7u8; 1000]);
    }
}
