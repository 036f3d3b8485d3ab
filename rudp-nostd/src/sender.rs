//! The sender (SPEC §2-§6, §10.1): opens the connection, sends the data, closes.
//!
//! A sans-IO state machine: see [`Engine`] for how a driver runs it. It does no IO of the
//! application's data either: the application writes its bytes straight into the sender's
//! frame buffers ([`Sender::write_buf`] and [`Sender::advance`], or [`Sender::write`]) when
//! there is room, and says when the data ends ([`Sender::finish`]). A frame goes out once it
//! holds 512 bytes or the data has ended; every frame sent stays in its buffer until it is
//! acknowledged. [`crate::blocking::SourceSender`] reads an [`embedded_io::Read`] source into
//! it, and [`crate::asynch`] an async one.
//!
//! `W`, a const generic, is the number of frame buffers: the most frames in flight. With the
//! default `W = 1` the sender is SPEC §4's stop-and-wait engine: every window branch below is
//! behind `Sender::granted_window`, which is the constant 1 then, so the compiler removes them.
//! With `W >= 2` it offers a window in its SYN (native profile) and, once granted one, keeps up to
//! `W` data frames in flight (SPEC §10.1): a ring of `W` frame buffers from the oldest
//! unacknowledged frame (at the cumulative ack point `A`), a single RFC 6298 timer on that
//! frame, loss detection from the receiver's `sack` bitmaps (early retransmit, RFC 5827) and
//! a congestion window ([`Congestion`]). The handshake and the close use the same ring, one
//! frame at a time.

use crate::config::{Congestion, MAX_WINDOW, Profile, SenderConfig};
use crate::digest::{DigestAlgorithm, Hasher};
use crate::engine::{Engine, Handled, Transmit};
use crate::error::{Error, RefuseReason};
use crate::frame::{self, Flags, HEADER_LEN, MAX_FRAME, MAX_PAYLOAD, Packet, Repr};
use crate::options::{self, Grants, SynOptions};
use crate::random::SplitMix64;
use crate::rto::RtoEstimator;
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};
use crate::trace::{DropReason, Trace};

/// The reference tools' initial sequence number (SPEC §7).
pub const REFERENCE_ISN: u32 = 42;

/// The linger after success lasts this many retransmission timeouts (SPEC §5).
const LINGER_RTOS: u64 = 2;

/// The congestion window is kept in 1/256 frames (SPEC §10.1: "kept as a fraction").
const CWND_ONE: u32 = 256;

/// The initial congestion window of the `reno` policy, in frames.
const INITIAL_CWND: u32 = 4;

/// Frames shown held above a frame that make it lost, at most (RFC 5827: `min(3, F - 1)`).
const DUP_THRESHOLD: usize = 3;

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
        /// Newly acknowledged data bytes (0 to 512 a frame; one event for all the frames one
        /// ACK covers).
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
    /// The receiver answered; the third frame waits for its data (or for the data's end).
    Connected,
    /// Data frames (the third frame first) are in flight.
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

/// What has happened to a frame in a frame buffer: a small set of named marks.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct FrameState(u8);

impl FrameState {
    /// Waiting for `poll_transmit`.
    const PENDING: u8 = 1;
    /// Sent at least once.
    const SENT: u8 = 1 << 1;
    /// Sent more than once: no RTT sample from it (Karn), and traced as `DUP`.
    const RETRANSMITTED: u8 = 1 << 2;
    /// Shown held by a receiver's `sack` (SPEC §10.1).
    const HELD: u8 = 1 << 3;

    /// A frame just loaded: waiting for its first transmission.
    const fn new_pending() -> FrameState {
        FrameState(FrameState::PENDING)
    }

    fn is_pending(self) -> bool {
        self.0 & FrameState::PENDING != 0
    }

    fn is_sent(self) -> bool {
        self.0 & FrameState::SENT != 0
    }

    fn is_retransmitted(self) -> bool {
        self.0 & FrameState::RETRANSMITTED != 0
    }

    fn is_held(self) -> bool {
        self.0 & FrameState::HELD != 0
    }

    /// To be sent again: pending, and a retransmission.
    fn mark_for_retransmission(&mut self) {
        self.0 |= FrameState::PENDING | FrameState::RETRANSMITTED;
    }

    /// Handed to the driver.
    fn mark_sent(&mut self) {
        self.0 = (self.0 & !FrameState::PENDING) | FrameState::SENT;
    }

    /// Not to be sent (the transfer ended).
    fn cancel(&mut self) {
        self.0 &= !FrameState::PENDING;
    }

    /// Shown in a sack.
    fn mark_held(&mut self) {
        self.0 |= FrameState::HELD;
    }
}

/// One frame buffer: a frame's bytes, exactly as sent, and its state.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Slot {
    buf: [u8; MAX_FRAME],
    /// The payload length (at most [`MAX_PAYLOAD`]).
    payload_len: u16,
    state: FrameState,
    /// When it was last handed to the driver.
    sent_at: Instant,
}

impl Slot {
    /// The header, read back from the bytes (written by [`Repr::emit`], so always valid).
    fn repr(&self) -> Repr {
        let split = self.buf.split_first_chunk::<HEADER_LEN>();
        debug_assert!(split.is_some(), "a frame buffer is longer than a header");
        let (header, _) = split.unwrap_or((&[0; HEADER_LEN], &[]));
        Repr::read_emitted(header)
    }

    fn payload_len(&self) -> usize {
        debug_assert!(usize::from(self.payload_len) <= MAX_PAYLOAD);
        usize::from(self.payload_len).min(MAX_PAYLOAD)
    }

    /// The bytes that go on the wire: padded to 524 in the reference profile (SPEC §7).
    fn bytes(&self, profile: Profile) -> &[u8] {
        let len = match profile {
            Profile::Native => HEADER_LEN + self.payload_len(),
            Profile::Reference => MAX_FRAME,
        };
        &self.buf[..len.min(MAX_FRAME)]
    }

    /// Its `seq`, read straight from the header bytes.
    fn seq(&self) -> SeqNum {
        let [a, b, c, d, ..] = self.buf;
        SeqNum::from_wrapping(u32::from_le_bytes([a, b, c, d]))
    }

    /// Its acknowledgement: `seq` plus the sequence numbers it consumes (data bytes; SYN and
    /// FIN one; the final ACK, whose end is never asked for, none).
    fn end(&self) -> SeqNum {
        let flags = self.repr().flags;
        // SYN, or FIN alone (the reference final ACK is ACK|FIN and consumes nothing).
        let consumed =
            if flags.contains(Flags::SYN) || flags == Flags::FIN { 1 } else { self.payload_len() as u32 };
        self.seq() + consumed
    }
}

/// The length of an option written into a frame's payload area, which always has room for
/// the few options a frame carries (at most 50 bytes of 512).
fn fitting(written: Option<usize>) -> usize {
    debug_assert!(written.is_some(), "an option did not fit a frame's payload area");
    written.unwrap_or(0)
}

/// The sending side of one transfer.
///
/// `E` is the peer's endpoint type (`()` when the transport already filters by peer, as a
/// connected socket does); `W` the number of frame buffers, the most frames in flight (SPEC
/// §10.1), 1 to 64: with the default 1 it is the stop-and-wait engine of SPEC §4.
///
/// ```
/// use rudp_nostd::{Engine, Instant, Sender, SenderConfig};
///
/// let mut sender: Sender<()> = Sender::new(SenderConfig::new(1), (), Instant::ZERO);
/// let syn = sender.poll_transmit(Instant::ZERO).unwrap();
/// assert_eq!(syn.trace.to_string(), format!("SEND {} 0 0 SYN", syn.trace.header.unwrap().seq));
/// // One frame buffer, taken by the SYN: no room for data until the receiver answers.
/// assert!(sender.write_buf().is_empty());
///
/// // Up to 8 frames in flight: 8 frame buffers, and a window offered in the SYN. Data can be
/// // written into the other 7 already, 512 bytes each.
/// let mut sender: Sender<(), 8> = Sender::new(SenderConfig::new(1), (), Instant::ZERO);
/// let syn = sender.poll_transmit(Instant::ZERO).unwrap();
/// assert_eq!(&syn.datagram[12..], &[2, 1, 8]);
/// assert_eq!(sender.write(&[7; 5000]), 7 * 512);
/// ```
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sender<E, const W: usize = 1> {
    /// A ring of frame buffers. From the oldest unacknowledged frame (`k = 0`, in
    /// `slots[base]`): `count` frames in flight, then `staged` full frames waiting for the
    /// window, then the frame being written (`written` bytes so far).
    slots: [Slot; W],
    peer: E,
    rto: RtoEstimator,
    /// The last valid reply; in the linger, when it started.
    last_reply_at: Instant,
    /// When the retransmission timer of the oldest frame was last (re)started.
    timer_at: Instant,
    /// How long without a valid reply before giving up (SPEC §6).
    idle_timeout: Duration,
    /// Our initial sequence number (the SYN's `seq`).
    isn: SeqNum,
    /// The receiver's initial sequence number, from its SYN|ACK.
    risn: SeqNum,
    /// The sequence number of the next new frame.
    snd_nxt: SeqNum,
    /// Data bytes the application may still write, when a `transfer-size` was announced
    /// (SPEC §3.1: it binds).
    unwritten: Option<u64>,
    conn: u16,
    /// The congestion window and the slow-start threshold, in 1/256 frames.
    cwnd: u16,
    ssthresh: u16,
    state: State,
    profile: Profile,
    congestion: Congestion,
    /// Fail before sending data when the digest offered is not granted.
    require_digest: bool,
    /// The digest offered in the SYN (native profile, supported by this build).
    digest_offered: Option<DigestAlgorithm>,
    /// The window offered in the SYN (1: none offered).
    window_offered: u8,
    /// The window granted in the SYN|ACK (1 until then, and when none was granted).
    window: u8,
    /// A window was granted and the third frame acknowledged: the window is open (SPEC
    /// §10.1).
    window_open: bool,
    /// The application's data has ended ([`Sender::finish`]): no data after what is in the
    /// ring.
    data_ended: bool,
    /// The SYN offered an extension (a window, a digest, a name): the receiver may refuse the
    /// transfer, and is told when this side abandons it (SPEC §10.4).
    refusable: bool,
    /// The SYN offered an `object-id` (SPEC §10.5): no data is taken before the receiver says
    /// where it starts.
    resume_offered: bool,
    /// Where the data starts in the object: the `resume-from` granted, else 0.
    resume_from: u64,
    /// Bytes of the object before `resume_from` that the application has still to give
    /// ([`Sender::prefix_buf`]) for the digest, which covers the whole object.
    prefix_left: u64,
    base: u8,
    count: u8,
    staged: u8,
    /// Bytes in the frame being written.
    written: u16,
    /// Frames still to be acknowledged before the recovery ends (0: no recovery).
    recover: u8,
    /// The running digest of the data read, once the receiver granted one.
    hasher: Option<Hasher>,
}

impl<E: Copy + PartialEq, const W: usize> Sender<E, W> {
    /// `W` frame buffers: 1 to 64 (SPEC §10.1). Checked when the sender is built.
    const FRAMES: usize = {
        assert!(W >= 1 && W <= MAX_WINDOW as usize, "a sender has 1 to 64 frame buffers");
        W
    };

    /// A sender with `W` frame buffers about to open a connection to `peer`: its SYN, which
    /// offers a window of `min(W, config.window)` frames when that is 2 or more (native
    /// profile), is ready for `poll_transmit`.
    pub fn new(config: SenderConfig, peer: E, now: Instant) -> Sender<E, W> {
        let isn = match config.profile {
            Profile::Native => SeqNum::from_wrapping(SplitMix64::new(config.random_seed).next_u32()),
            Profile::Reference => SeqNum::from_wrapping(REFERENCE_ISN),
        };
        let timing = config.timing;
        let mut sender = Sender {
            slots: core::array::from_fn(|_| Slot {
                buf: [0; MAX_FRAME],
                payload_len: 0,
                state: FrameState::default(),
                sent_at: now,
            }),
            peer,
            rto: RtoEstimator::new(timing.initial_rto, timing.min_rto, timing.max_rto),
            last_reply_at: now,
            timer_at: now,
            idle_timeout: timing.idle_timeout,
            isn,
            risn: SeqNum::ZERO,
            snd_nxt: isn + 1,
            // Announced only in the native profile; only what was announced binds.
            unwritten: config.transfer_size.filter(|_| config.profile == Profile::Native),
            conn: 0,
            cwnd: CWND_ONE as u16,
            ssthresh: CWND_ONE as u16,
            state: State::SynSent,
            profile: config.profile,
            congestion: config.congestion,
            require_digest: config.require_digest,
            digest_offered: None,
            window_offered: 1,
            window: 1,
            window_open: false,
            data_ended: false,
            refusable: false,
            resume_offered: false,
            resume_from: 0,
            prefix_left: 0,
            base: 0,
            count: 0,
            staged: 0,
            written: 0,
            recover: 0,
            hasher: None,
        };
        let mut options_len = 0;
        if config.profile == Profile::Native {
            let area = &mut sender.slots[0].buf[HEADER_LEN..];
            if let Some(size) = config.transfer_size {
                options_len += fitting(options::write_transfer_size(area, size));
            }
            // Offered only when it is 2 or more: an offer of 1 would change nothing.
            let offer = config.window.min(Self::FRAMES as u8).min(MAX_WINDOW);
            if offer >= 2 {
                let area = &mut sender.slots[0].buf[HEADER_LEN + options_len..];
                options_len += fitting(options::write_option(area, options::WINDOW, &[offer]));
            }
            sender.window_offered = offer.max(1);
            // Only what this build can compute is offered.
            if let Some(digest) = config.digest.filter(|d| d.is_supported()) {
                let area = &mut sender.slots[0].buf[HEADER_LEN + options_len..];
                options_len += fitting(options::write_option(area, options::DIGEST, &[digest.code()]));
                sender.digest_offered = Some(digest);
            }
        }
        sender.refusable = sender.window_offered >= 2 || sender.digest_offered.is_some();
        let syn = Repr { seq: isn, ack: SeqNum::ZERO, conn: 0, flags: Flags::SYN };
        sender.load(0, syn, options_len);
        sender.count = 1;
        sender
    }

    /// Names the object in the SYN (SPEC §10.4: the receiver may store it under that name),
    /// before the SYN is first sent. False, and the SYN unchanged, when the name is empty or
    /// longer than 255 bytes, in the reference profile, or once the SYN has gone.
    pub fn offer_name(&mut self, name: &[u8]) -> bool {
        if name.is_empty() || self.profile != Profile::Native || !self.append_to_syn(options::NAME, name) {
            return false;
        }
        self.refusable = true;
        true
    }

    /// Offers to resume (SPEC §10.5): `object_id` (8 to 32 bytes, the same for the same
    /// content, different for different content) identifies the object, before the SYN is
    /// first sent. Needs a `transfer-size` and SHA-256 offered (the native profile); false, and
    /// the SYN unchanged, otherwise. From then on no data is taken before the receiver answers:
    /// it may say that it holds the first [`Sender::resume_from`] bytes, and the data starts
    /// there.
    pub fn offer_object_id(&mut self, object_id: &[u8]) -> bool {
        let sized = self.unwritten.is_some() && self.written == 0 && self.staged == 0;
        if !sized
            || self.digest_offered != Some(DigestAlgorithm::Sha256)
            || !(8..=32).contains(&object_id.len())
            || !self.append_to_syn(options::OBJECT_ID, object_id)
        {
            return false;
        }
        self.resume_offered = true;
        true
    }

    /// Appends the option (`kind`, `value`) to the SYN while it has not been sent; whether it
    /// did (false once the SYN has gone, or when it does not fit).
    fn append_to_syn(&mut self, kind: u8, value: &[u8]) -> bool {
        let unsent = self.state == State::SynSent && !self.slot(0).state.is_sent();
        if !unsent {
            return false;
        }
        let len = self.slot(0).payload_len();
        let i = self.index(0);
        let area = self.slots[i].buf.get_mut(HEADER_LEN + len..).unwrap_or(&mut []);
        let Some(written) = options::write_option(area, kind, value) else {
            return false;
        };
        self.slots[i].payload_len = (len + written).min(MAX_PAYLOAD) as u16;
        true
    }

    /// Where the data starts in the object: the receiver's `resume-from` (SPEC §10.5), or 0.
    /// Known once connected.
    pub fn resume_from(&self) -> u64 {
        self.resume_from
    }

    /// Bytes of the object before [`Sender::resume_from`] still to be given for the digest.
    pub fn prefix_left(&self) -> u64 {
        self.prefix_left
    }

    /// Room for the next bytes of the object before the resume point, which the digest must
    /// cover (SPEC §10.5: it covers the whole object): fill it from the object's start on, then
    /// [`Sender::advance_prefix`]. Empty when there is none left. No data is taken before.
    pub fn prefix_buf(&mut self) -> &mut [u8] {
        let Some(k) = self.writing().filter(|_| self.prefix_left > 0 && !self.is_over()) else {
            return &mut [];
        };
        let n = self.prefix_left.min(MAX_PAYLOAD as u64) as usize;
        let i = self.index(k);
        // `get_mut`: no panic path for firmware that links it (n <= 512 fits the buffer).
        self.slots[i].buf.get_mut(HEADER_LEN..HEADER_LEN + n).unwrap_or(&mut [])
    }

    /// The application wrote `n` bytes of the object's start at the start of
    /// [`Sender::prefix_buf`]: the digest takes them.
    pub fn advance_prefix(&mut self, n: usize) {
        let n = n.min(self.prefix_buf().len());
        let Some(k) = self.writing().filter(|_| n > 0) else {
            return;
        };
        let i = self.index(k);
        if let Some(hasher) = &mut self.hasher {
            hasher.update(self.slots[i].buf.get(HEADER_LEN..HEADER_LEN + n).unwrap_or(&[]));
        }
        self.prefix_left -= n as u64;
    }

    /// Whether the application's part is over: the FIN is in flight, or the transfer lingers,
    /// is closed or failed (no data, prefix or `finish` is taken any more).
    fn is_over(&self) -> bool {
        !matches!(self.state, State::SynSent | State::Connected | State::Transfer)
    }

    /// The digest the receiver agreed to verify, once it answered.
    pub fn digest(&self) -> Option<DigestAlgorithm> {
        self.hasher.as_ref().map(Hasher::algorithm)
    }

    /// The window the receiver granted: the most data frames in flight (1 before the
    /// SYN|ACK, and when no window was granted: stop-and-wait).
    pub fn window(&self) -> u8 {
        self.granted_window() as u8
    }

    /// The congestion window, in frames (fractions dropped): at most [`Sender::window`].
    pub fn cwnd(&self) -> u8 {
        self.limit() as u8
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

    /// The granted window: the constant 1 when `W = 1`, so that the optimizer removes every
    /// window branch from the stop-and-wait engine.
    fn granted_window(&self) -> usize {
        if W == 1 { 1 } else { usize::from(self.window).min(W) }
    }

    /// Whether the window is open: granted (2 or more) and the third frame acknowledged.
    fn is_open(&self) -> bool {
        self.granted_window() >= 2 && self.window_open
    }

    /// The most frames between `A` and the next new frame: 1 until the window opens, then
    /// the floor of the congestion window, within `[1, W]` (SPEC §10.1).
    fn limit(&self) -> usize {
        if !self.is_open() {
            return 1;
        }
        let w = self.granted_window();
        if self.congestion == Congestion::Fixed {
            return w;
        }
        (usize::from(self.cwnd) / CWND_ONE as usize).max(1).min(w)
    }

    /// The ring index of the frame `k` places after the oldest unacknowledged one.
    fn index(&self, k: usize) -> usize {
        (usize::from(self.base) + k) % Self::FRAMES
    }

    fn slot(&self, k: usize) -> &Slot {
        &self.slots[self.index(k)]
    }

    fn slot_mut(&mut self, k: usize) -> &mut Slot {
        let i = self.index(k);
        &mut self.slots[i]
    }

    fn count(&self) -> usize {
        usize::from(self.count).min(W)
    }

    fn staged(&self) -> usize {
        usize::from(self.staged).min(W - self.count())
    }

    /// The sequence number of the next new frame.
    fn next_seq(&self) -> SeqNum {
        self.snd_nxt
    }

    /// Puts `repr` and the first `payload_len` bytes already in its payload area in the frame
    /// buffer `k`, waiting to be sent, padded to 524 bytes in the reference profile (SPEC §7).
    fn load(&mut self, k: usize, repr: Repr, payload_len: usize) {
        let reference = self.profile == Profile::Reference;
        let slot = self.slot_mut(k);
        if reference {
            // `min`: the bound the optimizer needs to drop the slice's panic path.
            slot.buf[(HEADER_LEN + payload_len).min(MAX_FRAME)..].fill(0);
        }
        repr.emit(&mut Packet::new_unchecked(&mut slot.buf[..]));
        debug_assert!(payload_len <= MAX_PAYLOAD);
        slot.payload_len = payload_len.min(MAX_PAYLOAD) as u16;
        slot.state = FrameState::new_pending();
    }

    /// Marks the frame `k` to be sent again.
    fn retransmit(&mut self, k: usize) {
        self.slot_mut(k).state.mark_for_retransmission();
    }

    /// Loads the oldest staged frame (at `k = count`) for sending, with its header; the digest
    /// takes its payload now, since frames are loaded in sequence order, once each.
    fn load_staged(&mut self) {
        let k = self.count();
        let seq = self.next_seq();
        // The reference sender sends data frames after the first with flags 0 and ack 0.
        let first = seq == self.isn + 1;
        let (flags, ack) = match (self.profile, first) {
            (Profile::Reference, false) => (Flags::NONE, SeqNum::ZERO),
            _ => (Flags::ACK, self.risn + 1),
        };
        let len = self.slot(k).payload_len();
        let i = self.index(k);
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&self.slots[i].buf[HEADER_LEN..HEADER_LEN + len]);
        }
        self.load(k, Repr { seq, ack, conn: self.conn, flags }, len);
        self.snd_nxt = seq + len as u32;
        self.count += 1;
        self.staged -= 1;
    }

    /// Puts staged frames in flight as far as the window allows; the third frame goes even
    /// when empty (the data ended with none). Once all data is acknowledged and the data has
    /// ended, puts the FIN in flight.
    fn fill_window(&mut self) {
        match self.state {
            State::Connected if self.staged() > 0 => {
                // The third frame: alone (the window opens when it is acknowledged).
                self.load_staged();
                self.state = State::Transfer;
            }
            State::Connected if self.data_ended => {
                // An empty transfer still sends the third frame (SPEC §3).
                self.stage(0);
                self.load_staged();
                self.state = State::Transfer;
            }
            State::Transfer => {
                let limit = self.limit();
                while self.count() < limit && self.staged() > 0 {
                    self.load_staged();
                }
                if self.data_ended && self.count() == 0 && self.staged() == 0 {
                    self.load_fin();
                }
            }
            _ => {}
        }
    }

    /// The frame buffer being written: after those in flight and those staged, if there is
    /// one free (`None` while the ring is full).
    fn writing(&self) -> Option<usize> {
        let k = self.count() + self.staged();
        (k < W).then_some(k)
    }

    /// Room for the application's data: the free part of the frame being written (no further
    /// than an announced `transfer-size`), to fill and then [`Sender::advance`] over. Empty when
    /// the ring is full (wait for acknowledgements), once the data has ended, and once the
    /// transfer is over.
    ///
    /// Filling the frame buffers directly costs no copy: read a file or a flash region
    /// straight into it.
    pub fn write_buf(&mut self) -> &mut [u8] {
        // With resume offered, the data waits for the receiver's answer, then for the prefix.
        let waiting = (self.state == State::SynSent && self.resume_offered) || self.prefix_left > 0;
        let open = !self.is_over() && !self.data_ended && !waiting;
        let Some(k) = self.writing().filter(|_| open) else {
            return &mut [];
        };
        let held = usize::from(self.written).min(MAX_PAYLOAD);
        let allowed = self.unwritten.map_or(MAX_PAYLOAD, |left| left.min(MAX_PAYLOAD as u64) as usize);
        let end = (held + allowed).min(MAX_PAYLOAD);
        let i = self.index(k);
        &mut self.slots[i].buf[HEADER_LEN + held..HEADER_LEN + end]
    }

    /// The application wrote `n` bytes at the start of [`Sender::write_buf`]. A frame that
    /// holds 512 bytes is staged, and sent as soon as the window allows.
    pub fn advance(&mut self, n: usize) {
        let room = self.write_buf().len();
        debug_assert!(n <= room, "advance({n}) past write_buf ({room} bytes)");
        let n = n.min(room);
        let Some(k) = self.writing().filter(|_| n > 0) else {
            return;
        };
        debug_assert!(k < W);
        self.written += n as u16;
        if let Some(left) = &mut self.unwritten {
            *left -= n as u64;
        }
        if usize::from(self.written) == MAX_PAYLOAD {
            self.stage(k);
            self.fill_window();
        }
    }

    /// The frame being written, at `k`, is complete (full, or the last): it waits for the
    /// window with what it holds, and the next frame buffer starts empty.
    fn stage(&mut self, k: usize) {
        debug_assert_eq!(Some(k), self.writing());
        self.slot_mut(k).payload_len = self.written;
        self.written = 0;
        self.staged += 1;
    }

    /// Copies as much of `data` into the frame buffers as they have room for; returns how
    /// many bytes it took (0 when full: wait for acknowledgements).
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        // Each pass fills the rest of one frame buffer: at most W + 1 passes.
        for _ in 0..=W {
            let rest = data.get(taken..).unwrap_or(&[]);
            let buf = self.write_buf();
            let n = buf.len().min(rest.len());
            if n == 0 {
                break;
            }
            buf[..n].copy_from_slice(&rest[..n]);
            self.advance(n);
            taken += n;
        }
        taken
    }

    /// The data has ended: the frame being written goes out as the last (it may be short),
    /// and the FIN follows once everything is acknowledged. Returns a failure when a
    /// `transfer-size` was announced and less was written (SPEC §3.1: it binds).
    pub fn finish(&mut self) -> Option<SenderEvent> {
        if self.data_ended || self.is_over() {
            return None;
        }
        if self.unwritten.is_some_and(|left| left > 0) {
            return Some(self.abandon(Error::SourceEndedEarly));
        }
        if let Some(k) = self.writing()
            && self.written > 0
        {
            self.stage(k);
        }
        self.data_ended = true;
        self.fill_window();
        None
    }

    /// Whether all the data announced in `transfer-size` has been written and
    /// [`Sender::finish`] not called yet (always false without one): the source should be at
    /// its end now.
    pub fn is_size_reached(&self) -> bool {
        self.unwritten == Some(0) && !self.data_ended && !self.is_over()
    }

    /// The application stops the transfer with `error` (its source failed, it was cancelled:
    /// [`Error::Stopped`] with a reason). A receiver that understands it is told once, with an
    /// abandoning FIN (SPEC §10.4, reason [`RefuseReason::for_error`]); then nothing more is
    /// sent and the sender is done.
    ///
    /// After the FIN's answer the transfer is decided (SPEC §5: nothing in the linger turns a
    /// success into a failure): an abort then only ends the linger, and gives
    /// [`SenderEvent::Closed`].
    pub fn abort(&mut self, error: Error) -> SenderEvent {
        match self.state {
            State::Linger | State::Closed => {
                self.state = State::Closed;
                self.slot_mut(0).state.cancel();
                SenderEvent::Closed
            }
            State::LingerRejected => {
                self.state = State::Failed;
                self.slot_mut(0).state.cancel();
                SenderEvent::Closed
            }
            _ => self.abandon(error),
        }
    }

    /// Fails with `error`; once connected (and before the close completed), sends the
    /// receiver that understands it one FIN with `seq` the next sequence number not sent and
    /// a `refuse` (SPEC §10.4).
    fn abandon(&mut self, error: Error) -> SenderEvent {
        let connected = matches!(self.state, State::Connected | State::Transfer | State::FinSent);
        let event = self.fail(error);
        if connected && self.refusable {
            let fin = Repr { seq: self.next_seq(), ack: self.risn + 1, conn: self.conn, flags: Flags::FIN };
            let reason = RefuseReason::for_error(error);
            let i = self.index(0);
            let area = &mut self.slots[i].buf[HEADER_LEN..];
            let len = fitting(options::write_option(area, options::REFUSE, &[reason.code()]));
            self.load(0, fin, len);
            self.count = 1;
        }
        event
    }

    fn load_fin(&mut self) {
        let fin = Repr { seq: self.next_seq(), ack: self.risn + 1, conn: self.conn, flags: Flags::FIN };
        // With a digest agreed, the FIN proves the data (SPEC §10.2); the payload is not
        // data and consumes no sequence number.
        let mut payload_len = 0;
        if let Some(hasher) = &self.hasher {
            let value = hasher.value();
            let i = self.index(0);
            let area = &mut self.slots[i].buf[HEADER_LEN..];
            payload_len = fitting(options::write_option(area, options::DIGEST_VALUE, value.as_bytes()));
        }
        self.load(0, fin, payload_len);
        // The FIN consumes one sequence number; its payload is not data.
        self.snd_nxt = fin.seq + 1;
        self.count = 1;
        self.state = State::FinSent;
    }

    fn fail(&mut self, error: Error) -> SenderEvent {
        self.state = State::Failed;
        for slot in &mut self.slots {
            slot.state.cancel();
        }
        SenderEvent::Failed(error)
    }

    /// The time since the frame `k` was last sent.
    fn since_sent(&self, k: usize, now: Instant) -> Duration {
        now.saturating_since(self.slot(k).sent_at)
    }

    /// The oldest frame (the SYN or the FIN) is acknowledged at `now`: an RTT sample unless
    /// it was retransmitted (Karn), and it leaves the ring.
    fn acknowledge_oldest(&mut self, now: Instant) {
        if !self.slot(0).state.is_retransmitted() {
            self.rto.on_rtt_sample(self.since_sent(0, now));
        }
        self.rto.clear_back_off();
        self.last_reply_at = now;
        self.base = self.index(1) as u8;
        self.count = 0;
    }

    fn on_syn_ack(&mut self, now: Instant, repr: Repr, payload: &[u8]) -> Handled<SenderEvent> {
        // What our SYN offered.
        let offered = SynOptions {
            extension: self.refusable,
            resume: self.resume_offered,
            // Nothing is written before the answer when resume is offered: all of it is left.
            transfer_size: self.unwritten,
            window: (W > 1 && self.window_offered >= 2).then_some(self.window_offered),
            digest: self.digest_offered,
        };
        self.acknowledge_oldest(now);
        self.conn = repr.conn;
        self.risn = repr.seq;
        let mut handled =
            Handled::with_event(Trace::recv(repr, false), SenderEvent::Connected { conn: repr.conn });
        let grants = match Grants::parse(payload, &offered) {
            Ok(grants) => grants,
            Err(error) => {
                handled.push(self.fail(Error::BadGrant(error)));
                return handled;
            }
        };
        if self.require_digest && offered.digest.is_some() && grants.digest.is_none() {
            handled.push(self.fail(Error::DigestRefused));
            return handled;
        }
        self.hasher = grants.digest.and_then(Hasher::new);
        if let Some(from) = grants.resume_from {
            // The data starts at `from` (SPEC §10.5); the digest still covers bytes 0 to `from`.
            self.resume_from = from;
            self.prefix_left = from;
            self.unwritten = self.unwritten.map(|left| left.saturating_sub(from));
        }
        if W > 1
            && let Some(granted) = grants.window
        {
            // `Grants::parse` checked 2 <= granted <= offer <= W.
            let w = u32::from(granted).min(W as u32);
            self.window = w as u8;
            self.cwnd = (INITIAL_CWND.min(w) * CWND_ONE) as u16;
            self.ssthresh = (w * CWND_ONE) as u16;
        }
        // The third frame: alone, even when empty (SPEC §3, §10.1), once there is data (or
        // the data has ended).
        self.state = State::Connected;
        self.fill_window();
        handled
    }

    /// An acknowledgement of data (cumulative `ack`, maybe a `sack`) in `Transfer`.
    fn on_data_ack(&mut self, now: Instant, repr: Repr, payload: &[u8]) -> Handled<SenderEvent> {
        let count = self.count();
        let a = self.slot(0).seq();
        let advance = repr.ack - a;
        // The frames the cumulative ack newly covers: it must end at a frame boundary.
        let mut covered = 0;
        let mut bytes = 0u32;
        let mut boundary = 0;
        while covered < count {
            let end = self.slot(covered).end() - a;
            if end > advance {
                break;
            }
            bytes += end - boundary;
            boundary = end;
            covered += 1;
        }
        let drop = Handled::trace(Trace::drop(repr, DropReason::Unexpected));
        if boundary != advance {
            return drop;
        }
        let w = self.granted_window();
        // A sack (SPEC §10.1), relative to the new `A`: ignored when it shows a frame at
        // `k >= W` or one not sent.
        let sack = if w >= 2 { options::sack(payload) } else { None };
        let sack = sack.filter(|&bits| {
            let highest = u64::BITS as usize - bits.leading_zeros() as usize; // the highest k shown
            highest < w
                && covered + highest < count
                && (1..=highest).all(|k| bits >> (k - 1) & 1 == 0 || self.slot(covered + k).state.is_sent())
        });
        if covered == 0 && sack.is_none() {
            return drop;
        }
        self.last_reply_at = now;
        self.take_rtt_sample(now, covered, sack.unwrap_or(0));
        if let Some(bits) = sack {
            for k in 1..w.min(count - covered) {
                if bits >> (k - 1) & 1 != 0 {
                    self.slot_mut(covered + k).state.mark_held();
                }
            }
        }
        let mut handled = Handled::trace(Trace::recv(repr, false));
        if covered > 0 {
            self.base = self.index(covered) as u8;
            self.count = (count - covered) as u8;
            // RFC 6298 §5.3: the timer restarts when the cumulative ack advances; new data
            // acknowledged clears the back-off (SPEC §6).
            self.timer_at = now;
            self.rto.clear_back_off();
            if w >= 2 {
                self.window_open = true;
                self.recover = self.recover.saturating_sub(covered as u8);
                self.grow_cwnd(covered);
            }
            handled.push(SenderEvent::Acknowledged { bytes: bytes.min(u16::MAX as u32) as u16 });
        }
        if w >= 2 {
            self.detect_losses(now);
        }
        self.fill_window();
        handled
    }

    /// SPEC §10.1's RTT sample: from the newest frame the ACK newly shows in its sack, or
    /// else newly acknowledges without an earlier sack having shown it; none if that frame or
    /// any frame newly acknowledged was ever retransmitted (Karn).
    fn take_rtt_sample(&mut self, now: Instant, covered: usize, sack: u64) {
        let shown = if self.granted_window() >= 2 {
            (1..=64usize.min(self.count().saturating_sub(covered)))
                .rev()
                .map(|k| covered + k)
                .find(|&j| sack >> (j - covered - 1) & 1 != 0 && !self.slot(j).state.is_held())
        } else {
            None
        };
        let newest = shown.or_else(|| (0..covered).rev().find(|&j| !self.slot(j).state.is_held()));
        let retransmitted = (0..covered).any(|j| self.slot(j).state.is_retransmitted());
        if let Some(j) = newest
            && !retransmitted
            && !self.slot(j).state.is_retransmitted()
        {
            self.rto.on_rtt_sample(self.since_sent(j, now));
        }
    }

    /// `reno`: one frame per frame newly covered below `ssthresh`, `1/cwnd` above, never
    /// beyond `W`.
    fn grow_cwnd(&mut self, covered: usize) {
        if self.congestion == Congestion::Fixed {
            return;
        }
        let max = self.granted_window() as u32 * CWND_ONE;
        let mut cwnd = u32::from(self.cwnd);
        for _ in 0..covered {
            cwnd +=
                if cwnd < u32::from(self.ssthresh) { CWND_ONE } else { CWND_ONE * CWND_ONE / cwnd.max(1) };
        }
        self.cwnd = cwnd.min(max) as u16;
    }

    /// Early retransmit (RFC 5827): a frame with at least `min(3, F - 1)` frames above it
    /// shown held is lost; it is retransmitted unless it was retransmitted less than one RTO
    /// ago. The first such fast retransmission outside a recovery halves the window.
    fn detect_losses(&mut self, now: Instant) {
        let f = self.count();
        if f < 2 {
            return;
        }
        let threshold = DUP_THRESHOLD.min(f - 1);
        let rto = self.rto.rto();
        let mut held_above = 0;
        let mut fast = false;
        for k in (0..f).rev() {
            let slot = self.slot(k);
            if slot.state.is_held() {
                held_above += 1;
            } else if held_above >= threshold && slot.state.is_sent() && !slot.state.is_pending() {
                if slot.state.is_retransmitted() && self.since_sent(k, now) < rto {
                    continue;
                }
                self.retransmit(k);
                fast = true;
            }
        }
        if fast && self.recover == 0 && self.congestion != Congestion::Fixed {
            let cwnd = (u32::from(self.cwnd) / 2).max(CWND_ONE) as u16;
            self.cwnd = cwnd;
            self.ssthresh = cwnd;
            self.recover = f as u8;
        }
    }

    fn on_fin_ack(&mut self, now: Instant, repr: Repr, payload: &[u8]) -> Handled<SenderEvent> {
        // A `result` of 1 is a rejection whether or not we think a digest was agreed; with
        // one agreed, only a `result` of 0 is success (SPEC §10.2).
        let verdict = match (options::result(payload), &self.hasher) {
            (Some(false), _) => Err(Error::Rejected),
            (Some(true), _) | (None, None) => Ok(()),
            (None, Some(_)) => Err(Error::DigestUnconfirmed),
        };
        let end = self.slot(0).end();
        self.acknowledge_oldest(now);
        let flags = match self.profile {
            Profile::Native => Flags::ACK,
            Profile::Reference => Flags::ACK | Flags::FIN,
        };
        let final_ack = Repr { seq: end, ack: self.risn + 2, conn: self.conn, flags };
        self.load(0, final_ack, 0);
        self.count = 1;
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

    /// Whether a reply with a well-formed `refuse` is one to take (SPEC §10.4): before a `conn`
    /// is adopted, a SYN|ACK with `seq = 0`, `ack = ISN+1` and `conn = 0`; afterwards, until
    /// the FIN is acknowledged, an ACK or FIN|ACK of the connection with `seq = RISN+1` and an
    /// `ack` from the cumulative ack point to the next sequence number not sent.
    fn is_refusal(&self, repr: Repr) -> bool {
        match self.state {
            State::SynSent => {
                repr.flags == Flags::SYN | Flags::ACK
                    && repr.seq == SeqNum::ZERO
                    && repr.ack == self.isn + 1
                    && repr.conn == 0
            }
            State::Connected | State::Transfer | State::FinSent => {
                let a = if self.count() > 0 { self.slot(0).seq() } else { self.next_seq() };
                repr.flags.contains(Flags::ACK)
                    && !repr.flags.contains(Flags::SYN)
                    && repr.conn == self.conn
                    && repr.seq == self.risn + 1
                    && repr.ack - a <= self.next_seq() - a
            }
            _ => false,
        }
    }

    /// A SYN|ACK acknowledging our SYN while a frame is outstanding: our last frame was lost
    /// (SPEC §3), so send it again now. With an open window it is a network duplicate.
    fn on_repeated_syn_ack(&mut self, now: Instant, repr: Repr) -> Handled<SenderEvent> {
        if self.is_open() {
            return Handled::trace(Trace::drop(repr, DropReason::Unexpected));
        }
        self.last_reply_at = now;
        self.retransmit(0);
        Handled::trace(Trace::recv(repr, true))
    }
}

impl<E: Copy + PartialEq, const W: usize> Engine for Sender<E, W> {
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
        // The SYN and the FIN are in flight alone: their acknowledgement is the ring's end.
        let acks_in_flight = repr.ack == self.next_seq();
        let drop = |reason| Handled::trace(Trace::drop(repr, reason));
        // A refusal is looked at before anything else about a reply (SPEC §10.4).
        if self.refusable
            && let Some(reason) = options::refuse(payload)
            && self.is_refusal(repr)
        {
            let failed = self.fail(Error::Refused(RefuseReason::from_code(reason)));
            return Handled::with_event(Trace::recv(repr, false), failed);
        }
        match self.state {
            // The answer to our SYN acknowledges it (the SYN is in flight).
            State::SynSent if is_syn_ack && acks_in_flight && repr.conn != 0 => {
                self.on_syn_ack(now, repr, payload)
            }
            State::SynSent => drop(DropReason::Unexpected),
            State::Closed | State::Failed => drop(DropReason::NotAccepting),
            _ if repr.conn != self.conn => drop(DropReason::WrongConn),
            // The same SYN|ACK again: the receiver's ISN, acknowledging our SYN (SPEC §3).
            State::Transfer | State::FinSent
                if is_syn_ack && repr.seq == self.risn && repr.ack == self.isn + 1 =>
            {
                self.on_repeated_syn_ack(now, repr)
            }
            State::Linger | State::LingerRejected if repr.flags.contains(Flags::FIN) => {
                self.repeat_final_ack(now, repr)
            }
            // From here on only acknowledgements matter: ACK set, SYN clear.
            _ if repr.flags.contains(Flags::SYN) || !repr.flags.contains(Flags::ACK) => {
                drop(DropReason::Unexpected)
            }
            State::Transfer if !repr.flags.contains(Flags::FIN) => self.on_data_ack(now, repr, payload),
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
            State::SynSent | State::Connected | State::Transfer | State::FinSent => {
                if now >= self.last_reply_at + self.idle_timeout {
                    return Some(self.fail(Error::IdleTimeout));
                }
                if self.count() > 0
                    && !self.slot(0).state.is_pending()
                    && now >= self.timer_at + self.rto.rto()
                {
                    // The timer of the oldest frame expired: send it again and back off.
                    self.rto.on_timeout();
                    self.retransmit(0);
                    if self.is_open() {
                        // Restarted now (at window 1, when the retransmission goes).
                        self.timer_at = now;
                    }
                    if self.is_open() && self.state == State::Transfer && self.congestion != Congestion::Fixed
                    {
                        // Every timeout: ssthresh = max(cwnd/2, 2), cwnd = 1, (re)start a
                        // recovery (RFC 6582).
                        self.ssthresh = (u32::from(self.cwnd) / 2).max(2 * CWND_ONE) as u16;
                        self.cwnd = CWND_ONE as u16;
                        self.recover = self.count;
                    }
                }
                None
            }
            State::Linger | State::LingerRejected if now >= self.linger_deadline() => {
                self.state = if self.state == State::Linger { State::Closed } else { State::Failed };
                self.slot_mut(0).state.cancel();
                Some(SenderEvent::Closed)
            }
            State::Linger | State::LingerRejected | State::Closed | State::Failed => None,
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_, E>> {
        // Oldest first: retransmissions before new frames.
        let k = (0..self.count()).find(|&k| self.slot(k).state.is_pending())?;
        let i = self.index(k);
        // The timer of the oldest frame starts when it is first sent (nothing older is
        // outstanding then) and, with a window open, restarts only on the cumulative ack's
        // advance and on its own expiry (RFC 6298 §5): a fast retransmission leaves it alone.
        // At window 1 every transmission restarts it, as SPEC §4 has it.
        if k == 0 && !(self.is_open() && self.slots[i].state.is_sent()) {
            self.timer_at = now;
        }
        let profile = self.profile;
        let slot = &mut self.slots[i];
        slot.state.mark_sent();
        slot.sent_at = now;
        let trace = Trace::send(slot.repr(), slot.state.is_retransmitted());
        Some(Transmit { to: self.peer, datagram: slot.bytes(profile), trace })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // A frame waiting for `poll_transmit` (the application wrote outside the driver's
        // call) is due at once.
        if (0..self.count()).any(|k| self.slot(k).state.is_pending()) {
            return Some(Instant::ZERO);
        }
        match self.state {
            State::SynSent | State::Connected | State::Transfer | State::FinSent => {
                let idle = self.last_reply_at + self.idle_timeout;
                if self.count() == 0 || self.slot(0).state.is_pending() {
                    Some(idle)
                } else {
                    Some(idle.min(self.timer_at + self.rto.rto()))
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

impl<E: Copy + PartialEq, const W: usize> Sender<E, W> {
    /// About two retransmission timeouts after the last reply, and never longer than the
    /// idle timeout (SPEC §6).
    fn linger_deadline(&self) -> Instant {
        self.last_reply_at + self.rto.rto().saturating_mul(LINGER_RTOS).min(self.idle_timeout)
    }

    /// In the linger, a repeated FIN|ACK (or the reference receiver's lone FIN) means our
    /// final ACK was lost: send it again and restart the linger, as TCP's TIME-WAIT does. A
    /// final ACK not sent yet (the FIN's two answers read in one batch) goes once, as itself.
    fn repeat_final_ack(&mut self, now: Instant, repr: Repr) -> Handled<SenderEvent> {
        self.last_reply_at = now;
        if self.slot(0).state.is_sent() {
            self.retransmit(0);
        }
        Handled::trace(Trace::recv(repr, true))
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::blocking::SourceSender;
    use crate::config::Timing;
    use crate::testing::{BrokenSource, datagram, next_frame, t};
    use crate::time::Duration;
    use crate::trace::Direction;

    const RX: u8 = 1;
    const RISN: u32 = 5000;
    const CONN: u16 = 77;
    const ACK: Flags = Flags::ACK;

    /// A sender of `W` frame buffers reading `data`.
    type Tx<'a, const W: usize = 1> = SourceSender<&'a [u8], u8, W>;

    /// A sender of `W` frame buffers reading `source`.
    fn reading<S: embedded_io::Read, const W: usize>(
        config: SenderConfig,
        source: S,
    ) -> SourceSender<S, u8, W> {
        SourceSender::new(Sender::new(config, RX, t(0)), source)
    }

    fn sender(profile: Profile, data: &[u8]) -> Tx<'_> {
        let config = SenderConfig { profile, transfer_size: Some(data.len() as u64), ..SenderConfig::new(3) };
        reading(config, data)
    }

    /// Sends the SYN and answers it: returns the ISN.
    fn connect(tx: &mut Tx<'_>) -> u32 {
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

    /// A named sender (so it understands a refusal), its SYN sent: the ISN.
    fn named(data: &[u8]) -> (Tx<'_>, u32) {
        let mut tx = sender(Profile::Native, data);
        assert!(tx.offer_name(b"f.bin"));
        let (syn, payload, _) = next_frame(&mut tx, t(0)).unwrap();
        assert_eq!(&payload[10..], &[7, 5, b'f', b'.', b'b', b'i', b'n']);
        assert!(!tx.offer_name(b"late"), "a name after the SYN went");
        (tx, syn.seq.get())
    }

    #[test]
    fn a_refusal_before_the_connection_is_taken_only_as_spec_10_4_says() {
        // Not a refusal: a conn (a SYN|ACK that grants nothing: `refuse` is understood), a
        // seq, the wrong ack, an ill-formed refuse.
        for (seq, ack, conn, payload) in [
            (0, 1, CONN, &[8, 1, 1][..]),
            (1, 1, 0, &[8, 1, 1]),
            (0, 2, 0, &[8, 1, 1]),
            (0, 1, 0, &[8, 2, 1, 1]),
        ] {
            let (mut tx, isn) = named(b"x");
            let h = tx.handle_datagram(t(1), RX, &datagram(seq, isn + ack, conn, Flags::SYN | ACK, payload));
            assert!(!tx.is_done(), "{:?}", h.events);
        }
        let (mut tx, isn) = named(b"x");
        let h = tx.handle_datagram(t(1), RX, &datagram(0, isn + 1, 0, Flags::SYN | ACK, &[8, 1, 1]));
        assert_eq!(&h.events[..], &[SenderEvent::Failed(Error::Refused(RefuseReason::Busy))]);
        assert!(tx.is_done() && next_frame(&mut tx, t(1)).is_none());
        // A sender that offered nothing of type 2 or above ignores it.
        let mut plain = sender(Profile::Native, b"x");
        let isn = next_frame(&mut plain, t(0)).unwrap().0.seq.get();
        let h = plain.handle_datagram(t(1), RX, &datagram(0, isn + 1, 0, Flags::SYN | ACK, &[8, 1, 1]));
        assert!(h.events.is_empty() && !plain.is_done());
    }

    #[test]
    fn a_refusing_ack_mid_transfer_fails_at_once_and_an_abort_sends_one_abandoning_fin() {
        let data = [5u8; 2000];
        let (mut tx, isn) = named(&data);
        tx.handle_datagram(t(10), RX, &datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, &[]));
        let (third, _, _) = next_frame(&mut tx, t(10)).unwrap();
        assert_eq!(third.seq.get(), isn + 1);
        // An ack beyond what was sent, or the wrong seq: not taken.
        for d in [
            datagram(RISN + 1, isn + 514, CONN, ACK, &[8, 1, 4]),
            datagram(RISN, isn + 1, CONN, ACK, &[8, 1, 4]),
            datagram(RISN + 1, isn + 1, CONN + 1, ACK, &[8, 1, 4]),
        ] {
            let h = tx.handle_datagram(t(11), RX, &d);
            assert!(h.events.is_empty(), "{d:?}");
        }
        let h = tx.handle_datagram(t(12), RX, &datagram(RISN + 1, isn + 1, CONN, ACK, &[8, 1, 4]));
        assert_eq!(&h.events[..], &[SenderEvent::Failed(Error::Refused(RefuseReason::Storage))]);
        assert!(next_frame(&mut tx, t(12)).is_none(), "nothing more after a refusal");

        // The application stops another: one FIN with refuse 5 at the next seq not sent.
        let (mut tx, isn) = named(&data);
        tx.handle_datagram(t(10), RX, &datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, &[]));
        next_frame(&mut tx, t(10)).unwrap();
        let event = tx.abort(Error::Stopped(RefuseReason::Cancelled));
        assert_eq!(event, SenderEvent::Failed(Error::Stopped(RefuseReason::Cancelled)));
        let (fin, payload, _) = next_frame(&mut tx, t(11)).unwrap();
        assert_eq!(
            (fin.flags, fin.seq.get(), fin.ack.get(), fin.conn),
            (Flags::FIN, isn + 513, RISN + 1, CONN)
        );
        assert_eq!(payload, [8, 1, 5]);
        assert!(next_frame(&mut tx, t(12)).is_none() && tx.handle_timeout(t(5_000)).is_none());
        assert!(next_frame(&mut tx, t(5_000)).is_none(), "the abandoning FIN goes once");
    }

    #[test]
    fn an_abort_in_the_linger_ends_it_and_keeps_the_success() {
        let mut tx = sender(Profile::Native, b"abc");
        let isn = connect(&mut tx);
        next_frame(&mut tx, t(10)).unwrap();
        tx.handle_datagram(t(11), RX, &datagram(RISN + 1, isn + 4, CONN, ACK, &[]));
        let (fin, _, _) = next_frame(&mut tx, t(11)).unwrap();
        let h = tx.handle_datagram(
            t(12),
            RX,
            &datagram(RISN + 1, fin.seq.get() + 1, CONN, Flags::FIN | ACK, &[]),
        );
        assert_eq!(&h.events[..], &[SenderEvent::Finished]);
        next_frame(&mut tx, t(12)).unwrap();
        assert_eq!(tx.abort(Error::Stopped(RefuseReason::Cancelled)), SenderEvent::Closed);
        assert!(tx.has_succeeded() && tx.is_done());
        assert!(next_frame(&mut tx, t(13)).is_none(), "nothing after the linger ended");
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
    fn a_syn_ack_that_does_not_acknowledge_our_syn_is_no_repeat() {
        let mut tx = sender(Profile::Native, b"abc");
        let isn = connect(&mut tx);
        next_frame(&mut tx, t(11)).unwrap();
        // The receiver's ISN, but acknowledging something else: not our SYN|ACK again.
        let h = tx.handle_datagram(t(12), RX, &datagram(RISN, isn + 2, CONN, Flags::SYN | ACK, &[]));
        assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        assert!(next_frame(&mut tx, t(12)).is_none());
    }

    #[test]
    fn an_acknowledgement_of_new_data_clears_the_back_off() {
        let data = [5u8; 2000];
        let mut tx = sender(Profile::Native, &data);
        let isn = connect(&mut tx);
        next_frame(&mut tx, t(10)).unwrap();
        // The SYN's sample set the RTO; two timeouts double it twice.
        let rto = tx.rto();
        let mut now = t(10);
        for _ in 0..2 {
            now = tx.poll_timeout().unwrap();
            tx.handle_timeout(now);
            assert!(next_frame(&mut tx, now).unwrap().2, "retransmitted");
        }
        assert_eq!(tx.rto(), rto.saturating_mul(4));
        // The retransmitted frame is acknowledged: no sample (Karn), but the back-off clears.
        let srtt = tx.srtt();
        tx.handle_datagram(
            now + Duration::from_millis(1),
            RX,
            &datagram(RISN + 1, isn + 513, CONN, ACK, &[]),
        );
        assert_eq!((tx.rto(), tx.srtt()), (rto, srtt));
    }

    #[test]
    fn the_linger_never_outlasts_the_idle_timeout() {
        // Every RTO is at least 60 s: two of them would be 2 minutes.
        let timing = Timing {
            initial_rto: Duration::from_secs(60),
            min_rto: Duration::from_secs(60),
            max_rto: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(3),
        };
        let config = SenderConfig { timing, ..SenderConfig::new(3) };
        let mut tx: SourceSender<_, u8> = reading(config, &b""[..]);
        let isn = connect(&mut tx);
        next_frame(&mut tx, t(10)).unwrap();
        tx.handle_datagram(t(11), RX, &datagram(RISN + 1, isn + 1, CONN, ACK, &[]));
        next_frame(&mut tx, t(11)).unwrap(); // FIN
        tx.handle_datagram(t(12), RX, &datagram(RISN + 1, isn + 2, CONN, Flags::FIN | ACK, &[]));
        assert!(tx.has_succeeded() && tx.rto() >= Duration::from_secs(60));
        next_frame(&mut tx, t(12)).unwrap(); // the final ACK
        assert_eq!(tx.poll_timeout(), Some(t(12) + Duration::from_secs(3)));
        assert_eq!(tx.handle_timeout(t(3012)), Some(SenderEvent::Closed));
    }

    /// A sender announcing `announced` bytes of a source that holds `data`, connected; runs
    /// it with every frame acknowledged. Returns its events and whether it sent a FIN.
    fn run_with_size(data: &[u8], announced: u64) -> (Vec<SenderEvent>, bool) {
        let config = SenderConfig { transfer_size: Some(announced), ..SenderConfig::new(3) };
        let mut tx: SourceSender<_, u8> = reading(config, data);
        let (syn, _, _) = next_frame(&mut tx, t(0)).unwrap();
        let mut events: Vec<SenderEvent> = tx
            .handle_datagram(t(1), RX, &datagram(RISN, syn.seq.get() + 1, CONN, Flags::SYN | ACK, &[]))
            .events
            .into_iter()
            .collect();
        let mut fin = false;
        for i in 2..100 {
            let Some((frame, payload, _)) = next_frame(&mut tx, t(i)) else { break };
            fin |= frame.flags == Flags::FIN;
            let end = frame.seq.get() + if fin { 1 } else { payload.len() as u32 };
            let flags = if fin { Flags::FIN | ACK } else { ACK };
            events.extend(tx.handle_datagram(t(i), RX, &datagram(RISN + 1, end, CONN, flags, &[])).events);
        }
        (events, fin)
    }

    #[test]
    fn the_announced_transfer_size_binds_the_source() {
        for len in [0usize, 1, 511, 512, 513, 1024, 1500] {
            let data = std::vec![9u8; len];
            let (events, fin) = run_with_size(&data, len as u64);
            assert_eq!(events.last(), Some(&SenderEvent::Finished), "{len}: {events:?}");
            assert!(fin);
            // Shorter than announced: fails where it ends, and no FIN.
            let (events, fin) = run_with_size(&data, len as u64 + 1);
            assert_eq!(events.last(), Some(&SenderEvent::Failed(Error::SourceEndedEarly)), "{len}");
            assert!(!fin, "{len}: a FIN after a short source");
            // Longer than announced: fails once the announced bytes are read, and no FIN.
            if len > 0 {
                let (events, fin) = run_with_size(&data, len as u64 - 1);
                assert_eq!(events.last(), Some(&SenderEvent::Failed(Error::SourceRanLong)), "{len}");
                assert!(!fin, "{len}: a FIN after a long source");
            }
        }
    }

    #[test]
    fn the_idle_timeout_fails_the_transfer() {
        let config = SenderConfig {
            timing: Timing { idle_timeout: Duration::from_secs(3), ..Timing::DEFAULT },
            ..SenderConfig::new(1)
        };
        let mut tx: SourceSender<_, u8> = reading(config, &b"abc"[..]);
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
        let mut tx: SourceSender<_, u8> = reading(SenderConfig::new(1), BrokenSource);
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
    fn a_repeated_fin_before_the_final_ack_went_out_sends_it_once_not_as_a_retransmission() {
        let mut tx = sender(Profile::Reference, b"");
        let isn = connect(&mut tx);
        next_frame(&mut tx, t(10)).unwrap();
        tx.handle_datagram(t(11), RX, &datagram(RISN + 1, isn + 1, CONN, ACK, &[]));
        next_frame(&mut tx, t(11)).unwrap(); // FIN
        // The original receiver's two answers, read in one batch.
        tx.handle_datagram(t(12), RX, &datagram(RISN + 1, isn + 1, CONN, ACK | Flags::FIN, &[0; 512]));
        tx.handle_datagram(t(12), RX, &datagram(RISN + 1, isn + 1, CONN, Flags::FIN, &[0; 512]));
        let (final_ack, _, dup) = next_frame(&mut tx, t(12)).unwrap();
        assert_eq!((final_ack.flags, dup), (ACK | Flags::FIN, false));
        assert!(next_frame(&mut tx, t(12)).is_none());
    }

    #[test]
    fn a_frame_goes_out_full_or_at_the_end_of_the_data() {
        let mut tx: Sender<u8> = Sender::new(SenderConfig::new(3), RX, t(0));
        let (syn, _, _) = next_frame(&mut tx, t(0)).unwrap();
        let isn = syn.seq.get();
        assert!(tx.write_buf().is_empty(), "the SYN holds the only frame buffer");
        tx.handle_datagram(t(1), RX, &datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, &[]));
        // 300 bytes: not a full frame, and the data has not ended: nothing to send.
        assert_eq!(tx.write(&[1; 300]), 300);
        assert!(next_frame(&mut tx, t(2)).is_none());
        // Written straight into the frame buffer: 212 more make it full; it goes.
        let buf = tx.write_buf();
        assert_eq!(buf.len(), 212);
        buf.fill(2);
        tx.advance(212);
        let (third, payload, _) = next_frame(&mut tx, t(3)).unwrap();
        assert_eq!((third.seq.get(), payload.len()), (isn + 1, 512));
        assert_eq!(&payload[..], &[[1u8; 300].as_slice(), &[2u8; 212]].concat()[..]);
        // The ring is full until it is acknowledged.
        assert_eq!(tx.write(b"more"), 0);
        tx.handle_datagram(t(4), RX, &datagram(RISN + 1, isn + 513, CONN, ACK, &[]));
        assert_eq!(tx.write(b"end"), 3);
        assert!(next_frame(&mut tx, t(5)).is_none());
        // The end of the data sends the short frame, then the FIN.
        assert_eq!(tx.finish(), None);
        let (last, payload, _) = next_frame(&mut tx, t(5)).unwrap();
        assert_eq!((last.seq.get(), payload.as_slice()), (isn + 513, &b"end"[..]));
        tx.handle_datagram(t(6), RX, &datagram(RISN + 1, isn + 516, CONN, ACK, &[]));
        assert_eq!(next_frame(&mut tx, t(6)).unwrap().0.flags, Flags::FIN);
    }

    #[test]
    fn finishing_short_of_the_announced_size_fails() {
        let config = SenderConfig { transfer_size: Some(1000), ..SenderConfig::new(3) };
        let mut tx: Sender<u8, 4> = Sender::new(config, RX, t(0));
        assert_eq!(tx.write(&[0; 2000]), 1000, "no more than announced");
        assert!(tx.is_size_reached());
        let mut tx: Sender<u8, 4> = Sender::new(config, RX, t(0));
        assert_eq!(tx.write(&[0; 999]), 999);
        assert_eq!(tx.finish(), Some(SenderEvent::Failed(Error::SourceEndedEarly)));
        assert!(tx.is_done());
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

    /// A sender with 8 frame buffers, connected with `grant` in the SYN|ACK; its third frame
    /// sent and acknowledged. Returns the sender and `A` (the next frame's seq).
    fn windowed<'a>(data: &'a [u8], grant: &[u8], congestion: Congestion) -> (Tx<'a, 8>, u32) {
        let config = SenderConfig { congestion, ..SenderConfig::new(3) };
        let mut tx: Tx<'_, 8> = reading(config, data);
        let (syn, payload, _) = next_frame(&mut tx, t(0)).unwrap();
        assert_eq!(payload, [2, 1, 8], "the window offer");
        let isn = syn.seq.get();
        tx.handle_datagram(t(10), RX, &datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, grant));
        let (third, _, _) = next_frame(&mut tx, t(10)).unwrap();
        assert_eq!(third.seq.get(), isn + 1);
        assert!(next_frame(&mut tx, t(10)).is_none(), "the third frame is sent alone");
        let a = isn + 1 + 512;
        tx.handle_datagram(t(20), RX, &datagram(RISN + 1, a, CONN, ACK, &[]));
        (tx, a)
    }

    /// Sends what is pending; returns the seqs sent (and whether each was a DUP).
    fn drain<const N: usize>(tx: &mut Tx<'_, N>, now: Instant) -> Vec<(u32, bool)> {
        core::iter::from_fn(|| next_frame(tx, now)).map(|(f, _, dup)| (f.seq.get(), dup)).collect()
    }

    #[test]
    fn spec_vector_window_offer_and_no_offer_at_one_frame() {
        let config = SenderConfig { transfer_size: Some(1000), ..SenderConfig::new(1) };
        let mut tx: Tx<'_, 32> = reading(config, &[0; 1000][..]);
        let (_, payload, _) = next_frame(&mut tx, t(0)).unwrap();
        assert_eq!(payload, [1, 8, 0xe8, 3, 0, 0, 0, 0, 0, 0, 2, 1, 0x20]);
        // Capped by the configuration; none at 1, none in the reference profile.
        for (window, profile, expected) in [
            (4, Profile::Native, &[2u8, 1, 4][..]),
            (1, Profile::Native, &[]),
            (32, Profile::Reference, &[0; 512]),
        ] {
            let config = SenderConfig { window, profile, ..SenderConfig::new(1) };
            let mut tx: Tx<'_, 32> = reading(config, &b"x"[..]);
            assert_eq!(next_frame(&mut tx, t(0)).unwrap().1, expected);
        }
        let mut tx = sender(Profile::Native, b"x");
        assert_eq!(next_frame(&mut tx, t(0)).unwrap().1, [1, 8, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn a_grant_opens_the_window_after_the_third_frame() {
        let data = [7u8; 20 * 512];
        let (mut tx, a) = windowed(&data, &[2, 1, 6], Congestion::Reno);
        assert_eq!(tx.window(), 6);
        // cwnd starts at min(4, W) = 4 and grew by one frame (4 < ssthresh 6) on the third
        // frame's acknowledgement.
        assert_eq!(tx.cwnd(), 5);
        let sent = drain(&mut tx, t(20));
        assert_eq!(sent, (0..5).map(|k| (a + k * 512, false)).collect::<Vec<_>>());
        // Every frame newly covered grows cwnd: 5 -> 6 (slow start), then capped at W; three
        // frames are left in flight, so three new ones go.
        tx.handle_datagram(t(30), RX, &datagram(RISN + 1, a + 2 * 512, CONN, ACK, &[]));
        assert_eq!(tx.cwnd(), 6);
        let expected: Vec<_> = (5..8).map(|k| (a + k * 512, false)).collect();
        assert_eq!(drain(&mut tx, t(30)), expected);
    }

    #[test]
    fn a_window_above_the_offer_or_not_offered_fails() {
        let mut tx: Tx<'_, 8> = reading(SenderConfig::new(3), &b"x"[..]);
        let isn = next_frame(&mut tx, t(0)).unwrap().0.seq.get();
        let h = tx.handle_datagram(t(1), RX, &datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, &[2, 1, 9]));
        assert_eq!(
            h.events.last(),
            Some(&SenderEvent::Failed(Error::BadGrant(options::GrantError::WindowAboveOffer)))
        );
        let mut tx = sender(Profile::Native, b"x");
        let isn = next_frame(&mut tx, t(0)).unwrap().0.seq.get();
        let h = tx.handle_datagram(t(1), RX, &datagram(RISN, isn + 1, CONN, Flags::SYN | ACK, &[2, 1, 2]));
        assert_eq!(
            h.events.last(),
            Some(&SenderEvent::Failed(Error::BadGrant(options::GrantError::NotOffered { kind: 2 })))
        );
    }

    #[test]
    fn sacks_above_a_hole_retransmit_it_at_once_and_halve_cwnd() {
        let data = [1u8; 20 * 512];
        let (mut tx, a) = windowed(&data, &[2, 1, 8], Congestion::Reno);
        assert_eq!(drain(&mut tx, t(20)).len(), 5);
        // k = 1 and 2 held above the lost frame at A: F = 5, threshold min(3, 4) = 3, not yet.
        let h = tx.handle_datagram(t(30), RX, &datagram(RISN + 1, a, CONN, ACK, &[4, 1, 0b011]));
        assert!(h.events.is_empty() && h.trace.reason.is_none());
        assert!(drain(&mut tx, t(30)).is_empty());
        // A third frame shown: the frame at A is lost, retransmitted now; cwnd 5 -> 2.5.
        tx.handle_datagram(t(31), RX, &datagram(RISN + 1, a, CONN, ACK, &[4, 1, 0b111]));
        assert_eq!(drain(&mut tx, t(31)), [(a, true)]);
        assert_eq!(tx.cwnd(), 2);
        // The same sack again, less than one RTO later: no second retransmission.
        tx.handle_datagram(t(32), RX, &datagram(RISN + 1, a, CONN, ACK, &[4, 1, 0b111]));
        assert!(drain(&mut tx, t(32)).is_empty());
        // The retransmission fills the hole: A jumps over the held frames.
        let h = tx.handle_datagram(t(40), RX, &datagram(RISN + 1, a + 4 * 512, CONN, ACK, &[]));
        assert_eq!(&h.events[..], &[SenderEvent::Acknowledged { bytes: 4 * 512 }]);
    }

    #[test]
    fn early_retransmit_with_two_frames_in_flight() {
        // W = 2: F = 2, threshold min(3, 1) = 1 (RFC 5827).
        let data = [1u8; 3 * 512];
        let (mut tx, a) = windowed(&data, &[2, 1, 2], Congestion::Fixed);
        assert_eq!(drain(&mut tx, t(20)).len(), 2);
        tx.handle_datagram(t(30), RX, &datagram(RISN + 1, a, CONN, ACK, &[4, 1, 1]));
        assert_eq!(drain(&mut tx, t(30)), [(a, true)]);
        // `fixed` keeps cwnd = W.
        assert_eq!(tx.cwnd(), 2);
    }

    #[test]
    fn sacks_beyond_the_window_or_of_frames_not_sent_are_ignored() {
        let data = [1u8; 20 * 512];
        let (mut tx, a) = windowed(&data, &[2, 1, 4], Congestion::Reno);
        assert_eq!(drain(&mut tx, t(20)).len(), 4);
        for sack in [&[4u8, 1, 0b1000][..], &[4, 1, 0b10000], &[4, 2, 0, 1]] {
            let h = tx.handle_datagram(t(30), RX, &datagram(RISN + 1, a, CONN, ACK, sack));
            assert_eq!(h.trace.reason, Some(DropReason::Unexpected), "{sack:?}");
        }
        // An ack that is not at a frame boundary, or beyond what was sent, is dropped too.
        for ack in [a + 100, a + 5 * 512] {
            let h = tx.handle_datagram(t(30), RX, &datagram(RISN + 1, ack, CONN, ACK, &[]));
            assert_eq!(h.trace.reason, Some(DropReason::Unexpected));
        }
        assert!(drain(&mut tx, t(30)).is_empty());
    }

    #[test]
    fn a_timeout_retransmits_the_oldest_frame_and_resets_cwnd() {
        let data = [1u8; 20 * 512];
        let (mut tx, a) = windowed(&data, &[2, 1, 8], Congestion::Reno);
        assert_eq!(drain(&mut tx, t(20)).len(), 5);
        let deadline = tx.poll_timeout().unwrap();
        assert_eq!(deadline, t(20) + tx.rto());
        let rto = tx.rto();
        tx.handle_timeout(deadline);
        assert_eq!(drain(&mut tx, deadline), [(a, true)]);
        assert_eq!((tx.cwnd(), tx.rto()), (1, rto.saturating_mul(2).min(Duration::from_secs(2))));
        // cwnd 1, 5 frames in flight: nothing new until they are acknowledged.
        tx.handle_datagram(deadline, RX, &datagram(RISN + 1, a + 512, CONN, ACK, &[]));
        assert!(drain(&mut tx, deadline).is_empty());
    }

    #[test]
    fn rtt_samples_come_from_sacks_and_follow_karn() {
        let data = [1u8; 20 * 512];
        let (mut tx, a) = windowed(&data, &[2, 1, 8], Congestion::Reno);
        let srtt = tx.srtt();
        drain(&mut tx, t(100));
        // The sack newly shows k = 1: a sample from it (sent at 100, now 150).
        tx.handle_datagram(t(150), RX, &datagram(RISN + 1, a, CONN, ACK, &[4, 1, 1]));
        assert_ne!(tx.srtt(), srtt);
        let srtt = tx.srtt();
        // Showing it again gives no sample.
        tx.handle_datagram(t(400), RX, &datagram(RISN + 1, a, CONN, ACK, &[4, 1, 1]));
        assert_eq!(tx.srtt(), srtt);
        // The ACK that covers A and k = 1 (shown before): its newest frame newly acknowledged
        // and not shown is A itself, never retransmitted: a sample.
        tx.handle_datagram(t(500), RX, &datagram(RISN + 1, a + 1024, CONN, ACK, &[]));
        assert_ne!(tx.srtt(), srtt);
    }

    #[test]
    fn cwnd_grows_by_one_over_cwnd_above_ssthresh() {
        let data = [1u8; 200 * 512];
        // W = 6: ssthresh 6, cwnd 4 -> 5 after the third frame (slow start).
        let (mut tx, a) = windowed(&data, &[2, 1, 6], Congestion::Reno);
        assert_eq!(u32::from(tx.cwnd), 5 * CWND_ONE);
        drain(&mut tx, t(20));
        // 5 -> 6, then 6 + 1/6 (congestion avoidance), capped at W = 6.
        tx.handle_datagram(t(30), RX, &datagram(RISN + 1, a + 2 * 512, CONN, ACK, &[]));
        assert_eq!(u32::from(tx.cwnd), 6 * CWND_ONE);
        // Above ssthresh and below W: 1/cwnd a frame.
        tx.ssthresh = (2 * CWND_ONE) as u16;
        tx.cwnd = (4 * CWND_ONE) as u16;
        tx.grow_cwnd(2);
        // 4 + 1/4 (64/256), then + 1/4.25 (60/256, rounded down).
        assert_eq!(u32::from(tx.cwnd), 4 * CWND_ONE + 64 + 60);
        // A timeout: ssthresh = max(cwnd / 2, 2) = 2.24, cwnd = 1.
        drain(&mut tx, t(30));
        tx.handle_timeout(tx.poll_timeout().unwrap());
        assert_eq!((u32::from(tx.cwnd), u32::from(tx.ssthresh)), (CWND_ONE, 574));
        // Slow start below ssthresh (1 -> 2 -> 3), then 1/cwnd (3 + 1/3).
        tx.grow_cwnd(2);
        assert_eq!(u32::from(tx.cwnd), 3 * CWND_ONE);
        tx.grow_cwnd(1);
        assert_eq!(u32::from(tx.cwnd), 3 * CWND_ONE + 85);
    }
}
