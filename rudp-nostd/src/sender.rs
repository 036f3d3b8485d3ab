//! The sender (SPEC §2-§6): opens the connection, sends the data stop-and-wait, closes.
//!
//! A sans-IO state machine: see [`Engine`] for how a driver runs it. It reads its data
//! from an [`embedded_io::Read`] source, filling each frame to 512 bytes unless the source has
//! ended, and keeps exactly one frame in its own buffer: the one in flight.

use embedded_io::{Error as _, ErrorKind, Read};

use crate::config::{Profile, SenderConfig};
use crate::digest::{DigestAlgorithm, Hasher};
use crate::engine::{Engine, Handled, Transmit};
use crate::error::Error;
use crate::frame::{self, Flags, HEADER_LEN, MAX_FRAME, MAX_PAYLOAD, Packet, Repr};
use crate::options::{self, Grants, SynOptions};
use crate::random::SplitMix64;
use crate::rto::RtoEstimator;
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};
use crate::trace::{DropReason, Trace};

/// The reference tools' initial sequence number (SPEC §7).
pub const REFERENCE_ISN: u32 = 42;

/// How many `Interrupted` errors in a row a source may return while one frame is filled
/// before the sender gives up on it.
const MAX_INTERRUPTED_READS: u8 = 16;

/// The linger after success lasts this many retransmission timeouts (SPEC §5).
const LINGER_RTOS: u64 = 2;

/// What a [`Sender`] tells its application.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SenderEvent {
    /// The receiver answered the SYN; the connection has this id.
    Connected {
        /// The connection id the receiver chose.
        conn: u16,
    },
    /// The receiver acknowledged (and so has written) this many more data bytes.
    Acknowledged {
        /// Newly acknowledged data bytes (0 to 512).
        bytes: u16,
    },
    /// The FIN was acknowledged: the transfer succeeded. The sender lingers to repeat its
    /// final ACK if needed; nothing after this turns the success into a failure.
    Finished,
    /// The linger is over; the sender is done.
    Closed,
    /// The transfer failed; the sender is done.
    Failed(Error),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum State {
    /// The SYN is in flight.
    SynSent,
    /// A data frame (the third frame first) is in flight.
    Transfer,
    /// The FIN is in flight.
    FinSent,
    /// Succeeded; the final ACK is in the buffer, repeated on a repeated FIN|ACK.
    Linger,
    /// The receiver rejected the data (digest `result` 1, or no `result` where a digest was
    /// agreed); the close completes all the same (SPEC §10.2).
    LingerRejected,
    /// Succeeded and done.
    Closed,
    /// Failed and done.
    Failed,
}

/// The frame in flight: its bytes, exactly as sent, and its retransmission state.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct InFlight {
    buf: [u8; MAX_FRAME],
    /// Bytes of `buf` that go on the wire.
    len: u16,
    /// Sequence numbers the frame consumes beyond its `seq` (data bytes; SYN and FIN count as
    /// one, the final ACK as none). Its acknowledgement is `seq + consumed`.
    consumed: u16,
    /// Waiting for `poll_transmit`.
    pending: bool,
    /// Sent more than once: no RTT sample from it (Karn), and traced as `DUP`.
    retransmitted: bool,
}

impl InFlight {
    /// The header, read back from the bytes (written by [`Repr::emit`], so always valid).
    fn repr(&self) -> Repr {
        let (header, _) = self.buf.split_first_chunk::<HEADER_LEN>().unwrap_or((&[0; HEADER_LEN], &[]));
        Repr::read_emitted(header)
    }

    /// The bytes that go on the wire.
    fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len).min(MAX_FRAME)]
    }

    fn expected_ack(&self) -> SeqNum {
        self.repr().seq + self.consumed as u32
    }
}

/// The sending side of one transfer.
///
/// `S` is the data source; `E` the peer's endpoint type (`()` when the transport already
/// filters by peer, as a connected socket does).
///
/// ```
/// use rudp_nostd::{Engine, Instant, Sender, SenderConfig, SenderEvent};
///
/// let data: &[u8] = b"hello";
/// let mut sender = Sender::new(SenderConfig::new(1), data, (), Instant::ZERO);
/// let syn = sender.poll_transmit(Instant::ZERO).unwrap();
/// assert_eq!(syn.trace.to_string(), format!("SEND {} 0 0 SYN", syn.trace.header.unwrap().seq));
/// ```
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sender<S, E = ()> {
    in_flight: InFlight,
    source: S,
    peer: E,
    rto: RtoEstimator,
    idle_timeout: Duration,
    /// The last valid reply; in the linger, when it started.
    last_reply_at: Instant,
    /// When the frame in flight was last handed to the driver. (Kept out of [`InFlight`] so
    /// that the compiler can pack the small fields around it: the sender stays within 600
    /// bytes.)
    sent_at: Instant,
    /// The receiver's initial sequence number, from its SYN|ACK.
    risn: SeqNum,
    conn: u16,
    state: State,
    profile: Profile,
    source_ended: bool,
    /// The digest offered in the SYN (native profile, supported by this build).
    digest_offer: Option<DigestAlgorithm>,
    require_digest: bool,
    /// Test hook: send a wrong digest value.
    corrupt_digest: bool,
    /// The running digest of the data read, once the receiver granted one.
    hasher: Option<Hasher>,
}

impl<S: Read, E: Copy + PartialEq> Sender<S, E> {
    /// A sender about to open a connection to `peer`: its SYN is ready for `poll_transmit`.
    pub fn new(config: SenderConfig, source: S, peer: E, now: Instant) -> Sender<S, E> {
        let isn = match config.profile {
            Profile::Native => SeqNum::from_wrapping(SplitMix64::new(config.random_seed).next_u32()),
            Profile::Reference => SeqNum::from_wrapping(REFERENCE_ISN),
        };
        let timing = config.timing;
        let mut sender = Sender {
            in_flight: InFlight {
                buf: [0; MAX_FRAME],
                len: 0,
                consumed: 0,
                pending: false,
                retransmitted: false,
            },
            source,
            peer,
            rto: RtoEstimator::new(timing.initial_rto, timing.min_rto, timing.max_rto),
            idle_timeout: timing.idle_timeout,
            last_reply_at: now,
            sent_at: now,
            risn: SeqNum::ZERO,
            conn: 0,
            state: State::SynSent,
            profile: config.profile,
            source_ended: false,
            digest_offer: None,
            require_digest: config.require_digest,
            corrupt_digest: false,
            hasher: None,
        };
        let mut options_len = 0;
        if config.profile == Profile::Native {
            let area = &mut sender.in_flight.buf[HEADER_LEN..];
            if let Some(size) = config.transfer_size {
                options_len += options::write_transfer_size(area, size).unwrap_or(0);
            }
            // Only what this build can compute is offered.
            sender.digest_offer = config.digest.filter(|d| d.is_supported());
            if let Some(digest) = sender.digest_offer {
                let area = &mut sender.in_flight.buf[HEADER_LEN + options_len..];
                options_len += options::write_option(area, options::DIGEST, &[digest.code()]).unwrap_or(0);
            }
        }
        let syn = Repr { seq: isn, ack: SeqNum::ZERO, conn: 0, flags: Flags::SYN };
        sender.load(syn, options_len, 1);
        sender
    }

    /// The digest the receiver agreed to verify, once it answered.
    pub fn digest(&self) -> Option<DigestAlgorithm> {
        self.hasher.as_ref().map(Hasher::algorithm)
    }

    /// Test hook (not part of the API): send a wrong digest value in the FIN, to check that
    /// the receiver rejects it.
    #[doc(hidden)]
    pub fn corrupt_digest_for_testing(&mut self) {
        self.corrupt_digest = true;
    }

    /// The connection id, once the receiver has answered (0 before).
    pub fn conn(&self) -> u16 {
        self.conn
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto.rto()
    }

    /// The smoothed round-trip time, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rto.srtt()
    }

    /// Whether the transfer has succeeded (FIN acknowledged, and the digest verified when one
    /// was agreed), lingering or closed.
    pub fn has_succeeded(&self) -> bool {
        matches!(self.state, State::Linger | State::Closed)
    }

    /// Gives the source back.
    pub fn into_source(self) -> S {
        self.source
    }

    /// Puts `repr` and the first `payload_len` bytes already in the payload area in flight,
    /// padded to 524 bytes in the reference profile (SPEC §7).
    fn load(&mut self, repr: Repr, payload_len: usize, consumed: u16) {
        let buf = &mut self.in_flight.buf;
        let len = match self.profile {
            Profile::Native => HEADER_LEN + payload_len,
            Profile::Reference => {
                // `min`: the bound the optimizer needs to drop the slice's panic path.
                buf[(HEADER_LEN + payload_len).min(MAX_FRAME)..].fill(0);
                MAX_FRAME
            }
        };
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        self.in_flight.len = len as u16;
        self.in_flight.consumed = consumed;
        self.in_flight.pending = true;
        self.in_flight.retransmitted = false;
    }

    /// Reads up to 512 bytes from the source into the payload area; returns how many.
    fn fill_payload(&mut self) -> Result<usize, Error> {
        if self.source_ended {
            return Ok(0);
        }
        let area = &mut self.in_flight.buf[HEADER_LEN..];
        let mut filled = 0;
        let mut interrupted = 0;
        // Each pass adds at least one byte or ends: at most MAX_PAYLOAD passes (plus the
        // bounded retries).
        while filled < MAX_PAYLOAD {
            match self.source.read(&mut area[filled..]) {
                Ok(0) => {
                    self.source_ended = true;
                    break;
                }
                // `min` guards against a source that claims more than it was given.
                Ok(n) => filled = (filled + n).min(MAX_PAYLOAD),
                Err(e) if e.kind() == ErrorKind::Interrupted && interrupted < MAX_INTERRUPTED_READS => {
                    interrupted += 1;
                }
                Err(e) => return Err(Error::Source(e.kind())),
            }
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&self.in_flight.buf[HEADER_LEN..HEADER_LEN + filled]);
        }
        Ok(filled)
    }

    /// Puts the next frame in flight: a data frame, or the FIN once the source has ended.
    /// The third frame (`first`) is always a data frame, even an empty one (SPEC §3).
    fn load_next(&mut self, next_seq: SeqNum, first: bool) -> Result<(), Error> {
        let filled = self.fill_payload()?;
        if filled == 0 && !first {
            let fin = Repr { seq: next_seq, ack: self.risn + 1, conn: self.conn, flags: Flags::FIN };
            // With a digest agreed, the FIN proves the data (SPEC §10.2); the payload is not
            // data and consumes no sequence number.
            let mut payload_len = 0;
            if let Some(hasher) = &self.hasher {
                let mut value = hasher.value();
                if self.corrupt_digest {
                    value = value.with_first_byte_flipped();
                }
                let area = &mut self.in_flight.buf[HEADER_LEN..];
                payload_len =
                    options::write_option(area, options::DIGEST_VALUE, value.as_bytes()).unwrap_or(0);
            }
            self.load(fin, payload_len, 1);
            self.state = State::FinSent;
            return Ok(());
        }
        // The reference sender sends data frames after the first with flags 0 and ack 0.
        let (flags, ack) = match (self.profile, first) {
            (Profile::Reference, false) => (Flags::NONE, SeqNum::ZERO),
            _ => (Flags::ACK, self.risn + 1),
        };
        let data = Repr { seq: next_seq, ack, conn: self.conn, flags };
        self.load(data, filled, filled as u16);
        self.state = State::Transfer;
        Ok(())
    }

    fn fail(&mut self, error: Error) -> SenderEvent {
        self.state = State::Failed;
        self.in_flight.pending = false;
        SenderEvent::Failed(error)
    }

    /// An acknowledgement of the frame in flight arrived at `now`.
    fn take_rtt_sample(&mut self, now: Instant) {
        if !self.in_flight.retransmitted {
            self.rto.on_rtt_sample(now - self.sent_at);
        }
        self.last_reply_at = now;
    }

    fn on_syn_ack(&mut self, now: Instant, repr: Repr, payload: &[u8]) -> Handled<SenderEvent> {
        self.take_rtt_sample(now);
        // The SYN is in flight: the third frame follows it.
        let third_seq = self.in_flight.repr().seq + 1;
        self.conn = repr.conn;
        self.risn = repr.seq;
        let mut handled =
            Handled::with_event(Trace::recv(repr, false), SenderEvent::Connected { conn: repr.conn });
        let offered = SynOptions { transfer_size: None, window: None, digest: self.digest_offer };
        let grants = match Grants::parse(payload, &offered) {
            Ok(grants) => grants,
            Err(error) => {
                handled.push(self.fail(Error::BadGrant(error)));
                return handled;
            }
        };
        if self.require_digest && self.digest_offer.is_some() && grants.digest.is_none() {
            handled.push(self.fail(Error::DigestRefused));
            return handled;
        }
        self.hasher = grants.digest.and_then(Hasher::new);
        if let Err(error) = self.load_next(third_seq, true) {
            handled.push(self.fail(error));
        }
        handled
    }

    fn on_data_ack(&mut self, now: Instant, repr: Repr) -> Handled<SenderEvent> {
        self.take_rtt_sample(now);
        let bytes = self.in_flight.consumed;
        let mut handled = Handled::with_event(Trace::recv(repr, false), SenderEvent::Acknowledged { bytes });
        if let Err(error) = self.load_next(repr.ack, false) {
            handled.push(self.fail(error));
        }
        handled
    }

    fn on_fin_ack(&mut self, now: Instant, repr: Repr, payload: &[u8]) -> Handled<SenderEvent> {
        self.take_rtt_sample(now);
        // A `result` of 1 is a rejection whether or not we think a digest was agreed; with
        // one agreed, only a `result` of 0 is success (SPEC §10.2).
        let verdict = match (options::result(payload), &self.hasher) {
            (Some(false), _) => Err(Error::Rejected),
            (Some(true), _) | (None, None) => Ok(()),
            (None, Some(_)) => Err(Error::DigestUnconfirmed),
        };
        let fin_seq = self.in_flight.repr().seq;
        let flags = match self.profile {
            Profile::Native => Flags::ACK,
            Profile::Reference => Flags::ACK | Flags::FIN,
        };
        let final_ack = Repr { seq: fin_seq + 1, ack: self.risn + 2, conn: self.conn, flags };
        self.load(final_ack, 0, 0);
        // Whatever the verdict, the close completes: final ACK, then the linger.
        match verdict {
            Ok(()) => {
                self.state = State::Linger;
                Handled::with_event(Trace::recv(repr, false), SenderEvent::Finished)
            }
            Err(error) => {
                self.state = State::LingerRejected;
                Handled::with_event(Trace::recv(repr, false), SenderEvent::Failed(error))
            }
        }
    }

    /// A SYN|ACK acknowledging our SYN while a frame is outstanding: our last frame was lost
    /// (SPEC §3), so send it again now.
    fn on_repeated_syn_ack(&mut self, now: Instant, repr: Repr) -> Handled<SenderEvent> {
        self.last_reply_at = now;
        self.in_flight.pending = true;
        self.in_flight.retransmitted = true;
        Handled::trace(Trace::recv(repr, true))
    }
}

impl<S: Read, E: Copy + PartialEq> Engine for Sender<S, E> {
    type Endpoint = E;
    type Event = SenderEvent;

    fn handle_datagram(&mut self, now: Instant, from: E, datagram: &[u8]) -> Handled<SenderEvent> {
        if from != self.peer {
            return Handled::trace(Trace::drop_datagram(datagram, DropReason::WrongPeer));
        }
        let (repr, payload) = match frame::decode(datagram) {
            Ok(frame) => (frame.repr, frame.payload),
            Err(error) => return Handled::trace(Trace::malformed(error)),
        };
        let is_syn_ack = repr.flags == Flags::SYN | Flags::ACK;
        let acks_in_flight = repr.ack == self.in_flight.expected_ack();
        let drop = |reason| Handled::trace(Trace::drop(repr, reason));
        match self.state {
            // The answer to our SYN acknowledges it (the SYN is in flight).
            State::SynSent if is_syn_ack && acks_in_flight && repr.conn != 0 => {
                self.on_syn_ack(now, repr, payload)
            }
            State::SynSent => drop(DropReason::Unexpected),
            State::Closed | State::Failed => drop(DropReason::NotAccepting),
            _ if repr.conn != self.conn => drop(DropReason::WrongConn),
            // The same SYN|ACK again (its seq is the receiver's ISN).
            State::Transfer | State::FinSent if is_syn_ack && repr.seq == self.risn => {
                self.on_repeated_syn_ack(now, repr)
            }
            State::Linger | State::LingerRejected if repr.flags.contains(Flags::FIN) => {
                self.repeat_final_ack(now, repr)
            }
            // From here on only acknowledgements matter: ACK set, SYN clear.
            _ if repr.flags.contains(Flags::SYN) || !repr.flags.contains(Flags::ACK) => {
                drop(DropReason::Unexpected)
            }
            State::Transfer if acks_in_flight && !repr.flags.contains(Flags::FIN) => {
                self.on_data_ack(now, repr)
            }
            State::FinSent if acks_in_flight => self.on_fin_ack(now, repr, payload),
            // Reference profile: the original receiver answers a FIN with ACK|FIN carrying an
            // unexpected ack number (SPEC §7), so the ack number is not checked. The FIN flag
            // is: every FIN answer of the original receiver has it, and without it a network
            // duplicate of the last data ACK, arriving after our FIN, would pass for the
            // answer and leave the receiver without its FIN.
            State::FinSent if self.profile == Profile::Reference && repr.flags.contains(Flags::FIN) => {
                self.on_fin_ack(now, repr, payload)
            }
            _ => drop(DropReason::Unexpected),
        }
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<SenderEvent> {
        match self.state {
            State::SynSent | State::Transfer | State::FinSent => {
                if now >= self.last_reply_at + self.idle_timeout {
                    return Some(self.fail(Error::IdleTimeout));
                }
                if !self.in_flight.pending && now >= self.sent_at + self.rto.rto() {
                    self.rto.on_timeout();
                    self.in_flight.pending = true;
                    self.in_flight.retransmitted = true;
                }
                None
            }
            State::Linger | State::LingerRejected if now >= self.linger_deadline() => {
                self.state = if self.state == State::Linger { State::Closed } else { State::Failed };
                self.in_flight.pending = false;
                Some(SenderEvent::Closed)
            }
            State::Linger | State::LingerRejected | State::Closed | State::Failed => None,
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_, E>> {
        if !self.in_flight.pending {
            return None;
        }
        self.in_flight.pending = false;
        self.sent_at = now;
        let trace = Trace::send(self.in_flight.repr(), self.in_flight.retransmitted);
        Some(Transmit { to: self.peer, datagram: self.in_flight.bytes(), trace })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::SynSent | State::Transfer | State::FinSent => {
                let idle = self.last_reply_at + self.idle_timeout;
                if self.in_flight.pending {
                    Some(idle)
                } else {
                    Some(idle.min(self.sent_at + self.rto.rto()))
                }
            }
            State::Linger | State::LingerRejected => Some(self.linger_deadline()),
            State::Closed | State::Failed => None,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed)
    }
}

impl<S: Read, E: Copy + PartialEq> Sender<S, E> {
    fn linger_deadline(&self) -> Instant {
        self.last_reply_at + self.rto.rto().saturating_mul(LINGER_RTOS)
    }

    /// In the linger, a repeated FIN|ACK (or the reference receiver's lone FIN) means our
    /// final ACK was lost: send it again and restart the linger, as TCP's TIME-WAIT does.
    fn repeat_final_ack(&mut self, now: Instant, repr: Repr) -> Handled<SenderEvent> {
        self.last_reply_at = now;
        self.in_flight.pending = true;
        self.in_flight.retransmitted = true;
        Handled::trace(Trace::recv(repr, true))
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::config::Timing;
    use crate::testing::{BrokenSource, datagram, next_frame};
    use crate::time::Duration;
    use crate::trace::Direction;

    const RX: u8 = 1;
    const RISN: u32 = 5000;
    const CONN: u16 = 77;
    const ACK: Flags = Flags::ACK;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn sender(profile: Profile, data: &[u8]) -> Sender<&[u8], u8> {
        let config = SenderConfig { profile, transfer_size: Some(data.len() as u64), ..SenderConfig::new(3) };
        Sender::new(config, data, RX, t(0))
    }

    /// Sends the SYN and answers it: returns the ISN.
    fn connect(tx: &mut Sender<&[u8], u8>) -> u32 {
        let (syn, _, _) = next_frame(tx, t(0)).unwrap();
        let isn = syn.seq.get();
        let h = tx.handle_datagram(t(10), RX, &datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, &[]));
        assert_eq!(&h.events[..], &[SenderEvent::Connected { conn: CONN }]);
        isn
    }

    #[test]
    fn native_syn_announces_the_transfer_size() {
        let mut tx = sender(Profile::Native, &[7; 1000]);
        let (syn, payload, dup) = next_frame(&mut tx, t(0)).unwrap();
        assert_eq!((syn.ack.get(), syn.conn, syn.flags, dup), (0, 0, Flags::SYN, false));
        assert_eq!(payload, [1, 8, 0xe8, 3, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn reference_syn_is_the_spec_vector() {
        let mut tx = sender(Profile::Reference, b"text");
        let transmit = tx.poll_transmit(t(0)).unwrap();
        let mut expected = [0u8; MAX_FRAME];
        expected[..12].copy_from_slice(&[0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0]);
        assert_eq!(transmit.datagram, &expected[..]);
    }

    #[test]
    fn answers_that_do_not_acknowledge_the_syn_are_dropped() {
        let mut tx = sender(Profile::Native, b"x");
        let (syn, _, _) = next_frame(&mut tx, t(0)).unwrap();
        let isn = syn.seq.get();
        for (from, d) in [
            (RX, datagram(RISN, isn + 2, CONN, Flags::SYN | ACK, &[])),
            (RX, datagram(RISN, isn + 1, 0, Flags::SYN | ACK, &[])),
            (RX, datagram(RISN, isn + 1, CONN, ACK, &[])),
            (2, datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, &[])),
        ] {
            let h = tx.handle_datagram(t(1), from, &d);
            assert_eq!(h.trace.direction, Direction::Drop);
            assert!(next_frame(&mut tx, t(1)).is_none());
        }
        assert_eq!(tx.conn(), 0);
    }

    #[test]
    fn frames_are_filled_to_512_bytes_and_acknowledged_one_at_a_time() {
        let data: Vec<u8> = (0..1300u32).map(|i| i as u8).collect();
        let mut tx = sender(Profile::Native, &data);
        let isn = connect(&mut tx);
        let mut seq = isn + 1;
        let mut got = Vec::new();
        for (i, len) in [512usize, 512, 276].into_iter().enumerate() {
            let (f, payload, _) = next_frame(&mut tx, t(20 + i as u64)).unwrap();
            assert_eq!((f.seq.get(), f.ack.get(), f.conn, f.flags), (seq, RISN + 1, CONN, ACK));
            assert_eq!(payload.len(), len);
            assert!(next_frame(&mut tx, t(20)).is_none(), "one frame in flight");
            // A stale ACK changes nothing.
            let h = tx.handle_datagram(t(21), RX, &datagram(RISN + 1, seq, CONN, ACK, &[]));
            assert_eq!(h.trace.direction, Direction::Drop);
            seq += len as u32;
            let h = tx.handle_datagram(t(21 + i as u64), RX, &datagram(RISN + 1, seq, CONN, ACK, &[]));
            assert_eq!(&h.events[..], &[SenderEvent::Acknowledged { bytes: len as u16 }]);
            got.extend(payload);
        }
        assert_eq!(got, data);
        let (fin, payload, _) = next_frame(&mut tx, t(30)).unwrap();
        assert_eq!((fin.seq.get(), fin.ack.get(), fin.flags), (seq, RISN + 1, Flags::FIN));
        assert!(payload.is_empty());
        let h = tx.handle_datagram(t(31), RX, &datagram(RISN + 1, seq + 1, CONN, Flags::FIN | ACK, &[]));
        assert_eq!(&h.events[..], &[SenderEvent::Finished]);
        let (last, _, _) = next_frame(&mut tx, t(31)).unwrap();
        assert_eq!((last.seq.get(), last.ack.get(), last.flags), (seq + 1, RISN + 2, ACK));
        assert!(tx.has_succeeded());
    }

    #[test]
    fn an_empty_source_still_sends_the_third_frame_then_the_fin() {
        let mut tx = sender(Profile::Native, b"");
        let isn = connect(&mut tx);
        let (third, payload, _) = next_frame(&mut tx, t(11)).unwrap();
        assert_eq!((third.seq.get(), third.flags, payload.len()), (isn + 1, ACK, 0));
        tx.handle_datagram(t(12), RX, &datagram(RISN + 1, isn + 1, CONN, ACK, &[]));
        let (fin, _, _) = next_frame(&mut tx, t(12)).unwrap();
        assert_eq!((fin.seq.get(), fin.flags), (isn + 1, Flags::FIN));
    }

    #[test]
    fn a_timeout_retransmits_with_back_off_and_no_rtt_sample() {
        let mut tx = sender(Profile::Native, b"abc");
        next_frame(&mut tx, t(0)).unwrap();
        assert_eq!(tx.poll_timeout(), Some(t(500)));
        tx.handle_timeout(t(499));
        assert!(next_frame(&mut tx, t(499)).is_none());
        tx.handle_timeout(t(500));
        let (syn, _, dup) = next_frame(&mut tx, t(500)).unwrap();
        assert!(dup && syn.flags == Flags::SYN);
        assert_eq!(tx.rto(), Duration::from_millis(1000));
        assert_eq!(tx.poll_timeout(), Some(t(1500)));
        // Answered after the retransmission: Karn's rule, no sample.
        tx.handle_datagram(t(510), RX, &datagram(RISN, syn.seq.get() + 1, CONN, Flags::SYN | ACK, &[]));
        assert_eq!(tx.srtt(), None);
        // The next frame, answered without retransmission, gives a sample.
        next_frame(&mut tx, t(510)).unwrap();
        tx.handle_datagram(t(530), RX, &datagram(RISN + 1, syn.seq.get() + 4, CONN, ACK, &[]));
        assert_eq!(tx.srtt(), Some(Duration::from_millis(20)));
    }

    #[test]
    fn a_repeated_syn_ack_means_the_last_frame_was_lost() {
        let mut tx = sender(Profile::Native, b"abc");
        let isn = connect(&mut tx);
        let (third, _, _) = next_frame(&mut tx, t(11)).unwrap();
        let h = tx.handle_datagram(t(12), RX, &datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, &[]));
        assert!(h.trace.dup);
        let (again, payload, dup) = next_frame(&mut tx, t(12)).unwrap();
        assert_eq!((again, payload.as_slice(), dup), (third, &b"abc"[..], true));
    }

    #[test]
    fn the_idle_timeout_fails_the_transfer() {
        let config = SenderConfig {
            timing: Timing { idle_timeout: Duration::from_secs(3), ..Timing::DEFAULT },
            ..SenderConfig::new(1)
        };
        let mut tx = Sender::new(config, &b"abc"[..], RX, t(0));
        let mut now = t(0);
        let mut events = Vec::new();
        while !tx.is_done() {
            while next_frame(&mut tx, now).is_some() {}
            now = tx.poll_timeout().unwrap();
            events.extend(tx.handle_timeout(now));
        }
        assert_eq!(events, [SenderEvent::Failed(Error::IdleTimeout)]);
        assert_eq!(now, t(3000));
    }

    #[test]
    fn a_failing_source_fails_the_transfer() {
        let mut tx = Sender::new(SenderConfig::new(1), BrokenSource, RX, t(0));
        let (syn, _, _) = next_frame(&mut tx, t(0)).unwrap();
        let h = tx.handle_datagram(t(1), RX, &datagram(RISN, syn.seq.get() + 1, CONN, Flags::SYN | ACK, &[]));
        assert_eq!(
            &h.events[..],
            &[
                SenderEvent::Connected { conn: CONN },
                SenderEvent::Failed(Error::Source(embedded_io::ErrorKind::BrokenPipe))
            ]
        );
        assert!(tx.is_done() && next_frame(&mut tx, t(1)).is_none());
    }

    #[test]
    fn the_linger_repeats_the_final_ack_then_closes() {
        let mut tx = sender(Profile::Native, b"");
        let isn = connect(&mut tx);
        next_frame(&mut tx, t(10)).unwrap();
        tx.handle_datagram(t(11), RX, &datagram(RISN + 1, isn + 1, CONN, ACK, &[]));
        next_frame(&mut tx, t(11)).unwrap(); // FIN
        let fin_ack = datagram(RISN + 1, isn + 2, CONN, Flags::FIN | ACK, &[]);
        tx.handle_datagram(t(12), RX, &fin_ack);
        let (final_ack, _, dup) = next_frame(&mut tx, t(12)).unwrap();
        assert!(!dup);
        let h = tx.handle_datagram(t(13), RX, &fin_ack);
        assert!(h.trace.dup && h.events.is_empty());
        assert_eq!(next_frame(&mut tx, t(13)).unwrap(), (final_ack, Vec::new(), true));
        let deadline = tx.poll_timeout().unwrap();
        assert_eq!(deadline, t(13) + tx.rto().saturating_mul(2));
        assert_eq!(tx.handle_timeout(deadline), Some(SenderEvent::Closed));
        assert!(tx.is_done() && tx.has_succeeded());
    }

    #[test]
    fn reference_profile_frames_and_fin_answer() {
        let mut tx = sender(Profile::Reference, &[b'a'; 600]);
        let isn = connect(&mut tx);
        assert_eq!(isn, REFERENCE_ISN);
        let (third, payload, _) = next_frame(&mut tx, t(11)).unwrap();
        assert_eq!((third.flags, third.ack.get(), payload.len()), (ACK, RISN + 1, MAX_PAYLOAD));
        tx.handle_datagram(t(12), RX, &datagram(RISN + 1, isn + 513, CONN, ACK, &[]));
        let (second, payload, _) = next_frame(&mut tx, t(12)).unwrap();
        // Data after the first frame: flags 0, ack 0, padded to 524 bytes.
        assert_eq!((second.flags, second.ack.get(), payload.len()), (Flags::NONE, 0, MAX_PAYLOAD));
        assert_eq!(&payload[..88], &[b'a'; 88][..]);
        assert!(payload[88..].iter().all(|&b| b == 0));
        tx.handle_datagram(t(13), RX, &datagram(RISN + 1, isn + 601, CONN, ACK, &[]));
        let (fin, payload, _) = next_frame(&mut tx, t(13)).unwrap();
        assert_eq!((fin.flags, payload.len()), (Flags::FIN, MAX_PAYLOAD));
        // A duplicate of the last data ACK is not the FIN's answer...
        let h = tx.handle_datagram(t(14), RX, &datagram(RISN + 1, isn + 601, CONN, ACK, &[]));
        assert_eq!(h.trace.direction, Direction::Drop);
        // ...the original receiver's ACK|FIN is, whatever its ack number.
        let h = tx.handle_datagram(t(14), RX, &datagram(RISN + 1, isn + 601, CONN, ACK | Flags::FIN, &[]));
        assert_eq!(&h.events[..], &[SenderEvent::Finished]);
        let (final_ack, payload, _) = next_frame(&mut tx, t(14)).unwrap();
        assert_eq!((final_ack.flags, payload.len()), (ACK | Flags::FIN, MAX_PAYLOAD));
        // Its lone FIN that follows gets the final ACK again.
        tx.handle_datagram(t(15), RX, &datagram(RISN + 1, 0, CONN, Flags::FIN, &[]));
        assert!(next_frame(&mut tx, t(15)).unwrap().2);
    }
}
