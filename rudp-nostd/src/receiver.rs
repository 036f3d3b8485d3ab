//! The receiver (SPEC §2-§6): accepts one connection, writes the data to its sink in order,
//! and acknowledges only what it has written.
//!
//! A sans-IO state machine: see [`Engine`] for how a driver runs it. It answers every frame it
//! accepts with one 12-byte reply, kept in its own small buffer until the driver sends it.
//!
//! Half-open connections (a SYN answered, the third frame not yet seen) live in a fixed table
//! of `H` entries; a SYN that finds it full replaces the oldest entry, and entries expire after
//! the idle timeout, so half-open peers never block others. The first peer to complete the
//! handshake gets the transfer; after that, frames from any other endpoint are dropped.

use embedded_io::{Error as _, Write};

use crate::config::{Profile, ReceiverConfig};
use crate::digest::{DigestAlgorithm, Hasher};
use crate::engine::{Engine, Handled, Transmit};
use crate::error::Error;
use crate::frame::{self, Flags, Frame, HEADER_LEN, Packet, Repr};
use crate::options::{self, SynOptions};
use crate::random::SplitMix64;
use crate::seq::SeqNum;
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
    /// This many more bytes were written to the sink (and then acknowledged).
    Delivered {
        /// Bytes written (0 to 512).
        bytes: u16,
    },
    /// The FIN arrived in order and the sink was flushed: all data is in. The receiver
    /// lingers to answer a repeated FIN.
    Finished,
    /// The connection is closed (after [`ReceiverEvent::Finished`]); the receiver is done.
    Closed,
    /// The transfer failed; the receiver is done and the sink holds an incomplete transfer.
    Failed(Error),
}

/// A SYN that was answered, waiting for its third frame.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct HalfOpen<E> {
    peer: E,
    isn: SeqNum,
    risn: SeqNum,
    conn: u16,
    created: Instant,
    transfer_size: Option<u64>,
    /// The digest granted in the SYN|ACK (kept so that a repeated SYN gets the same answer).
    digest: Option<DigestAlgorithm>,
}

impl<E> HalfOpen<E> {
    fn syn_ack(&self) -> (Repr, Option<(u8, u8)>) {
        let repr =
            Repr { seq: self.risn, ack: self.isn + 1, conn: self.conn, flags: Flags::SYN | Flags::ACK };
        (repr, self.digest.map(|d| (options::DIGEST, d.code())))
    }
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
}

/// The one established connection.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Connection<E> {
    peer: E,
    conn: u16,
    isn: SeqNum,
    risn: SeqNum,
    /// The next sequence number expected: everything before it is written to the sink.
    rcv_nxt: SeqNum,
    /// The `seq` of the last frame delivered, whose retransmission is re-acknowledged.
    prev_seq: Option<SeqNum>,
    /// The last valid frame from the peer (for the idle timeout).
    last_heard: Instant,
    /// The digest agreed in the handshake.
    digest: Option<DigestAlgorithm>,
    /// Set when the FIN arrives.
    verdict: Verdict,
}

impl<E> Connection<E> {
    fn syn_ack(&self) -> (Repr, Option<(u8, u8)>) {
        let repr =
            Repr { seq: self.risn, ack: self.isn + 1, conn: self.conn, flags: Flags::SYN | Flags::ACK };
        (repr, self.digest.map(|d| (options::DIGEST, d.code())))
    }

    fn ack(&self) -> Repr {
        Repr { seq: self.risn + 1, ack: self.rcv_nxt, conn: self.conn, flags: Flags::ACK }
    }

    /// The FIN's answer: FIN|ACK, with the `result` when a digest was agreed.
    fn fin_ack(&self) -> (Repr, Option<(u8, u8)>) {
        let result = match self.verdict {
            Verdict::Unverified => None,
            Verdict::Verified => Some((options::RESULT, options::RESULT_VERIFIED)),
            Verdict::Mismatch => Some((options::RESULT, options::RESULT_MISMATCH)),
        };
        (Repr { flags: Flags::FIN | Flags::ACK, ..self.ack() }, result)
    }
}

/// Room for a reply: a header and a few option bytes.
const REPLY_CAPACITY: usize = HEADER_LEN + 16;

#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum State<E> {
    Listening,
    /// Receiving data.
    Established(Connection<E>),
    /// FIN received and answered; `rcv_nxt` is `END + 1`.
    Closing(Connection<E>),
    Closed,
    Failed,
}

/// The receiving side of one transfer.
///
/// `W` is the sink; `E` the endpoint type; `H` the number of half-open entries.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Receiver<W, E, const H: usize = DEFAULT_HALF_OPEN> {
    sink: W,
    config: ReceiverConfig,
    random: SplitMix64,
    started_at: Instant,
    half_open: heapless::Vec<HalfOpen<E>, H>,
    state: State<E>,
    /// The running digest of the data written, when one was agreed.
    hasher: Option<Hasher>,
    reply: [u8; REPLY_CAPACITY],
    reply_len: u8,
    reply_to: Option<E>,
    reply_is_dup: bool,
}

impl<W: Write, E: Copy + PartialEq, const H: usize> Receiver<W, E, H> {
    /// A receiver waiting for a connection, from `now`.
    pub fn new(config: ReceiverConfig, sink: W, now: Instant) -> Receiver<W, E, H> {
        Receiver {
            sink,
            config,
            random: SplitMix64::new(config.random_seed),
            started_at: now,
            half_open: heapless::Vec::new(),
            state: State::Listening,
            hasher: None,
            reply: [0; REPLY_CAPACITY],
            reply_len: 0,
            reply_to: None,
            reply_is_dup: false,
        }
    }

    /// The sink.
    pub fn sink(&self) -> &W {
        &self.sink
    }

    /// The sink, writable (for example to sync a file before committing it).
    pub fn sink_mut(&mut self) -> &mut W {
        &mut self.sink
    }

    /// Gives the sink back.
    pub fn into_sink(self) -> W {
        self.sink
    }

    /// The peer that holds the transfer, once one has completed the handshake.
    pub fn peer(&self) -> Option<E> {
        match &self.state {
            State::Established(c) | State::Closing(c) => Some(c.peer),
            _ => None,
        }
    }

    /// Whether all data arrived, was flushed and (when a digest was agreed) verified: the
    /// output may be committed. True from [`ReceiverEvent::Finished`] on.
    pub fn has_succeeded(&self) -> bool {
        match self.state {
            State::Closing(c) => c.verdict != Verdict::Mismatch,
            State::Closed => true,
            _ => false,
        }
    }

    /// The digest agreed with the peer, once it completed the handshake (and after the close).
    pub fn digest(&self) -> Option<DigestAlgorithm> {
        self.hasher.as_ref().map(Hasher::algorithm)
    }

    /// Puts a reply in the buffer: `repr` and at most one single-byte option.
    fn queue_reply(&mut self, to: E, (repr, option): (Repr, Option<(u8, u8)>), dup: bool) {
        let mut len = HEADER_LEN;
        if let Some((kind, value)) = option {
            len += options::write_option(&mut self.reply[HEADER_LEN..], kind, &[value]).unwrap_or(0);
        }
        repr.emit(&mut Packet::new_unchecked(&mut self.reply[..]));
        self.reply_len = len as u8;
        self.reply_to = Some(to);
        self.reply_is_dup = dup;
    }

    fn fail(&mut self, error: Error) -> ReceiverEvent {
        self.state = State::Failed;
        self.reply_to = None;
        ReceiverEvent::Failed(error)
    }

    fn on_syn(&mut self, now: Instant, from: E, frame: Frame<'_>) -> Handled<ReceiverEvent> {
        let repr = frame.repr;
        if repr.flags != Flags::SYN {
            return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
        }
        match self.state {
            State::Listening => {}
            // A duplicate of the SYN that opened this connection gets the same SYN|ACK.
            State::Established(c) | State::Closing(c) if c.peer == from && c.isn == repr.seq => {
                self.queue_reply(from, c.syn_ack(), true);
                return Handled::trace(Trace::recv(repr, true));
            }
            _ => return Handled::trace(Trace::drop(repr, DropReason::NotAccepting)),
        }
        self.expire_half_open(now);
        if let Some(entry) = self.half_open.iter().find(|e| e.peer == from && e.isn == repr.seq).copied() {
            self.queue_reply(from, entry.syn_ack(), true);
            return Handled::trace(Trace::recv(repr, true));
        }
        // A new attempt from an endpoint replaces its old entry; a full table loses its oldest.
        self.half_open.retain(|e| e.peer != from);
        let offers = SynOptions::parse(frame.payload);
        let entry = HalfOpen {
            peer: from,
            isn: repr.seq,
            risn: SeqNum::from_wrapping(self.random.next_u32()),
            conn: self.random.next_conn(),
            created: now,
            transfer_size: offers.transfer_size,
            // Granted when offered, supported and wanted; only then does the SYN|ACK carry
            // an option (a SYN that offers nothing always gets 12 bytes).
            digest: offers.digest.filter(|d| self.config.verify_digest && d.is_supported()),
        };
        if let Err(entry) = self.half_open.push(entry) {
            // Overwritten in place: no index, so no bounds check that could panic.
            match self.half_open.iter_mut().min_by_key(|e| e.created) {
                Some(oldest) => *oldest = entry,
                // Only with H = 0: no half-open entry can be kept at all.
                None => return Handled::trace(Trace::drop(repr, DropReason::NotAccepting)),
            }
        }
        self.queue_reply(from, entry.syn_ack(), false);
        Handled::trace(Trace::recv(repr, false))
    }

    /// In `Listening`: a non-SYN frame may be the third frame of a handshake.
    fn on_handshake_ack(&mut self, now: Instant, from: E, frame: Frame<'_>) -> Handled<ReceiverEvent> {
        let repr = frame.repr;
        let Some(entry) = self.half_open.iter().find(|e| e.peer == from).copied() else {
            return Handled::trace(Trace::drop(repr, DropReason::NotAccepting));
        };
        if repr.conn != entry.conn {
            return Handled::trace(Trace::drop(repr, DropReason::WrongConn));
        }
        let is_third_frame =
            repr.flags == Flags::ACK && repr.seq == entry.isn + 1 && repr.ack == entry.risn + 1;
        if !is_third_frame {
            return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
        }
        self.half_open.clear();
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
            if repr.seq != c.rcv_nxt {
                return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
            }
            if let Err(e) = self.sink.flush() {
                return Handled::with_event(Trace::recv(repr, false), self.fail(Error::Sink(e.kind())));
            }
            // The digest is checked before anything is reported (SPEC §10.2): the output may
            // be committed only on a match.
            c.verdict = match &self.hasher {
                None => Verdict::Unverified,
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
            self.state = State::Closing(c);
            self.queue_reply(c.peer, c.fin_ack(), false);
            let event = match c.verdict {
                Verdict::Mismatch => ReceiverEvent::Failed(Error::DigestMismatch),
                Verdict::Verified | Verdict::Unverified => ReceiverEvent::Finished,
            };
            return Handled::with_event(Trace::recv(repr, false), event);
        }
        let payload = match self.config.profile {
            Profile::Native => frame.payload,
            // The original receiver finds a payload's end by stripping trailing zeros (SPEC §7).
            Profile::Reference => strip_trailing_zeros(frame.payload),
        };
        if repr.seq == c.rcv_nxt {
            if let Err(e) = self.sink.write_all(payload) {
                return Handled::with_event(Trace::recv(repr, false), self.fail(Error::Sink(e.kind())));
            }
            if let Some(hasher) = &mut self.hasher {
                hasher.update(payload);
            }
            if !payload.is_empty() {
                c.prev_seq = Some(repr.seq);
                c.rcv_nxt = repr.seq + payload.len() as u32;
            }
            c.last_heard = now;
            self.state = State::Established(c);
            self.queue_reply(c.peer, (c.ack(), None), false);
            let delivered = ReceiverEvent::Delivered { bytes: payload.len() as u16 };
            Handled::with_event(Trace::recv(repr, false), delivered)
        } else if Some(repr.seq) == c.prev_seq {
            // Our ACK was lost and the sender repeats the frame: acknowledge, don't deliver.
            c.last_heard = now;
            self.state = State::Established(c);
            self.queue_reply(c.peer, (c.ack(), None), true);
            Handled::trace(Trace::recv(repr, true))
        } else {
            Handled::trace(Trace::drop(repr, DropReason::Unexpected))
        }
    }

    /// In `Closing`: a repeated FIN, or the final ACK.
    fn on_closing(&mut self, now: Instant, mut c: Connection<E>, frame: Frame<'_>) -> Handled<ReceiverEvent> {
        let repr = frame.repr;
        // rcv_nxt - 1: the FIN's own sequence number.
        let fin_seq = c.rcv_nxt + (crate::MAX_SEQ - 1);
        if repr.flags.contains(Flags::FIN) && repr.seq == fin_seq {
            c.last_heard = now;
            self.state = State::Closing(c);
            // The same answer, verdict included.
            self.queue_reply(c.peer, c.fin_ack(), true);
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
            self.state = if c.verdict == Verdict::Mismatch { State::Failed } else { State::Closed };
            Handled::with_event(Trace::recv(repr, false), ReceiverEvent::Closed)
        } else {
            Handled::trace(Trace::drop(repr, DropReason::Unexpected))
        }
    }

    fn expire_half_open(&mut self, now: Instant) {
        let idle = self.config.idle_timeout;
        self.half_open.retain(|e| now < e.created + idle);
    }

    fn accept_deadline(&self) -> Option<Instant> {
        self.config.accept_timeout.map(|t| self.started_at + t)
    }
}

/// `payload` without its trailing zero bytes.
fn strip_trailing_zeros(mut payload: &[u8]) -> &[u8] {
    // Slice patterns: no index, so no panic path.
    while let [rest @ .., 0] = payload {
        payload = rest;
    }
    payload
}

impl<W: Write, E: Copy + PartialEq, const H: usize> Engine for Receiver<W, E, H> {
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
            State::Established(c) | State::Closing(c) if c.peer != from => {
                Handled::trace(Trace::drop(frame.repr, DropReason::WrongPeer))
            }
            State::Established(c) | State::Closing(c) if c.conn != frame.repr.conn => {
                Handled::trace(Trace::drop(frame.repr, DropReason::WrongConn))
            }
            State::Established(c) => self.on_established(now, c, frame),
            State::Closing(c) => self.on_closing(now, c, frame),
            State::Closed | State::Failed => {
                Handled::trace(Trace::drop(frame.repr, DropReason::NotAccepting))
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<ReceiverEvent> {
        match self.state {
            State::Listening => {
                self.expire_half_open(now);
                match self.accept_deadline() {
                    Some(deadline) if now >= deadline => Some(self.fail(Error::AcceptTimeout)),
                    _ => None,
                }
            }
            State::Established(c) if now >= c.last_heard + self.config.idle_timeout => {
                Some(self.fail(Error::IdleTimeout))
            }
            // The data is complete; a silent peer just ends the linger.
            State::Closing(c) if now >= c.last_heard + self.config.idle_timeout => {
                self.state = if c.verdict == Verdict::Mismatch { State::Failed } else { State::Closed };
                self.reply_to = None;
                Some(ReceiverEvent::Closed)
            }
            _ => None,
        }
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit<'_, E>> {
        let to = self.reply_to.take()?;
        let (header, _) = self.reply.split_first_chunk::<HEADER_LEN>().unwrap_or((&[0; HEADER_LEN], &[]));
        let trace = Trace::send(Repr::read_emitted(header), self.reply_is_dup);
        let reply = &self.reply[..usize::from(self.reply_len).min(REPLY_CAPACITY)];
        Some(Transmit { to, datagram: reply, trace })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let idle = self.config.idle_timeout;
        match &self.state {
            State::Listening => {
                let expiry = self.half_open.iter().map(|e| e.created + idle).min();
                match (expiry, self.accept_deadline()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            State::Established(c) | State::Closing(c) => Some(c.last_heard + idle),
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
    use crate::sim::VecSink;
    use crate::testing::{BrokenSink, datagram, next_frame};
    use crate::time::Duration;
    use crate::trace::Direction;

    const PEER: u8 = 1;
    const OTHER: u8 = 2;
    const ISN: u32 = 1000;
    const ACK: Flags = Flags::ACK;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn receiver(profile: Profile) -> Receiver<VecSink, u8, 2> {
        let config = ReceiverConfig { profile, ..ReceiverConfig::new(99) };
        Receiver::new(config, VecSink::default(), t(0))
    }

    /// Handshake with PEER: returns (conn, risn).
    fn connect<W: Write>(rx: &mut Receiver<W, u8, 2>, payload: &[u8]) -> (u16, u32) {
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
            (PEER, datagram(ISN + 1, risn + 2, conn, ACK, b"x"), DropReason::Unexpected),
            (PEER, datagram(ISN + 2, risn + 1, conn, ACK, b"x"), DropReason::Unexpected),
            (PEER, datagram(ISN + 1, risn + 1, conn, Flags::NONE, b"x"), DropReason::Unexpected),
            (OTHER, datagram(ISN + 1, risn + 1, conn, ACK, b"x"), DropReason::NotAccepting),
        ] {
            let h = rx.handle_datagram(t(1), from, &d);
            assert_eq!(h.trace.reason, Some(reason));
            assert!(h.events.is_empty() && next_frame(&mut rx, t(1)).is_none());
        }
        assert!(rx.sink().0.is_empty());
    }

    #[test]
    fn a_full_half_open_table_loses_its_oldest_entry() {
        let mut rx = receiver(Profile::Native); // two half-open entries
        let mut answers = Vec::new();
        for (i, from) in [10u8, 11, 12].into_iter().enumerate() {
            rx.handle_datagram(t(i as u64), from, &datagram(ISN, 0, 0, Flags::SYN, &[]));
            answers.push(next_frame(&mut rx, t(i as u64)).unwrap().0);
        }
        // Endpoint 10 was evicted: its third frame finds no entry.
        let third = |a: &Repr| datagram(ISN + 1, a.seq.get() + 1, a.conn, ACK, &[]);
        let h = rx.handle_datagram(t(5), 10, &third(&answers[0]));
        assert_eq!(h.trace.reason, Some(DropReason::NotAccepting));
        // Endpoint 12, the newest, completes the handshake and gets the transfer.
        let h = rx.handle_datagram(t(5), 12, &third(&answers[2]));
        assert!(matches!(h.events[0], ReceiverEvent::Connected { .. }));
        // Now 11 is too late: one transfer per receiver.
        let h = rx.handle_datagram(t(6), 11, &third(&answers[1]));
        assert_eq!(h.trace.reason, Some(DropReason::WrongPeer));
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
        let mut rx: Receiver<BrokenSink, u8, 2> = Receiver::new(config, BrokenSink, t(0));
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
        let mut rx: Receiver<VecSink, u8> = Receiver::new(config, VecSink::default(), t(0));
        assert_eq!(rx.poll_timeout(), Some(t(3000)));
        assert_eq!(rx.handle_timeout(t(3000)), Some(ReceiverEvent::Failed(Error::AcceptTimeout)));
        assert!(rx.is_done());
    }

    #[test]
    fn strips_only_trailing_zeros() {
        assert_eq!(strip_trailing_zeros(b"a\0b\0\0"), b"a\0b");
        assert_eq!(strip_trailing_zeros(&[0; 8]), b"");
        assert_eq!(strip_trailing_zeros(b""), b"");
    }
}
