//! `smoltcp-tap`: the rudp engines over smoltcp 0.13 on a Linux TAP device.
//!
//! This is the firmware's network path (smoltcp `Interface`, a UDP socket,
//! [`SmoltcpTransport`](rudp_nostd::smoltcp_transport::SmoltcpTransport) and the crate's
//! main-loop turn [`smoltcp_transport::poll`]) run on a
//! host: the TAP device
//! stands in for the board's Ethernet MAC, so the peer on the other side of it can be the
//! kernel's own UDP stack (`rudp send` / `rudp recv`). smoltcp does ARP; the address is static.
//!
//! ```text
//! smoltcp-tap --tap tap0 --ip 192.168.69.2/24 send 192.168.69.1 9000 file.bin
//! smoltcp-tap --tap tap0 --ip 192.168.69.2/24 recv 9000 copy.bin
//! ```
//!
//! Exit codes: 0 success; 1 failure, with one line on stderr; 2 usage error.

use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant as StdInstant;

use clap::{Parser, Subcommand};
use rudp_nostd::blocking::{SinkReceiver, SourceSender};
use rudp_nostd::smoltcp_transport;
use rudp_nostd::transport::Report;
use rudp_nostd::{
    Direction, Duration, Engine, Instant, MAX_FRAME, Receiver, ReceiverConfig, ReceiverEvent, Sender,
    SenderConfig, SenderEvent, Trace,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Medium, TunTapInterface};
use smoltcp::socket::udp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Cidr};

/// Datagrams each socket buffer holds, each way: one frame in flight plus room for a burst of
/// duplicates or junk (firmware would put these in static arrays).
const SOCKET_FRAMES: usize = 4;
/// The sender's local port is picked from this range (the IANA dynamic ports).
const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49_152..=65_535;

/// rudp (reliable file transfer over UDP) on smoltcp, attached to a Linux TAP device.
///
/// The TAP device must exist (`ip tuntap add dev tap0 mode tap`, as root) and the peer must
/// reach this stack's address through it.
#[derive(Parser, Debug)]
#[command(name = "smoltcp-tap", version, max_term_width = 100)]
struct Cli {
    /// The TAP device to attach to.
    #[arg(long, value_name = "NAME", default_value = "tap0")]
    tap: String,

    /// This stack's IPv4 address and prefix length on the TAP link.
    #[arg(long, value_name = "ADDR/LEN", value_parser = parse_cidr)]
    ip: Ipv4Cidr,

    /// Default IPv4 route, for peers beyond the TAP link.
    #[arg(long, value_name = "ADDR")]
    gateway: Option<Ipv4Addr>,

    /// This stack's Ethernet address (default: 02:00 followed by the IPv4 address).
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    mac: Option<EthernetAddress>,

    /// Give up when the peer sends nothing valid for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = secs)]
    idle_timeout: u64,

    /// Print a trace line (SPEC §8) on stderr for every frame sent, received or dropped.
    #[arg(short, long)]
    verbose: bool,

    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Send FILE to the receiver at PEER_IP:PORT.
    Send {
        /// The receiver's IPv4 address.
        peer: Ipv4Addr,
        /// The receiver's UDP port.
        #[arg(value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// The file to send.
        file: PathBuf,
    },
    /// Receive one transfer on PORT and write it to OUT_FILE.
    ///
    /// The data goes to OUT_FILE.part first, renamed to OUT_FILE once the transfer has
    /// succeeded; a failed transfer leaves neither.
    Recv {
        /// The UDP port to listen on.
        #[arg(value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// Where to write the data.
        out_file: PathBuf,
        /// Give up when no sender has connected within this many seconds (default: wait).
        #[arg(long, value_name = "SECS", value_parser = secs)]
        wait: Option<u64>,
    },
}

/// A whole number of seconds, at least one.
fn secs(s: &str) -> Result<u64, String> {
    s.parse().ok().filter(|&n| n > 0).ok_or(format!("not a whole number of seconds above zero: {s}"))
}

fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let (addr, len) = s.split_once('/').ok_or("expected ADDR/LEN, for example 192.168.69.2/24")?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| format!("not an IPv4 address: {addr}"))?;
    let len: u8 = len.parse().ok().filter(|&l| l <= 32).ok_or(format!("not a prefix length: {len}"))?;
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
        return Err(format!("not a host address: {addr}"));
    }
    Ok(Ipv4Cidr::new(addr, len))
}

fn parse_mac(s: &str) -> Result<EthernetAddress, String> {
    let mac: EthernetAddress = s.parse().map_err(|()| format!("not an Ethernet address: {s}"))?;
    if !mac.is_unicast() {
        return Err(format!("not a unicast Ethernet address: {s}"));
    }
    Ok(mac)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.mode {
        Mode::Send { peer, port, file } => send(&cli, *peer, *port, file),
        Mode::Recv { port, out_file, wait } => recv(&cli, *port, out_file, *wait),
    };
    match result {
        Ok(summary) => {
            eprintln!("smoltcp-tap: {summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("smoltcp-tap: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The host's monotonic clock, read once per turn and handed to smoltcp and to the engine
/// alike, so that both see the same `now`.
#[derive(Clone, Copy)]
struct Clock {
    origin: StdInstant,
}

impl Clock {
    fn micros(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

fn smol_instant(micros: u64) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// smoltcp on the TAP device, with one UDP socket.
struct Stack {
    tap: String,
    device: TunTapInterface,
    iface: Interface,
    sockets: SocketSet<'static>,
    udp: SocketHandle,
    clock: Clock,
}

impl Stack {
    /// Attaches to the TAP device named on the command line and binds the socket to `port`.
    fn open(cli: &Cli, port: u16, seed: u64) -> Result<Stack, String> {
        let tap = &cli.tap;
        let mut device = TunTapInterface::new(tap, Medium::Ethernet).map_err(|e| {
            format!("cannot attach to TAP device {tap}: {e} (as root: `ip tuntap add dev {tap} mode tap`)")
        })?;
        let clock = Clock { origin: StdInstant::now() };
        let [a, b, c, d] = cli.ip.address().octets();
        let mac = cli.mac.unwrap_or(EthernetAddress([0x02, 0x00, a, b, c, d]));
        let mut config = Config::new(HardwareAddress::Ethernet(mac));
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, smol_instant(clock.micros()));
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has room for several addresses; this is its first.
            let _ = addrs.push(IpCidr::Ipv4(cli.ip));
        });
        if let Some(gateway) = cli.gateway {
            iface
                .routes_mut()
                .add_default_ipv4_route(gateway)
                .map_err(|_| format!("cannot add a default route via {gateway}"))?;
        }
        let buffer = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; SOCKET_FRAMES],
                vec![0; SOCKET_FRAMES * MAX_FRAME],
            )
        };
        let mut socket = udp::Socket::new(buffer(), buffer());
        socket.bind(port).map_err(|e| format!("cannot bind UDP port {port}: {e}"))?;
        let mut sockets = SocketSet::new(vec![]);
        let udp = sockets.add(socket);
        Ok(Stack { tap: cli.tap.clone(), device, iface, sockets, udp, clock })
    }

    /// Runs `engine` until it is done, as a firmware main loop would: one turn of the crate's
    /// loop ([`smoltcp_transport::poll`]: the stack, the engine, the stack's egress), then sleep
    /// until a frame arrives or the turn's wake-up time (at once while the socket holds
    /// datagrams).
    fn run<En: Engine<Endpoint = IpEndpoint>>(
        &mut self,
        engine: &mut En,
        mut report: impl FnMut(Report<En::Event>),
    ) -> Result<(), String> {
        let fd = self.device.as_raw_fd();
        loop {
            let now = Instant::from_micros(self.clock.micros());
            let next = smoltcp_transport::poll(
                &mut self.iface,
                &mut self.device,
                &mut self.sockets,
                self.udp,
                engine,
                now,
                &mut report,
            )
            .map_err(|e| e.to_string())?;
            if engine.is_done() {
                return Ok(());
            }
            // Frames that arrive meanwhile stay on the fd, and end the wait at once.
            let wait = next.map(|at| smoltcp::time::Duration::from(at.saturating_since(now)));
            phy::wait(fd, wait).map_err(|e| format!("waiting on TAP device {}: {e}", self.tap))?;
        }
    }

    fn seconds(&self) -> f64 {
        self.clock.origin.elapsed().as_secs_f64()
    }
}

/// A std file as an `embedded_io` source or sink (rudp-nostd's `std` feature makes
/// `std::io::Error` an `embedded_io::Error`, but brings no adapter).
struct StdFile(File);

impl embedded_io::ErrorType for StdFile {
    type Error = io::Error;
}

impl embedded_io::Read for StdFile {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        io::Read::read(&mut self.0, buf)
    }
}

impl embedded_io::Write for StdFile {
    fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        io::Write::write(&mut self.0, buf)
    }

    fn flush(&mut self) -> Result<(), io::Error> {
        io::Write::flush(&mut self.0)
    }
}

/// Frames sent and how many of them were retransmissions.
#[derive(Default)]
struct FrameCount {
    sent: u64,
    retransmitted: u64,
}

impl FrameCount {
    fn count(&mut self, trace: &Trace, verbose: bool) {
        if verbose {
            eprintln!("{trace}");
        }
        if trace.direction == Direction::Send {
            self.sent += 1;
            self.retransmitted += u64::from(trace.dup);
        }
    }
}

/// A seed for the engine's and smoltcp's initial numbers: std's `RandomState` is keyed from the
/// OS's random source.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

fn send(cli: &Cli, peer: Ipv4Addr, port: u16, path: &Path) -> Result<String, String> {
    let name = path.display();
    let file = File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
    let size = file.metadata().map_err(|e| format!("cannot read {name}: {e}"))?.len();
    let seed = random_seed();
    let span = u64::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
    let local_port = EPHEMERAL_PORTS.start() + u16::try_from(seed % span).unwrap_or(0);
    let mut stack = Stack::open(cli, local_port, seed)?;

    let mut config = SenderConfig::new(seed.rotate_left(32));
    config.timing.idle_timeout = Duration::from_secs(cli.idle_timeout);
    config.transfer_size = Some(size);
    let to = IpEndpoint::new(IpAddress::Ipv4(peer), port);
    let mut sender = SourceSender::new(
        Sender::<_>::new(config, to, Instant::from_micros(stack.clock.micros())),
        StdFile(file),
    );
    let mut frames = FrameCount::default();
    let mut acknowledged = 0u64;
    let mut failure = None;
    stack.run(&mut sender, |report| match report {
        Report::Trace(trace) => frames.count(&trace, cli.verbose),
        Report::Event(SenderEvent::Acknowledged { bytes }) => acknowledged += u64::from(bytes),
        Report::Event(SenderEvent::Failed(error)) => failure = Some(error),
        Report::Event(SenderEvent::Connected { .. } | SenderEvent::Finished | SenderEvent::Closed) => {}
    })?;
    if !sender.has_succeeded() {
        let error = failure.map_or_else(|| "sender stopped".to_string(), |e| e.to_string());
        return Err(format!("sending {name} to {to} failed: {error}"));
    }
    Ok(format!(
        "sent {acknowledged} bytes of {name} to {to} in {:.2} s ({} frames, {} retransmitted)",
        stack.seconds(),
        frames.sent,
        frames.retransmitted
    ))
}

fn recv(cli: &Cli, port: u16, out: &Path, wait: Option<u64>) -> Result<String, String> {
    let name = out.display();
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let file = File::create(&part).map_err(|e| format!("cannot create {}: {e}", part.display()))?;
    let seed = random_seed();
    let result = receive_into(cli, port, file, wait, seed);
    let committed = result.and_then(|(file, summary)| {
        file.sync_all().map_err(|e| format!("cannot write {name}: {e}"))?;
        fs::rename(&part, out).map_err(|e| format!("cannot rename {} to {name}: {e}", part.display()))?;
        Ok(format!("{summary} into {name}"))
    });
    if committed.is_err() {
        let _ = fs::remove_file(&part);
    }
    committed
}

/// Receives one transfer into `file`; gives the file back once the transfer has succeeded.
fn receive_into(
    cli: &Cli,
    port: u16,
    file: File,
    wait: Option<u64>,
    seed: u64,
) -> Result<(File, String), String> {
    let mut stack = Stack::open(cli, port, seed)?;
    let config = ReceiverConfig {
        idle_timeout: Duration::from_secs(cli.idle_timeout),
        accept_timeout: wait.map(Duration::from_secs),
        ..ReceiverConfig::new(seed.rotate_left(32))
    };
    // Flushing the file commits it (`Commit::Flush`): the FIN is answered then.
    let mut receiver: SinkReceiver<StdFile, IpEndpoint> =
        SinkReceiver::new(Receiver::new(config, Instant::from_micros(stack.clock.micros())), StdFile(file));
    eprintln!("smoltcp-tap: listening on {}:{port} ({})", cli.ip.address(), cli.tap);
    let mut frames = FrameCount::default();
    let mut delivered = 0u64;
    let mut failure = None;
    stack.run(&mut receiver, |report| match report {
        Report::Trace(trace) => frames.count(&trace, cli.verbose),
        Report::Event(ReceiverEvent::Delivered { bytes }) => delivered += u64::from(bytes),
        Report::Event(ReceiverEvent::Failed(error)) => failure = Some(error),
        Report::Event(ReceiverEvent::Connected { .. } | ReceiverEvent::Finished | ReceiverEvent::Closed) => {}
    })?;
    if !receiver.has_succeeded() {
        let error = failure.map_or_else(|| "receiver stopped".to_string(), |e| e.to_string());
        return Err(format!("receiving on port {port} failed: {error}"));
    }
    let summary = format!(
        "received {delivered} bytes in {:.2} s ({} frames sent, {} repeated)",
        stack.seconds(),
        frames.sent,
        frames.retransmitted
    );
    Ok((receiver.into_parts().1.0, summary))
}
