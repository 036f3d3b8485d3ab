//! Power cuts under the flash sink ([`crate::flash::FlashSink`]): one object sent again and
//! again into a [`Listener`] whose admission policy and application is a flash sink over the
//! NOR emulator ([`crate::flash::emulated`]), over the lossy simulated link of [`super`], until
//! a transfer commits it. A power cut strikes at a random flash operation of an attempt (an
//! erase or a write of data, of a record, of the commit's record, or of the erase ahead): that
//! operation is torn as the `NorFlash` docs allow (done in part, garbage where it stopped), all
//! RAM state is lost (the listener and the sink are dropped) and the flash is kept as it is. The
//! sink is opened again over it, and the next attempt resumes from what the record says.
//!
//! Checked at each cut and at the end: a record that calls the image committed is the object,
//! byte for byte (never a wrong image marked valid); a record of the object counts only bytes
//! the flash holds (not in the bad-write runs, where a flipped bit may lie within them: there the
//! digest must catch it); a resume point is a whole number of sectors and frames, or the whole
//! object; a sender that succeeded did so only after its image was committed; the emulator
//! panics on any NOR rule broken (a word written twice, a bit set by a write, misalignment).
//! In the bad-write variant one write lands with a bit flipped.
//!
//! A run is a pure function of its [`FlashScenario`]: `SEED=<n>` replays one seed, and
//! `SIM_TRACE=1` prints what happened.

use std::format;
use std::string::String;
use std::vec::Vec;

use sha2::Digest as _;

use super::{Link, Node, Wire};
use crate::flash::emulated::NorEmulator;
use crate::flash::{FlashSink, Layout};
use crate::random::SplitMix64;
use crate::{
    DigestAlgorithm, Duration, Engine, Error, Instant, Listener, ListenerConfig, ListenerEvent,
    ReceiverConfig, ReceiverEvent, Sender, SenderConfig, SenderEvent, Timing, TransferId,
};

/// The idle timeout of both sides.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts before a run counts as failed.
const MAX_ATTEMPTS: usize = 40;
/// Loop iterations before a run counts as hung.
const MAX_STEPS: u64 = 20_000_000;

/// A run.
#[derive(Clone, Debug)]
pub(crate) struct FlashScenario {
    pub seed: u64,
    pub size: usize,
    pub link: Link,
    /// Attempts cut by a power loss before the rest run to the end.
    pub cuts: usize,
    /// One write lands with a bit flipped.
    pub bad_write: bool,
}

/// What the seeds of a test did.
#[derive(Default, Debug)]
pub(crate) struct Tally {
    pub runs: u64,
    pub attempts: u64,
    /// Power cuts, and of them those that struck a record's write or its sector's erase, and
    /// those that struck between the data's end and the commit.
    pub cuts: u64,
    pub cuts_in_records: u64,
    pub cuts_before_commit: u64,
    /// Attempts resumed from more than 0, and from the whole object.
    pub resumed: u64,
    pub resumed_whole: u64,
    /// Attempts that failed the digest (a bad write, or a damaged resumed prefix).
    pub mismatches: u64,
    /// Bad writes that landed in the image (not in a record).
    pub bad_writes: u64,
    /// Flash operations in all.
    pub ops: u64,
}

type Pool<const WR: usize, const ER: usize, const B: usize, const N: usize> =
    Listener<Node, FlashSink<NorEmulator<WR, ER>, B>, 1, N>;

/// One try: a sender, and what it and its transfer did.
struct Attempt<const N: usize> {
    sender: Sender<Node, N>,
    endpoint: u8,
    written: Option<usize>,
    finished: bool,
    transfer: Option<TransferId>,
    /// Its listener was lost to a power cut.
    cut: bool,
    sender_events: Vec<SenderEvent>,
    listener_events: Vec<ReceiverEvent>,
}

fn new_listener<const WR: usize, const ER: usize, const B: usize, const N: usize>(
    flash: &NorEmulator<WR, ER>,
    layout: Layout,
    random: &mut SplitMix64,
    now: Instant,
) -> Pool<WR, ER, B, N> {
    let sink = FlashSink::open(flash.clone(), layout).expect("the sink opens over what a cut left");
    let receiver = ReceiverConfig {
        idle_timeout: IDLE_TIMEOUT,
        hash_read_back: true,
        ..ReceiverConfig::new(random.next_u64())
    };
    Listener::new(ListenerConfig { receiver, ..ListenerConfig::new(0) }, sink, now)
}

fn below(random: &mut SplitMix64, n: u64) -> u64 {
    if n == 0 { 0 } else { random.next_u64() % n }
}

/// Checks what the flash holds against what its record says: a committed image is the object;
/// a record of the object counts only bytes the flash holds (unless `bad_write`).
fn check_flash<const WR: usize, const ER: usize, const B: usize>(
    sink: &FlashSink<NorEmulator<WR, ER>, B>,
    flash: &NorEmulator<WR, ER>,
    object: &[u8],
    id: &[u8],
    bad_write: bool,
    ctx: &str,
) {
    let record = sink.record();
    if record.is_committed() {
        assert_eq!(record.object_id(), Some(id), "{ctx}: another object committed");
        assert_eq!(record.size(), object.len() as u64, "{ctx}: committed with another size");
        assert_eq!(record.digest(), Some(DigestAlgorithm::Sha256), "{ctx}");
        assert!(flash.bytes(0..object.len()) == object, "{ctx}: a wrong image is marked committed");
    }
    if record.object_id() == Some(id) && !bad_write {
        let durable = record.durable() as usize;
        assert!(
            flash.bytes(0..durable) == object[..durable],
            "{ctx}: the record counts {durable} bytes the flash does not hold"
        );
    }
}

/// Runs `s` with a flash of `WR`-byte words and `ER`-byte sectors, a sink buffer of `B` bytes
/// and senders (and the listener) of window `N`, until an attempt has committed the object.
pub(crate) fn run<const WR: usize, const ER: usize, const B: usize, const N: usize>(
    s: &FlashScenario,
    tally: &mut Tally,
) {
    let mut random = SplitMix64::new(s.seed);
    let mut now = Instant::ZERO;
    let trace = std::env::var_os("SIM_TRACE").is_some();
    let ctx = |now: Instant| format!("seed {} at {now:?} (replay: SEED={} SIM_TRACE=1)", s.seed, s.seed);
    let log = |now: Instant, line: String| {
        if trace {
            std::eprintln!("{now:?} {line}");
        }
    };
    let object = super::data(s.seed, s.size);
    let id: [u8; 16] = sha2::Sha256::digest(&object)[..16].try_into().expect("16 bytes");
    // The image region: the object rounded up to a sector, and a sector more; the records
    // after it.
    let image_len = (s.size.div_ceil(ER) + 1) * ER;
    let layout = Layout { image_start: 0, image_len: image_len as u32, state_start: image_len as u32 };
    let flash: NorEmulator<WR, ER> = NorEmulator::new(image_len / ER + 2, random.next_u64());
    let mut listener: Pool<WR, ER, B, N> = new_listener(&flash, layout, &mut random, now);
    let mut wire = Wire::new(s.link.clone(), random.next_u64());
    let mut attempts: Vec<Attempt<N>> = Vec::new();
    let mut next_start = Some(now);
    let mut cuts_left = s.cuts;
    let mut flip_armed = false;
    let mut committed_by: Option<usize> = None;
    let mut idle_steps = 0u32;
    // Flash operations of a whole transfer, about: data writes, erases, records.
    let full_ops = (s.size / B + 2 * s.size.div_ceil(ER) + 6) as u64;

    for step in 0.. {
        assert!(step < MAX_STEPS, "{}: too many steps", ctx(now));
        let mut busy = false;

        // The next attempt, when due: the power cut (or the bad write) it will meet is armed.
        if next_start.is_some_and(|t| now >= t) {
            next_start = None;
            busy = true;
            let k = attempts.len();
            assert!(k < MAX_ATTEMPTS, "{}: no commit in {k} attempts", ctx(now));
            if cuts_left > 0 {
                cuts_left -= 1;
                // Anywhere in a transfer's operations, or a little past them (no cut).
                let at = flash.op_after(below(&mut random, full_ops + 4));
                flash.nor().cut_at = Some(at);
                log(now, format!("attempt {k}: power cut armed at op {at}"));
            }
            if s.bad_write && !flip_armed {
                flip_armed = true;
                let at = flash.op_after(below(&mut random, full_ops));
                flash.nor().flip_at = Some(at);
                log(now, format!("attempt {k}: bad write armed at op {at}"));
            }
            let config = SenderConfig {
                timing: Timing { idle_timeout: IDLE_TIMEOUT, ..Timing::DEFAULT },
                transfer_size: Some(object.len() as u64),
                digest: Some(DigestAlgorithm::Sha256),
                ..SenderConfig::new(random.next_u64())
            };
            let mut sender = Sender::<Node, N>::new(config, Node::Receiver, now);
            assert!(sender.offer_object_id(&id));
            attempts.push(Attempt {
                sender,
                endpoint: k as u8,
                written: None,
                finished: false,
                transfer: None,
                cut: false,
                sender_events: Vec::new(),
                listener_events: Vec::new(),
            });
        }

        // Deliver what is due; the application hears the listener's events at once.
        while let Some(d) = wire.due(now) {
            busy = true;
            match d.to {
                Node::Receiver => {
                    let h = listener.handle_datagram(now, d.from, &d.bytes);
                    log(now, format!("L <- {:?}: {} {:?}", d.from, h.trace, h.events));
                    for e in h.events.iter().copied() {
                        hear(&mut listener, &mut attempts, e, now, &object, &ctx);
                    }
                }
                Node::Peer(e) => {
                    let a = &mut attempts[usize::from(e)];
                    let h = a.sender.handle_datagram(now, d.from, &d.bytes);
                    for &ev in &h.events {
                        a.sender_events.push(ev);
                        match ev {
                            SenderEvent::Connected { .. } => {
                                let from = a.sender.resume_from();
                                a.written = Some(from as usize);
                                log(now, format!("S{e} connected, resumes from {from}"));
                                if from > 0 {
                                    tally.resumed += 1;
                                    tally.resumed_whole += u64::from(from == object.len() as u64);
                                    let unit = (ER.max(512) as u64).max(B as u64);
                                    assert!(
                                        from == object.len() as u64 || from.is_multiple_of(unit),
                                        "{}: resumed from {from}, not a whole number of sectors",
                                        ctx(now)
                                    );
                                }
                            }
                            SenderEvent::Finished => {
                                // The FIN|ACK came after the commit's record.
                                let sink = listener.admit_mut();
                                assert_eq!(sink.committed(), Some(object.len() as u64), "{}", ctx(now));
                                check_flash(sink, &flash, &object, &id, s.bad_write, &ctx(now));
                            }
                            _ => {}
                        }
                    }
                }
                Node::Sender | Node::Intruder(_) => {}
            }
        }

        // The senders: timers, the held prefix to their digest, data, what they send.
        for (k, a) in attempts.iter_mut().enumerate() {
            if a.sender.is_done() {
                continue;
            }
            if a.sender.poll_timeout().is_some_and(|t| t <= now)
                && let Some(e) = a.sender.handle_timeout(now)
            {
                a.sender_events.push(e);
                busy = true;
            }
            while a.sender.prefix_left() > 0 {
                let at = (a.sender.resume_from() - a.sender.prefix_left()) as usize;
                let room = a.sender.prefix_buf();
                let n = room.len();
                room.copy_from_slice(&object[at..at + n]);
                a.sender.advance_prefix(n);
                busy = true;
            }
            if let Some(written) = &mut a.written {
                let n = a.sender.write(&object[*written..]);
                *written += n;
                busy |= n > 0;
                if *written == object.len() && !a.finished {
                    a.finished = true;
                    busy = true;
                    a.sender_events.extend(a.sender.finish());
                }
            }
            while let Some(t) = a.sender.poll_transmit(now) {
                busy = true;
                log(now, format!("S{k} -> {}", t.trace));
                wire.send(now, Node::Peer(a.endpoint), t.to, t.datagram);
            }
        }

        // The receiving application: the data to the flash, the erase ahead.
        let writer = attempts.iter().rposition(|a| a.transfer.is_some() && !a.cut);
        if let Some(k) = writer
            && let Some(id) = attempts[k].transfer
            && let Some((rx, sink)) = listener.transfer_and_admit_mut(id)
        {
            match sink.take(rx, now) {
                Ok(n) => busy |= n > 0,
                Err(e) => {
                    log(now, format!("take: {e:?}"));
                    busy = true;
                }
            }
        }
        if let Ok(true) = listener.admit_mut().erase_ahead() {
            busy = true;
        }

        // The listener's timers and replies.
        if listener.poll_timeout().is_some_and(|t| t <= now) {
            while let Some(e) = listener.handle_timeout(now) {
                busy = true;
                log(now, format!("L timeout {e:?}"));
                hear(&mut listener, &mut attempts, e, now, &object, &ctx);
            }
        }

        // A power cut: all RAM is lost, the flash stays as the cut left it.
        if flash.nor().is_cut {
            busy = true;
            tally.cuts += 1;
            let cut_op = flash.nor().cut_at;
            log(now, format!("power cut at op {cut_op:?}"));
            tally.cuts_in_records +=
                u64::from(flash.nor().cut_offset.is_some_and(|at| at >= layout.state_start));
            tally.cuts_before_commit += u64::from(
                attempts.iter().any(|a| !a.cut && a.listener_events.contains(&ReceiverEvent::Finished)),
            );
            for a in attempts.iter_mut().filter(|a| a.transfer.is_some()) {
                a.cut = true;
            }
            flash.reboot();
            listener = new_listener(&flash, layout, &mut random, now);
            check_flash(listener.admit_mut(), &flash, &object, &id, s.bad_write, &ctx(now));
            if committed_by.is_none() {
                next_start.get_or_insert(now + Duration::from_millis(below(&mut random, 2000)));
            }
        }
        while let Some(t) = listener.poll_transmit(now) {
            busy = true;
            log(now, format!("L -> {:?} {}", t.to, t.trace));
            wire.send(now, Node::Receiver, t.to, t.datagram);
        }

        // The next attempt once the last one is over and nothing is committed.
        if committed_by.is_none()
            && let Some(k) = attempts.iter().position(|a| a.sender_events.contains(&SenderEvent::Finished))
        {
            committed_by = Some(k);
        }
        if next_start.is_none()
            && committed_by.is_none()
            && let Some(last) = attempts.last()
            && last.sender.is_done()
            && listener.running() == 0
        {
            next_start = Some(now + Duration::from_millis(below(&mut random, 2000)));
        }
        if committed_by.is_some() && attempts.iter().all(|a| a.sender.is_done()) && listener.running() == 0 {
            break;
        }
        if !busy {
            let next = [
                wire.next_arrival(),
                listener.poll_timeout(),
                attempts.iter().filter_map(|a| a.sender.poll_timeout()).min(),
                next_start,
            ]
            .into_iter()
            .flatten()
            .min();
            super::advance_clock(&mut now, &mut idle_steps, next, &ctx);
        }
    }

    // The end: the object is committed and in place, 0xFF after it to its sector's end; every
    // sender that succeeded is the one whose transfer committed; digest failures only where a
    // bad write struck.
    let sink = listener.admit_mut();
    check_flash(sink, &flash, &object, &id, s.bad_write, &ctx(now));
    assert_eq!(sink.committed(), Some(object.len() as u64), "{}: not committed", ctx(now));
    let end = s.size.div_ceil(ER) * ER;
    assert!(flash.bytes(s.size..end).iter().all(|&b| b == 0xff), "{}: not padded", ctx(now));
    let nor = flash.nor();
    tally.bad_writes += u64::from(nor.flipped.is_some_and(|(at, _)| at < image_len));
    for (k, a) in attempts.iter().enumerate() {
        let succeeded = a.sender_events.contains(&SenderEvent::Finished);
        assert!(
            !succeeded || Some(k) == committed_by || a.cut,
            "{}: attempt {k} succeeded uncommitted",
            ctx(now)
        );
        let mismatch = a.listener_events.contains(&ReceiverEvent::Failed(Error::DigestMismatch));
        assert!(!mismatch || s.bad_write, "{}: attempt {k} failed the digest with no bad write", ctx(now));
        tally.mismatches += u64::from(mismatch);
    }
    tally.runs += 1;
    tally.attempts += attempts.len() as u64;
    tally.ops += nor.ops;
}

/// The application's part of a listener event: the sink's calls (the module docs' loop).
fn hear<const WR: usize, const ER: usize, const B: usize, const N: usize>(
    listener: &mut Pool<WR, ER, B, N>,
    attempts: &mut [Attempt<N>],
    e: ListenerEvent,
    now: Instant,
    object: &[u8],
    ctx: &dyn Fn(Instant) -> String,
) {
    // The tag is the sink's; the endpoint tells the attempt.
    let Some(k) = attempts.iter().rposition(|a| a.transfer == Some(e.id) && !a.cut).or_else(|| {
        let peer = listener.transfer(e.id).and_then(|r| r.peer());
        attempts.iter().position(|a| Some(Node::Peer(a.endpoint)) == peer)
    }) else {
        return;
    };
    let a = &mut attempts[k];
    a.listener_events.push(e.event);
    match e.event {
        ReceiverEvent::Connected { transfer_size, .. } => {
            assert_eq!(transfer_size, Some(object.len() as u64), "{}", ctx(now));
            a.transfer = Some(e.id);
            if let Some((rx, sink)) = listener.transfer_and_admit_mut(e.id) {
                let _ = sink.connected(rx, now, e.tag, transfer_size);
            }
        }
        ReceiverEvent::Finished => {
            if let Some((rx, sink)) = listener.transfer_and_admit_mut(e.id)
                && let Ok(done) = sink.finished(rx, now)
            {
                assert_eq!(done.len, object.len() as u64, "{}", ctx(now));
            }
        }
        ReceiverEvent::Failed(error) => {
            let _ = listener.admit_mut().failed(e.tag, error);
        }
        _ => {}
    }
}

/// Judges the seeds.
pub(crate) fn scenarios(count: u64, bad_write: bool) -> impl Iterator<Item = FlashScenario> {
    super::seeds(count).into_iter().map(move |seed| {
        let mut random = SplitMix64::new(seed ^ 0xf1a5_0000);
        let size = match seed % 6 {
            0 => [0, 1, 511, 512, 513, 4096][below(&mut random, 6) as usize],
            1 | 2 => 512 * (1 + below(&mut random, 160) as usize),
            _ => below(&mut random, 100 * 1024) as usize,
        };
        let loss = [0.0, 0.05, 0.1][below(&mut random, 3) as usize];
        let link =
            Link { loss, dup: 0.05, reorder: 0.05, jitter: Duration::from_micros(500), ..Link::PERFECT };
        let cuts = 1 + below(&mut random, 4) as usize;
        FlashScenario { seed, size, link, cuts, bad_write }
    })
}

/// Runs a scenario on one of four flashes (by seed), windows 1 and 8.
pub(crate) fn run_any(s: &FlashScenario, tally: &mut Tally) {
    match s.seed % 4 {
        0 => run::<4, 4096, 512, 1>(s, tally),
        1 => run::<16, 1024, 512, 8>(s, tally),
        2 => run::<256, 4096, 512, 8>(s, tally),
        _ => run::<1, 512, 64, 1>(s, tally),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_cuts_at_random_points_resume_and_never_commit_a_wrong_image() {
        let mut tally = Tally::default();
        for s in scenarios(300, false) {
            run_any(&s, &mut tally);
        }
        std::eprintln!("{tally:?}");
        if std::env::var_os("SEED").is_none() {
            assert!(tally.cuts >= tally.runs, "{tally:?}");
            assert!(tally.resumed >= tally.runs / 3, "{tally:?}");
            assert!(tally.cuts_in_records > 0 && tally.resumed_whole > 0, "{tally:?}");
        }
    }

    #[test]
    fn a_bad_write_is_caught_by_the_digest_and_never_committed() {
        let mut tally = Tally::default();
        for s in scenarios(120, true) {
            run_any(&s, &mut tally);
        }
        std::eprintln!("{tally:?}");
        if std::env::var_os("SEED").is_none() {
            assert!(tally.mismatches >= tally.bad_writes / 2 && tally.mismatches > 0, "{tally:?}");
        }
    }
}
