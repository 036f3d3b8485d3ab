//! The [`Transport`] over a smoltcp UDP socket (feature `smoltcp`).
//!
//! **smoltcp version: 0.12.** That is the version the board Ethernet drivers build against
//! today (stm32-eth 0.8, the driver for STM32F4/F7 on-chip Ethernet, depends on smoltcp
//! 0.12), and two smoltcp versions cannot share one `Interface`: a later smoltcp would force
//! firmware to give up its driver crate.
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
//! ```text
//! loop {
//!     let now = clock();
//!     iface.poll(now, &mut device, &mut sockets);            // frames in, ARP, ...
//!     let socket = sockets.get_mut::<udp::Socket>(handle);
//!     let next = transport::poll(&mut engine, &mut SmoltcpTransport::new(socket), now.into(), report)?;
//!     iface.poll_egress(now, &mut device, &mut sockets);     // the replies out, now
//!     if !sockets.get::<udp::Socket>(handle).can_recv() {
//!         sleep_until(earliest(next, iface.poll_delay(now, &sockets)));
//!     }
//! }
//! ```
//!
//! Two traps, both seen in practice: without `poll_egress` (or a second `poll`) the replies
//! that [`transport::poll`](crate::transport::poll) queued wait for the next wake-up, and a
//! second full `poll` may take in new datagrams after the engine looked, which nothing then
//! wakes the loop for (smoltcp's `poll_delay` does not count received data). Hence: egress
//! only, and no sleep while the socket holds datagrams. `From` conversions between smoltcp's
//! and rudp's `Instant` and `Duration` come with this feature.

use smoltcp::socket::udp::{self, RecvError, SendError};
use smoltcp::wire::IpEndpoint;

use crate::transport::{Received, Transport};

#[cfg(doc)]
use crate::MAX_FRAME;

/// What can go wrong when sending on a smoltcp socket.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SmoltcpError {
    /// The socket is not bound, or the destination is unspecified.
    Unaddressable,
}

impl core::fmt::Display for SmoltcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("UDP socket not bound or destination unspecified")
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
