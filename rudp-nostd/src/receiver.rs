//! The receiver (SPEC §2-§6, §10.1): accepts one connection, hands the data to the
//! application in order, and acknowledges only what the application has taken.
//!
//! A sans-IO state machine: see [`Engine`] for how a driver runs it. It answers every frame it
//! accepts with one reply (a header, and options where an extension was granted), kept in its
//! own small buffer until the driver sends it; frames taken in before the driver polls are
//! covered by one reply (SPEC §10.1's batched ACKs).
//!
//! Half-open connections (a SYN answered, the third frame not yet seen) live in a fixed table
//! of `H` entries ([`crate::half_open`]); a SYN that finds it full replaces an entry chosen at
//! random, and entries expire after the idle timeout, so half-open peers never block others.
//! The first peer to complete the handshake gets the transfer; after that, frames from any
//! other endpoint are dropped. ([`crate::Listener`] takes several transfers at once.)
//!
//! A receiver tells a sender that understands it (its SYN offered an extension) why it stops
//! taking the transfer (SPEC §10.4): [`Receiver::abort`] answers with a refusing ACK, and
//! keeps answering the connection's frames with it for an idle timeout; a commit that fails
//! answers the FIN with a refusal. A sender's abandoning FIN fails the transfer at once.
//!
//! It does no IO of the application's data: arriving frames wait in the receiver's own
//! payload slots until the application takes them ([`Receiver::readable`] and
//! [`Receiver::consume`], or [`Receiver::read`]), and only then are they acknowledged
//! (backpressure: the sender's timer and window wait for a slow application). After
//! [`ReceiverEvent::Finished`] the application commits its output (syncs a file, marks a
//! firmware image) and calls [`Receiver::committed`]; only then is the FIN answered (SPEC §5:
//! commit, then answer). [`crate::blocking::SinkReceiver`] does all this with an
//! [`embedded_io::Write`] sink, and [`crate::asynch`] with an async one.
//!
//! `W` is the number of payload slots (512 bytes each), the largest window it grants (SPEC
//! §10.1). With the default `W = 1` it grants none and is the stop-and-wait receiver of SPEC
//! §4; every window branch is behind `Receiver::window_of`, the constant 1 then.

use crate::config::{MAX_WINDOW, Profile, ReceiverConfig};
use crate::digest::{DigestAlgorithm, Hasher};
use crate::engine::{Engine, Handled, Transmit};
use crate::error::{Error, RefuseReason};
use crate::frame::{self, Flags, Frame, MAX_PAYLOAD, Repr};
use crate::half_open::{HalfOpen, HalfOpenTable};
use crate::options::{self, SynOptions};
use crate::random::SplitMix64;
use crate::reply::Reply;
use crate::seq::{MAX_SEQ, SeqNum};
use crate::time::Instant;
use crate::trace::{DropReason, Trace};

/// The default number of half-open entries.
pub const DEFAULT_HALF_OPEN: usize = 4;

/// What a [`Receiver`] tells its application.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReceiverEvent {
    /// A peer completed the handshake: the transfer is theirs.
    Connected {
        /// The connection id.
        conn: u16,
        /// The size the sender announced in its SYN, if any (for progress only: the end of
        /// the data is the FIN).
        transfer_size: Option<u64>,
    },
    /// This many more bytes arrived in order: read them with [`Receiver::readable`] (they
    /// are acknowledged once taken).
    Delivered {
        /// Bytes (0 to 512 a frame; one event for a frame and the held frames it joins).
        bytes: u16,
    },
    /// The FIN arrived in order: all data is in and was taken (and verified, when a digest
    /// was agreed). Commit the output, then call [`Receiver::committed`]: the FIN is answered
    /// then, and the receiver lingers to answer a repeated FIN.
    Finished,
    /// The connection is closed (after [`ReceiverEvent::Finished`]); the receiver is done.
    Closed,
    /// The transfer failed; the receiver is done and the data taken so far is incomplete.
    Failed(Error),
}

/// What the receiver found when the FIN came.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Verdict {
    /// No digest was agreed.
    Unverified,
    /// The digest matched.
    Verified,
    /// The digest did not match, or the FIN carried none.
    Mismatch,
    /// The output could not be committed: the FIN|ACK carries this `refuse` (SPEC §10.4).
    Refused(RefuseReason),
}

/// The one established connection.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Connection<E> {
    peer: E,
    conn: u16,
    isn: SeqNum,
    risn: SeqNum,
    /// The cumulative ack point (`A`): everything before it was taken by the application.
    rcv_nxt: SeqNum,
    /// The `seq` of the last frame taken, whose retransmission is re-acknowledged.
    prev_seq: Option<SeqNum>,
    /// The last valid frame from the peer (for the idle timeout).
    last_heard: Instant,
    /// The digest agreed in the handshake.
    digest: Option<DigestAlgorithm>,
    /// Set when the FIN arrives.
    verdict: Verdict,
    /// The window granted (1: none).
    window: u8,
    /// Data bytes from `A` on when the sender announced a `transfer-size`, which binds
    /// (SPEC §3.1).
    unreceived: Option<u64>,
    /// The payload slot of the frame at `A` (`k = 0`); the frame at `k` is in `head + k`.
    head: u8,
    /// Bit `k`: the frame at `k` is in its slot (not yet taken, or held above a hole). Bits
    /// 1 and up are the `sack` bitmap.
    stored: u64,
    /// Bytes of the frame at `A` already taken.
    taken: u16,
    /// The SYN offered an extension: the sender understands a `refuse` (SPEC §10.4).
    refusable: bool,
    /// Where the data starts in the object: the `resume-from` granted (SPEC §10.5), else 0.
    resume_from: u64,
    /// Bytes of the object the application has still to give ([`Receiver::hash_prefix`]) for
    /// the digest: those before `resume_from` (no data is readable before them, unless
    /// [`ReceiverConfig::hash_read_back`]), and with `hash_read_back` the bytes taken since.
    prefix_left: u64,
}

impl<E> Connection<E> {
    fn syn_ack(&self) -> Repr {
        Repr { seq: self.risn, ack: self.isn + 1, conn: self.conn, flags: Flags::SYN | Flags::ACK }
    }

    fn ack(&self) -> Repr {
        Repr { seq: self.risn + 1, ack: self.rcv_nxt, conn: self.conn, flags: Flags::ACK }
    }

    /// The idle timeout runs from the last frame heard (in `Refused`, from the refusal).
    fn deadline(&self, idle: crate::time::Duration) -> Instant {
        self.last_heard + idle
    }
}

#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum State<E> {
    Listening,
    /// Receiving data.
    Established(Connection<E>),
    /// FIN received, all data taken and verified; waiting for the application to commit
    /// before the FIN is answered. `rcv_nxt` is `END + 1`.
    Committing(Connection<E>),
    /// FIN received and answered; `rcv_nxt` is `END + 1`.
    Closing(Connection<E>),
    /// The transfer was refused (SPEC §10.4): every frame of the connection gets the same
    /// refusing ACK until an idle timeout after the refusal (`last_heard`); the application
    /// was told it failed.
    Refused(Connection<E>, RefuseReason),
    Closed,
    Failed,
}

/// The receiving side of one transfer.
///
/// `E` is the endpoint type; `W` the number of payload slots of 512 bytes, the largest window
/// it grants (`W = 1`, the default: none, stop-and-wait); `H` the number of half-open entries.
///
/// ```
/// use rudp_nostd::{Receiver, ReceiverConfig, Instant};
///
/// // Grants windows of up to 32 frames: 32 payload slots of 512 bytes.
/// let receiver: Receiver<(), 32> = Receiver::new(ReceiverConfig::new(1), Instant::ZERO);
/// assert_eq!(receiver.max_window(), 32);
/// ```
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Receiver<E, const W: usize = 1, const H: usize = DEFAULT_HALF_OPEN> {
    config: ReceiverConfig,
    random: SplitMix64,
    started_at: Instant,
    half_open: HalfOpenTable<E, (), H>,
    state: State<E>,
    /// The running digest of the data written, when one was agreed.
    hasher: Option<Hasher>,
    /// The one reply owed to the peer of the transfer.
    reply: Reply<E>,
    /// The payload slots: frames not yet taken by the application, and frames held above a
    /// hole, with their lengths.
    slots: [[u8; MAX_PAYLOAD]; W],
    slot_len: [u16; W],
}

impl<E: Copy + PartialEq, const W: usize, const H: usize> Receiver<E, W, H> {
    /// `W` payload slots: 1 to 64 (SPEC §10.1). Checked when the receiver is built.
    const SLOTS: usize = {
        assert!(W >= 1 && W <= MAX_WINDOW as usize, "a receiver has 1 to 64 payload slots");
        W
    };

    /// A receiver waiting for a connection, from `now`.
    pub fn new(config: ReceiverConfig, now: Instant) -> Receiver<E, W, H> {
        Receiver {
            config,
            random: SplitMix64::new(config.random_seed),
            started_at: now,
            half_open: HalfOpenTable::new(),
            state: State::Listening,
            hasher: None,
            reply: Reply::new(),
            slots: [[0; MAX_PAYLOAD]; W],
            slot_len: [0; W],
        }
    }

    /// The data that arrived in order and is not yet taken: the rest of one frame (call
    /// again after [`Receiver::consume`] for the next). Empty when there is none.
    pub fn readable(&self) -> &[u8] {
        let State::Established(c) = &self.state else {
            return &[];
        };
        // The held prefix goes to the digest first; an application that reads back what it
        // wrote gives it the bytes in order itself (and owes those it took).
        if c.stored & 1 == 0 || (c.prefix_left > 0 && !self.config.hash_read_back) {
            return &[];
        }
        let slot = usize::from(c.head) % Self::SLOTS;
        let len = usize::from(self.slot_len[slot]).min(MAX_PAYLOAD);
        let taken = usize::from(c.taken).min(len);
        &self.slots[slot][taken..len]
    }

    /// The application took the first `n` bytes of [`Receiver::readable`]. Once a whole frame
    /// is taken its slot is free, the cumulative ack moves past it and an ACK is due (SPEC
    /// §4: data is acknowledged only once taken).
    pub fn consume(&mut self, n: usize) {
        let State::Established(mut c) = self.state else {
            return;
        };
        let (taken, mut n) = (n, n);
        let mut advanced = false;
        // One pass per frame: at most W.
        for _ in 0..W {
            if c.stored & 1 == 0 || n == 0 {
                break;
            }
            let slot = usize::from(c.head) % Self::SLOTS;
            let len = usize::from(self.slot_len[slot]).min(MAX_PAYLOAD);
            let from = usize::from(c.taken).min(len);
            let take = n.min(len - from);
            debug_assert!(take == n || from + take == len);
            if self.config.hash_read_back {
                // The application gives these bytes, read back from where it wrote them (counted
                // below).
            } else if let Some(hasher) = &mut self.hasher {
                // `from + take <= len <= MAX_PAYLOAD`, but the optimizer does not see it (an
                // index panic in examples/link-check's digest builds): `get` has no panic.
                hasher.update(self.slots[slot].get(from..from + take).unwrap_or(&[]));
            }
            n -= take;
            c.taken = (from + take) as u16;
            if from + take == len {
                // The whole frame is taken: `A` moves past it.
                c.prev_seq = Some(c.rcv_nxt);
                c.rcv_nxt = c.rcv_nxt + len as u32;
                c.unreceived = c.unreceived.map(|left| left.saturating_sub(len as u64));
                c.stored >>= 1;
                c.head = ((slot + 1) % Self::SLOTS) as u8;
                c.taken = 0;
                advanced = true;
            }
        }
        debug_assert_eq!(n, 0, "consume past readable");
        if self.config.hash_read_back {
            c.prefix_left += (taken - n) as u64;
        }
        self.state = State::Established(c);
        if advanced {
            self.queue_ack(&c, false);
        }
    }

    /// Copies data that arrived in order into `buf` and takes it; returns how many bytes.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut done = 0;
        // One pass per frame: at most W + 1.
        for _ in 0..=W {
            let rest = buf.get_mut(done..).unwrap_or(&mut []);
            let readable = self.readable();
            let n = readable.len().min(rest.len());
            if n == 0 {
                break;
            }
            rest[..n].copy_from_slice(&readable[..n]);
            self.consume(n);
            done += n;
        }
        done
    }

    /// The application stops the transfer with `error` (its sink failed, it was cancelled:
    /// [`Error::Stopped`] with a reason) at `now`. A sender that understands it is told why
    /// (SPEC §10.4: a refusing ACK with [`RefuseReason::for_error`]), and the connection's
    /// frames get that answer for an idle timeout; any other sender gets no more answers.
    /// Once the FIN is answered the outcome is decided: an abort then only ends the linger
    /// and gives [`ReceiverEvent::Closed`].
    pub fn abort(&mut self, now: Instant, error: Error) -> ReceiverEvent {
        match self.state {
            State::Established(c) => self.refuse(now, c, error),
            State::Committing(c) if c.refusable => {
                // The FIN is in: the close completes with the refusal (SPEC §10.4).
                self.close_refused(now, c, RefuseReason::for_error(error));
                ReceiverEvent::Failed(error)
            }
            // The FIN is answered: the outcome is decided; an abort only ends the linger.
            State::Closing(c) => {
                self.state = closed(&c);
                self.reply.clear();
                ReceiverEvent::Closed
            }
            _ => self.fail(error),
        }
    }

    /// Fails the transfer with `error`; tells a sender that understands it why.
    fn refuse(&mut self, now: Instant, mut c: Connection<E>, error: Error) -> ReceiverEvent {
        if !c.refusable {
            return self.fail(error);
        }
        let reason = RefuseReason::for_error(error);
        c.last_heard = now;
        self.state = State::Refused(c, reason);
        self.reply.refusal(c.peer, c.ack(), reason, false);
        ReceiverEvent::Failed(error)
    }

    /// Answers the FIN with a refusal instead of a `result`, and lingers as after a commit.
    fn close_refused(&mut self, now: Instant, mut c: Connection<E>, reason: RefuseReason) {
        c.verdict = Verdict::Refused(reason);
        c.last_heard = now;
        self.state = State::Closing(c);
        self.queue_fin_ack(&c, false);
    }

    /// Where the data starts in the object: the `resume-from` granted (SPEC §10.5), or 0. The
    /// application writes the data from there on, after discarding what it held beyond.
    pub fn resume_from(&self) -> u64 {
        self.connection_state().map_or(0, |c| c.resume_from)
    }

    /// Bytes of the object before [`Receiver::resume_from`] still to be given to
    /// [`Receiver::hash_prefix`]: the digest covers the whole object (SPEC §10.5), so the
    /// application reads back what it holds, from the object's start on. No data is readable
    /// before.
    ///
    /// With [`ReceiverConfig::hash_read_back`] it also counts the bytes taken and not yet given
    /// back (data is readable meanwhile: the application gives the bytes in order itself).
    pub fn prefix_left(&self) -> u64 {
        match &self.state {
            State::Established(c) => c.prefix_left,
            _ => 0,
        }
    }

    /// The next bytes of the object's start, read back from what the application holds, for the
    /// digest (see [`Receiver::prefix_left`]); bytes beyond the prefix are ignored.
    ///
    /// With [`ReceiverConfig::hash_read_back`], the next bytes of the whole object, read back
    /// from where the application wrote them: the held prefix, then the bytes it took, in
    /// order; bytes beyond those taken are ignored.
    pub fn hash_prefix(&mut self, bytes: &[u8]) {
        let State::Established(mut c) = self.state else {
            return;
        };
        let n = (c.prefix_left.min(bytes.len() as u64)) as usize;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes.get(..n).unwrap_or(&[]));
        }
        c.prefix_left -= n as u64;
        self.state = State::Established(c);
    }

    /// The connection, once a peer has completed the handshake.
    fn connection_state(&self) -> Option<&Connection<E>> {
        match &self.state {
            State::Established(c) | State::Committing(c) | State::Closing(c) | State::Refused(c, _) => {
                Some(c)
            }
            _ => None,
        }
    }

    /// The peer that holds the transfer, once one has completed the handshake.
    pub fn peer(&self) -> Option<E> {
        match &self.state {
            State::Established(c) | State::Committing(c) | State::Closing(c) | State::Refused(c, _) => {
                Some(c.peer)
            }
            _ => None,
        }
    }

    /// The connection id and the sender's ISN, once a peer has completed the handshake.
    pub(crate) fn connection(&self) -> Option<(u16, SeqNum)> {
        match &self.state {
            State::Established(c) | State::Committing(c) | State::Closing(c) | State::Refused(c, _) => {
                Some((c.conn, c.isn))
            }
            _ => None,
        }
    }

    /// Whether the transfer is still taking data or waiting for its commit (not closing,
    /// refused or over).
    #[cfg(test)]
    pub(crate) fn is_running(&self) -> bool {
        matches!(self.state, State::Established(_) | State::Committing(_))
    }

    /// Ends the transfer as if by its idle timeout, without a word to the peer (a listener's
    /// transfer whose sender restarted: SPEC §10.4), with the event the idle timeout would
    /// give: a running transfer fails, one lingering after its FIN|ACK closes, a refused one
    /// (its application was told) just ends.
    pub(crate) fn end(&mut self) -> Option<ReceiverEvent> {
        match self.state {
            State::Established(_) | State::Committing(_) => Some(self.fail(Error::IdleTimeout)),
            State::Closing(c) => {
                self.state = closed(&c);
                self.reply.clear();
                Some(ReceiverEvent::Closed)
            }
            State::Refused(..) => {
                self.fail(Error::IdleTimeout);
                None
            }
            State::Listening | State::Closed | State::Failed => None,
        }
    }

    /// Whether a reply waits for [`Engine::poll_transmit`].
    pub(crate) fn owes_reply(&self) -> bool {
        self.reply.is_pending() || self.half_open.owes()
    }

    /// Whether all data arrived, was flushed and (when a digest was agreed) verified: the
    /// output may be committed. True from [`ReceiverEvent::Finished`] on.
    pub fn has_succeeded(&self) -> bool {
        match self.state {
            State::Committing(_) => true,
            State::Closing(c) => matches!(c.verdict, Verdict::Verified | Verdict::Unverified),
            State::Closed => true,
            _ => false,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// The digest agreed with the peer, once it completed the handshake (and after the close).
    pub fn digest(&self) -> Option<DigestAlgorithm> {
        self.hasher.as_ref().map(Hasher::algorithm)
    }

    /// The window granted to the peer that holds the transfer (1: none, stop-and-wait).
    pub fn window(&self) -> u8 {
        match &self.state {
            State::Established(c) | State::Committing(c) | State::Closing(c) | State::Refused(c, _) => {
                Self::window_of(c) as u8
            }
            _ => 1,
        }
    }

    /// The application has committed its output after [`ReceiverEvent::Finished`]: the FIN
    /// is answered now, and the receiver lingers to answer a repeated FIN. Does nothing in any
    /// other state.
    pub fn committed(&mut self, now: Instant) {
        if let State::Committing(mut c) = self.state {
            c.last_heard = now;
            self.state = State::Closing(c);
            self.queue_fin_ack(&c, false);
        }
    }

    /// The application could not commit its output after [`ReceiverEvent::Finished`], at
    /// `now`: a sender that understands it gets a FIN|ACK with a `refuse` (reason 4, SPEC
    /// §10.4) and the close completes; any other sender gets no answer, so it cannot report
    /// success. Either way the transfer has failed. Does nothing in any other state.
    pub fn commit_failed(&mut self, now: Instant) {
        if let State::Committing(c) = self.state {
            if c.refusable {
                self.close_refused(now, c, RefuseReason::Storage);
            } else {
                self.state = State::Failed;
                self.reply.clear();
            }
        }
    }

    /// The largest window this receiver grants: `W` within `config.max_window` (the native
    /// profile only; none in the reference profile).
    pub fn max_window(&self) -> u8 {
        Self::max_window_for(&self.config)
    }

    /// The largest window a receiver with `W` slots grants under `config`.
    pub(crate) fn max_window_for(config: &ReceiverConfig) -> u8 {
        if W == 1 || config.profile == Profile::Reference {
            return 1;
        }
        Self::SLOTS.min(usize::from(config.max_window)).max(1) as u8
    }

    /// The window of `c`: the constant 1 when `W = 1`, so that the optimizer removes every
    /// window branch from the stop-and-wait receiver.
    fn window_of(c: &Connection<E>) -> usize {
        if W == 1 { 1 } else { usize::from(c.window).min(W) }
    }

    /// The `sack` bitmap: the frames stored above `A` (always none at window 1).
    fn held(c: &Connection<E>) -> u64 {
        if W == 1 { 0 } else { c.stored >> 1 }
    }

    /// The ACK of data: the cumulative `ack`, and a `sack` while frames are held above a hole.
    fn queue_ack(&mut self, c: &Connection<E>, dup: bool) {
        let (value, len) = options::sack_value(Self::held(c));
        let mut sack = [0u8; 2 + options::SACK_MAX_LEN];
        let (head, tail) = sack.split_at_mut(2);
        head.copy_from_slice(&[options::SACK, len as u8]);
        tail.copy_from_slice(&value);
        debug_assert!(len <= options::SACK_MAX_LEN);
        let sack = if len == 0 { &[][..] } else { &sack[..(2 + len).min(sack.len())] };
        self.reply.queue(c.peer, c.ack(), sack, dup);
    }

    /// The FIN's answer: FIN|ACK, with the `result` when a digest was agreed.
    fn queue_fin_ack(&mut self, c: &Connection<E>, dup: bool) {
        let fin_ack = Repr { flags: Flags::FIN | Flags::ACK, ..c.ack() };
        let result = match c.verdict {
            Verdict::Unverified => &[][..],
            Verdict::Verified => &[options::RESULT, 1, options::RESULT_VERIFIED][..],
            Verdict::Mismatch => &[options::RESULT, 1, options::RESULT_MISMATCH][..],
            Verdict::Refused(reason) => return self.reply.refusal(c.peer, fin_ack, reason, dup),
        };
        self.reply.queue(c.peer, fin_ack, result, dup);
    }

    fn fail(&mut self, error: Error) -> ReceiverEvent {
        self.state = State::Failed;
        self.reply.clear();
        ReceiverEvent::Failed(error)
    }

    /// The half-open entry for a new SYN from `from` with `seq = isn` and these offers: a
    /// fresh `conn` and RISN, and the grants (SPEC §10), decided once so that a repeated SYN
    /// gets the same answer.
    pub(crate) fn answer_syn<X>(
        config: &ReceiverConfig,
        random: &mut SplitMix64,
        now: Instant,
        from: E,
        isn: SeqNum,
        offers: &SynOptions,
        extra: X,
    ) -> HalfOpen<E, X> {
        HalfOpen {
            peer: from,
            owed: crate::half_open::Owed::SynAck,
            isn,
            risn: SeqNum::from_wrapping(random.next_u32()),
            conn: random.next_conn(),
            created: now,
            transfer_size: offers.transfer_size,
            // Granted when offered, supported and wanted, in the native profile only (SPEC
            // §10); only then does the SYN|ACK carry an option (a SYN that offers nothing
            // always gets 12 bytes).
            digest: offers
                .digest
                .filter(|d| config.profile == Profile::Native && config.verify_digest && d.is_supported()),
            // min(offer, what we can hold), granted only when 2 or more (SPEC §10.1).
            window: offers.window.map_or(1, |offer| offer.min(Self::max_window_for(config))).max(1),
            // Only a native receiver refuses.
            refusable: offers.extension && config.profile == Profile::Native,
            extra,
        }
    }

    /// Queues the SYN|ACK of a half-open entry.
    pub(crate) fn queue_half_open_syn_ack<X>(
        reply: &mut Reply<E>,
        entry: &HalfOpen<E, X>,
        resume_from: u64,
        dup: bool,
    ) {
        reply.syn_ack(entry.peer, entry.syn_ack(), W > 1, entry.window, entry.digest, resume_from, dup);
    }

    fn on_syn(&mut self, now: Instant, from: E, frame: Frame<'_>) -> Handled<ReceiverEvent> {
        let repr = frame.repr;
        if repr.flags != Flags::SYN {
            return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
        }
        match self.state {
            State::Listening => {}
            // A duplicate of the SYN that opened this connection gets the same SYN|ACK.
            State::Established(c) | State::Committing(c) | State::Closing(c)
                if c.peer == from && c.isn == repr.seq =>
            {
                self.reply.syn_ack(from, c.syn_ack(), W > 1, c.window, c.digest, c.resume_from, true);
                return Handled::trace(Trace::recv(repr, true));
            }
            _ => return Handled::trace(Trace::drop(repr, DropReason::NotAccepting)),
        }
        self.half_open.expire(now, self.config.idle_timeout);
        if self.half_open.repeat(from, repr.seq) {
            return Handled::trace(Trace::recv(repr, true));
        }
        // A new attempt from an endpoint replaces its old entry; a full table loses one at
        // random (SPEC §10.4).
        let offers = SynOptions::parse(frame.payload);
        let entry = Self::answer_syn(&self.config, &mut self.random, now, from, repr.seq, &offers, ());
        if !self.half_open.insert(entry) {
            return Handled::trace(Trace::drop(repr, DropReason::NotAccepting));
        }
        Handled::trace(Trace::recv(repr, false))
    }

    /// In `Listening`: a non-SYN frame may be the third frame of a handshake (and no other
    /// frame from a half-open peer is taken, SPEC §10.1).
    fn on_handshake_ack(&mut self, now: Instant, from: E, frame: Frame<'_>) -> Handled<ReceiverEvent> {
        let repr = frame.repr;
        let Some(entry) = self.half_open.find(from).copied() else {
            return Handled::trace(Trace::drop(repr, DropReason::NotAccepting));
        };
        if let Err(reason) = is_third_frame(&entry, repr) {
            return Handled::trace(Trace::drop(repr, reason));
        }
        self.half_open.clear();
        self.establish(now, &entry, 0, frame)
    }

    /// The third frame of `entry`'s handshake arrived: the transfer is established (its data
    /// starting at `resume_from` in the object, SPEC §10.5), and the frame's data taken.
    pub(crate) fn establish<X>(
        &mut self,
        now: Instant,
        entry: &HalfOpen<E, X>,
        resume_from: u64,
        frame: Frame<'_>,
    ) -> Handled<ReceiverEvent> {
        let from = entry.peer;
        let connection = Connection {
            peer: from,
            conn: entry.conn,
            isn: entry.isn,
            risn: entry.risn,
            rcv_nxt: entry.isn + 1,
            prev_seq: None,
            last_heard: now,
            digest: entry.digest,
            verdict: Verdict::Unverified,
            window: entry.window,
            // Only a native sender announces one; the reference profile's zero stripping
            // would not match it anyway.
            // On this connection: the object from `resume_from` on.
            unreceived: entry
                .transfer_size
                .filter(|_| self.config.profile == Profile::Native)
                .map(|size| size.saturating_sub(resume_from)),
            head: 0,
            stored: 0,
            taken: 0,
            refusable: entry.refusable,
            resume_from,
            prefix_left: resume_from,
        };
        self.hasher = entry.digest.and_then(Hasher::new);
        self.state = State::Established(connection);
        let connected = ReceiverEvent::Connected { conn: entry.conn, transfer_size: entry.transfer_size };
        let data = self.on_established(now, connection, frame);
        // `Connected` comes before what the third frame's data did.
        let mut handled = Handled::with_event(data.trace, connected);
        for event in data.events {
            handled.push(event);
        }
        handled
    }

    /// In `Established`, from the peer, with its connection id: data or the FIN.
    fn on_established(
        &mut self,
        now: Instant,
        mut c: Connection<E>,
        frame: Frame<'_>,
    ) -> Handled<ReceiverEvent> {
        let repr = frame.repr;
        if repr.flags.contains(Flags::FIN) {
            // The sender abandons the transfer (SPEC §10.4): taken with a `seq` from `A` to the
            // end of the window, and not answered.
            if c.refusable
                && let Some(reason) = options::refuse(frame.payload)
                && repr.seq - c.rcv_nxt <= (Self::window_of(&c) * MAX_PAYLOAD) as u32
            {
                let failed = self.fail(Error::Refused(RefuseReason::from_code(reason)));
                return Handled::with_event(Trace::recv(repr, false), failed);
            }
            // In order only: all data taken, nothing held above a hole.
            if repr.seq != c.rcv_nxt || c.stored != 0 {
                return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
            }
            // A FIN at another length than the announced one (SPEC §3.1).
            if c.unreceived.is_some_and(|unreceived| unreceived != 0) {
                return Handled::with_event(
                    Trace::recv(repr, false),
                    self.refuse(now, c, Error::LengthMismatch),
                );
            }
            // The digest is checked before anything is reported (SPEC §10.2): the output may
            // be committed only on a match, over every byte of the object (none of the held
            // prefix, nor with `hash_read_back` of the bytes taken, left out).
            c.verdict = match &self.hasher {
                None => Verdict::Unverified,
                Some(_) if c.prefix_left != 0 => Verdict::Mismatch,
                Some(hasher) => {
                    let expected = hasher.value();
                    match options::digest_value(frame.payload, expected.as_bytes().len()) {
                        Some(value) if value == expected.as_bytes() => Verdict::Verified,
                        _ => Verdict::Mismatch,
                    }
                }
            };
            c.rcv_nxt = repr.seq + 1;
            c.last_heard = now;
            // Commit, then answer (SPEC §5, §10.2): a mismatch has nothing to commit.
            if c.verdict == Verdict::Mismatch {
                self.state = State::Closing(c);
                self.queue_fin_ack(&c, false);
            } else {
                self.state = State::Committing(c);
            }
            let event = match c.verdict {
                Verdict::Mismatch => ReceiverEvent::Failed(Error::DigestMismatch),
                Verdict::Verified | Verdict::Unverified | Verdict::Refused(_) => ReceiverEvent::Finished,
            };
            return Handled::with_event(Trace::recv(repr, false), event);
        }
        let payload = match self.config.profile {
            Profile::Native => frame.payload,
            // The original receiver finds a payload's end by stripping trailing zeros (SPEC §7).
            Profile::Reference => strip_trailing_zeros(frame.payload),
        };
        let w = Self::window_of(&c);
        // Where the frame sits relative to `A` (SPEC §10.1): `k` frames above it, or below.
        let above = repr.seq - c.rcv_nxt;
        let k = (above / MAX_PAYLOAD as u32) as usize;
        let in_window = above.is_multiple_of(MAX_PAYLOAD as u32) && k < w;
        if in_window && payload.is_empty() {
            // An empty data frame: the third frame of an empty transfer. Nothing to take.
            if k != 0 || c.stored != 0 {
                return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
            }
            c.last_heard = now;
            self.state = State::Established(c);
            self.queue_ack(&c, false);
            return Handled::with_event(Trace::recv(repr, false), ReceiverEvent::Delivered { bytes: 0 });
        }
        if in_window {
            return self.on_data(now, c, repr, k, payload);
        }
        if self.is_duplicate(&c, repr.seq) {
            // Our ACK was lost and the sender repeats the frame: acknowledge, don't deliver.
            c.last_heard = now;
            self.state = State::Established(c);
            self.queue_ack(&c, true);
            Handled::trace(Trace::recv(repr, true))
        } else {
            Handled::trace(Trace::drop(repr, DropReason::Unexpected))
        }
    }

    /// A data frame at `k` frames above `A`, within the window, with `payload`: stored in its
    /// slot until the application takes it. A frame that joins the data already in order is
    /// delivered (acknowledged once taken); one above a hole is held and shown in a sack.
    fn on_data(
        &mut self,
        now: Instant,
        mut c: Connection<E>,
        repr: Repr,
        k: usize,
        payload: &[u8],
    ) -> Handled<ReceiverEvent> {
        debug_assert!(k < u64::BITS as usize);
        let bit = 1u64 << k.min(u64::BITS as usize - 1);
        if c.stored & bit != 0 {
            // Stored already (not taken yet, or held): a repeat, acknowledged again.
            c.last_heard = now;
            self.state = State::Established(c);
            self.queue_ack(&c, true);
            return Handled::trace(Trace::recv(repr, true));
        }
        // Data past the announced size (SPEC §3.1): the frame ends beyond it.
        let end = (k * MAX_PAYLOAD + payload.len()) as u64;
        if c.unreceived.is_some_and(|left| end > left) {
            return Handled::with_event(Trace::recv(repr, false), self.refuse(now, c, Error::LengthMismatch));
        }
        // Every frame but the last is full: a short frame that joins the data in order cannot
        // have frames held above it.
        let in_order_before = self.in_order_end(&c);
        let short = payload.len() < MAX_PAYLOAD;
        if k == in_order_before && short && c.stored >> k != 0 {
            return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
        }
        let slot = (usize::from(c.head) + k) % Self::SLOTS;
        let n = payload.len().min(MAX_PAYLOAD);
        self.slots[slot][..n].copy_from_slice(&payload[..n]);
        self.slot_len[slot] = n as u16;
        c.stored |= bit;
        c.last_heard = now;
        if k == in_order_before {
            // It and the held frames above it are in order now: the application may take
            // them; the ACK goes once it has. A short one among them is the last: what is held
            // above it cannot belong to the data and is let go.
            let end = self.in_order_end(&c);
            if end > 0 && self.len_at(&c, end - 1) < MAX_PAYLOAD && end < u64::BITS as usize {
                c.stored &= (1u64 << end) - 1;
            }
            self.state = State::Established(c);
            let bytes: usize = (k..end).map(|j| self.len_at(&c, j)).sum();
            Handled::with_event(Trace::recv(repr, false), ReceiverEvent::Delivered { bytes: bytes as u16 })
        } else {
            // Above a hole: held, and shown in a sack.
            self.state = State::Established(c);
            self.queue_ack(&c, false);
            Handled::trace(Trace::recv(repr, false))
        }
    }

    /// Where the data in order ends: the frames stored from `A` up to the first hole, or up to
    /// and including a short frame (the last one).
    fn in_order_end(&self, c: &Connection<E>) -> usize {
        let mut end = 0;
        while end < Self::SLOTS && c.stored >> end & 1 != 0 {
            end += 1;
            if self.len_at(c, end - 1) < MAX_PAYLOAD {
                break;
            }
        }
        end
    }

    /// The length of the frame stored at `k`.
    fn len_at(&self, c: &Connection<E>, k: usize) -> usize {
        let slot = (usize::from(c.head) + k) % Self::SLOTS;
        usize::from(self.slot_len[slot]).min(MAX_PAYLOAD)
    }

    /// A frame already taken: at window 1 the previous frame (SPEC §4); with a window any
    /// frame below `A` (SPEC §10.1).
    fn is_duplicate(&self, c: &Connection<E>, seq: SeqNum) -> bool {
        if Self::window_of(c) >= 2 {
            let below = c.rcv_nxt - seq;
            below > 0 && below <= MAX_SEQ / 2
        } else {
            Some(seq) == c.prev_seq
        }
    }

    /// In `Closing`: a repeated FIN, or the final ACK. Any frame of the connection keeps
    /// the linger going (SPEC §5: it ends after an idle timeout without one).
    fn on_closing(&mut self, now: Instant, mut c: Connection<E>, frame: Frame<'_>) -> Handled<ReceiverEvent> {
        let repr = frame.repr;
        c.last_heard = now;
        self.state = State::Closing(c);
        if repr.flags.contains(Flags::FIN) && repr.seq == fin_seq(&c) {
            // The same answer, verdict included.
            self.queue_fin_ack(&c, true);
            return Handled::trace(Trace::recv(repr, true));
        }
        let is_final_ack = match self.config.profile {
            // Exactly ACK, seq END+1, no payload: a delayed data frame also carries ACK and
            // must not close the connection (SPEC §5).
            Profile::Native => repr.flags == Flags::ACK && repr.seq == c.rcv_nxt && frame.payload.is_empty(),
            // The original sender's final frames are ACK|FIN (SPEC §7).
            Profile::Reference => repr.flags.contains(Flags::ACK),
        };
        if is_final_ack {
            self.state = closed(&c);
            // Closed: a repeated FIN|ACK still waiting to go is not needed any more.
            self.reply.clear();
            Handled::with_event(Trace::recv(repr, false), ReceiverEvent::Closed)
        } else {
            Handled::trace(Trace::drop(repr, DropReason::Unexpected))
        }
    }

    /// In `Committing`: the FIN is answered only once the output is committed; a repeated
    /// FIN is taken in (and keeps the connection alive) but not answered yet.
    fn on_committing(
        &mut self,
        now: Instant,
        mut c: Connection<E>,
        frame: Frame<'_>,
    ) -> Handled<ReceiverEvent> {
        let repr = frame.repr;
        c.last_heard = now;
        self.state = State::Committing(c);
        if repr.flags.contains(Flags::FIN) && repr.seq == fin_seq(&c) {
            Handled::trace(Trace::recv(repr, true))
        } else {
            Handled::trace(Trace::drop(repr, DropReason::Unexpected))
        }
    }

    /// In `Refused`: every frame of the connection gets the refusing ACK again, for an idle
    /// timeout after the refusal (SPEC §10.4).
    fn on_refused(
        &mut self,
        now: Instant,
        c: Connection<E>,
        reason: RefuseReason,
        repr: Repr,
    ) -> Handled<ReceiverEvent> {
        if now >= c.deadline(self.config.idle_timeout) {
            return Handled::trace(Trace::drop(repr, DropReason::NotAccepting));
        }
        self.reply.refusal(c.peer, c.ack(), reason, true);
        Handled::trace(Trace::recv(repr, true))
    }

    fn accept_deadline(&self) -> Option<Instant> {
        self.config.accept_timeout.map(|t| self.started_at + t)
    }
}

/// The FIN's own sequence number, once it is in: `rcv_nxt - 1`.
fn fin_seq<E>(c: &Connection<E>) -> SeqNum {
    c.rcv_nxt + (MAX_SEQ - 1)
}

/// Where a closing connection ends: closed, unless the data was rejected or not committed.
fn closed<E>(c: &Connection<E>) -> State<E> {
    match c.verdict {
        Verdict::Verified | Verdict::Unverified => State::Closed,
        Verdict::Mismatch | Verdict::Refused(_) => State::Failed,
    }
}

/// Whether `repr`, from the endpoint of `entry`, is its handshake's third frame: recognised by
/// endpoint, `conn` and `seq = ISN+1`, whatever its `ack` (SPEC §4): the original client sends
/// `ack = 0` there (SPEC §7). Data frames may come with or without the ACK flag; only SYN and
/// FIN make it something else. The reason to drop it otherwise.
pub(crate) fn is_third_frame<E, X>(entry: &HalfOpen<E, X>, repr: Repr) -> Result<(), DropReason> {
    if repr.conn != entry.conn {
        return Err(DropReason::WrongConn);
    }
    if repr.flags.contains(Flags::SYN) || repr.flags.contains(Flags::FIN) || repr.seq != entry.isn + 1 {
        return Err(DropReason::Unexpected);
    }
    Ok(())
}

/// `payload` without its trailing zero bytes.
fn strip_trailing_zeros(mut payload: &[u8]) -> &[u8] {
    // Slice patterns: no index, so no panic path.
    while let [rest @ .., 0] = payload {
        payload = rest;
    }
    payload
}

impl<E: Copy + PartialEq, const W: usize, const H: usize> Engine for Receiver<E, W, H> {
    type Endpoint = E;
    type Event = ReceiverEvent;

    fn handle_datagram(&mut self, now: Instant, from: E, datagram: &[u8]) -> Handled<ReceiverEvent> {
        let frame = match frame::decode(datagram) {
            Ok(frame) => frame,
            Err(error) => return Handled::trace(Trace::malformed(error)),
        };
        if frame.repr.flags.contains(Flags::SYN) {
            return self.on_syn(now, from, frame);
        }
        match self.state {
            State::Listening => self.on_handshake_ack(now, from, frame),
            State::Established(c) | State::Committing(c) | State::Closing(c) | State::Refused(c, _)
                if c.peer != from =>
            {
                Handled::trace(Trace::drop(frame.repr, DropReason::WrongPeer))
            }
            State::Established(c) | State::Committing(c) | State::Closing(c) | State::Refused(c, _)
                if c.conn != frame.repr.conn =>
            {
                Handled::trace(Trace::drop(frame.repr, DropReason::WrongConn))
            }
            State::Established(c) => self.on_established(now, c, frame),
            State::Committing(c) => self.on_committing(now, c, frame),
            State::Closing(c) => self.on_closing(now, c, frame),
            State::Refused(c, reason) => self.on_refused(now, c, reason, frame.repr),
            State::Closed | State::Failed => {
                Handled::trace(Trace::drop(frame.repr, DropReason::NotAccepting))
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<ReceiverEvent> {
        match self.state {
            State::Listening => {
                self.half_open.expire(now, self.config.idle_timeout);
                match self.accept_deadline() {
                    Some(deadline) if now >= deadline => Some(self.fail(Error::AcceptTimeout)),
                    _ => None,
                }
            }
            // An application that never commits fails rather than hangs.
            State::Established(c) | State::Committing(c)
                if now >= c.last_heard + self.config.idle_timeout =>
            {
                Some(self.fail(Error::IdleTimeout))
            }
            // The data is complete; a silent peer just ends the linger.
            State::Closing(c) if now >= c.last_heard + self.config.idle_timeout => {
                self.state = closed(&c);
                self.reply.clear();
                Some(ReceiverEvent::Closed)
            }
            // The application was told at the refusal: the refused connection just ends.
            State::Refused(c, _) if now >= c.deadline(self.config.idle_timeout) => {
                self.state = State::Failed;
                self.reply.clear();
                None
            }
            _ => None,
        }
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit<'_, E>> {
        // The SYN|ACKs owed to half-open entries first (only while listening: the reply
        // buffer holds nothing else then), one per call.
        if let Some((entry, dup)) = self.half_open.take_owed() {
            Self::queue_half_open_syn_ack(&mut self.reply, &entry, 0, dup);
        }
        self.reply.take()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // A reply waiting for `poll_transmit` (the application took data outside the driver's
        // call, which acknowledges it) is due at once.
        if self.reply.is_pending() || self.half_open.owes() {
            return Some(Instant::ZERO);
        }
        let idle = self.config.idle_timeout;
        match &self.state {
            State::Listening => {
                let expiry = self.half_open.next_expiry(idle);
                match (expiry, self.accept_deadline()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            State::Established(c) | State::Committing(c) | State::Closing(c) | State::Refused(c, _) => {
                Some(c.deadline(idle))
            }
            State::Closed | State::Failed => None,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed)
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::blocking::SinkReceiver;
    use crate::config::Commit;
    use crate::testing::{BrokenSink, VecSink, datagram, next_frame, t};
    use crate::time::Duration;
    use crate::trace::Direction;

    const PEER: u8 = 1;
    const OTHER: u8 = 2;
    const ISN: u32 = 1000;
    const ACK: Flags = Flags::ACK;

    /// A stop-and-wait receiver with two half-open entries, writing to a vector.
    type Rx = SinkReceiver<VecSink, u8, 1, 2>;
    /// One that grants windows of up to 8 frames.
    type Rx8 = SinkReceiver<VecSink, u8, 8, 2>;

    fn receiver(profile: Profile) -> Rx {
        let config = ReceiverConfig { profile, ..ReceiverConfig::new(99) };
        SinkReceiver::new(Receiver::new(config, t(0)), VecSink::default())
    }

    fn rx8(config: ReceiverConfig) -> Rx8 {
        SinkReceiver::new(Receiver::new(config, t(0)), VecSink::default())
    }

    /// Handshake with PEER: returns (conn, risn).
    fn connect<K: embedded_io::Write>(rx: &mut SinkReceiver<K, u8, 1, 2>, payload: &[u8]) -> (u16, u32) {
        rx.handle_datagram(t(1), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[]));
        let (syn_ack, _, _) = next_frame(rx, t(1)).unwrap();
        let (conn, risn) = (syn_ack.conn, syn_ack.seq.get());
        let h = rx.handle_datagram(t(2), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, payload));
        assert!(matches!(h.events[0], ReceiverEvent::Connected { .. }), "{:?}", h.events);
        (conn, risn)
    }

    #[test]
    fn a_syn_gets_a_syn_ack_and_a_repeat_gets_the_same_one() {
        let mut rx = receiver(Profile::Native);
        let h = rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[]));
        assert_eq!(h.trace.direction, Direction::Recv);
        let (first, payload, dup) = next_frame(&mut rx, t(0)).unwrap();
        assert_eq!(first.flags, Flags::SYN | ACK);
        assert_eq!(first.ack.get(), ISN + 1);
        assert_ne!(first.conn, 0);
        assert!(payload.is_empty() && !dup);
        let h = rx.handle_datagram(t(1), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[]));
        assert!(h.trace.dup);
        assert_eq!(next_frame(&mut rx, t(1)).unwrap(), (first, Vec::new(), true));
    }

    #[test]
    fn the_third_frame_connects_and_delivers_its_data() {
        let mut rx = receiver(Profile::Native);
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &1234u64.to_le_bytes()));
        // That SYN payload is not an option list (type 0xd2 with length 4 runs short): ignored.
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        let h = rx.handle_datagram(
            t(1),
            PEER,
            &datagram(ISN + 1, syn_ack.seq.get() + 1, syn_ack.conn, ACK, b"abc"),
        );
        assert_eq!(
            &h.events[..],
            &[
                ReceiverEvent::Connected { conn: syn_ack.conn, transfer_size: None },
                ReceiverEvent::Delivered { bytes: 3 }
            ]
        );
        let (ack, _, _) = next_frame(&mut rx, t(1)).unwrap();
        assert_eq!((ack.flags, ack.seq.get(), ack.ack.get()), (ACK, syn_ack.seq.get() + 1, ISN + 4));
        assert_eq!(rx.sink().0, b"abc");
        assert_eq!(rx.peer(), Some(PEER));
    }

    #[test]
    fn the_transfer_size_option_is_reported() {
        let mut rx = receiver(Profile::Native);
        let mut option = [0u8; 10];
        crate::options::write_transfer_size(&mut option, 70_000).unwrap();
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &option));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        let h =
            rx.handle_datagram(t(1), PEER, &datagram(ISN + 1, syn_ack.seq.get() + 1, syn_ack.conn, ACK, &[]));
        assert_eq!(h.events[0], ReceiverEvent::Connected { conn: syn_ack.conn, transfer_size: Some(70_000) });
    }

    #[test]
    fn a_third_frame_that_does_not_match_the_handshake_is_dropped() {
        let mut rx = receiver(Profile::Native);
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[]));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        let (conn, risn) = (syn_ack.conn, syn_ack.seq.get());
        for (from, d, reason) in [
            (PEER, datagram(ISN + 1, risn + 1, conn.wrapping_add(1), ACK, b"x"), DropReason::WrongConn),
            (PEER, datagram(ISN + 2, risn + 1, conn, ACK, b"x"), DropReason::Unexpected),
            (PEER, datagram(ISN, risn + 1, conn, ACK, b"x"), DropReason::Unexpected),
            // A FIN at ISN+1 is not the third frame (an empty transfer still sends one).
            (PEER, datagram(ISN + 1, risn + 1, conn, Flags::FIN, &[]), DropReason::Unexpected),
            (OTHER, datagram(ISN + 1, risn + 1, conn, ACK, b"x"), DropReason::NotAccepting),
        ] {
            let h = rx.handle_datagram(t(1), from, &d);
            assert_eq!(h.trace.reason, Some(reason));
            assert!(h.events.is_empty() && next_frame(&mut rx, t(1)).is_none());
        }
        assert!(rx.sink().0.is_empty());
    }

    #[test]
    fn a_full_half_open_table_loses_an_entry_chosen_at_random() {
        /// Endpoints 10, 11 and 12 send SYNs to a receiver with two half-open entries (seeded
        /// `seed`); then `from` sends its third frame. Whether it still had its entry.
        fn kept(seed: u64, from: u8) -> bool {
            let config = ReceiverConfig { random_seed: seed, ..ReceiverConfig::new(0) };
            let mut rx: Rx = SinkReceiver::new(Receiver::new(config, t(0)), VecSink::default());
            let mut answer = None;
            for (i, peer) in [10u8, 11, 12].into_iter().enumerate() {
                rx.handle_datagram(t(i as u64), peer, &datagram(ISN, 0, 0, Flags::SYN, &[]));
                let syn_ack = next_frame(&mut rx, t(i as u64)).unwrap().0;
                if peer == from {
                    answer = Some(syn_ack);
                }
            }
            let a = answer.unwrap();
            let h = rx.handle_datagram(t(5), from, &datagram(ISN + 1, a.seq.get() + 1, a.conn, ACK, &[]));
            h.events.first().is_some_and(|e| matches!(e, ReceiverEvent::Connected { .. }))
        }
        // The newest always keeps its entry, exactly one of the others loses its own, and over
        // many seeds each of them does some of the time (not always the oldest, SPEC §10.4).
        let mut evicted = [0u32; 2];
        for seed in 0..64 {
            assert!(kept(seed, 12), "seed {seed}");
            match (kept(seed, 10), kept(seed, 11)) {
                (false, true) => evicted[0] += 1,
                (true, false) => evicted[1] += 1,
                other => panic!("seed {seed}: {other:?}"),
            }
        }
        assert!(evicted[0] > 0 && evicted[1] > 0, "never random: {evicted:?}");
    }

    #[test]
    fn the_newest_half_open_peer_keeps_its_entry_and_one_transfer_is_taken() {
        let mut rx = receiver(Profile::Native); // two half-open entries
        let mut answers = Vec::new();
        for (i, from) in [10u8, 11, 12].into_iter().enumerate() {
            rx.handle_datagram(t(i as u64), from, &datagram(ISN, 0, 0, Flags::SYN, &[]));
            answers.push(next_frame(&mut rx, t(i as u64)).unwrap().0);
        }
        let third = |a: &Repr| datagram(ISN + 1, a.seq.get() + 1, a.conn, ACK, &[]);
        // Endpoint 12, the newest, completes the handshake and gets the transfer.
        let h = rx.handle_datagram(t(5), 12, &third(&answers[2]));
        assert!(matches!(h.events[0], ReceiverEvent::Connected { .. }));
        // Now 10 and 11 are too late: one transfer per receiver.
        for (i, from) in [10u8, 11].into_iter().enumerate() {
            let h = rx.handle_datagram(t(6), from, &third(&answers[i]));
            assert_eq!(h.trace.reason, Some(DropReason::WrongPeer));
        }
        let h = rx.handle_datagram(t(6), 11, &datagram(ISN, 0, 0, Flags::SYN, &[]));
        assert_eq!(h.trace.reason, Some(DropReason::NotAccepting));
    }

    #[test]
    fn half_open_entries_expire_after_the_idle_timeout() {
        let mut rx = receiver(Profile::Native);
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[]));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        assert_eq!(rx.poll_timeout(), Some(t(10_000)));
        rx.handle_timeout(t(10_000));
        assert_eq!(rx.poll_timeout(), None);
        let h = rx.handle_datagram(
            t(10_001),
            PEER,
            &datagram(ISN + 1, syn_ack.seq.get() + 1, syn_ack.conn, ACK, &[]),
        );
        assert_eq!(h.trace.reason, Some(DropReason::NotAccepting));
    }

    #[test]
    fn data_is_written_in_order_duplicates_are_reacked_and_others_dropped() {
        let mut rx = receiver(Profile::Native);
        let (conn, risn) = connect(&mut rx, b"aa");
        next_frame(&mut rx, t(2)).unwrap();
        let next = ISN + 3;
        // Out of order: dropped, no reply.
        let h = rx.handle_datagram(t(3), PEER, &datagram(next + 5, risn + 1, conn, ACK, b"zz"));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        assert!(next_frame(&mut rx, t(3)).is_none());
        // In order, without the ACK flag (the reference sender's way): delivered.
        rx.handle_datagram(t(4), PEER, &datagram(next, 0, conn, Flags::NONE, b"bb"));
        let (ack, _, dup) = next_frame(&mut rx, t(4)).unwrap();
        assert_eq!((ack.ack.get(), dup), (next + 2, false));
        // Its retransmission: re-acknowledged, not written again.
        let h = rx.handle_datagram(t(5), PEER, &datagram(next, 0, conn, ACK, b"bb"));
        assert!(h.trace.dup && h.events.is_empty());
        let (ack, _, dup) = next_frame(&mut rx, t(5)).unwrap();
        assert_eq!((ack.ack.get(), dup), (next + 2, true));
        // Another endpoint, or another connection id, cannot inject anything.
        let h = rx.handle_datagram(t(6), OTHER, &datagram(next + 2, risn + 1, conn, ACK, b"evil"));
        assert_eq!(h.trace.reason, Some(DropReason::WrongPeer));
        let h = rx.handle_datagram(t(6), PEER, &datagram(next + 2, risn + 1, conn ^ 1, ACK, b"evil"));
        assert_eq!(h.trace.reason, Some(DropReason::WrongConn));
        assert_eq!(rx.sink().0, b"aabb");
    }

    #[test]
    fn the_fin_finishes_and_a_repeated_fin_gets_the_same_answer() {
        let mut rx = receiver(Profile::Native);
        let (conn, risn) = connect(&mut rx, b"data");
        let end = ISN + 5;
        // A FIN that skips data is dropped.
        let h = rx.handle_datagram(t(3), PEER, &datagram(end + 1, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        next_frame(&mut rx, t(3)).unwrap(); // the data ACK
        let h = rx.handle_datagram(t(4), PEER, &datagram(end, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(&h.events[..], &[ReceiverEvent::Finished]);
        assert!(rx.has_succeeded() && !rx.is_done());
        let (fin_ack, _, _) = next_frame(&mut rx, t(4)).unwrap();
        assert_eq!(
            (fin_ack.flags, fin_ack.seq.get(), fin_ack.ack.get()),
            (Flags::FIN | ACK, risn + 1, end + 1)
        );
        rx.handle_datagram(t(5), PEER, &datagram(end, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(next_frame(&mut rx, t(5)).unwrap(), (fin_ack, Vec::new(), true));
    }

    #[test]
    fn native_close_needs_the_exact_final_ack() {
        let mut rx = receiver(Profile::Native);
        let (conn, risn) = connect(&mut rx, b"data");
        let end = ISN + 5;
        rx.handle_datagram(t(3), PEER, &datagram(end, risn + 1, conn, Flags::FIN, &[]));
        // A delayed data frame carries ACK too; it must not close the receiver.
        let h = rx.handle_datagram(t(4), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, b"data"));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        let h = rx.handle_datagram(t(4), PEER, &datagram(end + 1, risn + 2, conn, ACK | Flags::FIN, &[]));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        assert!(!rx.is_done());
        let h = rx.handle_datagram(t(5), PEER, &datagram(end + 1, risn + 2, conn, ACK, &[]));
        assert_eq!(&h.events[..], &[ReceiverEvent::Closed]);
        assert!(rx.is_done() && rx.has_succeeded());
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn reference_profile_strips_zeros_and_closes_on_any_ack() {
        let mut rx = receiver(Profile::Reference);
        let mut padded = [0u8; 512];
        padded[..3].copy_from_slice(b"abc");
        let (conn, risn) = connect(&mut rx, &padded);
        let (ack, _, _) = next_frame(&mut rx, t(2)).unwrap();
        assert_eq!(ack.ack.get(), ISN + 4, "acknowledges seq + stripped length");
        let end = ISN + 4;
        rx.handle_datagram(t(3), PEER, &datagram(end, risn + 1, conn, Flags::FIN, &[0; 512]));
        next_frame(&mut rx, t(3)).unwrap();
        // The original sender's final frames are ACK|FIN, padded.
        let h =
            rx.handle_datagram(t(4), PEER, &datagram(end + 1, risn + 2, conn, ACK | Flags::FIN, &[0; 512]));
        assert_eq!(&h.events[..], &[ReceiverEvent::Closed]);
        assert_eq!(rx.sink().0, b"abc");
    }

    #[test]
    fn a_failing_sink_fails_the_transfer_without_acknowledging() {
        let config = ReceiverConfig::new(5);
        let mut rx: SinkReceiver<BrokenSink, u8, 1, 2> =
            SinkReceiver::new(Receiver::new(config, t(0)), BrokenSink);
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[]));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        let h = rx.handle_datagram(
            t(1),
            PEER,
            &datagram(ISN + 1, syn_ack.seq.get() + 1, syn_ack.conn, ACK, b"x"),
        );
        assert_eq!(
            h.events.last(),
            Some(&ReceiverEvent::Failed(Error::Sink(embedded_io::ErrorKind::OutOfMemory)))
        );
        assert!(next_frame(&mut rx, t(1)).is_none(), "nothing unwritten is acknowledged");
        assert!(rx.is_done() && !rx.has_succeeded());
    }

    #[test]
    fn a_silent_peer_fails_the_transfer_but_only_ends_the_linger() {
        let mut rx = receiver(Profile::Native);
        let (conn, risn) = connect(&mut rx, b"x");
        // The third frame's ACK waits to be sent: due at once.
        assert_eq!(rx.poll_timeout(), Some(Instant::ZERO));
        next_frame(&mut rx, t(2)).unwrap();
        assert_eq!(rx.poll_timeout(), Some(t(2) + Duration::from_secs(10)));
        assert_eq!(rx.handle_timeout(t(10_001)), None);
        assert_eq!(rx.handle_timeout(t(10_002)), Some(ReceiverEvent::Failed(Error::IdleTimeout)));

        let mut rx = receiver(Profile::Native);
        let (conn2, risn2) = connect(&mut rx, b"x");
        let _ = (conn, risn);
        rx.handle_datagram(t(3), PEER, &datagram(ISN + 2, risn2 + 1, conn2, Flags::FIN, &[]));
        assert_eq!(rx.handle_timeout(t(10_003)), Some(ReceiverEvent::Closed));
        assert!(rx.has_succeeded());
    }

    #[test]
    fn the_accept_timeout_bounds_the_wait_for_a_sender() {
        let config =
            ReceiverConfig { accept_timeout: Some(Duration::from_secs(3)), ..ReceiverConfig::new(1) };
        let mut rx: SinkReceiver<VecSink, u8> =
            SinkReceiver::new(Receiver::new(config, t(0)), VecSink::default());
        assert_eq!(rx.poll_timeout(), Some(t(3000)));
        assert_eq!(rx.handle_timeout(t(3000)), Some(ReceiverEvent::Failed(Error::AcceptTimeout)));
        assert!(rx.is_done());
    }

    /// The original client's frame, as it packs it (SPEC §7): `<IIHH`, zero-padded to 524.
    fn original_frame(seq: u32, ack: u32, conn: u16, flags: u16, text: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(&ack.to_le_bytes());
        bytes.extend_from_slice(&conn.to_le_bytes());
        bytes.extend_from_slice(&flags.to_le_bytes());
        bytes.extend_from_slice(text);
        bytes.resize(frame::MAX_FRAME, 0);
        bytes
    }

    #[test]
    fn the_original_clients_exact_bytes_are_taken_in_both_profiles() {
        for profile in [Profile::Reference, Profile::Native] {
            let mut rx = receiver(profile);
            // SYN seq 42 ack 0 conn 0, padded: the SPEC §9 vector.
            let syn = original_frame(42, 0, 0, 2, &[]);
            assert_eq!(&syn[..12], &[0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
            rx.handle_datagram(t(0), PEER, &syn);
            let (syn_ack, payload, _) = next_frame(&mut rx, t(0)).unwrap();
            assert!(payload.is_empty(), "a 12-byte SYN|ACK: {profile:?}");
            let conn = syn_ack.conn;
            // The third frame: seq 43, ACK, but ack 0 (not RISN+1).
            let h = rx.handle_datagram(t(1), PEER, &original_frame(43, 0, conn, 4, b"hello "));
            assert!(matches!(h.events[0], ReceiverEvent::Connected { .. }), "{profile:?}: {h:?}");
            let (ack, _, _) = next_frame(&mut rx, t(1)).unwrap();
            // Later data: flags 0, ack 0.
            let second = 43 + if profile == Profile::Reference { 6 } else { 512 };
            assert_eq!(ack.ack.get(), second, "{profile:?}");
            let h = rx.handle_datagram(t(2), PEER, &original_frame(second, 0, conn, 0, b"world"));
            assert_eq!(h.trace.reason, None, "{profile:?}");
            if profile == Profile::Reference {
                assert_eq!(rx.sink().0, b"hello world");
            }
        }
    }

    #[test]
    fn any_frame_of_the_connection_keeps_the_linger_going() {
        let mut rx = receiver(Profile::Native);
        let (conn, risn) = connect(&mut rx, b"data");
        let end = ISN + 5;
        rx.handle_datagram(t(3), PEER, &datagram(end, risn + 1, conn, Flags::FIN, &[]));
        next_frame(&mut rx, t(3)).unwrap();
        // A delayed data frame at 9 s: not the final ACK, but the peer is alive (SPEC §5).
        let h = rx.handle_datagram(t(9_000), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, b"data"));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        assert_eq!(rx.poll_timeout(), Some(t(19_000)));
        assert_eq!(rx.handle_timeout(t(10_003)), None);
        // Another endpoint or connection id does not.
        rx.handle_datagram(t(12_000), OTHER, &datagram(end, risn + 1, conn, Flags::FIN, &[]));
        rx.handle_datagram(t(12_000), PEER, &datagram(end, risn + 1, conn ^ 1, Flags::FIN, &[]));
        assert_eq!(rx.poll_timeout(), Some(t(19_000)));
        assert_eq!(rx.handle_timeout(t(19_000)), Some(ReceiverEvent::Closed));
    }

    #[cfg(feature = "crc32c")]
    #[test]
    fn the_reference_profile_grants_no_digest() {
        for (profile, grant) in [(Profile::Native, &[3u8, 1, 1][..]), (Profile::Reference, &[][..])] {
            let mut rx = receiver(profile);
            rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[3, 1, 1]));
            assert_eq!(next_frame(&mut rx, t(0)).unwrap().1, grant, "{profile:?}");
        }
    }

    /// A receiver connected by PEER with a SYN that announces `size`.
    fn connect_announcing(size: u64) -> (Rx, u16, u32) {
        let mut rx = receiver(Profile::Native);
        let mut option = [0u8; 10];
        crate::options::write_transfer_size(&mut option, size).unwrap();
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &option));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        (rx, syn_ack.conn, syn_ack.seq.get())
    }

    #[test]
    fn the_announced_transfer_size_binds_the_data() {
        // Exactly the size: finished.
        let (mut rx, conn, risn) = connect_announcing(3);
        rx.handle_datagram(t(1), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, b"abc"));
        let h = rx.handle_datagram(t(2), PEER, &datagram(ISN + 4, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(&h.events[..], &[ReceiverEvent::Finished]);
        // Data past it: failed, not written, not acknowledged.
        let (mut rx, conn, risn) = connect_announcing(3);
        let h = rx.handle_datagram(t(1), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, b"abcd"));
        assert_eq!(h.events.last(), Some(&ReceiverEvent::Failed(Error::LengthMismatch)));
        assert!(rx.sink().0.is_empty() && next_frame(&mut rx, t(1)).is_none() && rx.is_done());
        // A FIN short of it: failed, not answered.
        let (mut rx, conn, risn) = connect_announcing(4);
        rx.handle_datagram(t(1), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, b"abc"));
        next_frame(&mut rx, t(1)).unwrap();
        let h = rx.handle_datagram(t(2), PEER, &datagram(ISN + 4, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(&h.events[..], &[ReceiverEvent::Failed(Error::LengthMismatch)]);
        assert!(next_frame(&mut rx, t(2)).is_none() && !rx.has_succeeded());
    }

    #[test]
    fn a_held_frame_past_the_announced_size_fails_the_transfer() {
        let mut rx = rx8(ReceiverConfig::new(9));
        // 1500 bytes: frames at 0, 512 and 1024 (476 bytes); window 8.
        let mut offer = [0u8; 13];
        crate::options::write_transfer_size(&mut offer, 1500).unwrap();
        offer[10..].copy_from_slice(&[2, 1, 8]);
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &offer));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        let (conn, risn) = (syn_ack.conn, syn_ack.seq.get());
        rx.handle_datagram(t(1), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, &[1; 512]));
        next_frame(&mut rx, t(1)).unwrap();
        // The last frame, held above a hole, at its right length: fine.
        rx.handle_datagram(t(2), PEER, &datagram(ISN + 1025, risn + 1, conn, ACK, &[3; 476]));
        assert_eq!(next_frame(&mut rx, t(2)).unwrap().1, [4, 1, 1]);
        // A frame beyond the last one: past the size.
        let h = rx.handle_datagram(t(3), PEER, &datagram(ISN + 1537, risn + 1, conn, ACK, &[4; 512]));
        assert_eq!(&h.events[..], &[ReceiverEvent::Failed(Error::LengthMismatch)]);
        // The sender offered a window, so it understands a refusal (SPEC §10.4): reason 6,
        // at the cumulative ack, repeated to every frame of the connection for an idle timeout.
        let (refusal, payload, dup) = next_frame(&mut rx, t(3)).unwrap();
        assert_eq!(
            (refusal.flags, refusal.seq.get(), refusal.ack.get(), refusal.conn),
            (ACK, risn + 1, ISN + 513, conn)
        );
        assert_eq!((payload, dup), (std::vec![8, 1, 6], false));
        assert!(!rx.is_done() && !rx.has_succeeded());
        let h = rx.handle_datagram(t(4), PEER, &datagram(ISN + 513, risn + 1, conn, ACK, &[2; 512]));
        assert!(h.trace.dup && h.events.is_empty());
        assert_eq!(next_frame(&mut rx, t(4)).unwrap(), (refusal, std::vec![8, 1, 6], true));
        assert_eq!(rx.poll_timeout(), Some(t(10_003)));
        assert_eq!(rx.handle_timeout(t(10_003)), None);
        assert!(rx.is_done());
        rx.handle_datagram(t(10_004), PEER, &datagram(ISN + 513, risn + 1, conn, ACK, &[2; 512]));
        assert!(next_frame(&mut rx, t(10_004)).is_none());
    }

    #[test]
    fn an_abort_after_the_fin_is_answered_ends_the_linger_and_keeps_the_success() {
        let (mut rx, conn, risn) = bare_connected::<1>(&[2, 1, 4], b"abc");
        assert_eq!(rx.read(&mut [0u8; 8]), 3);
        next_frame(&mut rx, t(2));
        let h = rx.handle_datagram(t(3), PEER, &datagram(ISN + 4, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(&h.events[..], &[ReceiverEvent::Finished]);
        rx.committed(t(3));
        assert_eq!(next_frame(&mut rx, t(3)).unwrap().0.flags, Flags::FIN | ACK);
        assert_eq!(rx.abort(t(4), Error::Stopped(RefuseReason::Cancelled)), ReceiverEvent::Closed);
        assert!(rx.is_done() && rx.has_succeeded());
    }

    #[test]
    fn an_abandoning_fin_fails_the_transfer_without_an_answer() {
        // Window 8 offered: the sender understands refusals, and may abandon.
        let (mut rx, conn, risn) = bare_connected::<8>(&[2, 1, 8], &[1; 512]);
        next_frame(&mut rx, t(2));
        // A refuse in a FIN beyond the window, or from another conn: not taken.
        for (seq, c) in [(ISN + 1 + 9 * 512, conn), (ISN + 1, conn.wrapping_add(1))] {
            let h = rx.handle_datagram(t(3), PEER, &datagram(seq, risn + 1, c, Flags::FIN, &[8, 1, 5]));
            assert!(h.events.is_empty() && !rx.is_done());
        }
        // Within the window, even above the data not yet taken.
        let h = rx.handle_datagram(
            t(4),
            PEER,
            &datagram(ISN + 1 + 3 * 512, risn + 1, conn, Flags::FIN, &[8, 1, 5]),
        );
        assert_eq!(&h.events[..], &[ReceiverEvent::Failed(Error::Refused(RefuseReason::Cancelled))]);
        assert!(rx.is_done() && next_frame(&mut rx, t(4)).is_none());
        // A stop-and-wait sender that offered nothing beyond a size cannot abandon this way.
        let (mut rx, conn, risn) = bare_connected::<1>(&[], &[1; 512]);
        let h = rx.handle_datagram(t(4), PEER, &datagram(ISN + 1, risn + 1, conn, Flags::FIN, &[8, 1, 5]));
        assert!(!matches!(h.events.first(), Some(ReceiverEvent::Failed(Error::Refused(_)))));
    }

    #[test]
    fn with_commit_by_the_application_the_fin_is_answered_after_the_commit() {
        for succeed in [true, false] {
            let receiver = Receiver::new(ReceiverConfig::new(99), t(0));
            let mut rx: Rx = SinkReceiver::with_commit(receiver, VecSink::default(), Commit::Application);
            let (conn, risn) = connect(&mut rx, b"data");
            next_frame(&mut rx, t(2)).unwrap();
            let fin = datagram(ISN + 5, risn + 1, conn, Flags::FIN, &[]);
            let h = rx.handle_datagram(t(3), PEER, &fin);
            assert_eq!(&h.events[..], &[ReceiverEvent::Finished]);
            assert!(rx.has_succeeded() && !rx.is_done());
            assert!(next_frame(&mut rx, t(3)).is_none(), "answered before the commit");
            // The sender repeats its FIN meanwhile: taken in, not answered, keeps it alive.
            let h = rx.handle_datagram(t(5_000), PEER, &fin);
            assert!(h.trace.dup && h.events.is_empty());
            assert!(next_frame(&mut rx, t(5_000)).is_none());
            assert_eq!(rx.poll_timeout(), Some(t(15_000)));
            if succeed {
                rx.committed(t(6_000));
                let (fin_ack, _, dup) = next_frame(&mut rx, t(6_000)).unwrap();
                assert_eq!((fin_ack.flags, fin_ack.ack.get(), dup), (Flags::FIN | ACK, ISN + 6, false));
                rx.handle_datagram(t(6_001), PEER, &fin);
                assert_eq!(next_frame(&mut rx, t(6_001)).unwrap().0, fin_ack);
                let h = rx.handle_datagram(t(6_002), PEER, &datagram(ISN + 6, risn + 2, conn, ACK, &[]));
                assert_eq!(&h.events[..], &[ReceiverEvent::Closed]);
                assert!(rx.is_done() && rx.has_succeeded());
            } else {
                rx.commit_failed(t(5));
                assert!(rx.is_done() && !rx.has_succeeded());
                rx.handle_datagram(t(6_001), PEER, &fin);
                assert!(next_frame(&mut rx, t(6_001)).is_none(), "a FIN answered after a failed commit");
            }
        }
    }

    /// A bare receiver (no sink) connected by PEER, the third frame carrying `payload`.
    fn bare_connected<const W: usize>(offer: &[u8], payload: &[u8]) -> (Receiver<u8, W, 2>, u16, u32) {
        let mut rx: Receiver<u8, W, 2> = Receiver::new(ReceiverConfig::new(9), t(0));
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, offer));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        let (conn, risn) = (syn_ack.conn, syn_ack.seq.get());
        let h = rx.handle_datagram(t(1), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, payload));
        assert!(matches!(h.events[0], ReceiverEvent::Connected { .. }));
        (rx, conn, risn)
    }

    #[test]
    fn data_is_acknowledged_only_once_the_application_takes_it() {
        let (mut rx, conn, risn) = bare_connected::<1>(&[], &[5; 512]);
        // In its slot, not acknowledged: nothing to send.
        assert_eq!(rx.readable(), &[5; 512][..]);
        assert!(next_frame(&mut rx, t(1)).is_none(), "acknowledged before it was taken");
        // Its retransmission is a repeat: answered with the old ack point (no progress).
        let h = rx.handle_datagram(t(2), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, &[5; 512]));
        assert!(h.trace.dup);
        assert_eq!(next_frame(&mut rx, t(2)).unwrap().0.ack.get(), ISN + 1);
        // Taken in part: still not acknowledged; the rest is what remains readable.
        rx.consume(100);
        assert_eq!(rx.readable().len(), 412);
        assert!(next_frame(&mut rx, t(3)).is_none());
        // Taken whole: acknowledged.
        let mut buf = [0u8; 1000];
        assert_eq!(rx.read(&mut buf), 412);
        assert!(rx.readable().is_empty());
        // Taken between the driver's calls: the ACK is due at once.
        assert_eq!(rx.poll_timeout(), Some(Instant::ZERO));
        let (ack, _, dup) = next_frame(&mut rx, t(4)).unwrap();
        assert_eq!((ack.ack.get(), dup), (ISN + 513, false));
        // The next frame waits in the free slot in turn.
        rx.handle_datagram(t(5), PEER, &datagram(ISN + 513, risn + 1, conn, ACK, b"end"));
        assert!(next_frame(&mut rx, t(5)).is_none());
        assert_eq!(rx.read(&mut buf), 3);
        assert_eq!(next_frame(&mut rx, t(6)).unwrap().0.ack.get(), ISN + 516);
    }

    #[test]
    fn a_full_window_waits_for_the_application() {
        // Window 4: four slots. The third frame and three more arrive; nothing is taken.
        let (mut rx, conn, risn) = bare_connected::<4>(&[2, 1, 4], &[0; 512]);
        let a = ISN + 1;
        rx.consume(512);
        assert_eq!(next_frame(&mut rx, t(1)).unwrap().0.ack.get(), a + 512);
        for k in 1..=4u32 {
            rx.handle_datagram(t(2), PEER, &datagram(a + k * 512, risn + 1, conn, ACK, &[k as u8; 512]));
        }
        // In order, readable, unacknowledged; a fifth frame is beyond the window: dropped.
        assert!(next_frame(&mut rx, t(2)).is_none());
        let h = rx.handle_datagram(t(3), PEER, &datagram(a + 5 * 512, risn + 1, conn, ACK, &[5; 512]));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        // Taking two frames frees two slots and acknowledges them.
        let mut buf = [0u8; 1024];
        assert_eq!(rx.read(&mut buf), 1024);
        assert_eq!(&buf[..], &[[1u8; 512], [2; 512]].concat()[..]);
        assert_eq!(next_frame(&mut rx, t(4)).unwrap().0.ack.get(), a + 3 * 512);
    }

    #[test]
    fn strips_only_trailing_zeros() {
        assert_eq!(strip_trailing_zeros(b"a\0b\0\0"), b"a\0b");
        assert_eq!(strip_trailing_zeros(&[0; 8]), b"");
        assert_eq!(strip_trailing_zeros(b""), b"");
    }

    /// A receiver with 8 payload slots (windows up to 8), connected by PEER with a SYN that
    /// offers `window`; the third frame carries 512 bytes. Returns it, conn, risn, and `A`.
    fn windowed(window: u8) -> (Rx8, u16, u32, u32) {
        let mut rx = rx8(ReceiverConfig::new(9));
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[2, 1, window]));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        let (conn, risn) = (syn_ack.conn, syn_ack.seq.get());
        rx.handle_datagram(t(1), PEER, &datagram(ISN + 1, risn + 1, conn, ACK, &[b'0'; 512]));
        next_frame(&mut rx, t(1)).unwrap();
        (rx, conn, risn, ISN + 513)
    }

    #[test]
    fn the_window_grant_is_the_smaller_of_offer_and_reorder_buffer() {
        for (offer, grant) in [(32u8, Some(8u8)), (5, Some(5)), (2, Some(2)), (1, None)] {
            let mut rx = rx8(ReceiverConfig::new(9));
            rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[2, 1, offer]));
            let (_, payload, _) = next_frame(&mut rx, t(0)).unwrap();
            assert_eq!(payload, grant.map_or(Vec::new(), |g| std::vec![2, 1, g]), "offer {offer}");
            // A repeated SYN gets the same SYN|ACK bytes, whatever it offers now.
            rx.handle_datagram(t(1), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[2, 1, 3]));
            assert_eq!(next_frame(&mut rx, t(1)).unwrap().1, payload);
        }
        // Capped by the configuration; none with a single payload slot.
        let config = ReceiverConfig { max_window: 4, ..ReceiverConfig::new(9) };
        let mut rx = rx8(config);
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[2, 1, 32]));
        assert_eq!(next_frame(&mut rx, t(0)).unwrap().1, [2, 1, 4]);
        let mut rx = receiver(Profile::Native);
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[2, 1, 32]));
        assert!(next_frame(&mut rx, t(0)).unwrap().1.is_empty(), "12 bytes: nothing granted");
    }

    #[cfg(feature = "crc32c")]
    #[test]
    fn spec_vector_syn_ack_granting_window_8_and_crc32c() {
        let mut rx = rx8(ReceiverConfig::new(9));
        let offer = [1, 8, 0xe8, 3, 0, 0, 0, 0, 0, 0, 2, 1, 0x20, 3, 1, 1];
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &offer));
        assert_eq!(next_frame(&mut rx, t(0)).unwrap().1, [2, 1, 8, 3, 1, 1]);
    }

    #[test]
    fn frames_above_a_hole_are_held_sacked_and_written_in_order() {
        let (mut rx, conn, risn, a) = windowed(8);
        assert_eq!(rx.window(), 8);
        let frame = |k: u32, byte: u8| datagram(a + k * 512, risn + 1, conn, ACK, &[byte; 512]);
        // k = 2 and 3 arrive first: held, acknowledged with `ack = A` and the SPEC vector sack.
        rx.handle_datagram(t(2), PEER, &frame(2, b'2'));
        let h = rx.handle_datagram(t(2), PEER, &frame(3, b'3'));
        assert!(h.events.is_empty() && !h.trace.dup);
        let (ack, payload, _) = next_frame(&mut rx, t(2)).unwrap();
        assert_eq!((ack.ack.get(), payload.as_slice()), (a, &[4, 1, 6][..]));
        // k = 3 again: held already, re-acknowledged (DUP), not stored twice.
        let h = rx.handle_datagram(t(3), PEER, &frame(3, b'3'));
        assert!(h.trace.dup);
        assert_eq!(next_frame(&mut rx, t(3)).unwrap().1, [4, 1, 6]);
        // k = 0: written; k = 1 is still missing, so 2 and 3 stay held (now k = 1 and 2).
        let h = rx.handle_datagram(t(4), PEER, &frame(0, b'a'));
        assert_eq!(&h.events[..], &[ReceiverEvent::Delivered { bytes: 512 }]);
        let (ack, payload, _) = next_frame(&mut rx, t(4)).unwrap();
        assert_eq!((ack.ack.get(), payload.as_slice()), (a + 512, &[4, 1, 3][..]));
        // The hole is filled: it and both held frames are written, in order.
        let h = rx.handle_datagram(t(5), PEER, &frame(1, b'b'));
        assert_eq!(&h.events[..], &[ReceiverEvent::Delivered { bytes: 3 * 512 }]);
        let (ack, payload, _) = next_frame(&mut rx, t(5)).unwrap();
        assert_eq!((ack.ack.get(), payload.len()), (a + 4 * 512, 0));
        let expected: Vec<u8> = [b'0', b'a', b'b', b'2', b'3'].iter().flat_map(|&b| [b; 512]).collect();
        assert_eq!(rx.sink().0, expected);
        // Below A: a duplicate, re-acknowledged; beyond the window: dropped without an ACK.
        let h = rx.handle_datagram(t(6), PEER, &frame(2, b'2'));
        assert!(h.trace.dup);
        assert_eq!(next_frame(&mut rx, t(6)).unwrap().0.ack.get(), a + 4 * 512);
        let h = rx.handle_datagram(t(7), PEER, &frame(4 + 8, b'x'));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        let h = rx.handle_datagram(t(7), PEER, &datagram(a + 4 * 512 + 100, risn + 1, conn, ACK, b"x"));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        assert!(next_frame(&mut rx, t(7)).is_none());
    }

    #[test]
    fn every_frame_in_the_window_is_answered_and_the_data_ends_at_a_short_one() {
        // Found by the receiver fuzzer: a short frame in the window with frames held above it
        // was dropped without an answer (SPEC §10.1 answers every frame in the window).
        let (mut rx, conn, risn, a) = windowed(8);
        let frame = |k: u32, len: usize| datagram(a + k * 512, risn + 1, conn, ACK, &std::vec![k as u8; len]);
        rx.handle_datagram(t(2), PEER, &frame(3, 512));
        assert_eq!(next_frame(&mut rx, t(2)).unwrap().1, [4, 1, 4]);
        let h = rx.handle_datagram(t(3), PEER, &frame(2, 100));
        assert_eq!(h.trace.reason, None);
        assert_eq!(next_frame(&mut rx, t(3)).unwrap().1, [4, 1, 6], "held, and answered");
        // The hole fills: the data runs to the short frame and stops there.
        rx.handle_datagram(t(4), PEER, &frame(0, 512));
        let h = rx.handle_datagram(t(4), PEER, &frame(1, 512));
        assert_eq!(&h.events[..], &[ReceiverEvent::Delivered { bytes: 512 + 100 }]);
        let expected: Vec<u8> =
            [std::vec![b'0'; 512], std::vec![0; 512], std::vec![1; 512], std::vec![2; 100]].concat();
        assert_eq!(rx.sink().0, expected);
        assert_eq!(next_frame(&mut rx, t(4)).unwrap().0.ack.get(), a + 2 * 512 + 100);
    }

    #[test]
    fn the_fin_is_taken_only_with_nothing_held() {
        let (mut rx, conn, risn, a) = windowed(4);
        rx.handle_datagram(t(2), PEER, &datagram(a + 512, risn + 1, conn, ACK, &[1; 100]));
        let h = rx.handle_datagram(t(3), PEER, &datagram(a, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        rx.handle_datagram(t(4), PEER, &datagram(a, risn + 1, conn, ACK, &[2; 512]));
        assert_eq!(next_frame(&mut rx, t(4)).unwrap().0.ack.get(), a + 612);
        let h = rx.handle_datagram(t(5), PEER, &datagram(a + 612, risn + 1, conn, Flags::FIN, &[]));
        assert_eq!(&h.events[..], &[ReceiverEvent::Finished]);
    }

    #[test]
    fn a_half_open_peer_sends_only_the_third_frame() {
        let mut rx = rx8(ReceiverConfig::new(9));
        rx.handle_datagram(t(0), PEER, &datagram(ISN, 0, 0, Flags::SYN, &[2, 1, 8]));
        let (syn_ack, _, _) = next_frame(&mut rx, t(0)).unwrap();
        let second = datagram(ISN + 513, syn_ack.seq.get() + 1, syn_ack.conn, ACK, &[0; 512]);
        let h = rx.handle_datagram(t(1), PEER, &second);
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        assert!(next_frame(&mut rx, t(1)).is_none() && rx.peer().is_none());
    }

    /// A windowed sender of `data` offering CRC-32C into a receiver whose application reads
    /// back what it wrote ([`ReceiverConfig::hash_read_back`]): `read_back` gets the receiver
    /// and the bytes just taken (their offset and their bytes) and gives the digest what it
    /// likes. The receiver's events and whether the sender succeeded.
    #[cfg(feature = "crc32c")]
    fn read_back_run(
        data: &[u8],
        mut read_back: impl FnMut(&mut Receiver<u8, 4>, usize, &[u8]),
    ) -> (Vec<ReceiverEvent>, bool) {
        use crate::config::SenderConfig;
        use crate::sender::Sender;
        let config = SenderConfig {
            transfer_size: Some(data.len() as u64),
            digest: Some(DigestAlgorithm::Crc32c),
            ..SenderConfig::new(5)
        };
        let mut sender: Sender<u8, 4> = Sender::new(config, OTHER, t(0));
        let rx_config = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(6) };
        let mut rx: Receiver<u8, 4> = Receiver::new(rx_config, t(0));
        let (mut written, mut taken, mut events) = (0, 0, Vec::new());
        let mut now = t(0);
        for _ in 0..10_000 {
            if sender.is_done() && rx.is_done() {
                break;
            }
            written += sender.write(&data[written..]);
            if written == data.len() {
                sender.finish();
            }
            let mut moved = false;
            while let Some(tx) = sender.poll_transmit(now) {
                let h = rx.handle_datagram(now, PEER, tx.datagram);
                for &e in &h.events {
                    events.push(e);
                    if e == ReceiverEvent::Finished {
                        rx.committed(now);
                    }
                }
                moved = true;
            }
            // Taken in uneven pieces; the digest gets its bytes only after they are taken.
            loop {
                let piece: Vec<u8> = rx.readable().iter().take(300).copied().collect();
                if piece.is_empty() {
                    break;
                }
                rx.consume(piece.len());
                read_back(&mut rx, taken, &piece);
                taken += piece.len();
            }
            while let Some(tx) = rx.poll_transmit(now) {
                sender.handle_datagram(now, OTHER, tx.datagram);
                moved = true;
            }
            if !moved {
                let Some(next) = sender.poll_timeout().into_iter().chain(rx.poll_timeout()).min() else {
                    break;
                };
                now = next;
                sender.handle_timeout(now);
                if let Some(e) = rx.handle_timeout(now) {
                    events.push(e);
                }
            }
        }
        (events, sender.has_succeeded())
    }

    #[cfg(feature = "crc32c")]
    #[test]
    fn with_hash_read_back_the_digest_covers_what_the_application_gives() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 256) as u8).collect();
        // The bytes given back are the bytes taken: verified. (The receiver hashes nothing of
        // its own: taken but not given, they are owed.)
        let (events, ok) = read_back_run(&data, |rx, _, piece| {
            let owed = rx.prefix_left();
            assert_eq!(owed, piece.len() as u64, "taken bytes are owed to the digest");
            rx.hash_prefix(piece);
            assert_eq!(rx.prefix_left(), 0);
        });
        assert!(ok && events.contains(&ReceiverEvent::Finished), "{events:?}");
        // What was written is not what was taken (a bad write): a mismatch, whatever passed
        // through RAM.
        let (events, ok) = read_back_run(&data, |rx, at, piece| {
            let mut flash = piece.to_vec();
            if (at..at + piece.len()).contains(&3000) {
                flash[3000 - at] ^= 0x10;
            }
            rx.hash_prefix(&flash);
        });
        assert!(!ok && events.contains(&ReceiverEvent::Failed(Error::DigestMismatch)), "{events:?}");
        // Bytes beyond those taken are ignored; bytes never given leave the FIN a mismatch.
        let (events, ok) = read_back_run(&data, |rx, at, piece| {
            if at + piece.len() < data.len() {
                rx.hash_prefix(&[piece, &[0xaa; 64][..]].concat());
            }
        });
        assert!(!ok && events.contains(&ReceiverEvent::Failed(Error::DigestMismatch)), "{events:?}");
        // Without it, the receiver hashes what is taken and ignores what is given.
        let rx_config = ReceiverConfig::new(6);
        assert!(!rx_config.hash_read_back);
    }
}
