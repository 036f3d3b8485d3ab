//! The scenarios, each over many seeds with 5-20% loss and 5-10% duplication and reordering,
//! every run judged by [`check`]. Most put the intruder on the link on odd seeds, and then
//! also check that every legitimate sender and transfer did exactly what it does without it
//! ([`run_checked`]). `SIM_SEEDS=<n>` runs `n` times as many seeds (a soak run).

use std::vec::Vec;

use super::checks::check;
use super::*;
use crate::sim::seeds;
use crate::{Error, ReceiverEvent, SenderEvent};

const FORBIDDEN: &[u8] = b"forbidden.bin";

/// The seed replayed alone (`SEED=<n>`): the counts over all seeds do not apply then.
fn replaying() -> Option<std::ffi::OsString> {
    std::env::var_os("SEED")
}

/// Events, with when they came.
type Timeline<E> = Vec<(Instant, E)>;

/// What the legitimate senders and their transfers did (the transfers by tag, with the bytes
/// taken), with the connection ids left out (the listener draws them from one sequence, which
/// the intruder's SYNs advance).
struct Legitimate {
    senders: Vec<Timeline<SenderEvent>>,
    transfers: Vec<(u32, Timeline<ReceiverEvent>, usize)>,
}

fn legitimate(out: &PoolOutcome) -> Legitimate {
    let senders = out
        .senders
        .iter()
        .map(|r| {
            let unconn = |(at, e)| match e {
                SenderEvent::Connected { .. } => (at, SenderEvent::Connected { conn: 0 }),
                e => (at, e),
            };
            r.events.iter().copied().map(unconn).collect()
        })
        .collect();
    let transfers = out
        .transfers
        .iter()
        .filter(|t| t.tag < INTRUDER_TAG)
        .map(|t| {
            let unconn = |(at, e)| match e {
                ReceiverEvent::Connected { transfer_size, .. } => {
                    (at, ReceiverEvent::Connected { conn: 0, transfer_size })
                }
                e => (at, e),
            };
            (t.tag, t.events.iter().copied().map(unconn).collect(), t.data.len())
        })
        .collect();
    Legitimate { senders, transfers }
}

/// Runs and checks `s`; with an intruder, checks too that the legitimate senders and
/// transfers did exactly what they do without it, to the microsecond: it never failed, slowed
/// or changed any of them.
fn run_checked<const M: usize>(s: &PoolScenario) -> PoolOutcome {
    let out = run::<M>(s);
    check(s, &out);
    if s.intruder_rate > 0.0 {
        let alone = run::<M>(&PoolScenario { intruder_rate: 0.0, ..s.clone() });
        let (with, without) = (legitimate(&out), legitimate(&alone));
        for (i, (a, b)) in with.senders.iter().zip(&without.senders).enumerate() {
            let k = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            assert!(
                a == b,
                "seed {}: sender {i} with the intruder: {:?}, without: {:?}",
                s.seed,
                a.get(k),
                b.get(k)
            );
        }
        for (a, b) in with.transfers.iter().zip(&without.transfers) {
            let k = a.1.iter().zip(&b.1).take_while(|(x, y)| x == y).count();
            assert!(
                a == b,
                "seed {}: transfer {} with the intruder: {:?}, without: {:?}",
                s.seed,
                a.0,
                a.1.get(k),
                b.1.get(k)
            );
        }
        assert_eq!(with.transfers.len(), without.transfers.len(), "seed {}", s.seed);
    }
    out
}

/// 5, 10, 15 or 20% loss each way, 5 or 10% duplication and reordering.
fn link(seed: u64) -> Link {
    let loss = [0.05, 0.1, 0.15, 0.2][(seed % 4) as usize];
    let other = [0.05, 0.1][(seed / 4 % 2) as usize];
    Link { dup: other, reorder: other, ..Link::lossy(loss) }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sender `i`'s data in run `seed` (eight bytes a draw: a debug build spends a while on
/// several hundred KB).
fn bytes(seed: u64, i: u64, len: u64) -> Vec<u8> {
    let mut random = SplitMix64::new(seed.wrapping_mul(64).wrapping_add(i) ^ 0xda7a);
    let mut out = Vec::with_capacity(len as usize + 8);
    while out.len() < len as usize {
        out.extend_from_slice(&random.next_u64().to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// Seven senders of every kind, starting within a second; the sixth sends nothing, the
/// seventh names an object the application refuses.
fn crowd(seed: u64) -> Vec<Plan> {
    let mut r = SplitMix64::new(seed ^ 0xc0ffee);
    let mut below = |n: u64| r.next_u64() % n;
    let big = if seed.is_multiple_of(4) { 200_000 + below(200_000) } else { 20_000 + below(40_000) };
    let digest = [DigestAlgorithm::Sha256, DigestAlgorithm::Crc32c][(seed % 2) as usize];
    let alternate = if seed.is_multiple_of(2) { Congestion::Reno } else { Congestion::Fixed };
    let mut plans = std::vec![
        // Windowed, a digest, named, the largest.
        Plan {
            frames: Frames::ThirtyTwo,
            window: 32,
            digest: Some(digest),
            name: Some(b"a/big.bin".to_vec()),
            ..Plan::new(bytes(seed, 0, big))
        },
        // Stop-and-wait offering nothing: the listener never refuses it.
        Plan { reader: Reader::Copy(700), ..Plan::new(bytes(seed, 1, [0, 1, 2000][(seed % 3) as usize])) },
        // A window of 4 with CRC-32C, read slowly.
        Plan {
            frames: Frames::Four,
            window: 4,
            digest: Some(DigestAlgorithm::Crc32c),
            congestion: alternate,
            reader: Reader::Slow { chunk: 1 + below(1024) as usize, every: ms(1 + below(50)) },
            ..Plan::new(bytes(seed, 2, [511, 512, 513, 5000][(seed / 2 % 4) as usize]))
        },
        // Stop-and-wait with a digest and a name, no size announced, committed late.
        Plan {
            digest: Some(DigestAlgorithm::Crc32c),
            name: Some(b"b".to_vec()),
            announce: false,
            commit_delay: ms(below(2000)),
            ..Plan::new(bytes(seed, 3, 30_000))
        },
        // 32 frame buffers offering 8, `fixed`, read slowly.
        Plan {
            frames: Frames::ThirtyTwo,
            window: 8,
            congestion: Congestion::Fixed,
            name: Some(b"c/d".to_vec()),
            reader: Reader::Slow { chunk: 512 + below(4096) as usize, every: ms(5 + below(15)) },
            ..Plan::new(bytes(seed, 4, 64_000 + below(40_000)))
        },
        // Nothing to send, named, windowed.
        Plan {
            frames: Frames::ThirtyTwo,
            window: 32,
            name: Some(b"empty".to_vec()),
            ..Plan::new(Vec::new())
        },
        // A name the application refuses.
        Plan {
            frames: Frames::Four,
            window: 4,
            name: Some(FORBIDDEN.to_vec()),
            expect: Expect::Refused(RefuseReason::Name),
            ..Plan::new(bytes(seed, 6, 3000))
        },
    ];
    for plan in &mut plans {
        plan.start = Start::At(ms(below(1000)));
    }
    plans
}

fn crowd_scenario(seed: u64) -> PoolScenario {
    let mut s = PoolScenario::new(seed, link(seed), crowd(seed));
    s.forbidden_name = Some(FORBIDDEN.to_vec());
    s
}

#[test]
fn a_crowd_of_senders_shares_the_listener() {
    for seed in seeds(150) {
        run_checked::<8>(&crowd_scenario(seed));
    }
}

#[test]
fn an_intruder_changes_nothing_for_a_crowd() {
    // Each seed runs twice: with the intruder, and without it to compare.
    for seed in seeds(80) {
        let mut s = crowd_scenario(seed);
        s.intruder_rate = 1.0;
        let out = run_checked::<8>(&s);
        // Every kind of forgery was tried.
        assert!(out.intruder_sent.iter().all(|&n| n > 0), "seed {seed}: {:?}", out.intruder_sent);
    }
}

/// A pool of two: two senders hold it (their commits held until the late ones that
/// understand a refusal are done); three more start once it is full. Those that understand a
/// refusal are refused busy at their SYN; one that does not is ignored until a slot frees,
/// then gets in.
fn busy(seed: u64) -> PoolScenario {
    let mut r = SplitMix64::new(seed ^ 0xb05e);
    let mut below = |n: u64| r.next_u64() % n;
    let late = |mut plan: Plan| {
        plan.start = Start::WhenRunning(2);
        plan
    };
    let mut plans = std::vec![
        Plan { frames: Frames::ThirtyTwo, window: 32, ..Plan::new(bytes(seed, 0, 50_000 + below(250_000))) },
        Plan { name: Some(b"held".to_vec()), ..Plan::new(bytes(seed, 1, 10_000 + below(20_000))) },
        late(Plan { frames: Frames::Four, window: 4, ..Plan::new(bytes(seed, 2, 5000)) }),
        // Understands a refusal when this build computes CRC-32C (it offers it then).
        late(Plan { digest: Some(DigestAlgorithm::Crc32c), ..Plan::new(bytes(seed, 3, 5000)) }),
        // Offers nothing: gets no refusal; its SYNs are dropped until a slot frees.
        late(Plan::new(bytes(seed, 4, 10_000))),
    ];
    for plan in &mut plans[2..] {
        if plan.refusable() {
            plan.expect = Expect::Refused(RefuseReason::Busy);
        } else {
            // In, unless (two of them competing for one slot) its half-open entry expires
            // before the pool has room for its third frame.
            plan.expect = Expect::SuccessOrBusy;
            plan.idle_timeout = Duration::from_secs(120);
        }
    }
    let mut s = PoolScenario::new(seed, link(seed), plans);
    s.hold_commits_for = (2..5).filter(|&i| s.plans[i].refusable()).collect();
    s.intruder_rate = if seed % 2 == 1 { 0.5 } else { 0.0 };
    s
}

#[test]
fn a_full_pool_refuses_busy_and_lets_a_silent_sender_in_later() {
    let mut turned_away = 0;
    let runs = seeds(150);
    for &seed in &runs {
        let s = busy(seed);
        let out = run_checked::<2>(&s);
        // The late ones started when the pool was full.
        for i in 2..5 {
            assert_eq!(out.senders[i].running_at_start, 2, "seed {seed}: sender {i}");
        }
        // The silent one: turned away while the pool was full (its SYN refused as busy
        // without a word), it connected only once a holder had left.
        let silent = out.transfers_of(4).next();
        assert!(silent.is_some() || !s.plans[3].refusable(), "seed {seed}: the silent sender never got in");
        let Some(silent) = silent else { continue };
        let connected = silent.span().0;
        let offers: Vec<_> = out.offers.iter().filter(|o| o.owner == Some(4)).collect();
        if offers.iter().any(|o| o.admission.is_none()) {
            turned_away += 1;
            let left = [0, 1]
                .iter()
                .filter_map(|&h| Some(out.transfers_of(h).next()?.span().1))
                .min()
                .expect("the holders' transfers");
            assert!(connected >= left, "seed {seed}: connected at {connected:?}, a holder left at {left:?}");
        }
        assert!(silent.running_at_connect <= 2, "seed {seed}");
    }
    // Most runs saw the silent sender turned away (its first SYN, when not lost).
    if replaying().is_none() {
        assert!(turned_away * 2 > runs.len(), "{turned_away} of {} runs", runs.len());
    }
}

/// A pool of two: one sender reads slowly for a minute, one vanishes mid-transfer, and one
/// that offers nothing starts when it vanishes: it gets in once the listener has given the
/// vanished transfer up (an idle timeout later) and freed its slot.
fn vanish(seed: u64) -> PoolScenario {
    let mut r = SplitMix64::new(seed ^ 0x7a415);
    let mut below = |n: u64| r.next_u64() % n;
    let size = 30_000 + below(50_000);
    // It starts once the slow reader holds its slot: then it fills the pool.
    let vanishing = Plan {
        start: Start::WhenRunning(1),
        stop: Stop::Vanish { after: size / 3 },
        expect: Expect::Vanishes,
        ..if seed.is_multiple_of(2) {
            Plan { frames: Frames::Four, window: 4, ..Plan::new(bytes(seed, 1, size)) }
        } else {
            Plan::new(bytes(seed, 1, size))
        }
    };
    let plans = std::vec![
        // 2 KiB every 800 ms: 150 KB take a minute.
        Plan {
            frames: Frames::ThirtyTwo,
            window: 16,
            digest: Some(DigestAlgorithm::Crc32c),
            reader: Reader::Slow { chunk: 2048, every: ms(800) },
            ..Plan::new(bytes(seed, 0, 150_000))
        },
        vanishing,
        Plan {
            start: Start::WhenVanished(1),
            idle_timeout: Duration::from_secs(120),
            ..Plan::new(bytes(seed, 2, 20_000 + below(20_000)))
        },
    ];
    let mut s = PoolScenario::new(seed, link(seed), plans);
    s.intruder_rate = if seed % 2 == 1 { 0.5 } else { 0.0 };
    s
}

#[test]
fn a_vanished_sender_times_out_and_frees_its_slot_for_a_later_one() {
    for seed in seeds(100) {
        let s = vanish(seed);
        let out = run_checked::<2>(&s);
        let failed = out.transfers_of(1).next().expect("the vanished transfer").span().1;
        let later = out.transfers_of(2).next().expect("the later sender's transfer");
        let slow = out.transfers_of(0).next().expect("the slow reader's transfer");
        // The later sender was turned away while the vanished transfer held its slot...
        let offers: Vec<_> = out.offers.iter().filter(|o| o.owner == Some(2)).collect();
        assert!(offers.iter().any(|o| o.admission.is_none() && o.at < failed), "seed {seed}: {offers:?}");
        // ...and got in after it failed, while the slow reader still held the other slot.
        let connected = later.span().0;
        assert!(connected >= failed, "seed {seed}: connected at {connected:?}, the slot freed at {failed:?}");
        assert_eq!(later.running_at_connect, 2, "seed {seed}");
        assert!(slow.span().1 > connected, "seed {seed}: the slow reader had left");
    }
}

/// Four senders at once; the first is aborted by its application mid-transfer.
fn abort(seed: u64) -> PoolScenario {
    let mut r = SplitMix64::new(seed ^ 0xab0);
    let mut below = |n: u64| r.next_u64() % n;
    let size = 60_000 + below(60_000);
    let aborted = Plan {
        stop: Stop::Abort { after: size / 3 },
        expect: Expect::Aborted,
        ..match seed % 3 {
            0 => Plan { frames: Frames::ThirtyTwo, window: 8, ..Plan::new(bytes(seed, 0, size)) },
            1 => Plan { name: Some(b"aborted".to_vec()), ..Plan::new(bytes(seed, 0, size)) },
            _ => Plan {
                frames: Frames::Four,
                window: 4,
                digest: Some(DigestAlgorithm::Sha256),
                ..Plan::new(bytes(seed, 0, size))
            },
        }
    };
    let plans = std::vec![
        aborted,
        Plan { frames: Frames::ThirtyTwo, window: 32, ..Plan::new(bytes(seed, 1, 40_000 + below(100_000))) },
        Plan { start: Start::At(ms(below(500))), ..Plan::new(bytes(seed, 2, below(20_000))) },
        Plan {
            frames: Frames::Four,
            window: 4,
            name: Some(b"other".to_vec()),
            reader: Reader::Slow { chunk: 2048, every: ms(10) },
            ..Plan::new(bytes(seed, 3, 30_000))
        },
    ];
    let mut s = PoolScenario::new(seed, link(seed), plans);
    s.intruder_rate = if seed % 2 == 1 { 0.5 } else { 0.0 };
    s
}

#[test]
fn an_aborted_sender_fails_only_its_own_transfer() {
    let (mut told, mut timed_out) = (0, 0);
    for seed in seeds(150) {
        let s = abort(seed);
        let out = run_checked::<4>(&s);
        if out.senders[0].abandon_delivered { told += 1 } else { timed_out += 1 }
    }
    // Both endings happened: the abandoning FIN arrived, and it was lost.
    if replaying().is_none() {
        assert!(told > 0 && timed_out > 0, "told {told}, timed out {timed_out}");
    }
}

/// A pool of two and five senders at once: each gets in, or is refused busy, at its SYN or
/// at its third frame (the pool filled up between the two); those that offer nothing are
/// never refused: their third frame gets in once a slot frees.
fn rush(seed: u64) -> PoolScenario {
    let mut r = SplitMix64::new(seed ^ 0x2054);
    let mut below = |n: u64| r.next_u64() % n;
    let mut plans = std::vec![
        Plan { frames: Frames::ThirtyTwo, window: 16, ..Plan::new(bytes(seed, 0, 10_000 + below(50_000))) },
        Plan::new(bytes(seed, 1, below(20_000))),
        Plan { digest: Some(DigestAlgorithm::Crc32c), ..Plan::new(bytes(seed, 2, below(20_000))) },
        Plan { frames: Frames::Four, window: 4, ..Plan::new(bytes(seed, 3, below(30_000))) },
        Plan { name: Some(b"five".to_vec()), ..Plan::new(bytes(seed, 4, below(10_000))) },
    ];
    for plan in &mut plans {
        plan.start = Start::At(Duration::from_micros(below(3000)));
        plan.expect = Expect::SuccessOrBusy;
    }
    let mut s = PoolScenario::new(seed, link(seed), plans);
    s.intruder_rate = if seed % 2 == 1 { 0.5 } else { 0.0 };
    s
}

#[test]
fn a_rush_on_a_small_pool_refuses_busy_at_the_syn_or_the_third_frame() {
    let (mut at_syn, mut at_third_frame, mut silent_waited) = (0, 0, 0);
    for seed in seeds(200) {
        let s = rush(seed);
        let out = run_checked::<2>(&s);
        for (i, r) in out.senders.iter().enumerate() {
            if r.failed() == Some(Error::Refused(RefuseReason::Busy)) {
                assert!(s.plans[i].refusable(), "seed {seed}: sender {i} offered nothing, yet was refused");
                if r.at(|e| matches!(e, SenderEvent::Connected { .. })).is_some() {
                    at_third_frame += 1;
                } else {
                    at_syn += 1;
                }
            }
        }
        // The sender that offers nothing got in once a slot freed, though its third frame
        // first came while the pool was full (or it timed out: checked above).
        let silent = &out.senders[1];
        if let Some(t) = out.transfers_of(1).next()
            && silent.arrivals.iter().any(|&(at, running, _)| running == 2 && at < t.span().0)
        {
            silent_waited += 1;
        }
    }
    if replaying().is_none() {
        assert!(
            at_syn > 0 && at_third_frame > 0 && silent_waited > 0,
            "{at_syn} {at_third_frame} {silent_waited}"
        );
    }
}

/// A pool of two: one sender reads slowly, one vanishes mid-transfer and its sender restarts
/// from the same endpoint (the same name on even seeds): the new transfer supersedes the old
/// one (SPEC §10.4) at once, without waiting for its idle timeout.
fn restart(seed: u64) -> PoolScenario {
    let mut s = vanish(seed);
    let name = seed.is_multiple_of(2).then(|| b"restarted.bin".to_vec());
    s.plans[1].name = name.clone();
    s.plans[2] = Plan {
        start: Start::WhenVanished(1),
        endpoint: Some(1),
        name,
        frames: if seed.is_multiple_of(3) { Frames::Four } else { Frames::One },
        window: 4,
        ..Plan::new(s.plans[1].data.clone())
    };
    s
}

#[test]
fn a_restarted_sender_supersedes_its_vanished_transfer() {
    let mut at_once = 0;
    let runs = seeds(100);
    for &seed in &runs {
        let s = restart(seed);
        let out = run_checked::<2>(&s);
        let old = out.transfers_of(1).next().expect("the vanished transfer");
        let new = out.transfers_of(2).next().expect("the restarted transfer");
        let (failed, connected) = (old.span().1, new.span().0);
        assert!(
            failed <= connected,
            "seed {seed}: the old transfer failed at {failed:?}, the new connected {connected:?}"
        );
        assert_eq!(new.running_at_connect, 2, "seed {seed}");
        assert_ne!(old.events[0].1, new.events[0].1, "seed {seed}: the same conn again");
        if failed == connected {
            at_once += 1;
        }
    }
    if replaying().is_none() {
        assert!(at_once * 10 > runs.len() * 9, "{at_once} of {} superseded at once", runs.len());
    }
}

/// Four senders; the listening application cancels two of them (one that understands a
/// refusal, one that offers nothing) and cannot commit a third.
fn refusing_application(seed: u64) -> PoolScenario {
    let mut r = SplitMix64::new(seed ^ 0xa995);
    let mut below = |n: u64| r.next_u64() % n;
    let size = 20_000 + below(40_000);
    let plans = std::vec![
        Plan {
            frames: Frames::ThirtyTwo,
            window: 8,
            reader: Reader::Slow { chunk: 1024, every: ms(5) },
            expect: Expect::Cancelled { after: size as usize / 3 },
            ..Plan::new(bytes(seed, 0, size))
        },
        Plan {
            reader: Reader::Slow { chunk: 700, every: ms(5) },
            expect: Expect::Cancelled { after: size as usize / 2 },
            ..Plan::new(bytes(seed, 1, size))
        },
        Plan {
            digest: Some(DigestAlgorithm::Sha256),
            commit_delay: ms(below(1000)),
            expect: Expect::CommitFails,
            ..Plan::new(bytes(seed, 2, below(30_000)))
        },
        Plan { frames: Frames::Four, window: 4, ..Plan::new(bytes(seed, 3, below(30_000))) },
    ];
    let mut s = PoolScenario::new(seed, link(seed), plans);
    s.intruder_rate = if seed % 2 == 1 { 0.5 } else { 0.0 };
    s
}

#[test]
fn the_listening_application_cancels_and_fails_commits() {
    for seed in seeds(200) {
        run_checked::<4>(&refusing_application(seed));
    }
}

/// A pool of two: one endpoint sends three objects one after another (a new sender, and so a
/// new connection, for each, as soon as the one before is done), while another sender runs.
/// The listener lets each new connection supersede what is left of the one before (a
/// transfer still waiting for its final ACK).
fn one_after_another(seed: u64) -> PoolScenario {
    let mut r = SplitMix64::new(seed ^ 0x5e9);
    let mut below = |n: u64| r.next_u64() % n;
    let plans = std::vec![
        Plan {
            frames: Frames::Four,
            window: 4,
            name: Some(b"1".to_vec()),
            ..Plan::new(bytes(seed, 0, below(20_000)))
        },
        Plan { start: Start::WhenDone(0), endpoint: Some(0), ..Plan::new(bytes(seed, 1, below(20_000))) },
        Plan {
            start: Start::WhenDone(1),
            endpoint: Some(0),
            frames: Frames::ThirtyTwo,
            window: 16,
            digest: Some(DigestAlgorithm::Crc32c),
            ..Plan::new(bytes(seed, 2, below(40_000)))
        },
        Plan { frames: Frames::ThirtyTwo, window: 8, ..Plan::new(bytes(seed, 3, 50_000 + below(50_000))) },
    ];
    let mut s = PoolScenario::new(seed, link(seed), plans);
    s.intruder_rate = if seed % 2 == 1 { 0.5 } else { 0.0 };
    s
}

#[test]
fn one_endpoint_sends_one_object_after_another() {
    let mut superseded = 0;
    for seed in seeds(200) {
        let out = run_checked::<2>(&one_after_another(seed));
        // Each connection of the endpoint has a conn of its own.
        let conns: Vec<u16> = (0..3).map(|i| out.senders[i].conn).collect();
        assert!(conns[0] != conns[1] && conns[1] != conns[2], "seed {seed}: {conns:?}");
        // A transfer still lingering (its final ACK lost) closed when the next one connected.
        for i in 0..2 {
            let (old, new) = (out.transfers_of(i).next().unwrap(), out.transfers_of(i + 1).next().unwrap());
            superseded += usize::from(old.span().1 == new.span().0);
        }
    }
    if replaying().is_none() {
        assert!(superseded > 0, "no transfer was superseded while it lingered");
    }
}
