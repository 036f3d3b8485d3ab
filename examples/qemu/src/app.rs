//! The firmware: parse the semihosting command line, bring up smoltcp on the board's NIC with
//! a static address, run one rudp transfer with the real engines and print its CRC-32C.
//!
//! - `recv`: receive one transfer on UDP port [`RECV_PORT`], print
//!   `rudp-fw: received <N> bytes crc32c <8 hex digits>`.
//! - `recv-flash [reset-after <BYTES>]` (boards with a [`FlashBoard`]): receive one image into
//!   the board's emulated NOR flash through rudp-nostd's flash sink, verified over what is read
//!   back, with resume; print `rudp-fw: committed <N> bytes crc32c <hex>` (the CRC-32C of what
//!   the flash holds). `reset-after` resets the board each time that many more bytes are
//!   durable since it booted.
//! - `send <N> <PORT>`: send `N` bytes of the test pattern to [`GATEWAY`]:`PORT` (QEMU's user
//!   network maps it to the host's 127.0.0.1), print `rudp-fw: sent <N> bytes crc32c <hex>`.
//!
//! The firmware only ever addresses [`GATEWAY`] or the peer that wrote to it. Exit code 0 on
//! success, 1 on any failure (printed as `rudp-fw: error: ...`).

use core::fmt;
use core::ptr::addr_of;

use cortex_m_semihosting::hprintln;
use embedded_storage::nor_flash::ReadNorFlash;
use rudp_nostd::blocking::{SinkReceiver, SourceSender};
use rudp_nostd::flash::{FlashSink, Layout};
use rudp_nostd::smoltcp_transport::{self, SmoltcpError};
use rudp_nostd::transport::Report;
use rudp_nostd::{
    DEFAULT_HALF_OPEN, Direction, Duration, Engine, Instant, Listener, ListenerConfig, ListenerEvent,
    MAX_FRAME, Receiver, ReceiverConfig, ReceiverEvent, Sender, SenderConfig, SenderEvent,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::udp;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};

use crate::clock;
use crate::digest::{CRC32C, DigestSink, PatternSource};
use crate::nor::{self, NorRam};
use crate::pio::{Nic, PioDevice};
use crate::semihost;

/// The firmware's address: QEMU user networking's default guest address.
pub const ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
/// The prefix length of [`ADDRESS`]'s network.
pub const PREFIX_LEN: u8 = 24;
/// The gateway, QEMU's alias for the host's loopback: the only address the firmware sends to
/// on its own.
pub const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
/// The UDP port `recv` listens on.
pub const RECV_PORT: u16 = 5555;
/// The local port `send` sends from.
pub const SEND_PORT: u16 = 49152;

/// The engines' window (SPEC §10.1): the sender keeps up to this many frames in flight (it has
/// as many frame buffers), the receiver has as many payload slots. It costs about `WINDOW` x
/// 530 bytes of RAM per engine, plus the socket buffers below; 1 would be plain stop-and-wait.
const WINDOW: usize = 8;
/// Datagrams each socket buffer holds either way: a whole window in flight, and room for a few
/// stray datagrams without pushing out the peer's.
const SOCKET_SLOTS: usize = WINDOW + 4;
/// Bytes of datagram payload per socket buffer.
const SOCKET_BYTES: usize = SOCKET_SLOTS * MAX_FRAME;
/// The longest command line read from the host.
const COMMAND_LINE_MAX: usize = 128;
/// Idle timeout of both engines (SPEC §6's default is 10 s): generous, because an emulated
/// board can be descheduled on a busy CI machine.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `recv` waits for a sender to connect.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(60);
/// After a successful transfer the receiver lingers to answer a repeated FIN; it stops as soon
/// as the sender's final ACK arrives, and at the latest after this (not the idle timeout: a
/// lost final ACK would keep the run waiting for no benefit). The sender repeats its FIN within
/// its maximum RTO of 2 s.
const RECV_LINGER_MAX: Duration = Duration::from_secs(5);
/// How long to keep the interface polling after the engine is done, so that its last frame
/// leaves the socket.
const FLUSH_MS: u64 = 50;

/// The board a binary runs on.
#[derive(Clone, Copy, Debug)]
pub struct Board {
    /// QEMU's machine name.
    pub name: &'static str,
}

/// Takes the board's emulated NOR flash (once), for `recv-flash`.
pub type FlashBoard = fn() -> Option<NorRam>;

/// What the command line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Receive one transfer on [`RECV_PORT`].
    Recv,
    /// Receive one image into the flash on [`RECV_PORT`]; reset after each `reset_after`
    /// more durable bytes.
    RecvFlash { reset_after: Option<u64> },
    /// Send `len` bytes of the pattern to [`GATEWAY`]:`port`.
    Send { len: u64, port: u16 },
}

/// What a transfer produced.
struct Outcome {
    /// Bytes that went through the sink or out of the source.
    len: u64,
    /// Their CRC-32C.
    crc: u32,
    /// Milliseconds from the handshake to the end of the data.
    elapsed_ms: u64,
    /// Frames the engine traced as DUP: retransmitted, or repeated and re-acknowledged.
    dups: u32,
    /// Datagrams the engine dropped.
    drops: u32,
}

/// Why a run failed.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// The engine gave up.
    Engine(rudp_nostd::Error),
    /// The engine closed without success and without saying why (not expected).
    Unfinished,
    /// smoltcp refused a datagram (the socket is unbound or the destination unspecified), or
    /// the socket is missing.
    Socket(SmoltcpError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Engine(error) => write!(f, "the transfer failed: {error}"),
            Failure::Unfinished => f.write_str("the transfer ended unfinished"),
            Failure::Socket(error) => write!(f, "the UDP socket: {error}"),
        }
    }
}

/// Runs the firmware on `device` and ends the QEMU run with its exit code; `recv-flash` fails
/// (the board has no RAM for the flash, and its binary no flash code).
pub fn run<N: Nic>(board: Board, device: &'static mut PioDevice<N>) -> ! {
    run_modes::<N, false>(board, device, None)
}

/// [`run`] on a board with an emulated NOR flash, which `recv-flash` takes with `flash`.
pub fn run_with_flash<N: Nic>(board: Board, device: &'static mut PioDevice<N>, flash: FlashBoard) -> ! {
    run_modes::<N, true>(board, device, Some(flash))
}

/// [`run`], with the flash code only where `FLASH` (a constant, so that a binary without a
/// flash links none of it).
fn run_modes<N: Nic, const FLASH: bool>(
    board: Board,
    device: &'static mut PioDevice<N>,
    flash: Option<FlashBoard>,
) -> ! {
    let mut line = [0u8; COMMAND_LINE_MAX];
    let mode = match semihost::command_line(&mut line).map(parse_mode) {
        Some(Ok(mode)) => mode,
        Some(Err(message)) => fail(message),
        None => fail("no command line: pass -semihosting-config enable=on,target=native,arg=..."),
    };
    let mac = device.nic().mac();
    hprintln!(
        "rudp-fw: {} up, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, IP {}/{}",
        board.name,
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5],
        ADDRESS,
        PREFIX_LEN
    );

    let seed = u64::from(clock::jitter()) << 32
        ^ clock::now_ms()
        ^ u64::from_le_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]);
    let mut config = Config::new(EthernetAddress(mac).into());
    config.random_seed = seed;
    let mut iface = Interface::new(config, device, smoltcp_now());
    iface.update_ip_addrs(|addrs| {
        // The list starts empty and holds at least one address.
        let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(ADDRESS), PREFIX_LEN));
    });
    if iface.routes_mut().add_default_ipv4_route(GATEWAY).is_err() {
        fail("no room for the default route");
    }

    let local_port = match mode {
        Mode::Recv | Mode::RecvFlash { .. } => RECV_PORT,
        Mode::Send { .. } => SEND_PORT,
    };
    let mut net = Net::new(iface, device, local_port);
    let result = match mode {
        Mode::Recv => receive(&mut net, seed),
        Mode::RecvFlash { reset_after } => {
            let flash = if FLASH { flash.and_then(|take| take()) } else { None };
            let Some(flash) = flash else {
                fail("recv-flash: this board has no emulated flash");
            };
            receive_flash(&mut net, seed, flash, reset_after)
        }
        Mode::Send { len, port } => send(&mut net, seed, len, port),
    };
    match result {
        Ok(outcome) => {
            let verb = match mode {
                Mode::Recv => "received",
                Mode::RecvFlash { .. } => "committed",
                Mode::Send { .. } => "sent",
            };
            hprintln!("rudp-fw: {} {} bytes crc32c {:08x}", verb, outcome.len, outcome.crc);
            let kib_per_s = outcome.len * 1000 / 1024 / outcome.elapsed_ms.max(1);
            hprintln!(
                "rudp-fw: {} ms on the firmware clock ({} KiB/s), {} duplicates, {} drops, stack {} bytes",
                outcome.elapsed_ms,
                kib_per_s,
                outcome.dups,
                outcome.drops,
                stack_used()
            );
            exit(true)
        }
        Err(failure) => {
            hprintln!("rudp-fw: error: {}", failure);
            exit(false)
        }
    }
}

/// Prints `message` as the firmware's error and exits 1.
fn fail(message: &str) -> ! {
    hprintln!("rudp-fw: error: {}", message);
    exit(false)
}

/// Prints the firmware clock's reading, for the host to compare with its own, and ends the run.
fn exit(ok: bool) -> ! {
    hprintln!("rudp-fw: uptime {} ms", clock::now_ms());
    semihost::exit(ok)
}

/// Parses `<program> recv`, `<program> recv-flash [reset-after <BYTES>]` or
/// `<program> send <N> <PORT>`.
fn parse_mode(line: &str) -> Result<Mode, &'static str> {
    const USAGE: &str =
        "usage: rudp-fw recv | rudp-fw recv-flash [reset-after <BYTES>] | rudp-fw send <N> <PORT>";
    let mut args = line.split_ascii_whitespace().skip(1);
    let mode = match args.next() {
        Some("recv") => Mode::Recv,
        Some("recv-flash") => match args.next() {
            None => Mode::RecvFlash { reset_after: None },
            Some("reset-after") => {
                let bytes = args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0).ok_or(USAGE)?;
                Mode::RecvFlash { reset_after: Some(bytes) }
            }
            Some(_) => return Err(USAGE),
        },
        Some("send") => {
            let len = args.next().and_then(|n| n.parse().ok()).ok_or(USAGE)?;
            let port = args.next().and_then(|p| p.parse().ok()).filter(|&p| p != 0).ok_or(USAGE)?;
            Mode::Send { len, port }
        }
        _ => return Err(USAGE),
    };
    match args.next() {
        None => Ok(mode),
        Some(_) => Err(USAGE),
    }
}

/// The smoltcp interface, the NIC and the one UDP socket, with static buffers.
struct Net<N: 'static> {
    iface: Interface,
    device: &'static mut PioDevice<N>,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
}

impl<N: Nic> Net<N> {
    /// One UDP socket bound to `port`.
    fn new(iface: Interface, device: &'static mut PioDevice<N>, port: u16) -> Net<N> {
        let rx_meta = cortex_m::singleton!(: [udp::PacketMetadata; SOCKET_SLOTS] = [udp::PacketMetadata::EMPTY; SOCKET_SLOTS]);
        let rx_data = cortex_m::singleton!(: [u8; SOCKET_BYTES] = [0; SOCKET_BYTES]);
        let tx_meta = cortex_m::singleton!(: [udp::PacketMetadata; SOCKET_SLOTS] = [udp::PacketMetadata::EMPTY; SOCKET_SLOTS]);
        let tx_data = cortex_m::singleton!(: [u8; SOCKET_BYTES] = [0; SOCKET_BYTES]);
        let storage = cortex_m::singleton!(: [SocketStorage<'static>; 1] = [SocketStorage::EMPTY; 1]);
        let (Some(rx_meta), Some(rx_data), Some(tx_meta), Some(tx_data), Some(storage)) =
            (rx_meta, rx_data, tx_meta, tx_data, storage)
        else {
            fail("network buffers taken twice");
        };
        let mut socket = udp::Socket::new(
            udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_data[..]),
            udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_data[..]),
        );
        if socket.bind(port).is_err() {
            fail("cannot bind the UDP socket");
        }
        let mut sockets = SocketSet::new(&mut storage[..]);
        let handle = sockets.add(socket);
        Net { iface, device, sockets, handle }
    }

    /// Lets the interface move frames: in from the NIC to the socket, out from the socket.
    fn poll_interface(&mut self) {
        self.iface.poll(smoltcp_now(), self.device, &mut self.sockets);
    }

    /// One turn of the crate's main loop ([`smoltcp_transport::poll`]): the interface takes in
    /// what arrived, the engine runs over the socket, the interface sends its replies at once.
    /// Application events go to `on_event`. This firmware has no interrupts and polls again at
    /// once, so it does not use the turn's wake-up time.
    fn poll<En>(
        &mut self,
        engine: &mut En,
        stats: &mut Stats,
        mut on_event: impl FnMut(En::Event),
    ) -> Result<(), Failure>
    where
        En: Engine<Endpoint = IpEndpoint>,
    {
        let now = Instant::from_micros(clock::now_us());
        let polled = smoltcp_transport::poll(
            &mut self.iface,
            &mut *self.device,
            &mut self.sockets,
            self.handle,
            engine,
            now,
            |report| match report {
                Report::Trace(trace) => stats.count(trace.direction, trace.dup),
                Report::Event(event) => on_event(event),
            },
        );
        polled.map(|_| ()).map_err(Failure::Socket)
    }

    /// Keeps the interface polling for [`FLUSH_MS`], so that the last frame leaves.
    fn flush(&mut self) {
        let until = clock::now_ms() + FLUSH_MS;
        while clock::now_ms() < until {
            self.poll_interface();
        }
    }
}

/// Trace counters.
#[derive(Default)]
struct Stats {
    dups: u32,
    drops: u32,
}

impl Stats {
    fn count(&mut self, direction: Direction, dup: bool) {
        match direction {
            Direction::Drop => self.drops += 1,
            Direction::Send if dup => self.dups += 1,
            Direction::Recv if dup => self.dups += 1,
            _ => {}
        }
    }
}

/// `recv`: one transfer into a digest sink.
fn receive<N: Nic>(net: &mut Net<N>, seed: u64) -> Result<Outcome, Failure> {
    let mut config = ReceiverConfig::new(seed);
    config.idle_timeout = IDLE_TIMEOUT;
    config.accept_timeout = Some(ACCEPT_TIMEOUT);
    let now = Instant::from_micros(clock::now_us());
    let mut receiver: SinkReceiver<DigestSink, IpEndpoint, WINDOW, DEFAULT_HALF_OPEN> =
        SinkReceiver::new(Receiver::new(config, now), DigestSink::new());
    hprintln!("rudp-fw: waiting on UDP port {}", RECV_PORT);

    let mut stats = Stats::default();
    let mut connected_at = None;
    let mut finished_at = None;
    let mut failed = None;
    while !receiver.is_done() {
        net.poll(&mut receiver, &mut stats, |event| match event {
            ReceiverEvent::Connected { .. } => connected_at = Some(clock::now_ms()),
            ReceiverEvent::Finished => finished_at = Some(clock::now_ms()),
            ReceiverEvent::Failed(error) => failed = Some(error),
            _ => {}
        })?;
        if let Some(at) = finished_at
            && clock::now_ms() >= at + RECV_LINGER_MAX.as_millis()
        {
            break;
        }
    }
    net.flush();
    if let Some(error) = failed {
        return Err(Failure::Engine(error));
    }
    if !receiver.has_succeeded() {
        return Err(Failure::Unfinished);
    }
    let sink = receiver.sink();
    let elapsed_ms = finished_at.unwrap_or(0).saturating_sub(connected_at.unwrap_or(0));
    Ok(Outcome { len: sink.len(), crc: sink.crc(), elapsed_ms, dups: stats.dups, drops: stats.drops })
}

/// Events kept from one turn of the main loop for the flash sink (the data events are not
/// needed: the loop takes what is readable after each turn).
const TURN_EVENTS: usize = 8;

/// `recv-flash`: one image into the flash, through a listener (a pool of one) whose admission
/// and application is rudp-nostd's flash sink: a transfer without a size or larger than the
/// image region is refused (reason 2, too large), one that the resume record holds the start
/// of is resumed. Failed transfers are logged and the listener waits for the next; the run ends
/// when an image is committed (or nothing connects for [`ACCEPT_TIMEOUT`]).
fn receive_flash<N: Nic>(
    net: &mut Net<N>,
    seed: u64,
    flash: NorRam,
    reset_after: Option<u64>,
) -> Result<Outcome, Failure> {
    let layout =
        Layout { image_start: 0, image_len: nor::IMAGE_LEN as u32, state_start: nor::IMAGE_LEN as u32 };
    let sink: FlashSink<NorRam> = match FlashSink::open(flash, layout) {
        Ok(sink) => sink,
        Err(error) => {
            hprintln!("rudp-fw: error: the flash sink: {}", error);
            exit(false)
        }
    };
    let record = *sink.record();
    // What a reset left: the durable start of an image, to be resumed.
    let booted_with = if record.is_committed() { 0 } else { record.durable() };
    if booted_with > 0 {
        hprintln!("rudp-fw: resumable {} bytes", booted_with);
    } else if let Some(len) = sink.committed() {
        hprintln!("rudp-fw: the flash holds a committed image of {} bytes", len);
    }
    let mut config = ReceiverConfig::new(seed);
    config.idle_timeout = IDLE_TIMEOUT;
    // The digest is taken over what is read back from the flash.
    config.hash_read_back = true;
    let now = Instant::from_micros(clock::now_us());
    let mut listener: Listener<IpEndpoint, FlashSink<NorRam>, 1, WINDOW> =
        Listener::new(ListenerConfig { receiver: config, ..ListenerConfig::new(seed) }, sink, now);
    hprintln!("rudp-fw: waiting on UDP port {}", RECV_PORT);

    let mut stats = Stats::default();
    let mut transfer = None;
    let mut connected_at = None;
    let mut finished_at: Option<u64> = None;
    let mut committed = None;
    let mut last_activity = clock::now_ms();
    loop {
        let now = Instant::from_micros(clock::now_us());
        let mut events = [None; TURN_EVENTS];
        let (mut kept, mut lost) = (0, false);
        net.poll(&mut listener, &mut stats, |event: ListenerEvent| {
            if matches!(event.event, ReceiverEvent::Delivered { .. }) {
                return;
            }
            match events.get_mut(kept) {
                Some(place) => *place = Some(event),
                None => lost = true,
            }
            kept += 1;
        })?;
        if lost {
            // A turn takes in at most a socket's datagrams, and few of them end or start a
            // transfer: not expected.
            fail("more transfer events in one turn than the loop keeps");
        }
        for event in events.into_iter().flatten() {
            last_activity = clock::now_ms();
            match event.event {
                ReceiverEvent::Connected { transfer_size, .. } => {
                    transfer = Some(event.id);
                    connected_at = Some(clock::now_ms());
                    let Some((rx, sink)) = listener.transfer_and_admit_mut(event.id) else { continue };
                    let from = rx.resume_from();
                    if from > 0 {
                        hprintln!("rudp-fw: resumed from {}", from);
                    }
                    if let Err(error) = sink.connected(rx, now, event.tag, transfer_size) {
                        hprintln!("rudp-fw: transfer refused: {}", error);
                    }
                }
                ReceiverEvent::Finished => {
                    let Some((rx, sink)) = listener.transfer_and_admit_mut(event.id) else { continue };
                    match sink.finished(rx, now) {
                        Ok(done) => {
                            committed = Some(done.len);
                            finished_at = Some(clock::now_ms());
                        }
                        Err(error) => hprintln!("rudp-fw: commit failed: {}", error),
                    }
                }
                ReceiverEvent::Failed(error) => {
                    hprintln!("rudp-fw: transfer failed: {}", error);
                    if let Err(error) = listener.admit_mut().failed(event.tag, error) {
                        hprintln!("rudp-fw: error: the flash: {}", error);
                        exit(false)
                    }
                }
                ReceiverEvent::Closed if committed.is_some() => {
                    listener.stop_accepting();
                }
                _ => {}
            }
        }
        if let Some((rx, sink)) = transfer.and_then(|id| listener.transfer_and_admit_mut(id)) {
            match sink.take(rx, now) {
                Ok(0) => {}
                Ok(_) => last_activity = clock::now_ms(),
                Err(error) => hprintln!("rudp-fw: transfer refused: {}", error),
            }
        }
        // Waiting for the network: erase ahead of the data.
        if let Err(error) = listener.admit_mut().erase_ahead() {
            hprintln!("rudp-fw: erase failed: {}", error);
        }
        if let Some(every) = reset_after {
            let durable = listener.admit_mut().record().durable();
            if committed.is_none() && durable >= booted_with.saturating_add(every) {
                hprintln!(
                    "rudp-fw: {} bytes durable, {} since boot: resetting",
                    durable,
                    durable - booted_with
                );
                cortex_m::peripheral::SCB::sys_reset();
            }
        }
        let now_ms = clock::now_ms();
        if listener.is_done() || finished_at.is_some_and(|at| now_ms >= at + RECV_LINGER_MAX.as_millis()) {
            break;
        }
        if committed.is_none()
            && listener.running() == 0
            && now_ms >= last_activity + ACCEPT_TIMEOUT.as_millis()
        {
            return Err(Failure::Unfinished);
        }
    }
    net.flush();
    let Some(len) = committed else { return Err(Failure::Unfinished) };
    // The CRC-32C of what the flash holds.
    let flash = listener.admit_mut().flash_mut();
    let mut digest = CRC32C.digest();
    let mut buf = [0u8; 512];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        let part = buf.get_mut(..n).unwrap_or(&mut []);
        if flash.read(at as u32, part).is_err() {
            fail("reading the image back");
        }
        digest.update(part);
        at += n as u64;
    }
    let elapsed_ms = finished_at.unwrap_or(0).saturating_sub(connected_at.unwrap_or(0));
    Ok(Outcome { len, crc: digest.finalize(), elapsed_ms, dups: stats.dups, drops: stats.drops })
}

/// `send`: `len` bytes of the pattern to the gateway's `port`.
fn send<N: Nic>(net: &mut Net<N>, seed: u64, len: u64, port: u16) -> Result<Outcome, Failure> {
    let mut config = SenderConfig::new(seed);
    config.timing.idle_timeout = IDLE_TIMEOUT;
    config.transfer_size = Some(len);
    let peer = IpEndpoint::new(IpAddress::Ipv4(GATEWAY), port);
    let now = Instant::from_micros(clock::now_us());
    let mut sender: SourceSender<_, _, WINDOW> =
        SourceSender::new(Sender::new(config, peer, now), PatternSource::new(len));
    hprintln!("rudp-fw: sending {} bytes to {}", len, peer);

    let mut stats = Stats::default();
    let mut connected_at = None;
    let mut finished_at = None;
    let mut failed = None;
    while !sender.is_done() {
        net.poll(&mut sender, &mut stats, |event| match event {
            SenderEvent::Connected { .. } => connected_at = Some(clock::now_ms()),
            SenderEvent::Finished => finished_at = Some(clock::now_ms()),
            SenderEvent::Failed(error) => failed = Some(error),
            _ => {}
        })?;
    }
    net.flush();
    if let Some(error) = failed {
        return Err(Failure::Engine(error));
    }
    if !sender.has_succeeded() {
        return Err(Failure::Unfinished);
    }
    let source = sender.into_parts().1;
    let read = source.read();
    let elapsed_ms = finished_at.unwrap_or(0).saturating_sub(connected_at.unwrap_or(0));
    Ok(Outcome { len: read.len(), crc: read.crc(), elapsed_ms, dups: stats.dups, drops: stats.drops })
}

/// smoltcp's clock: the same milliseconds.
fn smoltcp_now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(clock::now_us() as i64)
}

/// The deepest the stack has gone, from cortex-m-rt's paint (feature `paint-stack`): the
/// bytes between the top of RAM and the lowest word no longer holding the paint value.
fn stack_used() -> usize {
    unsafe extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
    }
    let top = addr_of!(_stack_start) as usize;
    let bottom = addr_of!(_stack_end) as usize;
    let mut addr = bottom;
    while addr < top {
        // SAFETY: between `_stack_end` and `_stack_start` lies the stack's RAM, word-aligned
        // (cortex-m-rt's linker script asserts both alignments).
        let word = unsafe { core::ptr::read_volatile(addr as *const u32) };
        if word != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        addr += 4;
    }
    top - addr
}
