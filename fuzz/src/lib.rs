//! The bodies of the rudp-nostd fuzz targets (issue 6), shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and by the stable replay test `rudp-nostd/tests/fuzz_replay.rs`, which
//! includes this file as a module. So it uses only `rudp_nostd` and `std`: no `arbitrary` (the
//! fuzz input is parsed by hand with [`Cursor`]) and no `embedded_io` (the engines read a
//! `&[u8]` and write a `&mut [u8]`, which embedded-io implements).
//!
//! Each body checks invariants with `assert!`: a broken one panics, libFuzzer saves the input,
//! and the replay test prints it. What each body checks is written on it.
//!
//! Memory: the engines are `no_std` without `alloc`; every buffer they have is a fixed array
//! inside them (`size_of` is a compile-time constant). The harnesses below allocate freely;
//! the engines never do.

use std::collections::VecDeque;

use rudp_nostd::frame::{self, DecodeError, Flags, Frame, Packet, Repr};
use rudp_nostd::trace::{Direction, DropReason, Trace};
use rudp_nostd::{
    Duration, Engine, Error, Instant, Profile, Receiver, ReceiverConfig, ReceiverEvent, Sender, SenderConfig,
    SenderEvent, SeqNum,
};

/// SPEC §1, written out rather than taken from the crate, so that an oracle does not share a
/// wrong constant with the code it checks.
pub mod spec {
    /// Bytes in a header.
    pub const HEADER_LEN: usize = 12;
    /// The most payload bytes.
    pub const MAX_PAYLOAD: usize = 512;
    /// The largest frame.
    pub const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD;
    /// Sequence numbers are below it.
    pub const MAX_SEQ: u32 = 204_800;
    /// Flag bit 0.
    pub const FIN: u16 = 1;
    /// Flag bit 1.
    pub const SYN: u16 = 2;
    /// Flag bit 2.
    pub const ACK: u16 = 4;
    /// The defined flag bits; the others are reserved.
    pub const DEFINED: u16 = FIN | SYN | ACK;
    /// The reference sender's initial sequence number (SPEC §7).
    pub const REFERENCE_ISN: u32 = 42;
}

/// The targets, by name: the folders of `fuzz/corpus/` and the binaries in `fuzz_targets/`.
pub const TARGETS: [&str; 4] = ["decode_frame", "frame_roundtrip", "receiver", "sender"];

/// What an engine run reached, so that the replay test can tell that its generated inputs go
/// deep (a fuzz target ignores it).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Outcome {
    /// The engine under test connected.
    pub connected: bool,
    /// The whole scripted transfer went through: the receiver wrote the scripted data and
    /// acknowledged its FIN (receiver target), or the sender's FIN was acknowledged (sender target).
    pub completed: bool,
    /// The connection has a window of 2 or more (SPEC §10.1).
    pub windowed: bool,
}

/// Runs the body of `target` on `data`.
pub fn run(target: &str, data: &[u8]) -> Outcome {
    match target {
        "decode_frame" => {
            decode_frame(data);
            Outcome::default()
        }
        "frame_roundtrip" => {
            frame_roundtrip(data);
            Outcome::default()
        }
        "receiver" => receiver(data),
        "sender" => sender(data),
        _ => panic!("no fuzz target {target:?}"),
    }
}

// ------------------------------------------------------------------------------------------
// Reading and writing fuzz inputs

/// Reads a fuzz input front to back. Past its end every read gives zeros, so that any input,
/// however short, is a valid program; a program ends with its input, so every loop over one
/// is bounded by the input's length.
pub struct Cursor<'a> {
    rest: &'a [u8],
}

/// Datagram lengths up to this are one byte (`0..=63`); longer ones take two, the first
/// marked with [`LONG_LEN`].
const SHORT_LEN_MAX: usize = 0x3f;
/// The mark of a two-byte datagram length.
const LONG_LEN: u8 = 0xc0;
/// The longest junk datagram: past the largest frame, to reach the `Oversized` rejection.
const MAX_JUNK_LEN: usize = 600;

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { rest: data }
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&byte, rest)) => {
                self.rest = rest;
                byte
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next `n` bytes, fewer at the end of the input.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.rest.len())
    }

    /// A junk datagram: a length (see [`LONG_LEN`]) and that many bytes.
    pub fn datagram(&mut self) -> &'a [u8] {
        let first = self.u8();
        let len = if first & LONG_LEN == LONG_LEN {
            ((usize::from(first & !LONG_LEN) << 8) | usize::from(self.u8())).min(MAX_JUNK_LEN)
        } else {
            usize::from(first) & SHORT_LEN_MAX
        };
        self.bytes(len)
    }
}

/// Writes fuzz inputs: the inverse of [`Cursor`], for the seed corpus.
#[derive(Default)]
pub struct Program {
    bytes: Vec<u8>,
}

impl Program {
    /// The input written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn u8(&mut self, v: u8) -> &mut Program {
        self.bytes.push(v);
        self
    }

    fn u16(&mut self, v: u16) -> &mut Program {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u32(&mut self, v: u32) -> &mut Program {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn datagram(&mut self, datagram: &[u8]) -> &mut Program {
        let len = datagram.len();
        assert!(len <= MAX_JUNK_LEN, "a junk datagram has at most {MAX_JUNK_LEN} bytes");
        if len <= SHORT_LEN_MAX {
            self.u8(len as u8);
        } else {
            self.u8(LONG_LEN | (len >> 8) as u8).u8(len as u8);
        }
        self.bytes.extend_from_slice(datagram);
        self
    }
}

// ------------------------------------------------------------------------------------------
// Helpers

/// The scripted data of `len` bytes: the same for every harness and seed. Never zero (the
/// reference profile strips trailing zeros) and without a short period, so that a chunk
/// written at the wrong offset shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| (mix(i) % 255) as u8 + 1).collect()
}

/// SplitMix64's output function.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `seq + n` modulo MAX_SEQ, computed here rather than with the crate's arithmetic.
fn seq_plus(seq: SeqNum, n: i64) -> SeqNum {
    let modulus = i64::from(spec::MAX_SEQ);
    seq_of((i64::from(seq.get()) + n).rem_euclid(modulus) as u32)
}

/// `value` (below MAX_SEQ) as a sequence number.
fn seq_of(value: u32) -> SeqNum {
    SeqNum::new(value % spec::MAX_SEQ).expect("reduced modulo MAX_SEQ")
}

/// A datagram laid out by hand from SPEC §1 (any field values, valid or not).
fn raw_frame(seq: u32, ack: u32, conn: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(spec::HEADER_LEN + payload.len());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&ack.to_le_bytes());
    bytes.extend_from_slice(&conn.to_le_bytes());
    bytes.extend_from_slice(&flags.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The datagram of `repr` and `payload`, laid out by hand.
fn frame_bytes(repr: Repr, payload: &[u8]) -> Vec<u8> {
    raw_frame(repr.seq.get(), repr.ack.get(), repr.conn, repr.flags.bits(), payload)
}

/// The header fields of a datagram of at least 12 bytes: seq, ack, conn, flags.
fn header_fields(data: &[u8]) -> (u32, u32, u16, u16) {
    let u32_at = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let u16_at = |at: usize| u16::from_le_bytes([data[at], data[at + 1]]);
    (u32_at(0), u32_at(4), u16_at(8), u16_at(10))
}

/// The value of the first option of type `kind` in a SPEC §3.1 option list, if the list is
/// well formed up to it (written here, not taken from the crate).
fn option_value(payload: &[u8], kind: u8) -> Option<&[u8]> {
    let mut rest = payload;
    loop {
        match rest {
            [] | [0, ..] => return None,
            [t, len, tail @ ..] if usize::from(*len) <= tail.len() => {
                let (value, after) = tail.split_at(usize::from(*len));
                if *t == kind {
                    return Some(value);
                }
                rest = after;
            }
            _ => return None,
        }
    }
}

/// Whether a SPEC §3.1 option list is well formed: no option runs past the end.
fn options_well_formed(payload: &[u8]) -> bool {
    let mut rest = payload;
    loop {
        match rest {
            [] | [0, ..] => return true,
            [_, len, tail @ ..] if usize::from(*len) <= tail.len() => rest = &tail[usize::from(*len)..],
            _ => return false,
        }
    }
}

/// The SPEC §10.1 `sack` option for the frames at `k` (bit `k - 1`): empty when none.
fn sack_option(bitmap: u64) -> Vec<u8> {
    if bitmap == 0 {
        return Vec::new();
    }
    let len = (64 - bitmap.leading_zeros() as usize).div_ceil(8);
    let mut option = vec![4, len as u8];
    option.extend_from_slice(&bitmap.to_le_bytes()[..len]);
    option
}

/// A field delta from one input byte: -2..=2 for bytes below 0x80 (near misses are the
/// interesting ones), else -128..=-1.
fn small_delta(byte: u8) -> i64 {
    if byte < 0x80 { i64::from(byte % 5) - 2 } else { i64::from(byte as i8) }
}

/// `payload` without its trailing zero bytes (the reference receiver's rule, SPEC §7).
fn strip_trailing_zeros(payload: &[u8]) -> &[u8] {
    let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &payload[..end]
}

/// `len` payload bytes from one input byte: zeros for 0, else counting bytes that end in
/// `fill % 4` zeros (which the reference receiver strips).
fn filler(len: usize, fill: u8) -> Vec<u8> {
    let zeros = usize::from(fill % 4);
    (0..len).map(|i| if fill == 0 || i + zeros >= len { 0 } else { fill.wrapping_add(i as u8) | 1 }).collect()
}

/// SPEC §8's fields: `<seq> <ack> <conn>` and the flag names, in the order ACK, SYN, FIN.
fn spec_fields(seq: u32, ack: u32, conn: u16, flags: u16) -> String {
    let mut line = format!("{seq} {ack} {conn}");
    for (bit, name) in [(spec::ACK, "ACK"), (spec::SYN, "SYN"), (spec::FIN, "FIN")] {
        if flags & bit != 0 {
            line.push(' ');
            line.push_str(name);
        }
    }
    line
}

/// Whether `error` is one the engines report for reasons other than a negotiated extension
/// (SPEC §10): those are checked one by one; any other is an extension's verdict (a grant
/// that was not offered, a digest mismatch), allowed only where an extension is in play.
fn is_basic_error(error: Error) -> bool {
    matches!(error, Error::IdleTimeout | Error::AcceptTimeout | Error::Source(_) | Error::Sink(_))
}

// ------------------------------------------------------------------------------------------
// decode_frame

/// SPEC §1's decoder, written from the SPEC: the rejections in the order the SPEC lists them.
fn spec_decode(data: &[u8]) -> Result<Repr, DecodeError> {
    let len = data.len();
    if len < spec::HEADER_LEN {
        return Err(DecodeError::Truncated { len });
    }
    if len > spec::MAX_FRAME {
        return Err(DecodeError::Oversized { len });
    }
    let (seq, ack, conn, flags) = header_fields(data);
    if flags & !spec::DEFINED != 0 {
        return Err(DecodeError::ReservedFlags { flags });
    }
    if flags & (spec::SYN | spec::FIN) == spec::SYN | spec::FIN {
        return Err(DecodeError::SynAndFin);
    }
    if seq >= spec::MAX_SEQ {
        return Err(DecodeError::SeqOutOfRange { seq });
    }
    if ack >= spec::MAX_SEQ {
        return Err(DecodeError::AckOutOfRange { ack });
    }
    Ok(Repr { seq: seq_of(seq), ack: seq_of(ack), conn, flags: Flags::from_bits(flags) })
}

/// Any bytes: `frame::decode` gives exactly what SPEC §1 says (the same frame, or the same
/// error variant with the same value, checked in the SPEC's order), never reads past the
/// slice (it would panic), and a frame that decodes re-emits to exactly the same bytes. The
/// `Packet` view agrees, and the trace line of a drop is SPEC §8's.
pub fn decode_frame(data: &[u8]) {
    assert_eq!(
        (rudp_nostd::HEADER_LEN, rudp_nostd::MAX_PAYLOAD, rudp_nostd::MAX_FRAME, rudp_nostd::MAX_SEQ),
        (spec::HEADER_LEN, spec::MAX_PAYLOAD, spec::MAX_FRAME, spec::MAX_SEQ),
        "the crate's constants are not SPEC §1's"
    );
    let expected = spec_decode(data);
    let decoded = frame::decode(data);
    assert_eq!(decoded.map(|f| f.repr), expected, "decode disagrees with SPEC §1 on {data:02x?}");

    match Packet::new_checked(data) {
        Ok(packet) => {
            assert!((spec::HEADER_LEN..=spec::MAX_FRAME).contains(&data.len()));
            let (seq, ack, conn, flags) = header_fields(data);
            assert_eq!(
                (packet.seq(), packet.ack(), packet.conn(), packet.flags().bits()),
                (seq, ack, conn, flags)
            );
            assert_eq!(packet.payload(), &data[spec::HEADER_LEN..]);
        }
        Err(error) => assert_eq!(Err(error), expected, "the view rejects other than the length"),
    }

    let line = Trace::drop_datagram(data, DropReason::Malformed).to_string();
    match decoded {
        Ok(frame) => {
            assert_eq!(frame.payload, &data[spec::HEADER_LEN..]);
            let mut buf = [0u8; spec::MAX_FRAME];
            let len = frame.repr.emit_with_payload(&mut buf, frame.payload).expect("a decoded payload fits");
            assert_eq!(&buf[..len], data, "a decoded frame re-emits to other bytes");
            let (seq, ack, conn, flags) = header_fields(data);
            assert_eq!(line, format!("DROP {}", spec_fields(seq, ack, conn, flags)));
        }
        Err(error) => assert_eq!(line, format!("DROP {error}")),
    }
}

// ------------------------------------------------------------------------------------------
// frame_roundtrip

/// An arbitrary valid header (seq and ack below MAX_SEQ, flags in 0..8 without SYN with FIN)
/// and payload (the rest of the input, at most 512 bytes): it emits to SPEC §1's layout and
/// decodes to itself; `emit_with_payload` refuses a longer payload; the trace line is SPEC
/// §8's.
///
/// Input: seq (u32, reduced), ack (u32, reduced), conn (u16), flags (u8, low 3 bits; SYN|FIN
/// loses FIN), then the payload.
pub fn frame_roundtrip(data: &[u8]) {
    let mut input = Cursor::new(data);
    let seq = input.u32() % spec::MAX_SEQ;
    let ack = input.u32() % spec::MAX_SEQ;
    let conn = input.u16();
    let mut flags = u16::from(input.u8()) & spec::DEFINED;
    if flags & (spec::SYN | spec::FIN) == spec::SYN | spec::FIN {
        flags &= !spec::FIN;
    }
    let repr = Repr { seq: seq_of(seq), ack: seq_of(ack), conn, flags: Flags::from_bits(flags) };
    let rest = input.rest();
    // Junk in the buffer, so that a byte the emitter forgets shows.
    let mut buf = [0xa5u8; spec::MAX_FRAME];
    if rest.len() > spec::MAX_PAYLOAD {
        assert_eq!(repr.emit_with_payload(&mut buf, rest), None, "a payload over 512 bytes was emitted");
    }
    let payload = &rest[..rest.len().min(spec::MAX_PAYLOAD)];

    let len = repr.emit_with_payload(&mut buf, payload).expect("a payload of at most 512 bytes fits");
    assert_eq!(&buf[..len], &raw_frame(seq, ack, conn, flags, payload)[..], "not SPEC §1's layout");
    let mut header = [0u8; spec::HEADER_LEN];
    repr.emit_header(&mut header);
    assert_eq!(header[..], buf[..spec::HEADER_LEN]);

    let Frame { repr: decoded, payload: decoded_payload } =
        frame::decode(&buf[..len]).expect("an emitted valid header decodes");
    assert_eq!(decoded, repr);
    assert_eq!(decoded_payload, payload);

    let fields = spec_fields(seq, ack, conn, flags);
    assert_eq!(repr.to_string(), fields);
    assert_eq!(Trace::send(repr, true).to_string(), format!("SEND {fields} DUP"));
    assert_eq!(Trace::recv(repr, false).to_string(), format!("RECV {fields}"));
}

// ------------------------------------------------------------------------------------------
// The engines' harnesses: endpoints, time

/// Endpoints are small numbers: the engines take any `Copy + PartialEq` type.
type Endpoint = u8;
/// The well-behaved peer (the scripted sender, or the sender's receiver).
const PEER: Endpoint = 0;
/// The other endpoints are `1..ENDPOINTS`.
const ENDPOINTS: u8 = 4;
/// At most this many past datagrams are kept to be sent again as network duplicates.
const HISTORY: usize = 32;
/// The longest scripted transfer: six frames, so that several full frames and a short last
/// one occur, short enough that the fuzzer finishes transfers.
pub const MAX_PATTERN: usize = 3000;
/// A short wait is `byte * WAIT_UNIT`; a long one (enough for the idle timeout),
/// `byte * WAIT_LONG_UNIT`.
const WAIT_UNIT: Duration = Duration::from_millis(4);
const WAIT_LONG_UNIT: Duration = Duration::from_millis(64);

/// The endpoint an op byte names in its bits 3 and 4.
fn endpoint_of(op: u8) -> Endpoint {
    (op >> 3) % ENDPOINTS
}

fn push_history(history: &mut VecDeque<(Endpoint, Vec<u8>)>, from: Endpoint, datagram: &[u8]) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back((from, datagram.to_vec()));
}

// ------------------------------------------------------------------------------------------
// receiver

/// The receiver target's op codes: the low 3 bits of an op byte.
pub mod rx_op {
    /// The scripted sender sends its current frame (again). Also 1 and 2, to weight it.
    /// Bit 7 ([`LOST_REPLY`]): the receiver's answer is lost.
    pub const SEND: u8 = 0;
    /// One byte: an earlier scripted frame again (a network duplicate).
    pub const DUPLICATE: u8 = 3;
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

/// The scripted sender's progress.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Syn,
    /// Sending the data at `offset`; `first`: the third frame of the handshake.
    Data {
        offset: usize,
        first: bool,
    },
    Fin,
    FinalAck,
}

/// A well-behaved sender written here, independent of the crate's: it sends the pattern
/// stop-and-wait as SPEC §3-§5 say, when the fuzz input tells it to, and moves on only on
/// the exact answer.
struct Script {
    profile: Profile,
    data: Vec<u8>,
    isn: SeqNum,
    chunk: usize,
    transfer_size: bool,
    conn: u16,
    risn: SeqNum,
    stage: Stage,
    /// Distinct frames sent, newest last.
    sent: VecDeque<Vec<u8>>,
    /// Its FIN was acknowledged.
    succeeded: bool,
    /// The window it offers in its SYN (SPEC §10.1), if any.
    offer: Option<u8>,
    /// The window granted in the SYN|ACK it took (1: none).
    window: usize,
    /// With a window: the data offset of the next new frame (everything below it was sent).
    mark: usize,
}

impl Script {
    fn end(&self) -> SeqNum {
        seq_plus(self.isn, 1 + self.data.len() as i64)
    }

    fn data_range(&self, offset: usize) -> (usize, usize) {
        (offset, (offset + self.chunk).min(self.data.len()))
    }

    /// The frame it would send now.
    fn current(&self) -> Vec<u8> {
        let flags_of = Flags::from_bits;
        let (repr, payload) = match self.stage {
            Stage::Syn => {
                let mut options = Vec::new();
                if self.profile == Profile::Native && self.transfer_size {
                    options.extend_from_slice(&[1, 8]);
                    options.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
                }
                if let Some(offer) = self.offer {
                    options.extend_from_slice(&[2, 1, offer]);
                }
                let repr = Repr { seq: self.isn, ack: SeqNum::ZERO, conn: 0, flags: flags_of(spec::SYN) };
                (repr, options)
            }
            Stage::Data { offset, first } => {
                let (start, end) = self.data_range(offset);
                // The original sender's data frames after the first: flags 0, ack 0 (SPEC §7).
                let (flags, ack) = match (self.profile, first) {
                    (Profile::Reference, false) => (0, SeqNum::ZERO),
                    _ => (spec::ACK, seq_plus(self.risn, 1)),
                };
                let repr = Repr {
                    seq: seq_plus(self.isn, 1 + offset as i64),
                    ack,
                    conn: self.conn,
                    flags: flags_of(flags),
                };
                (repr, self.data[start..end].to_vec())
            }
            Stage::Fin => {
                let repr = Repr {
                    seq: self.end(),
                    ack: seq_plus(self.risn, 1),
                    conn: self.conn,
                    flags: flags_of(spec::FIN),
                };
                (repr, Vec::new())
            }
            Stage::FinalAck => {
                let flags = match self.profile {
                    Profile::Native => spec::ACK,
                    Profile::Reference => spec::ACK | spec::FIN,
                };
                let repr = Repr {
                    seq: seq_plus(self.end(), 1),
                    ack: seq_plus(self.risn, 2),
                    conn: self.conn,
                    flags: flags_of(flags),
                };
                (repr, Vec::new())
            }
        };
        let mut bytes = frame_bytes(repr, &payload);
        if self.profile == Profile::Reference {
            bytes.resize(spec::MAX_FRAME, 0);
        }
        bytes
    }

    /// The frame to send for a [`rx_op::SEND`] op, and whether it reaches the receiver. With
    /// the window open, `(op >> 3) & 15` picks it: 0, the next new frame within the window
    /// (or, with the window full, the oldest unacknowledged one: a timeout); 15, the same but
    /// lost on the way; `j` in 1..=14, the frame at `k = (j - 1) % W` (out of order). Before
    /// and after, the frame of SPEC §3-§5.
    fn pick(&mut self, op: u8) -> (Vec<u8>, bool) {
        let Stage::Data { offset: acked, first: false } = self.stage else { return (self.current(), true) };
        if self.window < 2 {
            return (self.current(), true);
        }
        let len = self.data.len();
        let limit = len.min(acked + self.window * spec::MAX_PAYLOAD);
        let sel = usize::from((op >> 3) & 15);
        let at = match sel {
            0 | 15 if self.mark < limit => self.mark,
            0 | 15 => acked,
            j => {
                let at = acked + (j - 1) % self.window * spec::MAX_PAYLOAD;
                if at < len { at } else { acked }
            }
        };
        self.mark = self.mark.max((at + spec::MAX_PAYLOAD).min(len));
        let end = (at + spec::MAX_PAYLOAD).min(len);
        let repr = Repr {
            seq: seq_plus(self.isn, 1 + at as i64),
            ack: seq_plus(self.risn, 1),
            conn: self.conn,
            flags: Flags::from_bits(spec::ACK),
        };
        (frame_bytes(repr, &self.data[at..end]), sel != 15)
    }

    /// Remembers `frame` as sent.
    fn record(&mut self, frame: &[u8]) {
        if self.sent.back().is_none_or(|last| last[..] != *frame) {
            if self.sent.len() == HISTORY {
                self.sent.pop_front();
            }
            self.sent.push_back(frame.to_vec());
        }
    }

    /// A datagram from the receiver.
    fn on_reply(&mut self, datagram: &[u8]) {
        let Ok(Frame { repr, .. }) = frame::decode(datagram) else { return };
        let flags = repr.flags.bits();
        match self.stage {
            Stage::Syn
                if flags == spec::SYN | spec::ACK && repr.ack == seq_plus(self.isn, 1) && repr.conn != 0 =>
            {
                self.conn = repr.conn;
                self.risn = repr.seq;
                self.stage = Stage::Data { offset: 0, first: true };
                // The grant (SPEC §10.1); the harness checks it separately.
                let granted = option_value(&datagram[spec::HEADER_LEN..], 2);
                self.window = match (self.offer, granted) {
                    (Some(offer), Some(&[w])) if (2..=offer).contains(&w) => usize::from(w),
                    _ => 1,
                };
            }
            Stage::Data { offset: acked, first: false }
                if self.window >= 2 && repr.conn == self.conn && flags == spec::ACK =>
            {
                // A cumulative ack on a frame boundary (or the end) within what was sent.
                let at = (i64::from(repr.ack.get()) - i64::from(seq_plus(self.isn, 1).get()))
                    .rem_euclid(i64::from(spec::MAX_SEQ)) as usize;
                let len = self.data.len();
                if at > acked
                    && at <= self.mark
                    && (at == len || (at - acked).is_multiple_of(spec::MAX_PAYLOAD))
                {
                    self.stage =
                        if at == len { Stage::Fin } else { Stage::Data { offset: at, first: false } };
                }
            }
            Stage::Data { offset, .. } if repr.conn == self.conn && flags == spec::ACK => {
                let (_, end) = self.data_range(offset);
                if repr.ack == seq_plus(self.isn, 1 + end as i64) {
                    self.stage = if end == self.data.len() {
                        Stage::Fin
                    } else {
                        Stage::Data { offset: end, first: false }
                    };
                    self.mark = end;
                }
            }
            Stage::Fin
                if repr.conn == self.conn
                    && flags == spec::FIN | spec::ACK
                    && repr.ack == seq_plus(self.end(), 1) =>
            {
                self.stage = Stage::FinalAck;
                self.succeeded = true;
            }
            _ => {}
        }
    }
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
}

/// The `transfer-size` a SYN's payload announces, read as SPEC §3.1 says: from a well-formed
/// list only, with exactly 8 bytes.
fn announced_size(payload: &[u8]) -> Option<u64> {
    if !options_well_formed(payload) {
        return None;
    }
    let value: [u8; 8] = option_value(payload, 1)?.try_into().ok()?;
    Some(u64::from_le_bytes(value))
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
}

struct RxWorld<'s, const R: usize> {
    rx: Receiver<&'s mut [u8], Endpoint, 4, R>,
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
/// - the SYN|ACK grants exactly `min(offer, R + 1)` when that is 2 or more (native), and
///   nothing otherwise; a receiver without reorder slots (`R = 0`) never grants a window;
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
/// Input: set-up byte ([`rx_setup`]), data length (u16, mod 3001; mod 12001 with `R = 31`),
/// script ISN (u32, mod MAX_SEQ), receiver seed (u16), chunk (u16), sink slack (u16, mod
/// 2048); then ops ([`rx_op`]).
pub fn receiver(data: &[u8]) -> Outcome {
    let setup = data.first().copied().unwrap_or(0);
    // The script's offer: bits 6-7.
    let offer = [64, 2, 4, 1][usize::from(setup >> 6)];
    match (setup >> rx_setup::WINDOW_SHIFT) & 3 {
        0 => receiver_with::<0>(data, None),
        1 => receiver_with::<3>(data, Some(offer)),
        2 => receiver_with::<31>(data, Some(offer)),
        // A stop-and-wait receiver asked for a window: it grants none.
        _ => receiver_with::<0>(data, Some(offer)),
    }
}

/// [`receiver`] with `R` reorder slots; `offer`: the script's window offer.
fn receiver_with<const R: usize>(data: &[u8], offer: Option<u8>) -> Outcome {
    // Memory is fixed (SPEC §10.1): `R` payload slots on top of the stop-and-wait receiver.
    let size = size_of::<Receiver<&mut [u8], Endpoint, 4, R>>();
    let base = size_of::<Receiver<&mut [u8], Endpoint, 4, 0>>();
    assert!(size <= base + R * (spec::MAX_PAYLOAD + 8), "{size} bytes for {R} reorder slots");
    let mut input = Cursor::new(data);
    let setup = input.u8();
    let profile = if setup & rx_setup::REFERENCE != 0 { Profile::Reference } else { Profile::Native };
    let max_len = if R >= 31 { 4 * MAX_PATTERN } else { MAX_PATTERN };
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
    let mut world: RxWorld<R> = RxWorld {
        rx: Receiver::new(config, &mut out[..], Instant::ZERO),
        profile,
        idle: config.idle_timeout,
        now: Instant::ZERO,
        script: Script {
            profile,
            data: pattern(len),
            isn,
            chunk,
            transfer_size: setup & rx_setup::TRANSFER_SIZE != 0,
            conn: 0,
            risn: SeqNum::ZERO,
            stage: Stage::Syn,
            sent: VecDeque::new(),
            succeeded: false,
            offer,
            window: 1,
            mark: 0,
        },
        held: Vec::new(),
        clean: true,
        syn_acks: Vec::new(),
        conn: None,
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
    let left = rx.into_sink().len();
    assert_eq!(capacity - left, written.len(), "the sink took other than what was delivered");
    assert_eq!(&out[..written.len()], &written[..], "the sink holds other bytes than those delivered");
    outcome
}

impl<const R: usize> RxWorld<'_, R> {
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
            // A SYN option list (SPEC §3.1, §10): transfer size, then a digest offer.
            let mut options = vec![1, 8];
            options.extend_from_slice(&u64::from(fill).to_le_bytes());
            options.extend_from_slice(&[3, 1, 1 + (fill & 1)]);
            let n = options.len().min(payload.len());
            payload[..n].copy_from_slice(&options[..n]);
        }
        raw_frame(seq, ack, conn, flags, &payload)
    }

    /// The receiver takes `datagram` from `from`; everything it did is checked.
    fn deliver(&mut self, from: Endpoint, datagram: &[u8], from_script: bool, reply_lost: bool) {
        let decoded = frame::decode(datagram);
        if from == PEER && !from_script && decoded.is_ok() {
            self.clean = false;
        }
        let was_done = self.done;
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

        let mut written_now = 0;
        let mut must_answer = false;
        for &event in handled.events.iter() {
            let frame = decoded.expect("an event from a datagram that does not decode");
            must_answer |= self.on_event(from, frame, event, room, &mut written_now);
        }
        // SPEC §10.1: a data frame from the peer in the window above `A` is held, one below
        // `A` is a duplicate; both are answered.
        if let (Ok(f), Some(c)) = (decoded, self.conn)
            && c.window >= 2
            && !self.done
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
            assert_eq!(
                Ok(t.trace.header.expect("replies decode")),
                frame::decode(t.datagram).map(|f| f.repr)
            );
            (t.to, t.datagram.to_vec())
        });
        assert!(self.rx.poll_transmit(self.now).is_none(), "more than one answer to one datagram");
        match reply {
            Some((to, reply)) => {
                let frame = decoded.expect("an answer to a datagram that does not decode");
                self.check_reply(from, frame, to, &reply, from_script);
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
                let sa = self
                    .syn_acks
                    .iter()
                    .find(|sa| {
                        // The third frame's `ack` is ignored (SPEC §4, §7).
                        sa.to == from && sa.repr.conn == repr.conn && sa.repr.ack == repr.seq
                    })
                    .copied()
                    .expect("connected by a frame that answers no SYN|ACK sent to its endpoint");
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
                self.written.extend_from_slice(&chunk);
                c.rcv_nxt = seq_plus(c.rcv_nxt, chunk.len() as i64);
                c.received += chunk.len() as u64;
                if let Some(size) = c.size {
                    assert!(c.received <= size, "data delivered past the announced size");
                }
                *written_now += chunk.len();
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
                // With a window, the in-order frame and the held frames that follow it are
                // written one by one (each whole or not at all) until one does not fit.
                let chunks = Self::release(&mut self.held, &c, data);
                let mut fit = 0;
                let mut fits = true;
                for chunk in &chunks {
                    if fit + chunk.len() > room {
                        fits = false;
                        break;
                    }
                    fit += chunk.len();
                    self.written.extend_from_slice(chunk);
                }
                assert!(!fits, "a sink failure with room for the data");
                assert!(fit == 0 || c.window >= 2, "a sink failure after writing");
                *written_now += fit;
                self.done = true;
                false
            }
            ReceiverEvent::Failed(Error::LengthMismatch) => {
                // SPEC §3.1: a FIN at another length, or data (in order, or held in the
                // window) that would end past the announced size. Nothing is answered.
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
        from_script: bool,
    ) {
        assert!(!self.done, "an answer after the end");
        assert_eq!(to, from, "an answer to another endpoint than the datagram's");
        let answer = frame::decode(reply).expect("answers decode");
        let repr = answer.repr;
        let flags = repr.flags.bits();
        if from_script && self.script.offer.is_none() {
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
            // A window grant (SPEC §10.1): only from reorder slots, at most R + 1.
            let window = match option_value(answer.payload, 2) {
                None => 1,
                Some(&[w]) => {
                    assert!(
                        R > 0 && self.profile == Profile::Native,
                        "a window granted without reorder slots"
                    );
                    assert!((2..=(R + 1).min(64)).contains(&usize::from(w)), "a grant of {w} frames");
                    usize::from(w)
                }
                Some(other) => panic!("a window option of {} bytes", other.len()),
            };
            if from_script && self.clean && self.script.offer.is_some() {
                let granted = match (self.profile, self.script.offer) {
                    (Profile::Native, Some(offer)) if R > 0 => usize::from(offer).min(R + 1),
                    _ => 1,
                };
                let want = if granted >= 2 { vec![2, 1, granted as u8] } else { Vec::new() };
                assert_eq!(answer.payload, &want[..], "the SYN|ACK to the script grants other than SPEC's");
            }
            let size = announced_size(frame.payload);
            let sa = SynAck { to, repr, grants: !answer.payload.is_empty(), window, size };
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
        assert!(self.rx.poll_transmit(self.now).is_none(), "the receiver sent a frame on a timer");
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

// ------------------------------------------------------------------------------------------
// sender

/// The sender target's op codes: the low 3 bits of an op byte.
pub mod tx_op {
    /// The right answer to the sender's last frame. Also 1 and 2, to weight it. Bit 7
    /// ([`WRONG_PEER`]): from another endpoint. Bit 6 ([`ORIGINAL_FIN_ACK`]): answer a FIN
    /// as the original receiver does (ACK|FIN with an unexpected `ack`; reference only).
    pub const GOOD: u8 = 0;
    /// The right answer with one thing wrong: 3 bytes (what, delta, extra): `what % 8` picks
    /// seq or ack moved by a small delta, conn changed (to 0 for an even `extra`), other
    /// flags, reserved flags, a payload, a truncation, another endpoint.
    pub const MUTATED: u8 = 3;
    /// Junk from endpoint `(op >> 3) & 3`: a datagram.
    pub const RAW: u8 = 4;
    /// One byte: time passes, `byte * 4 ms`.
    pub const WAIT: u8 = 5;
    /// One byte: time passes, `byte * 64 ms`.
    pub const WAIT_LONG: u8 = 6;
    /// One byte: an earlier answer again (a network duplicate).
    pub const REPLAY: u8 = 7;
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

struct TxWorld<'s, const N: usize> {
    tx: Sender<&'s [u8], Endpoint, N>,
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
    let size = size_of::<Sender<&[u8], Endpoint, N>>();
    let base = size_of::<Sender<&[u8], Endpoint, 1>>();
    assert!(size <= base + (N - 1) * (spec::MAX_FRAME + 8), "{size} bytes for {N} frame buffers");
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
        tx: Sender::windowed(config, &pattern[..], PEER, Instant::ZERO),
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
                from == PEER && frame::decode(&answer).is_ok_and(|f| self.offset_of(f.repr.ack) > self.acked);
            if from == PEER {
                self.got.extend(take);
            }
            let ack = frame::decode(&answer).map_or(0, |f| self.offset_of(f.repr.ack));
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
        let kinds = if self.offer.is_some() { 16 } else { 8 };
        match what % kinds {
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
        let decoded = frame::decode(datagram);
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
            let frame = frame::decode(&bytes).expect("the sender sends frames that decode");
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

// ------------------------------------------------------------------------------------------
// The seed corpus

/// A seed input for one target.
pub struct Seed {
    /// The target's name.
    pub target: &'static str,
    /// The file name, without the `seed-` prefix.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
    /// What a run of it reaches.
    pub reaches: Outcome,
}

/// No connection, no transfer: the frame targets' seeds.
const NOTHING: Outcome = Outcome { connected: false, completed: false, windowed: false };
/// A connection that does not complete the scripted transfer.
const CONNECTS: Outcome = Outcome { connected: true, completed: false, windowed: false };
/// The scripted transfer completes.
const COMPLETES: Outcome = Outcome { connected: true, completed: true, windowed: false };
/// The scripted transfer completes with a window (SPEC §10.1).
const COMPLETES_WINDOWED: Outcome = Outcome { connected: true, completed: true, windowed: true };
/// A connection with a window that does not complete the scripted transfer.
const CONNECTS_WINDOWED: Outcome = Outcome { connected: true, completed: false, windowed: true };

fn seed(target: &'static str, name: &str, bytes: Vec<u8>, reaches: Outcome) -> Seed {
    Seed { target, name: name.to_string(), bytes, reaches }
}

/// A lossless transfer of `pattern(len)` between the crate's own sender and receiver, each
/// configured as the sender and receiver targets configure theirs: every datagram the sender
/// sent, and every one the receiver sent, in order.
fn real_transfer(
    profile: Profile,
    len: usize,
    sender_seed: u64,
    receiver_seed: u64,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let data = pattern(len);
    let mut out = vec![0u8; len];
    let tx_config = SenderConfig { profile, ..SenderConfig::new(sender_seed) };
    let rx_config = ReceiverConfig { profile, ..ReceiverConfig::new(receiver_seed) };
    let mut tx: Sender<&[u8], Endpoint> = Sender::new(tx_config, &data[..], PEER, Instant::ZERO);
    let mut rx: Receiver<&mut [u8], Endpoint> = Receiver::new(rx_config, &mut out[..], Instant::ZERO);
    let (mut from_tx, mut from_rx) = (Vec::new(), Vec::new());
    let mut now = Instant::ZERO;
    // Bounded: a lossless transfer of at most MAX_PATTERN bytes takes a few dozen rounds.
    for _ in 0..1000 {
        let mut sent = false;
        while let Some(t) = tx.poll_transmit(now) {
            from_tx.push(t.datagram.to_vec());
            rx.handle_datagram(now, PEER, t.datagram);
            sent = true;
        }
        while let Some(t) = rx.poll_transmit(now) {
            from_rx.push(t.datagram.to_vec());
            tx.handle_datagram(now, PEER, t.datagram);
            sent = true;
        }
        if tx.is_done() && rx.is_done() {
            break;
        }
        if !sent {
            now = tx.poll_timeout().into_iter().chain(rx.poll_timeout()).min().expect("a timer runs");
            tx.handle_timeout(now);
            rx.handle_timeout(now);
        }
    }
    assert!(tx.has_succeeded() && rx.has_succeeded(), "the seed transfer failed");
    (from_tx, from_rx)
}

fn rx_header(setup: u8, len: u16, isn: u32, seed: u16, chunk: u16, slack: u16) -> Program {
    let mut p = Program::default();
    p.u8(setup).u16(len).u32(isn).u16(seed).u16(chunk).u16(slack);
    p
}

fn tx_header(setup: u8, len: u16, seed: u32, conn: u16, risn: u32) -> Program {
    let mut p = Program::default();
    p.u8(setup).u16(len).u32(seed).u16(conn).u32(risn);
    p
}

/// A roundtrip input: the header fields, then the payload.
fn roundtrip_input(seq: u32, ack: u32, conn: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Program::default();
    p.u32(seq).u32(ack).u16(conn).u8(flags);
    let mut bytes = p.into_bytes();
    bytes.extend_from_slice(payload);
    bytes
}

/// The committed seeds: SPEC §9's vectors, each rejection rule, the frames of real simulated
/// transfers, and engine programs that complete, lose, duplicate, time out and inject.
pub fn seed_corpus() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let max = spec::MAX_SEQ;

    // decode_frame: SPEC §9, the edges of SPEC §1, real frames.
    let spec_header = vec![0x2b, 0, 0, 0, 0x2b, 0x02, 0, 0, 0x07, 0, 0x04, 0];
    let mut reference_syn = vec![0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0];
    reference_syn.resize(spec::MAX_FRAME, 0);
    let decode = "decode_frame";
    seeds.push(seed(decode, "spec9-ack-header", spec_header.clone(), NOTHING));
    seeds.push(seed(decode, "spec9-reference-syn", reference_syn.clone(), NOTHING));
    seeds.push(seed(decode, "empty", Vec::new(), NOTHING));
    seeds.push(seed(decode, "truncated-11", spec_header[..11].to_vec(), NOTHING));
    let mut oversized = reference_syn.clone();
    oversized.push(0);
    seeds.push(seed(decode, "oversized-525", oversized, NOTHING));
    seeds.push(seed(decode, "reserved-flag", raw_frame(43, 555, 7, 0x0c, b""), NOTHING));
    seeds.push(seed(decode, "syn-and-fin", raw_frame(43, 555, 7, 0x07, b""), NOTHING));
    seeds.push(seed(decode, "seq-max", raw_frame(max, 0, 7, 0x04, b"x"), NOTHING));
    seeds.push(seed(decode, "ack-max", raw_frame(max - 1, max, 7, 0x04, b"x"), NOTHING));
    seeds.push(seed(decode, "seq-ack-max-minus-1", raw_frame(max - 1, max - 1, 0xffff, 0x05, b"x"), NOTHING));
    let (native_tx, native_rx) = real_transfer(Profile::Native, 1300, 5, 7);
    let (reference_tx, reference_rx) = real_transfer(Profile::Reference, 700, 5, 9);
    for (label, frames) in [
        ("native-sender", &native_tx),
        ("native-receiver", &native_rx),
        ("reference-sender", &reference_tx),
        ("reference-receiver", &reference_rx),
    ] {
        for (i, frame) in frames.iter().enumerate() {
            seeds.push(seed(decode, &format!("{label}-{i}"), frame.clone(), NOTHING));
        }
    }

    // frame_roundtrip.
    let roundtrip = "frame_roundtrip";
    seeds.push(seed(roundtrip, "spec9-ack-header", roundtrip_input(43, 555, 7, 4, b""), NOTHING));
    seeds.push(seed(roundtrip, "spec9-reference-syn", roundtrip_input(42, 0, 0, 2, &[0; 512]), NOTHING));
    seeds.push(seed(
        roundtrip,
        "fin-ack-max",
        roundtrip_input(max - 1, max - 1, 0xffff, 5, b"done"),
        NOTHING,
    ));
    seeds.push(seed(roundtrip, "data-512", roundtrip_input(1000, 5001, 77, 4, &pattern(512)), NOTHING));
    seeds.push(seed(roundtrip, "payload-513", roundtrip_input(1, 2, 3, 0, &pattern(513)), NOTHING));
    seeds.push(seed(roundtrip, "syn-fin-becomes-syn", roundtrip_input(9, 9, 9, 3, b"x"), NOTHING));

    // receiver: scripted transfers.
    let receiver = "receiver";
    let sends = |p: &mut Program, n: usize, lost: bool| {
        for _ in 0..n {
            p.u8(rx_op::SEND | if lost { rx_op::LOST_REPLY } else { 0 });
        }
    };
    let mut p = rx_header(rx_setup::TRANSFER_SIZE, 1300, 1000, 7, 0, 0);
    sends(&mut p, 7, false);
    p.u8(rx_op::WAIT_LONG).u8(200);
    seeds.push(seed(receiver, "native-clean", p.into_bytes(), COMPLETES));

    let mut p = rx_header(rx_setup::REFERENCE, 700, 42, 9, 0, 10);
    sends(&mut p, 6, false);
    seeds.push(seed(receiver, "reference-clean", p.into_bytes(), COMPLETES));

    let mut p = rx_header(rx_setup::CHUNKED, 900, max - 300, 3, 199, 100);
    p.u8(rx_op::SEND);
    p.u8(rx_op::SEND | rx_op::LOST_REPLY).u8(rx_op::WAIT).u8(100);
    p.u8(rx_op::SEND);
    p.u8(rx_op::SEND | rx_op::LOST_REPLY).u8(rx_op::SEND);
    p.u8(rx_op::DUPLICATE).u8(0).u8(rx_op::DUPLICATE).u8(1);
    sends(&mut p, 3, false);
    p.u8(rx_op::DUPLICATE).u8(2);
    sends(&mut p, 4, false);
    seeds.push(seed(receiver, "native-lossy-chunked-wrap", p.into_bytes(), COMPLETES));

    let mut p = rx_header(0, 600, 5000, 11, 0, 0);
    p.u8(rx_op::RAW | 1 << 3).datagram(b"garbage!");
    p.u8(rx_op::RAW | 2 << 3).datagram(&raw_frame(43, 555, 7, 4, b"hi"));
    // A SYN from endpoint 3 (a half-open entry), then the script. (Delta bytes: 2 is 0.)
    p.u8(rx_op::FORGED | 3 << 3).u8(0x81).u8(5).u8(2).u16(0).u8(2).u8(8).u8(1);
    sends(&mut p, 2, false);
    // Endpoint 2 tries the connection's conn and next seq: wrong peer.
    p.u8(rx_op::FORGED | 2 << 3).u8(0x01).u8(2).u8(2).u16(0).u8(4).u8(4).u8(7);
    sends(&mut p, 3, false);
    p.u8(rx_op::WAIT).u8(10);
    seeds.push(seed(receiver, "junk-from-strangers", p.into_bytes(), COMPLETES));

    let mut p = rx_header(0, 0, 77, 1, 0, 0);
    sends(&mut p, 4, false);
    seeds.push(seed(receiver, "empty-transfer", p.into_bytes(), COMPLETES));

    let mut p = rx_header(rx_setup::SMALL_SINK, 1500, 10, 4, 0, 0);
    sends(&mut p, 5, false);
    seeds.push(seed(receiver, "sink-full", p.into_bytes(), CONNECTS));

    let mut p = rx_header(0, 2000, 10, 4, 0, 0);
    sends(&mut p, 3, false);
    p.u8(rx_op::WAIT_LONG).u8(255).u8(rx_op::SEND);
    seeds.push(seed(receiver, "idle-timeout", p.into_bytes(), CONNECTS));

    // A stranger completes a handshake first: the script is locked out.
    let mut p = rx_header(0, 300, 600, 5, 0, 0);
    p.u8(rx_op::FORGED | 2 << 3).u8(0x00).u8(2).u8(2).u16(0).u8(2).u8(0).u8(0);
    p.u8(rx_op::FORGED | 2 << 3).u8(0x00).u8(3).u8(2).u16(0).u8(4).u8(3).u8(9);
    sends(&mut p, 3, false);
    seeds.push(seed(receiver, "stranger-connects-first", p.into_bytes(), CONNECTS));

    // With a window (SPEC §10.1). `pick(k)`: the frame at `k` from the script's `A`.
    let window = |mode: u8, offer: u8| mode << rx_setup::WINDOW_SHIFT | offer << 6;
    let pick = |k: u8| rx_op::SEND | (k + 1) << 3;
    let (next, lose_next) = (rx_op::SEND, rx_op::SEND | 15 << 3);
    // R = 3, offer 64: granted 4. Six frames, sent out of order with a loss.
    let mut p = rx_header(window(1, 0) | rx_setup::TRANSFER_SIZE, 2600, 900, 3, 0, 0);
    p.u8(next).u8(next); // SYN, third frame (alone): A = 512
    p.u8(pick(2)).u8(pick(1)).u8(lose_next).u8(pick(0)); // 1536, 1024, (2048 lost), 512: A = 2048
    p.u8(next).u8(rx_op::DUPLICATE).u8(1).u8(pick(0)); // 2560 (short, held), 2048: A = 2600
    p.u8(next).u8(next).u8(rx_op::WAIT_LONG).u8(200); // FIN, final ACK
    seeds.push(seed(receiver, "window-4-out-of-order", p.into_bytes(), COMPLETES_WINDOWED));

    // R = 31, offer 64: granted 32. Twelve frames, lost answers, duplicates, a wrap.
    let mut p = rx_header(window(2, 0), 6000, max - 2000, 8, 0, 0);
    p.u8(next).u8(next | rx_op::LOST_REPLY).u8(next);
    for round in 0..14u8 {
        p.u8(if round % 3 == 0 { next | rx_op::LOST_REPLY } else { next });
        p.u8(pick(round % 5));
        p.u8(rx_op::DUPLICATE).u8(round);
    }
    p.u8(next).u8(next).u8(next);
    seeds.push(seed(receiver, "window-32-lossy-wrap", p.into_bytes(), COMPLETES_WINDOWED));

    // R = 3, offer 2: granted 2; junk in the window from a stranger.
    let mut p = rx_header(window(1, 1), 1500, 77, 4, 0, 0);
    p.u8(next).u8(next).u8(pick(1));
    p.u8(rx_op::FORGED | 2 << 3).u8(0x01).u8(0x81).u8(2).u16(0).u8(4).u8(200).u8(9);
    for _ in 0..6 {
        p.u8(next);
    }
    seeds.push(seed(receiver, "window-2-stranger", p.into_bytes(), COMPLETES_WINDOWED));

    // A stop-and-wait receiver (R = 0) asked for a window grants none.
    let mut p = rx_header(window(3, 0), 1300, 4000, 5, 0, 0);
    for _ in 0..7 {
        p.u8(next);
    }
    seeds.push(seed(receiver, "window-refused", p.into_bytes(), COMPLETES));

    // The sink fills while held frames are released.
    let mut p = rx_header(window(1, 2) | rx_setup::SMALL_SINK, 2500, 50, 6, 0, 0);
    p.u8(next).u8(next).u8(pick(3)).u8(pick(2)).u8(pick(1)).u8(pick(0)).u8(next);
    seeds.push(seed(receiver, "window-sink-full", p.into_bytes(), CONNECTS_WINDOWED));

    // The frames of a real sender, as junk from the peer's endpoint.
    for (label, profile_bit, len, receiver_seed, frames) in [
        ("real-sender-native", 0, 1300u16, 7u16, &native_tx),
        ("real-sender-reference", rx_setup::REFERENCE, 700, 9, &reference_tx),
    ] {
        let mut p = rx_header(profile_bit, len, 0, receiver_seed, 0, 0);
        for frame in frames {
            p.u8(rx_op::RAW).datagram(frame);
        }
        seeds.push(seed(receiver, label, p.into_bytes(), CONNECTS));
    }

    // sender.
    let sender = "sender";
    let mut p = tx_header(tx_setup::TRANSFER_SIZE, 1300, 5, 77, 5000);
    for _ in 0..6 {
        p.u8(tx_op::GOOD);
    }
    p.u8(tx_op::GOOD).u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "native-good", p.into_bytes(), COMPLETES));

    let mut p = tx_header(tx_setup::REFERENCE, 700, 1, 3, 100);
    for _ in 0..3 {
        p.u8(tx_op::GOOD);
    }
    p.u8(tx_op::GOOD | tx_op::ORIGINAL_FIN_ACK).u8(tx_op::GOOD).u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "reference-good", p.into_bytes(), COMPLETES));

    let mut p = tx_header(0, 1100, 9, 0, max - 2);
    p.u8(tx_op::WAIT).u8(200).u8(tx_op::GOOD | tx_op::WRONG_PEER).u8(tx_op::GOOD);
    p.u8(tx_op::MUTATED).u8(1).u8(1).u8(0).u8(tx_op::REPLAY).u8(0).u8(tx_op::GOOD);
    p.u8(tx_op::MUTATED).u8(2).u8(9).u8(9).u8(tx_op::WAIT_LONG).u8(10).u8(tx_op::GOOD);
    p.u8(tx_op::RAW | 1 << 3).datagram(b"junk").u8(tx_op::MUTATED).u8(5).u8(3).u8(20);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD).u8(tx_op::REPLAY).u8(3).u8(tx_op::GOOD).u8(tx_op::GOOD);
    seeds.push(seed(sender, "native-lossy-wrap", p.into_bytes(), COMPLETES));

    let mut p = tx_header(0, 100, 2, 8, 8);
    p.u8(tx_op::GOOD);
    for _ in 0..4 {
        p.u8(tx_op::WAIT_LONG).u8(255);
    }
    seeds.push(seed(sender, "idle-timeout", p.into_bytes(), CONNECTS));

    let mut p = tx_header(0, 0, 4, 4, 4);
    for _ in 0..4 {
        p.u8(tx_op::GOOD);
    }
    seeds.push(seed(sender, "empty-transfer", p.into_bytes(), COMPLETES));

    // With a window (SPEC §10.1). `mode`: N = 4, 32, or 4 offering 2; `grant`: tx_setup's.
    let window = |mode: u8, grant: u8| mode << tx_setup::WINDOW_SHIFT | grant << tx_setup::GRANT_SHIFT;
    let take = |k: u8| tx_op::GOOD | k << 3;
    // N = 4, granted 4: six frames, answered in order.
    let mut p = tx_header(window(1, 0) | tx_setup::TRANSFER_SIZE, 2600, 11, 9, 700);
    for _ in 0..12 {
        p.u8(tx_op::GOOD);
    }
    p.u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "window-4-in-order", p.into_bytes(), COMPLETES_WINDOWED));

    // N = 32, granted 32, fixed: 24 frames, taken out of order with losses (a fast
    // retransmission), timeouts, bad sacks.
    let mut p = tx_header(window(2, 0) | tx_setup::FIXED, 12000, 12, 3, max - 1000);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD); // SYN|ACK, the third frame's ACK
    for round in 0..40u8 {
        p.u8(take(1 + round % 3));
        if round % 5 == 0 {
            p.u8(tx_op::MUTATED).u8(8 + round % 8).u8(round).u8(round / 2);
        }
        if round % 7 == 0 {
            p.u8(tx_op::WAIT).u8(200);
        }
        p.u8(tx_op::GOOD);
    }
    for _ in 0..30 {
        p.u8(tx_op::GOOD);
    }
    p.u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "window-32-lossy", p.into_bytes(), COMPLETES_WINDOWED));

    // N = 4 offering 2, granted 2, reno: losses recovered by timeouts and early retransmit.
    let mut p = tx_header(window(3, 2), 2000, 13, 5, 5);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD);
    for _ in 0..6 {
        p.u8(take(1)).u8(tx_op::REPLAY).u8(1).u8(tx_op::WAIT_LONG).u8(20).u8(tx_op::GOOD);
    }
    for _ in 0..8 {
        p.u8(tx_op::GOOD);
    }
    seeds.push(seed(sender, "window-2-early-retransmit", p.into_bytes(), COMPLETES_WINDOWED));

    // A grant above the offer: the sender fails.
    let mut p = tx_header(window(1, 5), 1000, 14, 5, 5);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD);
    seeds.push(seed(sender, "window-above-offer", p.into_bytes(), CONNECTS));

    // No grant, a window of 1, a malformed list: stop-and-wait with four frame buffers.
    for (name, grant) in [("window-not-granted", 4), ("window-1-ignored", 6), ("window-malformed", 7)] {
        let mut p = tx_header(window(1, grant), 1300, 15, 6, 6);
        for _ in 0..6 {
            p.u8(tx_op::GOOD);
        }
        seeds.push(seed(sender, name, p.into_bytes(), COMPLETES));
    }

    // The answers of a real receiver, as raw datagrams from the peer.
    for (label, setup, len, frames) in [
        ("real-receiver-native", 0, 1300u16, &native_rx),
        ("real-receiver-reference", tx_setup::REFERENCE, 700, &reference_rx),
    ] {
        let mut p = tx_header(setup, len, 5, 1, 1);
        for frame in frames {
            p.u8(tx_op::RAW).datagram(frame);
        }
        p.u8(tx_op::WAIT_LONG).u8(100);
        seeds.push(seed(sender, label, p.into_bytes(), COMPLETES));
    }
    seeds
}
