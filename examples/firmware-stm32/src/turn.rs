//! One turn of the main loop over smoltcp 0.12: this firmware's own copy of rudp-nostd's
//! `smoltcp_transport` (its `SmoltcpTransport` and `poll`), kept here because that module now
//! builds on smoltcp 0.13 (embassy-net's), while stm32-eth 0.8, the Ethernet driver this
//! firmware is built on, has no release on 0.13. Taking rudp-nostd's feature would put two
//! smoltcps in the build, and its `poll` would not accept this firmware's `Interface`. The copy
//! goes when the firmware moves to embassy-stm32 + embassy-net; until then it is the same code
//! over the older types (rudp-nostd/src/smoltcp_transport.rs explains each step).

use rudp_nostd::transport::{self, Received, Report, Transport};
use rudp_nostd::{Duration, Engine, Instant, MAX_WINDOW};
use smoltcp::iface::{Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::AnySocket;
use smoltcp::socket::udp::{self, RecvError, SendError};
use smoltcp::wire::IpEndpoint;

/// What can go wrong when sending on the UDP socket.
#[derive(Clone, Copy, PartialEq, Eq, Debug, defmt::Format)]
pub enum SocketError {
    /// The socket is not bound, or the destination is unspecified.
    Unaddressable,
    /// The handle given to [`poll`] names no UDP socket in its socket set.
    NoSocket,
}

/// A borrowed smoltcp UDP socket as an rudp transport.
struct UdpTransport<'s, 'b> {
    socket: &'s mut udp::Socket<'b>,
}

impl Transport for UdpTransport<'_, '_> {
    type Endpoint = IpEndpoint;
    type Error = SocketError;

    fn send_to(&mut self, to: IpEndpoint, datagram: &[u8]) -> Result<(), SocketError> {
        match self.socket.send_slice(datagram, to) {
            // A full transmit buffer loses the datagram; the engine retransmits it.
            Ok(()) | Err(SendError::BufferFull) => Ok(()),
            Err(SendError::Unaddressable) => Err(SocketError::Unaddressable),
        }
    }

    fn recv_from(&mut self) -> Result<Option<Received<'_, IpEndpoint>>, SocketError> {
        match self.socket.recv() {
            Ok((datagram, meta)) => Ok(Some((meta.endpoint, datagram))),
            Err(RecvError::Exhausted | RecvError::Truncated) => Ok(None),
        }
    }
}

/// The most `poll_egress` calls one [`poll`] makes (smoltcp sends one datagram per socket and
/// call).
const EGRESS_ROUNDS: usize = 2 * MAX_WINDOW as usize;

/// One turn: `iface.poll`, then [`transport::poll`] with `engine` over the UDP socket
/// `handle`, then `iface.poll_egress` while it sends. Returns when to call again: `now` while
/// the socket still holds datagrams, otherwise the earlier of the engine's deadline and the
/// interface's; `None` when neither has one. No allocation and no panic.
pub fn poll<D, En>(
    iface: &mut Interface,
    device: &mut D,
    sockets: &mut SocketSet<'_>,
    handle: SocketHandle,
    engine: &mut En,
    now: Instant,
    report: impl FnMut(Report<En::Event>),
) -> Result<Option<Instant>, SocketError>
where
    D: Device + ?Sized,
    En: Engine<Endpoint = IpEndpoint>,
{
    let smol_now = smoltcp::time::Instant::from_micros(i64::try_from(now.as_micros()).unwrap_or(i64::MAX));
    iface.poll(smol_now, device, sockets);
    let polled = match udp_socket(sockets, handle) {
        Some(socket) => transport::poll(engine, &mut UdpTransport { socket }, now, report),
        None => Err(SocketError::NoSocket),
    };
    for _ in 0..EGRESS_ROUNDS {
        if iface.poll_egress(smol_now, device, sockets) == PollResult::None {
            break;
        }
    }
    let engine_next = polled?;
    if udp_socket(sockets, handle).is_some_and(|socket| socket.can_recv()) {
        return Ok(Some(now));
    }
    let stack_next =
        iface.poll_delay(smol_now, sockets).map(|delay| now + Duration::from_micros(delay.total_micros()));
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
