//! Half-open connections (SPEC §3, §10.4): SYNs answered whose third frame has not come yet, in
//! a fixed table of their own shared by the [`Receiver`](crate::Receiver) and the
//! [`Listener`](crate::Listener).
//!
//! An entry remembers the SYN|ACK it owes (built when the driver asks for it, so that every SYN
//! of a batch is answered), and what the SYN|ACK granted, so that a repeated SYN gets the same
//! answer. A SYN from a new endpoint that finds the table full replaces an entry chosen at
//! random (not always the oldest: a flood would then always evict the legitimate one), and
//! entries expire after the idle timeout.

use crate::digest::DigestAlgorithm;
use crate::frame::{Flags, Repr};
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// What a half-open entry is owed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum Owed {
    /// Nothing: its SYN|ACK went out.
    Nothing,
    /// The SYN|ACK, for a new SYN.
    SynAck,
    /// The same SYN|ACK again, for a repeated SYN (traced `DUP`).
    SynAckAgain,
}

/// A SYN that was answered, waiting for its third frame. `X` is what the owner keeps besides
/// (the listener: the application's admission).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct HalfOpen<E, X> {
    pub peer: E,
    pub owed: Owed,
    pub isn: SeqNum,
    pub risn: SeqNum,
    pub conn: u16,
    pub created: Instant,
    pub transfer_size: Option<u64>,
    /// The grants of the SYN|ACK: the digest, and the window (1: none).
    pub digest: Option<DigestAlgorithm>,
    pub window: u8,
    /// The SYN carried an option of type 2 or above: the sender understands `refuse`.
    pub refusable: bool,
    pub extra: X,
}

impl<E, X> HalfOpen<E, X> {
    /// Its SYN|ACK's header.
    pub fn syn_ack(&self) -> Repr {
        Repr { seq: self.risn, ack: self.isn + 1, conn: self.conn, flags: Flags::SYN | Flags::ACK }
    }
}

/// The table: at most `H` entries, one per endpoint.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct HalfOpenTable<E, X, const H: usize> {
    entries: heapless::Vec<HalfOpen<E, X>, H>,
}

impl<E: Copy + PartialEq, X: Copy, const H: usize> HalfOpenTable<E, X, H> {
    pub const fn new() -> Self {
        HalfOpenTable { entries: heapless::Vec::new() }
    }

    /// Forgets the entries older than `idle`.
    pub fn expire(&mut self, now: Instant, idle: Duration) {
        self.entries.retain(|e| now < e.created + idle);
    }

    /// A repeated SYN (`from`, `isn`): its entry owes the same SYN|ACK again. Whether there was
    /// one.
    pub fn repeat(&mut self, from: E, isn: SeqNum) -> bool {
        match self.entries.iter_mut().find(|e| e.peer == from && e.isn == isn) {
            Some(entry) => {
                if entry.owed == Owed::Nothing {
                    entry.owed = Owed::SynAckAgain;
                }
                true
            }
            None => false,
        }
    }

    /// Adds `entry`, replacing the old entry of its endpoint; a full table loses an entry
    /// chosen by the new entry's RISN, a fresh random number nobody has seen yet. False only
    /// when no entry can be kept at all (`H = 0`).
    pub fn insert(&mut self, entry: HalfOpen<E, X>) -> bool {
        self.entries.retain(|e| e.peer != entry.peer);
        match self.entries.push(entry) {
            Ok(()) => true,
            Err(entry) => {
                let victim = entry.risn.get() as usize % H.max(1);
                // Overwritten in place through `get_mut`: no index that could panic.
                match self.entries.get_mut(victim) {
                    Some(evicted) => {
                        *evicted = entry;
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// The entry of `from`, if any.
    pub fn find(&self, from: E) -> Option<&HalfOpen<E, X>> {
        self.entries.iter().find(|e| e.peer == from)
    }

    /// Forgets the entry of `from`.
    pub fn remove(&mut self, from: E) {
        self.entries.retain(|e| e.peer != from);
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The next entry that owes a SYN|ACK, marked as answered, and whether it is a repeat.
    pub fn take_owed(&mut self) -> Option<(HalfOpen<E, X>, bool)> {
        let entry = self.entries.iter_mut().find(|e| e.owed != Owed::Nothing)?;
        let dup = entry.owed == Owed::SynAckAgain;
        entry.owed = Owed::Nothing;
        Some((*entry, dup))
    }

    /// Whether a SYN|ACK is owed.
    pub fn owes(&self) -> bool {
        self.entries.iter().any(|e| e.owed != Owed::Nothing)
    }

    /// When the oldest entry expires.
    pub fn next_expiry(&self, idle: Duration) -> Option<Instant> {
        self.entries.iter().map(|e| e.created + idle).min()
    }

    /// The entries.
    pub fn iter(&self) -> impl Iterator<Item = &HalfOpen<E, X>> {
        self.entries.iter()
    }
}
