//! Deterministic simulation (test only): a [`Sender`] and a [`Receiver`] over an in-memory
//! link with a virtual clock and seeded loss, duplication, reordering and delay, plus an
//! optional intruder that floods the receiver with junk, forged frames and SYNs.
//!
//! Every run is a pure function of its [`Scenario`]; a failing run prints its seed, and
//! `SEED=<n> cargo test -p rudp-nostd sim::` replays only that seed.
//!
//! [`pool`] runs several senders at once into one [`crate::Listener`] over the same link.
//! [`resume`] (feature `sha256`) cuts transfers of one object at random points, the sender
//! vanishing or the receiver crashing, and resumes them (SPEC §10.5) until one commits it.
//! [`flash`] (features `sha256`, `embedded-storage`) cuts the power under the flash sink at
//! random flash operations and resumes from what the flash kept.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::format;
use std::string::String;
use std::vec::Vec;

use crate::blocking::SourceSender;
use crate::random::SplitMix64;
use crate::testing::VecSink;
use crate::{
    Commit, Congestion, DigestAlgorithm, Duration, Engine, Error, Instant, MAX_PAYLOAD, MAX_WINDOW, Profile,
    Receiver, ReceiverConfig, ReceiverEvent, Sender, SenderConfig, SenderEvent, Timing,
};

#[cfg(all(feature = "sha256", feature = "embedded-storage"))]
mod flash;
mod pool;
#[cfg(feature = "sha256")]
mod resume;

/// Who is on the link.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Node {
    Sender,
    Receiver,
    /// Another endpoint: junk, forged frames and SYNs.
    Intruder(u8),
    /// One of several senders into one listener (the listener is [`Node::Receiver`]).
    Peer(u8),
}

/// Impairments, as probabilities per datagram and per direction.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub loss: f64,
    pub dup: f64,
    pub reorder: f64,
    pub delay: Duration,
    pub jitter: Duration,
    /// After this many datagrams in all, drop everything.
    pub dead_after: Option<u64>,
    /// Drop the sender's datagrams with these numbers (counted from 1): a burst loss.
    pub burst: Option<core::ops::Range<u64>>,
}

impl Link {
    pub(crate) const PERFECT: Link = Link {
        loss: 0.0,
        dup: 0.0,
        reorder: 0.0,
        delay: Duration::from_millis(1),
        jitter: Duration::ZERO,
        dead_after: None,
        burst: None,
    };

    pub(crate) fn lossy(loss: f64) -> Link {
        Link { loss, dup: 0.05, reorder: 0.05, jitter: Duration::from_micros(500), ..Link::PERFECT }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub seed: u64,
    pub data: Vec<u8>,
    pub link: Link,
    pub profile: Profile,
    /// Intruder datagrams per sender datagram (probability).
    pub intruder_rate: f64,
    pub receiver_accept_timeout: Option<Duration>,
    pub timing: Timing,
    /// The digest the sender offers.
    pub digest: Option<DigestAlgorithm>,
    pub require_digest: bool,
    /// Whether the receiver verifies digests.
    pub verify_digest: bool,
    /// The link damages the digest-value of every FIN (the sender's digest stays right).
    pub corrupt_digest: bool,
    /// The sender's window offer cap and the receiver's grant cap (both further bounded by
    /// the engines' const generics).
    pub window: u8,
    pub max_window: u8,
    pub congestion: Congestion,
    /// Who commits the receiver's output; with [`Commit::Application`] the run commits this
    /// long after `Finished` (an fsync, a flash write), while the sender repeats its FIN.
    pub commit: Commit,
    pub commit_delay: Duration,
    /// The receiving application takes at most this many bytes each `read_every` (a slow
    /// output: the receiver must not acknowledge what it has not taken); `None`: all it can,
    /// at once.
    pub read_chunk: Option<usize>,
    pub read_every: Duration,
}

impl Scenario {
    pub(crate) fn new(seed: u64, data: Vec<u8>, link: Link) -> Scenario {
        // At 30% loss each way a round trip fails 51% of the time; the default 10 s idle
        // timeout leaves the handshake (500 ms initial RTO, backing off to 2 s) only 7 tries,
        // so about 1% of connections would give up, and 30 s still lets one in 10,000 runs fail
        // (seen in a soak run). Lossy links want a longer idle timeout;
        // the dead-link tests use the default.
        let timing = Timing { idle_timeout: Duration::from_secs(60), ..Timing::DEFAULT };
        Scenario {
            seed,
            data,
            link,
            profile: Profile::Native,
            intruder_rate: 0.0,
            receiver_accept_timeout: None,
            timing,
            digest: None,
            require_digest: false,
            verify_digest: true,
            corrupt_digest: false,
            window: MAX_WINDOW,
            max_window: MAX_WINDOW,
            congestion: Congestion::Reno,
            commit: Commit::Flush,
            commit_delay: Duration::ZERO,
            read_chunk: None,
            read_every: Duration::ZERO,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub sink: Vec<u8>,
    pub sender_events: Vec<SenderEvent>,
    pub receiver_events: Vec<ReceiverEvent>,
    pub sender_datagrams: u64,
    pub receiver_datagrams: u64,
    pub end: Instant,
    /// When both sides had reported `Finished` (the data transfer's own duration).
    pub finished_at: Option<Instant>,
    pub trace: Vec<String>,
    /// The windows the two sides ended with (granted, 1: none).
    pub sender_window: u8,
    pub receiver_window: u8,
}

impl Outcome {
    pub(crate) fn sender_failed(&self) -> Option<Error> {
        self.sender_events.iter().find_map(|e| match e {
            SenderEvent::Failed(err) => Some(*err),
            _ => None,
        })
    }

    pub(crate) fn receiver_failed(&self) -> Option<Error> {
        self.receiver_events.iter().find_map(|e| match e {
            ReceiverEvent::Failed(err) => Some(*err),
            _ => None,
        })
    }

    pub(crate) fn sender_finished(&self) -> bool {
        self.sender_events.contains(&SenderEvent::Finished)
    }

    pub(crate) fn receiver_finished(&self) -> bool {
        self.receiver_events.contains(&ReceiverEvent::Finished)
    }
}

struct InFlight {
    at: Instant,
    order: u64,
    to: Node,
    from: Node,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

struct Wire {
    link: Link,
    random: SplitMix64,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    sent: u64,
    sent_by_sender: u64,
}

impl Wire {
    fn new(link: Link, seed: u64) -> Wire {
        Wire {
            link,
            random: SplitMix64::new(seed),
            queue: BinaryHeap::new(),
            order: 0,
            sent: 0,
            sent_by_sender: 0,
        }
    }

    /// The next datagram due at or before `now`.
    fn due(&mut self, now: Instant) -> Option<InFlight> {
        if self.queue.peek().is_some_and(|Reverse(d)| d.at <= now) {
            self.queue.pop().map(|Reverse(d)| d)
        } else {
            None
        }
    }

    /// When the next datagram arrives.
    fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(d)| d.at)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.random.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.random.next_u64() % n }
    }

    fn send(&mut self, now: Instant, from: Node, to: Node, bytes: &[u8]) {
        self.sent += 1;
        if from == Node::Sender {
            self.sent_by_sender += 1;
            if self.link.burst.as_ref().is_some_and(|b| b.contains(&self.sent_by_sender)) {
                return;
            }
        }
        if self.link.dead_after.is_some_and(|n| self.sent > n) || self.chance(self.link.loss) {
            return;
        }
        let copies = if self.chance(self.link.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let mut delay = self.link.delay.as_micros() + self.below(self.link.jitter.as_micros() + 1);
            if self.chance(self.link.reorder) {
                // Held back long enough to arrive after later datagrams.
                delay += self.link.delay.as_micros() * (1 + self.below(3));
            }
            self.order += 1;
            let at = now + Duration::from_micros(delay);
            self.queue.push(Reverse(InFlight { at, order: self.order, to, from, bytes: bytes.to_vec() }));
        }
    }
}

/// The virtual time a run may take before it counts as hung.
const MAX_VIRTUAL_TIME: Duration = Duration::from_secs(3600);
/// Loop iterations before a run counts as hung.
const MAX_STEPS: u64 = 10_000_000;

/// Runs one scenario with stop-and-wait engines (one frame buffer, one payload slot).
pub(crate) fn run(s: &Scenario) -> Outcome {
    run_windowed::<1, 1>(s)
}

/// Runs one scenario to the end (both engines done) or panics if it hangs: a sender with `N`
/// frame buffers, a receiver with `W` payload slots.
pub(crate) fn run_windowed<const N: usize, const W: usize>(s: &Scenario) -> Outcome {
    let mut random = SplitMix64::new(s.seed);
    let timing = s.timing;
    let sender_config = SenderConfig {
        profile: s.profile,
        timing,
        random_seed: random.next_u64(),
        transfer_size: Some(s.data.len() as u64),
        digest: s.digest,
        require_digest: s.require_digest,
        window: s.window,
        congestion: s.congestion,
    };
    let receiver_config = ReceiverConfig {
        profile: s.profile,
        idle_timeout: timing.idle_timeout,
        random_seed: random.next_u64(),
        accept_timeout: s.receiver_accept_timeout,
        verify_digest: s.verify_digest,
        max_window: s.max_window,
        hash_read_back: false,
    };
    // When the application commits the receiver's output (`Commit::Application`).
    let mut commit_at: Option<Instant> = None;
    // When the receiving application next takes data (a slow reader).
    let mut read_at = Instant::ZERO;
    let mut now = Instant::ZERO;
    let mut sender: SourceSender<_, _, N> =
        SourceSender::new(Sender::new(sender_config, Node::Receiver, now), &s.data[..]);
    // The bare receiver: this loop is its application (it takes the data, and commits).
    let mut receiver: Receiver<Node, W, 4> = Receiver::new(receiver_config, now);
    let mut sink = VecSink::default();
    let mut wire = Wire::new(s.link.clone(), random.next_u64());
    let mut intruder = SplitMix64::new(random.next_u64());
    let mut out = Outcome {
        sink: Vec::new(),
        sender_events: Vec::new(),
        receiver_events: Vec::new(),
        sender_datagrams: 0,
        receiver_datagrams: 0,
        end: now,
        finished_at: None,
        trace: Vec::new(),
        sender_window: 1,
        receiver_window: 1,
    };
    let trace_on = std::env::var_os("SIM_TRACE").is_some();
    for step in 0.. {
        assert!(step < MAX_STEPS, "seed {}: too many steps", s.seed);
        assert!(now - Instant::ZERO < MAX_VIRTUAL_TIME, "seed {}: virtual time ran away", s.seed);
        let mut busy = false;
        // Deliver what is due.
        while wire.queue.peek().is_some_and(|Reverse(d)| d.at <= now) {
            let Reverse(d) = wire.queue.pop().unwrap();
            busy = true;
            match d.to {
                Node::Receiver => {
                    let h = receiver.handle_datagram(now, d.from, &d.bytes);
                    if trace_on {
                        out.trace.push(format!("{now:?} rx {:?} {} {:?}", d.from, h.trace, h.events));
                    }
                    if h.events.contains(&ReceiverEvent::Finished) {
                        commit_at = Some(
                            now + if s.commit == Commit::Application {
                                s.commit_delay
                            } else {
                                Duration::ZERO
                            },
                        );
                    }
                    out.receiver_events.extend(h.events);
                    // Reported while connected (the close forgets the connection).
                    out.receiver_window = out.receiver_window.max(receiver.window());
                }
                Node::Sender => {
                    let h = sender.handle_datagram(now, d.from, &d.bytes);
                    if trace_on {
                        out.trace.push(format!("{now:?} tx {} {:?}", h.trace, h.events));
                    }
                    out.sender_events.extend(h.events);
                }
                Node::Intruder(_) | Node::Peer(_) => {}
            }
        }
        if sender.poll_timeout().is_some_and(|t| t <= now) {
            out.sender_events.extend(sender.handle_timeout(now));
        }
        // The application takes what arrived (all of it, or a slow reader's share), before
        // the receiver's replies go: they acknowledge only what was taken.
        if now >= read_at {
            let mut budget = s.read_chunk.unwrap_or(usize::MAX);
            while budget > 0 {
                let data = receiver.readable();
                let n = data.len().min(budget);
                if n == 0 {
                    break;
                }
                sink.0.extend_from_slice(&data[..n]);
                receiver.consume(n);
                budget -= n;
            }
            if s.read_chunk.is_some() && budget == 0 {
                read_at = now + s.read_every;
            }
        }
        if commit_at.is_some_and(|t| t <= now) {
            commit_at = None;
            receiver.committed(now);
        }
        if receiver.poll_timeout().is_some_and(|t| t <= now) {
            out.receiver_events.extend(receiver.handle_timeout(now));
        }
        while let Some(t) = sender.poll_transmit(now) {
            busy = true;
            out.sender_datagrams += 1;
            if trace_on {
                out.trace.push(format!("{now:?} tx {}", t.trace));
            }
            if s.corrupt_digest && is_fin_with_payload(t.datagram) {
                // The path damages the FIN's digest-value (its last byte): the receiver must
                // find the data does not match.
                let mut damaged = t.datagram.to_vec();
                if let Some(last) = damaged.last_mut() {
                    *last ^= 0xff;
                }
                wire.send(now, Node::Sender, t.to, &damaged);
            } else {
                wire.send(now, Node::Sender, t.to, t.datagram);
            }
            if s.intruder_rate > 0.0 && (intruder.next_u64() % 1000) as f64 / 1000.0 < s.intruder_rate {
                let (from, junk) = intruder_datagram(&mut intruder);
                wire.send(now, from, Node::Receiver, &junk);
            }
        }
        while let Some(t) = receiver.poll_transmit(now) {
            busy = true;
            out.receiver_datagrams += 1;
            if trace_on {
                out.trace.push(format!("{now:?} rx {}", t.trace));
            }
            wire.send(now, Node::Receiver, t.to, t.datagram);
        }
        if out.finished_at.is_none() && out.sender_finished() && out.receiver_finished() {
            out.finished_at = Some(now);
        }
        if sender.is_done() && receiver.is_done() {
            break;
        }
        if !busy {
            let next = [
                wire.queue.peek().map(|Reverse(d)| d.at),
                sender.poll_timeout(),
                receiver.poll_timeout(),
                commit_at,
                // A slow reader with data waiting wakes up to take it.
                (!receiver.readable().is_empty()).then_some(read_at),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(next) => now = now.max(next),
                // Nothing can happen any more: only a receiver waiting for ever for a SYN.
                None => break,
            }
        }
    }
    out.end = now;
    out.sender_window = sender.window();
    out.sink = sink.0;
    out
}

/// Whether `datagram` is a FIN carrying a payload (a digest-value).
fn is_fin_with_payload(datagram: &[u8]) -> bool {
    crate::frame::decode(datagram)
        .is_ok_and(|f| f.repr.flags == crate::frame::Flags::FIN && !f.payload.is_empty())
}

/// A datagram an intruder might send: random bytes, a forged frame with a random connection
/// id and sequence number, or a SYN, from one of a few endpoints.
fn intruder_datagram(random: &mut SplitMix64) -> (Node, Vec<u8>) {
    let from = Node::Intruder((random.next_u64() % 3) as u8);
    let kind = random.next_u64() % 3;
    let len = match kind {
        0 => (random.next_u64() % 600) as usize,
        _ => 12 + (random.next_u64() % (MAX_PAYLOAD as u64 + 1)) as usize,
    };
    let mut bytes: Vec<u8> = (0..len).map(|_| random.next_u64() as u8).collect();
    if kind != 0 {
        let seq = (random.next_u64() % crate::MAX_SEQ as u64) as u32;
        let flags: u16 = if kind == 1 { 4 } else { 2 };
        bytes[0..4].copy_from_slice(&seq.to_le_bytes());
        bytes[4..8].copy_from_slice(&seq.to_le_bytes());
        bytes[8..10].copy_from_slice(&(random.next_u64() as u16).to_le_bytes());
        bytes[10..12].copy_from_slice(&flags.to_le_bytes());
    }
    (from, bytes)
}

/// Moves a multi-engine run's clock to `next`, the earliest thing due. An engine whose deadline
/// has passed but that has nothing to do is allowed a few times (a timer that ran), not for
/// ever; nothing due at all means the run is stuck. `ctx` says where, for the failure message.
pub(crate) fn advance_clock(
    now: &mut Instant,
    idle_steps: &mut u32,
    next: Option<Instant>,
    ctx: &dyn Fn(Instant) -> String,
) {
    match next {
        Some(next) if next > *now => {
            *now = next;
            *idle_steps = 0;
        }
        Some(_) => {
            *idle_steps += 1;
            assert!(*idle_steps < 100, "{}: an engine asks to be called but does nothing", ctx(*now));
        }
        None => panic!("{}: nothing left to happen, but the run is not over", ctx(*now)),
    }
}

/// Pseudo-random data of `len` bytes.
pub(crate) fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut random = SplitMix64::new(seed ^ 0xda7a);
    (0..len).map(|_| random.next_u64() as u8).collect()
}

/// The seeds to run: `SEED=<n>` replays one; `SIM_SEEDS=<n>` runs `n` times as many as usual
/// (a soak run).
pub(crate) fn seeds(count: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var("SEED") {
        return std::vec![seed.parse().expect("SEED must be a number")];
    }
    let factor = std::env::var("SIM_SEEDS").map_or(1, |n| n.parse().expect("SIM_SEEDS must be a number"));
    (0..count * factor).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every property of a successful run.
    fn assert_transfer_ok(s: &Scenario, out: &Outcome) {
        let seed = s.seed;
        for line in &out.trace {
            std::eprintln!("{line}");
        }
        let ctx =
            || format!("seed {seed} (replay: SEED={seed} SIM_TRACE=1), {} bytes, {:?}", s.data.len(), s.link);
        assert!(
            out.sink == s.data,
            "{}: sink differs from source ({} vs {} bytes)",
            ctx(),
            out.sink.len(),
            s.data.len()
        );
        assert!(out.sender_finished(), "{}: sender did not finish: {:?}", ctx(), out.sender_events);
        assert!(out.receiver_finished(), "{}: receiver did not finish: {:?}", ctx(), out.receiver_events);
        assert_eq!(out.sender_failed(), None, "{}", ctx());
        assert_eq!(out.receiver_failed(), None, "{}", ctx());
        // Frames that had to get through: SYN, third frame, the other data frames, FIN, final ACK.
        let frames = 4 + (s.data.len() as u64).saturating_sub(1) / MAX_PAYLOAD as u64;
        let per_frame = out.sender_datagrams as f64 / frames as f64;
        let success = (1.0 - s.link.loss) * (1.0 - s.link.loss);
        // A slow reader makes the sender wait: each wait for a read costs it a few backed-off
        // retransmissions (10 ms, 20 ms, 40 ms, ... within a wait of at most 50 ms).
        let reads = s.read_chunk.map_or(0, |chunk| s.data.len().div_ceil(chunk) as u64 + frames);
        let waits = 4.0 * reads as f64 / frames as f64;
        // Expected transmissions per frame are 1/success; allow generous variance for small runs.
        let bound = 3.0 / success + 8.0 / frames as f64 + waits;
        assert!(per_frame <= bound, "{}: {per_frame:.2} datagrams per frame (bound {bound:.2})", ctx());
        // Each frame needs a bounded number of backed-off timeouts: the virtual time is bounded
        // by the frame count. The per-frame allowance grows with the loss rate (a soak run of
        // 6,500 seeds, SIM_SEEDS=50, peaked at 6.6 s per frame at 30% loss, 0.4 s at 1%; the
        // tail is heavy for short transfers, whose handshake has no RTT sample yet).
        let per_frame_time = Duration::from_micros(500_000 + (35_000_000.0 * s.link.loss) as u64);
        // A slow reader's reads take their time, and each can wait out a backed-off timer.
        let reading = (s.read_every + Duration::from_millis(100)).saturating_mul(reads);
        let time_bound = per_frame_time.saturating_mul(frames) + reading + Duration::from_secs(10);
        let finished = out.finished_at.expect("both finished");
        assert!(finished - Instant::ZERO <= time_bound, "{}: took {:?}", ctx(), finished);
        // Then the linger: the receiver waits at most one idle timeout for the final ACK.
        let linger_bound = s.timing.idle_timeout + Duration::from_secs(1);
        assert!(out.end - finished <= linger_bound, "{}: lingered until {:?}", ctx(), out.end);
    }

    /// Whatever happened, a receiver that reported success holds exactly the source.
    fn assert_no_false_success(s: &Scenario, out: &Outcome) {
        if out.receiver_finished() {
            assert!(out.sink == s.data, "seed {}: receiver reported success with wrong data", s.seed);
        } else {
            assert!(s.data.starts_with(&out.sink), "seed {}: sink is not a prefix of the source", s.seed);
        }
    }

    const SIZES: [usize; 5] = [0, 1, 511, 512, 513];

    /// A windowed run also checks the grant: `min(N, W)` in the native profile (1 when
    /// that is 1, and always in the reference profile).
    fn run_checked<const N: usize, const W: usize>(s: &Scenario) -> Outcome {
        let out = run_windowed::<N, W>(s);
        if out.receiver_finished() {
            let expected = match s.profile {
                Profile::Native => N.min(W).min(s.window as usize).min(s.max_window as usize).max(1),
                Profile::Reference => 1,
            };
            assert_eq!(out.sender_window as usize, expected, "seed {}: sender's window", s.seed);
            assert_eq!(out.receiver_window as usize, expected, "seed {}: receiver's window", s.seed);
        }
        out
    }

    fn lossy_transfers<const N: usize, const W: usize>(count: u64) {
        for seed in seeds(count) {
            let mut r = SplitMix64::new(seed);
            let size = match seed % 8 {
                i @ 0..=4 => SIZES[i as usize],
                _ => (r.next_u64() % (64 * 1024 + 1)) as usize,
            };
            let loss = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3][(seed / 8 % 6) as usize];
            let mut s = Scenario::new(seed, data(seed, size), Link::lossy(loss));
            // Half the windowed runs with the `fixed` policy.
            if N > 1 && seed % 2 == 1 {
                s.congestion = Congestion::Fixed;
            }
            // A third of the runs commit in the application, up to 2 s after the FIN.
            if seed % 3 == 2 {
                s.commit = Commit::Application;
                s.commit_delay = Duration::from_millis(r.next_u64() % 2000);
            }
            // A fifth read slowly: 1 to 1024 bytes every 1 to 50 ms (backpressure).
            if seed % 5 == 4 {
                s.read_chunk = Some(1 + (r.next_u64() % 1024) as usize);
                s.read_every = Duration::from_millis(1 + r.next_u64() % 50);
            }
            let out = run_checked::<N, W>(&s);
            assert_no_false_success(&s, &out);
            assert_transfer_ok(&s, &out);
        }
    }

    #[test]
    fn transfers_survive_loss_dup_reorder_across_1000_seeds() {
        lossy_transfers::<1, 1>(1000);
    }

    #[test]
    fn window_4_transfers_survive_loss_dup_reorder() {
        lossy_transfers::<4, 4>(400);
    }

    #[test]
    fn window_32_transfers_survive_loss_dup_reorder() {
        lossy_transfers::<32, 32>(400);
    }

    fn reference_text<const N: usize, const W: usize>(count: u64) {
        for seed in seeds(count) {
            let size = (seed as usize * 997) % (20 * 1024);
            // Text: no zero bytes, so the reference profile's zero stripping loses nothing.
            let text: Vec<u8> = data(seed, size).into_iter().map(|b| b'a' + b % 26).collect();
            let mut s = Scenario::new(seed, text, Link::lossy([0.0, 0.1, 0.2][seed as usize % 3]));
            s.profile = Profile::Reference;
            let out = run_checked::<N, W>(&s);
            assert_transfer_ok(&s, &out);
        }
    }

    #[test]
    fn reference_profile_transfers_text_across_seeds() {
        reference_text::<1, 1>(200);
        // Windowed engines in the reference profile: no window offered, stop-and-wait.
        reference_text::<32, 32>(50);
    }

    fn intruders<const N: usize, const W: usize>(count: u64) {
        for seed in seeds(count) {
            let mut s = Scenario::new(seed, data(seed, 20_000), Link::lossy(0.05));
            s.intruder_rate = 1.0;
            let out = run_checked::<N, W>(&s);
            assert_no_false_success(&s, &out);
            assert_transfer_ok(&s, &out);
        }
    }

    #[test]
    fn intruders_change_nothing() {
        intruders::<1, 1>(200);
        intruders::<4, 4>(100);
        intruders::<32, 32>(100);
    }

    fn dead_link<const N: usize, const W: usize>(count: u64) {
        for seed in seeds(count) {
            // Dies after the handshake and a few data frames.
            let dead_after = 3 + seed % 10;
            let link = Link { dead_after: Some(dead_after), ..Link::PERFECT };
            let mut s = Scenario::new(seed, data(seed, 64 * 1024), link);
            s.timing = Timing::DEFAULT;
            let out = run_windowed::<N, W>(&s);
            assert_no_false_success(&s, &out);
            assert_eq!(out.sender_failed(), Some(Error::IdleTimeout), "seed {seed}");
            assert_eq!(out.receiver_failed(), Some(Error::IdleTimeout), "seed {seed}");
            assert!(!out.receiver_finished() && !out.sender_finished(), "seed {seed}");
            // Both give up one idle timeout (10 s) after the last valid frame, give or take the
            // link delay and one backed-off RTO.
            assert!(out.end - Instant::ZERO <= Duration::from_secs(13), "seed {seed}: {:?}", out.end);
        }
    }

    #[test]
    fn a_dead_link_fails_both_sides_with_idle_timeout() {
        dead_link::<1, 1>(50);
        dead_link::<4, 4>(50);
        dead_link::<32, 32>(50);
    }
    #[test]
    fn a_link_that_never_worked_fails_sender_idle_and_receiver_accept_timeout() {
        let link = Link { dead_after: Some(0), ..Link::PERFECT };
        let mut s = Scenario::new(1, data(1, 1000), link);
        s.timing = Timing::DEFAULT;
        s.receiver_accept_timeout = Some(Duration::from_secs(30));
        let out = run(&s);
        assert_eq!(out.sender_failed(), Some(Error::IdleTimeout));
        assert_eq!(out.receiver_failed(), Some(Error::AcceptTimeout));
        assert!(out.sink.is_empty());
        assert_eq!(out.end, Instant::ZERO + Duration::from_secs(30));
    }

    #[cfg(all(feature = "crc32c", feature = "sha256"))]
    fn digests<const N: usize, const W: usize>(count: u64) {
        for seed in seeds(count) {
            let size = [0, 1, 512, 513, 40_000][seed as usize % 5];
            let mut s =
                Scenario::new(seed, data(seed, size), Link::lossy([0.0, 0.1, 0.3][seed as usize % 3]));
            s.digest = Some([DigestAlgorithm::Crc32c, DigestAlgorithm::Sha256][seed as usize / 5 % 2]);
            s.require_digest = true;
            let out = run_checked::<N, W>(&s);
            assert_transfer_ok(&s, &out);
        }
    }

    #[cfg(all(feature = "crc32c", feature = "sha256"))]
    #[test]
    fn digests_verify_across_seeds_and_losses() {
        digests::<1, 1>(300);
        digests::<4, 4>(100);
        digests::<32, 32>(100);
    }

    #[cfg(all(feature = "crc32c", feature = "sha256"))]
    fn wrong_digest<const N: usize, const W: usize>(count: u64) {
        for seed in seeds(count) {
            let mut s = Scenario::new(seed, data(seed, 5000), Link::lossy([0.0, 0.2][seed as usize % 2]));
            s.digest = Some([DigestAlgorithm::Crc32c, DigestAlgorithm::Sha256][seed as usize % 2]);
            s.corrupt_digest = true;
            let out = run_windowed::<N, W>(&s);
            // All the bytes arrived, but the receiver must not call them good.
            assert!(out.sink == s.data, "seed {seed}");
            assert_eq!(out.receiver_failed(), Some(Error::DigestMismatch), "seed {seed}");
            assert!(!out.receiver_finished(), "seed {seed}: no commit event");
            assert_eq!(out.sender_failed(), Some(Error::Rejected), "seed {seed}");
            assert!(!out.sender_finished(), "seed {seed}");
            // The close completed as in SPEC §5: both sides closed (done), not timed out.
            assert!(out.receiver_events.contains(&ReceiverEvent::Closed), "seed {seed}");
            assert!(out.sender_events.contains(&SenderEvent::Closed), "seed {seed}");
        }
    }

    #[cfg(all(feature = "crc32c", feature = "sha256"))]
    #[test]
    fn a_wrong_digest_fails_both_sides_and_the_close_still_completes() {
        wrong_digest::<1, 1>(60);
        wrong_digest::<4, 4>(30);
        wrong_digest::<32, 32>(30);
    }

    #[cfg(feature = "crc32c")]
    #[test]
    fn a_required_digest_that_is_not_granted_fails_before_any_data() {
        let mut s = Scenario::new(1, data(1, 5000), Link::PERFECT);
        s.digest = Some(DigestAlgorithm::Crc32c);
        s.require_digest = true;
        s.verify_digest = false;
        s.timing = Timing::DEFAULT;
        let out = run(&s);
        assert_eq!(out.sender_failed(), Some(Error::DigestRefused));
        assert!(out.sink.is_empty(), "no data was sent");
        // Not required: the same receiver gets the data, unverified.
        s.require_digest = false;
        let out = run(&s);
        assert_transfer_ok(&s, &out);
    }

    fn perfect_link<const N: usize, const W: usize>() -> Outcome {
        let s = Scenario::new(3, data(3, 10 * MAX_PAYLOAD + 7), Link::PERFECT);
        let out = run_checked::<N, W>(&s);
        assert_transfer_ok(&s, &out);
        // SYN, 11 data frames, FIN, final ACK.
        assert_eq!(out.sender_datagrams, 14);
        out
    }

    #[test]
    fn a_perfect_link_sends_each_frame_once() {
        // SYN|ACK, 11 ACKs, FIN|ACK.
        assert_eq!(perfect_link::<1, 1>().receiver_datagrams, 13);
        // A window offered to a receiver that grants none: stop-and-wait exactly.
        assert_eq!(perfect_link::<32, 1>().receiver_datagrams, 13);
        // Windows: frames that arrive together may share an ACK.
        for out in [perfect_link::<4, 4>(), perfect_link::<32, 32>()] {
            assert!(out.receiver_datagrams <= 13);
            assert!(out.finished_at < perfect_link::<1, 1>().finished_at, "a window is faster");
        }
    }

    #[test]
    fn a_window_offered_to_a_receiver_that_grants_none_is_stop_and_wait() {
        for seed in seeds(100) {
            let s = Scenario::new(seed, data(seed, 30_000), Link::lossy([0.0, 0.1, 0.3][seed as usize % 3]));
            let out = run_checked::<32, 1>(&s);
            assert_eq!(out.sender_window, 1);
            assert_transfer_ok(&s, &out);
            // The same run as two stop-and-wait engines, datagram for datagram.
            let plain = run(&s);
            assert_eq!((out.sender_datagrams, out.end), (plain.sender_datagrams, plain.end), "seed {seed}");
        }
    }

    #[test]
    fn sequence_numbers_wrap_with_a_full_window_in_flight() {
        // More than MAX_SEQ bytes: every run wraps, whatever its ISN.
        let size = crate::MAX_SEQ as usize + 100 * 1024;
        for seed in seeds(6) {
            let loss = [0.0, 0.02, 0.1][seed as usize % 3];
            let s = Scenario::new(seed, data(seed, size), Link::lossy(loss));
            let out = run_checked::<32, 32>(&s);
            assert_transfer_ok(&s, &out);
            let s4 = Scenario::new(seed, data(seed, size), Link::lossy(loss));
            assert_transfer_ok(&s4, &run_checked::<4, 4>(&s4));
        }
    }

    #[test]
    fn a_burst_loss_of_a_whole_window_is_recovered() {
        for seed in seeds(40) {
            // The sender's datagrams 10 to 10 + W (a whole window and then some) are lost.
            let w = [4u64, 32][seed as usize % 2];
            let start = 5 + seed % 20;
            let link = Link { burst: Some(start..start + w + seed % 3), ..Link::PERFECT };
            let s = Scenario::new(seed, data(seed, 100 * MAX_PAYLOAD + 99), link);
            let out = if w == 4 { run_checked::<4, 4>(&s) } else { run_checked::<32, 32>(&s) };
            assert_transfer_ok(&s, &out);
            // Every frame lost once is sent again about once.
            let frames = 104;
            assert!(out.sender_datagrams <= frames + 2 * (w + 3), "seed {seed}: {}", out.sender_datagrams);
        }
    }

    #[test]
    fn windows_are_faster_on_a_long_path() {
        let link = Link { delay: Duration::from_millis(20), ..Link::PERFECT };
        let s = Scenario::new(7, data(7, 200 * MAX_PAYLOAD), link);
        let one = run_checked::<1, 1>(&s).finished_at.unwrap();
        let four = run_checked::<4, 4>(&s).finished_at.unwrap();
        let many = run_checked::<32, 32>(&s).finished_at.unwrap();
        std::eprintln!("200 frames, 40 ms RTT: window 1 {one:?}, 4 {four:?}, 32 {many:?}");
        assert!(four < one && many < four, "{one:?} {four:?} {many:?}");
        let mut fixed = s.clone();
        fixed.congestion = Congestion::Fixed;
        let fixed = run_checked::<32, 32>(&fixed).finished_at.unwrap();
        assert!(fixed <= many, "{fixed:?} {many:?}");
    }
}
