//! Names a peer sends (the SYN's `name` option, PROTOCOL.md §9.4): whether a receiver that stores
//! objects by name under a directory DIR takes one, and where it goes.
//!
//! This is the security boundary of a file server. A name is taken only if it is valid UTF-8 of
//! `/`-separated components, none empty, `.` or `..`, with no control character (U+0000 to
//! U+001F, U+007F to U+009F) and no `\`, 1 to 255 bytes long, that the filesystem can hold as
//! given (on Windows: no `:`, no reserved device name, no trailing dot or space), and whose first
//! component is not [`PARTIAL_DIR`], where the receiver keeps its own partial files. Under DIR,
//! every existing component of the name must be a real directory (a symbolic link is refused
//! wherever it points, even inside DIR), so nothing is ever written outside DIR.
//!
//! [`check`] looks at the form only, [`resolve`] also at the filesystem, and [`create_parents`]
//! makes the directories a name asks for, just before the file is put in place.
//!
//! These checks walk paths by name, so they defend against what a peer can do (it can only create
//! regular files and directories through this module). They do not defend against another local
//! process swapping a checked directory for a symbolic link between the check and the write. Put a
//! file in place by renaming it from [`PARTIAL_DIR`]: a rename replaces the directory entry,
//! where opening an existing file to write would write through a hard link.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The directory, under DIR, where the receiver keeps its temporary and partial files; a name
/// whose first component is this one (in any letter case) is refused, so no name reaches them.
pub const PARTIAL_DIR: &str = ".rudp-partial";

/// The longest name, in bytes: the most a `name` option can hold.
pub const MAX_NAME_LEN: usize = 255;

/// Why a name is refused. All of them are refuse reason 3 (name) on the wire; [`fmt::Display`]
/// gives words for a log line, such as "the name has a `.` or `..` component".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name is not valid UTF-8.
    NotUtf8,
    /// The name is empty (0 bytes).
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong,
    /// A component is empty: the name starts or ends with `/`, or has `//`.
    EmptyComponent,
    /// A component is `.` or `..`.
    DotComponent,
    /// The name has a control character: U+0000 to U+001F or U+007F to U+009F.
    ControlCharacter,
    /// The name has a `\`.
    Backslash,
    /// The name could reach the receiver's own partial files: its first component is
    /// [`PARTIAL_DIR`] in any letter case (or, on Windows, has a `~`, which could be the 8.3
    /// short name of [`PARTIAL_DIR`]).
    Reserved,
    /// The filesystem cannot hold the name as given. Checked on Windows only: a `:`, one of
    /// `<>"|?*`, a reserved device name (`CON`, `NUL`, `COM1`, `LPT1`…, with or without an
    /// extension), or a component ending in a dot or a space.
    NotPortable,
    /// Something already has the name: any file without `overwrite`; with it, anything but a
    /// regular file (a directory, a FIFO, a device…).
    Exists,
    /// A parent component of the name is an existing file, not a directory.
    NotADirectory,
    /// An existing component of the name under DIR, a parent or the last one, is a symbolic link
    /// (or, on Windows, a junction), wherever it points.
    Symlink,
    /// The filesystem could not be asked about the name, or a directory could not be created.
    Io(io::ErrorKind),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::NotUtf8 => f.write_str("the name is not valid UTF-8"),
            NameError::Empty => f.write_str("the name is empty"),
            NameError::TooLong => write!(f, "the name is longer than {MAX_NAME_LEN} bytes"),
            NameError::EmptyComponent => {
                f.write_str("the name has an empty component (a leading, trailing or doubled `/`)")
            }
            NameError::DotComponent => f.write_str("the name has a `.` or `..` component"),
            NameError::ControlCharacter => f.write_str("the name has a control character"),
            NameError::Backslash => f.write_str("the name has a `\\`"),
            NameError::Reserved => {
                write!(f, "the name could reach the receiver's partial files (`{PARTIAL_DIR}`)")
            }
            NameError::NotPortable => f.write_str(
                "this filesystem cannot hold the name as given (a `:`, a reserved device name, \
                 a trailing dot or space, or a character Windows does not allow)",
            ),
            NameError::Exists => f.write_str("the name already exists"),
            NameError::NotADirectory => f.write_str("a directory of the name is an existing file"),
            NameError::Symlink => f.write_str("the name goes through a symbolic link"),
            NameError::Io(kind) => write!(f, "the name cannot be checked or created: {kind}"),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a name's form only, without touching the filesystem, and returns it as text.
///
/// The Windows rules ([`NameError::NotPortable`], and `~` in the first component as
/// [`NameError::Reserved`]) apply only when built for Windows.
pub fn check(name: &[u8]) -> Result<&str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let text = std::str::from_utf8(name).map_err(|_| NameError::NotUtf8)?;
    if text.chars().any(is_control) {
        return Err(NameError::ControlCharacter);
    }
    if text.contains('\\') {
        return Err(NameError::Backslash);
    }
    for component in text.split('/') {
        if component.is_empty() {
            return Err(NameError::EmptyComponent);
        }
        if component == "." || component == ".." {
            return Err(NameError::DotComponent);
        }
        if cfg!(windows) && !windows_can_hold(component) {
            return Err(NameError::NotPortable);
        }
    }
    if text.split('/').next().is_some_and(|first| could_reach_partial_dir(first, cfg!(windows))) {
        return Err(NameError::Reserved);
    }
    Ok(text)
}

/// Checks a name's form and the filesystem under `dir`, and returns where the object goes:
/// `dir` joined with the name's components. Creates nothing.
///
/// Every existing component under `dir` must be a real directory, not a symbolic link (even one
/// pointing inside `dir`) and not a file. The last one must not exist, unless `overwrite`, and
/// even then it must be a regular file, not a symbolic link or a directory. `dir` itself is the
/// operator's and is not checked.
pub fn resolve(dir: &Path, name: &[u8], overwrite: bool) -> Result<PathBuf, NameError> {
    let name = check(name)?;
    let mut path = dir.to_path_buf();
    let mut components = name.split('/').peekable();
    while let Some(component) = components.next() {
        path.push(component);
        let is_last = components.peek().is_none();
        let metadata = match fs::symlink_metadata(&path) {
            Ok(metadata) => metadata,
            // Nothing further down can exist either.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                path.extend(components);
                return Ok(path);
            }
            Err(error) => return Err(NameError::Io(error.kind())),
        };
        let file_type = metadata.file_type();
        if file_type.is_symlink() {
            return Err(NameError::Symlink);
        }
        if is_last {
            if overwrite && file_type.is_file() {
                return Ok(path);
            }
            return Err(NameError::Exists);
        }
        if !file_type.is_dir() {
            return Err(NameError::NotADirectory);
        }
    }
    // Unreachable: `split` yields at least one component, and the last one returns above.
    Err(NameError::Empty)
}

/// Creates the parent directories the name asks for inside `dir`, one component at a time, and
/// returns the object's destination path (`dir` joined with the name's components). Called just
/// before the file is put in place.
///
/// The name's form is checked again. After each `create_dir` (or finding the directory already
/// there), the component is looked at again without following links and must be a real
/// directory, so a symbolic link or file that appeared since [`resolve`] is refused rather than
/// followed. The last component is not created; it is refused only if it is now a symbolic link
/// (whether an existing file may be replaced is [`resolve`]'s `overwrite`).
pub fn create_parents(dir: &Path, name: &str) -> Result<PathBuf, NameError> {
    let name = check(name.as_bytes())?;
    let mut path = dir.to_path_buf();
    let mut components = name.split('/').peekable();
    while let Some(component) = components.next() {
        path.push(component);
        if components.peek().is_none() {
            return match fs::symlink_metadata(&path) {
                Ok(metadata) if metadata.file_type().is_symlink() => Err(NameError::Symlink),
                Ok(_) => Ok(path),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(path),
                Err(error) => Err(NameError::Io(error.kind())),
            };
        }
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(NameError::Io(error.kind())),
        }
        let file_type = fs::symlink_metadata(&path).map_err(|error| NameError::Io(error.kind()))?.file_type();
        if file_type.is_symlink() {
            return Err(NameError::Symlink);
        }
        if !file_type.is_dir() {
            return Err(NameError::NotADirectory);
        }
    }
    // Unreachable: `split` yields at least one component, and the last one returns above.
    Err(NameError::Empty)
}

/// A control character as the protocol counts them: U+0000 to U+001F and U+007F to U+009F.
fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Whether a first component could name [`PARTIAL_DIR`]: itself in any letter case (macOS and
/// Windows filesystems usually ignore case), or, with `windows`, anything with a `~`, which could
/// be the 8.3 short name Windows gives it (such as `RUDP-P~1`).
fn could_reach_partial_dir(first: &str, windows: bool) -> bool {
    first.eq_ignore_ascii_case(PARTIAL_DIR) || (windows && first.contains('~'))
}

/// Whether Windows can hold a component as given: no `:` (which would name a stream) or other
/// character Win32 refuses, no trailing dot or space (Win32 drops them), and no reserved device
/// name.
fn windows_can_hold(component: &str) -> bool {
    if component.ends_with(['.', ' ']) || component.contains([':', '<', '>', '"', '|', '?', '*']) {
        return false;
    }
    // Windows takes `NUL.txt`, `nul.tar.gz` and `NUL .txt` for the device `NUL`.
    let stem = component.split_once('.').map_or(component, |(stem, _)| stem);
    !is_windows_device_name(stem.trim_end_matches(' '))
}

/// Whether a base name is a Windows device name, in any letter case: `CON`, `PRN`, `AUX`, `NUL`,
/// `CONIN$`, `CONOUT$`, and `COM` or `LPT` followed by one of `0` to `9`, `¹`, `²`, `³`.
fn is_windows_device_name(stem: &str) -> bool {
    const FIXED: [&str; 6] = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];
    if FIXED.iter().any(|device| stem.eq_ignore_ascii_case(device)) {
        return true;
    }
    let (Some(prefix), Some(number)) = (stem.get(..3), stem.get(3..)) else {
        return false;
    };
    (prefix.eq_ignore_ascii_case("COM") || prefix.eq_ignore_ascii_case("LPT"))
        && matches!(number, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DIR to store into and, beside it, an `outside` directory that must stay empty.
    struct Dirs {
        root: tempfile::TempDir,
        dir: PathBuf,
        outside: PathBuf,
    }

    impl Dirs {
        fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("dir");
            let outside = root.path().join("outside");
            fs::create_dir(&dir).unwrap();
            fs::create_dir(&outside).unwrap();
            Dirs { root, dir, outside }
        }

        /// Asserts that nothing was written outside DIR: `outside` is empty and the root holds
        /// only `dir` and `outside`.
        fn assert_nothing_outside(&self) {
            assert_eq!(fs::read_dir(&self.outside).unwrap().count(), 0, "something was created outside DIR");
            let mut root: Vec<_> = fs::read_dir(self.root.path())
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect();
            root.sort();
            assert_eq!(root, ["dir", "outside"]);
        }

        /// Tries a hostile name every way (check, resolve with and without overwrite,
        /// create_parents) and asserts it is refused with `expected` and nothing was created
        /// outside DIR.
        fn assert_refused(&self, name: &[u8], expected: NameError) {
            assert_eq!(check(name), Err(expected.clone()), "check({:?})", String::from_utf8_lossy(name));
            for overwrite in [false, true] {
                assert_eq!(resolve(&self.dir, name, overwrite), Err(expected.clone()));
            }
            if let Ok(text) = std::str::from_utf8(name) {
                assert_eq!(create_parents(&self.dir, text), Err(expected));
            }
            self.assert_nothing_outside();
        }
    }

    #[test]
    fn hostile_forms_are_refused() {
        let dirs = Dirs::new();
        let cases: &[(&[u8], NameError)] = &[
            (b"", NameError::Empty),
            (b"..", NameError::DotComponent),
            (b".", NameError::DotComponent),
            (b"a/../b", NameError::DotComponent),
            (b"../outside/x", NameError::DotComponent),
            (b"a/./b", NameError::DotComponent),
            (b"a/..", NameError::DotComponent),
            (b"/etc/passwd", NameError::EmptyComponent),
            (b"/", NameError::EmptyComponent),
            (b"a//b", NameError::EmptyComponent),
            (b"a/", NameError::EmptyComponent),
            (b"a\0b", NameError::ControlCharacter),
            (b"a\nb", NameError::ControlCharacter),
            (b"a\x1fb", NameError::ControlCharacter),
            (b"a\x7fb", NameError::ControlCharacter),
            ("a\u{85}b".as_bytes(), NameError::ControlCharacter),
            ("a\u{9f}b".as_bytes(), NameError::ControlCharacter),
            (b"a\\b", NameError::Backslash),
            (b"..\\outside\\x", NameError::Backslash),
            (b"\xff", NameError::NotUtf8),
            (b"a\xc3", NameError::NotUtf8),
            (b"\xed\xa0\x80", NameError::NotUtf8),
            (b".rudp-partial/x", NameError::Reserved),
            (b".rudp-partial", NameError::Reserved),
            (b".RUDP-Partial/x", NameError::Reserved),
            (&[b'a'; 256], NameError::TooLong),
        ];
        for (name, expected) in cases {
            dirs.assert_refused(name, expected.clone());
        }
        assert_eq!(fs::read_dir(&dirs.dir).unwrap().count(), 0, "a hostile name created something");
    }

    #[test]
    fn good_names_are_accepted() {
        let dirs = Dirs::new();
        let longest = "a".repeat(MAX_NAME_LEN);
        let names = [
            "a.txt",
            "sub/dir/file.bin",
            "ünïcödé.txt",
            ".hidden",
            "a b",
            "x..y",
            "...",
            ".rudp-partialx",
            "a/.rudp-partial",
            "\u{a0}",
            longest.as_str(),
        ];
        for name in names {
            if cfg!(windows) && name == "..." {
                continue; // a trailing dot
            }
            assert_eq!(check(name.as_bytes()), Ok(name));
            let expected: PathBuf = name.split('/').fold(dirs.dir.clone(), |path, c| path.join(c));
            assert_eq!(resolve(&dirs.dir, name.as_bytes(), false), Ok(expected));
        }
        assert_eq!(fs::read_dir(&dirs.dir).unwrap().count(), 0, "resolve created something");
        dirs.assert_nothing_outside();
    }

    #[test]
    fn an_existing_file_is_refused_unless_overwrite() {
        let dirs = Dirs::new();
        fs::create_dir(dirs.dir.join("sub")).unwrap();
        fs::write(dirs.dir.join("sub/f"), b"x").unwrap();
        assert_eq!(resolve(&dirs.dir, b"sub/f", false), Err(NameError::Exists));
        assert_eq!(resolve(&dirs.dir, b"sub/f", true), Ok(dirs.dir.join("sub").join("f")));
        // A directory is never overwritten.
        assert_eq!(resolve(&dirs.dir, b"sub", false), Err(NameError::Exists));
        assert_eq!(resolve(&dirs.dir, b"sub", true), Err(NameError::Exists));
        // An existing parent directory is fine.
        assert_eq!(resolve(&dirs.dir, b"sub/g", false), Ok(dirs.dir.join("sub").join("g")));
    }

    #[test]
    fn a_parent_that_is_a_file_is_refused() {
        let dirs = Dirs::new();
        fs::write(dirs.dir.join("f"), b"x").unwrap();
        for overwrite in [false, true] {
            assert_eq!(resolve(&dirs.dir, b"f/x", overwrite), Err(NameError::NotADirectory));
            assert_eq!(resolve(&dirs.dir, b"f/y/z", overwrite), Err(NameError::NotADirectory));
        }
        assert_eq!(create_parents(&dirs.dir, "f/y/z"), Err(NameError::NotADirectory));
        assert_eq!(fs::read(dirs.dir.join("f")).unwrap(), b"x");
        dirs.assert_nothing_outside();
    }

    #[test]
    fn create_parents_creates_the_directories_inside_dir_only() {
        let dirs = Dirs::new();
        let path = create_parents(&dirs.dir, "sub/dir/file.bin").unwrap();
        assert_eq!(path, dirs.dir.join("sub").join("dir").join("file.bin"));
        assert!(fs::symlink_metadata(dirs.dir.join("sub").join("dir")).unwrap().is_dir());
        assert!(!path.exists(), "the file itself is not created");
        // Again, with the directories there: fine.
        assert_eq!(
            create_parents(&dirs.dir, "sub/dir/other"),
            Ok(dirs.dir.join("sub").join("dir").join("other"))
        );
        // A name without parents creates nothing.
        assert_eq!(create_parents(&dirs.dir, "top.txt"), Ok(dirs.dir.join("top.txt")));
        let mut top: Vec<_> = fs::read_dir(&dirs.dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        top.sort();
        assert_eq!(top, ["sub"]);
        dirs.assert_nothing_outside();
        // What `resolve` returns for the same name is the same path.
        assert_eq!(resolve(&dirs.dir, b"sub/dir/file.bin", false), Ok(path));
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_refused_wherever_they_point() {
        use std::os::unix::fs::symlink;
        let dirs = Dirs::new();
        fs::create_dir(dirs.dir.join("inner")).unwrap();
        fs::write(dirs.outside.join("target"), b"secret").unwrap();
        symlink(&dirs.outside, dirs.dir.join("out")).unwrap();
        symlink(dirs.outside.join("target"), dirs.dir.join("out-file")).unwrap();
        symlink(dirs.outside.join("missing"), dirs.dir.join("dangling")).unwrap();
        symlink(dirs.dir.join("inner"), dirs.dir.join("in")).unwrap();
        symlink("inner", dirs.dir.join("in-relative")).unwrap();
        fs::create_dir(dirs.dir.join("inner").join("deep")).unwrap();
        symlink(&dirs.outside, dirs.dir.join("inner").join("deep").join("out")).unwrap();
        fs::remove_file(dirs.outside.join("target")).unwrap();

        let names = [
            "out/x",
            "out/new/x",
            "out",
            "out-file",
            "dangling",
            "in/x",
            "in",
            "in-relative/x",
            "inner/deep/out/x",
            "inner/deep/out",
        ];
        for name in names {
            for overwrite in [false, true] {
                assert_eq!(resolve(&dirs.dir, name.as_bytes(), overwrite), Err(NameError::Symlink), "{name}");
            }
            assert_eq!(create_parents(&dirs.dir, name), Err(NameError::Symlink), "{name}");
            dirs.assert_nothing_outside();
        }
        assert!(!dirs.dir.join("inner").join("x").exists());
    }

    #[test]
    fn errors_have_words() {
        assert_eq!(NameError::DotComponent.to_string(), "the name has a `.` or `..` component");
        assert_eq!(
            NameError::Io(io::ErrorKind::PermissionDenied).to_string(),
            "the name cannot be checked or created: permission denied"
        );
        let all = [
            NameError::NotUtf8,
            NameError::Empty,
            NameError::TooLong,
            NameError::EmptyComponent,
            NameError::DotComponent,
            NameError::ControlCharacter,
            NameError::Backslash,
            NameError::Reserved,
            NameError::NotPortable,
            NameError::Exists,
            NameError::NotADirectory,
            NameError::Symlink,
        ];
        let mut words: Vec<String> = all.iter().map(NameError::to_string).collect();
        words.sort();
        words.dedup();
        assert_eq!(words.len(), all.len(), "two refusals read the same in a log");
    }

    /// The Windows rules, tested as plain functions on every platform.
    #[test]
    fn windows_rules() {
        let refused = [
            "CON",
            "con",
            "Con.txt",
            "PRN",
            "AUX.tar.gz",
            "NUL",
            "nul.txt",
            "NUL .txt",
            "COM1",
            "com9.log",
            "COM0",
            "LPT1",
            "lpt9",
            "LPT5.txt",
            "COM¹",
            "lpt³.x",
            "CONIN$",
            "conout$.txt",
            "a:b",
            "a::$DATA",
            "a.",
            "a ",
            "...",
            "a<b",
            "a>b",
            "a\"b",
            "a|b",
            "a?b",
            "a*b",
        ];
        for component in refused {
            assert!(!windows_can_hold(component), "{component}");
        }
        let held = [
            "CONSOLE", "COM10", "LPT", "COM", "xCON", "a.CON", "con_", "NULL.txt", ".hidden", "a b", "x..y",
            "ünï",
        ];
        for component in held {
            assert!(windows_can_hold(component), "{component}");
        }
        assert!(could_reach_partial_dir("RUDP-P~1", true));
        assert!(could_reach_partial_dir("ru1a2b~1", true));
        assert!(!could_reach_partial_dir("RUDP-P~1", false));
        assert!(could_reach_partial_dir(".Rudp-Partial", false));
        assert!(!could_reach_partial_dir("rudp-partial", false));
    }

    #[cfg(windows)]
    #[test]
    fn windows_names_are_refused() {
        let dirs = Dirs::new();
        for name in ["CON", "sub/nul.txt", "Com1", "LPT9.log", "a:b", "a.", "sub./x", "a /x", "a*b"] {
            dirs.assert_refused(name.as_bytes(), NameError::NotPortable);
        }
        for name in ["RUDP-P~1/x", "RUDP-P~1"] {
            dirs.assert_refused(name.as_bytes(), NameError::Reserved);
        }
    }
}
