//! Several datagrams per system call: `recvmmsg` and `sendmmsg` on Linux, one `recv` or
//! `send` per datagram elsewhere. The only `unsafe` of the host tools lives here, around
//! those calls.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use rudp_nostd::transport::Received;

/// Up to `B` datagrams of up to `L` bytes each, received together and handed out in order.
pub struct RecvBatch<const B: usize, const L: usize> {
    bufs: [[u8; L]; B],
    lens: [usize; B],
    froms: [Option<SocketAddr>; B],
    count: usize,
    next: usize,
}

impl<const B: usize, const L: usize> RecvBatch<B, L> {
    /// An empty batch, on the heap (it is large).
    pub fn new() -> Box<RecvBatch<B, L>> {
        Box::new(RecvBatch { bufs: [[0; L]; B], lens: [0; B], froms: [None; B], count: 0, next: 0 })
    }

    /// Whether datagrams are left to hand out.
    pub fn has_next(&self) -> bool {
        self.next < self.count
    }

    /// The next datagram, with its source (`peer` for a connected socket).
    pub fn next(&mut self) -> Option<Received<'_, SocketAddr>> {
        while self.next < self.count {
            let i = self.next;
            self.next += 1;
            // A datagram whose source could not be read (an unknown address family) is skipped.
            if let Some(from) = self.froms[i] {
                return Some((from, &self.bufs[i][..self.lens[i].min(L)]));
            }
        }
        None
    }

    /// Takes every datagram already waiting, up to `B`; if none is, blocks (within the
    /// socket's read timeout) for the first one when `block`, and fails with `WouldBlock`
    /// when not. `peer`: the connected socket's peer.
    pub fn receive(&mut self, socket: &UdpSocket, peer: Option<SocketAddr>, block: bool) -> io::Result<()> {
        self.count = 0;
        self.next = 0;
        let count = self.receive_platform(socket, block)?;
        if let Some(peer) = peer {
            self.froms[..count].fill(Some(peer));
        }
        self.count = count;
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn receive_platform(&mut self, socket: &UdpSocket, block: bool) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut names: [libc::sockaddr_storage; B] = unsafe { std::mem::zeroed() };
        let mut iovecs: [libc::iovec; B] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; B] = unsafe { std::mem::zeroed() };
        for (i, buf) in self.bufs.iter_mut().enumerate() {
            iovecs[i] = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: L };
            msgs[i].msg_hdr.msg_iov = &mut iovecs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = (&raw mut names[i]).cast();
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: every mmsghdr points at a live buffer of L bytes and a sockaddr_storage that
        // outlive the call; the kernel writes at most that much into each. MSG_WAITFORONE
        // blocks (within SO_RCVTIMEO) for the first datagram only.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                B as libc::c_uint,
                if block { libc::MSG_WAITFORONE } else { libc::MSG_DONTWAIT },
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(B);
        for i in 0..n {
            self.lens[i] = msgs[i].msg_len as usize;
            self.froms[i] = to_socket_addr(&names[i]);
        }
        Ok(n)
    }

    #[cfg(not(target_os = "linux"))]
    fn receive_platform(&mut self, socket: &UdpSocket, block: bool) -> io::Result<usize> {
        socket.set_nonblocking(!block)?;
        let (len, from) = socket.recv_from(&mut self.bufs[0])?;
        self.lens[0] = len;
        self.froms[0] = Some(from);
        Ok(1)
    }
}

/// Up to `B` datagrams of up to `L` bytes each, queued to go out together.
pub struct SendBatch<const B: usize, const L: usize> {
    bufs: [[u8; L]; B],
    lens: [usize; B],
    tos: [Option<SocketAddr>; B],
    count: usize,
}

impl<const B: usize, const L: usize> SendBatch<B, L> {
    /// An empty batch, on the heap (it is large).
    pub fn new() -> Box<SendBatch<B, L>> {
        Box::new(SendBatch { bufs: [[0; L]; B], lens: [0; B], tos: [None; B], count: 0 })
    }

    /// Whether no datagram is queued.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether another datagram of `len` bytes fits.
    pub fn has_room_for(&self, len: usize) -> bool {
        self.count < B && len <= L
    }

    /// Queues a copy of `datagram` for `to` (`None`: the connected socket's peer). The caller
    /// checks [`SendBatch::has_room_for`] first.
    pub fn push(&mut self, to: Option<SocketAddr>, datagram: &[u8]) {
        debug_assert!(self.has_room_for(datagram.len()));
        if let (Some(buf), Some(len), Some(dest)) =
            (self.bufs.get_mut(self.count), self.lens.get_mut(self.count), self.tos.get_mut(self.count))
            && let Some(slot) = buf.get_mut(..datagram.len())
        {
            slot.copy_from_slice(datagram);
            *len = datagram.len();
            *dest = to;
            self.count += 1;
        }
    }

    /// Sends every queued datagram, in order, and empties the batch. `absorb` decides what
    /// a failed datagram means: `Ok` drops it (UDP loses datagrams; the engine retransmits)
    /// and goes on with the next, `Err` stops and drops the rest.
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        mut absorb: impl FnMut(io::Error) -> io::Result<()>,
    ) -> io::Result<()> {
        let count = std::mem::take(&mut self.count);
        let mut sent = 0;
        while sent < count {
            match self.send_platform(socket, sent, count) {
                Ok(n) => sent += n.max(1),
                Err(e) => {
                    absorb(e)?;
                    sent += 1;
                }
            }
        }
        Ok(())
    }

    /// Sends datagrams `from..to` with one `sendmmsg`; returns how many went (at least one),
    /// or the error of the first.
    #[cfg(target_os = "linux")]
    fn send_platform(&mut self, socket: &UdpSocket, from: usize, to: usize) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let n = to - from;
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut names: [libc::sockaddr_storage; B] = unsafe { std::mem::zeroed() };
        let mut iovecs: [libc::iovec; B] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; B] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            let slot = from + i;
            iovecs[i] =
                libc::iovec { iov_base: self.bufs[slot].as_mut_ptr().cast(), iov_len: self.lens[slot] };
            msgs[i].msg_hdr.msg_iov = &mut iovecs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            if let Some(to) = self.tos[slot] {
                let len = from_socket_addr(to, &mut names[i]);
                msgs[i].msg_hdr.msg_name = (&raw mut names[i]).cast();
                msgs[i].msg_hdr.msg_namelen = len;
            }
        }
        // SAFETY: every mmsghdr points at a live buffer of its stated length and, if it names
        // a destination, at a sockaddr of its stated length; all outlive the call, and the
        // kernel only reads them.
        let sent = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), n as libc::c_uint, 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }

    #[cfg(not(target_os = "linux"))]
    fn send_platform(&mut self, socket: &UdpSocket, from: usize, _to: usize) -> io::Result<usize> {
        let datagram = &self.bufs[from][..self.lens[from]];
        match self.tos[from] {
            Some(to) => socket.send_to(datagram, to)?,
            None => socket.send(datagram)?,
        };
        Ok(1)
    }
}

/// Writes `addr` into `storage` as a `sockaddr_in` or `sockaddr_in6`; returns its length.
#[cfg(target_os = "linux")]
fn from_socket_addr(addr: SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    let socket2: socket2::SockAddr = addr.into();
    let len = socket2.len();
    // SAFETY: a SockAddr holds a valid sockaddr of `len` bytes, and `len` is at most the size
    // of a sockaddr_storage, which is what both are.
    unsafe {
        std::ptr::copy_nonoverlapping(
            socket2.as_ptr().cast::<u8>(),
            (storage as *mut libc::sockaddr_storage).cast::<u8>(),
            len as usize,
        );
    }
    len
}

/// The address in a `sockaddr_storage` the kernel filled, if IPv4 or IPv6.
#[cfg(target_os = "linux")]
fn to_socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which fits in it.
            let addr: libc::sockaddr_in =
                unsafe { std::ptr::read((storage as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(addr.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which fits in it.
            let addr: libc::sockaddr_in6 =
                unsafe { std::ptr::read((storage as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv6Addr::from(addr.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(addr.sin6_port),
                u32::from_be(addr.sin6_flowinfo),
                addr.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_every_waiting_datagram_in_one_call_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        for i in 0..10u8 {
            tx.send_to(&[i; 3], to).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut batch = RecvBatch::<16, 64>::new();
        batch.receive(&rx, None, true).unwrap();
        let mut got = Vec::new();
        while let Some((from, bytes)) = batch.next() {
            assert_eq!(from, tx.local_addr().unwrap());
            got.push(bytes.to_vec());
        }
        let expected: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 3]).collect();
        if cfg!(target_os = "linux") {
            assert_eq!(got, expected);
        } else {
            assert_eq!(got, expected[..1]);
        }
    }

    #[test]
    fn a_full_batch_leaves_the_rest_for_the_next_call() {
        let rx = UdpSocket::bind("[::1]:0").or_else(|_| UdpSocket::bind("127.0.0.1:0")).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind(if to.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
        for i in 0..6u8 {
            tx.send_to(&[i], to).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut batch = RecvBatch::<4, 16>::new();
        let mut got = Vec::new();
        while got.len() < 6 {
            batch.receive(&rx, None, true).unwrap();
            while let Some((from, bytes)) = batch.next() {
                assert_eq!(from, tx.local_addr().unwrap());
                got.push(bytes[0]);
            }
        }
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    }

    /// Reads `count` datagrams from `socket` (5 s at most each).
    fn read_n(socket: &UdpSocket, count: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        (0..count)
            .map(|_| {
                let (len, from) = socket.recv_from(&mut buf).unwrap();
                (from, buf[..len].to_vec())
            })
            .collect()
    }

    #[test]
    fn a_batch_goes_out_in_order_to_each_datagrams_destination() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = SendBatch::<8, 16>::new();
        for i in 0..6u8 {
            let to = if i % 2 == 0 { &a } else { &b };
            assert!(batch.has_room_for(usize::from(i) + 1));
            batch.push(Some(to.local_addr().unwrap()), &vec![i; usize::from(i) + 1]);
        }
        batch.send(&tx, Err).unwrap();
        assert!(batch.is_empty());
        let from = tx.local_addr().unwrap();
        assert_eq!(read_n(&a, 3), [(from, vec![0]), (from, vec![2; 3]), (from, vec![4; 5])]);
        assert_eq!(read_n(&b, 3), [(from, vec![1; 2]), (from, vec![3; 4]), (from, vec![5; 6])]);
    }

    #[test]
    fn a_full_batch_of_full_frames_reaches_a_connected_peer() {
        use rudp_nostd::MAX_FRAME;
        let rx = UdpSocket::bind("[::1]:0").or_else(|_| UdpSocket::bind("127.0.0.1:0")).unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind(if to.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
        tx.connect(to).unwrap();
        let mut batch = SendBatch::<64, MAX_FRAME>::new();
        for i in 0..64u8 {
            batch.push(None, &[i; MAX_FRAME]);
        }
        assert!(!batch.has_room_for(1));
        batch.send(&tx, Err).unwrap();
        let got = read_n(&rx, 64);
        for (i, (from, bytes)) in got.into_iter().enumerate() {
            assert_eq!(from, tx.local_addr().unwrap());
            assert_eq!(bytes, [i as u8; MAX_FRAME]);
        }
    }

    #[test]
    fn a_datagram_larger_than_a_slot_does_not_fit() {
        let batch = SendBatch::<2, 16>::new();
        assert!(batch.has_room_for(16));
        assert!(!batch.has_room_for(17));
    }
}
