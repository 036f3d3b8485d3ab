//! `embassy-tap`: the rudp engines over embassy-net on a Linux TAP device.
//!
//! This is an embassy application's network path (an embassy-net `Stack` whose `Runner` runs
//! in a task of its own, one UDP socket, and the crate's one-call driver
//! [`rudp_nostd::embassy`]) run on a host: embassy-executor on std, embassy-time's std clock,
//! and `embassy-net-tuntap` standing in for the board's Ethernet MAC, so the peer on the other
//! side of the TAP can be the kernel's own UDP stack (`rudp send` / `rudp recv`). smoltcp,
//! inside embassy-net, does ARP; the address is static.
//!
//! ```text
//! embassy-tap --tap tap0 --ip 192.168.69.2/24 send 192.168.69.1 9000 file.bin
//! embassy-tap --tap tap0 --ip 192.168.69.2/24 recv 9000 copy.bin
//! ```
//!
//! Exit codes: 0 success; 1 failure, with one line on stderr; 2 usage error.

use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Instant as StdInstant;

use clap::{Parser, Subcommand, ValueEnum};
use embassy_executor::Spawner;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{Config, IpAddress, IpEndpoint, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use rudp_nostd::embassy;
use rudp_nostd::transport::Report;
use rudp_nostd::{
    DigestAlgorithm, Direction, Duration, MAX_FRAME, MAX_WINDOW, Receiver, ReceiverConfig, ReceiverEvent,
    Sender, SenderConfig, SenderEvent, Trace,
};

/// The engines' window: frame buffers in the sender, payload slots in the receiver.
const WINDOW: usize = MAX_WINDOW as usize / 2;
/// Datagrams each socket buffer holds, each way: a whole window and room for a burst of
/// duplicates or junk (firmware would put these in static arrays).
const SOCKET_FRAMES: usize = WINDOW + 8;
/// The sender's local port is picked from this range (the IANA dynamic ports).
const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49_152..=65_535;

/// rudp (reliable file transfer over UDP) on embassy-net, attached to a Linux TAP device.
///
/// The TAP device must exist (`ip tuntap add dev tap0 mode tap`, as root) and the peer must
/// reach this stack's address through it.
#[derive(Parser, Debug)]
#[command(name = "embassy-tap", version, max_term_width = 100)]
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
    mac: Option<[u8; 6]>,

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
        /// Offer up to W data frames in flight (1: stop-and-wait).
        #[arg(long, value_name = "W", default_value_t = WINDOW as u8,
              value_parser = clap::value_parser!(u8).range(1..=WINDOW as i64))]
        window: u8,
        /// The whole-object digest to offer.
        #[arg(long, value_enum, default_value_t = Digest::Crc32c)]
        digest: Digest,
    },
    /// Receive one transfer on PORT and write it to OUT_FILE.
    ///
    /// The data goes to OUT_FILE.part first, synced before the FIN is answered and renamed to
    /// OUT_FILE once the transfer has succeeded; a failed transfer leaves neither. A digest
    /// the sender offers is verified.
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

/// A digest the sender offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Digest {
    Crc32c,
    Sha256,
    None,
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

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or(format!("not an Ethernet address: {s}"))?;
        *byte = u8::from_str_radix(part, 16).map_err(|_| format!("not an Ethernet address: {s}"))?;
    }
    if parts.next().is_some() {
        return Err(format!("not an Ethernet address: {s}"));
    }
    // smoltcp takes only a unicast address (the lowest bit of the first byte clear).
    if mac[0] & 1 == 1 {
        return Err(format!("not a unicast Ethernet address: {s}"));
    }
    Ok(mac)
}

/// The stack's runner: frames in and out of the TAP device, ARP, timers.
#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, TunTapDevice>) -> ! {
    runner.run().await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    // Usage errors exit 2 (clap's own exit).
    let cli = Cli::parse();
    let code = match run(&cli, spawner).await {
        Ok(summary) => {
            eprintln!("embassy-tap: {summary}");
            0
        }
        Err(message) => {
            eprintln!("embassy-tap: error: {message}");
            1
        }
    };
    // The executor never returns: the transfer's task ends the process.
    std::process::exit(code)
}

async fn run(cli: &Cli, spawner: Spawner) -> Result<String, String> {
    let seed = random_seed();
    let stack = start(cli, spawner, seed)?;
    stack.wait_config_up().await;
    match &cli.mode {
        Mode::Send { peer, port, file, window, digest } => {
            send(cli, stack, *peer, *port, file, *window, *digest, seed).await
        }
        Mode::Recv { port, out_file, wait } => recv(cli, stack, *port, out_file, *wait, seed).await,
    }
}

/// Attaches to the TAP device named on the command line, and starts the stack's runner task.
fn start(cli: &Cli, spawner: Spawner, seed: u64) -> Result<Stack<'static>, String> {
    let tap = &cli.tap;
    let mut device = TunTapDevice::new(tap).map_err(|e| {
        format!("cannot attach to TAP device {tap}: {e} (as root: `ip tuntap add dev {tap} mode tap`)")
    })?;
    let [a, b, c, d] = cli.ip.address().octets();
    device.set_hardware_address(cli.mac.unwrap_or([0x02, 0x00, a, b, c, d]));
    let config = Config::ipv4_static(StaticConfigV4 {
        address: cli.ip,
        gateway: cli.gateway,
        dns_servers: Default::default(),
    });
    // The stack lives as long as the process (a firmware would use a StaticCell).
    let resources = Box::leak(Box::new(StackResources::<2>::new()));
    let (stack, runner) = embassy_net::new(device, config, resources, seed);
    spawner.spawn(net_task(runner).map_err(|e| format!("cannot start the network task: {e:?}"))?);
    Ok(stack)
}

/// Socket buffers, `SOCKET_FRAMES` whole frames each way.
struct Buffers {
    rx_meta: Vec<PacketMetadata>,
    rx: Vec<u8>,
    tx_meta: Vec<PacketMetadata>,
    tx: Vec<u8>,
}

impl Buffers {
    fn new() -> Buffers {
        Buffers {
            rx_meta: vec![PacketMetadata::EMPTY; SOCKET_FRAMES],
            rx: vec![0; SOCKET_FRAMES * MAX_FRAME],
            tx_meta: vec![PacketMetadata::EMPTY; SOCKET_FRAMES],
            tx: vec![0; SOCKET_FRAMES * MAX_FRAME],
        }
    }

    /// A UDP socket on `stack` bound to `port`.
    fn socket<'a>(&'a mut self, stack: Stack<'a>, port: u16) -> Result<UdpSocket<'a>, String> {
        let mut socket =
            UdpSocket::new(stack, &mut self.rx_meta, &mut self.rx, &mut self.tx_meta, &mut self.tx);
        socket.bind(port).map_err(|e| format!("cannot bind UDP port {port}: {e:?}"))?;
        Ok(socket)
    }
}

/// A std file as an `embedded_io_async` source or sink. Its calls block (a local file answers
/// at once); a firmware's async flash driver would await instead, and the driver with it.
struct AsyncFile(File);

impl embedded_io_async::ErrorType for AsyncFile {
    type Error = io::Error;
}

impl embedded_io_async::Read for AsyncFile {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        io::Read::read(&mut self.0, buf)
    }
}

impl embedded_io_async::Write for AsyncFile {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        io::Write::write(&mut self.0, buf)
    }

    /// Commits: the data is on the disk before the FIN is answered.
    async fn flush(&mut self) -> Result<(), io::Error> {
        self.0.sync_all()
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

/// What verified the content, for the summary.
fn verified(digest: Option<DigestAlgorithm>) -> String {
    match digest {
        Some(digest) => format!("verified with {digest}"),
        None => "not verified (no digest agreed)".into(),
    }
}

/// A seed for the engine's and the stack's initial numbers: std's `RandomState` is keyed from
/// the OS's random source.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[allow(clippy::too_many_arguments)]
async fn send(
    cli: &Cli,
    stack: Stack<'static>,
    peer: Ipv4Addr,
    port: u16,
    path: &Path,
    window: u8,
    digest: Digest,
    seed: u64,
) -> Result<String, String> {
    let name = path.display();
    let file = File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
    let size = file.metadata().map_err(|e| format!("cannot read {name}: {e}"))?.len();
    let span = u64::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
    let local_port = EPHEMERAL_PORTS.start() + u16::try_from(seed % span).unwrap_or(0);
    let mut buffers = Buffers::new();
    let mut socket = buffers.socket(stack, local_port)?;

    let mut config = SenderConfig::new(seed.rotate_left(32));
    config.timing.idle_timeout = Duration::from_secs(cli.idle_timeout);
    config.transfer_size = Some(size);
    config.window = window;
    config.digest = match digest {
        Digest::Crc32c => Some(DigestAlgorithm::Crc32c),
        Digest::Sha256 => Some(DigestAlgorithm::Sha256),
        Digest::None => None,
    };
    let to = IpEndpoint::new(IpAddress::Ipv4(peer), port);
    let mut sender: Sender<IpEndpoint, WINDOW> = Sender::new(config, to, embassy::now());
    let mut source = AsyncFile(file);
    let mut frames = FrameCount::default();
    let mut acknowledged = 0u64;
    let started = StdInstant::now();
    let result = embassy::send(&mut socket, &mut sender, &mut source, |report| match report {
        Report::Trace(trace) => frames.count(&trace, cli.verbose),
        Report::Event(SenderEvent::Acknowledged { bytes }) => acknowledged += u64::from(bytes),
        Report::Event(_) => {}
    })
    .await;
    result.map_err(|e| format!("sending {name} to {to} failed: {e}"))?;
    Ok(format!(
        "sent {acknowledged} bytes of {name} to {to} in {:.2} s ({} frames, {} retransmitted), \
         window {} granted, {}",
        started.elapsed().as_secs_f64(),
        frames.sent,
        frames.retransmitted,
        sender.window(),
        verified(sender.digest())
    ))
}

async fn recv(
    cli: &Cli,
    stack: Stack<'static>,
    port: u16,
    out: &Path,
    wait: Option<u64>,
    seed: u64,
) -> Result<String, String> {
    let name = out.display();
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let file = File::create(&part).map_err(|e| format!("cannot create {}: {e}", part.display()))?;
    let result = receive_into(cli, stack, port, file, wait, seed).await;
    let committed = result.and_then(|summary| {
        fs::rename(&part, out).map_err(|e| format!("cannot rename {} to {name}: {e}", part.display()))?;
        Ok(format!("{summary} into {name}"))
    });
    if committed.is_err() {
        let _ = fs::remove_file(&part);
    }
    committed
}

/// Receives one transfer into `file` (synced by the driver's flush before the FIN is
/// answered).
async fn receive_into(
    cli: &Cli,
    stack: Stack<'static>,
    port: u16,
    file: File,
    wait: Option<u64>,
    seed: u64,
) -> Result<String, String> {
    let mut buffers = Buffers::new();
    let mut socket = buffers.socket(stack, port)?;
    let config = ReceiverConfig {
        idle_timeout: Duration::from_secs(cli.idle_timeout),
        accept_timeout: wait.map(Duration::from_secs),
        ..ReceiverConfig::new(seed.rotate_left(32))
    };
    let mut receiver: Receiver<IpEndpoint, WINDOW> = Receiver::new(config, embassy::now());
    let mut sink = AsyncFile(file);
    eprintln!("embassy-tap: listening on {}:{port} ({})", cli.ip.address(), cli.tap);
    let mut frames = FrameCount::default();
    let mut delivered = 0u64;
    let mut started = None;
    let result = embassy::receive(&mut socket, &mut receiver, &mut sink, |report| match report {
        Report::Trace(trace) => frames.count(&trace, cli.verbose),
        Report::Event(ReceiverEvent::Connected { .. }) => started = Some(StdInstant::now()),
        Report::Event(ReceiverEvent::Delivered { bytes }) => delivered += u64::from(bytes),
        Report::Event(_) => {}
    })
    .await;
    result.map_err(|e| format!("receiving on port {port} failed: {e}"))?;
    Ok(format!(
        "received {delivered} bytes in {:.2} s ({} frames sent, {} repeated), {}",
        started.map_or(0.0, |at| at.elapsed().as_secs_f64()),
        frames.sent,
        frames.retransmitted,
        verified(receiver.digest())
    ))
}
