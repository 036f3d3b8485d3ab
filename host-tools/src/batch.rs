//! Receiving several datagrams with one system call: `recvmmsg` on Linux, one `recv`
//! elsewhere. The only `unsafe` of the host tools lives here, around that one call.

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

    /// Blocks (within the socket's read timeout) until at least one datagram is there, and
    /// takes it with every other one already waiting. `peer`: the connected socket's peer.
    pub fn receive(&mut self, socket: &UdpSocket, peer: Option<SocketAddr>) -> io::Result<()> {
        self.count = 0;
        self.next = 0;
        let count = self.receive_platform(socket)?;
        if let Some(peer) = peer {
            self.froms[..count].fill(Some(peer));
        }
        self.count = count;
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn receive_platform(&mut self, socket: &UdpSocket) -> io::Result<usize> {
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
                libc::MSG_WAITFORONE,
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
    fn receive_platform(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let (len, from) = socket.recv_from(&mut self.bufs[0])?;
        self.lens[0] = len;
        self.froms[0] = Some(from);
        Ok(1)
    }
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
        batch.receive(&rx, None).unwrap();
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
            batch.receive(&rx, None).unwrap();
            while let Some((from, bytes)) = batch.next() {
                assert_eq!(from, tx.local_addr().unwrap());
                got.push(bytes[0]);
            }
        }
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    }
}
