//! The test data: a deterministic pattern that a PC can regenerate in one line, and the
//! CRC-32 that the firmware logs so that a PC can check a transfer without a debugger.

/// Byte `i` of the pattern: `(i * 31 + 7) % 251`. A prime modulus, so the pattern does not
/// repeat on any power-of-two boundary and a misplaced 512-byte block shows up as a mismatch.
///
/// On a PC: `python3 -c "import sys; sys.stdout.buffer.write(bytes((i*31+7)%251 for i in range(65536)))" > pattern.bin`
pub const fn pattern_byte(i: usize) -> u8 {
    // Below 2^27 for any i up to 4 Mi: no overflow on a 32-bit target for our sizes.
    ((i * 31 + 7) % 251) as u8
}

/// The first `N` bytes of the pattern, built at compile time (so a `static` of it sits in
/// flash, not RAM).
pub const fn pattern<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    let mut i = 0;
    while i < N {
        bytes[i] = pattern_byte(i);
        i += 1;
    }
    bytes
}

/// Whether `data` is the start of the pattern.
pub fn is_pattern(data: &[u8]) -> bool {
    data.iter().enumerate().all(|(i, &byte)| byte == pattern_byte(i))
}

/// CRC-32 (IEEE 802.3, the one zlib, gzip and Python's `zlib.crc32` compute), bit by bit: no
/// table in flash, and 64 KiB take a few milliseconds at 168 MHz.
pub fn crc32(data: &[u8]) -> u32 {
    /// The reflected polynomial.
    const POLY: u32 = 0xEDB8_8320;
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            // All ones when the low bit is set, all zeros otherwise: a branch-free xor.
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (POLY & mask);
        }
    }
    !crc
}
