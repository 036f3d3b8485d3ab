//! End-to-end tests of resume (SPEC §10.5) between `rudp send` and `rudp serve` or `rudp recv
//! -o FILE`: real processes, real UDP sockets on 127.0.0.1, a sender or a receiver killed
//! mid-transfer.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// `rudp serve` on `port` (0: a fresh one) into `dir`, with a short idle timeout so that a
/// vanished sender's transfer ends (and is kept) quickly.
fn start_server(dir: &Path, port: u16) -> (Child, u16) {
    let port = if port == 0 { free_port() } else { port };
    let port_s = port.to_string();
    let child =
        rudp(&["serve", &port_s, dir.to_str().unwrap(), "--bind", "127.0.0.1", "--idle-timeout", "1s"])
            .spawn()
            .unwrap();
    wait_bound(port);
    (child, port)
}

fn send(port: u16, file: &Path, extra: &[&str]) -> Child {
    let port = port.to_string();
    let mut args = vec!["send", "127.0.0.1", port.as_str(), file.to_str().unwrap()];
    args.extend(extra);
    rudp(&args).spawn().unwrap()
}

/// The resume point a sender's summary line reports, if it resumed.
fn resumed_from(out: &Output) -> Option<u64> {
    let text = stderr(out);
    let at = text.find("resumed from ")?;
    text[at + "resumed from ".len()..].split(' ').next()?.parse().ok()
}

/// The kept data's record in `dir`, if any: its `durable` count.
fn kept_durable(dir: &Path) -> Option<u64> {
    let partial = dir.join(".rudp-partial");
    fs::read_dir(partial).ok()?.flatten().find_map(|e| {
        let text =
            fs::read_to_string(e.path()).ok().filter(|_| e.path().extension().is_some_and(|x| x == "rec"))?;
        text.lines().find_map(|l| l.strip_prefix("durable ")?.parse().ok())
    })
}

/// Taken by the tests that run a 40 MiB transfer at window 1 (slow enough for a receiver to
/// be killed mid-way): two at once on a 2-core machine starve each other's busy-polling
/// processes past the tests' deadline, so they take turns.
static SLOW_TRANSFER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until `check` holds (at most 20 s).
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A file of `len` bytes in `dir`.
fn input(dir: &Path, name: &str, seed: u64, len: usize) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, random_bytes(seed, len)).unwrap();
    path
}

/// Starts a slow transfer of `file` (window 1, through a relay adding 10 ms each way), kills
/// the sender (SIGKILL) mid-transfer, and waits until the server's transfer has timed out (1 s)
/// and kept what it had: while it runs, another endpoint's transfer of the same object is
/// refused as busy (SPEC §10.4).
fn kill_sender_mid_transfer(port: u16, file: &Path) {
    let (relay, relay_port) = start_relay(port, &["--delay", "10ms"]);
    let mut sender = send(relay_port, file, &["--window", "1", "-q"]);
    thread::sleep(Duration::from_millis(1500));
    sender.kill().unwrap();
    sender.wait().unwrap();
    stop(relay);
    thread::sleep(Duration::from_millis(1500));
}

#[test]
fn a_sender_killed_mid_transfer_resumes_on_the_next_send() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let file = input(work.path(), "big.bin", 1, 2 << 20);
    let (server, port) = start_server(&dir, 0);
    kill_sender_mid_transfer(port, &file);
    // The server's transfer times out (1 s) and keeps what is durable.
    wait_for("the kept data", || kept_durable(&dir).is_some_and(|d| d > 0));
    let held = kept_durable(&dir).unwrap();
    let out = finish(send(port, &file, &[]));
    assert_success("send", &out);
    let from = resumed_from(&out).expect("resumed");
    assert!(from > 0 && from <= held && from.is_multiple_of(512), "resumed from {from}, {held} held");
    assert!(fs::read(&file).unwrap() == fs::read(dir.join("big.bin")).unwrap(), "the file differs");
    // Committed: nothing kept any more.
    assert_eq!(kept_durable(&dir), None);
    stop(server);
}

#[test]
fn a_server_killed_mid_transfer_and_restarted_is_resumed_by_a_retrying_sender() {
    let _turn = SLOW_TRANSFER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let file = input(work.path(), "big.bin", 2, 40 << 20);
    let (mut server, port) = start_server(&dir, 0);
    // Slow enough to be killed mid-way: window 1 (a relay would not take the retries, which
    // come from new ports).
    let sender = send(port, &file, &["--window", "1", "--idle-timeout", "1s", "--retries", "5"]);
    // Once the server has synced some of it (about once a second), it dies: SIGKILL.
    wait_for("a first sync", || kept_durable(&dir).is_some_and(|d| d > 0));
    server.kill().unwrap();
    server.wait().unwrap();
    let held = kept_durable(&dir).unwrap();
    let (server, _) = start_server(&dir, port);
    let out = finish(sender);
    assert_success("send", &out);
    let from = resumed_from(&out).unwrap_or_else(|| panic!("not resumed: {}", stderr(&out)));
    assert!(from > 0 && from <= held, "resumed from {from}, {held} durable");
    assert!(fs::read(&file).unwrap() == fs::read(dir.join("big.bin")).unwrap(), "the file differs");
    stop(server);
}

#[test]
fn altered_kept_data_is_caught_by_the_digest_and_the_next_try_starts_from_0() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let file = input(work.path(), "big.bin", 3, 2 << 20);
    let (server, port) = start_server(&dir, 0);
    kill_sender_mid_transfer(port, &file);
    wait_for("the kept data", || kept_durable(&dir).is_some_and(|d| d > 1024));
    // Damage one byte of what the server holds.
    let part = fs::read_dir(dir.join(".rudp-partial"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "part"))
        .unwrap();
    let mut held = fs::read(&part).unwrap();
    held[100] ^= 0xff;
    fs::write(&part, &held).unwrap();
    let out = finish(send(port, &file, &[]));
    assert!(!out.status.success(), "a resume over damaged data succeeded");
    assert!(stderr(&out).contains("rejected"), "{}", stderr(&out));
    assert!(!dir.join("big.bin").exists(), "a wrong object was committed");
    // The damaged data was discarded: the next try starts from 0 and succeeds.
    assert_eq!(kept_durable(&dir), None);
    let out = finish(send(port, &file, &[]));
    assert_success("send", &out);
    assert_eq!(resumed_from(&out), None);
    assert!(fs::read(&file).unwrap() == fs::read(dir.join("big.bin")).unwrap());
    stop(server);
}

#[test]
fn another_file_under_the_same_name_starts_from_0() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let first = input(work.path(), "big.bin", 4, 2 << 20);
    let (server, port) = start_server(&dir, 0);
    kill_sender_mid_transfer(port, &first);
    wait_for("the kept data", || kept_durable(&dir).is_some_and(|d| d > 0));
    let other_dir = work.path().join("other");
    fs::create_dir(&other_dir).unwrap();
    let other = input(&other_dir, "big.bin", 5, 1 << 20);
    let out = finish(send(port, &other, &[]));
    assert_success("send", &out);
    assert_eq!(resumed_from(&out), None, "{}", stderr(&out));
    assert!(fs::read(&other).unwrap() == fs::read(dir.join("big.bin")).unwrap());
    stop(server);
}

#[test]
fn a_resume_through_a_lossy_relay_arrives_byte_identical() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let file = input(work.path(), "big.bin", 6, 2 << 20);
    let (server, port) = start_server(&dir, 0);
    kill_sender_mid_transfer(port, &file);
    wait_for("the kept data", || kept_durable(&dir).is_some_and(|d| d > 0));
    let (relay, relay_port) = start_relay(
        port,
        &["--loss", "10%", "--dup", "5%", "--reorder", "5%", "--delay", "1ms", "--seed", "7"],
    );
    let out = finish(send(relay_port, &file, &[]));
    stop(relay);
    assert_success("send", &out);
    assert!(resumed_from(&out).is_some_and(|from| from > 0), "{}", stderr(&out));
    assert!(fs::read(&file).unwrap() == fs::read(dir.join("big.bin")).unwrap());
    stop(server);
}

/// `rudp recv -o out` on `port` (0: a fresh one), with a short idle timeout so that a vanished
/// sender's transfer ends (and is kept) quickly.
fn start_recv(out: &Path, port: u16) -> (Child, u16) {
    let port = if port == 0 { free_port() } else { port };
    let port_s = port.to_string();
    let args = ["recv", &port_s, "-o", out.to_str().unwrap(), "--bind", "127.0.0.1", "--idle-timeout", "1s"];
    let child = rudp(&args).spawn().unwrap();
    wait_bound(port);
    (child, port)
}

/// The files `rudp recv -o out` keeps for resume beside `out`: its data and its record.
fn kept_beside(out: &Path) -> (PathBuf, PathBuf) {
    let name = out.file_name().unwrap().to_str().unwrap();
    let dir = out.parent().unwrap();
    (dir.join(format!(".{name}.rudp.part")), dir.join(format!(".{name}.rudp.rec")))
}

/// The `durable` count of the record kept beside `out`, if any.
fn durable_beside(out: &Path) -> Option<u64> {
    let text = fs::read_to_string(kept_beside(out).1).ok()?;
    text.lines().find_map(|l| l.strip_prefix("durable ")?.parse().ok())
}

/// Sends `file` slowly to a `rudp recv` on `port` (window 1, through a relay adding 10 ms each
/// way), kills the sender (SIGKILL) mid-transfer, and returns what the receiver said when its
/// transfer timed out (1 s).
fn kill_sender_into_recv(recv: Child, port: u16, file: &Path) -> Output {
    let (relay, relay_port) = start_relay(port, &["--delay", "10ms"]);
    let mut sender = send(relay_port, file, &["--window", "1", "-q"]);
    thread::sleep(Duration::from_millis(1500));
    sender.kill().unwrap();
    sender.wait().unwrap();
    let out = finish(recv);
    stop(relay);
    out
}

#[test]
fn recv_keeps_a_vanished_senders_data_and_the_next_run_resumes_it() {
    let work = tempfile::tempdir().unwrap();
    let file = input(work.path(), "big.bin", 7, 2 << 20);
    let out_path = work.path().join("out.bin");
    let (recv, port) = start_recv(&out_path, 0);
    let first = kill_sender_into_recv(recv, port, &file);
    assert!(!first.status.success());
    assert!(stderr(&first).contains("kept for resume"), "{}", stderr(&first));
    assert!(!out_path.exists(), "a partial file was presented as complete");
    let held = durable_beside(&out_path).expect("a record beside the output");
    assert!(held > 0);
    // The same command again, and the sender again: it resumes.
    let (recv, port) = start_recv(&out_path, port);
    let sent = finish(send(port, &file, &[]));
    let received = finish(recv);
    assert_success("send", &sent);
    assert_success("recv", &received);
    let from = resumed_from(&sent).unwrap_or_else(|| panic!("not resumed: {}", stderr(&sent)));
    assert!(from > 0 && from <= held && from.is_multiple_of(512), "resumed from {from}, {held} held");
    assert!(stderr(&received).contains(&format!("resumed from {from} bytes")), "{}", stderr(&received));
    assert!(fs::read(&file).unwrap() == fs::read(&out_path).unwrap(), "the file differs");
    let (data, record) = kept_beside(&out_path);
    assert!(!data.exists() && !record.exists(), "the kept data outlived its commit");
}

#[test]
fn recv_killed_mid_transfer_and_restarted_is_resumed_by_a_retrying_sender() {
    let _turn = SLOW_TRANSFER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = tempfile::tempdir().unwrap();
    let file = input(work.path(), "big.bin", 8, 40 << 20);
    let out_path = work.path().join("out.bin");
    let (mut recv, port) = start_recv(&out_path, 0);
    let sender = send(port, &file, &["--window", "1", "--idle-timeout", "1s", "--retries", "5"]);
    // Once the receiver has synced some of it (about once a second), it dies: SIGKILL.
    wait_for("a first sync", || durable_beside(&out_path).is_some_and(|d| d > 0));
    recv.kill().unwrap();
    recv.wait().unwrap();
    let held = durable_beside(&out_path).unwrap();
    assert!(!out_path.exists());
    let (recv, _) = start_recv(&out_path, port);
    let sent = finish(sender);
    let received = finish(recv);
    assert_success("send", &sent);
    assert_success("recv", &received);
    let from = resumed_from(&sent).unwrap_or_else(|| panic!("not resumed: {}", stderr(&sent)));
    assert!(from > 0 && from <= held, "resumed from {from}, {held} durable");
    assert!(fs::read(&file).unwrap() == fs::read(&out_path).unwrap(), "the file differs");
}

#[test]
fn altered_data_beside_recvs_output_is_rejected_and_the_next_run_starts_from_0() {
    let work = tempfile::tempdir().unwrap();
    let file = input(work.path(), "big.bin", 9, 2 << 20);
    let out_path = work.path().join("out.bin");
    let (recv, port) = start_recv(&out_path, 0);
    kill_sender_into_recv(recv, port, &file);
    assert!(durable_beside(&out_path).is_some_and(|d| d > 1024));
    let (data, record) = kept_beside(&out_path);
    let mut held = fs::read(&data).unwrap();
    held[100] ^= 0xff;
    fs::write(&data, &held).unwrap();
    let (recv, port) = start_recv(&out_path, port);
    let sent = finish(send(port, &file, &[]));
    let received = finish(recv);
    assert!(!sent.status.success() && !received.status.success(), "a resume over damaged data succeeded");
    assert!(stderr(&received).contains("digest mismatch"), "{}", stderr(&received));
    assert!(!out_path.exists(), "a wrong object was committed");
    assert!(!data.exists() && !record.exists(), "the damaged data was kept");
    let (recv, port) = start_recv(&out_path, port);
    let sent = finish(send(port, &file, &[]));
    assert_success("recv", &finish(recv));
    assert_success("send", &sent);
    assert_eq!(resumed_from(&sent), None);
    assert!(fs::read(&file).unwrap() == fs::read(&out_path).unwrap());
}

#[test]
fn another_object_for_recvs_output_starts_from_0_and_replaces_the_kept_data() {
    let work = tempfile::tempdir().unwrap();
    let first = input(work.path(), "first.bin", 10, 2 << 20);
    let other = input(work.path(), "other.bin", 11, 1 << 20);
    let out_path = work.path().join("out.bin");
    let (recv, port) = start_recv(&out_path, 0);
    kill_sender_into_recv(recv, port, &first);
    assert!(durable_beside(&out_path).is_some());
    let (recv, port) = start_recv(&out_path, port);
    let sent = finish(send(port, &other, &[]));
    assert_success("recv", &finish(recv));
    assert_success("send", &sent);
    assert_eq!(resumed_from(&sent), None, "{}", stderr(&sent));
    assert!(fs::read(&other).unwrap() == fs::read(&out_path).unwrap());
    let (data, record) = kept_beside(&out_path);
    assert!(!data.exists() && !record.exists());
}

#[test]
fn a_second_recv_into_the_same_output_is_refused_while_the_first_runs() {
    let work = tempfile::tempdir().unwrap();
    let out_path = work.path().join("out.bin");
    let (first, _) = start_recv(&out_path, 0);
    let port = free_port().to_string();
    let second = finish(
        rudp(&["recv", &port, "-o", out_path.to_str().unwrap(), "--bind", "127.0.0.1"]).spawn().unwrap(),
    );
    assert!(!second.status.success());
    assert!(stderr(&second).contains("another rudp recv is receiving into"), "{}", stderr(&second));
    signal(&first, "INT");
    let first = finish(first);
    assert!(stderr(&first).contains("interrupted after 0 bytes"), "{}", stderr(&first));
    // The first run leaves nothing behind: it received nothing.
    let (data, record) = kept_beside(&out_path);
    assert!(!data.exists() && !record.exists() && !out_path.exists());
    assert_eq!(fs::read_dir(work.path()).unwrap().count(), 0, "leftovers");
}
