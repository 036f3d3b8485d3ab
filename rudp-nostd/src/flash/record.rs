//! The resume record (SPEC §10.5) and the state area that keeps it: two erase sectors, each a
//! log of fixed-size record slots, written so that a reset at any moment leaves the old record
//! or the new one, never a torn one.
//!
//! A record is written into the next blank slot of the current sector, with a sequence number
//! one above the last and a CRC-32C over its bytes. When the sector is full the next record goes
//! to the start of the other sector, which is erased first (it holds only older records). After
//! a reset the valid slot with the highest sequence number wins: a torn write fails its CRC, a
//! torn erase can only damage the older sector, so the last record whose write completed is
//! found. Records go to slots never written since their sector's erase (NOR: no word is written
//! twice), and the sector being filled is erased only once the other holds the newest record.

use crate::digest::DigestAlgorithm;

/// The bytes of a record on the flash (a slot is this, rounded up to the flash's write and read
/// sizes, padded with 0xFF).
pub(crate) const RECORD_LEN: usize = 64;
/// The longest object id (SPEC §10: 8 to 32 bytes).
pub(crate) const MAX_OBJECT_ID: usize = 32;
/// The record's first bytes: a format mark.
const MAGIC: [u8; 4] = *b"rudR";
/// Flag: the image is committed (its digest matched what was read back from the flash).
const COMMITTED: u8 = 1;

/// Byte ranges of a record.
mod field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const SIZE: Range<usize> = 8..16;
    pub const DURABLE: Range<usize> = 16..24;
    pub const FLAGS: usize = 24;
    pub const DIGEST: usize = 25;
    pub const ID_LEN: usize = 26;
    pub const OBJECT_ID: Range<usize> = 28..60;
    pub const CRC: Range<usize> = 60..64;
}

/// What the state area says about the image region: the object it holds (or holds the start
/// of), how much of it is durable, and whether it is committed.
///
/// A [`FlashSink`](super::FlashSink) keeps it up to date: a transfer of an object with an
/// `object-id` records its progress as each resume unit becomes durable (written to the flash,
/// and rounded down to an erase sector and to 512 bytes, SPEC §10.5), and a verified image is
/// recorded as committed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Record {
    object_id: [u8; MAX_OBJECT_ID],
    id_len: u8,
    size: u64,
    durable: u64,
    committed: bool,
    digest: Option<DigestAlgorithm>,
}

impl Record {
    /// No object: nothing held, nothing committed (a blank state area).
    pub const EMPTY: Record = Record {
        object_id: [0; MAX_OBJECT_ID],
        id_len: 0,
        size: 0,
        durable: 0,
        committed: false,
        digest: None,
    };

    /// A partial object: `durable` bytes of the object `object_id` of `size` bytes.
    pub(crate) fn partial(object_id: Option<&[u8]>, size: u64, durable: u64) -> Record {
        let mut record = Record { size, durable, ..Record::EMPTY };
        if let Some(id) = object_id {
            let n = id.len().min(MAX_OBJECT_ID);
            record.object_id[..n].copy_from_slice(&id[..n]);
            record.id_len = n as u8;
        }
        record
    }

    /// The same object, committed: all `size` bytes in place, verified with `digest`.
    pub(crate) fn committed_with(self, digest: Option<DigestAlgorithm>) -> Record {
        Record { durable: self.size, committed: true, digest, ..self }
    }

    /// The object's id (SPEC §10.5), when its transfer offered one.
    pub fn object_id(&self) -> Option<&[u8]> {
        let n = usize::from(self.id_len).min(MAX_OBJECT_ID);
        (n > 0).then(|| &self.object_id[..n])
    }

    /// The object's size (its `transfer-size`).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The bytes of the object, from its start, that the image region holds durably.
    pub fn durable(&self) -> u64 {
        self.durable
    }

    /// Whether the image region holds the whole object, its digest matched over what was read
    /// back from the flash, and the FIN was answered after this record was written.
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// The digest that verified a committed image (`None`: none was agreed, the image is
    /// unverified; a bootloader should want [`DigestAlgorithm::Sha256`]).
    pub fn digest(&self) -> Option<DigestAlgorithm> {
        self.digest
    }

    /// Whether it holds anything worth keeping: durable bytes, or a committed image.
    pub(crate) fn holds_anything(&self) -> bool {
        self.durable > 0 || self.committed
    }

    /// Writes it, with sequence number `seq`, into `out` (at least [`RECORD_LEN`] bytes).
    pub(crate) fn encode(&self, seq: u32, out: &mut [u8]) {
        let Some(out) = out.get_mut(..RECORD_LEN) else { return };
        out.fill(0);
        out[field::MAGIC].copy_from_slice(&MAGIC);
        out[field::SEQ].copy_from_slice(&seq.to_le_bytes());
        out[field::SIZE].copy_from_slice(&self.size.to_le_bytes());
        out[field::DURABLE].copy_from_slice(&self.durable.to_le_bytes());
        out[field::FLAGS] = if self.committed { COMMITTED } else { 0 };
        out[field::DIGEST] = self.digest.map_or(0, DigestAlgorithm::code);
        out[field::ID_LEN] = self.id_len;
        out[field::OBJECT_ID].copy_from_slice(&self.object_id);
        let crc = crc32c(&out[..field::CRC.start]);
        out[field::CRC].copy_from_slice(&crc.to_le_bytes());
    }

    /// The record in `bytes` and its sequence number, if they hold a whole, valid one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<(u32, Record)> {
        let bytes = bytes.get(..RECORD_LEN)?;
        let u32_at = |r: core::ops::Range<usize>| bytes.get(r)?.try_into().ok().map(u32::from_le_bytes);
        let u64_at = |r: core::ops::Range<usize>| bytes.get(r)?.try_into().ok().map(u64::from_le_bytes);
        if bytes.get(field::MAGIC)? != MAGIC || u32_at(field::CRC)? != crc32c(bytes.get(..field::CRC.start)?)
        {
            return None;
        }
        let id_len = *bytes.get(field::ID_LEN)?;
        let digest = match *bytes.get(field::DIGEST)? {
            0 => None,
            code => Some(DigestAlgorithm::from_code(code)?),
        };
        let mut object_id = [0; MAX_OBJECT_ID];
        object_id.copy_from_slice(bytes.get(field::OBJECT_ID)?);
        let record = Record {
            object_id,
            id_len,
            size: u64_at(field::SIZE)?,
            durable: u64_at(field::DURABLE)?,
            committed: *bytes.get(field::FLAGS)? & COMMITTED != 0,
            digest,
        };
        let sane = usize::from(id_len) <= MAX_OBJECT_ID && record.durable <= record.size;
        sane.then_some((u32_at(field::SEQ)?, record))
    }
}

/// What a slot of the state area holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Slot {
    /// Every byte 0xFF: never written since its sector's erase.
    Blank,
    /// A valid record, with its sequence number.
    Valid(u32, Record),
    /// Anything else: a torn write or erase, or another format.
    Garbage,
}

impl Slot {
    pub(crate) fn of(bytes: &[u8]) -> Slot {
        if bytes.iter().all(|&b| b == 0xff) {
            return Slot::Blank;
        }
        match Record::decode(bytes) {
            Some((seq, record)) => Slot::Valid(seq, record),
            None => Slot::Garbage,
        }
    }
}

/// Where the state area writes next, and the newest record: the log's state, without the IO.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct StateLog {
    /// Slots per sector.
    per_sector: u32,
    /// The next slot to write, over both sectors (0 to `2 * per_sector - 1`).
    cursor: u32,
    /// Its sector must be erased before the slot is written.
    erase_first: bool,
    /// The newest record's sequence number (0: none yet).
    seq: u32,
}

impl StateLog {
    /// Slots `0..per_sector` are the first sector's, the rest the second's.
    pub(crate) fn slots(per_sector: u32) -> u32 {
        2 * per_sector
    }

    /// The slot to write next: its index, and whether its sector is to be erased first.
    pub(crate) fn next(&self) -> (u32, bool) {
        (self.cursor, self.erase_first)
    }

    /// The sector (0 or 1) of slot `slot`.
    pub(crate) fn sector_of(&self, slot: u32) -> u32 {
        slot / self.per_sector.max(1)
    }

    /// The sequence number of the next record.
    pub(crate) fn next_seq(&self) -> u32 {
        self.seq.wrapping_add(1)
    }

    /// The erase of the next slot's sector is done: its slots are blank.
    pub(crate) fn erased(&mut self) {
        self.erase_first = false;
    }

    /// The next record was written: the cursor moves past it (to the other sector, to be
    /// erased, once this one is full).
    pub(crate) fn written(&mut self) {
        self.seq = self.next_seq();
        self.cursor += 1;
        if self.cursor.is_multiple_of(self.per_sector.max(1)) {
            self.cursor %= Self::slots(self.per_sector).max(1);
            self.erase_first = true;
        }
    }
}

/// Reads the state area slot by slot ([`Scan::add`], in order) and finds the newest record and
/// where to write next.
pub(crate) struct Scan {
    per_sector: u32,
    /// The newest valid record: its slot, sequence number and contents.
    newest: Option<(u32, u32, Record)>,
    /// The last slot of each sector that is not blank.
    last_used: [Option<u32>; 2],
}

impl Scan {
    pub(crate) fn new(per_sector: u32) -> Scan {
        Scan { per_sector, newest: None, last_used: [None; 2] }
    }

    /// Slot `index` holds `slot`.
    pub(crate) fn add(&mut self, index: u32, slot: Slot) {
        let sector = (index / self.per_sector.max(1)).min(1) as usize;
        if slot != Slot::Blank {
            self.last_used[sector] = Some(index);
        }
        if let Slot::Valid(seq, record) = slot
            && self.newest.is_none_or(|(_, newest, _)| seq > newest)
        {
            self.newest = Some((index, seq, record));
        }
    }

    /// The newest record and the log's state: the next write goes to the slot after the last
    /// one used in the newest record's sector, or, when that sector is full (or there is no
    /// record), to the start of a sector that is erased first.
    pub(crate) fn finish(self) -> (Record, StateLog) {
        let per = self.per_sector.max(1);
        let Some((index, seq, record)) = self.newest else {
            return (Record::EMPTY, StateLog { per_sector: per, cursor: 0, erase_first: true, seq: 0 });
        };
        let sector = index / per;
        let last = self.last_used[(sector as usize).min(1)].unwrap_or(index).max(index);
        let (cursor, erase_first) =
            if last + 1 < (sector + 1) * per { (last + 1, false) } else { (((sector + 1) % 2) * per, true) };
        (record, StateLog { per_sector: per, cursor, erase_first, seq })
    }
}

/// CRC-32C (Castagnoli, reflected), bit by bit: a record is 60 bytes, read once at start-up
/// and written once per resume unit, so no table is worth its flash.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_spec_vector() {
        // SPEC §10.3.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn a_record_round_trips_and_any_damage_is_found() {
        let record = Record::partial(Some(&[7; 16]), 1 << 20, 65536);
        let mut bytes = [0xffu8; RECORD_LEN];
        record.encode(41, &mut bytes);
        assert_eq!(Record::decode(&bytes), Some((41, record)));
        assert_eq!(record.object_id(), Some(&[7u8; 16][..]));
        let committed = record.committed_with(Some(DigestAlgorithm::Sha256));
        committed.encode(42, &mut bytes);
        let (_, back) = Record::decode(&bytes).unwrap();
        assert!(back.is_committed() && back.durable() == 1 << 20);
        assert_eq!(back.digest(), Some(DigestAlgorithm::Sha256));
        // Any one bit flipped, and any prefix of a write (the rest still erased), is found.
        for bit in 0..RECORD_LEN * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(Slot::of(&damaged), Slot::Garbage, "bit {bit}");
        }
        for cut in 1..RECORD_LEN {
            let mut torn = [0xffu8; RECORD_LEN];
            torn[..cut].copy_from_slice(&bytes[..cut]);
            assert_eq!(Slot::of(&torn), Slot::Garbage, "torn at {cut}");
        }
        assert_eq!(Slot::of(&[0xff; RECORD_LEN]), Slot::Blank);
    }

    /// The state log over `per` slots a sector, with `slots` as they are on the flash.
    fn scan(per: u32, slots: &[Slot]) -> (Record, StateLog) {
        let mut scan = Scan::new(per);
        for (i, &slot) in slots.iter().enumerate() {
            scan.add(i as u32, slot);
        }
        scan.finish()
    }

    #[test]
    fn the_newest_valid_record_wins_and_the_next_goes_to_a_fresh_slot() {
        let r = |n: u64| Record::partial(None, 100, n);
        let (b, g) = (Slot::Blank, Slot::Garbage);
        // Blank: the first sector, erased first.
        let (record, log) = scan(3, &[b, b, b, b, b, b]);
        assert_eq!((record, log.next()), (Record::EMPTY, (0, true)));
        // Two records in the first sector: the third slot next, no erase.
        let (record, log) = scan(3, &[Slot::Valid(1, r(1)), Slot::Valid(2, r(2)), b, b, b, b]);
        assert_eq!((record, log.next(), log.next_seq()), (r(2), (2, false), 3));
        // A torn write after them: skipped.
        let (record, log) = scan(3, &[Slot::Valid(1, r(1)), g, b, b, b, b]);
        assert_eq!((record, log.next()), (r(1), (2, false)));
        // The first sector full: the second, erased first (it may hold a torn erase).
        let (record, log) =
            scan(3, &[Slot::Valid(4, r(4)), Slot::Valid(5, r(5)), g, g, Slot::Valid(2, r(2)), g]);
        assert_eq!((record, log.next()), (r(5), (3, true)));
        // The newest in the second sector, the first full of older ones.
        let (record, log) = scan(
            3,
            &[Slot::Valid(1, r(1)), Slot::Valid(2, r(2)), Slot::Valid(3, r(3)), Slot::Valid(4, r(4)), b, b],
        );
        assert_eq!((record, log.next()), (r(4), (4, false)));
        // The second sector full: back to the first, erased first.
        let mut log = log;
        log.written();
        assert_eq!(log.next(), (5, false));
        log.written();
        assert_eq!((log.next(), log.next_seq()), ((0, true), 7));
        log.erased();
        assert_eq!(log.next(), (0, false));
    }
}
