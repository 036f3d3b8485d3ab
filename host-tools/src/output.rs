//! Where received data goes: stdout, or a file that appears only when complete.
//!
//! With `-o FILE` the data is written to a temporary file beside FILE (same directory, so the
//! final rename is atomic) and renamed into place only after the transfer finished; a failed
//! transfer removes it, or with `--keep-partial` leaves it and says where.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{Context, Result};

/// Output buffer: large enough that writes are few, small next to any file worth sending.
const BUFFER: usize = 256 * 1024;

/// The longest file name (Linux's NAME_MAX, and that of most file systems elsewhere).
pub const NAME_MAX: usize = 255;

/// Where the data goes, and how many bytes went there.
#[derive(Debug)]
pub struct Output {
    dest: Dest,
    /// Bytes written (taken by the buffer), to say whether a failed transfer left anything.
    written: u64,
}

#[derive(Debug)]
enum Dest {
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// Something that is not a regular file (`/dev/null`, a FIFO, a terminal): written in
    /// place, since renaming a file over it would replace the device itself.
    Device { file: DeviceFile, target: PathBuf },
    /// A temporary file, renamed to `target` on commit.
    File { writer: BufWriter<File>, temp: PathBuf, target: PathBuf },
}

/// A device output, open, or still being opened: opening a FIFO for writing blocks until a
/// reader opens it, so that open waits in a thread while the receiver listens, and the first
/// write (or the commit) waits for it.
#[derive(Debug)]
enum DeviceFile {
    Open(BufWriter<File>),
    Opening(Option<JoinHandle<io::Result<File>>>),
}

impl DeviceFile {
    /// The open file, waiting for the open to finish if needed.
    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        if let DeviceFile::Opening(handle) = self {
            let file = match handle.take().map(JoinHandle::join) {
                Some(Ok(result)) => result?,
                _ => return Err(io::Error::other("opening the output failed")),
            };
            *self = DeviceFile::Open(BufWriter::with_capacity(BUFFER, file));
        }
        match self {
            DeviceFile::Open(writer) => Ok(writer),
            DeviceFile::Opening(_) => unreachable!("opened above"),
        }
    }
}

/// Opens a device for writing without blocking the caller: a FIFO that has no reader yet
/// (`ENXIO` for a non-blocking open) is opened by a thread, which waits for the reader.
#[cfg(unix)]
fn open_device(target: &Path) -> io::Result<DeviceFile> {
    use std::os::unix::fs::OpenOptionsExt;
    match OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(target) {
        Ok(file) => {
            // Blocking writes from here on. socket2's `set_nonblocking` is a plain
            // fcntl(F_SETFL) on any descriptor; it spares this module an `unsafe` block.
            let fd = socket2::Socket::from(std::os::fd::OwnedFd::from(file));
            fd.set_nonblocking(false)?;
            Ok(DeviceFile::Open(BufWriter::with_capacity(BUFFER, File::from(std::os::fd::OwnedFd::from(fd)))))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            let path = target.to_path_buf();
            Ok(DeviceFile::Opening(Some(std::thread::spawn(move || {
                OpenOptions::new().write(true).open(path)
            }))))
        }
        Err(e) => Err(e),
    }
}

/// Opens a device for writing (blocking: no FIFOs to wait for here).
#[cfg(not(unix))]
fn open_device(target: &Path) -> io::Result<DeviceFile> {
    let file = OpenOptions::new().write(true).open(target)?;
    Ok(DeviceFile::Open(BufWriter::with_capacity(BUFFER, file)))
}

/// Whether `target` names a directory by its spelling: a trailing `/`, or a last
/// component `.` or `..` (`Path` normalises these away, so `file_name` would not see them).
fn names_a_directory(target: &Path) -> bool {
    let text = target.as_os_str().to_string_lossy();
    let last = text.rsplit('/').next().unwrap_or("");
    text.ends_with('/') || last == "." || last == ".."
}

/// The temporary file's name for the final name `name`: `.NAME.rudp-PID.part`, with NAME
/// shortened (from its end) so that the whole fits in [`NAME_MAX`] bytes. The process id keeps
/// two receivers apart; `create_new` refuses to reuse any file that exists.
fn temp_name(name: &OsStr, pid: u32) -> OsString {
    let suffix = format!(".rudp-{pid}.part");
    let room = NAME_MAX - 1 - suffix.len();
    let mut temp = OsString::from(".");
    temp.push(shorten(name, room));
    temp.push(suffix);
    temp
}

/// `name`, cut to at most `room` bytes.
#[cfg(unix)]
pub fn shorten(name: &OsStr, room: usize) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    let bytes = name.as_bytes();
    OsStr::from_bytes(&bytes[..bytes.len().min(room)]).to_owned()
}

/// `name`, cut to at most `room` bytes (at a character boundary).
#[cfg(not(unix))]
pub fn shorten(name: &OsStr, room: usize) -> OsString {
    let text = name.to_string_lossy();
    let mut end = text.len().min(room);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    OsString::from(&text[..end])
}

impl Output {
    /// Standard output.
    pub fn stdout() -> Output {
        Output { dest: Dest::Stdout(BufWriter::with_capacity(BUFFER, io::stdout())), written: 0 }
    }

    /// A temporary file beside `target`, created now so that an unwritable destination fails
    /// before anything is received. A device (`/dev/null`, a FIFO) is written in place; a
    /// FIFO that has no reader yet is opened without holding up the caller.
    pub fn file(target: &Path) -> Result<Output> {
        if target.is_dir() || names_a_directory(target) {
            anyhow::bail!(
                "output {} names a directory: give the name of the file to write (e.g. {})",
                target.display(),
                target.join("copy.bin").display()
            );
        }
        if let Ok(meta) = fs::metadata(target)
            && !meta.is_file()
        {
            let file =
                open_device(target).with_context(|| format!("output not writable: {}", target.display()))?;
            return Ok(Output { dest: Dest::Device { file, target: target.to_path_buf() }, written: 0 });
        }
        let name =
            target.file_name().with_context(|| format!("output {} has no file name", target.display()))?;
        if name.len() > NAME_MAX {
            anyhow::bail!("output name too long: {} bytes, the most is {NAME_MAX}", name.len());
        }
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = dir.join(temp_name(name, std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("output not writable: cannot create a file in {}", dir.display()))?;
        Ok(Output {
            dest: Dest::File {
                writer: BufWriter::with_capacity(BUFFER, file),
                temp,
                target: target.to_path_buf(),
            },
            written: 0,
        })
    }

    /// The file this output becomes when committed, if it is a regular file (not stdout, not
    /// a device).
    pub fn file_target(&self) -> Option<&Path> {
        match &self.dest {
            Dest::File { target, .. } => Some(target),
            Dest::Stdout(_) | Dest::Device { .. } => None,
        }
    }

    /// Writes to `file` at `path` from now on, in place of the temporary file (which is
    /// removed, with whatever was written to it): the data kept for resume, opened where the
    /// transfer starts. The commit then renames `path` into place. Only for a regular file
    /// output.
    pub fn write_to(&mut self, path: &Path, file: File) {
        if let Dest::File { writer, temp, .. } = &mut self.dest {
            let old = std::mem::replace(temp, path.to_path_buf());
            *writer = BufWriter::with_capacity(BUFFER, file);
            let _ = fs::remove_file(old);
            self.written = 0;
        }
    }

    /// Bytes written (since [`Output::write_to`], if it was called).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes what was written so far durable: flushed, and synced to the disk for a file.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        match &self.dest {
            Dest::File { writer, .. } => writer.get_ref().sync_data(),
            Dest::Stdout(_) | Dest::Device { .. } => Ok(()),
        }
    }

    /// Makes the data permanent: flushes, syncs and renames the file into place.
    pub fn commit(&mut self) -> Result<()> {
        match &mut self.dest {
            Dest::Stdout(w) => w.flush().context("writing to stdout"),
            Dest::Device { file, target } => {
                file.writer().and_then(|w| w.flush()).with_context(|| format!("writing {}", target.display()))
            }
            Dest::File { writer, temp, target } => {
                writer.flush().with_context(|| format!("writing {}", temp.display()))?;
                writer.get_ref().sync_all().with_context(|| format!("syncing {}", temp.display()))?;
                fs::rename(&*temp, &*target)
                    .with_context(|| format!("renaming {} to {}", temp.display(), target.display()))
            }
        }
    }

    /// Drops an incomplete (or, with `bad`, wrong) transfer's data: removes the temporary
    /// file, or keeps it (and says where) with `keep`. Returns a sentence for the error
    /// message, if there is something to say: nothing for stdout or a device that got no data.
    pub fn discard(&mut self, keep: bool, bad: bool) -> Option<String> {
        let written = self.written;
        let state = if bad { "is BAD: do not use it" } else { "is incomplete" };
        match &mut self.dest {
            Dest::Stdout(w) => {
                let _ = w.flush();
                (written > 0).then(|| format!("the data already written to stdout {state}"))
            }
            Dest::Device { file, target } => {
                // A FIFO still waiting for its reader got nothing: leave it waiting.
                if let DeviceFile::Open(w) = file {
                    let _ = w.flush();
                }
                (written > 0).then(|| format!("the data already written to {} {state}", target.display()))
            }
            Dest::File { writer, temp, target } => {
                let _ = writer.flush();
                Some(if keep {
                    format!("{} was not written; the partial data is in {}", target.display(), temp.display())
                } else {
                    let _ = fs::remove_file(&*temp);
                    format!("{} was not written", target.display())
                })
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.dest {
            Dest::Stdout(w) => w.write(buf),
            Dest::Device { file, .. } => file.writer()?.write(buf),
            Dest::File { writer, .. } => writer.write(buf),
        }?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.dest {
            Dest::Stdout(w) => w.flush(),
            // Nothing written yet: nothing to flush, and no reason to wait for a FIFO's reader.
            Dest::Device { file: DeviceFile::Opening(_), .. } => Ok(()),
            Dest::Device { file: DeviceFile::Open(w), .. } => w.flush(),
            Dest::File { writer, .. } => writer.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_name_fits_for_the_longest_final_name() {
        for len in [1, 200, 235, 236, 250, NAME_MAX] {
            let name = OsString::from("n".repeat(len));
            let temp = temp_name(&name, u32::MAX);
            assert!(temp.len() <= NAME_MAX, "{len}: {} bytes", temp.len());
            assert!(temp.to_string_lossy().ends_with(&format!(".rudp-{}.part", u32::MAX)));
        }
        assert_eq!(temp_name(OsStr::new("copy.bin"), 42), ".copy.bin.rudp-42.part");
    }

    #[test]
    fn directory_spellings_are_recognised() {
        for dir in ["new/", "a/b/", "/", ".", "..", "a/.", "a/.."] {
            assert!(names_a_directory(Path::new(dir)), "{dir}");
        }
        for file in ["copy.bin", "a/copy.bin", "./copy", "..copy", "a/.hidden"] {
            assert!(!names_a_directory(Path::new(file)), "{file}");
        }
    }
}
