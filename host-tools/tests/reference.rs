//! Interoperability of the `reference` profile (SPEC §7) with the original Python tools.
//!
//! We do not have the original `client.py` / `server.py`; `tests/reference_peer.py` is a
//! faithful stand-in for them (strict wherever SPEC §7 says the originals are strict). Every
//! test runs the real `rudp` binary and the Python peer as real processes on 127.0.0.1, with
//! real stdin / stdout redirection, a hard time limit, and the children killed on the way out.
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

/// Starts the stand-in for the original `server.py PORT > out`, and waits until it listens.
fn start_original_receiver(dir: &Path, port: u16, out: &Path, loss: Option<(f64, u64)>) -> Proc {
    let mut command = Command::new(python3());
    command.arg(peer_script()).args(["server", &port.to_string(), "-v", "--max-time", PEER_MAX_SECS]);
    if let Some((loss, seed)) = loss {
        command.args(["--loss", &loss.to_string(), "--seed", &seed.to_string()]);
    }
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
    let mut command = Command::new(python3());
    command.arg(peer_script()).args([
        "client",
        "127.0.0.1",
        &port.to_string(),
        "-v",
        "--max-time",
        PEER_MAX_SECS,
    ]);
    if let Some((loss, seed)) = loss {
        command.args(["--loss", &loss.to_string(), "--seed", &seed.to_string()]);
    }
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
    let mut data = text(500, 5);
    data.extend_from_slice(&[0; 12]);
    data.extend_from_slice(&text(1000, 6));
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
