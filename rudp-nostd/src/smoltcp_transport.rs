//! The [`Transport`] over a smoltcp UDP socket (feature `smoltcp`).
//!
//! **smoltcp version: 0.13** (Rust 1.91 or later, smoltcp's own minimum). That is the version
//! embassy-net 0.9 builds on (the Embassy project's async network stack, which much embedded
//! Rust firmware runs on), and two smoltcp versions cannot share one `Interface`: a firmware
//! that links embassy-net and this transport must find the same smoltcp in both, or it carries
//! two stacks whose sockets do not fit each other. smoltcp 0.14 is out, but the newest
//! embassy-net (0.9.1, as of November 2026) is on 0.13. Board drivers that drive smoltcp
//! themselves lag further: stm32-eth 0.8 (STM32F4/F7 on-chip Ethernet) is still on 0.12, the
//! version this module used until then, so a firmware on such a driver either keeps its own
//! copy of this module's code over its smoltcp or moves to embassy-net and its board's driver
//! for it (embassy-stm32's, for STM32: `examples/firmware-stm32` did, and runs on the
//! `embassy` module now). 0.13 changed nothing this module uses: the UDP socket, `poll`,
//! `poll_egress` and `poll_delay` are as in 0.12 (`poll` now sends until the sockets have
//! nothing left, `poll_egress` still one datagram per socket a call).
//!
//! The socket and its buffers are the caller's (static storage in firmware, as smoltcp's
//! `PacketBuffer` wants); this type only borrows the socket for one [`poll`](crate::transport::poll):
//!
//! ```
//! use rudp_nostd::smoltcp_transport::SmoltcpTransport;
//! use smoltcp::socket::udp;
//!
//! let mut rx_meta = [udp::PacketMetadata::EMPTY; 4];
//! let mut rx_data = [0u8; 4 * 524];
//! let mut tx_meta = [udp::PacketMetadata::EMPTY; 4];
//! let mut tx_data = [0u8; 4 * 524];
//! let mut socket = udp::Socket::new(
//!     udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_data[..]),
//!     udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_data[..]),
//! );
//! socket.bind(5555).unwrap();
//! // In the main loop, after `iface.poll(...)`:
//! let mut transport = SmoltcpTransport::new(&mut socket);
//! # let _ = &mut transport;
//! ```
//!
//! Size the socket buffers for at least one whole frame each way ([`MAX_FRAME`] bytes and one
//! metadata slot); a few more let a burst of junk datagrams queue without pushing out the
//! peer's.
//!
//! ## The main loop
//!
//! [`poll`] is one turn of a firmware main loop over a smoltcp `Interface`: the interface takes
//! in what arrived, the engine runs over the socket ([`transport::poll`]), the interface sends
//! the replies at once; it returns when the loop should run again.
//!
//! ```text
//! loop {
//!     let now = clock();
//!     let next = smoltcp_transport::poll(&mut iface, &mut device, &mut sockets, handle, &mut engine, now, report)?;
//!     if engine.is_done() { break; }
//!     sleep_until(next);                     // or until the NIC's interrupt; `None`: no timer
//! }
//! ```
//!
//! It avoids two traps, both seen in practice: without an egress poll after the engine (or a
//! second `poll`) the replies that [`transport::poll`] queued wait for the next wake-up, and a
//! second full `iface.poll` may take in new datagrams after the engine looked, which nothing
//! then wakes the loop for (smoltcp's `poll_delay` does not count received data). Hence:
//! egress only, and no sleep while the socket holds datagrams. `From` conversions between
//! smoltcp's and rudp's `Instant` and `Duration` come with this feature.

use smoltcp::iface::{Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::AnySocket;
use smoltcp::socket::udp::{self, RecvError, SendError};
use smoltcp::wire::IpEndpoint;

use crate::engine::Engine;
use crate::time::Instant;
use crate::transport::{self, Received, Report, Transport};

#[cfg(doc)]
use crate::MAX_FRAME;

/// What can go wrong when sending on a smoltcp socket.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SmoltcpError {
    /// The socket is not bound, or the destination is unspecified.
    Unaddressable,
    /// The handle given to [`poll`] names no UDP socket in its socket set.
    NoSocket,
}

impl core::fmt::Display for SmoltcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SmoltcpError::Unaddressable => "UDP socket not bound or destination unspecified",
            SmoltcpError::NoSocket => "the socket handle names no UDP socket in the set",
        })
    }
}

/// A borrowed smoltcp UDP socket as an rudp transport.
#[derive(Debug)]
pub struct SmoltcpTransport<'s, 'b> {
    socket: &'s mut udp::Socket<'b>,
}

impl<'s, 'b> SmoltcpTransport<'s, 'b> {
    /// Borrows `socket` (bound to the local port already).
    pub fn new(socket: &'s mut udp::Socket<'b>) -> SmoltcpTransport<'s, 'b> {
        SmoltcpTransport { socket }
    }
}

impl Transport for SmoltcpTransport<'_, '_> {
    type Endpoint = IpEndpoint;
    type Error = SmoltcpError;

    fn send_to(&mut self, to: IpEndpoint, datagram: &[u8]) -> Result<(), SmoltcpError> {
        match self.socket.send_slice(datagram, to) {
            // A full transmit buffer loses the datagram; the engine retransmits it.
            Ok(()) | Err(SendError::BufferFull) => Ok(()),
            Err(SendError::Unaddressable) => Err(SmoltcpError::Unaddressable),
        }
    }

    fn recv_from(&mut self) -> Result<Option<Received<'_, IpEndpoint>>, SmoltcpError> {
        match self.socket.recv() {
            Ok((datagram, meta)) => Ok(Some((meta.endpoint, datagram))),
            Err(RecvError::Exhausted | RecvError::Truncated) => Ok(None),
        }
    }
}

/// The most `poll_egress` calls one [`poll`] makes: one datagram per socket each, so a
/// window of frames and the replies of a batch fit (a guard; what is left goes out in the next
/// turn, which [`poll`] asks for at once).
const EGRESS_ROUNDS: usize = 2 * crate::MAX_WINDOW as usize;

/// One turn of a main loop over a smoltcp `Interface`: `iface.poll` (frames in, ARP, ...),
/// then [`transport::poll`] with `engine` over the UDP socket `handle` of `sockets`, then
/// `iface.poll_egress` (repeated while it sends, as smoltcp sends one datagram per socket and
/// call), so that the replies the engine queued leave in this turn. `now` is the one clock
/// reading both smoltcp and the engine see.
///
/// Returns when to call again: `now` itself while the socket still holds datagrams (one
/// [`transport::poll`] takes at most [`transport::MAX_DATAGRAMS_PER_POLL`], and smoltcp's
/// `poll_delay` does not count received data), otherwise the earlier of the engine's deadline
/// and the interface's (`iface.poll_delay`: ARP, a queued datagram waiting for a neighbour);
/// `None` when neither has one, so only an arriving frame calls for a turn. A firmware sleeps
/// until then or until its NIC's interrupt, whichever comes first; a host waits on the
/// device's file descriptor as long.
///
/// The engine runs only in this call. An application that wrote into a sender
/// ([`Sender::write_buf`](crate::Sender::write_buf)) or took data from a receiver
/// ([`Receiver::consume`](crate::Receiver::consume)) outside it has made a datagram due: the
/// engine's [`poll_timeout`](crate::Engine::poll_timeout) then says "at once", so a loop that
/// sleeps until the earlier of this call's answer and `engine.poll_timeout()` sends it in the
/// next turn without waiting. The blocking adapters ([`crate::blocking`]) move their data
/// inside the engine calls and need nothing of the sort.
///
/// A transport error ([`SmoltcpError::Unaddressable`]: the socket is unbound or the engine's
/// peer unspecified) stops the engine's turn, as in [`transport::poll`]; the interface still
/// sends what was queued, and the error is returned: the engine keeps its timers, so the
/// caller may log it and go on (waking at `engine.poll_timeout()`) or give up. A `handle` that
/// names no UDP socket in `sockets` returns [`SmoltcpError::NoSocket`] and runs no engine.
///
/// No allocation and no panic: the socket is looked up without smoltcp's panicking
/// `SocketSet::get_mut`.
pub fn poll<D, En>(
    iface: &mut Interface,
    device: &mut D,
    sockets: &mut SocketSet<'_>,
    handle: SocketHandle,
    engine: &mut En,
    now: Instant,
    report: impl FnMut(Report<En::Event>),
) -> Result<Option<Instant>, SmoltcpError>
where
    D: Device + ?Sized,
    En: Engine<Endpoint = IpEndpoint>,
{
    let smol_now = smoltcp::time::Instant::from(now);
    iface.poll(smol_now, device, sockets);
    let polled = match udp_socket(sockets, handle) {
        Some(socket) => transport::poll(engine, &mut SmoltcpTransport::new(socket), now, report),
        None => Err(SmoltcpError::NoSocket),
    };
    // Egress only: a full `poll` here could take in datagrams after the engine looked. One
    // `poll_egress` sends one datagram per socket: again while it sends, so that a window's
    // burst leaves in this turn (it stops when the device has no room or a neighbour is
    // unknown; what stays makes `poll_delay` zero).
    for _ in 0..EGRESS_ROUNDS {
        if iface.poll_egress(smol_now, device, sockets) == PollResult::None {
            break;
        }
    }
    let engine_next = polled?;
    if udp_socket(sockets, handle).is_some_and(|socket| socket.can_recv()) {
        return Ok(Some(now));
    }
    let stack_next = iface.poll_delay(smol_now, sockets).map(|delay| now + crate::Duration::from(delay));
    Ok(match (engine_next, stack_next) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// The UDP socket `handle` names in `sockets`, if any (`SocketSet::get_mut` panics instead).
fn udp_socket<'s, 'b>(
    sockets: &'s mut SocketSet<'b>,
    handle: SocketHandle,
) -> Option<&'s mut udp::Socket<'b>> {
    sockets.iter_mut().find(|(h, _)| *h == handle).and_then(|(_, socket)| udp::Socket::downcast_mut(socket))
}

impl From<smoltcp::time::Instant> for crate::Instant {
    /// smoltcp counts signed microseconds; a time before its origin becomes rudp's origin.
    fn from(t: smoltcp::time::Instant) -> crate::Instant {
        crate::Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
    }
}

impl From<crate::Instant> for smoltcp::time::Instant {
    /// Saturates at smoltcp's largest instant.
    fn from(t: crate::Instant) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(i64::try_from(t.as_micros()).unwrap_or(i64::MAX))
    }
}

impl From<smoltcp::time::Duration> for crate::Duration {
    fn from(d: smoltcp::time::Duration) -> crate::Duration {
        crate::Duration::from_micros(d.total_micros())
    }
}

impl From<crate::Duration> for smoltcp::time::Duration {
    fn from(d: crate::Duration) -> smoltcp::time::Duration {
        smoltcp::time::Duration::from_micros(d.as_micros())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_converts_both_ways() {
        let t = smoltcp::time::Instant::from_micros(1_234_567);
        let ours: crate::Instant = t.into();
        assert_eq!(ours.as_micros(), 1_234_567);
        assert_eq!(smoltcp::time::Instant::from(ours), t);
        assert_eq!(crate::Instant::from(smoltcp::time::Instant::from_micros(-5)), crate::Instant::ZERO);
        let d: crate::Duration = smoltcp::time::Duration::from_millis(3).into();
        assert_eq!(d, crate::Duration::from_millis(3));
        assert_eq!(smoltcp::time::Duration::from(d).total_millis(), 3);
    }
}
