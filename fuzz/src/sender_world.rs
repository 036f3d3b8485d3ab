//! The `sender` target: a [`Sender`] answered by the harness's own receiver (right answers,
//! mutated ones, junk, duplicates, refusals), checked at every step against SPEC §3-§5,
//! §10.1 and §10.4's refusals; and its input format ([`tx_op`], [`tx_setup`]).

use std::collections::VecDeque;

use rudp_nostd::blocking::SourceSender;
use rudp_nostd::wire::{self, Flags, Frame, Repr};
use rudp_nostd::{Direction, DropReason};
use rudp_nostd::{Duration, Engine, Error, Instant, Profile, Sender, SenderConfig, SenderEvent, SeqNum};

use super::Outcome;
use super::input::Cursor;
use super::spec::{
    self, frame_bytes, offers_extension, option_value, options_well_formed, refuse_code, refuse_option,
    refuse_reason, sack_option, seq_distance, seq_of, seq_plus, stop_reason, strip_trailing_zeros,
};
use super::world::{
    ENDPOINTS, Endpoint, MAX_PATTERN, PEER, WAIT_LONG_UNIT, WAIT_UNIT, endpoint_of, filler, is_basic_error,
    pattern, push_history, small_delta, stop_error,
};

/// The sender target's op codes: the low 3 bits of an op byte.
pub mod tx_op {
    /// The right answer to the sender's last frame. Also 1 and 2, to weight it. Bit 7
    /// ([`WRONG_PEER`]): from another endpoint. Bit 6 ([`ORIGINAL_FIN_ACK`]): answer a FIN
    /// as the original receiver does (ACK|FIN with an unexpected `ack`; reference only).
    pub const GOOD: u8 = 0;
    /// The right answer with one thing wrong: 3 bytes (what, delta, extra): `what % K` picks
    /// seq or ack moved by a small delta, conn changed (to 0 for an even `extra`), other
    /// flags, reserved flags, a payload, a truncation, another endpoint (0..8); with a window
    /// offered, a sack the sender must ignore or take with care (8..16); then a refusal (SPEC
    /// §10.4, [`REFUSALS`] kinds: the receiver's own, one with a header field near it, one
    /// with other option lists, one from another endpoint). `K` is 8 + [`REFUSALS`] without a
    /// window offered, 16 + [`REFUSALS`] with one.
    pub const MUTATED: u8 = 3;
    /// The number of refusal kinds of [`MUTATED`].
    pub const REFUSALS: u8 = 4;
    /// Junk from endpoint `(op >> 3) & 3`: a datagram.
    pub const RAW: u8 = 4;
    /// One byte: time passes, `byte * 4 ms`.
    pub const WAIT: u8 = 5;
    /// One byte: time passes, `byte * 64 ms`.
    pub const WAIT_LONG: u8 = 6;
    /// One byte: an earlier answer again (a network duplicate).
    pub const REPLAY: u8 = 7;
    /// One byte: the application stops the transfer ([`Sender::abort`](rudp_nostd::Sender::abort))
    /// with the error the byte picks (`world::stop_error`), unless it is over or its FIN was
    /// answered. [`REPLAY`] with bit 7 set.
    pub const STOP: u8 = REPLAY | 0x80;
    /// [`GOOD`]'s flag: from another endpoint.
    pub const WRONG_PEER: u8 = 0x80;
    /// [`GOOD`]'s flag: the original receiver's answer to a FIN.
    pub const ORIGINAL_FIN_ACK: u8 = 0x40;
}

/// The sender target's set-up byte.
pub mod tx_setup {
    /// The reference profile.
    pub const REFERENCE: u8 = 1;
    /// The sender knows the transfer size (announced in a native SYN).
    pub const TRANSFER_SIZE: u8 = 2;
    /// Bits 2-3: the sender's frame buffers. 0: `N = 1` (SPEC §4 only); 1: `N = 4`; 2:
    /// `N = 32`; 3: `N = 4` with `window = 2` in its config (an offer of 2).
    pub const WINDOW_SHIFT: u8 = 2;
    /// Bits 4-6, with `N > 1`: what the SYN|ACK grants. 0 and 1: the offer; 2: 2; 3: 3 (at
    /// most the offer); 4: nothing; 5: the offer + 1 (the sender must fail); 6: a window of 1
    /// (out of range: ignored); 7: a malformed option list (ignored whole).
    pub const GRANT_SHIFT: u8 = 4;
    /// With `N > 1`: the `fixed` congestion policy instead of `reno`.
    pub const FIXED: u8 = 0x80;
}

/// What a frame the sender sent is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Syn,
    Data,
    Fin,
    FinalAck,
}

/// A distinct frame the sender sent.
#[derive(Clone, Debug)]
struct Sent {
    bytes: Vec<u8>,
    repr: Repr,
    kind: Kind,
    /// Data bytes (data frames).
    data_len: usize,
}

/// The sender under test, the harness's receiver that answers it, and the harness's model
/// of what the sender must have done so far.
struct TxWorld<'s, const N: usize> {
    tx: SourceSender<&'s [u8], Endpoint, N>,
    /// The window offered in the SYN, if any.
    offer: Option<u8>,
    /// The payload of the SYN|ACK the harness's receiver answers with.
    grant: Vec<u8>,
    /// The window the sender must use once connected (SPEC §10.1; 1: none).
    window: usize,
    /// With a window: each distinct data frame sent, by data offset, as sent.
    data_frames: std::collections::BTreeMap<usize, Vec<u8>>,
    /// With a window: the data bytes the sender reported acknowledged (its `A`).
    acked: usize,
    /// With a window: the frames (data offsets) the harness's receiver took, and its own
    /// cumulative ack.
    got: std::collections::BTreeSet<usize>,
    peer_acked: usize,
    /// The window the harness's SYN|ACK grants (1: none).
    granted: usize,
    /// A window was granted and the third frame acknowledged: the window is open.
    open: bool,
    /// With a window: the data offsets any valid sack has shown held (SPEC §10.1: from the
    /// peer, its conn, no frame at `k ≥ W`, none not sent). A frame above `A` is sent again
    /// only as a fast retransmission, which needs one of these above it.
    shown: std::collections::BTreeSet<usize>,
    profile: Profile,
    transfer_size: bool,
    pattern: &'s [u8],
    idle: Duration,
    now: Instant,
    /// The identity the harness's receiver answers with.
    answer_conn: u16,
    answer_risn: SeqNum,
    /// Conn and RISN of the SYN|ACK the sender connected with.
    conn: Option<(u16, SeqNum)>,
    /// The SYN's seq.
    syn_seq: Option<SeqNum>,
    /// The SYN offered an extension (an option of type 2 or above): the sender takes a
    /// receiver's refusal and tells the receiver when it abandons the transfer (SPEC §10.4).
    refusable: bool,
    /// The last new frame, and whether an answer the sender accepted acknowledged it.
    prev: Option<Sent>,
    prev_acked: bool,
    /// Pattern bytes sent in data frames.
    sent_bytes: usize,
    finished: bool,
    /// The FIN's answer was a rejection (SPEC §10.2): the close goes on, without success.
    rejected: bool,
    done: bool,
    /// The last datagram the sender took in (traced RECV).
    last_recv: Instant,
    answers: VecDeque<(Endpoint, Vec<u8>)>,
    outcome: Outcome,
}

/// A Sender (native or reference) of a known pattern fed arbitrary answers (right ones,
/// right ones with one thing wrong, raw junk from any endpoint, network duplicates) and time
/// steps. The driver contract is kept: after every call, `poll_transmit` until `None`.
///
/// Checks, besides "never panics":
/// - at most one unacknowledged frame: every frame it sends either repeats the previous one
///   byte for byte (traced DUP) or is the next one, and then an answer the sender accepted
///   (it reported `Connected`, `Acknowledged` or `Finished` for it) acknowledged the previous
///   one: a SYN|ACK from the peer with `ack = ISN + 1` and conn ≠ 0; an ACK (not SYN, not FIN)
///   from the peer, right conn, `ack = seq + len`; for the FIN, an ACK with the right conn and
///   `ack = END + 1` (native), or also any ACK|FIN with the right conn (reference, SPEC §7);
/// - the frames are SPEC's: the SYN (`seq 42`, padded, in the reference profile), data
///   frames that start where the previous one ended, carry the pattern in order, 512 bytes
///   unless the source has ended, with the flags and `ack` of the profile, the FIN once all
///   data is acknowledged, then the final ACK (`END + 1`, `RISN + 2`); 524 bytes each in the
///   reference profile; all to the peer;
/// - never `Finished` without that FIN acknowledgement; a failure only by the idle timeout
///   (exactly when 10 s pass without an accepted answer) or as an extension's verdict on an
///   answer with a payload; `Closed` only after the FIN's answer; nothing after the end;
/// - liveness: the right answer from the peer is always accepted, so that the transfer ends;
/// - `is_done`, `has_succeeded` agree with the events; the next timeout is in the future.
///
/// With `N > 1` (set-up bits 2-3, [`tx_setup::WINDOW_SHIFT`]), SPEC §10.1 on top:
/// - the SYN offers `min(N, config.window)` (native); the SYN|ACK grants what the set-up
///   says; the sender uses exactly the window granted (`window()`), none for an ill-formed or
///   missing grant, and fails on a grant above its offer;
/// - the harness's receiver takes the frames in flight in the order the input picks (losses
///   and reordering), and answers with its cumulative ack and the `sack` of the frames it
///   holds; mutated answers add sacks at `k ≥ W`, of frames not sent, malformed ones, acks
///   beyond what was sent;
/// - the third frame alone; never more than `W` distinct data frames unacknowledged, none
///   beyond `A + W·512`; new data frames in order; a retransmission repeats a frame at or
///   above `A` byte for byte, and one above `A` only after a sack the sender may take (from
///   the peer, no frame at `k ≥ W`, none not sent) showed a frame above it; `Acknowledged { n }` only on an ACK from the peer, right conn,
///   whose `ack` is `A + n` on a frame boundary of data sent; the FIN only once all data is
///   acknowledged; `Finished` only on its acknowledgement.
///
/// Refusals (SPEC §10.4), for a sender whose SYN offered an extension (here: a window):
/// - it takes a well-formed `refuse` exactly where SPEC says (a conn-0 SYN|ACK with `seq = 0`,
///   `ack = ISN+1` before it adopted a conn; afterwards, until its FIN is answered, a frame
///   from the peer with ACK and without SYN, its conn, `seq = RISN+1`, `ack` from `A` to the
///   next sequence number not sent): the only event is `Failed(Refused(reason))`, and it sends
///   nothing more; it takes none anywhere else, and a sender that offered nothing takes none;
/// - the application's stop ([`tx_op::STOP`]) once connected and before the FIN's answer
///   sends one abandoning FIN (FIN alone, `seq` the next sequence number not sent,
///   `ack = RISN+1`, its conn, the payload `08 01 reason`), then nothing; otherwise nothing.
///
/// Input: set-up byte ([`tx_setup`]), data length (u16, mod 3001; mod 12001 with `N = 32`),
/// sender seed (u32), the answering conn (u16, 0 means 1) and RISN (u32, mod MAX_SEQ); then
/// ops ([`tx_op`]).
pub fn sender(data: &[u8]) -> Outcome {
    let setup = data.first().copied().unwrap_or(0);
    match (setup >> tx_setup::WINDOW_SHIFT) & 3 {
        0 => sender_with::<1>(data, 64),
        1 => sender_with::<4>(data, 64),
        2 => sender_with::<32>(data, 64),
        _ => sender_with::<4>(data, 2),
    }
}

/// [`sender`] with `N` frame buffers and `window` in the sender's config.
fn sender_with<const N: usize>(data: &[u8], window: u8) -> Outcome {
    // Memory is fixed (SPEC §10.1): `N` frame buffers in all.
    let size = size_of::<Sender<Endpoint, N>>();
    let base = size_of::<Sender<Endpoint, 1>>();
    assert!(size <= base + (N - 1) * (spec::MAX_FRAME + 16), "{size} bytes for {N} frame buffers");
    let mut input = Cursor::new(data);
    let setup = input.u8();
    let profile = if setup & tx_setup::REFERENCE != 0 { Profile::Reference } else { Profile::Native };
    let transfer_size = setup & tx_setup::TRANSFER_SIZE != 0;
    let max_len = if N >= 32 { 4 * MAX_PATTERN } else { MAX_PATTERN };
    let len = usize::from(input.u16()) % (max_len + 1);
    let seed = u64::from(input.u32());
    let answer_conn = input.u16().max(1);
    let answer_risn = seq_of(input.u32());
    let pattern = pattern(len);
    let fixed = N > 1 && setup & tx_setup::FIXED != 0;
    let config = SenderConfig {
        profile,
        transfer_size: transfer_size.then_some(len as u64),
        window,
        congestion: if fixed { rudp_nostd::Congestion::Fixed } else { rudp_nostd::Congestion::Reno },
        ..SenderConfig::new(seed)
    };
    let offer = (N > 1 && profile == Profile::Native).then_some(window.min(N as u8));
    // The harness's grant and the window it makes (SPEC §10: ill-formed options are ignored).
    let (grant, granted) = match (offer, (setup >> tx_setup::GRANT_SHIFT) & 7) {
        (None, _) => (Vec::new(), 1),
        (Some(offer), 0 | 1) => (vec![2, 1, offer], usize::from(offer)),
        (Some(offer), 2) => (vec![2, 1, 2], 2.min(usize::from(offer))),
        (Some(offer), 3) => (vec![2, 1, 3.min(offer)], usize::from(3.min(offer))),
        (Some(_), 4) => (Vec::new(), 1),
        (Some(offer), 5) => (vec![2, 1, offer + 1], 1),
        (Some(_), 6) => (vec![2, 1, 1], 1),
        (Some(offer), _) => (vec![2, 5, offer], 1),
    };
    let mut world: TxWorld<N> = TxWorld {
        tx: SourceSender::new(Sender::new(config, PEER, Instant::ZERO), &pattern[..]),
        offer,
        grant,
        window: 1,
        data_frames: Default::default(),
        acked: 0,
        got: Default::default(),
        peer_acked: 0,
        granted,
        open: false,
        shown: Default::default(),
        profile,
        transfer_size,
        pattern: &pattern,
        idle: config.timing.idle_timeout,
        now: Instant::ZERO,
        answer_conn,
        answer_risn,
        conn: None,
        syn_seq: None,
        refusable: false,
        prev: None,
        prev_acked: false,
        sent_bytes: 0,
        finished: false,
        rejected: false,
        done: false,
        last_recv: Instant::ZERO,
        answers: VecDeque::new(),
        outcome: Outcome::default(),
    };
    world.drain();
    assert!(world.prev.is_some(), "no SYN");

    while !input.is_empty() {
        let op = input.u8();
        match op & 7 {
            0..=2 => world.good(op),
            tx_op::MUTATED => {
                let (what, delta, extra) = (input.u8(), input.u8(), input.u8());
                world.mutated(what, delta, extra);
            }
            tx_op::RAW => {
                let datagram = input.datagram();
                world.deliver(endpoint_of(op), datagram);
            }
            tx_op::WAIT => world.wait(WAIT_UNIT.saturating_mul(u64::from(input.u8()))),
            tx_op::WAIT_LONG => world.wait(WAIT_LONG_UNIT.saturating_mul(u64::from(input.u8()))),
            _ if op == tx_op::STOP => world.stop(input.u8()),
            _ => {
                let pick = usize::from(input.u8());
                if !world.answers.is_empty() {
                    let (from, answer) = world.answers[pick % world.answers.len()].clone();
                    world.deliver(from, &answer);
                }
            }
        }
    }
    world.outcome
}

impl<const N: usize> TxWorld<'_, N> {
    fn conn_risn(&self) -> (u16, SeqNum) {
        self.conn.unwrap_or((self.answer_conn, self.answer_risn))
    }

    /// The right answer to the last frame sent (SPEC §3-§5): `None` before any.
    fn right_answer(&self, original_fin_ack: bool) -> Option<Vec<u8>> {
        let p = self.prev.as_ref()?;
        let (conn, risn) = self.conn_risn();
        let flags = |bits: u16| Flags::from_bits(bits);
        let repr = match p.kind {
            Kind::Syn => {
                let repr = Repr {
                    seq: self.answer_risn,
                    ack: seq_plus(p.repr.seq, 1),
                    conn: self.answer_conn,
                    flags: flags(spec::SYN | spec::ACK),
                };
                return Some(frame_bytes(repr, &self.grant));
            }
            Kind::Data if self.open => return Some(self.window_answer(0).0),
            Kind::Data => Repr {
                seq: seq_plus(risn, 1),
                ack: seq_plus(p.repr.seq, p.data_len as i64),
                conn,
                flags: flags(spec::ACK),
            },
            // The original receiver's ACK|FIN: its `ack` is not END + 1 (SPEC §7).
            Kind::Fin if original_fin_ack && self.profile == Profile::Reference => {
                Repr { seq: seq_plus(risn, 1), ack: p.repr.seq, conn, flags: flags(spec::ACK | spec::FIN) }
            }
            Kind::Fin => Repr {
                seq: seq_plus(risn, 1),
                ack: seq_plus(p.repr.seq, 1),
                conn,
                flags: flags(spec::FIN | spec::ACK),
            },
            // The FIN|ACK again: the final ACK was lost.
            Kind::FinalAck => {
                Repr { seq: seq_plus(risn, 1), ack: p.repr.seq, conn, flags: flags(spec::FIN | spec::ACK) }
            }
        };
        Some(frame_bytes(repr, &[]))
    }

    /// Records the frames a sack shows, if the sender may take it (SPEC §10.1): relative to
    /// the ACK's cumulative ack, within `W`, all sent. (More permissive than the sender where
    /// it does not matter: a malformed list after the sack, any flags with ACK.)
    fn note_sack(&mut self, f: Frame<'_>) {
        let a = self.offset_of(f.repr.ack);
        if a < self.acked || a > self.sent_bytes {
            return;
        }
        let Some(value) = option_value(f.payload, 4).filter(|v| (1..=8).contains(&v.len())) else { return };
        let mut bytes = [0u8; 8];
        bytes[..value.len()].copy_from_slice(value);
        let bitmap = u64::from_le_bytes(bytes);
        let highest = 64 - bitmap.leading_zeros() as usize;
        if bitmap == 0 || highest >= self.window || a + highest * spec::MAX_PAYLOAD >= self.sent_bytes {
            return;
        }
        for k in 1..=highest {
            if bitmap >> (k - 1) & 1 != 0 {
                self.shown.insert(a + k * spec::MAX_PAYLOAD);
            }
        }
    }

    /// Data offset of a data frame's `seq`.
    fn offset_of(&self, seq: SeqNum) -> usize {
        let first = self.isn().map_or(0, |isn| seq_plus(isn, 1).get());
        ((i64::from(seq.get()) - i64::from(first)).rem_euclid(i64::from(spec::MAX_SEQ))) as usize
    }

    /// The sender's ISN, once its SYN was seen.
    fn isn(&self) -> Option<SeqNum> {
        self.syn_seq
    }

    /// With a window: the harness's receiver takes one data frame in flight, the one `pick`
    /// names (0: the oldest it does not have; `k`: the frame `k` places above its cumulative
    /// ack, if sent), and answers with its cumulative ack and the `sack` of the frames it
    /// holds above it (SPEC §10.1). Returns the answer and the frame taken.
    fn window_answer(&self, pick: usize) -> (Vec<u8>, Option<usize>) {
        let (conn, risn) = self.conn_risn();
        let base = self.peer_acked.max(self.acked);
        let above = |o: &usize| *o >= base;
        let mut got: Vec<usize> = self.got.iter().copied().filter(above).collect();
        let wanted = base + pick * spec::MAX_PAYLOAD;
        let take = if pick > 0 && self.data_frames.contains_key(&wanted) {
            Some(wanted)
        } else {
            self.data_frames.keys().copied().filter(above).find(|o| !got.contains(o))
        };
        got.extend(take);
        let mut ack = base;
        while got.contains(&ack) {
            let len = self.data_frames.get(&ack).map_or(0, |f| f.len() - spec::HEADER_LEN);
            if len == 0 {
                break;
            }
            ack += len;
        }
        let mut bitmap = 0u64;
        for &o in &got {
            let k = o.saturating_sub(ack) / spec::MAX_PAYLOAD;
            if o > ack && k < self.window {
                bitmap |= 1 << (k - 1);
            }
        }
        let repr = Repr {
            seq: seq_plus(risn, 1),
            ack: seq_plus(self.syn_seq.unwrap_or(SeqNum::ZERO), 1 + ack as i64),
            conn,
            flags: Flags::from_bits(spec::ACK),
        };
        (frame_bytes(repr, &sack_option(bitmap)), take)
    }

    fn good(&mut self, op: u8) {
        if self.open && self.prev.as_ref().is_some_and(|p| p.kind == Kind::Data) && !self.done {
            let (answer, take) = self.window_answer(usize::from((op >> 3) & 7));
            let from = if op & tx_op::WRONG_PEER != 0 { 1 + (op >> 3) % (ENDPOINTS - 1) } else { PEER };
            let advances =
                from == PEER && wire::decode(&answer).is_ok_and(|f| self.offset_of(f.repr.ack) > self.acked);
            if from == PEER {
                self.got.extend(take);
            }
            let ack = wire::decode(&answer).map_or(0, |f| self.offset_of(f.repr.ack));
            let (events, _) = self.deliver(from, &answer);
            if from == PEER {
                self.peer_acked = self.peer_acked.max(ack);
            }
            if advances {
                let acknowledged = events.iter().any(|e| matches!(e, SenderEvent::Acknowledged { .. }));
                assert!(acknowledged, "a right cumulative ack was not accepted (events {events:?})");
            }
            return;
        }
        let Some(answer) = self.right_answer(op & tx_op::ORIGINAL_FIN_ACK != 0) else { return };
        let from = if op & tx_op::WRONG_PEER != 0 { 1 + (op >> 3) % (ENDPOINTS - 1) } else { PEER };
        let expect = (from == PEER && !self.done).then(|| self.prev.as_ref().map(|p| p.kind)).flatten();
        let (events, repeats) = self.deliver(from, &answer);
        let accepted = match expect {
            None => true,
            Some(Kind::Syn) => events.iter().any(|e| matches!(e, SenderEvent::Connected { .. })),
            Some(Kind::Data) => events.iter().any(|e| matches!(e, SenderEvent::Acknowledged { .. })),
            Some(Kind::Fin) => events.contains(&SenderEvent::Finished),
            Some(Kind::FinalAck) => repeats == 1,
        };
        assert!(accepted, "the right answer to a {expect:?} was not accepted (events {events:?})");
    }

    fn mutated(&mut self, what: u8, delta: u8, extra: u8) {
        let Some(mut answer) = self.right_answer(false) else { return };
        let mut from = PEER;
        // Past MAX_SEQ, or below 0 as a u32: such a field does not decode.
        let add = |field: &mut [u8], delta: u8| {
            let value = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
            field.copy_from_slice(&value.wrapping_add_signed(small_delta(delta) as i32).to_le_bytes());
        };
        let base = if self.offer.is_some() { 16 } else { 8 };
        let kind = what % (base + tx_op::REFUSALS);
        if kind >= base {
            let (from, refusal) = self.refusal(kind - base, delta, extra);
            self.deliver(from, &refusal);
            return;
        }
        match kind {
            0 => add(&mut answer[0..4], delta),
            1 => add(&mut answer[4..8], delta),
            2 => {
                let conn = match extra & 1 {
                    0 => 0,
                    _ => u16::from_le_bytes([answer[8], answer[9]]) ^ u16::from_le_bytes([delta, extra]),
                };
                answer[8..10].copy_from_slice(&conn.to_le_bytes());
            }
            3 => answer[10..12].copy_from_slice(&u16::from(extra & 7).to_le_bytes()),
            4 => {
                let flags = u16::from_le_bytes([answer[10], answer[11]]) | (u16::from(extra) << 3);
                answer[10..12].copy_from_slice(&flags.to_le_bytes());
            }
            5 => answer.extend_from_slice(&filler(usize::from(extra), delta)),
            6 => answer.truncate(usize::from(extra) % spec::HEADER_LEN),
            7 => from = 1 + delta % (ENDPOINTS - 1),
            // With a window (SPEC §10.1): sacks the sender must ignore, or take with care.
            _ => {
                let w = self.window.max(1);
                answer.truncate(spec::HEADER_LEN);
                let in_flight = self.data_frames.range(self.acked..).count();
                let (option, ack_move) = match what % 16 {
                    // A frame at k ≥ W.
                    8 => (sack_option(1 << ((w - 1 + usize::from(extra % 8)) % 64)), 0),
                    // A frame not sent (k ≥ frames in flight).
                    9 => (sack_option(1 << ((in_flight.max(1) - 1 + usize::from(extra % 4)) % 64)), 0),
                    // Malformed: empty, too long, running past the end.
                    10 => match extra % 3 {
                        0 => (vec![4, 0], 0),
                        1 => (vec![4, 9, delta, 1, 2, 3, 4, 5, 6, 7, 8], 0),
                        _ => (vec![4, 8, delta], 0),
                    },
                    // A cumulative ack beyond what was sent, with a sack.
                    11 => (sack_option(u64::from(delta)), 1 + i64::from(extra % 4)),
                    // Any bitmap of one or two bytes.
                    12 => (vec![4, 1 + extra % 2, delta, extra], 0),
                    // A cumulative ack one frame back (old), with a sack.
                    13 => (sack_option(u64::from(delta)), -1),
                    // An unknown option first, then a sack.
                    14 => ([&[9, 1, extra][..], &sack_option(u64::from(delta))].concat(), 0),
                    // The sack repeated: only the first counts.
                    _ => ([sack_option(u64::from(delta)), sack_option(u64::from(extra))].concat(), 0),
                };
                if ack_move != 0 {
                    let ack = u32::from_le_bytes([answer[4], answer[5], answer[6], answer[7]]);
                    let moved = seq_plus(seq_of(ack), ack_move * spec::MAX_PAYLOAD as i64).get();
                    answer[4..8].copy_from_slice(&moved.to_le_bytes());
                }
                answer.extend_from_slice(&option);
            }
        }
        self.deliver(from, &answer);
    }

    /// The sender's cumulative ack point `A` (the `seq` of its oldest unacknowledged frame, or
    /// of the next one when none is in flight) and the next sequence number it has not sent,
    /// while it is connected and its FIN is not answered; `None` otherwise.
    fn unacked_span(&self) -> Option<(SeqNum, SeqNum)> {
        if self.done || self.finished || self.rejected || self.conn.is_none() {
            return None;
        }
        let p = self.prev.as_ref()?;
        let first = seq_plus(self.syn_seq?, 1);
        Some(match p.kind {
            // Connected, the third frame not sent yet.
            Kind::Syn => (first, first),
            Kind::Data if self.open => {
                (seq_plus(first, self.acked as i64), seq_plus(first, self.sent_bytes as i64))
            }
            Kind::Data => {
                let end = seq_plus(p.repr.seq, p.data_len as i64);
                (if self.prev_acked { end } else { p.repr.seq }, end)
            }
            Kind::Fin => (p.repr.seq, seq_plus(p.repr.seq, 1)),
            Kind::FinalAck => return None,
        })
    }

    /// The reason byte of `f` from `from` if it is a refusal the sender must take (SPEC
    /// §10.4): to a sender whose SYN offered an extension, that is not done, from the peer, a
    /// well-formed `refuse` anywhere in a well-formed option list, and (a) before a `conn` is
    /// adopted, in a SYN|ACK with `seq = 0`, `ack = ISN+1` and `conn = 0`; or (b) while
    /// connected and until the FIN is answered, in a frame with ACK set and SYN clear, with
    /// its `conn`, `seq = RISN+1` and an `ack` from `A` to the next sequence number not sent.
    fn refusal_taken(&self, from: Endpoint, f: &Frame<'_>) -> Option<u8> {
        if from != PEER || !self.refusable || self.done {
            return None;
        }
        let code = refuse_code(f.payload)?;
        let repr = f.repr;
        let flags = repr.flags.bits();
        let taken = match self.conn {
            None => {
                self.syn_seq.is_some_and(|isn| repr.ack == seq_plus(isn, 1))
                    && flags == spec::SYN | spec::ACK
                    && repr.seq == SeqNum::ZERO
                    && repr.conn == 0
            }
            Some((conn, risn)) => self.unacked_span().is_some_and(|(a, next)| {
                flags & spec::ACK != 0
                    && flags & spec::SYN == 0
                    && repr.conn == conn
                    && repr.seq == seq_plus(risn, 1)
                    && seq_distance(repr.ack, a) <= seq_distance(next, a)
            }),
        };
        taken.then_some(code)
    }

    /// A refusal of kind `r` (0..[`tx_op::REFUSALS`]) for [`tx_op::MUTATED`], and the endpoint
    /// it comes from. Its header is SPEC §10.4's for the sender's state: before a `conn` is
    /// adopted a SYN|ACK with `seq = 0`, `ack = ISN+1`, `conn = 0`; afterwards an ACK with
    /// `seq = RISN+1`, the `conn`, and an `ack` from `A - 1` to one past the next sequence
    /// number not sent (`delta` picks it). Kind 0: that, with the reason `extra` (any byte);
    /// 1: with one thing changed (`extra % 5`: seq, conn, FIN|ACK, SYN|ACK or ACK alone, the
    /// other state's form); 2: in another option list (`extra % 6`: after a sack, after an
    /// unknown type, of length 2, before a malformed option, after the list's end, twice);
    /// 3: from another endpoint.
    fn refusal(&self, r: u8, delta: u8, extra: u8) -> (Endpoint, Vec<u8>) {
        let reason = 1 + delta % 6;
        let isn = self.syn_seq.unwrap_or(SeqNum::ZERO);
        let (conn, risn) = self.conn_risn();
        let (a, next) = self
            .unacked_span()
            .or_else(|| self.prev.as_ref().map(|p| (p.repr.seq, seq_plus(p.repr.seq, 1))))
            .unwrap_or((SeqNum::ZERO, SeqNum::ZERO));
        let span = i64::from(seq_distance(next, a));
        let ack = seq_plus(a, i64::from(delta) % (span + 3) - 1);
        let syn_ack_form = |conn| Repr {
            seq: SeqNum::ZERO,
            ack: seq_plus(isn, 1),
            conn,
            flags: Flags::from_bits(spec::SYN | spec::ACK),
        };
        let ack_form = Repr { seq: seq_plus(risn, 1), ack, conn, flags: Flags::from_bits(spec::ACK) };
        let connected = self.conn.is_some();
        let mut repr = if connected { ack_form } else { syn_ack_form(0) };
        let mut from = PEER;
        let payload = match r {
            0 => refuse_option(extra).to_vec(),
            1 => {
                match extra % 5 {
                    0 => repr.seq = seq_plus(repr.seq, small_delta(delta)),
                    1 if connected => {
                        repr.conn = if delta & 1 == 0 { 0 } else { conn ^ u16::from(delta | 1) }
                    }
                    // A SYN|ACK with a conn: no refusal, and `refuse` grants nothing.
                    1 => repr.conn = self.answer_conn,
                    2 => repr.flags = Flags::from_bits(spec::FIN | spec::ACK),
                    3 if connected => repr.flags = Flags::from_bits(spec::SYN | spec::ACK),
                    3 => repr.flags = Flags::from_bits(spec::ACK),
                    // Connected: a conn-0 refusal comes too late; not yet: one of a connection.
                    _ if connected => repr = syn_ack_form(0),
                    _ => {
                        repr = Repr { seq: seq_plus(self.answer_risn, 1), conn: self.answer_conn, ..ack_form }
                    }
                }
                refuse_option(reason).to_vec()
            }
            2 => match extra % 6 {
                0 => vec![4, 1, delta, spec::REFUSE, 1, reason],
                1 => vec![11, 1, delta, spec::REFUSE, 1, reason],
                2 => vec![spec::REFUSE, 2, reason, reason],
                3 => vec![spec::REFUSE, 1, reason, 4, 9],
                4 => vec![0, spec::REFUSE, 1, reason],
                _ => vec![spec::REFUSE, 1, reason, spec::REFUSE, 1, delta],
            },
            _ => {
                from = 1 + delta % (ENDPOINTS - 1);
                refuse_option(extra).to_vec()
            }
        };
        (from, frame_bytes(repr, &payload))
    }

    /// [`tx_op::STOP`]: the application stops the transfer with the error `byte` picks. Once
    /// connected and until its FIN is answered, a sender whose SYN offered an extension sends
    /// one abandoning FIN (SPEC §10.4): FIN alone, `seq` the next sequence number not sent,
    /// `ack = RISN+1`, its `conn`, the `refuse` with the reason SPEC gives the error. Then, and
    /// otherwise at once, it sends nothing more and is done. Not once it is over or its FIN was
    /// answered.
    fn stop(&mut self, byte: u8) {
        if self.done || self.finished || self.rejected {
            return;
        }
        let error = stop_error(byte);
        let abandoning_fin = match (self.unacked_span(), self.conn) {
            (Some((_, next)), Some((conn, risn))) if self.refusable => {
                let repr =
                    Repr { seq: next, ack: seq_plus(risn, 1), conn, flags: Flags::from_bits(spec::FIN) };
                Some(frame_bytes(repr, &refuse_option(stop_reason(error))))
            }
            _ => None,
        };
        let event = self.tx.abort(error);
        assert_eq!(event, SenderEvent::Failed(error), "abort reports another failure");
        let sent = self.tx.poll_transmit(self.now).map(|t| {
            assert_eq!(t.trace.direction, Direction::Send);
            assert_eq!(Ok(t.trace.header.expect("frames decode")), wire::decode(t.datagram).map(|f| f.repr));
            (t.to, t.datagram.to_vec(), t.trace.dup)
        });
        assert!(self.tx.poll_transmit(self.now).is_none(), "more than one frame on an abort");
        match (sent, abandoning_fin) {
            (Some((to, bytes, dup)), Some(want)) => {
                assert_eq!(to, PEER, "an abandoning FIN to another endpoint than the peer");
                assert_eq!(bytes, want, "an abandoning FIN other than SPEC §10.4's");
                assert!(!dup, "an abandoning FIN traced DUP");
            }
            (None, None) => {}
            (Some(_), None) => panic!("a frame on an abort where SPEC §10.4 sends none"),
            (None, Some(_)) => panic!("no abandoning FIN to a receiver that understands one"),
        }
        self.done = true;
        assert!(self.tx.is_done(), "not done after an abort");
        assert!(!self.tx.has_succeeded(), "succeeded after an abort");
        assert_eq!(self.tx.poll_timeout(), None, "a timer after an abort");
    }

    /// Whether `frame` from `from` acknowledges the last frame sent, by SPEC's rules.
    fn acknowledges_prev(&self, from: Endpoint, frame: &Frame<'_>) -> bool {
        let Some(p) = &self.prev else { return false };
        let repr = frame.repr;
        let flags = repr.flags.bits();
        let right_conn = self.conn.is_some_and(|(conn, _)| conn == repr.conn);
        let is_ack = flags & spec::ACK != 0 && flags & spec::SYN == 0;
        from == PEER
            && match p.kind {
                Kind::Syn => {
                    flags == spec::SYN | spec::ACK && repr.ack == seq_plus(p.repr.seq, 1) && repr.conn != 0
                }
                Kind::Data => {
                    right_conn
                        && is_ack
                        && flags & spec::FIN == 0
                        && repr.ack == seq_plus(p.repr.seq, p.data_len as i64)
                }
                Kind::Fin => {
                    right_conn
                        && is_ack
                        && (repr.ack == seq_plus(p.repr.seq, 1)
                            || (self.profile == Profile::Reference && flags & spec::FIN != 0))
                }
                Kind::FinalAck => false,
            }
    }

    /// The sender takes `datagram` from `from`, then is drained; returns its events and how
    /// many repeated frames it sent.
    fn deliver(&mut self, from: Endpoint, datagram: &[u8]) -> (Vec<SenderEvent>, usize) {
        push_history(&mut self.answers, from, datagram);
        let decoded = wire::decode(datagram);
        if let Ok(f) = decoded
            && self.open
            && from == PEER
            && self.conn.is_some_and(|(conn, _)| conn == f.repr.conn)
            && f.repr.flags.bits() & spec::ACK != 0
        {
            self.note_sack(f);
        }
        let acknowledges = decoded.is_ok_and(|f| self.acknowledges_prev(from, &f));
        let has_payload = decoded.is_ok_and(|f| !f.payload.is_empty());
        // SPEC §10.4: a refusal the sender must take, before anything else about the reply.
        let refusal = decoded.ok().and_then(|f| self.refusal_taken(from, &f));
        let was_done = self.done;
        let handled = self.tx.handle_datagram(self.now, from, datagram);
        assert_eq!(handled.trace.header, decoded.map(|f| f.repr), "the trace shows another header");
        assert_ne!(handled.trace.direction, Direction::Send);
        if decoded.is_err() {
            assert_eq!(handled.trace.reason, Some(DropReason::Malformed));
        }
        if handled.trace.direction == Direction::Recv {
            self.last_recv = self.now;
        }
        if was_done {
            assert!(handled.events.is_empty(), "events after the end: {:?}", handled.events);
        }
        let events: Vec<SenderEvent> = handled.events.iter().copied().collect();
        if let Some(code) = refusal {
            assert_eq!(
                events,
                [SenderEvent::Failed(Error::Refused(refuse_reason(code)))],
                "a refusal not taken (SPEC §10.4)"
            );
        }
        let mut connected_now = false;
        for &event in &events {
            let kind = self.prev.as_ref().map(|p| p.kind);
            match event {
                SenderEvent::Connected { conn } => {
                    assert!(
                        kind == Some(Kind::Syn) && acknowledges,
                        "connected by an answer that is not the SYN|ACK"
                    );
                    assert!(self.conn.is_none(), "connected twice");
                    let repr = decoded.expect("checked").repr;
                    assert_eq!(conn, repr.conn);
                    self.conn = Some((conn, repr.seq));
                    self.prev_acked = true;
                    connected_now = true;
                    self.outcome.connected = true;
                    // The window this SYN|ACK grants (SPEC §10): a well-formed list, a
                    // one-byte window in 2..=offer; anything else is ignored or fails.
                    let payload = decoded.map_or(&[][..], |f| f.payload);
                    self.window = match (self.offer, option_value(payload, 2)) {
                        (Some(offer), Some(&[w]))
                            if options_well_formed(payload) && (2..=offer).contains(&w) =>
                        {
                            usize::from(w)
                        }
                        _ => 1,
                    };
                    self.outcome.windowed = self.window >= 2;
                    if payload == &self.grant[..] {
                        assert_eq!(self.window, self.granted, "the harness's grant makes another window");
                    }
                }
                SenderEvent::Acknowledged { bytes } if self.open => {
                    // SPEC §10.1: a cumulative ack from the peer, on a frame boundary of data
                    // sent, covering exactly `bytes` more.
                    let f = decoded.expect("checked");
                    let flags = f.repr.flags.bits();
                    assert!(kind == Some(Kind::Data), "acknowledged after the data");
                    assert_eq!(from, PEER, "acknowledged by another endpoint");
                    assert_eq!(Some(f.repr.conn), self.conn.map(|c| c.0), "acknowledged on another conn");
                    assert_eq!(
                        flags & (spec::SYN | spec::FIN | spec::ACK),
                        spec::ACK,
                        "acknowledged by a non-ACK"
                    );
                    let at = self.offset_of(f.repr.ack);
                    assert_eq!(
                        at,
                        self.acked + usize::from(bytes),
                        "Acknowledged other than the ack's advance"
                    );
                    assert!(bytes > 0 && at <= self.sent_bytes, "an ack of data not sent");
                    assert!(
                        at == self.sent_bytes || self.data_frames.contains_key(&at),
                        "an ack inside a frame was taken"
                    );
                    self.acked = at;
                    self.prev_acked = self.acked == self.sent_bytes;
                }
                SenderEvent::Acknowledged { bytes } => {
                    let p = self.prev.as_ref().expect("checked");
                    if self.window >= 2 {
                        self.open = true;
                        self.acked = p.data_len;
                    }
                    assert!(
                        kind == Some(Kind::Data) && acknowledges,
                        "acknowledged by an answer that is not the ACK"
                    );
                    assert!(!self.prev_acked, "acknowledged twice");
                    assert_eq!(usize::from(bytes), p.data_len);
                    self.prev_acked = true;
                }
                SenderEvent::Finished => {
                    assert!(
                        kind == Some(Kind::Fin) && acknowledges,
                        "success claimed on an answer that does not acknowledge the FIN"
                    );
                    assert!(!self.finished && !self.rejected, "finished twice");
                    self.finished = true;
                    self.prev_acked = true;
                    self.outcome.completed = true;
                }
                SenderEvent::Failed(Error::Refused(reason)) => {
                    // SPEC §10.4: taken where it must be (checked above), and only there; the
                    // sender sends nothing more.
                    let code = refusal.expect("a refusal taken where SPEC §10.4 says to ignore it");
                    assert_eq!(reason, refuse_reason(code), "a refusal's reason taken as another one");
                    self.done = true;
                }
                SenderEvent::Failed(error) => {
                    // An extension's verdict (SPEC §10): a grant not offered, in the SYN|ACK
                    // that connected; a rejection, in the FIN's answer (the close goes on).
                    assert!(!is_basic_error(error), "{error:?} from a datagram");
                    assert!(has_payload, "{error:?} on an answer without a payload");
                    if connected_now {
                        self.done = true;
                    } else {
                        assert!(kind == Some(Kind::Fin) && acknowledges, "{error:?} on an answer to no FIN");
                        assert!(!self.finished && !self.rejected, "rejected after the FIN's answer");
                        self.rejected = true;
                        self.prev_acked = true;
                    }
                }
                SenderEvent::Closed => panic!("closed by a datagram"),
                #[allow(unreachable_patterns)]
                other => panic!("an event this harness does not know: {other:?}"),
            }
        }
        let repeats = self.drain();
        (events, repeats)
    }

    /// Takes what the sender sends, checking each frame; returns how many were repeats.
    fn drain(&mut self) -> usize {
        let mut sent = 0;
        let mut repeats = 0;
        while let Some(t) = self.tx.poll_transmit(self.now) {
            sent += 1;
            if self.window >= 2 {
                assert!(sent <= self.window, "more than W frames from one call");
            } else {
                assert!(sent <= 1, "more than one frame from one call: one frame in flight");
            }
            assert!(!self.done, "a frame after the end");
            assert_eq!(t.to, PEER, "a frame to another endpoint than the peer");
            assert_eq!(t.trace.direction, Direction::Send);
            let bytes = t.datagram.to_vec();
            let dup = t.trace.dup;
            let frame = wire::decode(&bytes).expect("the sender sends frames that decode");
            assert_eq!(t.trace.header, Ok(frame.repr));
            if self.profile == Profile::Reference {
                assert_eq!(bytes.len(), spec::MAX_FRAME, "a reference frame not padded to 524 bytes");
            }
            let data_phase = self.prev.as_ref().is_some_and(|p| p.kind == Kind::Data);
            let offset = self.offset_of(frame.repr.seq);
            if self.prev.as_ref().is_some_and(|p| p.bytes == bytes) {
                assert!(dup, "a repeated frame not traced DUP");
                repeats += 1;
            } else if self.window >= 2 && data_phase && self.data_frames.get(&offset) == Some(&bytes) {
                // SPEC §10.1: an earlier frame in flight again, exactly as sent.
                assert!(dup, "a repeated frame not traced DUP");
                assert!(offset >= self.acked, "a retransmission of acknowledged data");
                // Above `A`, only a fast retransmission (a timeout sends the oldest frame).
                assert!(
                    offset == self.acked || self.shown.range(offset + 1..).next().is_some(),
                    "a frame above A sent again without a valid sack showing one above it"
                );
                repeats += 1;
            } else {
                assert!(!dup, "a new frame traced DUP");
                self.check_new_frame(frame, &bytes);
            }
        }
        if self.conn.is_some() && !self.done {
            assert_eq!(usize::from(self.tx.window()), self.window, "window() disagrees with the grant");
        }
        repeats
    }

    fn check_new_frame(&mut self, frame: Frame<'_>, bytes: &[u8]) {
        let repr = frame.repr;
        let flags = repr.flags.bits();
        let zeros = |payload: &[u8]| payload.iter().all(|&b| b == 0);
        let reference = self.profile == Profile::Reference;
        let (kind, data_len) = match &self.prev {
            None => {
                assert_eq!((flags, repr.ack, repr.conn), (spec::SYN, SeqNum::ZERO, 0), "not a SYN first");
                if reference {
                    assert_eq!(repr.seq.get(), spec::REFERENCE_ISN, "a reference ISN other than 42");
                    assert!(zeros(frame.payload), "a reference SYN with options");
                } else {
                    let mut options = Vec::new();
                    if self.transfer_size {
                        options.extend_from_slice(&[1, 8]);
                        options.extend_from_slice(&(self.pattern.len() as u64).to_le_bytes());
                    }
                    if let Some(offer) = self.offer {
                        options.extend_from_slice(&[2, 1, offer]);
                    }
                    assert_eq!(frame.payload, &options[..], "SYN options other than the transfer size");
                }
                self.syn_seq = Some(repr.seq);
                self.refusable = offers_extension(frame.payload);
                (Kind::Syn, 0)
            }
            Some(p) => {
                if self.open && p.kind == Kind::Data && self.sent_bytes < self.pattern.len() {
                    // SPEC §10.1: within the window.
                    let at = self.sent_bytes;
                    assert!(at < self.acked + self.window * spec::MAX_PAYLOAD, "a frame beyond A + W·512");
                    let in_flight = self.data_frames.range(self.acked..).count() + 1;
                    assert!(in_flight <= self.window, "more than W data frames unacknowledged");
                } else {
                    assert!(self.prev_acked, "a new frame while the {:?} is unacknowledged", p.kind);
                }
                let (conn, risn) = self.conn.expect("acknowledged SYN");
                assert_eq!(repr.conn, conn, "a frame with another connection id");
                match p.kind {
                    Kind::Syn | Kind::Data => {
                        let start = match p.kind {
                            Kind::Syn => seq_plus(p.repr.seq, 1),
                            _ => seq_plus(p.repr.seq, p.data_len as i64),
                        };
                        assert_eq!(repr.seq, start, "a frame that does not start where the last one ended");
                        let left = self.pattern.len() - self.sent_bytes;
                        if p.kind == Kind::Data && left == 0 {
                            assert_eq!((flags, repr.ack), (spec::FIN, seq_plus(risn, 1)), "not the FIN");
                            assert!(zeros(frame.payload), "a FIN with a payload");
                            (Kind::Fin, 0)
                        } else {
                            let (want_flags, want_ack) = match (self.profile, p.kind) {
                                (Profile::Reference, Kind::Data) => (0, SeqNum::ZERO),
                                _ => (spec::ACK, seq_plus(risn, 1)),
                            };
                            assert_eq!(
                                (flags, repr.ack),
                                (want_flags, want_ack),
                                "a data frame's flags or ack"
                            );
                            let data =
                                if reference { strip_trailing_zeros(frame.payload) } else { frame.payload };
                            let n = left.min(spec::MAX_PAYLOAD);
                            assert_eq!(data.len(), n, "a data frame not filled to 512 bytes");
                            assert!(
                                data == &self.pattern[self.sent_bytes..self.sent_bytes + n],
                                "a data frame with other bytes than the source's next ones"
                            );
                            self.sent_bytes += n;
                            (Kind::Data, n)
                        }
                    }
                    Kind::Fin => {
                        assert!(self.finished || self.rejected, "the final ACK before the FIN's answer");
                        let want_flags = if reference { spec::ACK | spec::FIN } else { spec::ACK };
                        assert_eq!(
                            (repr.seq, repr.ack, flags),
                            (seq_plus(p.repr.seq, 1), seq_plus(risn, 2), want_flags),
                            "not the final ACK"
                        );
                        assert!(zeros(frame.payload), "a final ACK with a payload");
                        (Kind::FinalAck, 0)
                    }
                    Kind::FinalAck => panic!("a new frame after the final ACK"),
                }
            }
        };
        if kind == Kind::Data && self.window >= 2 {
            self.data_frames.insert(self.offset_of(repr.seq), bytes.to_vec());
        }
        self.prev = Some(Sent { bytes: bytes.to_vec(), repr, kind, data_len });
        self.prev_acked = false;
    }

    fn wait(&mut self, span: Duration) {
        let was_done = self.done;
        self.now = self.now + span;
        let answered = self.finished || self.rejected;
        let idle = !was_done && !answered && self.now >= self.last_recv + self.idle;
        match self.tx.handle_timeout(self.now) {
            None => assert!(!idle, "no failure after the idle timeout"),
            Some(SenderEvent::Failed(Error::IdleTimeout)) => {
                assert!(idle, "an idle failure before the idle timeout, or after the FIN's answer");
                self.done = true;
            }
            Some(SenderEvent::Closed) => {
                assert!(!was_done && answered, "closed before the FIN's answer");
                self.done = true;
            }
            Some(other) => panic!("{other:?} on a timer"),
        }
        self.drain();
        match self.tx.poll_timeout() {
            Some(at) => assert!(at > self.now && !self.done, "the next timeout is not in the future"),
            None => assert!(self.done, "no timer while not done"),
        }
        assert_eq!(self.tx.is_done(), self.done, "is_done disagrees with the events");
        assert_eq!(self.tx.has_succeeded(), self.finished, "has_succeeded disagrees with the events");
    }
}
