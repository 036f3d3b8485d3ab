//! Several senders at once into one [`Listener`] over the simulated link of [`super`] (SPEC
//! §10.4): real [`crate::Sender`]s ([`peer`]) of different sizes, stop-and-wait and windowed,
//! with and without digests, named or not; a listening application ([`app`]) that admits
//! them, reads (some slowly), commits, and when a plan says so cancels a transfer or fails its
//! commit. Senders may vanish mid-transfer (stop being pumped), be aborted, restart from the
//! same endpoint, or send one object after another. An [`intruder`] may inject forgeries on a
//! link of its own (same impairments, its own chances), so that the legitimate traffic sees the
//! same link with it or without it. The run records every output of every engine; [`checks`]
//! judges them, and `tests` runs the scenarios over many seeds.
//!
//! A run is a pure function of its [`PoolScenario`]: `SEED=<n>` replays one seed, and
//! `SIM_TRACE=1` prints what each engine took and sent.

use std::format;
use std::string::String;
use std::vec::Vec;

use super::{Link, Node, Wire};
use crate::random::SplitMix64;
use crate::{
    Congestion, DigestAlgorithm, Duration, Engine, Instant, Listener, ListenerConfig, ReceiverConfig,
    RefuseReason, SameHost,
};

mod app;
mod checks;
mod intruder;
mod peer;
#[cfg(test)]
mod tests;

use app::{App, OfferSeen, PoolAdmit, TransferRecord};
use intruder::Intruder;
use peer::{Peer, SenderRecord};

impl SameHost for Node {
    fn same_host(&self, other: &Node) -> bool {
        self == other
    }
}

/// Payload slots of each transfer of the listener: the largest window it grants.
pub(crate) const LISTENER_WINDOW: u8 = 16;
/// Half-open entries of the listener: room for every sender and the intruder's endpoints.
const HALF_OPEN: usize = 16;
/// The tag the application gives a transfer from the intruder's endpoint `k`.
pub(crate) const INTRUDER_TAG: u32 = 1000;

/// The frame buffers a sender is built with (its const generic).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Frames {
    One,
    Four,
    ThirtyTwo,
}

/// When a sender starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Start {
    At(Duration),
    /// Once the listener runs this many transfers (`running()`).
    WhenRunning(usize),
    /// When the sender with this index vanishes.
    WhenVanished(usize),
    /// When the sender with this index is done (closed or failed).
    WhenDone(usize),
}

/// What happens to a sender on the way.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Stop {
    /// Runs to the end.
    Never,
    /// Stops being pumped (no more datagrams in or out, no timers) once this many bytes are
    /// acknowledged.
    Vanish { after: u64 },
    /// Its application aborts it (`Error::Stopped(Cancelled)`) once this many bytes are
    /// acknowledged.
    Abort { after: u64 },
}

/// How the listening application takes a transfer's data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reader {
    /// `read` into a buffer of this many bytes, until nothing is left.
    Copy(usize),
    /// `readable` and `consume`: at most `chunk` bytes each `every`.
    Slow { chunk: usize, every: Duration },
}

/// What the run must show for a sender (judged by [`checks`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Expect {
    /// Delivered byte for byte, committed, both sides closed.
    Success,
    /// Refused at its SYN with this reason; no transfer ever ran.
    Refused(RefuseReason),
    /// Vanished mid-transfer; the listener failed its transfer by idle timeout.
    Vanishes,
    /// Aborted mid-transfer; the listener failed its transfer with `Refused(Cancelled)`, or by
    /// idle timeout when the abandoning FIN was lost.
    Aborted,
    /// [`Expect::Success`], or turned away while the pool was full: refused busy at its SYN
    /// or at its third frame, or, when it offered nothing (it gets no refusal), timed out.
    SuccessOrBusy,
    /// The listening application cancels it once it has taken this many bytes: the sender
    /// fails with `Refused(Cancelled)` (or by idle timeout when it offered nothing).
    Cancelled { after: usize },
    /// The listening application cannot commit it: the sender fails with `Refused(Storage)`
    /// (or by idle timeout when it offered nothing).
    CommitFails,
}

/// One sender of a run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub data: Vec<u8>,
    pub frames: Frames,
    /// The window offered (further bounded by `frames`): 1 offers none.
    pub window: u8,
    pub congestion: Congestion,
    pub digest: Option<DigestAlgorithm>,
    pub name: Option<Vec<u8>>,
    /// Announce `transfer-size`.
    pub announce: bool,
    pub start: Start,
    pub idle_timeout: Duration,
    pub stop: Stop,
    pub reader: Reader,
    /// The application commits this long after `Finished`.
    pub commit_delay: Duration,
    /// Sends from the endpoint of this earlier sender (which has vanished, or is done: a
    /// sender that restarted, or the next object), not one of its own.
    pub endpoint: Option<usize>,
    pub expect: Expect,
}

impl Plan {
    /// A stop-and-wait sender of `data`, starting at once, announcing its size, read at once,
    /// committed at once, that must succeed.
    pub(crate) fn new(data: Vec<u8>) -> Plan {
        Plan {
            data,
            frames: Frames::One,
            window: 1,
            congestion: Congestion::Reno,
            digest: None,
            name: None,
            announce: true,
            start: Start::At(Duration::ZERO),
            idle_timeout: IDLE_TIMEOUT,
            stop: Stop::Never,
            reader: Reader::Copy(4096),
            commit_delay: Duration::ZERO,
            endpoint: None,
            expect: Expect::Success,
        }
    }

    /// The window its SYN offers (none below 2).
    pub(crate) fn window_offer(&self) -> Option<u8> {
        let buffers = match self.frames {
            Frames::One => 1,
            Frames::Four => 4,
            Frames::ThirtyTwo => 32,
        };
        Some(self.window.min(buffers)).filter(|&w| w >= 2)
    }

    /// Whether its SYN offers an extension (SPEC §10.4: it understands a refusal).
    pub(crate) fn refusable(&self) -> bool {
        self.window_offer().is_some() || self.offered_digest().is_some() || self.name.is_some()
    }

    /// The window the listener grants it (1: none).
    pub(crate) fn granted_window(&self) -> u8 {
        self.window_offer().map_or(1, |w| w.min(LISTENER_WINDOW))
    }

    /// The digest it offers: only one this build computes.
    pub(crate) fn offered_digest(&self) -> Option<DigestAlgorithm> {
        self.digest.filter(|d| d.is_supported())
    }
}

/// The idle timeout of both sides unless a plan says otherwise: at 20% loss each way a
/// handshake fails a round trip a third of the time, and 10 s leaves it too few tries.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A run: the senders, the link, the listener's application.
#[derive(Clone, Debug)]
pub(crate) struct PoolScenario {
    pub seed: u64,
    pub link: Link,
    pub plans: Vec<Plan>,
    /// A name the application refuses (reason 3).
    pub forbidden_name: Option<Vec<u8>>,
    /// The application holds every commit until these senders are done (at most
    /// `HOLD_CAP` after `Finished`): it keeps the pool full while they try to get in.
    pub hold_commits_for: Vec<usize>,
    /// Intruder datagrams per sender datagram (probability); 0: no intruder.
    pub intruder_rate: f64,
    pub listener_idle_timeout: Duration,
}

/// The longest the application holds a commit (below the senders' idle timeout, which runs
/// while their FIN goes unanswered).
pub(crate) const HOLD_CAP: Duration = Duration::from_secs(20);

impl PoolScenario {
    pub(crate) fn new(seed: u64, link: Link, plans: Vec<Plan>) -> PoolScenario {
        PoolScenario {
            seed,
            link,
            plans,
            forbidden_name: None,
            hold_commits_for: Vec::new(),
            intruder_rate: 0.0,
            listener_idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct PoolOutcome {
    pub senders: Vec<SenderRecord>,
    pub transfers: Vec<TransferRecord>,
    pub offers: Vec<OfferSeen>,
    /// The listener's `M`.
    pub pool: usize,
    /// Datagrams the intruder sent, by kind ([`intruder::KINDS`]).
    pub intruder_sent: [u64; intruder::KINDS],
    pub trace: Vec<String>,
}

impl PoolOutcome {
    /// The transfers with this tag.
    pub(crate) fn transfers_of(&self, tag: u32) -> impl Iterator<Item = &TransferRecord> {
        self.transfers.iter().filter(move |t| t.tag == tag)
    }
}

/// The virtual time a run may take before it counts as hung.
const MAX_VIRTUAL_TIME: Duration = Duration::from_secs(1800);
/// Loop iterations before a run counts as hung.
const MAX_STEPS: u64 = 20_000_000;

type Pool<const M: usize> = Listener<Node, PoolAdmit, M, { LISTENER_WINDOW as usize }, HALF_OPEN>;

/// Runs `s` with a pool of `M` transfers until every sender is done (or vanished) and every
/// transfer has left the pool; panics if that never happens (a transfer that never ends, a
/// slot never freed) or the run hangs.
pub(crate) fn run<const M: usize>(s: &PoolScenario) -> PoolOutcome {
    assert!(s.plans.len() < usize::from(u8::MAX));
    let mut random = SplitMix64::new(s.seed);
    let mut now = Instant::ZERO;
    let config = ListenerConfig {
        receiver: ReceiverConfig {
            idle_timeout: s.listener_idle_timeout,
            ..ReceiverConfig::new(random.next_u64())
        },
        ..ListenerConfig::new(0)
    };
    let owners = std::vec![None; s.plans.len()];
    let admit = PoolAdmit { forbidden: s.forbidden_name.clone(), now, owners, seen: Vec::new() };
    let mut listener: Pool<M> = Listener::new(config, admit, now);
    let mut wire = Wire::new(s.link.clone(), random.next_u64());
    // The intruder's traffic (what it sends, and what the listener answers it) has a link of
    // its own, the same but with its own chances: the legitimate traffic sees the same
    // losses, duplicates and delays with or without it.
    let (intruder_seed, intruder_wire_seed) = (random.next_u64(), random.next_u64());
    let mut intruder = (s.intruder_rate > 0.0).then(|| Intruder::new(intruder_seed));
    let mut intruder_wire = Wire::new(s.link.clone(), intruder_wire_seed);
    let mut seeds: Vec<u64> = Vec::new();
    for plan in &s.plans {
        let mut seed = random.next_u64();
        // A sender that restarts on an endpoint with the ISN of the transfer it left there
        // sends, to the listener, a repeat of that transfer's SYN (1 chance in MAX_SEQ): the
        // run draws it another.
        while let Some(j) = plan.endpoint
            && isn(seed) == isn(seeds[j])
        {
            seed = random.next_u64();
        }
        seeds.push(seed);
    }
    let mut peers: Vec<Peer> = s
        .plans
        .iter()
        .enumerate()
        .map(|(i, plan)| Peer::new(plan.clone(), plan.endpoint.unwrap_or(i) as u8, seeds[i]))
        .collect();
    let mut app = App::default();
    let mut trace = std::env::var_os("SIM_TRACE").is_some().then(Vec::new);
    let mut chance = SplitMix64::new(random.next_u64());
    let ctx = |now: Instant| format!("seed {} at {now:?} (replay: SEED={} SIM_TRACE=1)", s.seed, s.seed);

    let mut idle_steps = 0u32;
    for step in 0.. {
        assert!(step < MAX_STEPS, "{}: too many steps", ctx(now));
        assert!(now - Instant::ZERO < MAX_VIRTUAL_TIME, "{}: virtual time ran away", ctx(now));
        listener.admit_mut().now = now;
        let mut busy = false;

        // Deliver what is due; the application hears the listener's events at once.
        loop {
            // The earlier of the two links (the legitimate one first at a tie).
            let other_first =
                intruder_wire.next_arrival().is_some_and(|b| wire.next_arrival().is_none_or(|a| b < a));
            let Some(d) = (if other_first { intruder_wire.due(now) } else { wire.due(now) }) else { break };
            busy = true;
            if let Some(intruder) = intruder.as_mut().filter(|_| !other_first) {
                intruder.observe(d.from, d.to, &d.bytes);
            }
            let (from, to) = (listener.admit_mut().owner(d.from), listener.admit_mut().owner(d.to));
            match d.to {
                Node::Receiver => {
                    // What the sender itself sent (not the intruder in its name).
                    if let Some(i) = from.filter(|_| !other_first) {
                        let abandoning = is_abandoning_fin(&d.bytes, peers[i].conn());
                        let record = &mut peers[i].record;
                        record.abandon_delivered |= abandoning;
                        if let Ok(f) = crate::frame::decode(&d.bytes) {
                            let syn = f.repr.flags.contains(crate::frame::Flags::SYN);
                            record.arrivals.push((now, listener.running(), syn));
                        }
                    }
                    let h = listener.handle_datagram(now, d.from, &d.bytes);
                    if let Some(trace) = &mut trace {
                        trace.push(format!("{now:?} L <- {:?}: {} {:?}", d.from, h.trace, h.events));
                    }
                    let events = h.events.to_vec();
                    app.hear(&listener, &s.plans, now, events)
                        .unwrap_or_else(|e| panic!("{}: {e}", ctx(now)));
                }
                Node::Peer(_) => {
                    let Some(i) = to else { continue };
                    let events = peers[i].receive(now, d.from, &d.bytes);
                    if let Some(trace) = &mut trace {
                        trace.push(format!("{now:?} S{i} <- {:?}: {events:?}", d.from));
                    }
                    // The receiver acknowledges only what its application took (SPEC §4).
                    let (acked, taken) = (peers[i].record.acked, app.taken(i as u32));
                    assert!(
                        acked <= taken as u64,
                        "{}: sender {i}: {acked} bytes acknowledged, {taken} taken",
                        ctx(now)
                    );
                }
                Node::Sender | Node::Intruder(_) => {}
            }
        }

        // Senders start, then run their timers and applications.
        for i in 0..peers.len() {
            let due = !peers[i].is_started()
                && match peers[i].plan.start {
                    Start::At(at) => now >= Instant::ZERO + at,
                    Start::WhenRunning(n) => listener.running() >= n,
                    Start::WhenVanished(j) => peers[j].vanished,
                    Start::WhenDone(j) => peers[j].is_over() && !peers[j].vanished,
                };
            if due {
                listener.admit_mut().owners[usize::from(peers[i].endpoint)] = Some(i);
                peers[i].start(now, listener.running());
                busy = true;
            }
        }
        for peer in &mut peers {
            busy |= peer.step(now, &mut trace);
        }

        // The listening application, then the listener's timers.
        let held = s.hold_commits_for.iter().any(|&j| !peers[j].is_over());
        busy |= app.work(&mut listener, &s.plans, now, held);
        if listener.poll_timeout().is_some_and(|t| t <= now) {
            let mut events = Vec::new();
            for _ in 0..=M {
                match listener.handle_timeout(now) {
                    Some(e) => events.push(e),
                    None => break,
                }
            }
            busy |= !events.is_empty();
            if let Some(trace) = trace.as_mut().filter(|_| !events.is_empty()) {
                trace.push(format!("{now:?} L timeout {events:?}"));
            }
            app.hear(&listener, &s.plans, now, events).unwrap_or_else(|e| panic!("{}: {e}", ctx(now)));
        }

        // What the senders send, and the intruder with it; what the listener sends.
        for (i, peer) in peers.iter_mut().enumerate() {
            while let Some((to, bytes, line)) = peer.transmit(now, trace.is_some()) {
                busy = true;
                if let Some(trace) = &mut trace {
                    trace.push(format!("{now:?} S{i} -> {line}"));
                }
                wire.send(now, Node::Peer(peer.endpoint), to, &bytes);
                if let Some(intruder) = &mut intruder
                    && roll(&mut chance, s.intruder_rate)
                {
                    let (from, to, forged) = intruder.forge();
                    intruder_wire.send(now, from, to, &forged);
                }
            }
            peer.note();
        }
        while let Some(t) = listener.poll_transmit(now) {
            busy = true;
            if let Some(trace) = &mut trace {
                trace.push(format!("{now:?} L -> {:?} {}", t.to, t.trace));
            }
            let (to, bytes) = (t.to, t.datagram.to_vec());
            let link = if matches!(to, Node::Intruder(_)) { &mut intruder_wire } else { &mut wire };
            link.send(now, Node::Receiver, to, &bytes);
        }

        if peers.iter().all(|p| p.is_started() && p.is_over()) && listener.running() == 0 {
            break;
        }
        if !busy {
            let next = [
                wire.next_arrival(),
                intruder_wire.next_arrival(),
                listener.poll_timeout(),
                app.next_wake(&listener, held),
                peers.iter_mut().filter_map(|p| p.poll_timeout()).min(),
                peers
                    .iter()
                    .filter(|p| !p.is_started())
                    .filter_map(|p| match p.plan.start {
                        Start::At(at) => Some(Instant::ZERO + at),
                        _ => None,
                    })
                    .min(),
            ]
            .into_iter()
            .flatten()
            .min();
            crate::sim::advance_clock(&mut now, &mut idle_steps, next, &ctx);
        }
    }
    PoolOutcome {
        senders: peers.into_iter().map(|p| p.record).collect(),
        transfers: app.transfers,
        offers: core::mem::take(&mut listener.admit_mut().seen),
        pool: M,
        intruder_sent: intruder.map_or([0; intruder::KINDS], |i| i.sent),
        trace: trace.unwrap_or_default(),
    }
}

/// The ISN of a native sender seeded with `seed`.
fn isn(seed: u64) -> crate::SeqNum {
    crate::SeqNum::from_wrapping(SplitMix64::new(seed).next_u32())
}

/// True with probability `p`.
fn roll(random: &mut SplitMix64, p: f64) -> bool {
    ((random.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
}

/// Whether `datagram` is a FIN with a `refuse` on the connection `conn`: a sender's
/// abandoning FIN (SPEC §10.4), not one forged with another `conn`.
fn is_abandoning_fin(datagram: &[u8], conn: Option<u16>) -> bool {
    crate::frame::decode(datagram).is_ok_and(|f| {
        f.repr.flags == crate::frame::Flags::FIN
            && Some(f.repr.conn) == conn
            && crate::options::refuse(f.payload).is_some()
    })
}
