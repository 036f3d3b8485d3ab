//! Where received data goes: stdout, or a file that appears only when complete.
//!
//! With `-o FILE` the data is written to a temporary file beside FILE (same directory, so the
//! final rename is atomic) and renamed into place only after the transfer finished; a failed
//! transfer removes it, or with `--keep-partial` leaves it and says where.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Output buffer: large enough that writes are few, small next to any file worth sending.
const BUFFER: usize = 256 * 1024;

/// The data's destination.
#[derive(Debug)]
pub enum Output {
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// Something that is not a regular file (`/dev/null`, a FIFO, a terminal): written in
    /// place, since renaming a file over it would replace the device itself.
    Device { writer: BufWriter<File>, target: PathBuf },
    /// A temporary file, renamed to `target` on commit.
    File { writer: BufWriter<File>, temp: PathBuf, target: PathBuf },
}

impl Output {
    /// Standard output.
    pub fn stdout() -> Output {
        Output::Stdout(BufWriter::with_capacity(BUFFER, io::stdout()))
    }

    /// A temporary file beside `target`, created now so that an unwritable destination fails
    /// before anything is received.
    pub fn file(target: &Path) -> Result<Output> {
        if target.is_dir() {
            anyhow::bail!("output {} is a directory", target.display());
        }
        if let Ok(meta) = fs::metadata(target)
            && !meta.is_file()
        {
            let file = OpenOptions::new()
                .write(true)
                .open(target)
                .with_context(|| format!("output not writable: {}", target.display()))?;
            return Ok(Output::Device {
                writer: BufWriter::with_capacity(BUFFER, file),
                target: target.to_path_buf(),
            });
        }
        let name =
            target.file_name().with_context(|| format!("output {} has no file name", target.display()))?;
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = dir.join(format!(".{}.rudp-{}.part", name.to_string_lossy(), std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("output not writable: cannot create a file in {}", dir.display()))?;
        Ok(Output::File {
            writer: BufWriter::with_capacity(BUFFER, file),
            temp,
            target: target.to_path_buf(),
        })
    }

    /// Makes the data permanent: flushes, syncs and renames the file into place.
    pub fn commit(&mut self) -> Result<()> {
        match self {
            Output::Stdout(w) => w.flush().context("writing to stdout"),
            Output::Device { writer, target } => {
                writer.flush().with_context(|| format!("writing {}", target.display()))
            }
            Output::File { writer, temp, target } => {
                writer.flush().with_context(|| format!("writing {}", temp.display()))?;
                writer.get_ref().sync_all().with_context(|| format!("syncing {}", temp.display()))?;
                fs::rename(&*temp, &*target)
                    .with_context(|| format!("renaming {} to {}", temp.display(), target.display()))
            }
        }
    }

    /// Drops an incomplete (or, with `bad`, wrong) transfer's data: removes the temporary
    /// file, or keeps it (and says where) with `keep`. Returns a sentence for the error
    /// message.
    pub fn discard(&mut self, keep: bool, bad: bool) -> String {
        match self {
            Output::Stdout(w) => {
                let _ = w.flush();
                if bad {
                    "the data already written to stdout is BAD: do not use it".into()
                } else {
                    "the data already written to stdout is incomplete".into()
                }
            }
            Output::Device { writer, target } => {
                let _ = writer.flush();
                if bad {
                    format!("the data already written to {} is BAD: do not use it", target.display())
                } else {
                    format!("the data already written to {} is incomplete", target.display())
                }
            }
            Output::File { writer, temp, target } => {
                let _ = writer.flush();
                if keep {
                    format!("{} was not written; the partial data is in {}", target.display(), temp.display())
                } else {
                    let _ = fs::remove_file(&*temp);
                    format!("{} was not written", target.display())
                }
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::Device { writer, .. } | Output::File { writer, .. } => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::Device { writer, .. } | Output::File { writer, .. } => writer.flush(),
        }
    }
}
