//! The listening application of a pool run: its admission policy ([`PoolAdmit`]), and what it
//! does with each transfer (reads it, quickly or slowly, commits it, cancels it or fails its
//! commit when the sender's plan says so), recording everything the listener told it.

use std::format;
use std::string::String;
use std::vec::Vec;

use super::{Expect, HOLD_CAP, INTRUDER_TAG, Plan, Pool, Reader};
use crate::sim::Node;
use crate::{
    Admission, Admit, DigestAlgorithm, Duration, Error, Instant, ListenerEvent, Offer, ReceiverEvent,
    RefuseReason, TransferId,
};

/// What the application was asked, and answered.
#[derive(Clone, Debug)]
pub(crate) struct OfferSeen {
    pub at: Instant,
    pub peer: Node,
    pub transfer_size: Option<u64>,
    pub name: Option<Vec<u8>>,
    pub digest: Option<DigestAlgorithm>,
    pub window: Option<u8>,
    /// The application's answer; `None`: the listener refused it as busy without asking.
    pub admission: Option<Admission>,
    /// The sender that held the endpoint then.
    pub owner: Option<usize>,
}

/// The admission policy: takes each sender with its index as the tag (it knows which sender
/// is on which endpoint), and the intruder's endpoints with tags of their own; refuses the
/// forbidden name; logs every offer.
#[derive(Debug)]
pub(crate) struct PoolAdmit {
    pub forbidden: Option<Vec<u8>>,
    pub now: Instant,
    /// The sender that last started on each endpoint.
    pub owners: Vec<Option<usize>>,
    pub seen: Vec<OfferSeen>,
}

impl PoolAdmit {
    fn log(&mut self, offer: &Offer<'_, Node>, admission: Option<Admission>) {
        self.seen.push(OfferSeen {
            at: self.now,
            peer: offer.peer,
            transfer_size: offer.transfer_size,
            name: offer.name.map(<[u8]>::to_vec),
            digest: offer.digest,
            window: offer.window,
            admission,
            owner: self.owner(offer.peer),
        });
    }

    /// The sender on `peer`'s endpoint.
    pub(crate) fn owner(&self, peer: Node) -> Option<usize> {
        match peer {
            Node::Peer(e) => self.owners.get(usize::from(e)).copied().flatten(),
            _ => None,
        }
    }
}

impl Admit<Node> for PoolAdmit {
    fn admit(&mut self, offer: &Offer<'_, Node>) -> Admission {
        let admission = match (offer.peer, self.owner(offer.peer)) {
            _ if offer.name.is_some() && offer.name == self.forbidden.as_deref() => {
                Admission::Refuse(RefuseReason::Name)
            }
            (Node::Peer(_), Some(i)) => Admission::Take(i as u32),
            (Node::Intruder(k), _) => Admission::Take(INTRUDER_TAG + u32::from(k)),
            _ => Admission::Refuse(RefuseReason::Other(99)),
        };
        self.log(offer, Some(admission));
        admission
    }

    fn refused(&mut self, offer: &Offer<'_, Node>, reason: RefuseReason) {
        assert_eq!(reason, RefuseReason::Busy, "the listener refuses by itself only as busy");
        self.log(offer, None);
    }
}

/// What happened to one transfer of the listener, as its application saw it.
#[derive(Clone, Debug)]
pub(crate) struct TransferRecord {
    pub id: TransferId,
    pub tag: u32,
    pub events: Vec<(Instant, ReceiverEvent)>,
    /// The bytes the application took, in order.
    pub data: Vec<u8>,
    pub committed: Option<Instant>,
    /// When the application told it the commit failed.
    pub commit_failed: Option<Instant>,
    /// The listener's `running()` just after it connected.
    pub running_at_connect: usize,
    /// Its granted window and digest, and the endpoint the listener says it is from.
    pub window: u8,
    pub digest: Option<DigestAlgorithm>,
    pub peer: Option<Node>,
    /// When the application next reads it (a slow reader), and when it commits.
    read_at: Instant,
    commit_at: Option<Instant>,
}

impl TransferRecord {
    pub(crate) fn failed(&self) -> Option<Error> {
        self.events.iter().find_map(|(_, e)| match e {
            ReceiverEvent::Failed(error) => Some(*error),
            _ => None,
        })
    }

    pub(crate) fn has(&self, event: ReceiverEvent) -> bool {
        self.events.iter().any(|&(_, e)| e == event)
    }

    pub(crate) fn at(&self, event: ReceiverEvent) -> Option<Instant> {
        self.events.iter().find(|&&(_, e)| e == event).map(|&(at, _)| at)
    }

    /// When it connected and when it ended (its last event).
    pub(crate) fn span(&self) -> (Instant, Instant) {
        let first = self.events.first().map_or(Instant::ZERO, |&(at, _)| at);
        (first, self.events.last().map_or(first, |&(at, _)| at))
    }

    /// When the application commits it: `commit_delay` after `Finished`, or, while commits
    /// are `held`, not before `HOLD_CAP` after it.
    fn commit_due(&self, held: bool) -> Option<Instant> {
        let at = self.commit_at?;
        if held { Some(at.max(self.at(ReceiverEvent::Finished).unwrap_or(at) + HOLD_CAP)) } else { Some(at) }
    }
}

/// The application: the transfers it heard of.
#[derive(Default)]
pub(crate) struct App {
    pub transfers: Vec<TransferRecord>,
}

impl App {
    /// The plan of the sender with `tag` (none for the intruder's).
    fn plan(plans: &[Plan], tag: u32) -> Option<&Plan> {
        plans.get(tag as usize).filter(|_| tag < INTRUDER_TAG)
    }

    /// Bytes it took from the transfers with `tag`.
    pub(crate) fn taken(&self, tag: u32) -> usize {
        self.transfers.iter().filter(|t| t.tag == tag).map(|t| t.data.len()).sum()
    }

    /// The listener's events: a transfer is known from `Connected` on; `Finished` schedules
    /// its commit.
    pub(crate) fn hear<const M: usize>(
        &mut self,
        listener: &Pool<M>,
        plans: &[Plan],
        now: Instant,
        events: Vec<ListenerEvent>,
    ) -> Result<(), String> {
        for e in events {
            if let ReceiverEvent::Connected { .. } = e.event {
                if self.transfers.iter().any(|t| t.id == e.id) {
                    return Err(format!("{:?} connected twice", e.id));
                }
                let r = listener.transfer(e.id);
                self.transfers.push(TransferRecord {
                    id: e.id,
                    tag: e.tag,
                    events: Vec::new(),
                    data: Vec::new(),
                    committed: None,
                    commit_failed: None,
                    running_at_connect: listener.running(),
                    window: r.map_or(0, |r| r.window()),
                    digest: r.and_then(|r| r.digest()),
                    peer: r.and_then(|r| r.peer()),
                    read_at: now,
                    commit_at: None,
                });
            }
            let Some(t) = self.transfers.iter_mut().find(|t| t.id == e.id) else {
                return Err(format!("an event for a transfer that never connected: {e:?}"));
            };
            if t.tag != e.tag {
                return Err(format!("{:?} had tag {}, now {}", e.id, t.tag, e.tag));
            }
            t.events.push((now, e.event));
            if e.event == ReceiverEvent::Finished {
                let delay = Self::plan(plans, e.tag).map_or(Duration::ZERO, |p| p.commit_delay);
                t.commit_at = Some(now + delay);
            }
        }
        Ok(())
    }

    /// Reads what each transfer has for it, cancels and commits (or fails the commit) as the
    /// plans say; commits wait while `held`. Whether anything happened.
    pub(crate) fn work<const M: usize>(
        &mut self,
        listener: &mut Pool<M>,
        plans: &[Plan],
        now: Instant,
        held: bool,
    ) -> bool {
        let mut busy = false;
        for t in &mut self.transfers {
            let Some(r) = listener.transfer_mut(t.id) else { continue };
            let plan = Self::plan(plans, t.tag);
            match plan.map_or(Reader::Copy(4096), |p| p.reader) {
                Reader::Copy(size) => {
                    let mut buf = [0u8; 4096];
                    let buf = &mut buf[..size.min(4096)];
                    loop {
                        let n = r.read(buf);
                        if n == 0 {
                            break;
                        }
                        busy = true;
                        t.data.extend_from_slice(&buf[..n]);
                    }
                }
                Reader::Slow { chunk, every } if now >= t.read_at && !r.readable().is_empty() => {
                    let mut budget = chunk;
                    while budget > 0 {
                        let readable = r.readable();
                        let n = readable.len().min(budget);
                        if n == 0 {
                            break;
                        }
                        t.data.extend_from_slice(&readable[..n]);
                        r.consume(n);
                        budget -= n;
                    }
                    busy = true;
                    t.read_at = now + every;
                }
                Reader::Slow { .. } => {}
            }
            let expect = plan.map(|p| p.expect);
            if let Some(Expect::Cancelled { after }) = expect
                && t.data.len() >= after
                && t.failed().is_none()
            {
                // The application stops it: the event comes back from the call.
                let event = r.abort(now, Error::Stopped(RefuseReason::Cancelled));
                t.events.push((now, event));
                t.commit_at = None;
                busy = true;
            }
            if let Some(at) = t.commit_due(held)
                && now >= at
            {
                t.commit_at = None;
                if expect == Some(Expect::CommitFails) {
                    t.commit_failed = Some(now);
                    r.commit_failed(now);
                } else {
                    t.committed = Some(now);
                    r.committed(now);
                }
                busy = true;
            }
        }
        busy
    }

    /// When it next has something to do: a commit, or a slow read of data waiting.
    pub(crate) fn next_wake<const M: usize>(&self, listener: &Pool<M>, held: bool) -> Option<Instant> {
        let commit = self.transfers.iter().filter_map(|t| t.commit_due(held)).min();
        let read = self
            .transfers
            .iter()
            .filter(|t| listener.transfer(t.id).is_some_and(|r| !r.readable().is_empty()))
            .map(|t| t.read_at)
            .min();
        commit.into_iter().chain(read).min()
    }
}
