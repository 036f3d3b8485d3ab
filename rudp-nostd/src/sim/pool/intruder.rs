//! An intruder on a listener's link: it sees every datagram delivered (but cannot stop or change
//! one), and injects junk, forged frames and SYNs from endpoints of its own, replays of other
//! transfers' frames from its own endpoints, and forgeries in the name of the legitimate
//! endpoints that must all fail on a check the real peer passes: an abandoning FIN or data with
//! a wrong `conn`, refusals to a sender with a wrong `conn`, `seq` or `ack` (SPEC §10.4: an
//! off-path attacker must guess `conn` and `RISN`).
//!
//! It never forges a frame with every field right: that is an on-path attacker, which nothing
//! unauthenticated stops.

use std::collections::VecDeque;
use std::vec::Vec;

use super::super::Node;
use crate::frame::{self, Flags, MAX_PAYLOAD, Repr};
use crate::options;
use crate::random::SplitMix64;
use crate::seq::SeqNum;
use crate::testing::datagram;

/// The kinds of datagram it sends, counted in [`Intruder::sent`].
pub(crate) const KINDS: usize = 8;
/// Random bytes, from its own endpoint.
pub(crate) const JUNK: usize = 0;
/// A valid header with random fields (random `conn`) and payload, from its own endpoint.
pub(crate) const FORGED: usize = 1;
/// A SYN offering a window (and maybe a name), from its own endpoint.
pub(crate) const SYN: usize = 2;
/// A frame some sender sent to the listener, from its own endpoint.
pub(crate) const REPLAY: usize = 3;
/// An abandoning FIN (`refuse`) in a sender's name with a wrong `conn`.
pub(crate) const ABANDON: usize = 4;
/// A data frame in a sender's name with a wrong `conn`.
pub(crate) const DATA: usize = 5;
/// A refusing ACK or FIN|ACK to a sender in the listener's name, with a wrong `conn` or `seq`.
pub(crate) const REFUSAL: usize = 6;
/// A refusing SYN|ACK to a sender in the listener's name, with a wrong `ack`.
pub(crate) const SYN_REFUSAL: usize = 7;

/// Its own endpoints.
const ENDPOINTS: u64 = 2;
/// The frames it remembers, each way.
const MEMORY: usize = 64;

pub(crate) struct Intruder {
    random: SplitMix64,
    /// Frames delivered to the listener from the senders.
    to_listener: VecDeque<(Node, Vec<u8>)>,
    /// Headers of the listener's replies delivered to senders (not SYN|ACKs).
    to_senders: VecDeque<(Node, Repr)>,
    /// The SYNs the senders sent: their endpoint and ISN.
    syns: VecDeque<(Node, SeqNum)>,
    /// Datagrams sent, by kind.
    pub sent: [u64; KINDS],
}

fn remember<T>(memory: &mut VecDeque<T>, item: T) {
    if memory.len() == MEMORY {
        memory.pop_front();
    }
    memory.push_back(item);
}

impl Intruder {
    pub(crate) fn new(seed: u64) -> Intruder {
        Intruder {
            random: SplitMix64::new(seed),
            to_listener: VecDeque::new(),
            to_senders: VecDeque::new(),
            syns: VecDeque::new(),
            sent: [0; KINDS],
        }
    }

    /// A datagram was delivered.
    pub(crate) fn observe(&mut self, from: Node, to: Node, bytes: &[u8]) {
        let Ok(f) = frame::decode(bytes) else { return };
        match (from, to) {
            (Node::Peer(_), Node::Receiver) => {
                if f.repr.flags == Flags::SYN {
                    remember(&mut self.syns, (from, f.repr.seq));
                }
                remember(&mut self.to_listener, (from, bytes.to_vec()));
            }
            (Node::Receiver, Node::Peer(_)) if !f.repr.flags.contains(Flags::SYN) && f.repr.conn != 0 => {
                remember(&mut self.to_senders, (to, f.repr));
            }
            _ => {}
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.random.next_u64() % n.max(1)
    }

    fn own(&mut self) -> Node {
        Node::Intruder(self.below(ENDPOINTS) as u8)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.random.next_u64() as u8).collect()
    }

    /// Another `conn` than `conn`.
    fn other_conn(&mut self, conn: u16) -> u16 {
        conn ^ (1 + self.below(u64::from(u16::MAX)) as u16)
    }

    /// A frame seen going to the listener.
    fn seen_to_listener(&mut self) -> Option<(Node, Vec<u8>)> {
        let i = self.below(self.to_listener.len() as u64) as usize;
        self.to_listener.get(i).cloned()
    }

    /// A reply seen going to a sender.
    fn seen_to_sender(&mut self) -> Option<(Node, Repr)> {
        let i = self.below(self.to_senders.len() as u64) as usize;
        self.to_senders.get(i).copied()
    }

    /// A sender's SYN seen.
    fn seen_syn(&mut self) -> Option<(Node, SeqNum)> {
        let i = self.below(self.syns.len() as u64) as usize;
        self.syns.get(i).copied()
    }

    /// Its next datagram: from, to, bytes. Kinds that need something seen fall back to junk
    /// until it has seen it.
    pub(crate) fn forge(&mut self) -> (Node, Node, Vec<u8>) {
        let kind = self.below(KINDS as u64) as usize;
        let forged = match kind {
            FORGED => {
                let seq = self.below(u64::from(crate::MAX_SEQ)) as u32;
                let ack = self.below(u64::from(crate::MAX_SEQ)) as u32;
                let conn = self.random.next_u64() as u16;
                let flags =
                    [Flags::ACK, Flags::FIN, Flags::ACK | Flags::FIN, Flags::NONE][self.below(4) as usize];
                let len = self.below(MAX_PAYLOAD as u64 + 1) as usize;
                let payload = self.bytes(len);
                Some((self.own(), Node::Receiver, datagram(seq, ack, conn, flags, &payload)))
            }
            SYN => {
                let seq = self.below(u64::from(crate::MAX_SEQ)) as u32;
                let mut payload = std::vec![options::WINDOW, 1, 8];
                if self.below(2) == 0 {
                    payload.extend_from_slice(&[options::NAME, 8]);
                    payload.extend_from_slice(b"intruder");
                }
                Some((self.own(), Node::Receiver, datagram(seq, 0, 0, Flags::SYN, &payload)))
            }
            REPLAY => {
                let seen = self.seen_to_listener();
                seen.map(|(_, bytes)| (self.own(), Node::Receiver, bytes))
            }
            ABANDON | DATA => {
                let seen = self.seen_to_listener();
                seen.and_then(|(peer, bytes)| {
                    let f = frame::decode(&bytes).ok()?;
                    let conn = self.other_conn(f.repr.conn);
                    let seq = f.repr.seq + self.below(4 * MAX_PAYLOAD as u64) as u32;
                    let ack = f.repr.ack.get();
                    let bytes = if kind == ABANDON {
                        let reason = 1 + self.below(6) as u8;
                        datagram(seq.get(), ack, conn, Flags::FIN, &[options::REFUSE, 1, reason])
                    } else {
                        let len = 1 + self.below(MAX_PAYLOAD as u64) as usize;
                        let payload = self.bytes(len);
                        datagram(seq.get(), ack, conn, Flags::ACK, &payload)
                    };
                    Some((peer, Node::Receiver, bytes))
                })
            }
            REFUSAL => {
                let seen = self.seen_to_sender();
                seen.map(|(peer, repr)| {
                    let reason = 1 + self.below(6) as u8;
                    // A wrong `conn` (an ACK or a FIN|ACK), or the right one with a wrong `seq`
                    // (RISN+1 is right) on an ACK: a lingering sender takes any FIN of its
                    // connection for a repeated FIN|ACK and repeats its final ACK (SPEC §5),
                    // harmless but not nothing.
                    let (conn, seq, flags) = if self.below(2) == 0 {
                        let flags = if self.below(2) == 0 { Flags::ACK } else { Flags::FIN | Flags::ACK };
                        (self.other_conn(repr.conn), repr.seq, flags)
                    } else {
                        (repr.conn, repr.seq + (1 + self.below(1000) as u32), Flags::ACK)
                    };
                    let bytes =
                        datagram(seq.get(), repr.ack.get(), conn, flags, &[options::REFUSE, 1, reason]);
                    (Node::Receiver, peer, bytes)
                })
            }
            SYN_REFUSAL => {
                let seen = self.seen_syn();
                seen.map(|(peer, isn)| {
                    // The right `ack` is ISN+1.
                    let ack = isn + (2 + self.below(1000) as u32);
                    let bytes = datagram(0, ack.get(), 0, Flags::SYN | Flags::ACK, &[options::REFUSE, 1, 1]);
                    (Node::Receiver, peer, bytes)
                })
            }
            _ => None,
        };
        let (kind, forged) = match forged {
            Some(forged) => (kind, forged),
            None => {
                let len = self.below(600) as usize;
                let junk = self.bytes(len);
                (JUNK, (self.own(), Node::Receiver, junk))
            }
        };
        self.sent[kind] += 1;
        forged
    }
}
