//! The std UDP [`Transport`]: one socket, no allocation after it is made, and datagrams
//! moved in batches.
//!
//! [`Transport::recv_from`] never blocks: it hands out the datagrams that the last
//! [`UdpTransport::wait`] received. `wait` polls for a while if asked to
//! ([`UdpTransport::set_busy_poll`]), then blocks until at least one datagram arrives or the
//! timeout passes, and takes every datagram already waiting with it (up to 4 buffers with one
//! `recvmmsg` on Linux, each a datagram or, with UDP GRO, a run of datagrams from one peer
//! that the kernel coalesced; one `recv` elsewhere), so that several ACKs or frames cost one
//! system call, and a receiver can answer them with one ACK. Datagrams that arrive later stay
//! queued in the kernel for the next `wait`: nothing is lost.
//!
//! [`Transport::send_to`] queues; [`Transport::flush`] (which the driver calls once a poll
//! has queued everything) sends the queue with one system call on Linux: one UDP GSO
//! `sendmsg` for a run of equal-sized frames to one peer (a window of data frames), else one
//! `sendmmsg`; one `send` per datagram elsewhere.
//!
//! The socket's receive timeout is only changed when the wanted timeout leaves
//! `[current, 2 × current]`: waking a little early is harmless (the driver just waits again),
//! and it spares a `setsockopt` per frame.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use rudp_nostd::MAX_FRAME;
use rudp_nostd::transport::{Received, Transport};

use crate::batch;
use socket2::{Domain, Protocol, Socket, Type};

/// Receive buffer size: the largest UDP payload, so that an oversized datagram is seen whole
/// (and rejected by the decoder) instead of being cut to a valid-looking frame, and so that
/// a buffer of datagrams coalesced by UDP GRO (up to 64 KiB) fits.
const RECV_BUF: usize = 65536;

/// The most buffers one `wait` takes from the kernel (with `recvmmsg` on Linux; one
/// elsewhere). A receiver answers each batch with one ACK, so this bounds how many data
/// frames one ACK covers: few enough that the sender's window moves on while the receiver
/// still writes. Measured at window 32 on loopback: with one datagram per buffer, 64 made both
/// sides take turns a whole window at a time (0.6-0.7 of the speed at 8); with GRO, where a
/// buffer holds a whole GSO burst, 8 buffers ran at 230-295 MB/s and 1, 2 or 4 at 360-420.
const RECV_BATCH: usize = 4;

/// The most datagrams sent with one system call (`sendmmsg` on Linux): a whole window.
const SEND_BATCH: usize = rudp_nostd::MAX_WINDOW as usize;

/// A UDP socket as an rudp transport.
pub struct UdpTransport {
    socket: UdpSocket,
    /// The peer a sender's socket is connected to.
    peer: Option<SocketAddr>,
    /// The datagrams the last `wait` received.
    batch: Box<batch::RecvBatch<RECV_BATCH, RECV_BUF>>,
    /// The datagrams queued by `send_to` for the next `flush`.
    outgoing: Box<batch::SendBatch<SEND_BATCH, MAX_FRAME>>,
    read_timeout: Option<Duration>,
    /// How long `wait` polls before it blocks.
    busy_poll: Duration,
    /// An ICMP "port unreachable" came back for something we sent.
    pub port_unreachable: bool,
}

impl std::fmt::Debug for UdpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpTransport").field("socket", &self.socket).field("peer", &self.peer).finish()
    }
}

impl UdpTransport {
    fn from_socket(socket: UdpSocket, peer: Option<SocketAddr>) -> UdpTransport {
        UdpTransport {
            socket,
            peer,
            batch: batch::RecvBatch::new(),
            outgoing: batch::SendBatch::new(),
            read_timeout: None,
            busy_poll: Duration::ZERO,
            port_unreachable: false,
        }
    }

    /// A socket connected to `peer` (the kernel then drops datagrams from anyone else). It
    /// takes only ACKs, so it does not ask for UDP GRO.
    pub fn connect(peer: SocketAddr) -> io::Result<UdpTransport> {
        let local: SocketAddr = match peer {
            SocketAddr::V4(_) => (IpAddr::from([0, 0, 0, 0]), 0).into(),
            SocketAddr::V6(_) => (IpAddr::from(Ipv6Addr::UNSPECIFIED), 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(peer)?;
        Ok(UdpTransport::from_socket(socket, Some(peer)))
    }

    /// A socket listening on `port`: on `bind` if given, else on every interface, IPv6 and
    /// IPv4 (a dual-stack socket; IPv4 only where the host has no IPv6).
    pub fn listen(bind: Option<IpAddr>, port: u16) -> io::Result<UdpTransport> {
        let socket = match bind {
            Some(ip) => UdpSocket::bind((ip, port))?,
            None => match dual_stack(port) {
                Ok(socket) => socket,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
                Err(_) => UdpSocket::bind((IpAddr::from([0, 0, 0, 0]), port))?,
            },
        };
        // A listening socket takes data frames: GRO lets a sender's GSO burst arrive as one
        // buffer. Where the kernel has no UDP GRO, datagrams simply come one by one.
        batch::enable_gro(&socket);
        Ok(UdpTransport::from_socket(socket, None))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Blocks until a datagram arrives (kept for the next `recv_from`) or `timeout` passes
    /// (`None`: no limit). Returns at once if a datagram is already kept.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.batch.has_next() {
            return Ok(());
        }
        if timeout.is_some_and(|t| t.is_zero()) {
            // Due now: look once without blocking (a socket's shortest timeout is a clock
            // tick, milliseconds).
            self.busy_poll_for(Duration::ZERO)?;
            return Ok(());
        }
        let busy = timeout.map_or(self.busy_poll, |t| t.min(self.busy_poll));
        if !busy.is_zero() && self.busy_poll_for(busy)? {
            return Ok(());
        }
        self.set_timeout(timeout)?;
        if let Err(e) = self.batch.receive(&self.socket, self.peer, true) {
            self.absorb(e)?;
        }
        Ok(())
    }

    /// Sets how long [`UdpTransport::wait`] polls the socket without blocking before it
    /// blocks (zero, the default: it blocks at once).
    ///
    /// A blocked process that a datagram wakes up takes its time to run again: on the
    /// machines this was measured on, most of a loopback round trip (60 µs of a 68 µs
    /// ping-pong). Polling for a while first turns that latency into CPU time spent
    /// polling, which is worth it when the answer comes sooner than the poll ends (a
    /// loopback or LAN peer) and costs at most the poll per wait when it does not. Between
    /// polls the thread yields, so a peer on the same CPU still runs.
    pub fn set_busy_poll(&mut self, busy_poll: Duration) {
        self.busy_poll = busy_poll;
    }

    /// Polls the socket without blocking for up to `limit`; returns whether datagrams came.
    fn busy_poll_for(&mut self, limit: Duration) -> io::Result<bool> {
        let start = std::time::Instant::now();
        loop {
            match self.batch.receive(&self.socket, self.peer, false) {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.absorb(e)?;
                    return Ok(false);
                }
            }
            if start.elapsed() >= limit {
                return Ok(false);
            }
            std::thread::yield_now();
        }
    }

    fn set_timeout(&mut self, wanted: Option<Duration>) -> io::Result<()> {
        // A zero timeout means "block for ever" to the socket API: use the smallest real one.
        let wanted = wanted.map(|t| t.max(Duration::from_micros(1)));
        let keep = match (self.read_timeout, wanted) {
            (Some(current), Some(wanted)) => current <= wanted && wanted <= current * 2,
            (None, None) => true,
            _ => false,
        };
        if !keep {
            self.socket.set_read_timeout(wanted)?;
            self.read_timeout = wanted;
        }
        Ok(())
    }

    fn absorb(&mut self, error: io::Error) -> io::Result<()> {
        absorb(error, &mut self.port_unreachable)
    }
}

/// Errors that are part of UDP life are not failures: the engine's timers handle them (a
/// full socket buffer, a timeout, a signal, or an ICMP "port unreachable", which is noted).
fn absorb(error: io::Error, port_unreachable: &mut bool) -> io::Result<()> {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => Ok(()),
        io::ErrorKind::ConnectionRefused => {
            *port_unreachable = true;
            Ok(())
        }
        _ => Err(error),
    }
}

fn dual_stack(port: u16) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(false)?;
    socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    Ok(socket.into())
}

impl Transport for UdpTransport {
    type Endpoint = SocketAddr;
    type Error = io::Error;

    fn send_to(&mut self, to: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        if !self.outgoing.has_room_for(datagram.len()) {
            self.flush()?;
        }
        // A connected socket sends to its peer without naming it.
        let to = if self.peer.is_some() { None } else { Some(to) };
        if !self.outgoing.has_room_for(datagram.len()) {
            // Larger than any frame: the engines never send one, but a transport still must.
            return batch::send_alone(&self.socket, to, datagram).or_else(|e| self.absorb(e));
        }
        self.outgoing.push(to, datagram);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.outgoing.is_empty() {
            return Ok(());
        }
        let mut port_unreachable = false;
        let result = self.outgoing.send(&self.socket, |e| absorb(e, &mut port_unreachable));
        self.port_unreachable |= port_unreachable;
        result
    }

    fn recv_from(&mut self) -> io::Result<Option<Received<'_, SocketAddr>>> {
        Ok(self.batch.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_waits_for_recv_from_and_is_handed_out_once() {
        let mut rx = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        let to = rx.local_addr().unwrap();
        let mut tx = UdpTransport::connect(to).unwrap();
        tx.send_to(to, b"hello").unwrap();
        tx.flush().unwrap();
        rx.wait(Some(Duration::from_secs(5))).unwrap();
        let (from, bytes) = rx.recv_from().unwrap().unwrap();
        assert_eq!(bytes, b"hello");
        assert_eq!(from, tx.local_addr().unwrap());
        assert!(rx.recv_from().unwrap().is_none());
    }

    #[test]
    fn send_to_queues_until_flush_or_a_full_queue() {
        let mut rx = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        let to = rx.local_addr().unwrap();
        let mut tx = UdpTransport::connect(to).unwrap();
        tx.send_to(to, b"first").unwrap();
        rx.wait(Some(Duration::from_millis(50))).unwrap();
        assert!(rx.recv_from().unwrap().is_none(), "nothing goes out before flush");
        // One more than the queue holds: the queue goes out to make room for the last.
        for i in 1..=SEND_BATCH {
            tx.send_to(to, &i.to_be_bytes()).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < SEND_BATCH {
            rx.wait(Some(Duration::from_secs(5))).unwrap();
            while let Some((_, bytes)) = rx.recv_from().unwrap() {
                got.push(bytes.to_vec());
            }
        }
        assert_eq!(got[0], b"first");
        assert_eq!(got[SEND_BATCH - 1], (SEND_BATCH - 1).to_be_bytes());
        tx.flush().unwrap();
        rx.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(rx.recv_from().unwrap().unwrap().1, SEND_BATCH.to_be_bytes());
    }

    #[test]
    fn wait_returns_after_the_timeout_with_nothing() {
        let mut rx = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        let start = std::time::Instant::now();
        rx.wait(Some(Duration::from_millis(20))).unwrap();
        assert!(rx.recv_from().unwrap().is_none());
        assert!(start.elapsed() >= Duration::from_millis(10));
    }

    #[test]
    fn a_datagram_that_comes_while_busy_polling_is_taken_without_blocking() {
        let mut rx = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        rx.set_busy_poll(Duration::from_secs(5));
        let to = rx.local_addr().unwrap();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut tx = UdpTransport::connect(to).unwrap();
            tx.send_to(to, b"polled").unwrap();
            tx.flush().unwrap();
        });
        rx.wait(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(rx.recv_from().unwrap().unwrap().1, b"polled");
        // The socket never blocked: its receive timeout was never set.
        assert_eq!(rx.read_timeout, None);
        sender.join().unwrap();
    }

    #[test]
    fn busy_polling_stops_at_the_wait_timeout() {
        let mut rx = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        rx.set_busy_poll(Duration::from_secs(30));
        let start = std::time::Instant::now();
        rx.wait(Some(Duration::from_millis(20))).unwrap();
        assert!(rx.recv_from().unwrap().is_none());
        // Bounded by the 20 ms timeout, not the 30 s poll (a generous margin for slow machines).
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn oversized_datagrams_arrive_whole() {
        let mut rx = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        let to = rx.local_addr().unwrap();
        let mut tx = UdpTransport::connect(to).unwrap();
        tx.send_to(to, &[0u8; 600]).unwrap();
        tx.flush().unwrap();
        rx.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(rx.recv_from().unwrap().unwrap().1.len(), 600);
    }

    #[test]
    fn a_dual_stack_socket_takes_ipv4_and_ipv6() {
        let mut rx = UdpTransport::listen(None, 0).unwrap();
        let port = rx.local_addr().unwrap().port();
        let mut peers: Vec<SocketAddr> = vec![([127, 0, 0, 1], port).into()];
        if rx.local_addr().unwrap().is_ipv6() {
            peers.push((Ipv6Addr::LOCALHOST, port).into());
        }
        for to in peers {
            let mut tx = UdpTransport::connect(to).unwrap();
            tx.send_to(to, b"both").unwrap();
            tx.flush().unwrap();
            rx.wait(Some(Duration::from_secs(5))).unwrap();
            let (from, bytes) = rx.recv_from().unwrap().unwrap();
            assert_eq!(bytes, b"both");
            assert_eq!(from.port(), tx.local_addr().unwrap().port(), "{to}");
            // The answer goes back to the address it came from (v4-mapped for IPv4).
            rx.send_to(from, b"back").unwrap();
            rx.flush().unwrap();
            tx.wait(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(tx.recv_from().unwrap().unwrap().1, b"back");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_port_where_nothing_listens_is_noted() {
        let to = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        // The socket above is closed: nothing listens there now.
        let mut tx = UdpTransport::connect(to).unwrap();
        tx.send_to(to, b"anyone?").unwrap();
        tx.flush().unwrap();
        tx.wait(Some(Duration::from_secs(5))).unwrap();
        assert!(tx.port_unreachable);
    }

    #[test]
    fn a_port_in_use_is_an_error() {
        let first = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        let port = first.local_addr().unwrap().port();
        let err = UdpTransport::listen(Some([127, 0, 0, 1].into()), port).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
