//! The judge of a [`run`](super::run): every output of every engine against what the
//! scenario's plans expect ([`Expect`]), and the properties that hold whatever happened.
//!
//! - Every transfer the listener reports is from the endpoint of the sender whose tag it carries
//!   (or the intruder's), runs `Connected`, `Delivered`..., then `Finished` and `Closed`, or
//!   `Failed`; the bytes it gave are a prefix of that sender's data, and all of it when it
//!   finished. The listener never finishes an intruder's transfer.
//! - A committed transfer's sender reports `Finished` then `Closed`, not before the commit;
//!   no sender reports success without its transfer having been committed.
//! - What each sender offered is what the application was shown; what was granted is what
//!   both sides report.
//! - A refused sender never had a transfer; a vanished or aborted one had one that failed
//!   (and how, and when, depends on what the listener could know).
//!
//! (That every transfer ends and leaves the pool, the run itself checks: it goes on until
//! then, and panics if nothing is left that could make it happen.)

use std::format;
use std::string::String;
use std::vec::Vec;

use super::{Expect, INTRUDER_TAG, PoolOutcome, PoolScenario, SenderRecord, TransferRecord};
use crate::sim::Node;
use crate::{Admission, Duration, Error, Instant, ReceiverEvent, RefuseReason, SenderEvent};

/// Panics, with the seed, at the first output the scenario does not allow.
pub(crate) fn check(s: &PoolScenario, out: &PoolOutcome) {
    let ctx = |what: String| format!("seed {} (replay: SEED={} SIM_TRACE=1): {what}", s.seed, s.seed);
    for line in &out.trace {
        std::eprintln!("{line}");
    }
    for t in &out.transfers {
        check_transfer(s, t).unwrap_or_else(|e| {
            panic!("{}", ctx(format!("transfer {:?} tag {}: {e}\n  {:?}", t.id, t.tag, t.events)))
        });
    }
    for (i, record) in out.senders.iter().enumerate() {
        check_sender(s, out, i, record).unwrap_or_else(|e| {
            panic!(
                "{}",
                ctx(format!("sender {i} ({:?}): {e}\n  events {:?}", s.plans[i].expect, record.events))
            )
        });
    }
}

/// The endpoint sender `i` sends from.
fn endpoint(s: &PoolScenario, i: usize) -> Node {
    Node::Peer(s.plans[i].endpoint.unwrap_or(i) as u8)
}

/// What holds for every transfer, whatever its sender's plan.
fn check_transfer(s: &PoolScenario, t: &TransferRecord) -> Result<(), String> {
    let events: Vec<ReceiverEvent> = t.events.iter().map(|&(_, e)| e).collect();
    let Some((ReceiverEvent::Connected { conn, transfer_size }, rest)) = events.split_first() else {
        return Err("does not start with Connected".into());
    };
    // Delivered..., then Finished and Closed, or Failed (maybe after Finished).
    let delivered = rest.iter().take_while(|e| matches!(e, ReceiverEvent::Delivered { .. })).count();
    let ending = &rest[delivered..];
    // A failed commit to a sender that understands no refusal ends it without a word.
    let ok_ending = matches!(
        ending,
        [ReceiverEvent::Finished, ReceiverEvent::Closed | ReceiverEvent::Failed(_)]
            | [ReceiverEvent::Failed(_)]
    ) || (ending == [ReceiverEvent::Finished] && t.commit_failed.is_some());
    if !ok_ending {
        return Err("events out of order, or unended".into());
    }
    let delivered_bytes: u64 = rest
        .iter()
        .map(|e| if let ReceiverEvent::Delivered { bytes } = e { u64::from(*bytes) } else { 0 })
        .sum();
    if delivered_bytes < t.data.len() as u64 {
        return Err(format!("took {} bytes, {delivered_bytes} delivered", t.data.len()));
    }
    if t.tag >= INTRUDER_TAG {
        if t.has(ReceiverEvent::Finished) {
            return Err("the intruder's transfer finished".into());
        }
        return match t.peer {
            Some(Node::Intruder(k)) if t.tag == INTRUDER_TAG + u32::from(k) => Ok(()),
            peer => Err(format!("an intruder's tag from {peer:?}")),
        };
    }
    let Some(plan) = s.plans.get(t.tag as usize) else {
        return Err("a tag the application never gave".into());
    };
    if t.peer != Some(endpoint(s, t.tag as usize)) {
        return Err(format!("from {:?}, not the sender with its tag", t.peer));
    }
    if !plan.data.starts_with(&t.data) {
        return Err(format!("took {} bytes that are not a prefix of its sender's data", t.data.len()));
    }
    let announced = plan.announce.then_some(plan.data.len() as u64);
    if *transfer_size != announced {
        return Err(format!("transfer_size {transfer_size:?}, the sender announced {announced:?}"));
    }
    if *conn == 0 {
        return Err("conn 0".into());
    }
    if t.window != plan.granted_window() || t.digest != plan.offered_digest() {
        return Err(format!("granted window {} and digest {:?}", t.window, t.digest));
    }
    let finished = t.has(ReceiverEvent::Finished);
    if finished && (t.data != plan.data || delivered_bytes != plan.data.len() as u64) {
        return Err(format!(
            "finished with {} of {} bytes ({delivered_bytes} delivered)",
            t.data.len(),
            plan.data.len()
        ));
    }
    if t.committed.is_some() && !(finished && ending.last() == Some(&ReceiverEvent::Closed)) {
        return Err("committed, but not finished and closed".into());
    }
    match plan.expect {
        // The application commits whatever finishes.
        Expect::Success | Expect::SuccessOrBusy | Expect::Vanishes | Expect::Aborted => {
            if finished != t.committed.is_some() {
                return Err(format!("finished {finished}, committed {:?}", t.committed));
            }
        }
        Expect::Cancelled { .. } => {
            if t.committed.is_some() || t.failed() != Some(Error::Stopped(RefuseReason::Cancelled)) {
                return Err("not cancelled".into());
            }
        }
        Expect::CommitFails => {
            // To a sender that understands it, the close completes all the same (SPEC §10.4).
            let end: &[ReceiverEvent] = if plan.refusable() {
                &[ReceiverEvent::Finished, ReceiverEvent::Closed]
            } else {
                &[ReceiverEvent::Finished]
            };
            if t.committed.is_some() || t.commit_failed.is_none() || ending != end {
                return Err(format!("commit failed at {:?}", t.commit_failed));
            }
        }
        Expect::Refused(_) => return Err("a refused sender's transfer".into()),
    }
    Ok(())
}

/// The one transfer with tag `i`, if any (more than one is an error).
fn transfer_of(out: &PoolOutcome, i: usize) -> Result<Option<&TransferRecord>, String> {
    let mut all = out.transfers_of(i as u32);
    let first = all.next();
    match all.next() {
        Some(_) => Err("more than one transfer with its tag".into()),
        None => Ok(first),
    }
}

fn check_sender(s: &PoolScenario, out: &PoolOutcome, i: usize, r: &SenderRecord) -> Result<(), String> {
    let plan = &s.plans[i];
    let size = plan.data.len() as u64;
    let t = transfer_of(out, i)?;
    if r.started.is_none() {
        return Err("never started".into());
    }
    // What the application was shown of its SYN.
    let offers = || out.offers.iter().filter(move |o| o.owner == Some(i));
    for offer in offers() {
        if offer.peer != endpoint(s, i) {
            return Err(format!("offered from {:?}", offer.peer));
        }
        let shown = (offer.transfer_size, offer.name.as_deref(), offer.digest, offer.window);
        let sent =
            (plan.announce.then_some(size), plan.name.as_deref(), plan.offered_digest(), plan.window_offer());
        if shown != sent {
            return Err(format!("the application was shown {shown:?}, the SYN offered {sent:?}"));
        }
    }
    let connected = r.events.iter().find_map(|&(_, e)| match e {
        SenderEvent::Connected { conn } => Some(conn),
        _ => None,
    });
    let finished_at = r.events.iter().find(|&&(_, e)| e == SenderEvent::Finished).map(|&(at, _)| at);
    let failed_at = r.events.iter().find(|&&(_, e)| matches!(e, SenderEvent::Failed(_))).map(|&(at, _)| at);
    // A committed transfer's sender succeeds (and closes), not before the commit; success only
    // with the receiver's commit.
    let committed = t.and_then(|t| t.committed);
    if committed.is_some()
        && (finished_at.is_none() || r.events.last().map(|&(_, e)| e) != Some(SenderEvent::Closed))
    {
        return Err(format!("its transfer was committed at {committed:?}, but it did not finish and close"));
    }
    if let Some(at) = finished_at
        && committed.is_none_or(|c| c > at)
    {
        return Err(format!("Finished at {at:?}, its transfer committed at {committed:?}"));
    }
    let stopped_mid_transfer = |what: &str| match r.stopped {
        Some((at, acked)) if acked > 0 && acked < size => Ok(at),
        stopped => Err(format!("{what} at {stopped:?}, not mid-transfer ({size} bytes)")),
    };
    let refused_busy = r.failed() == Some(Error::Refused(RefuseReason::Busy));
    match plan.expect {
        Expect::SuccessOrBusy if refused_busy => {
            if !plan.refusable() {
                return Err("refused, though it offered nothing".into());
            }
            if let Some(t) = t {
                return Err(format!("refused, but a transfer ran: {:?}", t.events));
            }
        }
        // Turned away without a word while the pool was full: its SYNs dropped, or, once a
        // SYN found room (a half-open entry, for an idle timeout), its third frames; it gave
        // up, its idle timeout running from its last reply. Until shortly before then, every
        // third frame of it that the entry could take found the pool full; a transfer it got
        // into at the last moment did not finish.
        Expect::SuccessOrBusy if r.failed() == Some(Error::IdleTimeout) && !plan.refusable() => {
            let failed = failed_at.unwrap_or(Instant::ZERO);
            let mut until =
                Instant::ZERO + Duration::from_micros(failed.as_micros().saturating_sub(10_000_000));
            let admitted = r.arrivals.iter().find(|&&(_, running, syn)| syn && running < out.pool);
            if let Some(&(at, _, _)) = admitted {
                until = until.min(at + s.listener_idle_timeout);
            }
            let early = r.arrivals.iter().filter(|&&(at, _, _)| at < until);
            let third_frames = early.clone().filter(|&&(_, _, syn)| !syn);
            if let Some((at, running, _)) = third_frames.clone().find(|&&(_, running, _)| running < out.pool)
            {
                return Err(format!(
                    "timed out at {failed:?}, though its frame at {at:?} found {running} transfers"
                ));
            }
            if early.count() == 0 {
                return Err("timed out: nothing of it arrived".into());
            }
            if t.is_some_and(|t| t.has(ReceiverEvent::Finished)) {
                return Err("timed out, though its transfer finished".into());
            }
        }
        Expect::Success | Expect::SuccessOrBusy => {
            let t = t.ok_or("no transfer")?;
            let last = r.events.last().map(|&(_, e)| e);
            if finished_at.is_none() || last != Some(SenderEvent::Closed) || r.failed().is_some() {
                return Err("did not finish and close".into());
            }
            if r.acked != size {
                return Err(format!("{} of {size} bytes acknowledged", r.acked));
            }
            let expected =
                ReceiverEvent::Connected { conn: r.conn, transfer_size: plan.announce.then_some(size) };
            if Some(r.conn) != connected || t.events.first().map(|&(_, e)| e) != Some(expected) {
                return Err(format!(
                    "conn {} / {connected:?}, the listener's {:?}",
                    r.conn,
                    t.events.first()
                ));
            }
            if r.window != plan.granted_window() || r.digest != plan.offered_digest() {
                return Err(format!("window {} and digest {:?}", r.window, r.digest));
            }
            if !t.has(ReceiverEvent::Finished) || !t.has(ReceiverEvent::Closed) || t.data != plan.data {
                return Err(format!("its transfer {:?} with {} bytes", t.events.last(), t.data.len()));
            }
            if !offers().any(|o| o.admission == Some(Admission::Take(i as u32))) {
                return Err("connected without the application taking it".into());
            }
        }
        Expect::Refused(reason) => {
            if r.failed() != Some(Error::Refused(reason)) || connected.is_some() || finished_at.is_some() {
                return Err(format!("not refused at its SYN with {reason:?}"));
            }
            if let Some(t) = t {
                return Err(format!("a transfer ran: {:?}", t.events));
            }
            let asked = match reason {
                RefuseReason::Busy => None,
                other => Some(Admission::Refuse(other)),
            };
            if !offers().any(|o| o.admission == asked) {
                return Err(format!("no offer answered {asked:?}"));
            }
        }
        Expect::Vanishes => {
            let vanished = stopped_mid_transfer("vanished")?;
            let t = t.ok_or("no transfer")?;
            if r.events.iter().any(|&(at, _)| at > vanished) || r.failed().is_some() || finished_at.is_some()
            {
                return Err("its sender reported something after it vanished, or ended".into());
            }
            let failed_at = t.at(ReceiverEvent::Failed(Error::IdleTimeout));
            // The idle timeout runs from the last frame heard, at most a link delay after (or
            // a restarted sender's transfer ends it sooner).
            let latest = vanished + s.listener_idle_timeout + Duration::from_millis(10);
            if !failed_at.is_some_and(|at| at > vanished && at <= latest) {
                return Err(format!("vanished at {vanished:?}; its transfer {:?}", t.events.last()));
            }
        }
        Expect::Aborted => {
            let aborted = stopped_mid_transfer("aborted")?;
            let t = t.ok_or("no transfer")?;
            let cancelled = Error::Stopped(RefuseReason::Cancelled);
            if r.failed() != Some(cancelled)
                || r.events.last() != Some(&(aborted, SenderEvent::Failed(cancelled)))
            {
                return Err("the sender did not fail at its abort".into());
            }
            // Its abandoning FIN fails the transfer at once; lost, the idle timeout does.
            let (expected, latest) = if r.abandon_delivered {
                (Error::Refused(RefuseReason::Cancelled), aborted + Duration::from_millis(100))
            } else {
                (Error::IdleTimeout, aborted + s.listener_idle_timeout + Duration::from_millis(10))
            };
            let failed_at = t.at(ReceiverEvent::Failed(expected));
            if !failed_at.is_some_and(|at| at >= aborted && at <= latest) {
                let delivered = r.abandon_delivered;
                return Err(format!(
                    "aborted at {aborted:?}; its transfer {:?}, FIN delivered {delivered}",
                    t.events.last()
                ));
            }
        }
        Expect::Cancelled { after } => {
            let t = t.ok_or("no transfer")?;
            let cancelled_at = t.at(ReceiverEvent::Failed(Error::Stopped(RefuseReason::Cancelled)));
            // Told at once (the refusing ACK answers every frame), or never: it offered nothing.
            let expected =
                if plan.refusable() { Error::Refused(RefuseReason::Cancelled) } else { Error::IdleTimeout };
            if t.data.len() < after || r.failed() != Some(expected) || finished_at.is_some() {
                return Err(format!("cancelled after {} bytes; sender {:?}", t.data.len(), r.failed()));
            }
            if !matches!((cancelled_at, failed_at), (Some(c), Some(f)) if f >= c) {
                return Err(format!("failed at {failed_at:?}, cancelled at {cancelled_at:?}"));
            }
        }
        Expect::CommitFails => {
            let t = t.ok_or("no transfer")?;
            let told = t.commit_failed.unwrap_or(Instant::ZERO);
            // Told by the FIN|ACK, or never answered: it offered nothing.
            let expected =
                if plan.refusable() { Error::Refused(RefuseReason::Storage) } else { Error::IdleTimeout };
            if r.failed() != Some(expected) || finished_at.is_some() {
                return Err(format!("sender {:?}", r.failed()));
            }
            if failed_at.is_none_or(|f| f < told) {
                return Err(format!("failed at {failed_at:?}, the commit failed at {told:?}"));
            }
        }
    }
    Ok(())
}
