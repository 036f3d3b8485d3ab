//! What the two sans-IO engines have in common: the [`Engine`] interface that drivers pump,
//! and the values it hands out.

use crate::time::Instant;
use crate::trace::Trace;

/// The most application events one call can produce (for example a receiver's `Connected`
/// and `Delivered` for the third frame of a handshake, and a failure of the sink that
/// [`SinkReceiver`](crate::blocking::SinkReceiver) writes it to).
pub const MAX_EVENTS_PER_CALL: usize = 3;

/// A datagram the engine wants sent, borrowed from the engine's own buffer.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit<'a, E> {
    /// Where to send it.
    pub to: E,
    /// The frame's bytes.
    pub datagram: &'a [u8],
    /// Its trace event (`SEND`, with `DUP` for a retransmission).
    pub trace: Trace,
}

/// What one received datagram did: its trace event and the application events it caused.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Handled<Ev> {
    /// `RECV` (maybe `DUP`) or `DROP`.
    pub trace: Trace,
    /// Application events, in order.
    pub events: heapless::Vec<Ev, MAX_EVENTS_PER_CALL>,
}

impl<Ev> Handled<Ev> {
    /// Only a trace event.
    pub fn trace(trace: Trace) -> Handled<Ev> {
        Handled { trace, events: heapless::Vec::new() }
    }

    /// A trace event and one application event.
    pub fn with_event(trace: Trace, event: Ev) -> Handled<Ev> {
        let mut handled = Handled::trace(trace);
        handled.push(event);
        handled
    }

    /// Adds an application event. The engines never produce more than
    /// [`MAX_EVENTS_PER_CALL`]; should one ever try, the extra event is dropped rather than
    /// panicking (and debug builds assert).
    pub(crate) fn push(&mut self, event: Ev) {
        let pushed = self.events.push(event);
        debug_assert!(pushed.is_ok(), "more than MAX_EVENTS_PER_CALL events");
    }
}

/// A sans-IO protocol engine ([`Sender`](crate::Sender) or [`Receiver`](crate::Receiver)):
/// it never touches a socket or a clock. The driver feeds it datagrams and timeouts and
/// drains what it wants to send; `now` is always an argument.
///
/// The contract a driver keeps: after `handle_*` calls, call [`Engine::poll_transmit`] until it
/// returns `None` and send what it gives, before waiting; sleep no later than
/// [`Engine::poll_timeout`] and then call [`Engine::handle_timeout`].
///
/// A driver may take in several datagrams before it drains `poll_transmit` (a batch that was
/// already waiting): the engine keeps every reply it owes until then. A receiver owes a SYN|ACK
/// to each half-open peer whose SYN it took, and one reply to the peer of its transfer, where a
/// newer reply (a cumulative ACK) replaces an older one not yet sent; a sender keeps every frame
/// it has to send. [`crate::transport::poll`] takes a batch in, then drains.
pub trait Engine {
    /// The peer address type (a `SocketAddr`, a smoltcp `IpEndpoint`, ...).
    type Endpoint: Copy + PartialEq;
    /// The application events it reports.
    type Event;

    /// Takes one datagram that arrived from `from`.
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: Self::Endpoint,
        datagram: &[u8],
    ) -> Handled<Self::Event>;

    /// Lets timers run: retransmissions, idle timeout, linger. Call it at or after
    /// [`Engine::poll_timeout`]; calling it early is harmless.
    fn handle_timeout(&mut self, now: Instant) -> Option<Self::Event>;

    /// The next datagram to send, if any, marked as sent at `now`.
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_, Self::Endpoint>>;

    /// When the driver must next call the engine: the deadline of its next timer (call
    /// [`Engine::handle_timeout`]), or at once ([`Instant::ZERO`], never later than `now`) while
    /// a datagram waits for [`Engine::poll_transmit`], as after the application wrote into a
    /// sender or took data from a receiver between the driver's calls. `None` when no timer
    /// runs and nothing waits.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Whether the engine has closed (successfully or not) and needs nothing more.
    fn is_done(&self) -> bool;
}
