//! The std UDP [`Transport`] on `quinn-udp`: one socket, no allocation after it is made, and
//! datagrams moved in batches.
//!
//! `quinn-udp` ([`UdpSocketState`]) makes the system calls: `recvmmsg` and UDP GRO on Linux
//! for receiving, `sendmsg` with UDP GSO for a run of datagrams of one size to one peer;
//! `recvmsg` and `sendmsg`, one datagram each, on macOS and Windows (with USO and URO where
//! Windows has them). It puts the socket in non-blocking mode; a wait blocks in `poll(2)`
//! (`rustix`, which is `WSAPoll` on Windows) instead.
//!
//! [`Transport::recv_from`] never blocks: it hands out the datagrams that the last
//! [`UdpTransport::wait`] received. `wait` polls for a while if asked to
//! ([`UdpTransport::set_busy_poll`]), then blocks until at least one datagram arrives or the
//! timeout passes, and takes every datagram already waiting with it (up to 4 buffers with one
//! `recvmmsg` on Linux, each a datagram or, with UDP GRO, a run of datagrams from one peer
//! that the kernel coalesced; one `recvmsg` elsewhere), so that several ACKs or frames cost one
//! system call, and a receiver can answer them with one ACK. Datagrams that arrive later stay
//! queued in the kernel for the next `wait`: nothing is lost.
//!
//! [`Transport::send_to`] queues; [`Transport::flush`] (which the driver calls once a poll
//! has queued everything) sends the queue: one UDP GSO `sendmsg` for each run of equal-sized
//! frames to one peer (a window of data frames is one run), and a plain `send` for a
//! datagram on its own (an ACK, a stop-and-wait frame).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use rudp_nostd::frame::MAX_FRAME;
use rudp_nostd::transport::{Received, Transport};
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

/// The most datagrams queued for one flush: a whole window.
const SEND_BATCH: usize = rudp_nostd::MAX_WINDOW as usize;

/// The most bytes one UDP GSO send carries (the kernel takes at most 64 KiB in one go).
const GSO_MAX_BYTES: usize = 65_000;

/// How long a send waits for room in a full socket buffer before its datagram is dropped
/// (the engine retransmits it). A blocking socket would wait; `quinn-udp`'s does not.
const SEND_WAIT: Duration = Duration::from_secs(1);

/// Up to `B` receive buffers of `L` bytes each, filled together and handed out in order,
/// datagram by datagram. With UDP GRO (Linux) one buffer may hold several datagrams of one
/// flow, cut at the segment size (`stride`) the kernel reports.
pub struct RecvBatch<const B: usize, const L: usize> {
    bufs: Box<[[u8; L]; B]>,
    metas: [RecvMeta; B],
    count: usize,
    /// The buffer handed out next, and where in it.
    next: usize,
    offset: usize,
}

impl<const B: usize, const L: usize> RecvBatch<B, L> {
    /// An empty batch (its buffers on the heap: they are large).
    pub fn new() -> RecvBatch<B, L> {
        let bufs: Box<[[u8; L]]> = vec![[0; L]; B].into_boxed_slice();
        let Ok(bufs) = bufs.try_into() else { unreachable!("B buffers were made") };
        RecvBatch { bufs, metas: [RecvMeta::default(); B], count: 0, next: 0, offset: 0 }
    }

    /// Whether datagrams are left to hand out.
    pub fn has_next(&self) -> bool {
        self.next < self.count
    }

    /// The next datagram, with its source (`peer` for a connected socket).
    pub fn next(&mut self, peer: Option<SocketAddr>) -> Option<Received<'_, SocketAddr>> {
        let i = self.next;
        let meta = *self.metas.get(i).filter(|_| i < self.count)?;
        let len = meta.len.min(L);
        // `stride` is the GRO segment size, or the whole length (0 for an empty datagram).
        let step = if meta.stride == 0 { len } else { meta.stride };
        let start = self.offset.min(len);
        let end = start.saturating_add(step).min(len);
        if end >= len {
            self.next += 1;
            self.offset = 0;
        } else {
            self.offset = end;
        }
        Some((peer.unwrap_or(meta.addr), &self.bufs[i][start..end]))
    }

    /// Takes every datagram already waiting, up to `B` buffers, without blocking: fails with
    /// `WouldBlock` if none is.
    pub fn receive(&mut self, socket: &UdpSocket, state: &UdpSocketState) -> io::Result<()> {
        self.count = 0;
        self.next = 0;
        self.offset = 0;
        let mut slices = self.bufs.each_mut().map(|buf| IoSliceMut::new(buf));
        let count = state.recv(socket.into(), &mut slices, &mut self.metas)?;
        self.count = count.min(B);
        Ok(())
    }
}

/// Up to `B` datagrams of up to `L` bytes each, queued to go out together, their bytes in a
/// row (so that a run of them is one GSO send as it lies).
pub struct SendBatch<const B: usize, const L: usize> {
    bytes: Box<[u8]>,
    lens: [usize; B],
    /// Each datagram's destination (`None`: the connected socket's peer).
    tos: [Option<SocketAddr>; B],
    count: usize,
    /// The bytes queued.
    used: usize,
}

impl<const B: usize, const L: usize> SendBatch<B, L> {
    /// An empty batch.
    pub fn new() -> SendBatch<B, L> {
        SendBatch {
            bytes: vec![0; B * L].into_boxed_slice(),
            lens: [0; B],
            tos: [None; B],
            count: 0,
            used: 0,
        }
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
        if let (Some(len), Some(dest), Some(slot)) = (
            self.lens.get_mut(self.count),
            self.tos.get_mut(self.count),
            self.bytes.get_mut(self.used..self.used + datagram.len()),
        ) {
            slot.copy_from_slice(datagram);
            *len = datagram.len();
            *dest = to;
            self.count += 1;
            self.used += datagram.len();
        }
    }

    /// Sends every queued datagram, in order, and empties the batch: runs of up to
    /// `max_segments` (and what `state` allows) with one GSO send each, datagrams on their
    /// own with a plain `send`. `peer`: the connected socket's peer. `absorb` decides what a
    /// failed send means: `Ok` drops its datagrams (UDP loses datagrams; the engine
    /// retransmits) and goes on with the next, `Err` stops and drops the rest.
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        state: &UdpSocketState,
        peer: Option<SocketAddr>,
        max_segments: usize,
        mut absorb: impl FnMut(io::Error) -> io::Result<()>,
    ) -> io::Result<()> {
        let count = std::mem::take(&mut self.count);
        self.used = 0;
        let (mut i, mut offset) = (0, 0);
        while i < count {
            let segments = max_segments.min(state.max_gso_segments());
            let run = self.segmentable_run(i, count, segments);
            let bytes: usize = self.lens[i..i + run].iter().sum();
            let contents = &self.bytes[offset..offset + bytes];
            let result = match self.tos[i].or(peer) {
                Some(destination) if run > 1 => {
                    let transmit = Transmit {
                        destination,
                        ecn: None,
                        contents,
                        segment_size: Some(self.lens[i]),
                        src_ip: None,
                    };
                    with_room(socket, || state.try_send(socket.into(), &transmit))
                }
                _ => send_alone(socket, self.tos[i], contents),
            };
            if let Err(e) = result {
                // No UDP GSO here after all (an old kernel, a device without checksum
                // offload): `quinn-udp` turned it off, nothing was sent; the run goes again
                // in smaller sends.
                if run > 1 && state.max_gso_segments() < run {
                    continue;
                }
                absorb(e)?;
            }
            i += run;
            offset += bytes;
        }
        Ok(())
    }

    /// How many datagrams from `from` on (before `to`) can go as one UDP GSO send: at most
    /// `max_segments`, to the same destination, the same length but for the last, which may
    /// be shorter (and none empty: the kernel takes no zero segment size).
    fn segmentable_run(&self, from: usize, to: usize, max_segments: usize) -> usize {
        let segment = self.lens[from];
        let mut run = 1;
        while segment > 0
            && run < max_segments
            && (run + 1) * segment <= GSO_MAX_BYTES
            && from + run < to
            && self.tos[from + run] == self.tos[from]
            && self.lens[from + run] <= segment
            && self.lens[from + run - 1] == segment
        {
            run += 1;
        }
        run
    }
}

/// Sends one datagram with a plain `send` (`to` is `None`: the connected socket's peer) or
/// `send_to`.
fn send_alone(socket: &UdpSocket, to: Option<SocketAddr>, datagram: &[u8]) -> io::Result<()> {
    with_room(socket, || {
        match to {
            Some(to) => socket.send_to(datagram, to)?,
            None => socket.send(datagram)?,
        };
        Ok(())
    })
}

/// Runs `send` until it does not fail with `WouldBlock` (a full socket buffer), waiting for
/// room in between, for [`SEND_WAIT`] at most.
fn with_room(socket: &UdpSocket, mut send: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    let start = Instant::now();
    loop {
        match send() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = SEND_WAIT.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(e);
                }
                wait_for(socket, rustix::event::PollFlags::OUT, Some(left))?;
            }
            result => return result,
        }
    }
}

/// Blocks until `socket` is ready for `events` (or has an error to report) or `timeout`
/// passes (`None`: no limit).
fn wait_for(
    socket: &UdpSocket,
    events: rustix::event::PollFlags,
    timeout: Option<Duration>,
) -> io::Result<()> {
    // A timeout too long for a timespec is no limit.
    let timeout = timeout.and_then(|t| rustix::event::Timespec::try_from(t).ok());
    let mut fds = [rustix::event::PollFd::new(socket, events)];
    rustix::event::poll(&mut fds, timeout.as_ref())?;
    Ok(())
}

/// A UDP socket as an rudp transport.
pub struct UdpTransport {
    socket: UdpSocket,
    state: UdpSocketState,
    /// The peer a sender's socket is connected to.
    peer: Option<SocketAddr>,
    /// The datagrams the last `wait` received.
    batch: RecvBatch<RECV_BATCH, RECV_BUF>,
    /// The datagrams queued by `send_to` for the next `flush`.
    outgoing: SendBatch<SEND_BATCH, MAX_FRAME>,
    /// How long `wait` polls before it blocks.
    busy_poll: Duration,
    /// How many times `wait` blocked (for the tests).
    blocked: u64,
    /// An ICMP "port unreachable" came back for something we sent.
    pub port_unreachable: bool,
}

impl std::fmt::Debug for UdpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpTransport").field("socket", &self.socket).field("peer", &self.peer).finish()
    }
}

impl UdpTransport {
    fn from_socket(socket: UdpSocket, peer: Option<SocketAddr>) -> io::Result<UdpTransport> {
        // Non-blocking from here on; asks for UDP GRO where the kernel has it.
        let state = UdpSocketState::new((&socket).into())?;
        Ok(UdpTransport {
            socket,
            state,
            peer,
            batch: RecvBatch::new(),
            outgoing: SendBatch::new(),
            busy_poll: Duration::ZERO,
            blocked: 0,
            port_unreachable: false,
        })
    }

    /// A socket connected to `peer` (the kernel then drops datagrams from anyone else, and
    /// reports an ICMP "port unreachable" from it).
    pub fn connect(peer: SocketAddr) -> io::Result<UdpTransport> {
        let local: SocketAddr = match peer {
            SocketAddr::V4(_) => (IpAddr::from([0, 0, 0, 0]), 0).into(),
            SocketAddr::V6(_) => (IpAddr::from(Ipv6Addr::UNSPECIFIED), 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(peer)?;
        UdpTransport::from_socket(socket, Some(peer))
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
        UdpTransport::from_socket(socket, None)
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
        let busy = timeout.map_or(self.busy_poll, |t| t.min(self.busy_poll));
        if !busy.is_zero() && self.busy_poll_for(busy)? {
            return Ok(());
        }
        self.blocked += 1;
        if let Err(e) = wait_for(&self.socket, rustix::event::PollFlags::IN, timeout) {
            return self.absorb(e);
        }
        if let Err(e) = self.batch.receive(&self.socket, &self.state) {
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
        let start = Instant::now();
        loop {
            match self.batch.receive(&self.socket, &self.state) {
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

    /// The most datagrams one send carries. `quinn-udp` names the destination in every
    /// `sendmsg`, which a connected socket takes on Linux but not on every system (macOS
    /// answers `EISCONN`): elsewhere a connected socket sends datagram by datagram, as it
    /// does there anyway (no UDP GSO on macOS).
    fn max_segments(&self) -> usize {
        if self.peer.is_some() && !cfg!(target_os = "linux") { 1 } else { SEND_BATCH }
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
            return send_alone(&self.socket, to, datagram).or_else(|e| self.absorb(e));
        }
        self.outgoing.push(to, datagram);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.outgoing.is_empty() {
            return Ok(());
        }
        let mut port_unreachable = false;
        let max_segments = self.max_segments();
        let result = self
            .outgoing
            .send(&self.socket, &self.state, self.peer, max_segments, |e| absorb(e, &mut port_unreachable));
        self.port_unreachable |= port_unreachable;
        result
    }

    fn recv_from(&mut self) -> io::Result<Option<Received<'_, SocketAddr>>> {
        Ok(self.batch.next(self.peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket and its `quinn-udp` state (non-blocking, with GRO where the kernel has it).
    fn quinn_socket(addr: &str) -> (UdpSocket, UdpSocketState) {
        let socket = UdpSocket::bind(addr).unwrap();
        let state = UdpSocketState::new((&socket).into()).unwrap();
        (socket, state)
    }

    /// Receives into `batch` from `socket`, waiting up to 5 s for the first datagram.
    fn receive<const B: usize, const L: usize>(
        batch: &mut RecvBatch<B, L>,
        socket: &UdpSocket,
        state: &UdpSocketState,
    ) {
        wait_for(socket, rustix::event::PollFlags::IN, Some(Duration::from_secs(5))).unwrap();
        batch.receive(socket, state).unwrap();
    }

    /// Reads `count` datagrams from `socket` (5 s at most each) with a plain blocking `recv`.
    fn read_n(socket: &UdpSocket, count: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        socket.set_nonblocking(false).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        (0..count)
            .map(|_| {
                let (len, from) = socket.recv_from(&mut buf).unwrap();
                (from, buf[..len].to_vec())
            })
            .collect()
    }

    #[test]
    fn takes_every_waiting_datagram_in_one_call_in_order() {
        let (rx, state) = quinn_socket("127.0.0.1:0");
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        for i in 0..10u8 {
            tx.send_to(&[i; 3], to).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut batch = RecvBatch::<16, 64>::new();
        receive(&mut batch, &rx, &state);
        let mut got = Vec::new();
        while let Some((from, bytes)) = batch.next(None) {
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
        let state = UdpSocketState::new((&rx).into()).unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind(if to.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
        for i in 0..6u8 {
            tx.send_to(&[i], to).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut batch = RecvBatch::<4, 16>::new();
        let mut got = Vec::new();
        let mut calls = 0;
        while got.len() < 6 {
            receive(&mut batch, &rx, &state);
            calls += 1;
            while let Some((from, bytes)) = batch.next(None) {
                assert_eq!(from, tx.local_addr().unwrap());
                got.push(bytes[0]);
            }
        }
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
        if cfg!(target_os = "linux") {
            assert_eq!(calls, 2, "4 datagrams, then 2");
        }
    }

    #[test]
    fn a_batch_goes_out_in_order_to_each_datagrams_destination() {
        let (tx, state) = quinn_socket("127.0.0.1:0");
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = SendBatch::<8, 16>::new();
        for i in 0..6u8 {
            let to = if i % 2 == 0 { &a } else { &b };
            assert!(batch.has_room_for(usize::from(i) + 1));
            batch.push(Some(to.local_addr().unwrap()), &vec![i; usize::from(i) + 1]);
        }
        batch.send(&tx, &state, None, 8, Err).unwrap();
        assert!(batch.is_empty());
        let from = tx.local_addr().unwrap();
        assert_eq!(read_n(&a, 3), [(from, vec![0]), (from, vec![2; 3]), (from, vec![4; 5])]);
        assert_eq!(read_n(&b, 3), [(from, vec![1; 2]), (from, vec![3; 4]), (from, vec![5; 6])]);
    }

    #[test]
    fn a_full_batch_of_frames_reaches_a_connected_peer_datagram_by_datagram() {
        let rx = UdpSocket::bind("[::1]:0").or_else(|_| UdpSocket::bind("127.0.0.1:0")).unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind(if to.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
        tx.connect(to).unwrap();
        let state = UdpSocketState::new((&tx).into()).unwrap();
        for segments in [64, 1] {
            let mut batch = SendBatch::<64, MAX_FRAME>::new();
            // A window of full frames and a shorter last one, as a sender sends them.
            let len = |i: usize| if i == 63 { 100 } else { MAX_FRAME };
            for i in 0..64 {
                batch.push(None, &vec![i as u8; len(i)]);
            }
            assert!(!batch.has_room_for(1));
            batch.send(&tx, &state, Some(to), segments, Err).unwrap();
            if cfg!(target_os = "linux") {
                assert_eq!(state.max_gso_segments(), 64, "loopback takes UDP GSO on Linux 4.18 and later");
            }
            let got = read_n(&rx, 64);
            for (i, (from, bytes)) in got.into_iter().enumerate() {
                assert_eq!(from, tx.local_addr().unwrap());
                assert_eq!(bytes, vec![i as u8; len(i)], "datagram {i}, segments {segments}");
            }
        }
    }

    #[test]
    fn datagrams_of_mixed_lengths_keep_their_boundaries() {
        let (tx, state) = quinn_socket("127.0.0.1:0");
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        // Runs that one GSO send can carry ([100, 100, 50], [100, 30], [30, 30]), and not.
        let lens = [100, 100, 50, 100, 30, 30, 30, 1, 200];
        for segments in [16, 1] {
            let mut batch = SendBatch::<16, 256>::new();
            for (i, len) in lens.iter().enumerate() {
                batch.push(Some(to), &vec![i as u8; *len]);
            }
            batch.send(&tx, &state, None, segments, Err).unwrap();
            let got: Vec<Vec<u8>> = read_n(&rx, lens.len()).into_iter().map(|(_, bytes)| bytes).collect();
            let expected: Vec<Vec<u8>> =
                lens.iter().enumerate().map(|(i, len)| vec![i as u8; *len]).collect();
            assert_eq!(got, expected, "segments {segments}");
        }
    }

    #[test]
    fn runs_for_one_segmented_send_are_found() {
        let mut batch = SendBatch::<16, 256>::new();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        for (to, len) in [(a, 100), (a, 100), (a, 50), (a, 100), (b, 100), (b, 100), (b, 100)] {
            batch.push(Some(to), &vec![0; len]);
        }
        assert_eq!(batch.segmentable_run(0, 7, 64), 3); // a shorter datagram ends a run
        assert_eq!(batch.segmentable_run(3, 7, 64), 1); // another destination ends it
        assert_eq!(batch.segmentable_run(4, 7, 64), 3);
        assert_eq!(batch.segmentable_run(4, 5, 64), 1); // so does the end
        assert_eq!(batch.segmentable_run(4, 7, 2), 2); // and the most segments per send
        assert_eq!(batch.segmentable_run(4, 7, 1), 1);
        let mut empty = SendBatch::<4, 16>::new();
        empty.push(Some(a), &[]);
        empty.push(Some(a), &[]);
        assert_eq!(empty.segmentable_run(0, 2, 64), 1);
        // No more than 64 KiB in one send.
        let mut large = SendBatch::<4, 30_000>::new();
        for _ in 0..4 {
            large.push(Some(a), &[0; 30_000]);
        }
        assert_eq!(large.segmentable_run(0, 4, 64), 2);
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
        let peer: SocketAddr = "127.0.0.1:10".parse().unwrap();
        let mut batch = RecvBatch::<4, 256>::new();
        // A GRO buffer of 100-byte segments with a shorter last one, a plain datagram, an
        // empty datagram, and a plain datagram longer than a buffer (cut to it).
        for (i, (len, stride)) in [(250, 100), (30, 30), (0, 0), (300, 300)].into_iter().enumerate() {
            batch.metas[i].addr = from;
            batch.metas[i].len = len;
            batch.metas[i].stride = stride;
        }
        batch.bufs[0][..100].fill(1);
        batch.bufs[0][100..200].fill(2);
        batch.bufs[0][200..250].fill(3);
        batch.bufs[3].fill(4);
        batch.count = 4;
        let mut got = Vec::new();
        while let Some((source, bytes)) = batch.next(None) {
            assert_eq!(source, from);
            got.push((bytes.len(), bytes.first().copied()));
        }
        assert_eq!(
            got,
            [(100, Some(1)), (100, Some(2)), (50, Some(3)), (30, Some(0)), (0, None), (256, Some(4))]
        );
        assert!(!batch.has_next());
        // A connected socket's datagrams come from its peer.
        batch.next = 1;
        assert_eq!(batch.next(Some(peer)).unwrap().0, peer);
    }

    #[test]
    fn datagrams_sent_with_gso_come_back_whole_with_or_without_gro() {
        for gro in [true, false] {
            let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
            // quinn-udp asks for GRO; a plain socket has none.
            let rx_state = gro.then(|| UdpSocketState::new((&rx).into()).unwrap());
            if let Some(state) = &rx_state {
                assert_eq!(
                    state.gro_segments() > 1,
                    cfg!(target_os = "linux"),
                    "Linux 5.0 and later take UDP GRO"
                );
            }
            let (tx, tx_state) = quinn_socket("127.0.0.1:0");
            let to = rx.local_addr().unwrap();
            let mut out = SendBatch::<16, MAX_FRAME>::new();
            let len = |i: usize| if i == 10 { 99 } else { MAX_FRAME };
            for i in 0..11 {
                out.push(Some(to), &vec![i as u8; len(i)]);
            }
            out.send(&tx, &tx_state, None, 16, Err).unwrap();
            let expected: Vec<Vec<u8>> = (0..11).map(|i| vec![i as u8; len(i)]).collect();
            let from = tx.local_addr().unwrap();
            match &rx_state {
                Some(state) => {
                    let mut batch = RecvBatch::<4, 65536>::new();
                    let mut got = Vec::new();
                    let mut buffers = 0;
                    while got.len() < 11 {
                        receive(&mut batch, &rx, state);
                        buffers += batch.count;
                        while let Some((source, bytes)) = batch.next(None) {
                            assert_eq!(source, from);
                            got.push(bytes.to_vec());
                        }
                    }
                    assert_eq!(got, expected, "gro");
                    if cfg!(target_os = "linux") {
                        assert!(buffers < 11, "GRO coalesced the GSO send ({buffers} buffers)");
                    }
                }
                None => {
                    let got = read_n(&rx, 11);
                    assert!(got.iter().all(|(source, _)| *source == from));
                    let got: Vec<Vec<u8>> = got.into_iter().map(|(_, bytes)| bytes).collect();
                    assert_eq!(got, expected, "no gro");
                }
            }
        }
    }

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
        let start = Instant::now();
        rx.wait(Some(Duration::from_millis(20))).unwrap();
        assert!(rx.recv_from().unwrap().is_none());
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert_eq!(rx.blocked, 1);
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
        assert_eq!(rx.blocked, 0, "the socket never blocked");
        sender.join().unwrap();
    }

    #[test]
    fn busy_polling_stops_at_the_wait_timeout() {
        let mut rx = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        rx.set_busy_poll(Duration::from_secs(30));
        let start = Instant::now();
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
