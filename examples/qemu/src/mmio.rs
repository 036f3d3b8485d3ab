//! 32-bit memory-mapped registers: the only place that turns addresses into pointers.

use core::ptr::{read_volatile, write_volatile};

/// A block of 32-bit registers at a fixed address.
#[derive(Clone, Copy, Debug)]
pub struct Registers {
    base: usize,
}

impl Registers {
    /// The register block at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a device's register block, every offset later passed to
    /// [`Registers::read`] or [`Registers::write`] must be a register of that device, and
    /// nothing else may drive the device while this value is in use.
    pub const unsafe fn new(base: usize) -> Registers {
        Registers { base }
    }

    /// Reads the register at `offset` bytes from the base.
    #[inline]
    pub fn read(self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract: the address is a register of a device this value owns.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes the register at `offset` bytes from the base.
    #[inline]
    pub fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}
