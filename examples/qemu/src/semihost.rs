//! What the firmware gets from the host through semihosting: its command line (QEMU's
//! `-semihosting-config arg=...`, the first argument being the program name), its output
//! (`hprintln!`, on QEMU's standard output) and its exit code.

use cortex_m_semihosting::{debug, nr};

/// Reads the command line into `buf`: the `arg=` values joined by spaces. `None` if the host
/// gave none or it is not UTF-8.
pub fn command_line(buf: &mut [u8]) -> Option<&str> {
    // SYS_GET_CMDLINE's parameter block: the buffer and its size; the host writes the length
    // of the command line into the second word.
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: the block and the buffer it points to live across the call, and the host writes
    // at most `buf.len()` bytes.
    let failed = unsafe { cortex_m_semihosting::syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    if failed != 0 {
        return None;
    }
    let len = block[1].min(buf.len());
    let line = core::str::from_utf8(&buf[..len]).ok()?;
    Some(line.trim_end_matches('\0'))
}

/// Ends the QEMU run: exit code 0 for `ok`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Only a debugger that ignores the exit request gets here.
    loop {
        cortex_m::asm::wfi();
    }
}
