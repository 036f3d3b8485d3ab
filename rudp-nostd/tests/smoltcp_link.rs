#![cfg(feature = "smoltcp")]
//! End to end through two real smoltcp stacks: a [`Sender`] and a [`Receiver`], each driven by
//! the crate's main-loop turn [`smoltcp_transport::poll`] on its own `Interface` and UDP socket, the
//! two interfaces joined by an in-memory IP link that drops, duplicates and delays (so
//! reorders) frames from a seeded PRNG. One virtual clock feeds both smoltcp and the engines,
//! and jumps to the next deadline whenever nothing is due, so seconds of protocol time cost
//! milliseconds.
//!
//! `SEED=<n>` replays one seed; `SIM_TRACE=1` prints every SPEC §8 trace line.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rudp_nostd::blocking::{SinkReceiver, SourceSender};
use rudp_nostd::random::SplitMix64;
use rudp_nostd::smoltcp_transport::{self, SmoltcpError};
use rudp_nostd::transport::{MAX_DATAGRAMS_PER_POLL, Report};
use rudp_nostd::{
    Direction, Engine, Instant, MAX_FRAME, MAX_PAYLOAD, Receiver, ReceiverConfig, ReceiverEvent, Sender,
    SenderConfig, SenderEvent,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::udp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

/// The data each transfer moves.
const TRANSFER_LEN: usize = 300 * 1024;
/// Frames each socket buffer holds, each way: one is the minimum, a few absorb duplicates.
const SOCKET_FRAMES: usize = 4;
/// The link's MTU: a whole rudp frame in one IPv4/UDP packet.
const LINK_MTU: usize = 1500;
/// One-way latency of every frame.
const LATENCY_MICROS: u64 = 1_000;
/// A delayed frame waits up to this much longer than the others, so later ones overtake it.
const MAX_EXTRA_DELAY_MICROS: u64 = 20_000;
/// Passes of the main loop at one instant before the test calls it a livelock.
const MAX_PASSES_PER_INSTANT: u32 = 1_000;
/// Lossless: 600 round trips of 2 ms, then the sender's linger.
const LOSSLESS_BOUND_MICROS: u64 = 15_000_000;
/// Lossy, until both sides have succeeded: retransmission timeouts on top of the round trips
/// (300 seeds peaked at 8.0 s).
const LOSSY_FINISH_BOUND_MICROS: u64 = 20_000_000;
/// Lossy, until both sides are done: when the final ACK is lost the receiver, which keeps no
/// retransmission timer, closes only after its 10 s idle timeout (300 seeds peaked at 16.2 s).
const LOSSY_BOUND_MICROS: u64 = 40_000_000;

const SENDER_ADDR: IpAddress = IpAddress::v4(10, 0, 0, 1);
const RECEIVER_ADDR: IpAddress = IpAddress::v4(10, 0, 0, 2);
const SENDER_PORT: u16 = 49_152;
const RECEIVER_PORT: u16 = 9_000;

/// Fault injection's decisions: rudp's seeded SplitMix64, with the draws the link needs.
#[derive(Clone, Debug)]
struct Rng(SplitMix64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next_u64() % 1000 < per_mille
    }

    /// Uniform in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// What the link does to each frame, per direction, in per mille.
#[derive(Clone, Copy, Debug)]
struct Impairment {
    loss: u64,
    duplicate: u64,
    delay: u64,
}

impl Impairment {
    const NONE: Impairment = Impairment { loss: 0, duplicate: 0, delay: 0 };
}

/// What the link did, to check that a lossy run really was lossy.
#[derive(Clone, Copy, Default, Debug)]
struct LinkStats {
    /// Frames each side handed to the link.
    sent: [u64; 2],
    lost: u64,
    duplicated: u64,
    delayed: u64,
}

/// A frame on the wire: delivered at `at`, ties broken by the order of sending.
#[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
struct OnWire {
    at: u64,
    order: u64,
    frame: Vec<u8>,
}

/// Which end of the link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Sender = 0,
    Receiver = 1,
}

/// A point-to-point IP link: each side's transmissions are the other side's receptions.
struct Link {
    /// Frames on their way to each side, earliest first.
    towards: [BinaryHeap<Reverse<OnWire>>; 2],
    impairment: Impairment,
    rng: Rng,
    order: u64,
    stats: LinkStats,
}

impl Link {
    fn new(impairment: Impairment, seed: u64) -> Link {
        Link {
            towards: [BinaryHeap::new(), BinaryHeap::new()],
            impairment,
            rng: Rng(SplitMix64::new(seed)),
            order: 0,
            stats: LinkStats::default(),
        }
    }

    /// The `Device` of one side, for one `Interface::poll`.
    fn end(&mut self, side: Side) -> LinkEnd<'_> {
        LinkEnd { link: self, side }
    }

    /// The next instant a frame arrives somewhere.
    fn next_delivery(&self) -> Option<u64> {
        self.towards.iter().filter_map(|q| q.peek().map(|Reverse(f)| f.at)).min()
    }

    fn transmit(&mut self, from: Side, now: u64, frame: Vec<u8>) {
        self.stats.sent[from as usize] += 1;
        if self.rng.chance(self.impairment.loss) {
            self.stats.lost += 1;
            return;
        }
        if self.rng.chance(self.impairment.duplicate) {
            self.stats.duplicated += 1;
            self.enqueue(from, now, frame.clone());
        }
        self.enqueue(from, now, frame);
    }

    /// Puts one copy on the wire, held back at random.
    fn enqueue(&mut self, from: Side, now: u64, frame: Vec<u8>) {
        let mut at = now + LATENCY_MICROS;
        if self.rng.chance(self.impairment.delay) {
            self.stats.delayed += 1;
            at += 1 + self.rng.below(MAX_EXTRA_DELAY_MICROS);
        }
        self.order += 1;
        let to = match from {
            Side::Sender => Side::Receiver,
            Side::Receiver => Side::Sender,
        };
        self.towards[to as usize].push(Reverse(OnWire { at, order: self.order, frame }));
    }
}

struct LinkEnd<'a> {
    link: &'a mut Link,
    side: Side,
}

impl Device for LinkEnd<'_> {
    type RxToken<'a>
        = RxToken
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: smoltcp::time::Instant) -> Option<(RxToken, TxToken<'_>)> {
        let now = micros(timestamp);
        let queue = &mut self.link.towards[self.side as usize];
        if queue.peek().is_none_or(|Reverse(f)| f.at > now) {
            return None;
        }
        let Reverse(on_wire) = queue.pop()?;
        Some((RxToken(on_wire.frame), TxToken { link: self.link, side: self.side, now }))
    }

    fn transmit(&mut self, timestamp: smoltcp::time::Instant) -> Option<TxToken<'_>> {
        Some(TxToken { link: self.link, side: self.side, now: micros(timestamp) })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = LINK_MTU;
        caps
    }
}

struct RxToken(Vec<u8>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

struct TxToken<'a> {
    link: &'a mut Link,
    side: Side,
    now: u64,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.link.transmit(self.side, self.now, frame);
        result
    }
}

fn micros(t: smoltcp::time::Instant) -> u64 {
    u64::try_from(t.total_micros()).unwrap_or(0)
}

fn smol(micros: u64) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// One host: an interface with one address and one bound UDP socket.
struct Host {
    side: Side,
    iface: Interface,
    sockets: SocketSet<'static>,
    udp: SocketHandle,
}

impl Host {
    fn new(side: Side, link: &mut Link, addr: IpAddress, port: u16, seed: u64) -> Host {
        Host::with_socket_frames(side, link, addr, port, seed, SOCKET_FRAMES)
    }

    /// A host whose socket buffers hold `frames` datagrams each way.
    fn with_socket_frames(
        side: Side,
        link: &mut Link,
        addr: IpAddress,
        port: u16,
        seed: u64,
        frames: usize,
    ) -> Host {
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut link.end(side), smol(0));
        iface.update_ip_addrs(|addrs| addrs.push(IpCidr::new(addr, 24)).expect("room for one address"));
        let buffer =
            || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; frames], vec![0; frames * MAX_FRAME]);
        let mut socket = udp::Socket::new(buffer(), buffer());
        socket.bind(port).expect("bind");
        let mut sockets = SocketSet::new(vec![]);
        let udp = sockets.add(socket);
        Host { side, iface, sockets, udp }
    }

    /// One turn of a firmware main loop, the crate's own ([`smoltcp_transport::poll`]): the
    /// stack takes in what arrived, the engine runs, the stack sends what the engine queued.
    /// Returns when this host next needs a turn: now if datagrams wait in its socket, else the
    /// earlier of the engine's deadline and the stack's.
    fn step<En: Engine<Endpoint = IpEndpoint>>(
        &mut self,
        link: &mut Link,
        now: u64,
        engine: &mut En,
        report: impl FnMut(Report<En::Event>),
    ) -> Option<u64> {
        let next = smoltcp_transport::poll(
            &mut self.iface,
            &mut link.end(self.side),
            &mut self.sockets,
            self.udp,
            engine,
            Instant::from_micros(now),
            report,
        )
        .expect("the socket is bound and the peer addressed");
        next.map(Instant::as_micros)
    }
}

/// What a run produced, for assertions.
#[derive(Debug)]
struct Outcome {
    /// When both engines had reported `Finished`.
    finished_at: Option<u64>,
    /// When both engines were done (the sender's linger and the receiver's close included).
    done_at: u64,
    sender_events: Vec<SenderEvent>,
    receiver_events: Vec<ReceiverEvent>,
    announced_size: Option<u64>,
    received: Vec<u8>,
    stats: LinkStats,
}

fn pseudo_random_data(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng(SplitMix64::new(seed ^ 0xDA7A));
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        data.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    data.truncate(len);
    data
}

/// Transfers `data` from the sender host to the receiver host over a link with `impairment`.
fn run(seed: u64, impairment: Impairment, data: &[u8], bound_micros: u64) -> Outcome {
    let trace_on = std::env::var_os("SIM_TRACE").is_some();
    let mut link = Link::new(impairment, seed);
    let mut tx = Host::new(Side::Sender, &mut link, SENDER_ADDR, SENDER_PORT, seed ^ 1);
    let mut rx = Host::new(Side::Receiver, &mut link, RECEIVER_ADDR, RECEIVER_PORT, seed ^ 2);

    let config = SenderConfig { transfer_size: Some(data.len() as u64), ..SenderConfig::new(seed ^ 3) };
    let peer = IpEndpoint::new(RECEIVER_ADDR, RECEIVER_PORT);
    let mut sender = SourceSender::new(Sender::<_>::new(config, peer, Instant::ZERO), data);
    // Room for one payload more than expected, so that an overlong transfer shows as such.
    let mut out = vec![0u8; data.len() + MAX_PAYLOAD];
    let mut receiver: SinkReceiver<&mut [u8], IpEndpoint> =
        SinkReceiver::new(Receiver::new(ReceiverConfig::new(seed ^ 4), Instant::ZERO), &mut out[..]);

    let mut sender_events = Vec::new();
    let mut receiver_events = Vec::new();
    let mut now = 0u64;
    let mut passes_at_now = 0u32;
    let mut finished_at = None;
    while !(sender.is_done() && receiver.is_done()) {
        let sender_next = tx.step(&mut link, now, &mut sender, |report| match report {
            Report::Event(event) => sender_events.push(event),
            Report::Trace(trace) if trace_on => eprintln!("{now:>10} tx {trace}"),
            Report::Trace(_) => {}
        });
        let receiver_next = rx.step(&mut link, now, &mut receiver, |report| match report {
            Report::Event(event) => receiver_events.push(event),
            Report::Trace(trace) if trace_on => eprintln!("{now:>10} rx {trace}"),
            Report::Trace(_) => {}
        });
        if finished_at.is_none() && sender.has_succeeded() && receiver.has_succeeded() {
            finished_at = Some(now);
        }
        let next = [sender_next, receiver_next, link.next_delivery()].into_iter().flatten().min();
        let Some(next) = next else {
            // Nothing will ever happen again; the loop condition decides whether that is fine.
            break;
        };
        if next <= now {
            passes_at_now += 1;
            assert!(passes_at_now < MAX_PASSES_PER_INSTANT, "seed {seed}: livelock at {now} us");
        } else {
            passes_at_now = 0;
            now = next;
        }
        assert!(now <= bound_micros, "seed {seed}: still running after {now} us (bound {bound_micros} us)");
    }
    let announced_size = receiver_events.iter().find_map(|e| match e {
        ReceiverEvent::Connected { transfer_size, .. } => *transfer_size,
        _ => None,
    });
    assert!(sender.has_succeeded(), "seed {seed}: sender did not succeed: {sender_events:?}");
    assert!(receiver.has_succeeded(), "seed {seed}: receiver did not succeed: {receiver_events:?}");
    let left = receiver.into_parts().1.len();
    let received = out[..out.len() - left].to_vec();
    Outcome {
        finished_at,
        done_at: now,
        sender_events,
        receiver_events,
        announced_size,
        received,
        stats: link.stats,
    }
}

/// The checks every run must pass.
fn check(seed: u64, data: &[u8], outcome: &Outcome) {
    let replay = format!("seed {seed} (replay: SEED={seed} SIM_TRACE=1)");
    assert_eq!(outcome.received.len(), data.len(), "{replay}: length");
    assert!(outcome.received == data, "{replay}: the received data differ from the sent data");
    assert_eq!(outcome.announced_size, Some(data.len() as u64), "{replay}: announced size");
    assert!(outcome.finished_at.is_some(), "{replay}: both sides never succeeded at once");
    for event in [SenderEvent::Finished, SenderEvent::Closed] {
        assert!(outcome.sender_events.contains(&event), "{replay}: sender never reported {event:?}");
    }
    for event in [ReceiverEvent::Finished, ReceiverEvent::Closed] {
        assert!(outcome.receiver_events.contains(&event), "{replay}: receiver never reported {event:?}");
    }
    let failed = outcome.sender_events.iter().any(|e| matches!(e, SenderEvent::Failed(_)))
        || outcome.receiver_events.iter().any(|e| matches!(e, ReceiverEvent::Failed(_)));
    assert!(!failed, "{replay}: a side reported a failure");
    let acknowledged: u64 = outcome
        .sender_events
        .iter()
        .map(|e| match e {
            SenderEvent::Acknowledged { bytes } => u64::from(*bytes),
            _ => 0,
        })
        .sum();
    assert_eq!(acknowledged, data.len() as u64, "{replay}: acknowledged bytes");
}

/// The seeds to run: `SEED=<n>` replays one.
fn seeds(count: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var("SEED") {
        return vec![seed.parse().expect("SEED must be a number")];
    }
    (1..=count).collect()
}

#[test]
fn lossless_link_transfers_byte_identical() {
    for seed in seeds(2) {
        let data = pseudo_random_data(seed, TRANSFER_LEN);
        let outcome = run(seed, Impairment::NONE, &data, LOSSLESS_BOUND_MICROS);
        check(seed, &data, &outcome);
        // Stop-and-wait over a 2 ms round trip: one frame per round trip, nothing resent.
        let frames = TRANSFER_LEN.div_ceil(MAX_PAYLOAD) as u64;
        let finished = outcome.finished_at.unwrap_or(u64::MAX);
        assert!(finished <= (frames + 10) * 2 * LATENCY_MICROS, "seed {seed}: took {finished} us");
        // SYN, the data (the first frame completes the handshake), FIN and the final ACK one
        // way; SYN|ACK, an ACK per data frame and FIN|ACK the other: nothing twice.
        let expected = [frames + 3, frames + 2];
        assert_eq!(outcome.stats.sent, expected, "seed {seed}: {:?}", outcome.stats);
        eprintln!(
            "lossless seed {seed}: finished at {:.3} s, done at {:.3} s (virtual), {:?}",
            finished as f64 / 1e6,
            outcome.done_at as f64 / 1e6,
            outcome.stats
        );
    }
}

#[test]
fn lossy_link_transfers_byte_identical() {
    // 8% loss, 2% duplicates and 5% of frames held back each way.
    let impairment = Impairment { loss: 80, duplicate: 20, delay: 50 };
    for seed in seeds(8) {
        let data = pseudo_random_data(seed, TRANSFER_LEN);
        let outcome = run(seed, impairment, &data, LOSSY_BOUND_MICROS);
        check(seed, &data, &outcome);
        let finished = outcome.finished_at.unwrap_or(u64::MAX);
        assert!(finished <= LOSSY_FINISH_BOUND_MICROS, "seed {seed}: took {finished} us");
        let stats = outcome.stats;
        assert!(stats.lost > 0 && stats.duplicated > 0 && stats.delayed > 0, "seed {seed}: {stats:?}");
        eprintln!(
            "lossy seed {seed}: finished at {:.3} s, done at {:.3} s (virtual), {stats:?}",
            finished as f64 / 1e6,
            outcome.done_at as f64 / 1e6,
        );
    }
}

/// The two hosts of a lossless link, for the tests of one main-loop turn.
fn two_hosts(frames: usize) -> (Link, Host, Host) {
    let mut link = Link::new(Impairment::NONE, 7);
    let tx = Host::with_socket_frames(Side::Sender, &mut link, SENDER_ADDR, SENDER_PORT, 1, frames);
    let rx = Host::with_socket_frames(Side::Receiver, &mut link, RECEIVER_ADDR, RECEIVER_PORT, 2, frames);
    (link, tx, rx)
}

#[test]
fn a_turn_sends_what_the_engine_queued() {
    let (mut link, mut tx, mut rx) = two_hosts(SOCKET_FRAMES);
    let peer = IpEndpoint::new(RECEIVER_ADDR, RECEIVER_PORT);
    let mut sender: Sender<IpEndpoint> = Sender::new(SenderConfig::new(3), peer, Instant::ZERO);
    let mut receiver: Receiver<IpEndpoint> = Receiver::new(ReceiverConfig::new(4), Instant::ZERO);
    // The SYN leaves in the turn that queued it; the sender then waits for its timer.
    let next = tx.step(&mut link, 0, &mut sender, |_| {});
    assert_eq!(link.towards[Side::Receiver as usize].len(), 1, "the SYN is on the wire");
    assert!(next.is_some_and(|at| at > 0), "the SYN's timer: {next:?}");
    // The receiver's turn at its arrival takes it in and sends the SYN|ACK in the same turn.
    let mut traces = 0;
    let next = rx.step(&mut link, LATENCY_MICROS, &mut receiver, |report| {
        if let Report::Trace(_) = report {
            traces += 1;
        }
    });
    assert_eq!(traces, 2, "the SYN in, the SYN|ACK out");
    assert_eq!(link.towards[Side::Sender as usize].len(), 1, "the SYN|ACK is on the wire");
    assert!(next.is_some_and(|at| at > LATENCY_MICROS), "the half-open entry's expiry: {next:?}");
}

#[test]
fn a_turn_wakes_at_once_while_datagrams_wait() {
    let junk = MAX_DATAGRAMS_PER_POLL + 6;
    let (mut link, mut tx, mut rx) = two_hosts(junk);
    // Junk datagrams, more than one turn takes, sent by the other host's stack.
    let to = IpEndpoint::new(RECEIVER_ADDR, RECEIVER_PORT);
    let socket = tx.sockets.get_mut::<udp::Socket>(tx.udp);
    for i in 0..junk {
        socket.send_slice(&[i as u8; 4], to).expect("room for every junk datagram");
    }
    for _ in 0..junk {
        tx.iface.poll_egress(smol(0), &mut link.end(Side::Sender), &mut tx.sockets);
    }
    assert_eq!(link.towards[Side::Receiver as usize].len(), junk);
    let mut receiver: Receiver<IpEndpoint> = Receiver::new(ReceiverConfig::new(4), Instant::ZERO);
    let mut drops = 0;
    let mut count = |report: Report<ReceiverEvent>| {
        if let Report::Trace(trace) = report {
            assert_eq!(trace.direction, Direction::Drop);
            drops += 1;
        }
    };
    let now = LATENCY_MICROS;
    assert_eq!(rx.step(&mut link, now, &mut receiver, &mut count), Some(now), "datagrams still wait");
    assert_eq!(rx.step(&mut link, now, &mut receiver, &mut count), None, "nothing waits, no timer runs");
    assert_eq!(drops, junk);
}

#[test]
fn a_turn_on_a_missing_socket_runs_no_engine() {
    let (mut link, _tx, mut rx) = two_hosts(SOCKET_FRAMES);
    rx.sockets.remove(rx.udp);
    let mut receiver: Receiver<IpEndpoint> = Receiver::new(ReceiverConfig::new(4), Instant::ZERO);
    let result = smoltcp_transport::poll(
        &mut rx.iface,
        &mut link.end(Side::Receiver),
        &mut rx.sockets,
        rx.udp,
        &mut receiver,
        Instant::ZERO,
        |_| panic!("no engine runs"),
    );
    assert_eq!(result, Err(SmoltcpError::NoSocket));
}
