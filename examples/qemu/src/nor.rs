//! A NOR flash emulated in RAM that survives a system reset, for `recv-flash` on `mps2-an386`:
//! an `embedded_storage::nor_flash::NorFlash` over the board's PSRAM (`NOR` in
//! `memory-mps2-an386.x`, which no section of the ELF covers, so that neither QEMU's loader nor
//! the start-up code initialises it).
//!
//! The NOR rules, as rudp-nostd's test emulator has them: an erase sets whole 4 KiB sectors to
//! 0xFF; a write covers whole 4-byte words, each not written since its sector's erase, and
//! only clears bits; offsets and lengths are aligned and in range. A rule broken is a firmware
//! bug: it prints `rudp-fw: error: NOR flash: ...` and ends the QEMU run with exit code 1.
//!
//! Which words have been written since their erase is kept in RAM (the start-up code zeroes
//! it) and rebuilt at [`NorRam::take`] from the contents: a word that is not all 0xFF was
//! written. On QEMU the PSRAM starts zeroed: a flash whose every word was written with 0,
//! which must be erased before it takes anything (the flash sink's state scan finds no record
//! in zeros: its slots are CRC-checked).

use core::ptr::addr_of;

use cortex_m_semihosting::hprintln;
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

use crate::semihost;

/// The write unit.
pub const WRITE_SIZE: usize = 4;
/// The erase sector.
pub const ERASE_SIZE: usize = 4096;
/// The image region: 2 MiB.
pub const IMAGE_LEN: usize = 2 << 20;
/// The flash: the image region and the flash sink's two state sectors after it.
pub const CAPACITY: usize = IMAGE_LEN + 2 * ERASE_SIZE;
/// Words of the flash.
const WORDS: usize = CAPACITY / WRITE_SIZE;

/// Per word, one bit: written since its sector's erase.
static mut WRITTEN: [u32; WORDS / 32] = [0; WORDS / 32];

/// The emulated NOR flash.
pub struct NorRam {
    bytes: &'static mut [u8],
    written: &'static mut [u32; WORDS / 32],
    /// Erase and write operations so far.
    ops: u32,
}

impl NorRam {
    /// The flash, once (`None` the second time).
    ///
    /// # Safety
    ///
    /// Only on `mps2-an386`, whose memory map (`memory-mps2-an386.x`) defines `__nor_start`
    /// and `__nor_length` over RAM that nothing else uses.
    pub unsafe fn take() -> Option<NorRam> {
        cortex_m::singleton!(: () = ())?;
        unsafe extern "C" {
            static __nor_start: u8;
            static __nor_length: u8;
        }
        // The linker's symbols: their addresses are the region's start and its length.
        let start = addr_of!(__nor_start) as usize;
        let length = addr_of!(__nor_length) as usize;
        if length < CAPACITY {
            violation("the NOR region is smaller than the flash", 0, 0);
        }
        // SAFETY: the region is RAM no section and no other code uses (the caller's promise),
        // taken once (the singleton above).
        let bytes = unsafe { core::slice::from_raw_parts_mut(start as *mut u8, CAPACITY) };
        // SAFETY: taken once, as above; only this flash touches it.
        let written = unsafe { &mut *core::ptr::addr_of_mut!(WRITTEN) };
        for (w, word) in bytes.chunks_exact(WRITE_SIZE).enumerate() {
            if word.iter().any(|&b| b != 0xff) {
                written[w / 32] |= 1 << (w % 32);
            }
        }
        Some(NorRam { bytes, written, ops: 0 })
    }

    /// Erase and write operations since [`NorRam::take`].
    pub fn ops(&self) -> u32 {
        self.ops
    }

    /// Checks that `len` bytes at `offset` are in range and aligned to `align`.
    fn check(&self, what: &str, offset: u32, len: usize, align: usize) -> usize {
        let at = offset as usize;
        if at.saturating_add(len) > CAPACITY {
            violation(what, at, len);
        }
        if !at.is_multiple_of(align) || !len.is_multiple_of(align) {
            violation(what, at, len);
        }
        at
    }

    fn is_written(&self, word: usize) -> bool {
        self.written.get(word / 32).is_some_and(|bits| bits & (1 << (word % 32)) != 0)
    }

    fn set_written(&mut self, word: usize, written: bool) {
        if let Some(bits) = self.written.get_mut(word / 32) {
            if written {
                *bits |= 1 << (word % 32);
            } else {
                *bits &= !(1 << (word % 32));
            }
        }
    }
}

/// A NOR rule broken: the firmware's bug ends the run, exit code 1.
fn violation(what: &str, at: usize, len: usize) -> ! {
    hprintln!("rudp-fw: error: NOR flash: {} at {}+{}", what, at, len);
    semihost::exit(false)
}

impl ErrorType for NorRam {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for NorRam {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NorFlashErrorKind> {
        let at = self.check("read out of range", offset, bytes.len(), 1);
        match self.bytes.get(at..at + bytes.len()) {
            Some(from) => bytes.copy_from_slice(from),
            None => violation("read out of range", at, bytes.len()),
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        CAPACITY
    }
}

impl NorFlash for NorRam {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), NorFlashErrorKind> {
        if to < from {
            violation("erase backwards", from as usize, 0);
        }
        let at =
            self.check("erase out of range or not sector-aligned", from, (to - from) as usize, ERASE_SIZE);
        let end = to as usize;
        self.ops += 1;
        match self.bytes.get_mut(at..end) {
            Some(cells) => cells.fill(0xff),
            None => violation("erase out of range", at, end - at),
        }
        for word in at / WRITE_SIZE..end / WRITE_SIZE {
            self.set_written(word, false);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NorFlashErrorKind> {
        let at = self.check("write out of range or not word-aligned", offset, bytes.len(), WRITE_SIZE);
        self.ops += 1;
        for (i, new) in bytes.chunks_exact(WRITE_SIZE).enumerate() {
            let word = at / WRITE_SIZE + i;
            if self.is_written(word) {
                violation("a word written twice without an erase", word * WRITE_SIZE, WRITE_SIZE);
            }
            let Some(cells) = self.bytes.get_mut(word * WRITE_SIZE..(word + 1) * WRITE_SIZE) else {
                violation("write out of range", word * WRITE_SIZE, WRITE_SIZE);
            };
            if cells.iter().zip(new).any(|(old, new)| old & new != *new) {
                violation("a write that sets bits", word * WRITE_SIZE, WRITE_SIZE);
            }
            for (cell, new) in cells.iter_mut().zip(new) {
                *cell &= new;
            }
            self.set_written(word, true);
        }
        Ok(())
    }
}
