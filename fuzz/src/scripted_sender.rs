//! The receiver world's peer: a well-behaved sender written from SPEC §3-§5 and §10.1,
//! independent of the crate's [`Sender`](rudp_nostd::Sender), that the fuzz input drives.

use std::collections::VecDeque;

use rudp_nostd::wire::{self, Flags, Frame, Repr};
use rudp_nostd::{Profile, SeqNum};

use super::spec::{self, frame_bytes, option_value, seq_plus};
use super::world::HISTORY;

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
pub(crate) struct Script {
    profile: Profile,
    /// The data it sends: the pattern.
    pub(crate) data: Vec<u8>,
    /// Its initial sequence number.
    pub(crate) isn: SeqNum,
    chunk: usize,
    transfer_size: bool,
    conn: u16,
    risn: SeqNum,
    stage: Stage,
    /// Distinct frames sent, newest last.
    pub(crate) sent: VecDeque<Vec<u8>>,
    /// Its FIN was acknowledged.
    pub(crate) succeeded: bool,
    /// The window it offers in its SYN (SPEC §10.1), if any.
    pub(crate) offer: Option<u8>,
    /// The window granted in the SYN|ACK it took (1: none).
    window: usize,
    /// With a window: the data offset of the next new frame (everything below it was sent).
    mark: usize,
}

impl Script {
    /// A script at its SYN: `data` in frames of `chunk` bytes from `isn`, announcing its size
    /// if `transfer_size` (native), offering `offer` frames (SPEC §10.1) if any.
    pub(crate) fn new(
        profile: Profile,
        data: Vec<u8>,
        isn: SeqNum,
        chunk: usize,
        transfer_size: bool,
        offer: Option<u8>,
    ) -> Script {
        Script {
            profile,
            data,
            isn,
            chunk,
            transfer_size,
            conn: 0,
            risn: SeqNum::ZERO,
            stage: Stage::Syn,
            sent: VecDeque::new(),
            succeeded: false,
            offer,
            window: 1,
            mark: 0,
        }
    }

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

    /// The frame to send for a [`rx_op::SEND`](super::rx_op::SEND) op, and whether it reaches
    /// the receiver. With the window open, `(op >> 3) & 15` picks it: 0, the next new frame
    /// within the window (or, with the window full, the oldest unacknowledged one: a
    /// timeout); 15, the same but lost on the way; `j` in 1..=14, the frame at
    /// `k = (j - 1) % W` (out of order). Before and after, the frame of SPEC §3-§5.
    pub(crate) fn pick(&mut self, op: u8) -> (Vec<u8>, bool) {
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
    pub(crate) fn record(&mut self, frame: &[u8]) {
        if self.sent.back().is_none_or(|last| last[..] != *frame) {
            if self.sent.len() == HISTORY {
                self.sent.pop_front();
            }
            self.sent.push_back(frame.to_vec());
        }
    }

    /// A datagram from the receiver.
    pub(crate) fn on_reply(&mut self, datagram: &[u8]) {
        let Ok(Frame { repr, .. }) = wire::decode(datagram) else { return };
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
