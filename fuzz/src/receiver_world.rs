//! The `receiver` target: a [`Receiver`] driven by a scripted sender
//! ([`Script`]) and junk, checked at every step against the harness's own model of SPEC
//! §3-§5, §10.1 and §10.4's refusals; and its input format ([`rx_op`], [`rx_setup`]).

use rudp_nostd::blocking::SinkReceiver;
use rudp_nostd::wire::{self, Frame, Repr};
use rudp_nostd::{Direction, DropReason};
use rudp_nostd::{
    Duration, Engine, Error, Instant, Profile, Receiver, ReceiverConfig, ReceiverEvent, SeqNum,
};

use super::Outcome;
use super::input::Cursor;
use super::scripted_sender::Script;
use super::spec::{
    self, announced_size, frame_bytes, offers_extension, option_value, raw_frame, refuse_code, refuse_option,
    refuse_reason, sack_option, seq_distance, seq_of, seq_plus, stop_reason, strip_trailing_zeros,
};
use super::world::{
    Endpoint, MAX_PATTERN, PEER, WAIT_LONG_UNIT, WAIT_UNIT, endpoint_of, filler, is_basic_error, pattern,
    small_delta, stop_error,
};

/// The receiver target's op codes: the low 3 bits of an op byte.
pub mod rx_op {
    /// The scripted sender sends its current frame (again). Also 1 and 2, to weight it.
    /// Bit 7 ([`LOST_REPLY`]): the receiver's answer is lost.
    pub const SEND: u8 = 0;
    /// One byte: an earlier scripted frame again (a network duplicate).
    pub const DUPLICATE: u8 = 3;
    /// One byte: the application stops the transfer ([`Receiver::abort`](rudp_nostd::Receiver::abort))
    /// with the error the byte picks (see `world::stop_error`), unless it is over
    /// or its FIN was taken. [`DUPLICATE`] with bit 7 set.
    pub const STOP: u8 = DUPLICATE | 0x80;
    /// Junk from endpoint `(op >> 3) & 3`: a datagram ([`Cursor::datagram`](super::Cursor::datagram)).
    pub const RAW: u8 = 4;
    /// A frame from endpoint `(op >> 3) & 3` with fields near the connection's: 9 bytes
    /// (selector, seq delta, ack delta, conn, flags, payload length / 2, fill).
    pub const FORGED: u8 = 5;
    /// One byte: time passes, `byte * 4 ms`.
    pub const WAIT: u8 = 6;
    /// One byte: time passes, `byte * 64 ms`.
    pub const WAIT_LONG: u8 = 7;
    /// [`SEND`]'s flag: the answer is lost.
    pub const LOST_REPLY: u8 = 0x80;
}

/// The receiver target's set-up byte.
pub mod rx_setup {
    /// The reference profile.
    pub const REFERENCE: u8 = 1;
    /// The scripted SYN announces the transfer size (native).
    pub const TRANSFER_SIZE: u8 = 2;
    /// The sink holds half the scripted data (a failing sink).
    pub const SMALL_SINK: u8 = 4;
    /// Scripted data frames carry `1 + chunk % 512` bytes instead of 512 (without a window).
    pub const CHUNKED: u8 = 8;
    /// Bits 4-5: the window. 0: a stop-and-wait receiver (`R = 0`) and a script that offers
    /// none (SPEC §4 only); 1: `R = 3`; 2: `R = 31`; 3: `R = 0` asked for a window. Bits 6-7,
    /// with a window: the script's offer, 64, 2, 4 or 1.
    pub const WINDOW_SHIFT: u8 = 4;
}

/// A SYN|ACK the receiver sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct SynAck {
    to: Endpoint,
    repr: Repr,
    /// It granted an extension (it has a payload, SPEC §3.1).
    grants: bool,
    /// The window it granted (SPEC §10.1; 1: none).
    window: usize,
    /// The `transfer-size` its SYN announced (well formed, in a well-formed list), which
    /// binds the data in the native profile (SPEC §3.1).
    size: Option<u64>,
    /// Its SYN offered an extension (any option of type 2 or above, in a well-formed list):
    /// only then may it carry options (SPEC §3.1), and in the native profile the transfer may
    /// be refused (SPEC §10.4).
    offers: bool,
}

/// The connection, as the harness sees it.
#[derive(Clone, Copy, Debug)]
struct RxConnection {
    peer: Endpoint,
    conn: u16,
    risn: SeqNum,
    /// The next sequence number to deliver; everything before it is in `written`.
    rcv_nxt: SeqNum,
    /// An extension was granted in its handshake.
    grants: bool,
    /// The window granted in its handshake (1: none, SPEC §4).
    window: usize,
    /// The FIN's seq, once taken.
    fin: Option<SeqNum>,
    /// The FIN was answered with an extension's failure (a digest mismatch).
    rejected: bool,
    /// The size that binds the data (SPEC §3.1: native profile, announced in the SYN).
    size: Option<u64>,
    /// Data bytes delivered so far.
    received: u64,
    /// Its SYN offered an extension (native profile): the receiver tells it why it stops
    /// taking the transfer, and takes its abandoning FIN (SPEC §10.4).
    refusable: bool,
}

/// A refusal the receiver sent on the connection (SPEC §10.4): it answers every later frame of
/// the connection (its endpoint and `conn`) with the same ACK until an idle timeout after `at`,
/// then drops them and is done, with no further event.
#[derive(Clone, Debug)]
struct Refusal {
    /// The refusing ACK: `seq = RISN+1`, the cumulative `ack`, the `conn`, the `refuse` alone.
    datagram: Vec<u8>,
    at: Instant,
    /// It went out once: the copies after it are traced `DUP`.
    sent: bool,
}

/// The receiver under test, the script that drives it, and the harness's model of what the
/// receiver must have done so far.
struct RxWorld<'s, const W: usize> {
    rx: SinkReceiver<&'s mut [u8], Endpoint, W, 4>,
    /// The last delivery did not fit in the sink: a sink failure must follow. The sequence
    /// number of the first byte the receiver did not take (the frames written whole are
    /// taken), which a refusal acknowledges (SPEC §10.4).
    sink_overflow: Option<SeqNum>,
    /// The frames above `rcv_nxt` that the receiver must hold (SPEC §10.1), by `seq`: those
    /// in the window, from the peer, with a payload; the first copy of each.
    held: Vec<(SeqNum, Vec<u8>)>,
    profile: Profile,
    idle: Duration,
    now: Instant,
    script: Script,
    /// No junk datagram from the peer's endpoint has decoded: every frame from there is the
    /// script's, so what is delivered must be the pattern.
    clean: bool,
    syn_acks: Vec<SynAck>,
    conn: Option<RxConnection>,
    /// The connection was refused (SPEC §10.4): what the receiver answers its frames with.
    refused: Option<Refusal>,
    /// What the receiver must have written to its sink, in order.
    written: Vec<u8>,
    /// The last Connected, Delivered or Finished: the receiver heard the peer then.
    last_progress: Instant,
    done: bool,
    outcome: Outcome,
}

/// A Receiver (native or reference, as the input says) fed an arbitrary sequence of
/// datagrams from four endpoints and time steps. Endpoint 0 runs a well-behaved scripted
/// sender of a known pattern, interleaved with junk (raw bytes or forged frames) from any
/// endpoint, duplicates of old scripted frames, lost answers and time.
///
/// Checks, besides "never panics" (each against the harness's own model of SPEC §3-§5):
/// - `Connected` only on a frame matching a SYN|ACK the receiver sent to that endpoint;
/// - `Delivered { n }` only for a frame from the connected peer, with its conn, in order
///   (`seq == rcv_nxt`), `n` its payload (stripped of trailing zeros in the reference
///   profile), and the sink grows by exactly `n` bytes on that call and by nothing on any
///   other; at the end the sink holds exactly the delivered bytes, in order;
/// - `Finished` only on the in-order FIN from the peer; a sink failure only when the in-order
///   payload does not fit; `Closed` only after the FIN; the idle timeout only after 10 s
///   without progress; a verdict failure only where an extension was granted;
/// - every answer goes back to the datagram's sender, decodes, is 12 bytes to a script
///   that offers no extension, and is a SYN|ACK answering a SYN (`ack = seq + 1`), or an
///   ACK / FIN|ACK to the peer whose `ack` is exactly what was written (never acknowledged
///   before written); in-order data and the FIN are always answered; nothing is sent on a
///   timer, nor after the end;
/// - while no junk from endpoint 0 decodes, a connection with endpoint 0 delivers a prefix
///   of the pattern, all of it at `Finished`, and the script's FIN is acknowledged only then;
/// - `is_done` and `has_succeeded` agree with the events; the next timeout is in the future.
///
/// With a window (set-up bits 4-5, [`rx_setup::WINDOW_SHIFT`]), SPEC §10.1 on top:
/// - the SYN|ACK grants exactly `min(offer, W)` when that is 2 or more (native), and
///   nothing otherwise; a receiver with one payload slot (`W = 1`) never grants a window;
/// - the harness keeps its own reorder buffer: every frame from the peer, with its conn, in
///   the window (`seq = A + k·512`, `1 ≤ k < W`) and with a payload is held (first copy);
///   `Delivered { n }` only on the in-order frame, `n` its payload plus the held frames that
///   follow it in order (to the first short one), and the sink grows by exactly those bytes;
/// - every ACK's cumulative `ack` is what was written, and its payload is exactly the `sack`
///   of the frames held (none at `k ≥ W`, the shortest length); frames in the window and
///   below `A` are always answered;
/// - the scripted sender offers its window, sends the third frame alone, then frames within
///   the granted window out of order, with losses and duplicates, as the input picks.
///
/// Refusals (SPEC §10.4), for a connection whose SYN offered an extension (an option of type
/// 2 or above in a well-formed list; native profile only), on top:
/// - a length mismatch (reason 6), a sink failure (4) or the application's stop
///   ([`rx_op::STOP`]: the reason SPEC gives its error) is answered with a refusing ACK:
///   `seq = RISN+1`, `ack` the first byte not taken, its conn, the payload `08 01 reason`
///   exactly, not traced DUP; every later frame of the connection (its endpoint and conn, not
///   a SYN) gets the same bytes, traced DUP, and nothing else is answered, no event comes,
///   until an idle timeout after the refusal; then the receiver is done, without an event;
/// - an abandoning FIN (FIN set, a well-formed `refuse`, its endpoint and conn, `seq` from `A`
///   to `A + W·512`) is taken while the transfer takes data, and only then: exactly
///   `Failed(Refused(reason))`, nothing answered, done;
/// - a connection whose SYN offered none is never refused: such a failure ends it silently.
///
/// Input: set-up byte ([`rx_setup`]), data length (u16, mod 3001; mod 12001 with `R = 31`),
/// script ISN (u32, mod MAX_SEQ), receiver seed (u16), chunk (u16), sink slack (u16, mod
/// 2048); then ops ([`rx_op`]).
pub fn receiver(data: &[u8]) -> Outcome {
    let setup = data.first().copied().unwrap_or(0);
    // The script's offer: bits 6-7.
    let offer = [64, 2, 4, 1][usize::from(setup >> 6)];
    match (setup >> rx_setup::WINDOW_SHIFT) & 3 {
        0 => receiver_with::<1>(data, None),
        1 => receiver_with::<4>(data, Some(offer)),
        2 => receiver_with::<32>(data, Some(offer)),
        // A stop-and-wait receiver asked for a window: it grants none.
        _ => receiver_with::<1>(data, Some(offer)),
    }
}

/// [`receiver`] with `W` payload slots; `offer`: the script's window offer.
fn receiver_with<const W: usize>(data: &[u8], offer: Option<u8>) -> Outcome {
    // Memory is fixed (SPEC §10.1): `W - 1` payload slots more than the stop-and-wait receiver.
    let size = size_of::<Receiver<Endpoint, W, 4>>();
    let base = size_of::<Receiver<Endpoint, 1, 4>>();
    assert!(size <= base + (W - 1) * (spec::MAX_PAYLOAD + 8), "{size} bytes for {W} payload slots");
    let mut input = Cursor::new(data);
    let setup = input.u8();
    let profile = if setup & rx_setup::REFERENCE != 0 { Profile::Reference } else { Profile::Native };
    let max_len = if W >= 32 { 4 * MAX_PATTERN } else { MAX_PATTERN };
    let len = usize::from(input.u16()) % (max_len + 1);
    let isn = seq_of(input.u32());
    let seed = u64::from(input.u16());
    let chunk_raw = usize::from(input.u16());
    let slack = usize::from(input.u16()) % 2048;
    // With a window, every data frame but the last is full (SPEC §10.1).
    let chunk = if setup & rx_setup::CHUNKED != 0 && offer.is_none() {
        1 + chunk_raw % spec::MAX_PAYLOAD
    } else {
        spec::MAX_PAYLOAD
    };
    let capacity = if setup & rx_setup::SMALL_SINK != 0 { len / 2 } else { len + slack };

    let mut out = vec![0u8; capacity];
    let config = ReceiverConfig { profile, ..ReceiverConfig::new(seed) };
    let mut world: RxWorld<W> = RxWorld {
        rx: SinkReceiver::new(Receiver::new(config, Instant::ZERO), &mut out[..]),
        sink_overflow: None,
        profile,
        idle: config.idle_timeout,
        now: Instant::ZERO,
        script: Script::new(profile, pattern(len), isn, chunk, setup & rx_setup::TRANSFER_SIZE != 0, offer),
        held: Vec::new(),
        clean: true,
        syn_acks: Vec::new(),
        conn: None,
        refused: None,
        written: Vec::new(),
        last_progress: Instant::ZERO,
        done: false,
        outcome: Outcome::default(),
    };

    while !input.is_empty() {
        let op = input.u8();
        match op & 7 {
            0..=2 => {
                let (frame, arrives) = world.script.pick(op);
                world.script.record(&frame);
                if arrives {
                    world.deliver(PEER, &frame, true, op & rx_op::LOST_REPLY != 0);
                }
            }
            rx_op::DUPLICATE if op == rx_op::STOP => world.stop(input.u8()),
            rx_op::DUPLICATE => {
                let pick = usize::from(input.u8());
                if !world.script.sent.is_empty() {
                    let frame = world.script.sent[pick % world.script.sent.len()].clone();
                    world.deliver(PEER, &frame, true, false);
                }
            }
            rx_op::RAW => {
                let datagram = input.datagram();
                world.deliver(endpoint_of(op), datagram, false, false);
            }
            rx_op::FORGED => {
                let datagram = world.forge(&mut input);
                world.deliver(endpoint_of(op), &datagram, false, false);
            }
            rx_op::WAIT => world.wait(WAIT_UNIT.saturating_mul(u64::from(input.u8()))),
            _ => world.wait(WAIT_LONG_UNIT.saturating_mul(u64::from(input.u8()))),
        }
    }

    let RxWorld { rx, written, outcome, .. } = world;
    let left = rx.into_parts().1.len();
    assert_eq!(capacity - left, written.len(), "the sink took other than what was delivered");
    assert_eq!(&out[..written.len()], &written[..], "the sink holds other bytes than those delivered");
    outcome
}

impl<const W: usize> RxWorld<'_, W> {
    /// A frame from `op`'s endpoint with fields near the connection's, so that the checks
    /// on peer, conn and seq are reached by random input too.
    fn forge(&self, input: &mut Cursor) -> Vec<u8> {
        let select = input.u8();
        let seq_delta = input.u8();
        let ack_delta = input.u8();
        let conn_raw = input.u16();
        let flags_raw = input.u8();
        let len = usize::from(input.u8()) * 2;
        let fill = input.u8();
        let (conn, risn, next) = match (&self.conn, self.syn_acks.last()) {
            (Some(c), _) => (c.conn, c.risn, c.rcv_nxt),
            (None, Some(sa)) => (sa.repr.conn, sa.repr.seq, sa.repr.ack),
            (None, None) => (0, SeqNum::ZERO, seq_plus(self.script.isn, 1)),
        };
        // Near the wrap and past MAX_SEQ: half of these do not decode.
        let near_max = |delta: u8| spec::MAX_SEQ - 128 + u32::from(delta);
        let windowed = self.conn.is_some_and(|c| c.window >= 2);
        let seq = match select & 3 {
            0 => seq_plus(self.script.isn, small_delta(seq_delta)).get(),
            // With a window: a frame boundary above (or below) `A`.
            1 if windowed && seq_delta >= 0x80 => {
                seq_plus(next, i64::from(seq_delta & 0x3f) * spec::MAX_PAYLOAD as i64 - 16 * 512).get()
            }
            1 => seq_plus(next, small_delta(seq_delta)).get(),
            2 => u32::from(seq_delta),
            _ => near_max(seq_delta),
        };
        let ack = match (select >> 2) & 3 {
            0 => seq_plus(risn, 1 + small_delta(ack_delta)).get(),
            1 => 0,
            2 => seq_plus(risn, 2 + small_delta(ack_delta)).get(),
            _ => near_max(ack_delta),
        };
        let conn = match (select >> 4) & 3 {
            0 => conn,
            1 => conn_raw,
            2 => 0,
            _ => conn ^ conn_raw,
        };
        let flags = u16::from(flags_raw & 7) | if select & 0x40 != 0 { u16::from(flags_raw) << 3 } else { 0 };
        let mut payload = filler(len, fill);
        if select & 0x80 != 0 {
            let options = if flags & spec::FIN != 0 {
                // An abandoning FIN's `refuse` (SPEC §10.4), reason `fill`, ended by a 0 so
                // that the filler after it is no option; one length in four is 2 (ill formed),
                // and a payload of 2 bytes cuts it (a malformed list).
                vec![spec::REFUSE, 1 + u8::from(fill >= 0xc0), fill, 0]
            } else {
                // A SYN option list (SPEC §3.1, §10): transfer size, then a digest offer.
                let mut options = vec![1, 8];
                options.extend_from_slice(&u64::from(fill).to_le_bytes());
                options.extend_from_slice(&[3, 1, 1 + (fill & 1)]);
                options
            };
            let n = options.len().min(payload.len());
            payload[..n].copy_from_slice(&options[..n]);
        }
        raw_frame(seq, ack, conn, flags, &payload)
    }

    /// The receiver takes `datagram` from `from`; everything it did is checked.
    fn deliver(&mut self, from: Endpoint, datagram: &[u8], from_script: bool, reply_lost: bool) {
        let decoded = wire::decode(datagram);
        if from == PEER && !from_script && decoded.is_ok() {
            self.clean = false;
        }
        let was_done = self.done;
        let was_refused = self.refused.is_some();
        // SPEC §10.4: a sender's abandoning FIN that the receiver must take.
        let abandons = decoded.ok().and_then(|f| self.abandoning_fin(from, f));
        let room = self.rx.sink().len();
        let handled = self.rx.handle_datagram(self.now, from, datagram);
        assert_eq!(handled.trace.header, decoded.map(|f| f.repr), "the trace shows another header");
        assert_ne!(handled.trace.direction, Direction::Send);
        if decoded.is_err() {
            assert_eq!(handled.trace.reason, Some(DropReason::Malformed));
        }
        if was_done {
            assert!(handled.events.is_empty(), "events after the end: {:?}", handled.events);
        }
        if was_refused {
            assert!(handled.events.is_empty(), "events after a refusal: {:?}", handled.events);
        }
        if let Some(code) = abandons {
            assert_eq!(
                &handled.events[..],
                &[ReceiverEvent::Failed(Error::Refused(refuse_reason(code)))],
                "an abandoning FIN not taken (SPEC §10.4)"
            );
        }

        let mut written_now = 0;
        let mut must_answer = false;
        for &event in handled.events.iter() {
            let frame = decoded.expect("an event from a datagram that does not decode");
            must_answer |= self.on_event(from, frame, event, room, &mut written_now);
        }
        // SPEC §10.4: after a refusal, until the receiver is done, every frame of the
        // connection gets the refusing ACK (SYNs are no frames of it: their `conn` is 0).
        if let (Ok(f), Some(c)) = (decoded, self.conn)
            && was_refused
            && !was_done
        {
            must_answer |= from == c.peer && f.repr.conn == c.conn && f.repr.flags.bits() & spec::SYN == 0;
        }
        // SPEC §10.1: a data frame from the peer in the window above `A` is held, one below
        // `A` is a duplicate; both are answered.
        if let (Ok(f), Some(c)) = (decoded, self.conn)
            && c.window >= 2
            && !self.done
            && self.refused.is_none()
            && c.fin.is_none()
            && from == c.peer
            && f.repr.conn == c.conn
            && f.repr.flags.bits() & (spec::SYN | spec::FIN) == 0
        {
            let above = (f.repr.seq.get() + spec::MAX_SEQ - c.rcv_nxt.get()) % spec::MAX_SEQ;
            let k = (above / spec::MAX_PAYLOAD as u32) as usize;
            if above.is_multiple_of(spec::MAX_PAYLOAD as u32)
                && (1..c.window).contains(&k)
                && !f.payload.is_empty()
            {
                if !self.held.iter().any(|(seq, _)| *seq == f.repr.seq) {
                    self.held.push((f.repr.seq, f.payload.to_vec()));
                }
                must_answer = true;
            } else if above != 0 && spec::MAX_SEQ - above <= spec::MAX_SEQ / 2 {
                must_answer = true;
            }
        }
        assert_eq!(
            room - self.rx.sink().len(),
            written_now,
            "the sink grew by other than what was delivered"
        );

        let reply = self.rx.poll_transmit(self.now).map(|t| {
            assert_eq!(t.trace.direction, Direction::Send);
            assert_eq!(Ok(t.trace.header.expect("replies decode")), wire::decode(t.datagram).map(|f| f.repr));
            (t.to, t.datagram.to_vec(), t.trace.dup)
        });
        assert!(self.rx.poll_transmit(self.now).is_none(), "more than one answer to one datagram");
        match reply {
            Some((to, reply, dup)) => {
                let frame = decoded.expect("an answer to a datagram that does not decode");
                self.check_reply(from, frame, to, &reply, dup, from_script);
                if to == PEER && !reply_lost {
                    self.script.on_reply(&reply);
                }
            }
            None => assert!(!must_answer, "data written or a FIN taken without an answer"),
        }
        if self.script.succeeded && self.clean {
            let c = self.conn.expect("the script's FIN was acknowledged without a connection");
            assert!(c.peer == PEER && c.fin.is_some(), "the script's FIN was acknowledged but not taken");
            assert!(self.written == self.script.data, "the script's transfer ended with other data");
            self.outcome.completed = true;
        }
        self.check_state();
    }

    /// One event of a datagram; returns whether it must be answered.
    fn on_event(
        &mut self,
        from: Endpoint,
        frame: Frame<'_>,
        event: ReceiverEvent,
        room: usize,
        written_now: &mut usize,
    ) -> bool {
        let repr = frame.repr;
        let flags = repr.flags.bits();
        let data = match self.profile {
            Profile::Native => frame.payload,
            Profile::Reference => strip_trailing_zeros(frame.payload),
        };
        // The checks every data or FIN event shares: from the peer, its conn, in order.
        let in_order = |c: &RxConnection| {
            assert_eq!(from, c.peer, "{event:?} from another endpoint than the peer");
            assert_eq!(repr.conn, c.conn, "{event:?} on another connection id");
            assert_eq!(repr.seq, c.rcv_nxt, "{event:?} on a frame out of order");
            assert!(c.fin.is_none(), "{event:?} after the FIN");
            assert_eq!(flags & spec::SYN, 0, "{event:?} on a SYN");
        };
        match event {
            ReceiverEvent::Connected { conn, .. } => {
                assert!(self.conn.is_none(), "a second connection");
                assert_eq!(flags & (spec::SYN | spec::FIN), 0, "connected by a SYN or FIN");
                // The third frame's `ack` is ignored (SPEC §4, §7), so two SYN|ACKs to one
                // endpoint with one `conn` (16 random bits: it happens) differ only in their
                // RISN: the latest is the entry's (a new SYN replaces an endpoint's entry). A
                // repeated SYN gets that same SYN|ACK whatever it offers, so the entry's offers
                // (its announced size) are those of the first SYN answered with it.
                let latest = self
                    .syn_acks
                    .iter()
                    .rev()
                    .find(|sa| sa.to == from && sa.repr.conn == repr.conn && sa.repr.ack == repr.seq)
                    .copied()
                    .expect("connected by a frame that answers no SYN|ACK sent to its endpoint");
                let sa = self
                    .syn_acks
                    .iter()
                    .find(|sa| sa.to == from && sa.repr == latest.repr)
                    .copied()
                    .unwrap_or(latest);
                assert_eq!(conn, repr.conn);
                self.conn = Some(RxConnection {
                    peer: from,
                    conn,
                    risn: sa.repr.seq,
                    rcv_nxt: repr.seq,
                    grants: sa.grants,
                    window: sa.window,
                    fin: None,
                    rejected: false,
                    size: sa.size.filter(|_| self.profile == Profile::Native),
                    received: 0,
                    refusable: sa.offers && self.profile == Profile::Native,
                });
                self.outcome.windowed = sa.window >= 2;
                self.last_progress = self.now;
                self.outcome.connected = true;
                false
            }
            ReceiverEvent::Delivered { bytes } => {
                let c = self.conn.as_mut().expect("data delivered without a connection");
                in_order(&*c);
                assert_eq!(flags & spec::FIN, 0, "a FIN's payload delivered");
                // With a window: the frame, then the held frames that follow it in order.
                let chunks = Self::release(&mut self.held, c, data);
                let chunk = chunks.concat();
                assert_eq!(usize::from(bytes), chunk.len(), "delivered other than the frame's payload");
                // The adapter writes it to the sink at once, as far as the sink has room; a
                // sink that fills up fails the transfer in the same call.
                let fit = chunk.len().min(room - *written_now);
                self.written.extend_from_slice(&chunk[..fit]);
                *written_now += fit;
                if fit < chunk.len() {
                    // The frames written whole were taken; the one cut short was not.
                    let mut taken = 0;
                    for frame in &chunks {
                        if taken + frame.len() > fit {
                            break;
                        }
                        taken += frame.len();
                    }
                    self.sink_overflow = Some(seq_plus(c.rcv_nxt, taken as i64));
                    return false;
                }
                c.rcv_nxt = seq_plus(c.rcv_nxt, chunk.len() as i64);
                c.received += chunk.len() as u64;
                if let Some(size) = c.size {
                    assert!(c.received <= size, "data delivered past the announced size");
                }
                if self.clean && c.peer == PEER {
                    assert!(
                        self.script.data.starts_with(&self.written),
                        "delivered other than the script's data"
                    );
                }
                self.last_progress = self.now;
                true
            }
            ReceiverEvent::Finished => {
                let c = self.conn.as_mut().expect("finished without a connection");
                in_order(&*c);
                assert_ne!(flags & spec::FIN, 0, "finished without a FIN");
                if let Some(size) = c.size {
                    assert_eq!(c.received, size, "finished at another length than announced");
                }
                if self.clean && c.peer == PEER {
                    assert!(self.written == self.script.data, "finished without all of the script's data");
                }
                c.fin = Some(repr.seq);
                c.rcv_nxt = seq_plus(repr.seq, 1);
                self.last_progress = self.now;
                self.outcome.connected = true;
                true
            }
            ReceiverEvent::Closed => {
                let c = self.conn.expect("closed without a connection");
                assert!(c.fin.is_some(), "closed before the FIN");
                assert_eq!((from, repr.conn), (c.peer, c.conn), "closed by another endpoint or connection");
                let final_ack = match self.profile {
                    Profile::Native => {
                        flags == spec::ACK && repr.seq == c.rcv_nxt && frame.payload.is_empty()
                    }
                    Profile::Reference => flags & spec::ACK != 0,
                };
                assert!(final_ack, "closed by a frame that is not the final ACK");
                self.done = true;
                false
            }
            ReceiverEvent::Failed(Error::Sink(_)) => {
                let c = self.conn.expect("a sink failure without a connection");
                in_order(&c);
                // Only after data that did not fit (the delivery before it in this call).
                let taken = self.sink_overflow.expect("a sink failure with room for the data");
                // SPEC §10.4: a sender that understands it is told (reason 4, storage), at the
                // first byte not taken; any other one gets no more answers.
                self.refuse_or_end(&c, taken, 4)
            }
            ReceiverEvent::Failed(Error::LengthMismatch) => {
                // SPEC §3.1: a FIN at another length, or data (in order, or held in the
                // window) that would end past the announced size. A sender that understands
                // it is refused (SPEC §10.4, reason 6) at the cumulative ack; to any other one
                // nothing is answered.
                let c = self.conn.expect("a length mismatch without a connection");
                assert_eq!((from, repr.conn), (c.peer, c.conn), "a length mismatch from another endpoint");
                let size = c.size.expect("a length mismatch without an announced size");
                if flags & spec::FIN != 0 {
                    assert_eq!(repr.seq, c.rcv_nxt, "a length mismatch on a FIN out of order");
                    assert_ne!(c.received, size, "a FIN at the announced length refused");
                } else {
                    let above = u64::from(repr.seq - c.rcv_nxt);
                    assert!(
                        above < (c.window * spec::MAX_PAYLOAD) as u64,
                        "a length mismatch outside the window"
                    );
                    assert!(c.received + above + data.len() as u64 > size, "data within the size refused");
                }
                self.refuse_or_end(&c, c.rcv_nxt, 6)
            }
            ReceiverEvent::Failed(Error::Refused(reason)) => {
                // SPEC §10.4: the sender's abandoning FIN, taken while the transfer is taking
                // data, from the peer with its conn and a `seq` from `A` to the end of the
                // window. Nothing is answered, and the receiver is done.
                let code = self
                    .abandoning_fin(from, frame)
                    .expect("a refusal taken from a frame that is no abandoning FIN");
                assert_eq!(reason, refuse_reason(code), "an abandoning FIN's reason taken as another one");
                self.done = true;
                false
            }
            ReceiverEvent::Failed(error) => {
                // A digest mismatch (SPEC §10.2): in place of Finished, on the in-order FIN
                // of a connection that granted an extension; the FIN is answered.
                let c = self.conn.as_mut().expect("a failure without a connection");
                assert!(!is_basic_error(error), "{error:?} from a datagram");
                assert!(c.grants, "{error:?} where no extension was granted");
                in_order(&*c);
                assert_ne!(flags & spec::FIN, 0, "{error:?} on a frame that is not a FIN");
                c.fin = Some(repr.seq);
                c.rcv_nxt = seq_plus(repr.seq, 1);
                c.rejected = true;
                true
            }
            #[allow(unreachable_patterns)]
            other => panic!("an event this harness does not know: {other:?}"),
        }
    }

    /// The in-order payload `data` of `c` and, with a window, the held frames it releases:
    /// those that follow it in order, up to the first short one (the last frame: nothing is
    /// kept above it). They leave `held`.
    fn release(held: &mut Vec<(SeqNum, Vec<u8>)>, c: &RxConnection, data: &[u8]) -> Vec<Vec<u8>> {
        let mut chunks = vec![data.to_vec()];
        if c.window < 2 || data.is_empty() {
            return chunks;
        }
        let mut next = seq_plus(c.rcv_nxt, data.len() as i64);
        while let Some(i) = held.iter().position(|(seq, _)| *seq == next) {
            let (_, payload) = held.swap_remove(i);
            next = seq_plus(next, payload.len() as i64);
            let last = payload.len() != spec::MAX_PAYLOAD;
            chunks.push(payload);
            if last {
                held.clear();
                break;
            }
        }
        chunks
    }

    /// The `sack` the receiver must send now: the frames held above `A`.
    fn expected_sack(&self, c: &RxConnection) -> Vec<u8> {
        let mut bitmap = 0u64;
        for (seq, _) in &self.held {
            let above = (seq.get() + spec::MAX_SEQ - c.rcv_nxt.get()) % spec::MAX_SEQ;
            let k = (above / spec::MAX_PAYLOAD as u32) as usize;
            assert!(
                above.is_multiple_of(spec::MAX_PAYLOAD as u32) && (1..c.window).contains(&k),
                "the harness holds a frame outside the window"
            );
            bitmap |= 1 << (k - 1);
        }
        sack_option(bitmap)
    }

    /// The answer to a datagram.
    fn check_reply(
        &mut self,
        from: Endpoint,
        frame: Frame<'_>,
        to: Endpoint,
        reply: &[u8],
        dup: bool,
        from_script: bool,
    ) {
        assert!(!self.done, "an answer after the end");
        assert_eq!(to, from, "an answer to another endpoint than the datagram's");
        if let Some(refusal) = &mut self.refused {
            // SPEC §10.4: once refused, the connection's frames get the refusing ACK, the same
            // bytes every time, and nothing else is answered.
            let c = self.conn.expect("a refusal without a connection");
            assert_eq!(
                (from, frame.repr.conn),
                (c.peer, c.conn),
                "a refusal to a frame of another endpoint or conn"
            );
            assert_eq!(frame.repr.flags.bits() & spec::SYN, 0, "a SYN answered after a refusal");
            assert_eq!(
                reply,
                &refusal.datagram[..],
                "an answer after a refusal that is not the refusing ACK"
            );
            assert_eq!(dup, refusal.sent, "a first refusal traced DUP, or a repeated one not");
            refusal.sent = true;
            return;
        }
        let answer = wire::decode(reply).expect("answers decode");
        let repr = answer.repr;
        let flags = repr.flags.bits();
        // While every frame from the peer's endpoint is the script's, its SYN opened whatever
        // answers it there (otherwise a forged SYN with the script's `seq` may have opened the
        // half-open entry whose SYN|ACK a repeated SYN gets, SPEC §3).
        if from_script && self.clean && self.script.offer.is_none() {
            assert_eq!(reply.len(), spec::HEADER_LEN, "a payload to a sender that offered no extension");
        }
        if flags == spec::SYN | spec::ACK {
            assert_eq!(frame.repr.flags.bits(), spec::SYN, "a SYN|ACK to a frame that is not a SYN");
            assert_eq!(repr.ack, seq_plus(frame.repr.seq, 1), "a SYN|ACK that does not acknowledge the SYN");
            assert_ne!(repr.conn, 0, "connection id 0");
            if let Some(c) = &self.conn {
                assert_eq!(
                    (to, repr.conn, repr.seq),
                    (c.peer, c.conn, c.risn),
                    "a new SYN|ACK after the handshake"
                );
            }
            // A window grant (SPEC §10.1): only with payload slots for it, at most W.
            let window = match option_value(answer.payload, 2) {
                None => 1,
                Some(&[w]) => {
                    assert!(
                        W > 1 && self.profile == Profile::Native,
                        "a window granted without the payload slots for it"
                    );
                    assert!((2..=W.min(64)).contains(&usize::from(w)), "a grant of {w} frames");
                    usize::from(w)
                }
                Some(other) => panic!("a window option of {} bytes", other.len()),
            };
            if from_script && self.clean && self.script.offer.is_some() {
                let granted = match (self.profile, self.script.offer) {
                    (Profile::Native, Some(offer)) if W > 1 => usize::from(offer).min(W),
                    _ => 1,
                };
                let want = if granted >= 2 { vec![2, 1, granted as u8] } else { Vec::new() };
                assert_eq!(answer.payload, &want[..], "the SYN|ACK to the script grants other than SPEC's");
            }
            let size = announced_size(frame.payload);
            // SPEC §3.1: options only to a SYN that offered an extension: the first SYN this
            // SYN|ACK answered (a repeated SYN gets the same bytes whatever it offers).
            let offers = self
                .syn_acks
                .iter()
                .find(|sa| sa.to == to && sa.repr == repr)
                .map_or_else(|| offers_extension(frame.payload), |sa| sa.offers);
            assert!(
                answer.payload.is_empty() || offers,
                "a SYN|ACK with options to a SYN that offered no extension (SPEC §3.1)"
            );
            let sa = SynAck { to, repr, grants: !answer.payload.is_empty(), window, size, offers };
            if !self.syn_acks.contains(&sa) {
                self.syn_acks.push(sa);
            }
        } else if flags == spec::ACK || flags == spec::FIN | spec::ACK {
            let c = self.conn.expect("an ACK without a connection");
            assert_eq!((to, repr.conn), (c.peer, c.conn), "an ACK to another endpoint or connection");
            assert_eq!(repr.seq, seq_plus(c.risn, 1));
            assert_eq!(repr.ack, c.rcv_nxt, "an ACK of other than what was written");
            assert_eq!(flags & spec::FIN != 0, c.fin.is_some(), "FIN|ACK before the FIN, or ACK after it");
            if !c.grants {
                assert!(answer.payload.is_empty(), "a payload where no extension was granted");
            }
            if c.window >= 2 && flags == spec::ACK {
                assert_eq!(
                    answer.payload,
                    &self.expected_sack(&c)[..],
                    "an ACK whose sack is not the frames held (SPEC §10.1)"
                );
            }
        } else {
            panic!("an answer with flags {:?}", repr.flags);
        }
    }

    fn wait(&mut self, span: Duration) {
        let was_done = self.done;
        self.now = self.now + span;
        match self.rx.handle_timeout(self.now) {
            None => {}
            Some(event) => {
                assert!(!was_done, "{event:?} after the end");
                assert!(self.refused.is_none(), "{event:?} on a timer after a refusal");
                let c = self.conn.expect("a timeout event without a connection");
                assert!(self.now >= self.last_progress + self.idle, "{event:?} before the idle timeout");
                match event {
                    ReceiverEvent::Failed(Error::IdleTimeout) => {
                        assert!(c.fin.is_none(), "idle after the FIN")
                    }
                    ReceiverEvent::Closed => assert!(c.fin.is_some(), "closed before the FIN"),
                    other => panic!("{other:?} on a timer"),
                }
                self.done = true;
            }
        }
        // SPEC §10.4: a refused connection is answered for one idle timeout after the refusal,
        // then it is over (the application was told at the refusal).
        if let Some(refusal) = &self.refused
            && self.now >= refusal.at + self.idle
        {
            self.done = true;
        }
        assert!(self.rx.poll_transmit(self.now).is_none(), "the receiver sent a frame on a timer");
        if let Some(at) = self.rx.poll_timeout() {
            assert!(at > self.now, "the next timeout is not in the future");
        }
        self.check_state();
    }

    /// The receiver stopped taking the connection `c` (reason `code`, the first byte not taken
    /// `ack`): a sender that understands it is refused (SPEC §10.4), any other one gets no more
    /// answers and the receiver is done. Returns whether the frame must be answered.
    fn refuse_or_end(&mut self, c: &RxConnection, ack: SeqNum, code: u8) -> bool {
        if !c.refusable {
            self.done = true;
            return false;
        }
        let repr =
            Repr { seq: seq_plus(c.risn, 1), ack, conn: c.conn, flags: wire::Flags::from_bits(spec::ACK) };
        let datagram = frame_bytes(repr, &refuse_option(code));
        self.refused = Some(Refusal { datagram, at: self.now, sent: false });
        true
    }

    /// The reason byte of `frame` from `from` if it is an abandoning FIN that the receiver must
    /// take (SPEC §10.4): while the transfer takes data (not refused, no FIN taken, not over),
    /// from the peer, with its conn, from a sender that offered an extension; the FIN flag, a
    /// well-formed `refuse`, and a `seq` from the cumulative ack point `A` to the end of the
    /// granted window (`A + W·512`).
    fn abandoning_fin(&self, from: Endpoint, frame: Frame<'_>) -> Option<u8> {
        let c = self.conn?;
        let repr = frame.repr;
        let taking = !self.done && self.refused.is_none() && c.fin.is_none();
        let of_it = from == c.peer && repr.conn == c.conn && c.refusable;
        let fin = repr.flags.bits() & spec::FIN != 0;
        let in_window = seq_distance(repr.seq, c.rcv_nxt) <= (c.window * spec::MAX_PAYLOAD) as u32;
        if taking && of_it && fin && in_window { refuse_code(frame.payload) } else { None }
    }

    /// [`rx_op::STOP`]: the application stops the transfer with the error `byte` picks. While
    /// it takes data, a sender that understands it gets a refusing ACK with the reason SPEC
    /// §10.4 gives the error, and the connection's frames get it again for an idle timeout;
    /// otherwise (no connection yet, a sender that does not understand it, refused already)
    /// nothing is answered and the receiver is done. Not once it is over or its FIN was taken.
    fn stop(&mut self, byte: u8) {
        if self.done || self.conn.is_some_and(|c| c.fin.is_some()) {
            return;
        }
        let error = stop_error(byte);
        let event = self.rx.abort(self.now, error);
        assert_eq!(event, ReceiverEvent::Failed(error), "abort reports another failure");
        let refusing = match self.conn {
            Some(c) if self.refused.is_none() => self.refuse_or_end(&c, c.rcv_nxt, stop_reason(error)),
            _ => {
                self.done = true;
                false
            }
        };
        let reply = self.rx.poll_transmit(self.now).map(|t| (t.to, t.datagram.to_vec(), t.trace.dup));
        assert!(self.rx.poll_transmit(self.now).is_none(), "more than one frame on an abort");
        match (reply, &mut self.refused) {
            (Some((to, reply, dup)), Some(refusal)) if refusing => {
                assert_eq!(
                    to,
                    self.conn.expect("refused").peer,
                    "a refusal to another endpoint than the peer"
                );
                assert_eq!(reply, refusal.datagram, "an abort's refusal that is not SPEC §10.4's");
                assert!(!dup, "a first refusal traced DUP");
                refusal.sent = true;
            }
            (None, _) => assert!(!refusing, "an abort not told to a sender that understands it"),
            (Some(_), _) => panic!("a frame sent on an abort, to a sender that does not take a refusal"),
        }
        if let Some(at) = self.rx.poll_timeout() {
            assert!(at > self.now, "the next timeout is not in the future");
        }
        self.check_state();
    }

    fn check_state(&self) {
        assert_eq!(self.rx.is_done(), self.done, "is_done disagrees with the events");
        if !self.done {
            let window = self.conn.map_or(1, |c| c.window);
            assert_eq!(usize::from(self.rx.window()), window, "window() disagrees with the grant");
        }
        let succeeded = self.conn.is_some_and(|c| c.fin.is_some() && !c.rejected);
        assert_eq!(self.rx.has_succeeded(), succeeded, "has_succeeded disagrees with the events");
        if self.done {
            assert_eq!(self.rx.poll_timeout(), None, "a timer after the end");
        }
    }
}
