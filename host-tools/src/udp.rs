//! The std UDP [`Transport`], on one of two IO paths while they are measured against each
//! other (issue 15): `quinn-udp` ([`crate::udp_quinn`], the default) or the hand-written
//! `recvmmsg`/`sendmmsg`/GSO/GRO code ([`crate::udp_batch`], with `RUDP_IO=batch` in the
//! environment). The loser goes once `bench/io.sh` has decided.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rudp_nostd::transport::{Received, Transport};

use crate::udp_batch::BatchTransport;
use crate::udp_quinn;

/// A UDP socket as an rudp transport, on the IO path `RUDP_IO` names.
// Temporary, and made once per transfer: the size of a move does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum UdpTransport {
    /// `quinn-udp`.
    Quinn(udp_quinn::UdpTransport),
    /// The hand-written batches.
    Batch(BatchTransport),
}

/// Whether `RUDP_IO=batch` asks for the hand-written IO path.
fn hand_written() -> bool {
    std::env::var_os("RUDP_IO").is_some_and(|io| io == "batch")
}

impl UdpTransport {
    /// A socket connected to `peer`.
    pub fn connect(peer: SocketAddr) -> io::Result<UdpTransport> {
        Ok(if hand_written() {
            UdpTransport::Batch(BatchTransport::connect(peer)?)
        } else {
            UdpTransport::Quinn(udp_quinn::UdpTransport::connect(peer)?)
        })
    }

    /// A socket listening on `port`: on `bind` if given, else dual stack.
    pub fn listen(bind: Option<IpAddr>, port: u16) -> io::Result<UdpTransport> {
        Ok(if hand_written() {
            UdpTransport::Batch(BatchTransport::listen(bind, port)?)
        } else {
            UdpTransport::Quinn(udp_quinn::UdpTransport::listen(bind, port)?)
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            UdpTransport::Quinn(udp) => udp.local_addr(),
            UdpTransport::Batch(udp) => udp.local_addr(),
        }
    }

    /// Blocks until a datagram arrives or `timeout` passes.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            UdpTransport::Quinn(udp) => udp.wait(timeout),
            UdpTransport::Batch(udp) => udp.wait(timeout),
        }
    }

    /// How long `wait` polls before it blocks.
    pub fn set_busy_poll(&mut self, busy_poll: Duration) {
        match self {
            UdpTransport::Quinn(udp) => udp.set_busy_poll(busy_poll),
            UdpTransport::Batch(udp) => udp.set_busy_poll(busy_poll),
        }
    }

    /// Whether an ICMP "port unreachable" came back for something we sent.
    pub fn port_unreachable(&self) -> bool {
        match self {
            UdpTransport::Quinn(udp) => udp.port_unreachable,
            UdpTransport::Batch(udp) => udp.port_unreachable,
        }
    }
}

impl Transport for UdpTransport {
    type Endpoint = SocketAddr;
    type Error = io::Error;

    fn send_to(&mut self, to: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        match self {
            UdpTransport::Quinn(udp) => udp.send_to(to, datagram),
            UdpTransport::Batch(udp) => udp.send_to(to, datagram),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            UdpTransport::Quinn(udp) => udp.flush(),
            UdpTransport::Batch(udp) => udp.flush(),
        }
    }

    fn recv_from(&mut self) -> io::Result<Option<Received<'_, SocketAddr>>> {
        match self {
            UdpTransport::Quinn(udp) => udp.recv_from(),
            UdpTransport::Batch(udp) => udp.recv_from(),
        }
    }
}
