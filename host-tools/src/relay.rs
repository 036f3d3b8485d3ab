//! `rudp relay`: a UDP impairment proxy, for testing rudp on machines without netem.
//!
//! The relay listens on one socket for its client and talks to the server from a second socket
//! connected to it. Each direction runs two threads: a receiver that blocks in `recv` (with a
//! 100 ms timeout, to notice Ctrl-C) and decides each datagram's fate, and a sender that sleeps
//! on a condition variable until the earliest queued datagram is due and then sends it. The
//! queue is a binary heap ordered by due time, capped in datagrams and bytes.
//!
//! Every decision comes from a seeded SplitMix64 generator, one per direction, that draws the
//! same number of values for every datagram: the fate of the n-th datagram of a direction
//! depends only on the seed and n, so a run is reproducible whatever the thread timing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;

use crate::Failure;
use crate::clock::random_seed;
use crate::driver::interrupt_flag;
use crate::duration::{parse_duration, parse_probability};
use rudp_nostd::random::SplitMix64;

/// How often blocked threads look at the interrupt flag.
const POLL: Duration = Duration::from_millis(100);
/// The most datagrams waiting in one direction; more are dropped (and counted).
const MAX_QUEUED: usize = 10_000;
/// The most bytes waiting in one direction; more are dropped (and counted).
const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;
/// Big enough for any UDP payload, so that nothing is cut short.
const RECV_BUF: usize = 65_536;
/// Added to the delay before scaling a reordered datagram's hold-back, so that reordering
/// works with no --delay too.
const REORDER_BASE: Duration = Duration::from_millis(5);

/// The rest of `rudp relay --help`.
const AFTER_HELP: &str = "\
This is a test tool. The first peer that writes to --listen becomes the client; datagrams \
from any other source are dropped and counted (with --follow-client, a new source becomes the \
client instead). The client's datagrams go to --to from a \
separate socket, and the server's replies go back to the client from --listen. Both \
directions are impaired independently with the same settings. Probabilities accept 0.1 or \
10%; durations need a unit (500us, 20ms, 1s).

All randomness comes from --seed: the same seed and the same traffic give the same \
decisions. The relay runs until Ctrl-C or SIGTERM, then prints its counters on stderr.

Example: a receiver on port 9000, and a sender that goes through a lossy, slow link:

  rudp recv 9000 -o copy.bin
  rudp relay --listen 127.0.0.1:9001 --to 127.0.0.1:9000 --loss 10% --delay 20ms --jitter 5ms
  rudp send 127.0.0.1 9001 file.bin";

/// Forward UDP between one client and one server, dropping, duplicating, reordering and
/// delaying datagrams at random: a test tool for links without netem.
// `--help` shows the one-line description from main.rs's `Command::Relay`, then AFTER_HELP.
#[derive(Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct RelayArgs {
    // This text is clap's help, where brackets are an IPv6 address, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    /// Where the client sends to, e.g. 127.0.0.1:9001, [::1]:9001 or localhost:9001 (port 0
    /// picks a free port; the start-up line shows it). The first peer that writes here is the
    /// client; datagrams from anyone else are dropped and counted.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: String,

    /// The server to forward to, e.g. 127.0.0.1:9000 or receiver.example:9000.
    #[arg(long, value_name = "ADDR:PORT")]
    pub to: String,

    /// Probability of dropping each datagram: 0.1 or 10%.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_probability)]
    pub loss: f64,

    /// Probability of sending a datagram twice: 0.1 or 10%.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_probability)]
    pub dup: f64,

    /// Probability of holding a datagram back so that later ones overtake it (an extra 1 to 3
    /// times delay + jitter + 5ms): 0.1 or 10%.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_probability)]
    pub reorder: f64,

    /// Probability of damaging a datagram from the client to the server (the data's way; the
    /// replies pass unharmed): one byte of its payload, after the 12-byte header, inverted;
    /// datagrams without a payload pass unharmed. 0.1 or 10%.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_probability)]
    pub corrupt: f64,

    /// Delay every datagram by this much, e.g. 50ms or 1s.
    #[arg(long, value_name = "DUR", default_value = "0s", value_parser = parse_duration)]
    pub delay: Duration,

    /// Add a uniformly random 0 to DUR on top of --delay (datagrams can then overtake each
    /// other too).
    #[arg(long, value_name = "DUR", default_value = "0s", value_parser = parse_duration)]
    pub jitter: Duration,

    /// Seed for the random decisions [default: random, printed at start].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// A datagram from a new source makes it the client (the replies go there from then on)
    /// instead of being dropped: for a sender that starts again from a new port, as `rudp send
    /// --retries` does after a failure.
    #[arg(long)]
    pub follow_client: bool,
}

/// The relay's client: the first peer that writes to `--listen` or, with `--follow-client`,
/// the latest.
#[derive(Debug, Default)]
struct Client {
    addr: Mutex<Option<SocketAddr>>,
    follow: bool,
    /// How many times another source became the client (`--follow-client`).
    changes: std::sync::atomic::AtomicU64,
}

impl Client {
    /// Whether a datagram from `source` is the client's: the first source becomes the client,
    /// and with `follow` any new one does.
    fn admit(&self, source: SocketAddr) -> bool {
        let mut addr = self.addr.lock().unwrap_or_else(|e| e.into_inner());
        match *addr {
            Some(client) if client == source => true,
            Some(_) if !self.follow => false,
            Some(_) => {
                self.changes.fetch_add(1, Ordering::Relaxed);
                *addr = Some(source);
                true
            }
            None => {
                *addr = Some(source);
                true
            }
        }
    }

    /// The client, once one wrote.
    fn get(&self) -> Option<SocketAddr> {
        *self.addr.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The impairments, applied to each direction.
#[derive(Clone, Copy, Debug)]
struct Impairment {
    loss: f64,
    dup: f64,
    reorder: f64,
    corrupt: f64,
    delay: Duration,
    jitter: Duration,
}

/// What happens to one datagram.
#[derive(Debug, PartialEq)]
enum Fate {
    Drop,
    /// Send after this long; twice if `dup`; `reordered` if held back on purpose; with the
    /// payload byte at this fraction of the payload inverted if `corrupt`.
    Send {
        after: Duration,
        dup: bool,
        reordered: bool,
        corrupt: Option<f64>,
    },
}

/// Inverts the payload byte at `fraction` (0 to 1) of the payload, if there is a payload.
fn damage(datagram: &mut [u8], fraction: f64) -> bool {
    let payload = datagram.len().saturating_sub(rudp_nostd::HEADER_LEN);
    if payload == 0 {
        return false;
    }
    let at = rudp_nostd::HEADER_LEN + ((payload as f64 * fraction) as usize).min(payload - 1);
    datagram[at] ^= 0xff;
    true
}

impl Impairment {
    /// Decides a datagram's fate, always drawing seven values so that the n-th datagram's
    /// fate depends on the seed and n only (not on the other settings' outcomes).
    fn decide(&self, rng: &mut Rng) -> Fate {
        let lose = rng.chance(self.loss);
        let dup = rng.chance(self.dup);
        let reordered = rng.chance(self.reorder);
        let jitter = rng.up_to(self.jitter);
        let scale = 1.0 + 2.0 * rng.unit();
        let corrupt = rng.chance(self.corrupt);
        let position = rng.unit();
        if lose {
            return Fate::Drop;
        }
        let mut after = self.delay.saturating_add(jitter);
        if reordered {
            let base = self.delay.saturating_add(self.jitter).saturating_add(REORDER_BASE);
            after = after.saturating_add(base.mul_f64(scale));
        }
        Fate::Send { after, dup, reordered, corrupt: corrupt.then_some(position) }
    }
}

/// The relay's decisions: rudp's seeded SplitMix64, with the draws a relay needs.
#[derive(Clone, Debug)]
struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (never for 0, always for 1).
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in [0, max], to the nanosecond.
    fn up_to(&mut self, max: Duration) -> Duration {
        let r = self.next_u64();
        let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(match max.checked_add(1) {
            Some(n) => r % n,
            None => r,
        })
    }
}

/// A direction of traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    /// Each direction's generator starts from its own seed derived from the user's.
    fn rng(self, seed: u64) -> Rng {
        match self {
            Direction::ClientToServer => Rng::new(seed),
            Direction::ServerToClient => Rng::new(seed ^ 0xD1B5_4A32_D192_ED03),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::ClientToServer => "client->server",
            Direction::ServerToClient => "server->client",
        })
    }
}

/// A queued datagram: when it is due, its sequence number and its bytes.
type Pending = (Instant, u64, Box<[u8]>);

/// Datagrams waiting to be sent in one direction.
#[derive(Debug, Default)]
struct Queue {
    /// Earliest due first; the sequence number keeps equal due times in arrival order.
    heap: BinaryHeap<Reverse<Pending>>,
    bytes: usize,
    next_seq: u64,
    /// The receiver has stopped: the sender stops too.
    closed: bool,
}

impl Queue {
    /// Queues a datagram; false (and nothing queued) if the queue is full.
    fn push(&mut self, due: Instant, data: &[u8]) -> bool {
        if self.heap.len() >= MAX_QUEUED || self.bytes + data.len() > MAX_QUEUED_BYTES {
            return false;
        }
        self.bytes += data.len();
        self.heap.push(Reverse((due, self.next_seq, data.into())));
        self.next_seq += 1;
        true
    }
}

/// A queue shared by a direction's receiver and sender.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A poisoned lock means the other thread panicked; the queue itself is still sound.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a direction's receiver counted.
#[derive(Debug, Default)]
struct Received {
    received: u64,
    dropped: u64,
    duplicated: u64,
    reordered: u64,
    corrupted: u64,
    queue_full: u64,
    /// Server datagrams that came before any client did (server->client only).
    no_client: u64,
    /// Datagrams on the listen socket from someone other than the client.
    foreign: u64,
}

/// What a direction's sender counted.
#[derive(Debug, Default)]
struct Sent {
    forwarded: u64,
    send_errors: u64,
    unsent_at_exit: u64,
}

/// One direction's socket ends: where datagrams come from and where they go.
struct Ends {
    direction: Direction,
    /// Listen socket (client->server) or upstream socket (server->client).
    from: UdpSocket,
    /// Upstream socket (client->server) or listen socket (server->client).
    to: UdpSocket,
}

/// Errors that are part of UDP life: a timeout, a signal, or an ICMP error for an earlier
/// datagram (reported on a later call; Windows reports it even on unconnected sockets).
fn benign(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    )
}

/// Receives datagrams, decides their fates and queues them, until `stop`.
fn receive(
    ends: &Ends,
    shared: &Shared,
    client: &Client,
    impairment: Impairment,
    mut rng: Rng,
    stop: &AtomicBool,
) -> anyhow::Result<Received> {
    let mut counts = Received::default();
    let mut buf = vec![0u8; RECV_BUF];
    ends.from.set_read_timeout(Some(POLL))?;
    while !stop.load(Ordering::SeqCst) {
        let (len, source) = match ends.from.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if benign(&e) => continue,
            Err(e) => return Err(anyhow!(e).context(format!("{}: receive failed", ends.direction))),
        };
        let now = Instant::now();
        match ends.direction {
            Direction::ClientToServer => {
                if !client.admit(source) {
                    counts.foreign += 1;
                    continue;
                }
            }
            Direction::ServerToClient => {
                if client.get().is_none() {
                    counts.no_client += 1;
                    continue;
                }
            }
        }
        counts.received += 1;
        let (after, dup, reordered, corrupt) = match impairment.decide(&mut rng) {
            Fate::Drop => {
                counts.dropped += 1;
                continue;
            }
            Fate::Send { after, dup, reordered, corrupt } => (after, dup, reordered, corrupt),
        };
        let due = now + after;
        if let Some(fraction) = corrupt
            && damage(&mut buf[..len], fraction)
        {
            counts.corrupted += 1;
        }
        let data = &buf[..len];
        let mut queue = shared.lock();
        if !queue.push(due, data) {
            counts.queue_full += 1;
            continue;
        }
        if reordered {
            counts.reordered += 1;
        }
        if dup && queue.push(due, data) {
            counts.duplicated += 1;
        }
        drop(queue);
        shared.ready.notify_one();
    }
    Ok(counts)
}

/// Sends queued datagrams when they are due, until the receiver closes the queue.
fn send(ends: &Ends, shared: &Shared, client: &Client) -> Sent {
    let mut counts = Sent::default();
    let mut queue = shared.lock();
    loop {
        if queue.closed {
            counts.unsent_at_exit = queue.heap.len() as u64;
            return counts;
        }
        let now = Instant::now();
        let wait = match queue.heap.peek() {
            Some(Reverse((due, _, _))) if *due <= now => None,
            Some(Reverse((due, _, _))) => Some((*due - now).min(POLL)),
            None => Some(POLL),
        };
        if let Some(wait) = wait {
            queue = shared.ready.wait_timeout(queue, wait).unwrap_or_else(|e| e.into_inner()).0;
            continue;
        }
        let Some(Reverse((_, _, data))) = queue.heap.pop() else { continue };
        queue.bytes -= data.len();
        drop(queue);
        let result = match ends.direction {
            Direction::ClientToServer => ends.to.send(&data),
            // A server->client datagram is only queued once the client is known.
            Direction::ServerToClient => match client.get() {
                Some(client) => ends.to.send_to(&data, client),
                None => Err(io::ErrorKind::NotConnected.into()),
            },
        };
        match result {
            Ok(_) => counts.forwarded += 1,
            Err(_) => counts.send_errors += 1,
        }
        queue = shared.lock();
    }
}

/// Resolves `text` (ADDR:PORT) for the option `option`.
fn resolve(option: &str, text: &str) -> anyhow::Result<SocketAddr> {
    let mut addrs = text.to_socket_addrs().map_err(|e| match e.kind() {
        io::ErrorKind::InvalidInput => {
            anyhow!("{option} {text}: expected ADDR:PORT, e.g. 127.0.0.1:9000 ({e})")
        }
        _ => anyhow!("cannot resolve {option} {text}: {e}"),
    })?;
    addrs.next().ok_or_else(|| anyhow!("cannot resolve {option} {text}: no address"))
}

/// What one direction counted.
type Counts = (Direction, Received, Sent);

/// Starts one direction: a thread that runs the receiver and, in a second thread, the
/// sender. A receive failure sets `stop`, so that the other direction stops too.
fn spawn_direction(
    ends: Ends,
    client: Arc<Client>,
    impairment: Impairment,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> io::Result<thread::JoinHandle<anyhow::Result<Counts>>> {
    let direction = ends.direction;
    thread::Builder::new().name(format!("relay {direction}")).spawn(move || {
        let shared = Shared::default();
        let rng = direction.rng(seed);
        thread::scope(|scope| {
            let sender = thread::Builder::new()
                .name(format!("relay {direction} sender"))
                .spawn_scoped(scope, || send(&ends, &shared, &client))?;
            let received = receive(&ends, &shared, &client, impairment, rng, &stop);
            if received.is_err() {
                stop.store(true, Ordering::SeqCst);
            }
            shared.lock().closed = true;
            shared.ready.notify_all();
            let sent = sender.join().map_err(|_| anyhow!("{direction}: sender thread panicked"))?;
            Ok((direction, received?, sent))
        })
    })
}

/// The unspecified address of `peer`'s family, port 0.
fn any_of_family(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V4(_) => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).into(),
        SocketAddr::V6(_) => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).into(),
    }
}

/// Runs `rudp relay`.
pub fn run(args: &RelayArgs) -> Result<(), Failure> {
    let listen_addr = resolve("--listen", &args.listen)?;
    let to = resolve("--to", &args.to)?;
    let impairment = Impairment {
        loss: args.loss,
        dup: args.dup,
        reorder: args.reorder,
        corrupt: args.corrupt,
        delay: args.delay,
        jitter: args.jitter,
    };
    let seed = args.seed.unwrap_or_else(random_seed);

    let listen = UdpSocket::bind(listen_addr).with_context(|| format!("cannot listen on {listen_addr}"))?;
    let local = listen.local_addr().with_context(|| format!("cannot listen on {listen_addr}"))?;
    let upstream = UdpSocket::bind(any_of_family(to)).with_context(|| format!("cannot reach {to}"))?;
    upstream.connect(to).with_context(|| format!("cannot reach {to}"))?;
    let clone_error = || "cannot duplicate a socket handle";
    let to_server = Ends {
        direction: Direction::ClientToServer,
        from: listen.try_clone().with_context(clone_error)?,
        to: upstream.try_clone().with_context(clone_error)?,
    };
    let to_client = Ends { direction: Direction::ServerToClient, from: upstream, to: listen };

    let stop = interrupt_flag();
    {
        let mut stderr = io::stderr().lock();
        writeln!(stderr, "rudp relay: listening on {local}, forwarding to {to}, seed {seed}")?;
        stderr.flush()?;
    }

    let client = Arc::new(Client { follow: args.follow_client, ..Client::default() });
    let mut handles = Vec::new();
    for ends in [to_server, to_client] {
        // Corruption is for the data's way only (see --corrupt).
        let impairment = match ends.direction {
            Direction::ClientToServer => impairment,
            Direction::ServerToClient => Impairment { corrupt: 0.0, ..impairment },
        };
        match spawn_direction(ends, client.clone(), impairment, seed, stop.clone()) {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                for handle in handles {
                    let _ = handle.join();
                }
                return Err(anyhow!(e).context("cannot start a thread").into());
            }
        }
    }

    let mut first_error = None;
    let mut foreign = 0;
    for handle in handles {
        match handle.join() {
            Ok(Ok((direction, received, sent))) => {
                foreign += received.foreign;
                eprintln!("rudp relay: {}", summary(direction, &received, &sent));
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(anyhow!("a relay thread panicked"));
            }
        }
    }
    let client_changes = client.changes.load(Ordering::Relaxed);
    match client.get() {
        Some(client) if args.follow_client => {
            eprintln!("rudp relay: client {client}, {} changes of client", client_changes)
        }
        Some(client) => {
            eprintln!("rudp relay: client {client}, {foreign} datagrams from other sources dropped")
        }
        None => eprintln!("rudp relay: no client, {foreign} datagrams from other sources dropped"),
    }
    match first_error {
        Some(e) => Err(Failure::Run(e)),
        None => Ok(()),
    }
}

/// One direction's counters on one line.
fn summary(direction: Direction, received: &Received, sent: &Sent) -> String {
    let mut line = format!(
        "{direction}: {} received, {} dropped, {} duplicated, {} reordered, {} corrupted, {} forwarded",
        received.received,
        received.dropped,
        received.duplicated,
        received.reordered,
        received.corrupted,
        sent.forwarded
    );
    for (count, what) in [
        (received.queue_full, "dropped (queue full)"),
        (received.no_client, "dropped (before any client)"),
        (sent.send_errors, "failed to send"),
        (sent.unsent_at_exit, "unsent at exit"),
    ] {
        if count > 0 {
            line += &format!(", {count} {what}");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impairment() -> Impairment {
        Impairment {
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }

    #[test]
    fn splitmix_is_reproducible_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = Rng::new(8);
        assert_ne!(xs[0], c.next_u64());
        // The reference value of SplitMix64 seeded with 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = Rng::new(1);
        let hits = (0..10_000).filter(|_| r.chance(0.3)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
    }

    #[test]
    fn extremes_are_exact() {
        let mut r = Rng::new(3);
        assert!((0..1000).all(|_| !r.chance(0.0)));
        assert!((0..1000).all(|_| r.chance(1.0)));
        assert!((0..1000).all(|_| r.up_to(Duration::ZERO) == Duration::ZERO));
        let max = Duration::from_millis(3);
        assert!((0..1000).all(|_| r.up_to(max) <= max));
    }

    #[test]
    fn damage_inverts_one_payload_byte_and_spares_the_header() {
        let mut header_only = [7u8; 12];
        assert!(!damage(&mut header_only, 0.5));
        assert_eq!(header_only, [7; 12]);
        for fraction in [0.0, 0.5, 0.999_999, 1.0] {
            let mut frame = [7u8; 20];
            assert!(damage(&mut frame, fraction));
            let changed: Vec<usize> = (0..20).filter(|&i| frame[i] != 7).collect();
            assert_eq!(changed.len(), 1, "{fraction}");
            assert!(changed[0] >= 12, "{fraction}: the header was damaged");
            assert_eq!(frame[changed[0]], !7);
        }
    }

    #[test]
    fn no_impairment_sends_at_once() {
        let mut r = Rng::new(5);
        for _ in 0..100 {
            assert_eq!(
                impairment().decide(&mut r),
                Fate::Send { after: Duration::ZERO, dup: false, reordered: false, corrupt: None }
            );
        }
    }

    #[test]
    fn delays_and_reorders() {
        let mut r = Rng::new(5);
        let delay = Duration::from_millis(10);
        let jitter = Duration::from_millis(4);
        let mut i = Impairment { delay, jitter, ..impairment() };
        for _ in 0..100 {
            let Fate::Send { after, .. } = i.decide(&mut r) else { panic!() };
            assert!(delay <= after && after <= delay + jitter);
        }
        i.reorder = 1.0;
        for _ in 0..100 {
            let Fate::Send { after, reordered, .. } = i.decide(&mut r) else { panic!() };
            assert!(reordered);
            // Held back beyond the latest an ordinary datagram could leave.
            assert!(after >= delay + jitter + REORDER_BASE + delay);
        }
    }

    #[test]
    fn fates_do_not_shift_with_other_settings() {
        // The loss decisions for the same seed are the same whatever --dup says.
        let lossy = Impairment { loss: 0.5, ..impairment() };
        let both = Impairment { loss: 0.5, dup: 0.5, ..impairment() };
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        for _ in 0..200 {
            assert_eq!(lossy.decide(&mut a) == Fate::Drop, both.decide(&mut b) == Fate::Drop);
        }
    }
}
