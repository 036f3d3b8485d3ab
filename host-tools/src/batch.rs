//! Several datagrams per system call: `recvmmsg`, and UDP GSO or `sendmmsg`, on Linux; one
//! `recv` or `send` per datagram elsewhere. The only `unsafe` of the host tools lives here,
//! around those calls.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use rudp_nostd::transport::Received;

/// Up to `B` receive buffers of `L` bytes each, filled together and handed out in order,
/// datagram by datagram. With UDP GRO (Linux, [`enable_gro`]) one buffer may hold several
/// datagrams of one flow, cut at the segment size the kernel reports.
pub struct RecvBatch<const B: usize, const L: usize> {
    bufs: [[u8; L]; B],
    lens: [usize; B],
    /// The GRO segment size of each buffer (0: one datagram).
    segments: [usize; B],
    froms: [Option<SocketAddr>; B],
    count: usize,
    /// The buffer handed out next, and where in it.
    next: usize,
    offset: usize,
}

impl<const B: usize, const L: usize> RecvBatch<B, L> {
    /// An empty batch, on the heap (it is large).
    pub fn new() -> Box<RecvBatch<B, L>> {
        Box::new(RecvBatch {
            bufs: [[0; L]; B],
            lens: [0; B],
            segments: [0; B],
            froms: [None; B],
            count: 0,
            next: 0,
            offset: 0,
        })
    }

    /// Whether datagrams are left to hand out.
    pub fn has_next(&self) -> bool {
        self.next < self.count
    }

    /// The next datagram, with its source (`peer` for a connected socket).
    pub fn next(&mut self) -> Option<Received<'_, SocketAddr>> {
        while self.next < self.count {
            let i = self.next;
            let len = self.lens[i].min(L);
            let step = match self.segments[i] {
                0 => len,
                segment => segment,
            };
            let start = self.offset.min(len);
            let end = start.saturating_add(step).min(len);
            if end >= len {
                self.next += 1;
                self.offset = 0;
            } else {
                self.offset = end;
            }
            // A datagram whose source could not be read (an unknown address family) is skipped.
            if let Some(from) = self.froms[i] {
                return Some((from, &self.bufs[i][start..end]));
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
        self.offset = 0;
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
        // Room for one control message with an int (UDP GRO's segment size), aligned for a
        // cmsghdr.
        let mut controls = [[0u64; 4]; B];
        for (i, buf) in self.bufs.iter_mut().enumerate() {
            iovecs[i] = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: L };
            msgs[i].msg_hdr.msg_iov = &mut iovecs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = (&raw mut names[i]).cast();
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_control = controls[i].as_mut_ptr().cast();
            msgs[i].msg_hdr.msg_controllen = size_of_val(&controls[i]) as _;
        }
        // SAFETY: every mmsghdr points at a live buffer of L bytes, a sockaddr_storage and a
        // control buffer of the stated sizes that outlive the call; the kernel writes at most
        // that much into each. MSG_WAITFORONE blocks (within SO_RCVTIMEO) for the first
        // datagram only.
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
            self.segments[i] = gro_segment(&msgs[i].msg_hdr);
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
    /// Whether to try UDP GSO (Linux): on until the kernel refuses it once.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    gso: bool,
}

impl<const B: usize, const L: usize> SendBatch<B, L> {
    /// An empty batch, on the heap (it is large).
    pub fn new() -> Box<SendBatch<B, L>> {
        Box::new(SendBatch { bufs: [[0; L]; B], lens: [0; B], tos: [None; B], count: 0, gso: true })
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

    /// Sends datagrams `from..to`, or the first few of them; returns how many went (at least
    /// one), or the error of the first.
    #[cfg(target_os = "linux")]
    fn send_platform(&mut self, socket: &UdpSocket, from: usize, to: usize) -> io::Result<usize> {
        let run = self.segmentable_run(from, to);
        if self.gso && run >= 2 {
            match self.send_segmented(socket, from, run) {
                Ok(()) => return Ok(run),
                // No UDP GSO here (an old kernel, or a device without checksum offload):
                // nothing was sent; from now on, `sendmmsg`.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT)) => {
                    self.gso = false
                }
                Err(e) => return Err(e),
            }
        }
        if to - from == 1 {
            // A lone datagram (a receiver's ACK, a stop-and-wait frame): a plain send spares
            // setting up a batch's worth of headers.
            return self.send_one(socket, from);
        }
        self.send_many(socket, from, to)
    }

    /// How many datagrams from `from` on can go as one UDP GSO send: the same destination,
    /// the same length but for the last, which may be shorter (and none empty: the kernel
    /// takes no zero segment size).
    #[cfg(target_os = "linux")]
    fn segmentable_run(&self, from: usize, to: usize) -> usize {
        let segment = self.lens[from];
        let mut run = 1;
        while segment > 0
            && from + run < to
            && self.tos[from + run] == self.tos[from]
            && self.lens[from + run] <= segment
            && self.lens[from + run - 1] == segment
        {
            run += 1;
        }
        run
    }

    /// Sends `run` datagrams from `from` on with one `sendmsg`: their bytes in a row, and a
    /// `UDP_SEGMENT` control message that tells the kernel where to cut them (UDP GSO: the
    /// stack then handles them as one until the receiving socket, or the device, splits them).
    #[cfg(target_os = "linux")]
    fn send_segmented(&mut self, socket: &UdpSocket, from: usize, run: usize) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        /// `UDP_SEGMENT` from `linux/udp.h` (Linux 4.18).
        const UDP_SEGMENT: libc::c_int = 103;
        let segment = self.lens[from] as u16;
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut iovecs: [libc::iovec; B] = unsafe { std::mem::zeroed() };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let slots = self.bufs[from..from + run].iter_mut().zip(&self.lens[from..from + run]);
        for (iovec, (buf, len)) in iovecs.iter_mut().zip(slots) {
            *iovec = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: *len };
        }
        msg.msg_iov = iovecs.as_mut_ptr();
        msg.msg_iovlen = run as _;
        if let Some(to) = self.tos[from] {
            msg.msg_namelen = from_socket_addr(to, &mut name);
            msg.msg_name = (&raw mut name).cast();
        }
        // A control buffer aligned for a cmsghdr, with room for one u16.
        let mut control = [0u64; 4];
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
        debug_assert!(space <= size_of_val(&control));
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points at `space` zeroed, aligned bytes, so CMSG_FIRSTHDR returns
        // a header inside them with room for the u16 that CMSG_DATA points at.
        unsafe {
            let header = libc::CMSG_FIRSTHDR(&msg);
            (*header).cmsg_level = libc::SOL_UDP;
            (*header).cmsg_type = UDP_SEGMENT;
            (*header).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<u16>(), segment);
        }
        // SAFETY: msg points at live iovecs over live buffers of their stated lengths, at a
        // sockaddr of its stated length if any, and at the control buffer; all outlive the
        // call, and the kernel only reads them.
        let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends datagrams `from..to` with one `sendmmsg`; returns how many went (at least one),
    /// or the error of the first.
    #[cfg(target_os = "linux")]
    fn send_many(&mut self, socket: &UdpSocket, from: usize, to: usize) -> io::Result<usize> {
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
        self.send_one(socket, from)
    }

    /// Sends datagram `i` alone; returns 1, or the error.
    fn send_one(&self, socket: &UdpSocket, i: usize) -> io::Result<usize> {
        send_alone(socket, self.tos[i], &self.bufs[i][..self.lens[i]])?;
        Ok(1)
    }
}

/// Sends one datagram with a plain `send` (`to` is `None`: the connected socket's peer) or
/// `send_to`.
pub fn send_alone(socket: &UdpSocket, to: Option<SocketAddr>, datagram: &[u8]) -> io::Result<()> {
    match to {
        Some(to) => socket.send_to(datagram, to)?,
        None => socket.send(datagram)?,
    };
    Ok(())
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

/// `UDP_GRO` from `linux/udp.h` (Linux 5.0): the socket option, and the control message that
/// gives a coalesced buffer's segment size.
#[cfg(target_os = "linux")]
const UDP_GRO: libc::c_int = 104;

/// Asks the kernel to hand a run of datagrams from one peer over as one buffer (UDP GRO),
/// which [`RecvBatch`] cuts back into datagrams. Returns whether the kernel agreed (Linux 5.0
/// and later); without it every datagram comes alone, as elsewhere.
pub fn enable_gro(socket: &UdpSocket) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: the option value is a live int of the stated size.
        let result = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                UDP_GRO,
                (&raw const on).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        result == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        false
    }
}

/// The segment size of a UDP GRO control message in `header`, or 0.
#[cfg(target_os = "linux")]
fn gro_segment(header: &libc::msghdr) -> usize {
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed control
    // messages; CMSG_FIRSTHDR and CMSG_NXTHDR stay inside them and return null at the end.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == UDP_GRO {
                let segment = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                return usize::try_from(segment).unwrap_or(0);
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    0
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
    fn a_full_batch_of_frames_reaches_a_connected_peer_datagram_by_datagram() {
        use rudp_nostd::MAX_FRAME;
        let rx = UdpSocket::bind("[::1]:0").or_else(|_| UdpSocket::bind("127.0.0.1:0")).unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind(if to.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
        tx.connect(to).unwrap();
        for gso in [true, false] {
            let mut batch = SendBatch::<64, MAX_FRAME>::new();
            batch.gso = gso;
            // A window of full frames and a shorter last one, as a sender sends them.
            let len = |i: usize| if i == 63 { 100 } else { MAX_FRAME };
            for i in 0..64 {
                batch.push(None, &vec![i as u8; len(i)]);
            }
            assert!(!batch.has_room_for(1));
            batch.send(&tx, Err).unwrap();
            if cfg!(target_os = "linux") && gso {
                assert!(batch.gso, "loopback takes UDP GSO on Linux 4.18 and later");
            }
            let got = read_n(&rx, 64);
            for (i, (from, bytes)) in got.into_iter().enumerate() {
                assert_eq!(from, tx.local_addr().unwrap());
                assert_eq!(bytes, vec![i as u8; len(i)], "datagram {i}, gso {gso}");
            }
        }
    }

    #[test]
    fn datagrams_of_mixed_lengths_keep_their_boundaries() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        // Runs that one GSO send can carry ([100, 100, 50], [100, 30], [30, 30]), and not.
        let lens = [100, 100, 50, 100, 30, 30, 30, 1, 200];
        for gso in [true, false] {
            let mut batch = SendBatch::<16, 256>::new();
            batch.gso = gso;
            for (i, len) in lens.iter().enumerate() {
                batch.push(Some(to), &vec![i as u8; *len]);
            }
            batch.send(&tx, Err).unwrap();
            let got: Vec<Vec<u8>> = read_n(&rx, lens.len()).into_iter().map(|(_, bytes)| bytes).collect();
            let expected: Vec<Vec<u8>> =
                lens.iter().enumerate().map(|(i, len)| vec![i as u8; *len]).collect();
            assert_eq!(got, expected, "gso {gso}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn runs_for_one_segmented_send_are_found() {
        let mut batch = SendBatch::<16, 256>::new();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        for (to, len) in [(a, 100), (a, 100), (a, 50), (a, 100), (b, 100), (b, 100), (b, 100)] {
            batch.push(Some(to), &vec![0; len]);
        }
        assert_eq!(batch.segmentable_run(0, 7), 3); // a shorter datagram ends a run
        assert_eq!(batch.segmentable_run(3, 7), 1); // another destination ends it
        assert_eq!(batch.segmentable_run(4, 7), 3);
        assert_eq!(batch.segmentable_run(4, 5), 1); // so does the end
        let mut empty = SendBatch::<4, 16>::new();
        empty.push(Some(a), &[]);
        empty.push(Some(a), &[]);
        assert_eq!(empty.segmentable_run(0, 2), 1);
    }

    #[test]
    fn a_datagram_larger_than_a_slot_does_not_fit() {
        let batch = SendBatch::<2, 16>::new();
        assert!(batch.has_room_for(16));
        assert!(!batch.has_room_for(17));
    }

    #[test]
    fn a_coalesced_buffer_is_handed_out_datagram_by_datagram() {
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut batch = RecvBatch::<4, 256>::new();
        // A GRO buffer of 100-byte segments with a shorter last one, a plain datagram, an
        // empty datagram, and a buffer whose source could not be read.
        batch.lens = [250, 30, 0, 10];
        batch.segments = [100, 0, 0, 0];
        batch.froms = [Some(from), Some(from), Some(from), None];
        batch.bufs[0][..100].fill(1);
        batch.bufs[0][100..200].fill(2);
        batch.bufs[0][200..250].fill(3);
        batch.count = 4;
        let mut got = Vec::new();
        while let Some((source, bytes)) = batch.next() {
            assert_eq!(source, from);
            got.push((bytes.len(), bytes.first().copied()));
        }
        assert_eq!(got, [(100, Some(1)), (100, Some(2)), (50, Some(3)), (30, Some(0)), (0, None)]);
        assert!(!batch.has_next());
    }

    #[test]
    fn datagrams_sent_with_gso_come_back_whole_with_or_without_gro() {
        use rudp_nostd::MAX_FRAME;
        for gro in [true, false] {
            let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
            rx.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            if gro {
                assert_eq!(enable_gro(&rx), cfg!(target_os = "linux"), "Linux 5.0 and later take UDP GRO");
            }
            let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
            tx.connect(rx.local_addr().unwrap()).unwrap();
            let mut out = SendBatch::<16, MAX_FRAME>::new();
            let len = |i: usize| if i == 10 { 99 } else { MAX_FRAME };
            for i in 0..11 {
                out.push(None, &vec![i as u8; len(i)]);
            }
            out.send(&tx, Err).unwrap();
            let mut batch = RecvBatch::<4, 65536>::new();
            let mut got = Vec::new();
            let mut buffers = 0;
            while got.len() < 11 {
                batch.receive(&rx, None, true).unwrap();
                buffers += batch.count;
                while let Some((from, bytes)) = batch.next() {
                    assert_eq!(from, tx.local_addr().unwrap());
                    got.push(bytes.to_vec());
                }
            }
            let expected: Vec<Vec<u8>> = (0..11).map(|i| vec![i as u8; len(i)]).collect();
            assert_eq!(got, expected, "gro {gro}");
            if gro && cfg!(target_os = "linux") {
                assert!(buffers < 11, "GRO coalesced the GSO send ({buffers} buffers)");
            }
        }
    }
}
