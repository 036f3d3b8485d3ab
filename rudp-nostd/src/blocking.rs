//! The engines with blocking `embedded_io` data: a [`SourceSender`] reads its data from an
//! [`embedded_io::Read`] source, a [`SinkReceiver`] writes what arrives to an
//! [`embedded_io::Write`] sink. Both are [`Engine`]s, so a driver ([`crate::transport::poll`])
//! runs them as it runs the bare engines.
//!
//! They are thin: after each datagram or timeout they move data between the engine and the
//! source or sink, as far as the engine has room or data, so a read or write that blocks holds
//! up the engine for that long (a slow flash erase, a pipe). Applications that must not block
//! use the engines' own data calls ([`Sender::write_buf`], [`Receiver::readable`]) or the
//! async adapters ([`crate::asynch`]).
//!
//! ```
//! use rudp_nostd::blocking::{SinkReceiver, SourceSender};
//! use rudp_nostd::{Engine, Instant, Receiver, ReceiverConfig, Sender, SenderConfig};
//!
//! let data = b"hello, rudp".repeat(100);
//! let mut out = [0u8; 2048];
//! let mut sender = SourceSender::new(Sender::<&str>::new(SenderConfig::new(1), "rx", Instant::ZERO), &data[..]);
//! let mut receiver = SinkReceiver::new(Receiver::<&str>::new(ReceiverConfig::new(2), Instant::ZERO), &mut out[..]);
//! let mut now = Instant::ZERO;
//! loop {
//!     // Every datagram arrives at once: hand each transmit straight to the other side.
//!     let mut sent = false;
//!     while let Some(t) = sender.poll_transmit(now) {
//!         receiver.handle_datagram(now, "tx", t.datagram);
//!         sent = true;
//!     }
//!     while let Some(t) = receiver.poll_transmit(now) {
//!         sender.handle_datagram(now, "rx", t.datagram);
//!         sent = true;
//!     }
//!     if sender.is_done() && receiver.is_done() {
//!         break;
//!     }
//!     if !sent {
//!         // Nothing to send: let time pass to the next timer (the sender's linger).
//!         now = sender.poll_timeout().into_iter().chain(receiver.poll_timeout()).min().unwrap();
//!         sender.handle_timeout(now);
//!         receiver.handle_timeout(now);
//!     }
//! }
//! assert!(sender.has_succeeded() && receiver.has_succeeded());
//! let left = receiver.into_parts().1.len();
//! assert_eq!(&out[..out.len() - left], &data[..]);
//! ```

use core::ops::{Deref, DerefMut};

use embedded_io::{Error as _, ErrorKind, Read, Write};

use crate::config::Commit;
use crate::engine::{Engine, Handled, Transmit};
use crate::error::Error;
use crate::receiver::{Receiver, ReceiverEvent};
use crate::sender::{Sender, SenderEvent};
use crate::time::Instant;

/// How many `Interrupted` errors in a row a source or sink may return before the transfer
/// fails.
const MAX_INTERRUPTED: u8 = 16;

/// A [`Sender`] that reads its data from a blocking source: whenever the sender has room
/// after a datagram (the handshake's answer, acknowledgements), it reads into the sender's
/// frame buffers directly (no copy), until they are full or the source ends. It reads nothing
/// before the receiver has answered, so that an application that gives up on one address can
/// hand the source on whole ([`SourceSender::into_parts`]). With a `transfer-size` it checks,
/// once that many bytes are read, that the source has ended (SPEC §3.1).
///
/// It dereferences to the [`Sender`], for its state ([`Sender::has_succeeded`],
/// [`Sender::rto`], ...).
#[derive(Debug)]
pub struct SourceSender<S, E, const W: usize = 1> {
    sender: Sender<E, W>,
    source: S,
}

impl<S: Read, E: Copy + PartialEq, const W: usize> SourceSender<S, E, W> {
    /// `sender` reading from `source`.
    pub fn new(sender: Sender<E, W>, source: S) -> SourceSender<S, E, W> {
        SourceSender { sender, source }
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The sender and the source.
    pub fn into_parts(self) -> (Sender<E, W>, S) {
        (self.sender, self.source)
    }

    /// Reads from the source into the sender while it has room; returns a failure if the
    /// source failed or did not match the announced size.
    fn pump(&mut self) -> Option<SenderEvent> {
        if self.sender.conn() == 0 {
            // Not connected yet.
            return None;
        }
        let mut interrupted = 0;
        loop {
            // Resumed (SPEC §10.5): the object's first bytes, up to where the data starts, go to
            // the digest only.
            let prefix = self.sender.prefix_buf();
            if !prefix.is_empty() {
                match self.source.read(prefix) {
                    Ok(0) => return Some(self.sender.abort(Error::SourceEndedEarly)),
                    Ok(n) => {
                        let n = n.min(prefix.len());
                        self.sender.advance_prefix(n);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted && interrupted < MAX_INTERRUPTED => {
                        interrupted += 1;
                    }
                    Err(e) => return Some(self.sender.abort(Error::Source(e.kind()))),
                }
                continue;
            }
            if self.sender.is_size_reached() {
                // All announced bytes are written: the source must be at its end.
                return match self.source.read(&mut [0u8; 1]) {
                    Ok(0) => self.sender.finish(),
                    Ok(_) => Some(self.sender.abort(Error::SourceRanLong)),
                    Err(e) if e.kind() == ErrorKind::Interrupted && interrupted < MAX_INTERRUPTED => {
                        interrupted += 1;
                        continue;
                    }
                    Err(e) => Some(self.sender.abort(Error::Source(e.kind()))),
                };
            }
            let buf = self.sender.write_buf();
            if buf.is_empty() {
                return None;
            }
            match self.source.read(buf) {
                Ok(0) => return self.sender.finish(),
                // `min` guards against a source that claims more than it was given.
                Ok(n) => {
                    let n = n.min(buf.len());
                    self.sender.advance(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted && interrupted < MAX_INTERRUPTED => {
                    interrupted += 1;
                }
                Err(e) => return Some(self.sender.abort(Error::Source(e.kind()))),
            }
        }
    }
}

impl<S, E, const W: usize> Deref for SourceSender<S, E, W> {
    type Target = Sender<E, W>;

    fn deref(&self) -> &Sender<E, W> {
        &self.sender
    }
}

impl<S, E, const W: usize> DerefMut for SourceSender<S, E, W> {
    fn deref_mut(&mut self) -> &mut Sender<E, W> {
        &mut self.sender
    }
}

impl<S: Read, E: Copy + PartialEq, const W: usize> Engine for SourceSender<S, E, W> {
    type Endpoint = E;
    type Event = SenderEvent;

    fn handle_datagram(&mut self, now: Instant, from: E, datagram: &[u8]) -> Handled<SenderEvent> {
        let mut handled = self.sender.handle_datagram(now, from, datagram);
        if let Some(failure) = self.pump() {
            handled.push(failure);
        }
        handled
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<SenderEvent> {
        // A timeout frees no room: nothing to read.
        self.sender.handle_timeout(now)
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_, E>> {
        self.sender.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.sender.poll_timeout()
    }

    fn is_done(&self) -> bool {
        self.sender.is_done()
    }
}

/// A [`Receiver`] that writes the data to a blocking sink as it arrives, so that the engine
/// acknowledges it at once, and flushes the sink when the FIN comes. With [`Commit::Flush`]
/// (the default) the flush commits and the FIN is answered then; with [`Commit::Application`]
/// the application commits after [`ReceiverEvent::Finished`] and calls
/// [`Receiver::committed`].
///
/// It dereferences to the [`Receiver`], for its state and the commit calls.
#[derive(Debug)]
pub struct SinkReceiver<K, E, const W: usize = 1, const H: usize = { crate::receiver::DEFAULT_HALF_OPEN }> {
    receiver: Receiver<E, W, H>,
    sink: K,
    commit: Commit,
}

impl<K: Write, E: Copy + PartialEq, const W: usize, const H: usize> SinkReceiver<K, E, W, H> {
    /// `receiver` writing to `sink`; flushing the sink commits the data.
    pub fn new(receiver: Receiver<E, W, H>, sink: K) -> SinkReceiver<K, E, W, H> {
        SinkReceiver::with_commit(receiver, sink, Commit::Flush)
    }

    /// `receiver` writing to `sink`, committed as `commit` says.
    pub fn with_commit(receiver: Receiver<E, W, H>, sink: K, commit: Commit) -> SinkReceiver<K, E, W, H> {
        SinkReceiver { receiver, sink, commit }
    }

    /// The sink.
    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// The sink, writable (for example to sync a file before committing it).
    pub fn sink_mut(&mut self) -> &mut K {
        &mut self.sink
    }

    /// The receiver and the sink.
    pub fn into_parts(self) -> (Receiver<E, W, H>, K) {
        (self.receiver, self.sink)
    }

    /// Writes what the receiver has in order to the sink; returns a failure if the sink
    /// failed.
    fn drain(&mut self, now: Instant) -> Option<ReceiverEvent> {
        let mut interrupted = 0;
        loop {
            let data = self.receiver.readable();
            if data.is_empty() {
                return None;
            }
            match self.sink.write(data) {
                Ok(0) => return Some(self.receiver.abort(now, Error::Sink(ErrorKind::WriteZero))),
                Ok(n) => {
                    let n = n.min(data.len());
                    self.receiver.consume(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted && interrupted < MAX_INTERRUPTED => {
                    interrupted += 1;
                }
                Err(e) => return Some(self.receiver.abort(now, Error::Sink(e.kind()))),
            }
        }
    }
}

impl<K, E, const W: usize, const H: usize> Deref for SinkReceiver<K, E, W, H> {
    type Target = Receiver<E, W, H>;

    fn deref(&self) -> &Receiver<E, W, H> {
        &self.receiver
    }
}

impl<K, E, const W: usize, const H: usize> DerefMut for SinkReceiver<K, E, W, H> {
    fn deref_mut(&mut self) -> &mut Receiver<E, W, H> {
        &mut self.receiver
    }
}

impl<K: Write, E: Copy + PartialEq, const W: usize, const H: usize> Engine for SinkReceiver<K, E, W, H> {
    type Endpoint = E;
    type Event = ReceiverEvent;

    fn handle_datagram(&mut self, now: Instant, from: E, datagram: &[u8]) -> Handled<ReceiverEvent> {
        let mut handled = self.receiver.handle_datagram(now, from, datagram);
        if let Some(failure) = self.drain(now) {
            handled.push(failure);
            return handled;
        }
        if handled.events.contains(&ReceiverEvent::Finished) {
            // All data is in: flush before the FIN is answered.
            match self.sink.flush() {
                Ok(()) if self.commit == Commit::Flush => self.receiver.committed(now),
                Ok(()) => {}
                Err(e) => {
                    self.receiver.commit_failed(now);
                    // Not finished after all: the output is not complete on the sink.
                    handled.events.retain(|event| *event != ReceiverEvent::Finished);
                    handled.push(ReceiverEvent::Failed(Error::Sink(e.kind())));
                }
            }
        }
        handled
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<ReceiverEvent> {
        self.receiver.handle_timeout(now)
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_, E>> {
        self.receiver.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.receiver.poll_timeout()
    }

    fn is_done(&self) -> bool {
        self.receiver.is_done()
    }
}
