//! Interoperability of the `reference` profile (SPEC §7) with the original Python tools.
//!
//! We do not have the original `client.py` / `server.py`; `tests/reference_peer.py` is a
//! faithful stand-in for them (strict wherever SPEC §7 says the originals are strict). Every
//! test runs the real `rudp` binary and the Python peer as real processes on 127.0.0.1, with
//! real stdin / stdout redirection, a hard time limit, and the children killed on the way out.
//!
//! The tests named `l1_...` to `l9_...` check SPEC §7 line by line (l1 = its first bullet),
//! in both directions where the line applies: a recording `Wire` sits between the peers, and
//! the checks read what really crossed it (sizes, bytes, timing) and the SPEC §8 trace lines
//! both sides print, rather than the stand-in's own account. `lossy_*` run whole transfers
//! through `rudp relay` (loss, duplicates, reordering, delay).
//!
//! `python3` must be on PATH: the tests fail loudly without it.

use std::fs::{self, File};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

const RUDP: &str = env!("CARGO_BIN_EXE_rudp");

/// Safety net handed to the Python peer (`--max-time`): it exits by itself after this long.
const PEER_MAX_SECS: &str = "150";

/// Time limit of a loss-free transfer.
const CLEAN_LIMIT: Duration = Duration::from_secs(30);
/// Time limit of a transfer with 10 % loss (the original sender's fixed 0.5 s RTO makes it slow).
const LOSSY_LIMIT: Duration = Duration::from_secs(120);

fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("reference_peer.py")
}

/// `python3`, checked once: without it these tests cannot run, and must say so.
fn python3() -> &'static str {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let ok = Command::new("python3")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "python3 is not on PATH: the reference interop tests need it (CI installs it)");
        assert!(peer_script().is_file(), "{} is missing", peer_script().display());
    });
    "python3"
}

/// A UDP port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    socket.local_addr().expect("local address").port()
}

/// Deterministic printable ASCII text, in lines, exactly `len` bytes long.
fn text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "reliable",
        "transfer",
        "over",
        "UDP",
        "stop-and-wait",
        "frame",
        "sequence",
        "ack",
        "FIN",
        "SYN",
        "window",
        "0123456789",
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "lazy",
        "dog",
        "~!@#$%^&*()",
    ];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::with_capacity(len + 100);
    while out.len() < len {
        let words = 1 + next() % 12;
        for i in 0..words {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(WORDS[(next() % WORDS.len() as u64) as usize].as_bytes());
        }
        out.push(b'\n');
    }
    out.truncate(len);
    out
}

/// A child process that is killed (and reaped) when dropped, with its stderr in a file.
struct Proc {
    name: &'static str,
    child: Child,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    fn spawn(name: &'static str, command: &mut Command, dir: &Path) -> Proc {
        let stderr = dir.join(format!("{}.stderr", name.replace(' ', "-")));
        let err = File::create(&stderr).expect("create stderr file");
        let child = command
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Proc { name, child, stderr, status: None }
    }

    /// Waits until the process exits or `deadline` passes (then kills it and returns None).
    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.status {
                return Some(status);
            }
            match self.child.try_wait().expect("try_wait") {
                Some(status) => self.status = Some(status),
                None if Instant::now() >= deadline => {
                    self.kill();
                    return None;
                }
                None => sleep(Duration::from_millis(20)),
            }
        }
    }

    fn is_running(&mut self) -> bool {
        self.status.is_none() && self.child.try_wait().expect("try_wait").is_none()
    }

    fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The last lines of its stderr, for failure messages.
    fn tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(40);
        format!(
            "---- {} stderr (last {} lines) ----\n{}\n",
            self.name,
            lines.len() - start,
            lines[start..].join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn logs(procs: &[&Proc]) -> String {
    procs.iter().map(|p| p.tail()).collect()
}

/// Waits for `proc` to exit by `deadline`; panics (with every log) if it does not.
fn expect_exit(proc: &mut Proc, deadline: Instant, others: &[&Proc]) -> ExitStatus {
    match proc.wait_until(deadline) {
        Some(status) => status,
        None => {
            let mut all = vec![&*proc];
            all.extend_from_slice(others);
            panic!("{} did not finish in time and was killed\n{}", proc.name, logs(&all));
        }
    }
}

/// `--loss P --seed N` for the stand-in, or nothing.
fn loss_args(loss: Option<(f64, u64)>) -> Vec<String> {
    match loss {
        Some((loss, seed)) => vec!["--loss".into(), loss.to_string(), "--seed".into(), seed.to_string()],
        None => Vec::new(),
    }
}

/// Starts the stand-in for the original `server.py PORT > out`, and waits until it listens.
fn start_original_receiver(dir: &Path, port: u16, out: &Path, loss: Option<(f64, u64)>) -> Proc {
    start_original_receiver_with(dir, port, out, &loss_args(loss))
}

/// `start_original_receiver` with extra stand-in options.
fn start_original_receiver_with<S: AsRef<std::ffi::OsStr>>(
    dir: &Path,
    port: u16,
    out: &Path,
    extra: &[S],
) -> Proc {
    let mut command = Command::new(python3());
    command.arg(peer_script()).args(["server", &port.to_string(), "-v", "--max-time", PEER_MAX_SECS]);
    command.args(extra);
    command.stdin(Stdio::null()).stdout(Stdio::from(File::create(out).expect("create output")));
    let mut server = Proc::spawn("original receiver", &mut command, dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("listening on") {
        assert!(server.is_running(), "the original receiver exited early\n{}", server.tail());
        assert!(Instant::now() < deadline, "the original receiver did not start\n{}", server.tail());
        sleep(Duration::from_millis(10));
    }
    server
}

/// The stand-in for the original `client.py 127.0.0.1 PORT < input`.
fn start_original_sender(dir: &Path, port: u16, input: &Path, loss: Option<(f64, u64)>) -> Proc {
    start_original_sender_with(dir, port, input, &loss_args(loss))
}

/// `start_original_sender` with extra stand-in options.
fn start_original_sender_with<S: AsRef<std::ffi::OsStr>>(
    dir: &Path,
    port: u16,
    input: &Path,
    extra: &[S],
) -> Proc {
    let mut command = Command::new(python3());
    command.arg(peer_script()).args([
        "client",
        "127.0.0.1",
        &port.to_string(),
        "-v",
        "--max-time",
        PEER_MAX_SECS,
    ]);
    command.args(extra);
    command.stdin(Stdio::from(File::open(input).expect("open input"))).stdout(Stdio::null());
    Proc::spawn("original sender", &mut command, dir)
}

/// `rudp send 127.0.0.1 PORT FILE <args>`.
fn start_rudp_send(dir: &Path, port: u16, input: &Path, args: &[&str]) -> Proc {
    let mut command = Command::new(RUDP);
    command.args(["send", "127.0.0.1", &port.to_string()]).arg(input).args(args).arg("-v");
    command.stdin(Stdio::null()).stdout(Stdio::null());
    Proc::spawn("rudp send", &mut command, dir)
}

/// `rudp recv PORT --bind 127.0.0.1 --profile reference -v -o OUT <args>`, once it listens.
fn start_rudp_recv(dir: &Path, port: u16, out: &Path, args: &[&str]) -> Proc {
    let mut command = Command::new(RUDP);
    command
        .args(["recv", &port.to_string(), "--bind", "127.0.0.1", "--profile", "reference", "-v", "-o"])
        .arg(out)
        .args(args);
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let mut recv = Proc::spawn("rudp recv", &mut command, dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recv.log().contains("rudp: listening on") {
        assert!(recv.is_running(), "rudp recv exited early\n{}", recv.tail());
        assert!(Instant::now() < deadline, "rudp recv did not start\n{}", recv.tail());
        sleep(Duration::from_millis(10));
    }
    recv
}

/// The original sender (client.py) -> `rudp recv PORT --profile reference -o OUT`.
fn original_sender_to_rudp_recv(data: &[u8], loss: Option<(f64, u64)>, limit: Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let out = dir.path().join("out.txt");
    fs::write(&input, data).expect("write input");
    let port = free_port();
    let deadline = Instant::now() + limit;

    let mut command = Command::new(RUDP);
    command
        .args(["recv", &port.to_string(), "--bind", "127.0.0.1", "--profile", "reference", "-v", "-o"])
        .arg(&out);
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let mut recv = Proc::spawn("rudp recv", &mut command, dir.path());
    // No need to wait for it to listen: the original sender retransmits its SYN every 0.5 s.
    let mut client = start_original_sender(dir.path(), port, &input, loss);

    let client_status = expect_exit(&mut client, deadline, &[&recv]);
    let recv_status = expect_exit(&mut recv, deadline, &[&client]);
    let all = logs(&[&client, &recv]);
    assert!(client_status.success(), "the original sender failed: {client_status}\n{all}");
    assert!(recv_status.success(), "rudp recv failed: {recv_status}\n{all}");
    let got = fs::read(&out).unwrap_or_else(|e| panic!("no output file: {e}\n{all}"));
    assert!(got == data, "output differs: {} bytes received, {} sent\n{all}", got.len(), data.len());
}

/// `rudp send --profile reference` -> the original receiver (server.py > OUT).
fn rudp_send_to_original_receiver(data: &[u8], loss: Option<(f64, u64)>, limit: Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let out = dir.path().join("out.txt");
    fs::write(&input, data).expect("write input");
    let port = free_port();
    let deadline = Instant::now() + limit;

    let mut server = start_original_receiver(dir.path(), port, &out, loss);
    let mut send = start_rudp_send(dir.path(), port, &input, &["--profile", "reference"]);

    let send_status = expect_exit(&mut send, deadline, &[&server]);
    let server_status = expect_exit(&mut server, deadline, &[&send]);
    let all = logs(&[&send, &server]);
    assert_ne!(
        server_status.code(),
        Some(3),
        "the original receiver crashed: our sender's FIN carried the ACK flag (SPEC §5)\n{all}"
    );
    assert!(!server.log().contains("CRASH"), "the original receiver crashed\n{all}");
    assert!(send_status.success(), "rudp send failed: {send_status}\n{all}");
    assert!(server_status.success(), "the original receiver failed: {server_status}\n{all}");
    let got = fs::read(&out).expect("read output");
    assert!(got == data, "output differs: {} bytes received, {} sent\n{all}", got.len(), data.len());
    if loss.is_none() {
        // Without loss the original receiver gets our final ACK (ACK|FIN, padded) and closes on it.
        assert!(server.log().contains("final ACK received"), "no final ACK reached the receiver\n{all}");
    }
}

/// 300 KiB and a bit of text: not a multiple of 512, and the sequence numbers wrap at MAX_SEQ.
fn text_300k() -> Vec<u8> {
    text(300 * 1024 + 123, 1)
}

/// 450 blocks of exactly 512 bytes (230 400 bytes, also past the wrap).
fn text_blocks() -> Vec<u8> {
    let data = text(450 * 512, 2);
    assert_eq!(data.len() % 512, 0);
    data
}

/// Two original senders (client.py) at once -> `rudp serve PORT DIR --profile reference`: each
/// its own transfer, under a name the server makes (the original client sends none).
#[test]
fn two_original_senders_at_once_to_rudp_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let incoming = dir.path().join("in");
    fs::create_dir(&incoming).expect("mkdir");
    let data = [text(100 * 1024 + 7, 5), text(40 * 1024 + 300, 6)];
    let port = free_port();
    let deadline = Instant::now() + CLEAN_LIMIT;
    let mut command = Command::new(RUDP);
    command
        .args(["serve", &port.to_string(), "--bind", "127.0.0.1", "--profile", "reference"])
        .arg(&incoming);
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let mut serve = Proc::spawn("rudp serve", &mut command, dir.path());
    let mut clients = Vec::new();
    for (i, data) in data.iter().enumerate() {
        let input = dir.path().join(format!("input{i}.txt"));
        fs::write(&input, data).expect("write input");
        clients.push(start_original_sender(dir.path(), port, &input, None));
    }
    for i in 0..clients.len() {
        let (client, others) = clients.split_at_mut(i + 1);
        let client = &mut client[i];
        let mut all: Vec<&Proc> = others.iter().collect();
        all.push(&serve);
        let status = expect_exit(client, deadline, &all);
        assert!(status.success(), "an original sender failed: {status}\n{}", logs(&[&*client, &serve]));
    }
    // Both files are in place before the FINs were answered.
    let mut got: Vec<Vec<u8>> = fs::read_dir(&incoming)
        .expect("read dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| fs::read(e.path()).expect("read"))
        .collect();
    got.sort_by_key(Vec::len);
    let mut expected = data.to_vec();
    expected.sort_by_key(Vec::len);
    assert!(got == expected, "the files differ from what was sent\n{}", serve.tail());
    assert_eq!(serve.log().lines().filter(|l| l.contains(" unverified ok")).count(), 2, "{}", serve.tail());
    serve.kill();
}

#[test]
fn original_sender_to_rudp_recv_300k() {
    original_sender_to_rudp_recv(&text_300k(), None, CLEAN_LIMIT);
}

#[test]
fn original_sender_to_rudp_recv_multiple_of_512() {
    original_sender_to_rudp_recv(&text_blocks(), None, CLEAN_LIMIT);
}

#[test]
fn original_sender_to_rudp_recv_empty() {
    original_sender_to_rudp_recv(b"", None, CLEAN_LIMIT);
}

/// 10 % of the frames the original sender receives are lost. Its fixed 0.5 s timeout makes
/// every loss cost half a second, so this uses 96 KiB rather than 300 KiB.
#[test]
fn original_sender_to_rudp_recv_with_loss() {
    original_sender_to_rudp_recv(&text(96 * 1024 + 7, 3), Some((0.1, 7)), LOSSY_LIMIT);
}

#[test]
fn rudp_send_to_original_receiver_300k() {
    rudp_send_to_original_receiver(&text_300k(), None, CLEAN_LIMIT);
}

#[test]
fn rudp_send_to_original_receiver_multiple_of_512() {
    rudp_send_to_original_receiver(&text_blocks(), None, CLEAN_LIMIT);
}

#[test]
fn rudp_send_to_original_receiver_empty() {
    rudp_send_to_original_receiver(b"", None, CLEAN_LIMIT);
}

/// 10 % of the frames the original receiver receives are lost.
#[test]
fn rudp_send_to_original_receiver_with_loss() {
    rudp_send_to_original_receiver(&text_300k(), Some((0.1, 11)), LOSSY_LIMIT);
}

/// The native profile cannot talk to the original receiver: it unpacks only 524-byte frames,
/// and a native SYN is shorter. The sender must fail within its idle timeout, not claim success.
#[test]
fn native_send_to_original_receiver_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let out = dir.path().join("out.txt");
    fs::write(&input, text(20_000, 4)).expect("write input");
    let port = free_port();
    let mut server = start_original_receiver(dir.path(), port, &out, None);

    let started = Instant::now();
    let mut send = start_rudp_send(dir.path(), port, &input, &["--idle-timeout", "2s"]);
    let send_status = expect_exit(&mut send, started + Duration::from_secs(15), &[&server]);
    let elapsed = started.elapsed();
    let all = logs(&[&send, &server]);
    assert!(!send_status.success(), "rudp send (native) claimed success with the original receiver\n{all}");
    assert!(
        elapsed < Duration::from_secs(8),
        "rudp send took {elapsed:?} to give up (idle timeout 2 s)\n{all}"
    );
    assert!(server.is_running(), "the original receiver should still be waiting for a connection\n{all}");
    assert!(
        server.log().contains("only 524-byte frames are unpacked"),
        "the original receiver should have ignored the short native frames\n{all}"
    );
    server.kill();
    assert_eq!(
        fs::read(&out).expect("read output").len(),
        0,
        "no data may reach the original receiver\n{all}"
    );
}

/// A first 512-byte block that ends in 12 zero bytes, then 1,000 bytes of text: what the
/// reference profile cannot carry.
fn block_ending_in_zeros() -> Vec<u8> {
    let mut data = text(500, 5);
    data.extend_from_slice(&[0; 12]);
    data.extend_from_slice(&text(1000, 6));
    data
}

/// Text only: the original receiver finds a payload's end by stripping trailing zero bytes,
/// so data whose 512-byte block ends in zeros cannot cross the reference profile (SPEC §7).
///
/// What happens, deterministically: the receiver writes the block without its trailing zeros
/// and acknowledges the shorter length; our sender expects `seq + 512`, so it never sees its
/// frame acknowledged, retransmits (each one re-acknowledged as a duplicate, not re-written)
/// and fails at the idle timeout. The output is the first block without its zeros, nothing more.
#[test]
fn reference_profile_loses_trailing_zeros() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.bin");
    let out = dir.path().join("out.txt");
    let data = block_ending_in_zeros();
    fs::write(&input, &data).expect("write input");
    let port = free_port();
    let mut server = start_original_receiver(dir.path(), port, &out, None);

    let started = Instant::now();
    let mut send =
        start_rudp_send(dir.path(), port, &input, &["--profile", "reference", "--idle-timeout", "2s"]);
    let send_status = expect_exit(&mut send, started + Duration::from_secs(15), &[&server]);
    sleep(Duration::from_millis(200));
    server.kill();
    let all = logs(&[&send, &server]);
    let got = fs::read(&out).expect("read output");
    assert!(got != data, "data ending in zero bytes crossed the reference profile intact?\n{all}");
    assert!(got == data[..500], "expected the first block without its zeros, got {} bytes\n{all}", got.len());
    assert!(!send_status.success(), "rudp send claimed success although the zeros were lost\n{all}");
}

/// The stand-in peers talk to each other: a sanity check of the test double itself.
#[test]
fn reference_peer_self_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let out = dir.path().join("out.txt");
    let data = text(5000, 8);
    fs::write(&input, &data).expect("write input");
    let port = free_port();
    let deadline = Instant::now() + CLEAN_LIMIT;
    let mut server = start_original_receiver(dir.path(), port, &out, None);
    let mut client = start_original_sender(dir.path(), port, &input, None);
    let client_status = expect_exit(&mut client, deadline, &[&server]);
    let server_status = expect_exit(&mut server, deadline, &[&client]);
    let all = logs(&[&client, &server]);
    assert!(client_status.success() && server_status.success(), "{client_status} {server_status}\n{all}");
    assert!(fs::read(&out).expect("read output") == data, "output differs\n{all}");
    // SPEC §9: the reference SYN, and the original receiver's two-frame FIN answer.
    assert!(client.log().lines().any(|l| l == "SEND 42 0 0 SYN"), "{all}");
    let end = 43 + data.len();
    assert!(server.log().lines().any(|l| l == format!("SEND 4322 {end} 1 ACK FIN")), "{all}");
    assert!(server.log().lines().any(|l| l == format!("SEND 4322 {end} 1 FIN")), "{all}");
}

// ---------------------------------------------------------------------------------------
// SPEC §7 line by line, checked on the wire.
//
// A `Wire` sits between the two peers on 127.0.0.1 and records every datagram (its size,
// its bytes, when it passed), and can drop or repeat some. The checks below read what
// really crossed the wire and the SPEC §8 trace lines both sides print with -v; they do not
// trust the stand-in's own account of what it sent. Test names start with the §7 line they
// check (l1 = the first bullet of §7, ...).
// ---------------------------------------------------------------------------------------

const FIN: u16 = 1;
const SYN: u16 = 2;
const ACK: u16 = 4;
const HEADER_LEN: usize = 12;
const FRAME_LEN: usize = 524;
/// The original sender's ISN (SPEC §7).
const ISN: u32 = 42;

/// A frame header as it is on the wire (SPEC §1: little-endian seq, ack, conn, flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    seq: u32,
    ack: u32,
    conn: u16,
    flags: u16,
}

impl Header {
    fn parse(bytes: &[u8]) -> Option<Header> {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let half = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap());
        (bytes.len() >= HEADER_LEN).then(|| Header {
            seq: word(0),
            ack: word(4),
            conn: half(8),
            flags: half(10),
        })
    }

    fn emit(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(FRAME_LEN);
        bytes.extend_from_slice(&self.seq.to_le_bytes());
        bytes.extend_from_slice(&self.ack.to_le_bytes());
        bytes.extend_from_slice(&self.conn.to_le_bytes());
        bytes.extend_from_slice(&self.flags.to_le_bytes());
        bytes
    }

    /// The frame padded with zeros to `len` bytes (the original sender's way: 524).
    fn padded(&self, payload: &[u8], len: usize) -> Vec<u8> {
        let mut bytes = self.emit();
        bytes.extend_from_slice(payload);
        bytes.resize(len, 0);
        bytes
    }

    /// The SPEC §8 trace line of this header: `SEND 43 0 7 ACK`.
    fn trace(&self, kind: &str) -> String {
        let mut line = format!("{kind} {} {} {}", self.seq, self.ack, self.conn);
        for (bit, name) in [(ACK, "ACK"), (SYN, "SYN"), (FIN, "FIN")] {
            if self.flags & bit != 0 {
                line.push(' ');
                line.push_str(name);
            }
        }
        line
    }
}

/// SPEC §9: the reference SYN, 524 bytes.
fn reference_syn() -> Vec<u8> {
    let mut syn = vec![0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0];
    syn.resize(FRAME_LEN, 0);
    syn
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// From the sender (client) to the receiver (server).
    ToServer,
    /// From the receiver (server) to the sender (client).
    ToClient,
}

/// What the wire does with a datagram.
enum Action {
    Forward,
    Drop,
    /// Forward it now, and again after each of these delays.
    Repeat(Vec<Duration>),
}

/// Decides the fate of each datagram: its direction, its index among the datagrams in that
/// direction (from 0), its bytes.
type Policy = Box<dyn FnMut(Dir, usize, &[u8]) -> Action + Send>;

fn forward_all() -> Policy {
    Box::new(|_, _, _| Action::Forward)
}

/// One datagram that reached the wire.
#[derive(Clone, Debug)]
struct Datagram {
    /// When it reached the wire, from the wire's start.
    at: Duration,
    dir: Dir,
    bytes: Vec<u8>,
    dropped: bool,
    /// A repeat sent by the wire itself (Action::Repeat), not by a peer.
    injected: bool,
}

impl Datagram {
    fn header(&self) -> Header {
        Header::parse(&self.bytes)
            .unwrap_or_else(|| panic!("a {}-byte datagram has no header", self.bytes.len()))
    }

    fn payload(&self) -> &[u8] {
        &self.bytes[HEADER_LEN.min(self.bytes.len())..]
    }
}

fn dump(wire: &[Datagram]) -> String {
    let mut out = String::from("---- the wire ----\n");
    for d in wire {
        let arrow = if d.dir == Dir::ToServer { "->" } else { "<-" };
        let fields = Header::parse(&d.bytes).map_or("(no header)".into(), |h| h.trace(""));
        let fate = if d.dropped {
            " dropped"
        } else if d.injected {
            " repeated by the wire"
        } else {
            ""
        };
        out.push_str(&format!("{:8.3}s {arrow} {:3} B{fields}{fate}\n", d.at.as_secs_f64(), d.bytes.len()));
    }
    out
}

/// A recording man in the middle on 127.0.0.1: the sender sends to `addr`; the wire forwards
/// to the receiver from the same socket and the receiver's replies back to the sender.
struct Wire {
    addr: std::net::SocketAddr,
    start: Instant,
    log: std::sync::Arc<std::sync::Mutex<Vec<Datagram>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Wire {
    fn start(server_port: u16, mut policy: Policy) -> Wire {
        use std::sync::atomic::Ordering;
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the wire");
        socket.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
        let addr = socket.local_addr().unwrap();
        let server: std::net::SocketAddr = ([127, 0, 0, 1], server_port).into();
        let start = Instant::now();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (log, stop) = (log.clone(), stop.clone());
            move || {
                let mut buf = [0u8; 2048];
                let mut client = None;
                let mut counts = [0usize; 2];
                let mut repeats: Vec<(Instant, Dir, Vec<u8>)> = Vec::new();
                let to = |dir: Dir, client: Option<std::net::SocketAddr>| match dir {
                    Dir::ToServer => Some(server),
                    Dir::ToClient => client,
                };
                while !stop.load(Ordering::SeqCst) {
                    let now = Instant::now();
                    let (due, later): (Vec<_>, Vec<_>) = repeats.into_iter().partition(|r| r.0 <= now);
                    repeats = later;
                    for (_, dir, bytes) in due {
                        if let Some(target) = to(dir, client) {
                            let _ = socket.send_to(&bytes, target);
                        }
                        let at = start.elapsed();
                        log.lock().unwrap().push(Datagram { at, dir, bytes, dropped: false, injected: true });
                    }
                    let (n, from) = match socket.recv_from(&mut buf) {
                        Ok(got) => got,
                        // Time-outs, and ICMP errors from a send to a peer that has exited.
                        Err(_) => continue,
                    };
                    let at = start.elapsed();
                    let dir = if from == server {
                        Dir::ToClient
                    } else if client.is_none() || client == Some(from) {
                        client = Some(from);
                        Dir::ToServer
                    } else {
                        continue;
                    };
                    let bytes = buf[..n].to_vec();
                    let index = counts[dir as usize];
                    counts[dir as usize] += 1;
                    let action = policy(dir, index, &bytes);
                    let dropped = matches!(action, Action::Drop);
                    if !dropped && let Some(target) = to(dir, client) {
                        let _ = socket.send_to(&bytes, target);
                    }
                    if let Action::Repeat(delays) = action {
                        repeats.extend(delays.into_iter().map(|d| (Instant::now() + d, dir, bytes.clone())));
                    }
                    log.lock().unwrap().push(Datagram { at, dir, bytes, dropped, injected: false });
                }
            }
        });
        Wire { addr, start, log, stop, thread: Some(thread) }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn datagrams(&self) -> Vec<Datagram> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what crossed the wire so far, or `deadline` passes.
    fn wait_for(&self, deadline: Instant, done: impl Fn(&[Datagram]) -> bool) -> bool {
        while Instant::now() < deadline {
            if done(&self.datagrams()) {
                return true;
            }
            sleep(Duration::from_millis(10));
        }
        false
    }

    fn stop(mut self) -> Vec<Datagram> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the wire thread panicked");
        }
        self.datagrams()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Which of the originals the run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pair {
    /// The original sender (client.py) -> `rudp recv --profile reference`.
    OriginalToRudp,
    /// `rudp send --profile reference` -> the original receiver (server.py).
    RudpToOriginal,
}

/// How one side of a run ended.
#[derive(Debug)]
struct Outcome {
    status: ExitStatus,
    /// When it exited, from the wire's start.
    exited_at: Duration,
    log: String,
}

/// A whole transfer through a `Wire`.
#[derive(Debug)]
struct Run {
    input: Vec<u8>,
    output: Vec<u8>,
    wire: Vec<Datagram>,
    sender: Outcome,
    receiver: Outcome,
}

impl Run {
    /// Everything, for failure messages.
    fn all(&self) -> String {
        let tail = |name: &str, log: &str| {
            let lines: Vec<&str> = log.lines().collect();
            let start = lines.len().saturating_sub(60);
            format!("---- {name} stderr ----\n{}\n", lines[start..].join("\n"))
        };
        format!(
            "sender {} at {:?}, receiver {} at {:?}\n{}{}{}",
            self.sender.status,
            self.sender.exited_at,
            self.receiver.status,
            self.receiver.exited_at,
            tail("sender", &self.sender.log),
            tail("receiver", &self.receiver.log),
            dump(&self.wire)
        )
    }

    fn assert_success(&self) {
        let all = self.all();
        assert!(self.sender.status.success(), "the sender failed\n{all}");
        assert!(self.receiver.status.success(), "the receiver failed\n{all}");
        assert!(
            self.output == self.input,
            "output differs: {} of {} bytes\n{all}",
            self.output.len(),
            self.input.len()
        );
    }

    /// The datagrams one side put on the wire (not the wire's own repeats).
    fn sent(&self, dir: Dir) -> Vec<&Datagram> {
        self.wire.iter().filter(|d| d.dir == dir && !d.injected).collect()
    }

    /// The receiver's connection id: the `conn` of the first SYN|ACK.
    fn conn(&self) -> u16 {
        let syn_ack = self.sent(Dir::ToClient).into_iter().find(|d| d.header().flags == ACK | SYN);
        syn_ack.unwrap_or_else(|| panic!("no SYN|ACK on the wire\n{}", self.all())).header().conn
    }

    /// The receiver's ISN: the `seq` of the first SYN|ACK.
    fn risn(&self) -> u32 {
        let syn_ack = self.sent(Dir::ToClient).into_iter().find(|d| d.header().flags == ACK | SYN);
        syn_ack.unwrap_or_else(|| panic!("no SYN|ACK on the wire\n{}", self.all())).header().seq
    }

    /// The sequence number of the FIN: ISN + 1 + the data's length.
    fn end(&self) -> u32 {
        ISN + 1 + self.input.len() as u32
    }

    fn sender_lines(&self) -> Vec<&str> {
        self.sender.log.lines().collect()
    }

    fn receiver_lines(&self) -> Vec<&str> {
        self.receiver.log.lines().collect()
    }
}

/// Waits for both processes, noting when each exits (from `start`).
fn wait_both(a: &mut Proc, b: &mut Proc, start: Instant, deadline: Instant) -> [(ExitStatus, Duration); 2] {
    let mut exits = [None, None];
    loop {
        for (i, proc) in [&mut *a, &mut *b].into_iter().enumerate() {
            if exits[i].is_none()
                && let Some(status) = proc.child.try_wait().expect("try_wait")
            {
                proc.status = Some(status);
                exits[i] = Some((status, start.elapsed()));
            }
        }
        if let [Some(x), Some(y)] = exits {
            return [x, y];
        }
        if Instant::now() >= deadline {
            a.kill();
            b.kill();
            panic!("the transfer did not finish in time; both killed\n{}", logs(&[a, b]));
        }
        sleep(Duration::from_millis(5));
    }
}

/// A transfer of `data` through a `Wire` with `policy`; extra options for each side.
fn through_wire(
    pair: Pair,
    data: &[u8],
    policy: Policy,
    sender_args: &[&str],
    receiver_args: &[&str],
) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let out = dir.path().join("out.txt");
    fs::write(&input, data).expect("write input");
    let port = free_port();
    let mut receiver = match pair {
        Pair::OriginalToRudp => start_rudp_recv(dir.path(), port, &out, receiver_args),
        Pair::RudpToOriginal => start_original_receiver_with(dir.path(), port, &out, receiver_args),
    };
    let wire = Wire::start(port, policy);
    let mut sender = match pair {
        Pair::OriginalToRudp => start_original_sender_with(dir.path(), wire.port(), &input, sender_args),
        Pair::RudpToOriginal => {
            let mut args = vec!["--profile", "reference"];
            args.extend_from_slice(sender_args);
            start_rudp_send(dir.path(), wire.port(), &input, &args)
        }
    };
    let [(sender_status, sender_at), (receiver_status, receiver_at)] =
        wait_both(&mut sender, &mut receiver, wire.start, Instant::now() + CLEAN_LIMIT);
    // Whatever is still in flight.
    sleep(Duration::from_millis(50));
    let wire = wire.stop();
    Run {
        input: data.to_vec(),
        output: fs::read(&out).unwrap_or_default(),
        wire,
        sender: Outcome { status: sender_status, exited_at: sender_at, log: sender.log() },
        receiver: Outcome { status: receiver_status, exited_at: receiver_at, log: receiver.log() },
    }
}

/// Three data frames: 512, 512 and 276 bytes, the last one padded with 236 zeros by a
/// reference sender.
fn small_text() -> Vec<u8> {
    text(1300, 21)
}

/// One clean transfer, the original sender -> `rudp recv`, shared by the tests that read it.
fn clean_original_to_rudp() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| through_wire(Pair::OriginalToRudp, &small_text(), forward_all(), &[], &[]))
}

/// One clean transfer, `rudp send --profile reference` -> the original receiver.
fn clean_rudp_to_original() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| through_wire(Pair::RudpToOriginal, &small_text(), forward_all(), &[], &[]))
}

/// SPEC §7 line 1: every frame the sender put on the wire is 524 bytes, zero-padded: the SYN
/// is the §9 vector, each data frame is its block of the input then zeros, the FIN and the
/// final ACK|FIN frames are headers then zeros. Each kind must be there.
fn check_sender_frames_are_padded(run: &Run) {
    let all = run.all();
    let (mut syns, mut thirds, mut later_data, mut fins, mut finals) = (0, 0, 0, 0, 0);
    for d in run.sent(Dir::ToServer) {
        assert_eq!(
            d.bytes.len(),
            FRAME_LEN,
            "a {}-byte frame from the sender at {:?}\n{all}",
            d.bytes.len(),
            d.at
        );
        let h = d.header();
        let zeros_from = |at: usize| d.payload()[at..].iter().all(|&b| b == 0);
        match h.flags {
            SYN => {
                assert_eq!(d.bytes, reference_syn(), "the SYN is not the SPEC §9 vector\n{all}");
                syns += 1;
            }
            FIN => {
                assert!(zeros_from(0), "the FIN's padding is not all zeros\n{all}");
                fins += 1;
            }
            f if f == ACK | FIN => {
                assert!(zeros_from(0), "the final ACK|FIN's padding is not all zeros\n{all}");
                finals += 1;
            }
            0 | ACK => {
                let offset = (h.seq - ISN - 1) as usize;
                let len = run.input.len().saturating_sub(offset).min(512);
                assert_eq!(
                    &d.payload()[..len],
                    &run.input[offset..offset + len],
                    "data at seq {}\n{all}",
                    h.seq
                );
                assert!(zeros_from(len), "data at seq {} is not padded with zeros\n{all}", h.seq);
                if h.seq == ISN + 1 {
                    thirds += 1;
                } else {
                    later_data += 1;
                }
            }
            other => panic!("the sender sent flags {other}\n{all}"),
        }
    }
    assert!(
        syns > 0 && thirds > 0 && later_data > 0 && fins > 0 && finals > 0,
        "a kind of frame is missing\n{all}"
    );
}

#[test]
fn l1_original_sender_pads_every_frame_to_524_bytes() {
    let run = clean_original_to_rudp();
    run.assert_success();
    check_sender_frames_are_padded(run);
}

#[test]
fn l1_rudp_send_reference_pads_every_frame_to_524_bytes() {
    let run = clean_rudp_to_original();
    run.assert_success();
    check_sender_frames_are_padded(run);
}

/// A socket on 127.0.0.1 that plays one side by hand.
fn probe_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    socket
}

/// Every datagram `socket` gets within `wait`.
fn replies(socket: &UdpSocket, wait: Duration) -> Vec<Vec<u8>> {
    let end = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

/// Sends `frame` to `port` and returns the headers of what comes back within `wait`; every
/// reply must be a bare 12-byte header.
fn exchange(socket: &UdpSocket, port: u16, frame: &[u8], wait: Duration) -> Vec<Header> {
    socket.send_to(frame, ("127.0.0.1", port)).expect("send");
    let got = replies(socket, wait);
    for reply in &got {
        assert_eq!(reply.len(), HEADER_LEN, "the original receiver sent a {}-byte reply", reply.len());
    }
    got.iter().map(|r| Header::parse(r).unwrap()).collect()
}

/// The original receiver, played by hand: a probe socket and a started stand-in.
fn probe_original_receiver(extra: &[&str]) -> (tempfile::TempDir, Proc, UdpSocket, u16, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.txt");
    let port = free_port();
    let server = start_original_receiver_with(dir.path(), port, &out, extra);
    (dir, server, probe_socket(), port, out)
}

#[test]
fn l1_original_receiver_unpacks_only_524_byte_datagrams() {
    let (_dir, mut server, socket, port, _) = probe_original_receiver(&[]);
    let syn = Header { seq: ISN, ack: 0, conn: 0, flags: SYN };
    for len in [12, 100, 523, 525, 1024] {
        let got = exchange(&socket, port, &syn.padded(&[], len), Duration::from_millis(150));
        assert!(got.is_empty(), "a {len}-byte SYN was answered: {got:?}\n{}", server.tail());
    }
    let got = exchange(&socket, port, &syn.padded(&[], FRAME_LEN), Duration::from_millis(300));
    assert_eq!(got.len(), 1, "the 524-byte SYN must be answered once\n{}", server.tail());
    assert_eq!(got[0].flags, ACK | SYN, "{}", server.tail());
    server.kill();
}

#[test]
fn l2_rudp_recv_replies_to_the_original_sender_are_12_bytes() {
    let run = clean_original_to_rudp();
    run.assert_success();
    let all = run.all();
    let replies = run.sent(Dir::ToClient);
    for d in &replies {
        assert_eq!(d.bytes.len(), HEADER_LEN, "a {}-byte reply at {:?}\n{all}", d.bytes.len(), d.at);
    }
    let kinds: Vec<u16> = replies.iter().map(|d| d.header().flags).collect();
    for kind in [ACK | SYN, ACK, ACK | FIN] {
        assert!(kinds.contains(&kind), "no reply with flags {kind}\n{all}");
    }
}

/// The original sender drops every reply that is not exactly 12 bytes: a SYN|ACK of 524, 13
/// or 11 bytes is not taken (the SYN goes again after 0.5 s), a 12-byte one is (its `conn`
/// is the one the third frame carries).
#[test]
fn l2_original_sender_accepts_only_12_byte_replies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    fs::write(&input, "hi\n").expect("write input");
    let socket = probe_socket();
    let port = socket.local_addr().unwrap().port();
    let mut client = start_original_sender_with::<&str>(dir.path(), port, &input, &[]);
    let mut buf = [0u8; 2048];
    let mut next = |what: &str, client: &Proc| {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                return (buf[..n].to_vec(), from);
            }
        }
        panic!("no {what} from the original sender\n{}", client.tail());
    };
    let (syn, from) = next("SYN", &client);
    assert_eq!(syn, reference_syn(), "{}", client.tail());
    let syn_ack = |conn| Header { seq: 900, ack: ISN + 1, conn, flags: ACK | SYN };
    for (conn, len) in [(5, FRAME_LEN), (6, HEADER_LEN + 1), (8, HEADER_LEN - 1)] {
        socket.send_to(&syn_ack(conn).padded(&[], len), from).unwrap();
    }
    let (again, _) = next("second SYN", &client);
    assert_eq!(again, reference_syn(), "a reply that is not 12 bytes was taken\n{}", client.tail());
    socket.send_to(&syn_ack(7).emit(), from).unwrap();
    let (third, _) = next("third frame", &client);
    let h = Header::parse(&third).unwrap();
    assert_eq!((h.seq, h.conn), (ISN + 1, 7), "{}", client.tail());
    client.kill();
}

#[test]
fn l3_original_sender_isn_is_42_and_rudp_recv_takes_it() {
    let run = clean_original_to_rudp();
    run.assert_success();
    let all = run.all();
    let first = run.sent(Dir::ToServer)[0];
    assert_eq!(first.bytes, reference_syn(), "{all}");
    let syn_ack = run.sent(Dir::ToClient)[0].header();
    assert_eq!((syn_ack.flags, syn_ack.ack), (ACK | SYN, ISN + 1), "{all}");
    assert!(run.receiver_lines().contains(&"RECV 42 0 0 SYN"), "{all}");
}

#[test]
fn l3_rudp_send_reference_isn_is_42() {
    let run = clean_rudp_to_original();
    run.assert_success();
    let all = run.all();
    let sent = run.sent(Dir::ToServer);
    assert_eq!(sent[0].bytes, reference_syn(), "the first frame is not the SPEC §9 SYN\n{all}");
    assert!(run.sender_lines().contains(&"SEND 42 0 0 SYN"), "{all}");
    let third = sent.iter().find(|d| d.header().flags & (SYN | FIN) == 0).expect("no data frame");
    assert_eq!(third.header().seq, ISN + 1, "{all}");
}

/// The original receiver ignores the SYN's seq: a SYN with seq 1000 is answered with ack 43,
/// data at seq 1001 is not taken, data at seq 43 is.
#[test]
fn l3_original_receiver_ignores_the_syn_seq() {
    let (_dir, mut server, socket, port, _) = probe_original_receiver(&[]);
    let wait = Duration::from_millis(200);
    let got =
        exchange(&socket, port, &Header { seq: 1000, ack: 0, conn: 0, flags: SYN }.padded(&[], 524), wait);
    assert_eq!(got.len(), 1, "{}", server.tail());
    let Header { seq: risn, ack, conn, flags } = got[0];
    assert_eq!((flags, ack), (ACK | SYN, ISN + 1), "{}", server.tail());
    let data = |seq| Header { seq, ack: risn + 1, conn, flags: ACK }.padded(b"hello", 524);
    assert_eq!(exchange(&socket, port, &data(1001), wait), [], "{}", server.tail());
    let got = exchange(&socket, port, &data(ISN + 1), wait);
    assert_eq!(got, [Header { seq: risn + 1, ack: ISN + 1 + 5, conn, flags: ACK }], "{}", server.tail());
    server.kill();
}

#[test]
fn l4_original_sender_third_frame_has_ack_0_and_rudp_recv_takes_it() {
    let run = clean_original_to_rudp();
    run.assert_success();
    let all = run.all();
    let conn = run.conn();
    let data: Vec<Header> =
        run.sent(Dir::ToServer).iter().map(|d| d.header()).filter(|h| h.flags & (SYN | FIN) == 0).collect();
    assert_eq!(data.len(), 3, "three data frames expected\n{all}");
    assert_eq!(data[0], Header { seq: ISN + 1, ack: 0, conn, flags: ACK }, "the third frame\n{all}");
    for h in &data[1..] {
        assert_eq!((h.ack, h.conn, h.flags), (0, conn, 0), "a later data frame\n{all}");
    }
    // rudp recv took each one (a RECV line, not a DROP) and acknowledged it.
    let lines = run.receiver_lines();
    for h in &data {
        let line = h.trace("RECV");
        assert!(lines.contains(&line.as_str()), "rudp recv did not take `{line}`\n{all}");
    }
    assert!(!lines.iter().any(|l| l.starts_with("DROP")), "rudp recv dropped a frame\n{all}");
}

#[test]
fn l4_rudp_send_reference_data_frames_are_taken_by_the_original_receiver() {
    let run = clean_rudp_to_original();
    run.assert_success();
    let all = run.all();
    let (risn, conn) = (run.risn(), run.conn());
    let data: Vec<Header> =
        run.sent(Dir::ToServer).iter().map(|d| d.header()).filter(|h| h.flags & (SYN | FIN) == 0).collect();
    assert_eq!(data.len(), 3, "three data frames expected\n{all}");
    // The third frame carries ACK (SPEC §3, §4: ack RISN+1; the original sender's is 0);
    // the later ones flags 0 and ack 0, as the original sender's (SPEC §7).
    assert_eq!((data[0].seq, data[0].conn, data[0].flags), (ISN + 1, conn, ACK), "{all}");
    assert!(data[0].ack == risn + 1 || data[0].ack == 0, "{all}");
    for h in &data[1..] {
        assert_eq!((h.ack, h.conn, h.flags), (0, conn, 0), "a later data frame\n{all}");
    }
    let lines = run.receiver_lines();
    for h in &data {
        let line = h.trace("RECV");
        assert!(lines.contains(&line.as_str()), "the original receiver did not take `{line}`\n{all}");
    }
}

/// The original receiver checks only `conn` and the flags: data whose ack is anything is
/// taken, data with another `conn` is not.
#[test]
fn l4_original_receiver_ignores_the_ack_field() {
    let (_dir, mut server, socket, port, out) = probe_original_receiver(&[]);
    let wait = Duration::from_millis(200);
    let got = exchange(&socket, port, &reference_syn(), wait);
    assert_eq!(got.len(), 1, "{}", server.tail());
    let Header { seq: risn, conn, .. } = got[0];
    let frame = |seq, ack, conn, flags, payload: &[u8]| Header { seq, ack, conn, flags }.padded(payload, 524);
    let ack_of = |ack| [Header { seq: risn + 1, ack, conn, flags: ACK }];
    assert_eq!(exchange(&socket, port, &frame(43, 77_777, conn, ACK, b"hello"), wait), ack_of(48));
    assert_eq!(exchange(&socket, port, &frame(48, 4_000_000, conn, 0, b" wor"), wait), ack_of(52));
    assert_eq!(exchange(&socket, port, &frame(52, 0, conn.wrapping_add(1), 0, b"XX"), wait), []);
    assert_eq!(exchange(&socket, port, &frame(52, risn + 1, conn, ACK, b"ld\n"), wait), ack_of(55));
    let answer = exchange(&socket, port, &frame(55, 0, conn, FIN, b""), wait);
    assert_eq!(answer.len(), 2, "{answer:?}\n{}", server.tail());
    server.kill();
    assert_eq!(fs::read(&out).unwrap(), b"hello world\n", "{}", server.tail());
}

/// For every data frame, the receiver's ACK is `seq +` the payload's length once trailing
/// zeros are stripped; here that is the text's length (the last frame is padded with zeros).
fn check_acks_are_stripped_lengths(run: &Run) {
    let all = run.all();
    let replies = run.sent(Dir::ToClient);
    let mut checked = 0;
    for d in run.sent(Dir::ToServer) {
        let h = d.header();
        if h.flags & (SYN | FIN) != 0 {
            continue;
        }
        let stripped = d.payload().iter().rposition(|&b| b != 0).map_or(0, |i| i + 1) as u32;
        let text_len = (run.input.len() - (h.seq - ISN - 1) as usize).min(512) as u32;
        assert_eq!(stripped, text_len, "{all}");
        let want = Header { seq: run.risn() + 1, ack: h.seq + stripped, conn: run.conn(), flags: ACK };
        let answer = replies.iter().find(|r| r.at >= d.at).map(|r| r.header());
        assert_eq!(answer, Some(want), "the answer to the data at seq {}\n{all}", h.seq);
        checked += 1;
    }
    assert!(checked >= 3, "{all}");
}

#[test]
fn l5_rudp_recv_acks_the_stripped_length() {
    let run = clean_original_to_rudp();
    run.assert_success();
    check_acks_are_stripped_lengths(run);
}

#[test]
fn l5_original_receiver_acks_the_stripped_length() {
    let run = clean_rudp_to_original();
    run.assert_success();
    check_acks_are_stripped_lengths(run);
}

/// Zeros at the end of a full block: `rudp recv` writes and acknowledges the block without
/// them (543, not 555); the original sender expects 555, so it sends the block again, which
/// `rudp recv` acknowledges again as a duplicate (the transfer cannot go on: text only).
#[test]
fn l5_rudp_recv_strips_zeros_at_the_end_of_a_full_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.bin");
    let out = dir.path().join("out.txt");
    let data = block_ending_in_zeros();
    fs::write(&input, &data).expect("write input");
    let port = free_port();
    let mut recv = start_rudp_recv(dir.path(), port, &out, &[]);
    let wire = Wire::start(port, forward_all());
    let mut client = start_original_sender_with::<&str>(dir.path(), wire.port(), &input, &[]);
    let acks =
        |w: &[Datagram]| w.iter().filter(|d| d.dir == Dir::ToClient && d.header().flags == ACK).count();
    let done = wire.wait_for(Instant::now() + Duration::from_secs(5), |w| acks(w) >= 2);
    client.kill();
    recv.kill();
    let datagrams = wire.stop();
    let all = format!("{}{}", logs(&[&client, &recv]), dump(&datagrams));
    assert!(done, "no second ACK within 5 s\n{all}");
    let answers: Vec<Header> = datagrams
        .iter()
        .filter(|d| d.dir == Dir::ToClient)
        .map(|d| d.header())
        .filter(|h| h.flags == ACK)
        .collect();
    assert_eq!(answers[0].ack, ISN + 1 + 500, "{all}");
    assert_eq!(answers[1].ack, ISN + 1 + 500, "{all}");
    let conn = answers[0].conn;
    let log = recv.log();
    assert!(
        log.lines().any(|l| l == format!("RECV 43 0 {conn} ACK DUP")),
        "no DUP for the block sent again\n{all}"
    );
}

#[test]
fn l5_cli_help_says_the_reference_profile_is_text_only() {
    for command in ["send", "recv"] {
        let output = Command::new(RUDP).args([command, "--help"]).output().expect("run rudp --help");
        let help = String::from_utf8_lossy(&output.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains("TEXT ONLY") && help.contains("trailing zero bytes"),
            "rudp {command} --help does not say that the reference profile is text only:\n{help}"
        );
    }
}

/// The original receiver answers the FIN with ACK|FIN (ack not END+1) then a lone FIN;
/// `rudp send` takes the first as the FIN's answer, sends its final ACK as ACK|FIN (padded:
/// checked by the l1 test), succeeds, and answers the lone FIN with the final ACK again.
fn check_rudp_send_takes_the_original_fin_answer(run: &Run, fin_answer_ack: u32) {
    run.assert_success();
    let all = run.all();
    let (end, risn, conn) = (run.end(), run.risn(), run.conn());
    let fins: Vec<Header> =
        run.sent(Dir::ToServer).iter().map(|d| d.header()).filter(|h| h.flags & FIN != 0).collect();
    let fin = Header { seq: end, ack: risn + 1, conn, flags: FIN };
    let final_ack = Header { seq: end + 1, ack: risn + 2, conn, flags: ACK | FIN };
    assert_eq!(fins.first(), Some(&fin), "the sender's FIN: FIN alone, seq END\n{all}");
    let answer: Vec<Header> =
        run.sent(Dir::ToClient).iter().map(|d| d.header()).filter(|h| h.flags & FIN != 0).collect();
    let ack_fin = Header { seq: risn + 1, ack: fin_answer_ack, conn, flags: ACK | FIN };
    let lone_fin = Header { flags: FIN, ..ack_fin };
    assert_eq!(answer, [ack_fin, lone_fin], "the original receiver's answer to the FIN\n{all}");
    assert_ne!(fin_answer_ack, end + 1, "{all}");
    // A final ACK for the ACK|FIN, and one for the lone FIN unless both were read at once.
    assert!(!fins[1..].is_empty(), "no final ACK\n{all}");
    assert!(fins[1..].iter().all(|h| *h == final_ack), "the final ACK frames\n{all}");
    let lines = run.sender_lines();
    let taken = ack_fin.trace("RECV");
    assert!(lines.contains(&taken.as_str()), "rudp send did not take `{taken}` as the FIN's answer\n{all}");
    assert_ne!(run.receiver.status.code(), Some(3), "the original receiver crashed\n{all}");
}

#[test]
fn l6_rudp_send_takes_the_original_fin_answer() {
    let run = clean_rudp_to_original();
    check_rudp_send_takes_the_original_fin_answer(run, run.end());
}

/// SPEC §7 says only that the ack of the original receiver's ACK|FIN is not END+1: try 0.
#[test]
fn l6_rudp_send_takes_a_fin_answer_with_ack_0() {
    let run =
        through_wire(Pair::RudpToOriginal, &small_text(), forward_all(), &[], &["--fin-answer-ack", "0"]);
    check_rudp_send_takes_the_original_fin_answer(&run, 0);
}

/// The original receiver's two frames reach `rudp send` together (it is stopped while they
/// arrive, so that it reads both at once). It must send the final ACK, and trace its first
/// transmission as such, not as a retransmission (SPEC §8: DUP marks a retransmitted frame).
#[test]
fn l6_rudp_send_answers_a_fin_answer_read_in_one_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    fs::write(&input, "hi\n").expect("write input");
    let socket = probe_socket();
    let port = socket.local_addr().unwrap().port();
    let mut send = start_rudp_send(dir.path(), port, &input, &["--profile", "reference"]);
    let pid = send.child.id().to_string();
    let signal = |name: &str| assert!(Command::new("kill").args([name, &pid]).status().unwrap().success());
    let (risn, conn) = (4321, 1);
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(5);
    let mut finals = Vec::new();
    let mut stopped = false;
    while Instant::now() < end && finals.is_empty() {
        let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
        let h = Header::parse(&buf[..n]).unwrap();
        let reply = |h: Header| socket.send_to(&h.emit(), from).unwrap();
        match h.flags {
            SYN => _ = reply(Header { seq: risn, ack: ISN + 1, conn, flags: ACK | SYN }),
            FIN => {
                // The first time, both frames wait in its socket until it runs again.
                let stop = !stopped;
                if stop {
                    signal("-STOP");
                    stopped = true;
                }
                let answer = Header { seq: risn + 1, ack: h.seq, conn, flags: ACK | FIN };
                reply(answer);
                reply(Header { flags: FIN, ..answer });
                if stop {
                    sleep(Duration::from_millis(100));
                    signal("-CONT");
                }
            }
            f if f == ACK | FIN => finals.push(h),
            _ => {
                let len = buf[HEADER_LEN..n].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1) as u32;
                reply(Header { seq: risn + 1, ack: h.seq + len, conn, flags: ACK });
            }
        }
    }
    let status = send.wait_until(Instant::now() + Duration::from_secs(5));
    let log = send.log();
    assert!(status.is_some_and(|s| s.success()), "rudp send failed\n{log}");
    assert_eq!(finals.len(), 1, "no final ACK\n{log}");
    let first = log.lines().find(|l| l.starts_with(&finals[0].trace("SEND")));
    assert_eq!(first, Some(finals[0].trace("SEND").as_str()), "the final ACK's first transmission\n{log}");
}

/// The original sender's final frames are ACK|FIN (padded: checked by the l1 test);
/// `rudp recv` closes on the first one, without waiting for its idle timeout, while the
/// original sender lingers about 2 s.
#[test]
fn l7_rudp_recv_closes_on_the_original_final_ack_fin() {
    let run = clean_original_to_rudp();
    run.assert_success();
    let all = run.all();
    let (end, risn, conn) = (run.end(), run.risn(), run.conn());
    let final_ack = Header { seq: end + 1, ack: risn + 2, conn, flags: ACK | FIN };
    let sent = run.sent(Dir::ToServer);
    let first_final =
        sent.iter().find(|d| d.header() == final_ack).unwrap_or_else(|| panic!("no final ACK\n{all}"));
    assert!(run.receiver_lines().contains(&final_ack.trace("RECV").as_str()), "{all}");
    let closed_after = run.receiver.exited_at.saturating_sub(first_final.at);
    assert!(
        closed_after < Duration::from_millis(1000),
        "rudp recv closed {closed_after:?} after the final ACK\n{all}"
    );
    let linger = run.sender.exited_at.saturating_sub(first_final.at);
    assert!(
        (Duration::from_millis(1700)..Duration::from_millis(3000)).contains(&linger),
        "the original sender exited {linger:?} after its final ACK (about 2 s expected)\n{all}"
    );
}

/// After its FIN is answered, the original sender answers every frame with ACK|FIN for
/// about 2 s, then exits: the wire repeats the FIN|ACK 0.5 s and 1.2 s later.
#[test]
fn l7_original_sender_answers_with_ack_fin_for_about_2_s() {
    let delays = vec![Duration::from_millis(500), Duration::from_millis(1200)];
    let policy: Policy = Box::new(move |dir, _, bytes| match Header::parse(bytes) {
        Some(h) if dir == Dir::ToClient && h.flags == ACK | FIN => Action::Repeat(delays.clone()),
        _ => Action::Forward,
    });
    let run = through_wire(Pair::OriginalToRudp, &text(100, 9), policy, &[], &[]);
    run.assert_success();
    let all = run.all();
    let fin_ack = run.wire.iter().find(|d| d.dir == Dir::ToClient && d.header().flags == ACK | FIN).unwrap();
    let repeats: Vec<Duration> =
        run.wire.iter().filter(|d| d.injected).map(|d| d.at.saturating_sub(fin_ack.at)).collect();
    let finals: Vec<Duration> = run
        .sent(Dir::ToServer)
        .iter()
        .filter(|d| d.header().flags == ACK | FIN)
        .map(|d| d.at.saturating_sub(fin_ack.at))
        .collect();
    assert_eq!(repeats.len(), 2, "{repeats:?}\n{all}");
    let linger = run.sender.exited_at.saturating_sub(fin_ack.at);
    assert!(
        (Duration::from_millis(1700)..Duration::from_millis(2700)).contains(&linger),
        "the original sender exited {linger:?} after the FIN's answer, about 2 s expected\n{all}"
    );
    assert_eq!(finals.len(), 3, "one final ACK|FIN, then one for each repeat within 2 s: {finals:?}\n{all}");
    assert!(finals[0] < Duration::from_millis(200), "{finals:?}\n{all}");
    assert!(finals[1].abs_diff(Duration::from_millis(500)) < Duration::from_millis(200), "{finals:?}\n{all}");
    assert!(
        finals[2].abs_diff(Duration::from_millis(1200)) < Duration::from_millis(200),
        "{finals:?}\n{all}"
    );
}

/// `rudp send`'s final ACK|FIN ends the original receiver at once, not after its 2 s wait.
#[test]
fn l7_original_receiver_closes_on_the_rudp_final_ack() {
    let run = clean_rudp_to_original();
    run.assert_success();
    let all = run.all();
    let final_ack = run.sent(Dir::ToServer).into_iter().find(|d| d.header().flags == ACK | FIN);
    let final_ack = final_ack.unwrap_or_else(|| panic!("no final ACK\n{all}"));
    let closed_after = run.receiver.exited_at.saturating_sub(final_ack.at);
    assert!(closed_after < Duration::from_millis(1000), "closed {closed_after:?} after the final ACK\n{all}");
    assert!(run.receiver.log.contains("final ACK received"), "{all}");
}

/// The original receiver crashes (the stand-in: exit 3) on a FIN with the ACK flag, and
/// answers nothing; the same FIN alone is answered.
#[test]
fn l8_original_receiver_crashes_on_a_fin_with_ack() {
    for (flags, crash) in [(FIN, false), (ACK | FIN, true)] {
        let (_dir, mut server, socket, port, _) = probe_original_receiver(&[]);
        let wait = Duration::from_millis(200);
        let got = exchange(&socket, port, &reference_syn(), wait);
        let Header { seq: risn, conn, .. } = got[0];
        let data = Header { seq: ISN + 1, ack: 0, conn, flags: ACK }.padded(b"hi", FRAME_LEN);
        assert_eq!(exchange(&socket, port, &data, wait).len(), 1, "{}", server.tail());
        let fin = Header { seq: ISN + 3, ack: risn + 1, conn, flags }.padded(&[], FRAME_LEN);
        let answer = exchange(&socket, port, &fin, wait);
        let status = server.wait_until(Instant::now() + Duration::from_millis(500));
        if crash {
            assert_eq!(answer, [], "{}", server.tail());
            assert_eq!(status.and_then(|s| s.code()), Some(3), "{}", server.tail());
        } else {
            assert_eq!(answer.len(), 2, "{}", server.tail());
            assert!(status.is_none(), "the original receiver exited on a FIN alone\n{}", server.tail());
        }
        server.kill();
    }
}

/// Drops the first `n` SYNs the sender sends.
fn drop_first_syns(n: usize) -> Policy {
    let mut dropped = 0;
    Box::new(move |dir, _, bytes| match Header::parse(bytes) {
        Some(h) if dir == Dir::ToServer && h.flags == SYN && dropped < n => {
            dropped += 1;
            Action::Drop
        }
        _ => Action::Forward,
    })
}

/// The intervals between the sender's SYNs.
fn syn_intervals(run: &Run) -> Vec<Duration> {
    let at: Vec<Duration> =
        run.sent(Dir::ToServer).iter().filter(|d| d.header().flags == SYN).map(|d| d.at).collect();
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

/// The original sender retransmits on a fixed 0.5 s timer: no back-off.
#[test]
fn l9_original_sender_retransmits_every_half_second() {
    let run = through_wire(Pair::OriginalToRudp, &text(100, 10), drop_first_syns(3), &[], &[]);
    run.assert_success();
    let intervals = syn_intervals(&run);
    assert_eq!(intervals.len(), 3, "{intervals:?}\n{}", run.all());
    for interval in &intervals {
        let ok = (Duration::from_millis(450)..Duration::from_millis(750)).contains(interval);
        assert!(ok, "SYN intervals {intervals:?}: 0.5 s each expected\n{}", run.all());
    }
}

/// Timers in the reference profile are as in the native one (SPEC §6, §7): the first RTO is
/// 500 ms, and it backs off.
#[test]
fn l9_rudp_send_reference_timer_starts_at_500_ms_and_backs_off() {
    let run = through_wire(Pair::RudpToOriginal, &text(100, 11), drop_first_syns(2), &[], &[]);
    run.assert_success();
    let intervals = syn_intervals(&run);
    let all = run.all();
    assert_eq!(intervals.len(), 2, "{intervals:?}\n{all}");
    assert!(
        (Duration::from_millis(450)..Duration::from_millis(750)).contains(&intervals[0]),
        "first RTO {:?}, 500 ms expected\n{all}",
        intervals[0]
    );
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(1500)).contains(&intervals[1]),
        "second RTO {:?}, 1 s expected (back-off)\n{all}",
        intervals[1]
    );
}

/// SPEC §8: a trace line is `SEND|RECV <seq> <ack> <conn> [ACK] [SYN] [FIN] [DUP]` or
/// `DROP <seq> <ack> <conn> [ACK] [SYN] [FIN]` (or `DROP <error>`), without trailing spaces.
fn is_trace_line(line: &str) -> bool {
    let words: Vec<&str> = line.split(' ').collect();
    let Some((&kind, rest)) = words.split_first() else { return false };
    if !matches!(kind, "SEND" | "RECV" | "DROP") {
        return false;
    }
    if rest.len() < 3 || !rest[..3].iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())) {
        return kind == "DROP" && !rest.is_empty() && !line.ends_with(' ');
    }
    let mut order = ["ACK", "SYN", "FIN", "DUP"].iter();
    rest[3..].iter().all(|w| order.any(|o| o == w)) && !(kind == "DROP" && rest.contains(&"DUP"))
}

/// Every trace line of both sides follows SPEC §8, and each side's SEND lines are, in
/// order, the headers of the datagrams it put on the wire.
fn check_trace_lines(run: &Run) {
    let all = run.all();
    for (log, dir) in [(&run.sender.log, Dir::ToServer), (&run.receiver.log, Dir::ToClient)] {
        let mut sends = Vec::new();
        for line in log.lines() {
            if line.starts_with("reference_peer ") || line.starts_with("rudp") {
                continue; // notes, not trace lines
            }
            assert!(is_trace_line(line), "not a SPEC §8 trace line: `{line}`\n{all}");
            if let Some(rest) = line.strip_prefix("SEND ") {
                sends.push(rest.strip_suffix(" DUP").unwrap_or(rest).to_string());
            }
        }
        let wire: Vec<String> = run.sent(dir).iter().map(|d| d.header().trace("")[1..].to_string()).collect();
        assert_eq!(sends, wire, "SEND lines and the wire differ\n{all}");
    }
}

#[test]
fn trace_lines_original_sender_to_rudp_recv() {
    let run = clean_original_to_rudp();
    run.assert_success();
    check_trace_lines(run);
}

#[test]
fn trace_lines_rudp_send_to_original_receiver() {
    let run = clean_rudp_to_original();
    run.assert_success();
    check_trace_lines(run);
}

#[test]
fn trace_line_grammar() {
    for good in ["SEND 42 0 0 SYN", "RECV 1 2 3 ACK FIN DUP", "DROP 1 2 3", "DROP truncated", "SEND 0 0 9"] {
        assert!(is_trace_line(good), "{good}");
    }
    for bad in
        ["SEND 42 0 0 SYN ", "SEND 42 0 0 SYN ACK", "DROP 1 2 3 DUP", "RECV 1 2", "SEND 1 2 3 FOO", "X 1 2 3"]
    {
        assert!(!is_trace_line(bad), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------
// Lossy runs through `rudp relay` (loss, duplicates, reordering, delay), both directions.
// ---------------------------------------------------------------------------------------

/// Starts `rudp relay` forwarding to 127.0.0.1:`port`; returns it and the port it listens on.
fn start_relay(dir: &Path, port: u16, seed: u64) -> (Proc, u16) {
    let mut command = Command::new(RUDP);
    command
        .args(["relay", "--listen", "127.0.0.1:0", "--to", &format!("127.0.0.1:{port}")])
        .args(["--loss", "10%", "--dup", "10%", "--reorder", "10%", "--delay", "1ms", "--jitter", "2ms"])
        .args(["--seed", &seed.to_string()]);
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let mut relay = Proc::spawn("rudp relay", &mut command, dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = relay.log();
        if let Some(rest) = log.lines().find_map(|l| l.strip_prefix("rudp relay: listening on ")) {
            let addr = rest.split(',').next().unwrap();
            let addr: std::net::SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"));
            return (relay, addr.port());
        }
        assert!(relay.is_running() && Instant::now() < deadline, "the relay did not start\n{}", relay.tail());
        sleep(Duration::from_millis(10));
    }
}

/// Stops the relay (SIGTERM) and checks that it did impair the traffic: something was
/// dropped, duplicated and reordered.
fn stop_relay(mut relay: Proc) {
    let pid = relay.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("run kill").success());
    let _ = relay.wait_until(Instant::now() + Duration::from_secs(10));
    let log = relay.log();
    let mut totals = std::collections::HashMap::<String, u64>::new();
    for line in log.lines() {
        let Some(rest) = line
            .strip_prefix("rudp relay: client->server: ")
            .or(line.strip_prefix("rudp relay: server->client: "))
        else {
            continue;
        };
        for part in rest.split(", ") {
            let (n, what) = part.split_once(' ').unwrap();
            *totals.entry(what.to_string()).or_default() += n.parse::<u64>().unwrap();
        }
    }
    for what in ["dropped", "duplicated", "reordered"] {
        assert!(totals.get(what).is_some_and(|&n| n > 0), "the relay {what} nothing\n{log}");
    }
}

#[test]
fn lossy_original_sender_to_rudp_recv_through_relay() {
    let data = text(20_000, 12);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let out = dir.path().join("out.txt");
    fs::write(&input, &data).expect("write input");
    let port = free_port();
    let mut recv = start_rudp_recv(dir.path(), port, &out, &["--idle-timeout", "4s"]);
    let (relay, relay_port) = start_relay(dir.path(), port, 3);
    let mut client = start_original_sender_with::<&str>(dir.path(), relay_port, &input, &[]);
    let deadline = Instant::now() + LOSSY_LIMIT;
    let client_status = expect_exit(&mut client, deadline, &[&recv, &relay]);
    let recv_status = expect_exit(&mut recv, deadline, &[&client, &relay]);
    let all = logs(&[&client, &recv, &relay]);
    assert!(client_status.success(), "the original sender failed\n{all}");
    assert!(recv_status.success(), "rudp recv failed\n{all}");
    assert!(fs::read(&out).unwrap() == data, "output differs\n{all}");
    stop_relay(relay);
}

#[test]
fn lossy_rudp_send_to_original_receiver_through_relay() {
    let data = text(100_000, 13);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let out = dir.path().join("out.txt");
    fs::write(&input, &data).expect("write input");
    let port = free_port();
    let mut server = start_original_receiver(dir.path(), port, &out, None);
    let (relay, relay_port) = start_relay(dir.path(), port, 4);
    let mut send = start_rudp_send(dir.path(), relay_port, &input, &["--profile", "reference"]);
    let deadline = Instant::now() + LOSSY_LIMIT;
    let send_status = expect_exit(&mut send, deadline, &[&server, &relay]);
    let server_status = expect_exit(&mut server, deadline, &[&send, &relay]);
    let all = logs(&[&send, &server, &relay]);
    assert!(send_status.success(), "rudp send failed\n{all}");
    assert!(server_status.success(), "the original receiver failed\n{all}");
    assert!(fs::read(&out).unwrap() == data, "output differs\n{all}");
    stop_relay(relay);
}
