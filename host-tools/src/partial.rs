//! Partial objects kept for resume (SPEC §10.5): the data an interrupted transfer wrote, and a
//! small record of what it is (`object-id`, size, name) and how much of it is durable.
//!
//! Each kept object is two files ([`PartialFiles`]): its data from byte 0, and its record.
//! `rudp serve` keeps them in its temporary directory, named by a hash of the object's name
//! (no name a peer sends reaches them): `<key>.part` and `<key>.rec` ([`PartialStore`]).
//! `rudp recv -o FILE` keeps them beside FILE: `.FILE.rudp.part` and `.FILE.rudp.rec`. Durable means on the disk: the data is synced before the record
//! that counts it is written, and the record is replaced atomically (written beside, synced,
//! renamed), so after a crash or a power cut the record never counts bytes that are not there.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a kept partial object is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The sender's `object-id`.
    pub object_id: Vec<u8>,
    /// The object's `transfer-size`.
    pub size: u64,
    /// The object's name.
    pub name: String,
    /// The bytes from the object's start that are on the disk.
    pub durable: u64,
}

impl Record {
    /// Where a resume can start: the durable bytes, down to a multiple of 512 unless they are
    /// the whole object (SPEC §10.5). 0: nothing to resume.
    pub fn resume_point(&self) -> u64 {
        if self.durable >= self.size { self.size } else { self.durable - self.durable % 512 }
    }

    /// The record as text: one field per line, the name last (a name has no line break: SPEC
    /// §10.4 refuses control characters).
    fn to_text(&self) -> String {
        let id: String = self.object_id.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "rudp-partial 1\nobject-id {id}\nsize {}\ndurable {}\nname {}\n",
            self.size, self.durable, self.name
        )
    }

    /// Reads a record's text; `None` if it is not one.
    fn from_text(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        if lines.next()? != "rudp-partial 1" {
            return None;
        }
        let hex = lines.next()?.strip_prefix("object-id ")?;
        let object_id = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let size = lines.next()?.strip_prefix("size ")?.parse().ok()?;
        let durable = lines.next()?.strip_prefix("durable ")?.parse().ok()?;
        let name = lines.next()?.strip_prefix("name ")?.to_string();
        (durable <= size && (8..=32).contains(&object_id.len())).then_some(Record {
            object_id,
            size,
            name,
            durable,
        })
    }
}

/// Where one partial object is kept: its data and its record.
#[derive(Clone, Debug)]
pub struct PartialFiles {
    /// The data, from the object's byte 0.
    pub data: PathBuf,
    /// The record of what the data is.
    pub record: PathBuf,
}

impl PartialFiles {
    /// The partial object kept beside `target` (what `rudp recv -o FILE` keeps):
    /// `.FILE.rudp.part` and `.FILE.rudp.rec` in FILE's directory, FILE shortened so that
    /// these names (and the record's `.rec.new` while it is replaced) fit in `name_max` bytes.
    /// `None` if `target` has no file name.
    pub fn beside(target: &Path, name_max: usize) -> Option<PartialFiles> {
        let name = target.file_name()?;
        // `out.bin` gives `.out.bin.rudp.part`, in the working directory like `out.bin`.
        let dir = target.parent().unwrap_or(Path::new(""));
        let room = name_max.saturating_sub(".".len() + ".rudp.rec.new".len());
        let short = crate::output::shorten(name, room).to_string_lossy().into_owned();
        Some(PartialFiles {
            data: dir.join(format!(".{short}.rudp.part")),
            record: dir.join(format!(".{short}.rudp.rec")),
        })
    }

    /// The record, if one is kept and it is for an object stored as `name`.
    pub fn load(&self, name: &str) -> Option<Record> {
        let text = fs::read_to_string(&self.record).ok()?;
        Record::from_text(&text).filter(|record| record.name == name)
    }

    /// Writes `record` atomically (written beside, synced, renamed, the directory synced):
    /// the data it counts must be synced already.
    pub fn save(&self, record: &Record) -> io::Result<()> {
        let temp = self.record.with_extension("rec.new");
        let mut file = File::create(&temp)?;
        file.write_all(record.to_text().as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &self.record)?;
        if let Some(dir) = self.record.parent()
            && let Ok(dir) = File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Forgets the object: its record first (so that a crash in between leaves data without a
    /// record, never a record without its data), then its data.
    pub fn discard(&self) {
        let _ = fs::remove_file(&self.record);
        let _ = fs::remove_file(&self.data);
    }

    /// Forgets the record only (the data was moved into place, or is kept for a look).
    pub fn forget(&self) {
        let _ = fs::remove_file(&self.record);
    }

    /// Where a transfer of the object `object_id` of `size` bytes, stored as `name`, can
    /// resume: the record's resume point if the record is for that object and the data holds
    /// that much; 0 otherwise.
    pub fn resume_point(&self, name: &str, object_id: &[u8], size: u64) -> u64 {
        let Some(record) = self.load(name).filter(|r| r.object_id == object_id && r.size == size) else {
            return 0;
        };
        let from = record.resume_point();
        let held = fs::metadata(&self.data).map_or(0, |m| m.len());
        if held >= from { from } else { 0 }
    }
}

/// The kept partial objects of a directory.
#[derive(Clone, Debug)]
pub struct PartialStore {
    dir: PathBuf,
}

impl PartialStore {
    /// The store in `dir` (the server's temporary directory, which exists).
    pub fn new(dir: &Path) -> PartialStore {
        PartialStore { dir: dir.to_path_buf() }
    }

    /// The key of `name`: 32 hex digits of its SHA-256.
    fn key(name: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Where the object named `name` is kept.
    pub fn files(&self, name: &str) -> PartialFiles {
        let key = PartialStore::key(name);
        PartialFiles {
            data: self.dir.join(format!("{key}.part")),
            record: self.dir.join(format!("{key}.rec")),
        }
    }

    /// Removes the kept objects, and any other leftover in the directory, not touched for
    /// `age`: returns how many files.
    pub fn expire(&self, age: Duration) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else { return 0 };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| now.duration_since(modified).is_ok_and(|d| d > age));
            if old && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

/// Gives `hash` the first `from` bytes of the kept data in `path` (SPEC §10.5: a resumed
/// transfer's digest covers the whole object, the bytes held included).
pub fn hash_held(path: &Path, from: u64, hash: impl FnMut(&[u8])) -> io::Result<()> {
    hash_from(File::open(path)?, from, hash)
}

/// Gives `hash` the first `from` bytes read from `file` (from where it stands).
pub fn hash_from(mut file: impl io::Read, from: u64, mut hash: impl FnMut(&[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = from;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::other("the kept data is shorter than its record"));
        }
        hash(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

/// Opens the kept data of a resumed object for writing from `from` on: what lies beyond is cut
/// away (SPEC §10.5). The file must hold at least `from` bytes.
pub fn open_at(path: &Path, from: u64) -> io::Result<File> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    cut_at(&mut file, from)?;
    Ok(file)
}

/// Cuts the kept data in `file` at `from` and places the file there, for a resumed object's
/// data from `from` on (SPEC §10.5). The file must hold at least `from` bytes.
pub fn cut_at(file: &mut File, from: u64) -> io::Result<()> {
    let len = file.metadata()?.len();
    if len < from {
        return Err(io::Error::other(format!("the kept data holds {len} bytes, not {from}")));
    }
    file.set_len(from)?;
    file.seek(SeekFrom::Start(from))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(durable: u64) -> Record {
        Record { object_id: vec![1, 2, 3, 4, 5, 6, 7, 0xff], size: 5000, name: "a/b c.bin".into(), durable }
    }

    #[test]
    fn a_record_reads_back_and_rounds_its_resume_point_to_a_frame() {
        let r = record(4100);
        assert_eq!(Record::from_text(&r.to_text()), Some(r.clone()));
        assert_eq!(r.resume_point(), 4096);
        assert_eq!(record(5000).resume_point(), 5000);
        assert_eq!(record(511).resume_point(), 0);
        // Damaged or foreign text is no record.
        assert_eq!(Record::from_text("rudp-partial 1\nobject-id 0102\nsize 5\ndurable 1\nname x\n"), None);
        assert_eq!(Record::from_text(&r.to_text().replace("durable 4100", "durable 9999")), None);
        assert_eq!(Record::from_text("something else"), None);
    }

    #[test]
    fn the_store_saves_loads_and_discards_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = PartialStore::new(dir.path());
        let files = store.files("a/b c.bin");
        assert_eq!(files.load("a/b c.bin"), None);
        fs::write(&files.data, [7u8; 4100]).unwrap();
        files.save(&record(4100)).unwrap();
        assert_eq!(files.load("a/b c.bin"), Some(record(4100)));
        assert_eq!(store.files("other").load("other"), None);
        let id = record(0).object_id;
        assert_eq!(files.resume_point("a/b c.bin", &id, 5000), 4096);
        assert_eq!(files.resume_point("a/b c.bin", &id, 5001), 0, "another size");
        assert_eq!(files.resume_point("a/b c.bin", &[9; 8], 5000), 0, "another object");
        let mut file = open_at(&files.data, 4096).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 4096);
        file.write_all(b"x").unwrap();
        drop(file);
        let data = fs::read(&files.data).unwrap();
        assert_eq!((data.len(), data[4095], data[4096]), (4097, 7, b'x'));
        assert!(open_at(&files.data, 9000).is_err());
        let mut held = Vec::new();
        hash_held(&files.data, 4097, |bytes| held.extend_from_slice(bytes)).unwrap();
        assert_eq!(held, data);
        assert!(hash_held(&files.data, 4098, |_| {}).is_err(), "the data is shorter than its record");
        files.discard();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_record_counting_more_than_its_data_holds_gives_no_resume_point() {
        let dir = tempfile::tempdir().unwrap();
        let files = PartialFiles::beside(&dir.path().join("out.bin"), 255).unwrap();
        assert_eq!(files.data, dir.path().join(".out.bin.rudp.part"));
        assert_eq!(files.record, dir.path().join(".out.bin.rudp.rec"));
        fs::write(&files.data, [1u8; 1000]).unwrap();
        files.save(&Record { name: "out.bin".into(), ..record(4100) }).unwrap();
        assert_eq!(files.resume_point("out.bin", &record(0).object_id, 5000), 0);
        fs::write(&files.data, [1u8; 4096]).unwrap();
        assert_eq!(files.resume_point("out.bin", &record(0).object_id, 5000), 4096);
        assert_eq!(files.resume_point("other.bin", &record(0).object_id, 5000), 0, "another name");
    }

    #[test]
    fn the_names_beside_a_long_output_fit() {
        let long = "n".repeat(255);
        let files = PartialFiles::beside(Path::new(&long), 255).unwrap();
        for path in [&files.data, &files.record, &files.record.with_extension("rec.new")] {
            assert!(path.file_name().unwrap().len() <= 255, "{}", path.display());
        }
    }
}
