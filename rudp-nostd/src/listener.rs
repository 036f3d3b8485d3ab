//! The listener (SPEC §10.4): up to `M` transfers at once, from a fixed pool, each its own
//! [`Receiver`] following §3-§10 on its own.
//!
//! A sans-IO engine like the others (see [`Engine`]). It owns the half-open table and each
//! transfer's receiver state and routes a frame by its source endpoint and `conn`. For each
//! new SYN it asks the application ([`Admit`]) whether to take the transfer, showing it the
//! SYN's offers ([`Offer`]: size, name, digest, window, object id); the application answers
//! [`Admission::Take`] with a tag of its own (it finds the transfer by it when it connects), or
//! refuses with a reason. The listener itself refuses (reason 1, busy) a SYN that finds the
//! pool full, its source address at its cap ([`ListenerConfig::per_host`]), the object (its
//! name or object id) held by a transfer from another endpoint, or the listener no longer
//! accepting ([`Listener::stop_accepting`]). A refusal reaches only a sender that understands
//! it (its SYN offered an extension); any other is dropped.
//!
//! The application reads each transfer's data through its [`Receiver`]
//! ([`Listener::transfer_mut`]: `readable`, `consume`, `committed`, `abort`) by the
//! [`TransferId`] its events carry. One transfer failing, stalling or being flooded never fails
//! the others: each has its own slots, timers and reply, and a full pool only refuses new ones.
//!
//! A new transfer from an endpoint whose older transfer still runs supersedes it (its sender
//! restarted): the older one fails as if by its idle timeout.

use crate::config::{Profile, ReceiverConfig};
use crate::digest::DigestAlgorithm;
use crate::engine::{Engine, Handled, Transmit};
use crate::error::RefuseReason;
use crate::frame::{self, Flags, Frame, Repr};
use crate::half_open::{HalfOpen, HalfOpenTable};
use crate::options::{self, SynOptions};
use crate::random::SplitMix64;
use crate::receiver::{self, DEFAULT_HALF_OPEN, Receiver, ReceiverEvent};
use crate::reply::Reply;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::trace::{DropReason, Trace};

/// Endpoints that tell whether two of them are the same host (the per-address cap of SPEC
/// §10.4 counts transfers by source address, whatever the port).
pub trait SameHost {
    /// Whether `self` and `other` have the same address.
    fn same_host(&self, other: &Self) -> bool;
}

impl SameHost for core::net::SocketAddr {
    fn same_host(&self, other: &Self) -> bool {
        self.ip() == other.ip()
    }
}

#[cfg(feature = "smoltcp")]
impl SameHost for smoltcp::wire::IpEndpoint {
    fn same_host(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}

/// Small integers as endpoints (tests, simulations): each its own host.
macro_rules! same_host_by_equality {
    ($($t:ty),*) => {$(
        impl SameHost for $t {
            fn same_host(&self, other: &Self) -> bool {
                self == other
            }
        }
    )*};
}
same_host_by_equality!((), u8, u16, u32);

/// Configuration of a [`Listener`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ListenerConfig {
    /// Each transfer's configuration (its `accept_timeout` is not used: a listener waits for
    /// ever; its `random_seed` seeds the listener).
    pub receiver: ReceiverConfig,
    /// The most transfers and half-open entries at once from one source address (many devices
    /// may sit behind one NAT: do not make it too small).
    pub per_host: u8,
    /// The most transfers at once, within the pool's `M` (a run-time limit below it).
    pub max_transfers: u16,
}

impl ListenerConfig {
    /// Native profile, default timers, the given seed, 8 transfers per host, as many
    /// transfers as the pool holds.
    pub const fn new(random_seed: u64) -> ListenerConfig {
        ListenerConfig { receiver: ReceiverConfig::new(random_seed), per_host: 8, max_transfers: u16::MAX }
    }
}

/// What a SYN offers, shown to the application to decide whether to take the transfer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Offer<'a, E> {
    /// Who sends it.
    pub peer: E,
    /// The announced size (it binds: SPEC §3.1).
    pub transfer_size: Option<u64>,
    /// The object's name, as sent (SPEC §10.4: check it before using it).
    pub name: Option<&'a [u8]>,
    /// The digest offered (granted when the configuration verifies digests and this build
    /// supports it).
    pub digest: Option<DigestAlgorithm>,
    /// The window offered.
    pub window: Option<u8>,
    /// The object's identifier (SPEC §10.5).
    pub object_id: Option<&'a [u8]>,
}

/// The application's answer to an [`Offer`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Admission {
    /// Take the transfer; the tag, the application's own, comes back in its events.
    Take(u32),
    /// Take the transfer, and resume it (SPEC §10.5): the application holds durably the first
    /// `from` bytes written by an earlier transfer of this object (the same `object-id`,
    /// `transfer-size` and, where it stores by name, `name`). Granted only where SPEC §10.5
    /// allows (an `object-id` and a `transfer-size` offered, SHA-256 granted, `from` a
    /// multiple of 512 or the size, not 0, not past the size); otherwise the transfer is taken
    /// from 0. [`Receiver::resume_from`] says which.
    Resume {
        /// The application's tag, as with [`Admission::Take`].
        tag: u32,
        /// The bytes held.
        from: u64,
    },
    /// Refuse it with this reason.
    Refuse(RefuseReason),
}

/// The application's policy: whether and where to take a transfer.
pub trait Admit<E> {
    /// Decides on a new SYN's offer. Called once per SYN (not for a repeated one).
    fn admit(&mut self, offer: &Offer<'_, E>) -> Admission;

    /// The listener refused a SYN by itself, with `reason` (busy: the pool full, the host at
    /// its cap, the object held by another transfer, or no longer accepting), without asking
    /// [`Admit::admit`]: for the application's log. Does nothing by default.
    fn refused(&mut self, offer: &Offer<'_, E>, reason: RefuseReason) {
        let _ = (offer, reason);
    }
}

impl<E, F: FnMut(&Offer<'_, E>) -> Admission> Admit<E> for F {
    fn admit(&mut self, offer: &Offer<'_, E>) -> Admission {
        self(offer)
    }
}

/// A transfer of a [`Listener`]: its pool slot and a serial number, so that an id never
/// reaches a later transfer in the same slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TransferId {
    slot: u8,
    serial: u32,
}

/// What a [`Listener`] tells its application: a transfer's event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ListenerEvent {
    /// The transfer.
    pub id: TransferId,
    /// The tag the application gave it in [`Admission::Take`].
    pub tag: u32,
    /// What happened.
    pub event: ReceiverEvent,
}

/// What a half-open entry of the listener keeps besides the handshake: the application's tag
/// and the object's key, and whether its third frame was refused (the pool was full).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Admitted {
    tag: u32,
    key: ObjectKey,
    /// The `resume-from` granted (0: none).
    resume_from: u64,
    /// Its third frame was refused (the pool was full): the connection takes no more data.
    refused: bool,
}

/// A short fingerprint of the object a SYN names (its `name`, else its `object-id`), so that
/// two transfers never write one object (SPEC §10.4). 0: none named. A collision refuses a
/// transfer as busy, never mixes two.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct ObjectKey(u32);

impl ObjectKey {
    const NONE: ObjectKey = ObjectKey(0);

    fn of(payload: &[u8]) -> ObjectKey {
        let (tag, bytes) = match (options::name(payload), options::object_id(payload)) {
            (Some(name), _) => (1u8, name),
            (None, Some(id)) => (2u8, id),
            (None, None) => return ObjectKey::NONE,
        };
        // FNV-1a, 32 bits.
        let mut hash: u32 = 0x811c_9dc5;
        for &byte in core::iter::once(&tag).chain(bytes) {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
        ObjectKey(hash.max(1))
    }
}

/// One transfer of the pool.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Transfer<E, const W: usize> {
    receiver: Receiver<E, W, 0>,
    serial: u32,
    tag: u32,
    key: ObjectKey,
    /// Its endpoint and `conn`, kept after the receiver is over (it forgets them), so that the
    /// `conn` is not handed to that endpoint again too soon (SPEC §10.4).
    peer: E,
    conn: u16,
}

/// A refusal owed before any transfer holds a reply buffer: a refusing SYN|ACK, or a
/// refusing ACK to a third frame that found the pool full.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Refusal<E> {
    to: E,
    repr: Repr,
    reason: RefuseReason,
}

/// Refusals waiting for the driver, at most; more are dropped (the sender repeats its frame).
const PENDING_REFUSALS: usize = 4;

/// Up to `M` transfers at once from a fixed pool (SPEC §10.4): `E` the endpoint type, `A` the
/// application's admission policy, `W` each transfer's payload slots (the largest window it
/// grants), `H` the half-open entries. No allocation: its size is fixed by `M`, `W` and `H`.
///
/// ```
/// use rudp_nostd::{Admission, Engine, Instant, Listener, ListenerConfig, Offer};
///
/// // Two transfers at once, each granting windows of up to 8 frames; everything is taken.
/// let take_all = |_: &Offer<'_, u8>| Admission::Take(0);
/// let mut listener: Listener<u8, _, 2, 8> = Listener::new(ListenerConfig::new(1), take_all, Instant::ZERO);
/// assert_eq!(listener.running(), 0);
/// assert!(listener.poll_transmit(Instant::ZERO).is_none());
/// ```
#[derive(Debug)]
pub struct Listener<E, A, const M: usize, const W: usize = 1, const H: usize = DEFAULT_HALF_OPEN> {
    config: ListenerConfig,
    random: SplitMix64,
    admit: A,
    half_open: HalfOpenTable<E, Admitted, H>,
    transfers: [Option<Transfer<E, W>>; M],
    /// The `conn`s of transfers ended less than an idle timeout ago, by endpoint: not handed
    /// out again to that endpoint (SPEC §10.4).
    recent: heapless::Deque<(E, u16, Instant), M>,
    /// The reply buffer for SYN|ACKs and refusals (each transfer has its own for the rest).
    reply: Reply<E>,
    refusals: heapless::Deque<Refusal<E>, PENDING_REFUSALS>,
    serial: u32,
    accepting: bool,
    /// Where `poll_transmit` looks first among the transfers (round robin: fairness).
    next_poll: usize,
}

impl<E: Copy + PartialEq + SameHost, A: Admit<E>, const M: usize, const W: usize, const H: usize>
    Listener<E, A, M, W, H>
{
    /// A listener taking transfers from `now`, deciding on each with `admit`.
    pub fn new(config: ListenerConfig, admit: A, now: Instant) -> Listener<E, A, M, W, H> {
        let _ = now;
        Listener {
            config,
            random: SplitMix64::new(config.receiver.random_seed),
            admit,
            half_open: HalfOpenTable::new(),
            transfers: core::array::from_fn(|_| None),
            recent: heapless::Deque::new(),
            reply: Reply::new(),
            refusals: heapless::Deque::new(),
            serial: 0,
            accepting: true,
            next_poll: 0,
        }
    }

    /// The admission policy (to change its settings, or read what it keeps).
    pub fn admit_mut(&mut self) -> &mut A {
        &mut self.admit
    }

    /// The transfer `id`, while it is in the pool.
    pub fn transfer(&self, id: TransferId) -> Option<&Receiver<E, W, 0>> {
        match self.transfers.get(usize::from(id.slot))? {
            Some(t) if t.serial == id.serial => Some(&t.receiver),
            _ => None,
        }
    }

    /// The transfer `id`, to read its data, commit or abort it.
    pub fn transfer_mut(&mut self, id: TransferId) -> Option<&mut Receiver<E, W, 0>> {
        match self.transfers.get_mut(usize::from(id.slot))? {
            Some(t) if t.serial == id.serial => Some(&mut t.receiver),
            _ => None,
        }
    }

    /// The transfer `id` and the admission policy together: an application whose policy also
    /// writes the data (a flash sink that grants resume from what it holds) takes each
    /// transfer's data with both at hand.
    pub fn transfer_and_admit_mut(&mut self, id: TransferId) -> Option<(&mut Receiver<E, W, 0>, &mut A)> {
        match self.transfers.get_mut(usize::from(id.slot))? {
            Some(t) if t.serial == id.serial => Some((&mut t.receiver, &mut self.admit)),
            _ => None,
        }
    }

    /// The transfers in the pool, with their tags: running, closing, or refused and still
    /// answering.
    pub fn transfers(&self) -> impl Iterator<Item = (TransferId, u32, &Receiver<E, W, 0>)> {
        self.transfers.iter().enumerate().filter_map(|(slot, t)| {
            let t = t.as_ref()?;
            Some((TransferId { slot: slot as u8, serial: t.serial }, t.tag, &t.receiver))
        })
    }

    /// The number of transfers in the pool.
    pub fn running(&self) -> usize {
        self.transfers.iter().filter(|t| t.is_some()).count()
    }

    /// Takes no new transfer from now on: every new SYN, and the third frame of a handshake
    /// already answered, is refused (busy); the running ones go on. [`Engine::is_done`] once
    /// they have all ended.
    pub fn stop_accepting(&mut self) {
        self.accepting = false;
    }

    /// Whether new transfers are taken.
    pub fn is_accepting(&self) -> bool {
        self.accepting
    }

    /// Whether a handshake with `peer` is answered and waits for its third frame.
    pub fn is_half_open(&self, peer: E) -> bool {
        self.half_open.find(peer).is_some()
    }

    /// The slot of the transfer with this endpoint and `conn`.
    fn find(&self, from: E, conn: u16) -> Option<usize> {
        self.transfers.iter().position(|t| {
            t.as_ref().and_then(|t| t.receiver.connection()).is_some_and(|(c, _)| c == conn)
                && t.as_ref().and_then(|t| t.receiver.peer()) == Some(from)
        })
    }

    fn id(&self, slot: usize) -> Option<(TransferId, u32)> {
        let t = self.transfers.get(slot)?.as_ref()?;
        Some((TransferId { slot: slot as u8, serial: t.serial }, t.tag))
    }

    /// Gives a datagram to the transfer in `slot`; its events come out with its id.
    fn route(&mut self, slot: usize, now: Instant, from: E, datagram: &[u8]) -> Handled<ListenerEvent> {
        let Some((id, tag)) = self.id(slot) else {
            return Handled::trace(Trace::drop_datagram(datagram, DropReason::NotAccepting));
        };
        let Some(Some(t)) = self.transfers.get_mut(slot) else {
            return Handled::trace(Trace::drop_datagram(datagram, DropReason::NotAccepting));
        };
        let handled = t.receiver.handle_datagram(now, from, datagram);
        let done = t.receiver.is_done();
        let mut out = Handled::trace(handled.trace);
        for event in handled.events {
            out.push(ListenerEvent { id, tag, event });
        }
        if done {
            self.sweep(now);
        }
        out
    }

    /// Frees the slots of transfers that are over, remembering their `conn`s.
    fn sweep(&mut self, now: Instant) {
        let idle = self.config.receiver.idle_timeout;
        while self.recent.front().is_some_and(|&(_, _, ended)| now >= ended + idle) {
            self.recent.pop_front();
        }
        for slot in &mut self.transfers {
            let Some(t) = slot else { continue };
            if !t.receiver.is_done() {
                continue;
            }
            if self.recent.is_full() {
                self.recent.pop_front();
            }
            let _ = self.recent.push_back((t.peer, t.conn, now));
            *slot = None;
        }
    }

    /// Whether `conn` may not be handed out to `to`: 0, or used by a transfer, a half-open
    /// entry, or a transfer of `to` that ended less than an idle timeout ago.
    fn conn_in_use(&self, conn: u16, to: E) -> bool {
        conn == 0
            || self
                .transfers
                .iter()
                .flatten()
                .any(|t| t.receiver.connection().is_some_and(|(c, _)| c == conn))
            || self.half_open.iter().any(|e| e.conn == conn)
            || self.recent.iter().any(|&(peer, c, _)| c == conn && peer == to)
    }

    /// Why a new SYN from `from` for the object `key` cannot be taken now, if it cannot.
    fn busy(&self, from: E, key: ObjectKey) -> bool {
        if !self.accepting {
            return true;
        }
        let others = |peer: Option<E>| peer.is_some_and(|p| p != from);
        // The pool: a transfer of `from` itself is superseded when the new one is established.
        let held = self.transfers.iter().flatten().filter(|t| others(t.receiver.peer())).count();
        if held >= self.capacity() {
            return true;
        }
        let same_host = |peer: Option<E>| peer.is_some_and(|p| p != from && p.same_host(&from));
        let from_host = self.transfers.iter().flatten().filter(|t| same_host(t.receiver.peer())).count()
            + self.half_open.iter().filter(|e| same_host(Some(e.peer))).count();
        if from_host >= usize::from(self.config.per_host) {
            return true;
        }
        // Two transfers never write one object.
        key != ObjectKey::NONE
            && (self.transfers.iter().flatten().any(|t| t.key == key && others(t.receiver.peer()))
                || self.half_open.iter().any(|e| e.extra.key == key && e.peer != from))
    }

    /// The most transfers at once: `M`, or the configuration's limit below it.
    fn capacity(&self) -> usize {
        M.min(usize::from(self.config.max_transfers))
    }

    /// Queues a refusal for a sender that understands it; says whether it did.
    fn refuse(&mut self, to: E, repr: Repr, reason: RefuseReason) -> bool {
        if self.refusals.is_full() {
            // The sender repeats its frame and is judged again.
            return false;
        }
        self.refusals.push_back(Refusal { to, repr, reason }).is_ok()
    }

    fn on_syn(&mut self, now: Instant, from: E, frame: Frame<'_>, datagram: &[u8]) -> Handled<ListenerEvent> {
        let repr = frame.repr;
        if repr.flags != Flags::SYN {
            return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
        }
        // The SYN of a transfer in the pool, repeated: its receiver answers it again.
        let repeated = self.transfers.iter().position(|t| {
            t.as_ref().is_some_and(|t| {
                t.receiver.peer() == Some(from)
                    && t.receiver.connection().is_some_and(|(_, isn)| isn == repr.seq)
            })
        });
        if let Some(slot) = repeated {
            return self.route(slot, now, from, datagram);
        }
        self.half_open.expire(now, self.config.receiver.idle_timeout);
        if self.half_open.repeat(from, repr.seq) {
            return Handled::trace(Trace::recv(repr, true));
        }
        let offers = SynOptions::parse(frame.payload);
        let refusable = offers.extension && self.config.receiver.profile == Profile::Native;
        let key = ObjectKey::of(frame.payload);
        let offer = Offer {
            peer: from,
            transfer_size: offers.transfer_size,
            name: options::name(frame.payload),
            digest: offers.digest,
            window: offers.window,
            object_id: options::object_id(frame.payload),
        };
        let admission = if self.busy(from, key) {
            self.admit.refused(&offer, RefuseReason::Busy);
            Admission::Refuse(RefuseReason::Busy)
        } else {
            self.admit.admit(&offer)
        };
        let (tag, resume) = match admission {
            Admission::Take(tag) => (tag, 0),
            Admission::Resume { tag, from } => (tag, from),
            Admission::Refuse(reason) => {
                // A refusing SYN|ACK creates no half-open entry (SPEC §10.4).
                let refusal =
                    Repr { seq: SeqNum::ZERO, ack: repr.seq + 1, conn: 0, flags: Flags::SYN | Flags::ACK };
                if refusable && self.refuse(from, refusal, reason) {
                    return Handled::trace(Trace::recv(repr, false));
                }
                return Handled::trace(Trace::drop(repr, DropReason::NotAccepting));
            }
        };
        let extra = Admitted { tag, key, resume_from: 0, refused: false };
        let config = self.config.receiver;
        let mut entry =
            Receiver::<E, W, 0>::answer_syn(&config, &mut self.random, now, from, repr.seq, &offers, extra);
        if resume > 0 && options::resume_allowed(&offers, entry.digest, resume) {
            entry.extra.resume_from = resume;
        }
        // A `conn` nobody uses (a few draws at most: 16 bits, at most M + H in use).
        for _ in 0..8 {
            if !self.conn_in_use(entry.conn, from) {
                break;
            }
            entry.conn = self.random.next_conn();
        }
        if !self.half_open.insert(entry) {
            return Handled::trace(Trace::drop(repr, DropReason::NotAccepting));
        }
        Handled::trace(Trace::recv(repr, false))
    }

    /// The refusing ACK to the third frame of `entry`: `seq = RISN+1`, `ack = ISN+1`.
    fn third_frame_refusal(entry: &HalfOpen<E, Admitted>) -> Repr {
        Repr { seq: entry.risn + 1, ack: entry.isn + 1, conn: entry.conn, flags: Flags::ACK }
    }

    /// The third frame of `entry`'s handshake: the transfer takes a slot of the pool.
    fn establish(
        &mut self,
        now: Instant,
        entry: HalfOpen<E, Admitted>,
        frame: Frame<'_>,
    ) -> Handled<ListenerEvent> {
        let repr = frame.repr;
        let mut handled = Handled::trace(Trace::recv(repr, false));
        // An older transfer of this endpoint: its sender restarted (SPEC §10.4).
        let older = self
            .transfers
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.receiver.peer() == Some(entry.peer)));
        if let Some(slot) = older
            && let Some((id, tag)) = self.id(slot)
            && let Some(Some(t)) = self.transfers.get_mut(slot)
        {
            if let Some(event) = t.receiver.end() {
                handled.push(ListenerEvent { id, tag, event });
            }
            self.sweep(now);
        }
        let free = self
            .transfers
            .iter()
            .position(Option::is_none)
            .filter(|_| self.accepting && self.running() < self.capacity());
        let Some(slot) = free else {
            // The pool filled up since the SYN, or the listener stopped accepting: a refusing
            // ACK (SPEC §10.4). The entry stays, marked, so that a repeated third frame gets
            // the same answer for an idle timeout, even once a slot has freed: that connection
            // takes no more data.
            if entry.refusable
                && self.refuse(entry.peer, Self::third_frame_refusal(&entry), RefuseReason::Busy)
            {
                let refused = Admitted { refused: true, ..entry.extra };
                self.half_open.insert(HalfOpen { created: now, extra: refused, ..entry });
            } else {
                handled.trace = Trace::drop(repr, DropReason::NotAccepting);
            }
            return handled;
        };
        self.half_open.remove(entry.peer);
        self.serial = self.serial.wrapping_add(1);
        let config = ReceiverConfig { random_seed: self.random.next_u64(), ..self.config.receiver };
        let mut receiver = Receiver::new(config, now);
        let established = receiver.establish(now, &entry, entry.extra.resume_from, frame);
        let id = TransferId { slot: slot as u8, serial: self.serial };
        let tag = entry.extra.tag;
        handled.trace = established.trace;
        for event in established.events {
            handled.push(ListenerEvent { id, tag, event });
        }
        if let Some(place) = self.transfers.get_mut(slot) {
            *place = Some(Transfer {
                receiver,
                serial: self.serial,
                tag,
                key: entry.extra.key,
                peer: entry.peer,
                conn: entry.conn,
            });
        }
        self.sweep(now);
        handled
    }
}

impl<E: Copy + PartialEq + SameHost, A: Admit<E>, const M: usize, const W: usize, const H: usize> Engine
    for Listener<E, A, M, W, H>
{
    type Endpoint = E;
    type Event = ListenerEvent;

    fn handle_datagram(&mut self, now: Instant, from: E, datagram: &[u8]) -> Handled<ListenerEvent> {
        let frame = match frame::decode(datagram) {
            Ok(frame) => frame,
            Err(error) => return Handled::trace(Trace::malformed(error)),
        };
        let repr = frame.repr;
        if repr.flags.contains(Flags::SYN) {
            return self.on_syn(now, from, frame, datagram);
        }
        if let Some(slot) = self.find(from, repr.conn) {
            return self.route(slot, now, from, datagram);
        }
        if let Some(entry) = self.half_open.find(from).copied() {
            return match receiver::is_third_frame(&entry, repr) {
                // Refused already: the same answer again.
                Ok(()) if entry.extra.refused => {
                    if self.refuse(from, Self::third_frame_refusal(&entry), RefuseReason::Busy) {
                        Handled::trace(Trace::recv(repr, true))
                    } else {
                        Handled::trace(Trace::drop(repr, DropReason::NotAccepting))
                    }
                }
                Ok(()) => self.establish(now, entry, frame),
                Err(reason) => Handled::trace(Trace::drop(repr, reason)),
            };
        }
        let known = self.transfers.iter().flatten().any(|t| t.receiver.peer() == Some(from));
        Handled::trace(Trace::drop(
            repr,
            if known { DropReason::WrongConn } else { DropReason::NotAccepting },
        ))
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<ListenerEvent> {
        self.half_open.expire(now, self.config.receiver.idle_timeout);
        // One event per call: a transfer whose timer ran and that has something to say stops
        // the pass; the driver calls again at once (its deadline has passed).
        let mut found = None;
        for (slot, t) in self.transfers.iter_mut().enumerate() {
            let Some(t) = t else { continue };
            if t.receiver.poll_timeout().is_some_and(|at| at <= now)
                && let Some(event) = t.receiver.handle_timeout(now)
            {
                found = Some(ListenerEvent {
                    id: TransferId { slot: slot as u8, serial: t.serial },
                    tag: t.tag,
                    event,
                });
                break;
            }
        }
        self.sweep(now);
        found
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_, E>> {
        if let Some(refusal) = self.refusals.pop_front() {
            self.reply.refusal(refusal.to, refusal.repr, refusal.reason, false);
            return self.reply.take();
        }
        if let Some((entry, dup)) = self.half_open.take_owed() {
            Receiver::<E, W, 0>::queue_half_open_syn_ack(
                &mut self.reply,
                &entry,
                entry.extra.resume_from,
                dup,
            );
            return self.reply.take();
        }
        // Round robin over the transfers that owe a reply.
        let owing = (0..M).map(|j| (self.next_poll + j) % M.max(1)).find(|&slot| {
            self.transfers.get(slot).is_some_and(|t| t.as_ref().is_some_and(|t| t.receiver.owes_reply()))
        })?;
        self.next_poll = owing + 1;
        let t = self.transfers.get_mut(owing)?.as_mut()?;
        t.receiver.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.refusals.is_empty() || self.half_open.owes() {
            return Some(Instant::ZERO);
        }
        let idle = self.config.receiver.idle_timeout;
        self.transfers
            .iter()
            .flatten()
            .filter_map(|t| t.receiver.poll_timeout())
            .chain(self.half_open.next_expiry(idle))
            .min()
    }

    /// Once it no longer accepts ([`Listener::stop_accepting`]) and every transfer has ended.
    fn is_done(&self) -> bool {
        !self.accepting && self.transfers.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::config::SenderConfig;
    use crate::error::Error;
    use crate::sender::{Sender, SenderEvent};
    use crate::testing::{datagram, next_frame, t};

    const ISN: u32 = 5000;
    /// A SYN that offers a window of 8: its sender understands a refusal.
    const OFFER_WINDOW: [u8; 3] = [2, 1, 8];

    type Policy = fn(&Offer<'_, u8>) -> Admission;
    type Pool = Listener<u8, Policy, 2, 8, 4>;

    fn take(offer: &Offer<'_, u8>) -> Admission {
        match offer.name {
            Some(b"refused") => Admission::Refuse(RefuseReason::Name),
            _ => Admission::Take(u32::from(offer.peer) * 100),
        }
    }

    fn pool() -> Pool {
        Listener::new(ListenerConfig::new(7), take as Policy, t(0))
    }

    /// A SYN from `from`; the answer.
    fn syn(l: &mut Pool, now: u64, from: u8, payload: &[u8]) -> Option<(Repr, Vec<u8>, bool)> {
        l.handle_datagram(t(now), from, &datagram(ISN, 0, 0, Flags::SYN, payload));
        next_frame(l, t(now))
    }

    /// Handshake from `from` (its third frame carrying `data`): the `conn`, RISN and events.
    fn connect(l: &mut Pool, from: u8, payload: &[u8], data: &[u8]) -> (u16, u32, Vec<ListenerEvent>) {
        let (syn_ack, _, _) = syn(l, 1, from, payload).unwrap();
        assert_ne!(syn_ack.conn, 0);
        let (conn, risn) = (syn_ack.conn, syn_ack.seq.get());
        let h = l.handle_datagram(t(2), from, &datagram(ISN + 1, risn + 1, conn, Flags::ACK, data));
        (conn, risn, h.events.to_vec())
    }

    #[test]
    fn transfers_are_routed_by_endpoint_and_conn() {
        let mut l = pool();
        let (c1, _, e1) = connect(&mut l, 1, &OFFER_WINDOW, b"one");
        let (c2, _, e2) = connect(&mut l, 2, &[], b"two");
        assert_ne!(c1, c2);
        assert_eq!(e1[0].tag, 100);
        assert_eq!(e2[0].tag, 200);
        assert!(matches!(e1[1].event, ReceiverEvent::Delivered { bytes: 3 }));
        assert_eq!(l.running(), 2);
        assert_eq!(l.transfer(e1[0].id).unwrap().readable(), b"one");
        assert_eq!(l.transfer(e2[0].id).unwrap().readable(), b"two");
        // The other's conn from this endpoint is not its transfer.
        let h = l.handle_datagram(t(3), 1, &datagram(ISN + 4, 0, c2, Flags::ACK, b"x"));
        assert_eq!(h.trace.reason, Some(DropReason::WrongConn));
        // A transfer and the policy at once (the policy also writes the data).
        let (r, policy) = l.transfer_and_admit_mut(e2[0].id).unwrap();
        r.consume(3);
        let offer =
            Offer { peer: 9, transfer_size: None, name: None, digest: None, window: None, object_id: None };
        assert_eq!(policy(&offer), Admission::Take(900));
        assert!(l.transfer(e2[0].id).unwrap().readable().is_empty());
    }

    #[test]
    fn a_full_pool_refuses_a_sender_that_understands_and_ignores_one_that_does_not() {
        let mut l = pool();
        connect(&mut l, 1, &[], b"a");
        connect(&mut l, 2, &[], b"b");
        let (refusal, payload, _) = syn(&mut l, 3, 3, &OFFER_WINDOW).unwrap();
        assert_eq!(
            (refusal.flags, refusal.seq.get(), refusal.ack.get(), refusal.conn),
            (Flags::SYN | Flags::ACK, 0, ISN + 1, 0)
        );
        assert_eq!(payload, [8, 1, 1]);
        // No entry was created: the SYN is judged afresh each time.
        assert!(syn(&mut l, 4, 3, &OFFER_WINDOW).is_some());
        // A sender that offered no extension gets no answer at all.
        assert!(syn(&mut l, 5, 4, &[]).is_none());
    }

    #[test]
    fn the_application_refuses_with_its_reason() {
        let mut l = pool();
        let mut name = [7, 7, 0, 0, 0, 0, 0, 0, 0];
        name[2..].copy_from_slice(b"refused");
        let (_, payload, _) = syn(&mut l, 1, 1, &name).unwrap();
        assert_eq!(payload, [8, 1, 3]);
    }

    #[test]
    fn two_transfers_never_write_one_object() {
        let mut l = pool();
        let name = [7, 3, b'a', b'/', b'b'];
        connect(&mut l, 1, &name, b"a");
        let (_, payload, _) = syn(&mut l, 3, 2, &name).unwrap();
        assert_eq!(payload, [8, 1, 1]);
        // The same endpoint restarting is no other writer: it supersedes its old transfer.
        let (conn, risn, events) = {
            l.handle_datagram(t(4), 1, &datagram(ISN + 77, 0, 0, Flags::SYN, &name));
            let (syn_ack, _, _) = next_frame(&mut l, t(4)).unwrap();
            assert_ne!(syn_ack.conn, 0);
            let h = l.handle_datagram(
                t(5),
                1,
                &datagram(ISN + 78, syn_ack.seq.get() + 1, syn_ack.conn, Flags::ACK, b"new"),
            );
            (syn_ack.conn, syn_ack.seq.get(), h.events.to_vec())
        };
        let _ = (conn, risn);
        assert_eq!(events[0].event, ReceiverEvent::Failed(Error::IdleTimeout));
        assert!(matches!(events[1].event, ReceiverEvent::Connected { .. }));
        assert_ne!(events[0].id, events[1].id);
        assert_eq!(l.running(), 1);
        assert!(l.transfer(events[0].id).is_none());
    }

    #[test]
    fn a_third_frame_that_finds_the_pool_full_gets_a_refusing_ack() {
        let mut l = pool();
        let (syn_ack, _, _) = syn(&mut l, 1, 3, &OFFER_WINDOW).unwrap();
        connect(&mut l, 1, &[], b"a");
        connect(&mut l, 2, &[], b"b");
        let third = datagram(ISN + 1, syn_ack.seq.get() + 1, syn_ack.conn, Flags::ACK, b"c");
        l.handle_datagram(t(3), 3, &third);
        let (refusal, payload, _) = next_frame(&mut l, t(3)).unwrap();
        assert_eq!(
            (refusal.flags, refusal.seq, refusal.ack.get(), refusal.conn),
            (Flags::ACK, syn_ack.seq + 1, ISN + 1, syn_ack.conn)
        );
        assert_eq!(payload, [8, 1, 1]);
        assert_eq!(l.running(), 2);
    }

    #[test]
    fn a_finished_transfer_superseded_while_it_lingers_reports_closed() {
        let mut l = pool();
        let (conn, risn, events) = connect(&mut l, 1, &[], b"");
        let id = events[0].id;
        l.handle_datagram(t(3), 1, &datagram(ISN + 1, risn + 1, conn, Flags::FIN, &[]));
        l.transfer_mut(id).unwrap().committed(t(3));
        assert_eq!(next_frame(&mut l, t(3)).unwrap().0.flags, Flags::FIN | Flags::ACK);
        // The final ACK is lost; the same endpoint sends its next object.
        l.handle_datagram(t(4), 1, &datagram(ISN + 900, 0, 0, Flags::SYN, &[]));
        let (syn_ack, _, _) = next_frame(&mut l, t(4)).unwrap();
        assert_ne!(syn_ack.conn, conn);
        let third = datagram(ISN + 901, syn_ack.seq.get() + 1, syn_ack.conn, Flags::ACK, b"next");
        let h = l.handle_datagram(t(5), 1, &third);
        // The old transfer ends as if by its idle timeout: closed (its object is committed),
        // with its event, before the new one connects.
        assert_eq!(h.events[0], ListenerEvent { id, tag: 100, event: ReceiverEvent::Closed });
        assert!(matches!(h.events[1].event, ReceiverEvent::Connected { .. }));
        assert_ne!(h.events[1].id, id);
        assert!(l.transfer(id).is_none());
        assert_eq!(l.running(), 1);
    }

    #[test]
    fn a_third_frame_refused_as_busy_stays_refused_once_a_slot_frees() {
        let mut l = pool();
        // Endpoint 3's SYN finds room; 1 and 2 fill the pool before its third frame comes.
        let (syn_ack, _, _) = syn(&mut l, 1, 3, &OFFER_WINDOW).unwrap();
        let (conn, risn, _) = connect(&mut l, 1, &[], b"");
        connect(&mut l, 2, &[], b"b");
        let third = datagram(ISN + 1, syn_ack.seq.get() + 1, syn_ack.conn, Flags::ACK, b"c");
        l.handle_datagram(t(3), 3, &third);
        let (refusal, payload, _) = next_frame(&mut l, t(3)).unwrap();
        assert_eq!(
            (refusal.flags, refusal.ack.get(), payload.as_slice()),
            (Flags::ACK, ISN + 1, &[8, 1, 1][..])
        );
        // The first transfer ends: a slot is free.
        l.handle_datagram(t(4), 1, &datagram(ISN + 1, risn + 1, conn, Flags::FIN, &[]));
        let id = l.transfers().find(|&(_, tag, _)| tag == 100).unwrap().0;
        l.transfer_mut(id).unwrap().committed(t(4));
        next_frame(&mut l, t(4)).unwrap();
        l.handle_datagram(t(5), 1, &datagram(ISN + 2, risn + 2, conn, Flags::ACK, &[]));
        assert_eq!(l.running(), 1);
        // The refused third frame again (a duplicate on the way, or its sender repeating it):
        // the same refusal (SPEC §10.4: no more data on that connection), no transfer.
        let h = l.handle_datagram(t(6), 3, &third);
        assert!(h.events.is_empty(), "{:?}", h.events);
        let (again, payload, _) = next_frame(&mut l, t(6)).unwrap();
        assert_eq!((again, payload.as_slice()), (refusal, &[8, 1, 1][..]));
        assert_eq!(l.running(), 1);
    }

    #[test]
    fn after_stop_accepting_new_senders_are_refused_and_it_is_done_once_the_transfers_end() {
        let mut l = pool();
        let (conn, risn, events) = connect(&mut l, 1, &[], b"");
        l.stop_accepting();
        assert_eq!(syn(&mut l, 3, 2, &OFFER_WINDOW).unwrap().1, [8, 1, 1]);
        assert!(!l.is_done());
        let id = events[0].id;
        next_frame(&mut l, t(3)).unwrap();
        let h = l.handle_datagram(t(4), 1, &datagram(ISN + 1, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(h.events[0].event, ReceiverEvent::Finished);
        l.transfer_mut(id).unwrap().committed(t(4));
        assert_eq!(next_frame(&mut l, t(4)).unwrap().0.flags, Flags::FIN | Flags::ACK);
        let h = l.handle_datagram(t(5), 1, &datagram(ISN + 2, risn + 2, conn, Flags::ACK, &[]));
        assert_eq!(h.events[0].event, ReceiverEvent::Closed);
        assert!(l.is_done());
    }

    #[test]
    fn the_conn_of_a_transfer_that_ended_is_not_handed_to_its_endpoint_again_for_an_idle_timeout() {
        let mut l = pool();
        let (conn, risn, _) = connect(&mut l, 1, &[], b"");
        next_frame(&mut l, t(2)).unwrap();
        l.handle_datagram(t(3), 1, &datagram(ISN + 1, risn + 1, conn, Flags::FIN, &[]));
        let id = l.transfers().next().unwrap().0;
        l.transfer_mut(id).unwrap().committed(t(3));
        next_frame(&mut l, t(3)).unwrap();
        let h = l.handle_datagram(t(4), 1, &datagram(ISN + 2, risn + 2, conn, Flags::ACK, &[]));
        assert_eq!(h.events[0].event, ReceiverEvent::Closed);
        assert_eq!(l.running(), 0);
        assert!(l.conn_in_use(conn, 1), "the ended transfer's conn, to its endpoint");
        assert!(!l.conn_in_use(conn, 2), "another endpoint may have it");
        l.handle_timeout(t(4 + 10_000));
        assert!(!l.conn_in_use(conn, 1), "an idle timeout later");
    }

    #[test]
    fn a_handshake_answered_before_stop_accepting_is_refused_at_its_third_frame() {
        let mut l = pool();
        let (syn_ack, _, _) = syn(&mut l, 1, 3, &OFFER_WINDOW).unwrap();
        l.stop_accepting();
        assert!(l.is_half_open(3));
        let third = datagram(ISN + 1, syn_ack.seq.get() + 1, syn_ack.conn, Flags::ACK, b"c");
        let h = l.handle_datagram(t(2), 3, &third);
        assert!(h.events.is_empty());
        let (refusal, payload, _) = next_frame(&mut l, t(2)).unwrap();
        assert_eq!((refusal.flags, refusal.ack.get(), refusal.conn), (Flags::ACK, ISN + 1, syn_ack.conn));
        assert_eq!(payload, [8, 1, 1]);
        assert_eq!(l.running(), 0);
        assert!(l.is_done());
    }

    /// Pumps senders (endpoints 1..) and the listener (endpoint 0) until all senders are done
    /// or `limit` ms pass; the application takes every byte and commits at once. Returns the
    /// senders' last events and what each transfer (by tag) received.
    fn run_with_prefix<const N: usize>(
        l: &mut Pool,
        senders: &mut [Sender<u8, 8>; N],
        data: &[&[u8]; N],
        mut on_listener_event: impl FnMut(&mut Pool, &ListenerEvent, Instant),
    ) -> (Vec<Option<SenderEvent>>, std::collections::BTreeMap<u32, Vec<u8>>) {
        let mut now = t(0);
        let mut written = [0usize; N];
        let mut last = std::vec![None; N];
        let mut received = std::collections::BTreeMap::<u32, Vec<u8>>::new();
        for _ in 0..100_000 {
            for (i, s) in senders.iter_mut().enumerate() {
                // A resumed sender gives the object's start to its digest, then writes from the
                // resume point.
                while s.prefix_left() > 0 {
                    let at = (s.resume_from() - s.prefix_left()) as usize;
                    let buf = s.prefix_buf();
                    let n = buf.len();
                    if n == 0 {
                        break;
                    }
                    buf.copy_from_slice(&data[i][at..at + n]);
                    s.advance_prefix(n);
                    written[i] = s.resume_from() as usize;
                }
                let n = s.write(&data[i][written[i]..]);
                written[i] += n;
                if written[i] == data[i].len()
                    && let Some(e) = s.finish()
                {
                    last[i] = Some(e);
                }
                while let Some(tx) = s.poll_transmit(now) {
                    let bytes = tx.datagram.to_vec();
                    let h = l.handle_datagram(now, i as u8 + 1, &bytes);
                    for e in h.events {
                        on_listener_event(l, &e, now);
                    }
                }
            }
            // The application takes all data.
            let ids: Vec<_> = l.transfers().map(|(id, tag, _)| (id, tag)).collect();
            for (id, tag) in ids {
                let r = l.transfer_mut(id).unwrap();
                let mut buf = [0u8; 4096];
                let n = r.read(&mut buf);
                received.entry(tag).or_default().extend_from_slice(&buf[..n]);
            }
            while let Some(tx) = l.poll_transmit(now) {
                let (to, bytes) = (tx.to, tx.datagram.to_vec());
                if let Some(s) = senders.get_mut(usize::from(to) - 1) {
                    for e in s.handle_datagram(now, 0, &bytes).events {
                        last[usize::from(to) - 1] = Some(e);
                    }
                }
            }
            if senders.iter().all(|s| s.is_done()) {
                break;
            }
            // A sender just resumed has its prefix to take before time moves on.
            if senders.iter().any(|s| s.prefix_left() > 0 && !s.is_done()) {
                continue;
            }
            let next = senders.iter().filter_map(|s| s.poll_timeout()).chain(l.poll_timeout()).min();
            now = next.map_or(now, |n| n.max(now));
            for (i, s) in senders.iter_mut().enumerate() {
                if let Some(e) = s.handle_timeout(now) {
                    last[i] = Some(e);
                }
            }
            while let Some(e) = l.handle_timeout(now) {
                on_listener_event(l, &e, now);
            }
        }
        (last, received)
    }

    fn sender(seed: u64) -> Sender<u8, 8> {
        Sender::new(SenderConfig::new(seed), 0, t(0))
    }

    #[test]
    fn real_senders_share_the_pool_and_a_third_is_refused_busy() {
        let mut l = pool();
        let a: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        let b: Vec<u8> = (0..7_000u32).map(|i| (i * 7) as u8).collect();
        let mut senders = [sender(1), sender(2), sender(3)];
        // The third sender's SYN comes once the first two hold the pool.
        let commit = |l: &mut Pool, e: &ListenerEvent, now: Instant| {
            if e.event == ReceiverEvent::Finished {
                l.transfer_mut(e.id).unwrap().committed(now);
            }
        };
        let (last, received) = run_with_prefix(&mut l, &mut senders, &[&a, &b, b"late"], commit);
        assert_eq!(last[0], Some(SenderEvent::Closed));
        assert_eq!(last[1], Some(SenderEvent::Closed));
        assert_eq!(last[2], Some(SenderEvent::Failed(Error::Refused(RefuseReason::Busy))));
        assert_eq!(received[&100], a);
        assert_eq!(received[&200], b);
        assert!(!received.contains_key(&300));
    }

    /// A sender offering resume: SHA-256, the size, and an object id.
    #[cfg(feature = "sha256")]
    fn resuming_sender(seed: u64, size: usize) -> Sender<u8, 8> {
        let config = SenderConfig {
            transfer_size: Some(size as u64),
            digest: Some(crate::DigestAlgorithm::Sha256),
            ..SenderConfig::new(seed)
        };
        let mut sender = Sender::new(config, 0, t(0));
        assert!(sender.offer_object_id(&[9; 16]));
        sender
    }

    /// One sender of `object` into a listener that says it holds `held` (its first bytes,
    /// maybe altered): the sender's and the listener's last events, what the listener got, and
    /// the resume point.
    #[cfg(feature = "sha256")]
    fn resume_run(object: &[u8], held: &[u8]) -> (bool, Vec<ReceiverEvent>, Vec<u8>, u64) {
        fn resume_4096(offer: &Offer<'_, u8>) -> Admission {
            assert_eq!(offer.object_id, Some(&[9u8; 16][..]));
            Admission::Resume { tag: 1, from: 4096 }
        }
        let mut l: Pool = Listener::new(ListenerConfig::new(3), resume_4096 as Policy, t(0));
        let mut senders = [resuming_sender(8, object.len())];
        // The sender's source is the whole object: the first 4096 bytes go to its digest only.
        let mut from = 0;
        let mut events = Vec::new();
        let held = held.to_vec();
        let on_event = |l: &mut Pool, e: &ListenerEvent, now: Instant| {
            events.push(e.event);
            // A transfer that is over has left the pool.
            let Some(r) = l.transfer_mut(e.id) else { return };
            match e.event {
                ReceiverEvent::Connected { .. } => {
                    from = r.resume_from();
                    assert_eq!(r.prefix_left(), from);
                    assert!(r.readable().is_empty(), "data readable before the prefix is hashed");
                    r.hash_prefix(&held[..from as usize]);
                    assert_eq!(r.prefix_left(), 0);
                }
                ReceiverEvent::Finished => r.committed(now),
                _ => {}
            }
        };
        let data = [object];
        let (last, received) = run_with_prefix(&mut l, &mut senders, &data, on_event);
        assert_eq!(last[0], Some(SenderEvent::Closed), "the close completes either way");
        (senders[0].has_succeeded(), events, received.get(&1).cloned().unwrap_or_default(), from)
    }

    #[cfg(feature = "sha256")]
    #[test]
    fn a_resumed_transfer_carries_the_rest_and_the_digest_covers_the_whole_object() {
        let object: Vec<u8> = (0..10_000u32).map(|i| (i * 31 + 7) as u8).collect();
        let (succeeded, events, received, from) = resume_run(&object, &object[..4096]);
        assert_eq!(from, 4096, "{events:?}");
        assert!(succeeded);
        assert!(events.contains(&ReceiverEvent::Finished), "{events:?}");
        assert!(received == object[4096..], "{} bytes received", received.len());
        // The receiver holds other bytes than the sender's object: the digest catches it.
        let mut altered = object[..4096].to_vec();
        altered[100] ^= 1;
        let (succeeded, events, _, _) = resume_run(&object, &altered);
        assert!(!succeeded, "a sender succeeded with a receiver that holds other bytes");
        assert!(events.contains(&ReceiverEvent::Failed(Error::DigestMismatch)), "{events:?}");
    }

    #[test]
    fn an_admission_that_cannot_resume_takes_the_transfer_from_0() {
        // No object id offered: a resume point is not granted.
        fn resume_512(_: &Offer<'_, u8>) -> Admission {
            Admission::Resume { tag: 5, from: 512 }
        }
        let mut l: Pool = Listener::new(ListenerConfig::new(3), resume_512 as Policy, t(0));
        let (syn_ack, payload, _) = syn(&mut l, 1, 1, &OFFER_WINDOW).unwrap();
        assert_eq!(payload, [2, 1, 8], "{syn_ack:?}");
        let h = l.handle_datagram(
            t(2),
            1,
            &datagram(ISN + 1, syn_ack.seq.get() + 1, syn_ack.conn, Flags::ACK, b"x"),
        );
        let id = h.events[0].id;
        assert_eq!(l.transfer(id).unwrap().resume_from(), 0);
        assert_eq!(l.transfer(id).unwrap().readable(), b"x");
    }

    #[test]
    fn an_aborting_application_and_a_failing_commit_reach_the_sender_at_once() {
        let mut l = pool();
        let a = std::vec![1u8; 30_000];
        let b = std::vec![2u8; 3_000];
        let mut senders = [sender(4), sender(5)];
        let stop = |l: &mut Pool, e: &ListenerEvent, now: Instant| match (e.tag, e.event) {
            // The first transfer is cancelled by its application once data flows.
            (100, ReceiverEvent::Delivered { .. }) => {
                let r = l.transfer_mut(e.id).unwrap();
                if r.is_running() {
                    r.abort(now, Error::Stopped(RefuseReason::Cancelled));
                }
            }
            // The second cannot be committed.
            (200, ReceiverEvent::Finished) => l.transfer_mut(e.id).unwrap().commit_failed(now),
            _ => {}
        };
        let (last, _) = run_with_prefix(&mut l, &mut senders, &[&a, &b], stop);
        assert_eq!(last[0], Some(SenderEvent::Failed(Error::Refused(RefuseReason::Cancelled))));
        // The FIN|ACK carried the refusal: the close completed, and failed.
        assert_eq!(last[1], Some(SenderEvent::Failed(Error::Refused(RefuseReason::Storage))));
    }
}
