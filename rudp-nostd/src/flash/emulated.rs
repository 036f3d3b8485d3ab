//! A NOR flash in RAM for the tests (not part of the API): erase sets a sector to 0xFF, a write
//! may only clear bits of words not written since their sector's erase, offsets and lengths
//! are aligned; a rule broken panics. It can fail an operation, flip a bit of a write (a bad
//! write), and lose power during an operation: the erase or write is torn (some of it done,
//! the word or sector where it stopped holding garbage, as the `NorFlash` docs allow) and every
//! later operation fails until [`NorEmulator::reboot`]. Clones share the same flash (the
//! simulator keeps one while a sink holds another).

use std::cell::RefCell;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

use crate::random::SplitMix64;

/// What an operation of the emulator returns instead of doing it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum EmuError {
    /// The operation asked to fail ([`NorEmulator::fail_op`]).
    Failed,
    /// The power is off (the operation that lost it is torn).
    PowerCut,
}

impl NorFlashError for EmuError {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::Other
    }
}

/// The flash's contents and its faults.
#[derive(Debug)]
pub(crate) struct Nor {
    pub bytes: Vec<u8>,
    /// Per word: written since its sector's erase.
    written: Vec<bool>,
    /// Erase and write operations so far (reads are not counted).
    pub ops: u64,
    pub erases: u64,
    pub writes: u64,
    /// The operation (by number) that loses the power: it is torn.
    pub cut_at: Option<u64>,
    /// The power is off.
    pub is_cut: bool,
    /// Where the operation that lost the power was.
    pub cut_offset: Option<u32>,
    /// The operation that fails (returns [`EmuError::Failed`], does nothing).
    pub fail_at: Option<u64>,
    /// The write operation (by number) whose data lands with one bit flipped.
    pub flip_at: Option<u64>,
    /// The bit a flip flipped: (offset, mask).
    pub flipped: Option<(usize, u8)>,
    random: SplitMix64,
}

/// A shared handle on a [`Nor`] with these sizes.
#[derive(Clone, Debug)]
pub(crate) struct NorEmulator<const WRITE: usize, const ERASE: usize, const READ: usize = 1>(
    pub Rc<RefCell<Nor>>,
);

impl<const WRITE: usize, const ERASE: usize, const READ: usize> NorEmulator<WRITE, ERASE, READ> {
    /// `sectors` erased sectors; `seed` for torn contents.
    pub(crate) fn new(sectors: usize, seed: u64) -> Self {
        let len = sectors * ERASE;
        NorEmulator(Rc::new(RefCell::new(Nor {
            bytes: vec![0xff; len],
            written: vec![false; len / WRITE],
            ops: 0,
            erases: 0,
            writes: 0,
            cut_at: None,
            is_cut: false,
            cut_offset: None,
            fail_at: None,
            flip_at: None,
            flipped: None,
            random: SplitMix64::new(seed),
        })))
    }

    pub(crate) fn nor(&self) -> std::cell::RefMut<'_, Nor> {
        self.0.borrow_mut()
    }

    /// The bytes `range`.
    pub(crate) fn bytes(&self, range: core::ops::Range<usize>) -> Vec<u8> {
        self.0.borrow().bytes[range].to_vec()
    }

    /// The power is back: what the cut left stays.
    pub(crate) fn reboot(&self) {
        let mut nor = self.nor();
        nor.is_cut = false;
        nor.cut_at = None;
    }

    /// The next operation (erase or write), counted from now: `n` = 0 is the next.
    pub(crate) fn op_after(&self, n: u64) -> u64 {
        self.0.borrow().ops + n
    }

    fn check(&self, what: &str, offset: u32, len: usize, align: usize) -> usize {
        let offset = offset as usize;
        let capacity = self.0.borrow().bytes.len();
        assert!(offset + len <= capacity, "{what} out of range: {offset}+{len} of {capacity}");
        assert!(
            offset.is_multiple_of(align) && len.is_multiple_of(align),
            "{what} misaligned: {offset}+{len} (align {align})"
        );
        offset
    }

    /// Counts an erase or write: whether it fails, or loses the power (then how).
    fn start(&self, offset: u32) -> Result<Option<u64>, EmuError> {
        let mut nor = self.nor();
        if nor.is_cut {
            return Err(EmuError::PowerCut);
        }
        let op = nor.ops;
        nor.ops += 1;
        if nor.fail_at == Some(op) {
            return Err(EmuError::Failed);
        }
        if nor.cut_at == Some(op) {
            nor.is_cut = true;
            nor.cut_offset = Some(offset);
            // Where the operation stopped: before it began (0), or in its part t of 256 (the
            // parts before done, the one it stopped in garbage).
            return Ok(Some(nor.random.next_u64() % 257));
        }
        Ok(None)
    }
}

impl<const WRITE: usize, const ERASE: usize, const READ: usize> ErrorType
    for NorEmulator<WRITE, ERASE, READ>
{
    type Error = EmuError;
}

impl<const WRITE: usize, const ERASE: usize, const READ: usize> ReadNorFlash
    for NorEmulator<WRITE, ERASE, READ>
{
    const READ_SIZE: usize = READ;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), EmuError> {
        let at = self.check("read", offset, bytes.len(), READ);
        let nor = self.0.borrow();
        if nor.is_cut {
            return Err(EmuError::PowerCut);
        }
        bytes.copy_from_slice(&nor.bytes[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.0.borrow().bytes.len()
    }
}

impl<const WRITE: usize, const ERASE: usize, const READ: usize> NorFlash for NorEmulator<WRITE, ERASE, READ> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), EmuError> {
        assert!(from <= to, "erase of {from}..{to}");
        let from = self.check("erase", from, (to - from) as usize, ERASE);
        let to = to as usize;
        let torn = self.start(from as u32)?;
        let mut nor = self.nor();
        nor.erases += 1;
        let sectors = (to - from) / ERASE;
        // Torn: the sectors before the one it stopped in are erased, that one holds garbage
        // (each byte erased, kept or random), the rest are as they were.
        if torn == Some(0) {
            return Err(EmuError::PowerCut);
        }
        let whole = torn.map_or(sectors, |t| (sectors as u64 * (t - 1) / 256) as usize);
        for s in 0..sectors {
            let at = from + s * ERASE;
            if s < whole {
                nor.bytes[at..at + ERASE].fill(0xff);
                nor.written[at / WRITE..(at + ERASE) / WRITE].fill(false);
            } else if s == whole {
                for i in at..at + ERASE {
                    nor.bytes[i] = match nor.random.next_u64() % 3 {
                        0 => 0xff,
                        1 => nor.bytes[i],
                        _ => nor.random.next_u64() as u8,
                    };
                }
                // Nothing in it may be written before it is erased again.
                nor.written[at / WRITE..(at + ERASE) / WRITE].fill(true);
            }
        }
        if torn.is_some() { Err(EmuError::PowerCut) } else { Ok(()) }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), EmuError> {
        let at = self.check("write", offset, bytes.len(), WRITE);
        let torn = self.start(offset)?;
        let mut nor = self.nor();
        let op = nor.ops - 1;
        nor.writes += 1;
        let words = bytes.len() / WRITE;
        for w in 0..words {
            let word = at / WRITE + w;
            assert!(!nor.written[word], "a word written twice without an erase at {}", word * WRITE);
            for i in 0..WRITE {
                let (old, new) = (nor.bytes[word * WRITE + i], bytes[w * WRITE + i]);
                assert_eq!(
                    old & new,
                    new,
                    "a write that sets bits at {}: {old:#04x} to {new:#04x}",
                    word * WRITE + i
                );
            }
        }
        // Torn: the words before the one it stopped in are written, that one holds garbage (a
        // write only clears bits), the rest are as they were; all count as written.
        if torn == Some(0) {
            return Err(EmuError::PowerCut);
        }
        let whole = torn.map_or(words, |t| (words as u64 * (t - 1) / 256) as usize);
        for w in 0..words {
            let word = at / WRITE + w;
            nor.written[word] = true;
            for i in 0..WRITE {
                let cell = word * WRITE + i;
                if w < whole {
                    nor.bytes[cell] = bytes[w * WRITE + i];
                } else if w == whole {
                    let noise = nor.random.next_u64() as u8;
                    nor.bytes[cell] &= noise;
                }
            }
        }
        if torn.is_some() {
            return Err(EmuError::PowerCut);
        }
        if nor.flip_at == Some(op) && !bytes.is_empty() {
            let i = (nor.random.next_u64() % bytes.len() as u64) as usize;
            let mask = 1u8 << (nor.random.next_u64() % 8);
            nor.bytes[at + i] ^= mask;
            nor.flipped = Some((at + i, mask));
        }
        Ok(())
    }
}

#[cfg(feature = "embedded-storage-async")]
mod asynch {
    use embedded_storage_async::nor_flash::{NorFlash, ReadNorFlash};

    use super::{EmuError, NorEmulator};

    impl<const WRITE: usize, const ERASE: usize, const READ: usize> ReadNorFlash
        for NorEmulator<WRITE, ERASE, READ>
    {
        const READ_SIZE: usize = READ;

        async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), EmuError> {
            embedded_storage::nor_flash::ReadNorFlash::read(self, offset, bytes)
        }

        fn capacity(&self) -> usize {
            embedded_storage::nor_flash::ReadNorFlash::capacity(self)
        }
    }

    impl<const WRITE: usize, const ERASE: usize, const READ: usize> NorFlash for NorEmulator<WRITE, ERASE, READ> {
        const WRITE_SIZE: usize = WRITE;
        const ERASE_SIZE: usize = ERASE;

        async fn erase(&mut self, from: u32, to: u32) -> Result<(), EmuError> {
            embedded_storage::nor_flash::NorFlash::erase(self, from, to)
        }

        async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), EmuError> {
            embedded_storage::nor_flash::NorFlash::write(self, offset, bytes)
        }
    }
}
