//! End-to-end tests of the `rudp` binary: real processes, real UDP sockets on 127.0.0.1.

use std::fs;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// Starts `rudp recv` on a fresh port writing to `dest` (or stdout), after making sure the
/// port is bound (it waits for the receiver's socket before returning).
fn start_receiver(dest: Option<&Path>, extra: &[&str]) -> (Child, u16) {
    let port = free_port();
    let port_s = port.to_string();
    let mut args = vec!["recv", port_s.as_str(), "--bind", "127.0.0.1"];
    let dest_s;
    if let Some(dest) = dest {
        dest_s = dest.to_str().unwrap().to_owned();
        args.extend(["-o", dest_s.as_str()]);
    }
    args.extend(extra);
    let child = rudp(&args).spawn().unwrap();
    wait_bound(port);
    (child, port)
}

fn send_file(port: u16, file: &Path, extra: &[&str]) -> Output {
    let port = port.to_string();
    let mut args = vec!["send", "127.0.0.1", port.as_str(), file.to_str().unwrap()];
    args.extend(extra);
    finish(rudp(&args).spawn().unwrap())
}

/// Sends `data` as a file to a receiver writing `-o`, and checks the copy.
fn round_trip_file(data: &[u8]) {
    round_trip_file_with(data, &[], &[]);
}

/// [`round_trip_file`] with extra options for the receiver and the sender.
fn round_trip_file_with(data: &[u8], recv_extra: &[&str], send_extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let output = dir.path().join("out.bin");
    fs::write(&input, data).unwrap();
    let (receiver, port) = start_receiver(Some(&output), recv_extra);
    let sent = send_file(port, &input, send_extra);
    let received = finish(receiver);
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(fs::read(&output).unwrap() == data, "output differs for {} bytes", data.len());
    assert!(stderr(&sent).contains(&format!("sent {} bytes", data.len())), "{}", stderr(&sent));
    assert!(stderr(&received).contains(&format!("received {} bytes", data.len())), "{}", stderr(&received));
    assert_only_output_left(dir.path(), &["in.bin", "out.bin"]);
}

/// No temporary file or other leftover in `dir`.
fn assert_only_output_left(dir: &Path, expected: &[&str]) {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn transfers_files_of_edge_sizes_byte_for_byte() {
    for len in [0, 1, 511, 512, 513, 1024] {
        round_trip_file(&random_bytes(len as u64, len));
    }
}

#[test]
fn transfers_a_file_ending_in_zero_bytes() {
    let mut data = random_bytes(9, 3000);
    data.extend([0u8; 1500]);
    round_trip_file(&data);
}

#[test]
fn transfers_a_few_mib_of_random_data() {
    round_trip_file(&random_bytes(4, 3 * 1024 * 1024 + 17));
}

#[test]
fn transfers_with_blocking_waits_and_with_long_busy_polls() {
    for busy_poll in ["0us", "5ms"] {
        for window in ["1", "32"] {
            let data = random_bytes(5, 300 * 1024 + 3);
            round_trip_file_with(
                &data,
                &["--busy-poll", busy_poll],
                &["--busy-poll", busy_poll, "--window", window],
            );
        }
    }
}

#[test]
fn transfers_stdin_to_stdout() {
    let data = random_bytes(5, 200_000);
    let (receiver, port) = start_receiver(None, &["-q"]);
    // Read the receiver's stdout while the transfer runs.
    let receiver = thread::spawn(move || finish(receiver));
    let port = port.to_string();
    let mut sender = rudp(&["send", "127.0.0.1", &port, "-"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = sender.stdin.take().unwrap();
    let feed = data.clone();
    let writer = thread::spawn(move || stdin.write_all(&feed));
    let sent = finish(sender);
    writer.join().unwrap().unwrap();
    let received = receiver.join().unwrap();
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(received.stdout == data, "stdout differs ({} bytes vs {})", received.stdout.len(), data.len());
    // -q: nothing on stderr.
    assert_eq!(stderr(&received), "");
}

#[test]
fn verbose_prints_spec_trace_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    fs::write(&input, b"hello").unwrap();
    let (receiver, port) = start_receiver(Some(&dir.path().join("out.txt")), &["-v"]);
    let sent = send_file(port, &input, &["-v"]);
    let received = finish(receiver);
    assert_success("send", &sent);
    let lines = stderr(&sent);
    let first = lines.lines().next().unwrap();
    assert!(first.starts_with("SEND ") && first.ends_with(" 0 0 SYN"), "{first}");
    assert!(lines.lines().any(|l| l.starts_with("RECV ") && l.ends_with(" ACK SYN")), "{lines}");
    assert!(lines.lines().any(|l| l.starts_with("SEND ") && l.ends_with(" FIN")), "{lines}");
    assert!(lines.lines().all(|l| !l.ends_with(' ')), "trailing space in {lines}");
    let rlines = stderr(&received);
    assert!(rlines.lines().any(|l| l.starts_with("SEND ") && l.ends_with(" ACK FIN")), "{rlines}");
}

#[test]
fn junk_forged_frames_and_foreign_syns_change_nothing() {
    let data = random_bytes(6, 2 * 1024 * 1024);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let output = dir.path().join("out.bin");
    fs::write(&input, &data).unwrap();
    let (receiver, port) = start_receiver(Some(&output), &[]);
    // The flood starts before the transfer (SYNs from other ports fill the half-open table)
    // and goes on during it.
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood(port, stop.clone());
    thread::sleep(Duration::from_millis(100));
    let sent = send_file(port, &input, &[]);
    stop.store(true, Ordering::SeqCst);
    let junk_sent = flooder.join().unwrap();
    let received = finish(receiver);
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(fs::read(&output).unwrap() == data, "output differs");
    assert!(junk_sent > 1000, "only {junk_sent} junk datagrams");
    // The receiver saw and dropped the junk.
    let summary = stderr(&received);
    let dropped: u64 = summary
        .trim()
        .split(", ")
        .find_map(|p| p.strip_suffix(" datagrams dropped (not fitting the transfer)")?.parse().ok())
        .expect(&summary);
    assert!(dropped > 100, "{summary}");
}

#[test]
fn sender_fails_when_the_receiver_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    fs::write(&input, b"data").unwrap();
    // A socket that is bound (so no ICMP port unreachable comes back) but never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let start = Instant::now();
    let out = send_file(port, &input, &["--idle-timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("peer not answering: no reply from 127.0.0.1:{port} for 1s")), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[test]
fn sender_gives_up_at_once_when_nothing_listens() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    fs::write(&input, b"data").unwrap();
    let port = free_port();
    let start = Instant::now();
    // The default 10 s idle timeout: the ICMP port unreachable ends it long before.
    let out = send_file(port, &input, &[]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("nothing listens on 127.0.0.1:{port}")), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

/// Forwards UDP between the client that writes to `front_port` and `upstream`, from one
/// upstream socket throughout; while `outage` is set it closes its client-facing socket, so
/// that the client's datagrams meet ICMP port unreachable, then binds the same port again.
fn flaky_forwarder(
    upstream: u16,
    outage: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> (u16, thread::JoinHandle<u64>) {
    let bind = |port: u16| {
        let s = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    };
    let front = bind(0);
    let port = front.local_addr().unwrap().port();
    let back = UdpSocket::bind("127.0.0.1:0").unwrap();
    back.connect(("127.0.0.1", upstream)).unwrap();
    back.set_nonblocking(true).unwrap();
    let handle = thread::spawn(move || {
        let mut front = Some(front);
        let mut client = None;
        let mut forwarded = 0u64;
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::SeqCst) {
            match (&front, outage.load(Ordering::SeqCst)) {
                (Some(_), true) => front = None,
                (None, false) => front = Some(bind(port)),
                _ => {}
            }
            let mut idle = true;
            if let Some(f) = &front {
                while let Ok((n, from)) = f.recv_from(&mut buf) {
                    client = Some(from);
                    let _ = back.send(&buf[..n]);
                    forwarded += 1;
                    idle = false;
                }
            }
            while let Ok(n) = back.recv(&mut buf) {
                if let (Some(f), Some(c)) = (&front, client) {
                    let _ = f.send_to(&buf[..n], c);
                }
                idle = false;
            }
            if idle {
                thread::sleep(Duration::from_micros(200));
            }
        }
        forwarded
    });
    (port, handle)
}

#[test]
fn port_unreachable_during_a_transfer_is_a_soft_error() {
    let data = random_bytes(21, 200_000);
    let (receiver, port) = start_receiver(None, &["-q"]);
    let receiver = thread::spawn(move || finish(receiver));
    let outage = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (front, forwarder) = flaky_forwarder(port, outage.clone(), stop.clone());
    let front = front.to_string();
    let mut sender = rudp(&["send", "127.0.0.1", &front, "-"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = sender.stdin.take().unwrap();
    let (first, rest) = data.split_at(100_000);
    stdin.write_all(first).unwrap();
    thread::sleep(Duration::from_millis(200));
    // Connected: now the path goes away for a while, and the sender has data to send.
    outage.store(true, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(50));
    stdin.write_all(&rest[..50_000]).unwrap();
    thread::sleep(Duration::from_millis(700));
    outage.store(false, Ordering::SeqCst);
    stdin.write_all(&rest[50_000..]).unwrap();
    drop(stdin);
    let sent = finish(sender);
    let received = receiver.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    assert!(forwarder.join().unwrap() > 10);
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(received.stdout == data, "stdout differs");
}

#[test]
fn sender_fails_on_an_unknown_host() {
    let out = finish(rudp(&["send", "no-such-host.invalid", "9", "-"]).spawn().unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("host not found"), "{}", stderr(&out));
}

#[test]
fn sender_fails_on_a_missing_file() {
    let out = finish(rudp(&["send", "127.0.0.1", "9", "/nonexistent/file"]).spawn().unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("file not found: /nonexistent/file"), "{}", stderr(&out));
}

#[test]
fn receiver_fails_on_a_port_in_use() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = finish(rudp(&["recv", &port, "--bind", "127.0.0.1"]).spawn().unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("port {port} is in use")), "{}", stderr(&out));
}

#[test]
fn receiver_fails_on_an_unwritable_output() {
    let port = free_port().to_string();
    let out = finish(rudp(&["recv", &port, "-o", "/nonexistent/dir/out.bin"]).spawn().unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("output not writable"), "{}", stderr(&out));
}

#[test]
fn receiver_wait_gives_up_without_a_sender() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.bin");
    let port = free_port().to_string();
    let out = finish(
        rudp(&["recv", &port, "--bind", "127.0.0.1", "--wait", "300ms", "-o", output.to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no sender connected within 300ms"), "{}", stderr(&out));
    assert_only_output_left(dir.path(), &[]);
}

#[test]
fn a_sender_killed_mid_transfer_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.bin");
    let (receiver, port) = start_receiver(Some(&output), &["--idle-timeout", "1s"]);
    // A sender reading a pipe that never ends: it transfers what it gets, then we kill it.
    let port_s = port.to_string();
    let mut sender = rudp(&["send", "127.0.0.1", &port_s, "-"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = sender.stdin.take().unwrap();
    stdin.write_all(&random_bytes(7, 100_000)).unwrap();
    thread::sleep(Duration::from_millis(300));
    sender.kill().unwrap();
    let _ = sender.wait();
    let received = finish(receiver);
    assert_eq!(received.status.code(), Some(1), "{}", stderr(&received));
    let err = stderr(&received);
    assert!(
        err.contains("nothing from the sender for 1s after") && err.contains("the sender went away"),
        "{err}"
    );
    assert!(err.contains("was not written"), "{err}");
    assert_only_output_left(dir.path(), &[]);
    drop(stdin);
}

#[test]
fn keep_partial_keeps_and_names_the_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.bin");
    let (receiver, port) = start_receiver(Some(&output), &["--idle-timeout", "1s", "--keep-partial"]);
    let port_s = port.to_string();
    let mut sender = rudp(&["send", "127.0.0.1", &port_s, "-"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = sender.stdin.take().unwrap();
    stdin.write_all(&random_bytes(8, 50_000)).unwrap();
    thread::sleep(Duration::from_millis(300));
    sender.kill().unwrap();
    let _ = sender.wait();
    let received = finish(receiver);
    assert_eq!(received.status.code(), Some(1));
    let err = stderr(&received);
    let partial: PathBuf = err.split("the partial data is in ").nth(1).unwrap().trim().into();
    assert!(partial.exists(), "{err}");
    assert!(!output.exists());
    // Stop-and-wait writes before it acknowledges: the partial data is a prefix of the input.
    let mut kept = Vec::new();
    fs::File::open(&partial).unwrap().read_to_end(&mut kept).unwrap();
    assert!(random_bytes(8, 50_000).starts_with(&kept));
    drop(stdin);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["send"][..],
        &["send", "127.0.0.1", "0"],
        &["send", "127.0.0.1", "99999"],
        &["recv", "9000", "--idle-timeout", "5"],
        &["recv", "9000", "--min-rto", "3s", "--max-rto", "1s"],
        &["recv", "9000", "--profile", "tcp"],
        &["send", "127.0.0.1", "9000", "--busy-poll", "50"],
        &["bogus"],
    ] {
        let out: Output = finish(rudp(args).spawn().unwrap());
        let status: ExitStatus = out.status;
        assert_eq!(status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn help_mentions_the_reference_profile_is_text_only() {
    let out = finish(rudp(&["send", "--help"]).spawn().unwrap());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("TEXT ONLY"), "{help}");
}

/// Starts `rudp relay` on a free port in front of `to`; returns it and its listening port.
#[test]
fn transfers_through_a_lossy_relay_byte_for_byte() {
    let data = random_bytes(10, 300_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let output = dir.path().join("out.bin");
    fs::write(&input, &data).unwrap();
    let (receiver, port) = start_receiver(Some(&output), &["--idle-timeout", "30s"]);
    let (mut relay, relay_port) = start_relay(
        port,
        &[
            "--loss",
            "10%",
            "--dup",
            "5%",
            "--reorder",
            "5%",
            "--delay",
            "1ms",
            "--jitter",
            "1ms",
            "--seed",
            "42",
        ],
    );
    let sent = send_file(relay_port, &input, &["--idle-timeout", "30s"]);
    let received = finish(receiver);
    let _ = relay.kill();
    let _ = relay.wait();
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(fs::read(&output).unwrap() == data, "output differs");
    // The loss was real: the sender had to retransmit.
    let summary = stderr(&sent);
    let retransmitted: u64 = summary
        .trim()
        .split(", ")
        .find_map(|p| p.strip_suffix(" retransmitted")?.parse().ok())
        .expect(&summary);
    assert!(retransmitted > 10, "{summary}");
}

#[test]
fn a_dual_stack_receiver_takes_ipv6_and_ipv4_senders() {
    let data = random_bytes(11, 20_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    fs::write(&input, &data).unwrap();
    for host in ["::1", "[::1]", "127.0.0.1", "localhost"] {
        let output = dir.path().join("out.bin");
        // No --bind: every interface, IPv6 and IPv4 (the traffic itself stays on loopback).
        let port = free_port();
        let port_s = port.to_string();
        let receiver = rudp(&["recv", &port_s, "-o", output.to_str().unwrap()]).spawn().unwrap();
        wait_bound(port);
        let sent = finish(rudp(&["send", host, &port_s, input.to_str().unwrap()]).spawn().unwrap());
        let received = finish(receiver);
        assert_success(host, &sent);
        assert_success(host, &received);
        assert!(fs::read(&output).unwrap() == data, "{host}: output differs");
        fs::remove_file(&output).unwrap();
    }
}

#[test]
fn the_summary_says_whether_and_how_the_content_was_verified() {
    let data = random_bytes(12, 10_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    fs::write(&input, &data).unwrap();
    // A file's default is SHA-256 (it makes resume possible), standard input's CRC-32C.
    for (send_args, recv_args, expected) in [
        (&[][..], &[][..], "verified with SHA-256"),
        (&["--digest", "crc32c"][..], &[][..], "verified with CRC-32C"),
        (&["--digest", "none"][..], &[][..], "not verified (no digest agreed)"),
        (&[][..], &["--no-verify"][..], "not verified (no digest agreed)"),
    ] {
        let output = dir.path().join("out.bin");
        let (receiver, port) = start_receiver(Some(&output), recv_args);
        let sent = send_file(port, &input, send_args);
        let received = finish(receiver);
        assert_success("send", &sent);
        assert_success("recv", &received);
        assert!(fs::read(&output).unwrap() == data);
        for out in [&sent, &received] {
            assert!(stderr(out).contains(expected), "{send_args:?} {recv_args:?}: {}", stderr(out));
        }
        fs::remove_file(&output).unwrap();
    }
}

/// A relay in front of `port` that damages a payload byte of one datagram in five on the way
/// to the receiver. Its seed leaves the SYN (the first datagram) intact, so that a digest is
/// agreed, and damages data frames (the relay's summary counts them).
fn start_corrupting_relay(port: u16) -> (Child, u16) {
    start_relay(port, &["--corrupt", "20%", "--seed", "3"])
}

#[test]
fn a_wrong_digest_leaves_no_file_and_fails_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    fs::write(&input, random_bytes(13, 50_000)).unwrap();
    for digest in ["crc32c", "sha256"] {
        let output = dir.path().join("out.bin");
        let (receiver, port) = start_receiver(Some(&output), &[]);
        let (relay, relay_port) = start_corrupting_relay(port);
        let sent = send_file(relay_port, &input, &["--digest", digest]);
        let received = finish(receiver);
        stop(relay);
        assert_eq!(sent.status.code(), Some(1), "{}", stderr(&sent));
        assert!(stderr(&sent).contains("the receiver rejected the data"), "{}", stderr(&sent));
        assert_eq!(received.status.code(), Some(1), "{}", stderr(&received));
        let err = stderr(&received);
        assert!(err.contains("digest mismatch") && err.contains("was not written"), "{err}");
        assert_eq!(err.lines().filter(|l| l.contains("error")).count(), 1, "one line: {err}");
        assert_only_output_left(dir.path(), &["in.bin"]);
    }
}

#[test]
fn a_wrong_digest_to_stdout_says_the_data_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    fs::write(&input, random_bytes(14, 3000)).unwrap();
    let (receiver, port) = start_receiver(None, &[]);
    let (relay, relay_port) = start_corrupting_relay(port);
    let sent = send_file(relay_port, &input, &[]);
    let received = finish(receiver);
    stop(relay);
    assert_eq!(sent.status.code(), Some(1));
    assert_eq!(received.status.code(), Some(1));
    assert!(stderr(&received).contains("stdout is BAD"), "{}", stderr(&received));
}

#[test]
fn a_required_digest_that_is_refused_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let output = dir.path().join("out.bin");
    fs::write(&input, random_bytes(15, 3000)).unwrap();
    let (receiver, port) = start_receiver(Some(&output), &["--no-verify", "--wait", "2s"]);
    let sent = send_file(port, &input, &["--require-digest"]);
    let received = finish(receiver);
    assert_eq!(sent.status.code(), Some(1), "{}", stderr(&sent));
    assert!(stderr(&sent).contains("nothing was sent"), "{}", stderr(&sent));
    // The receiver never got a byte, and leaves no file.
    assert_eq!(received.status.code(), Some(1), "{}", stderr(&received));
    assert_only_output_left(dir.path(), &["in.bin"]);
}

#[test]
fn an_output_that_is_not_a_regular_file_is_written_in_place() {
    // A FIFO stands for /dev/null and its kind: renaming a temporary file over it would
    // replace the device itself (as `rudp recv -o /dev/null` once did).
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        thread::spawn(move || fs::read(fifo).unwrap())
    };
    let data = random_bytes(16, 20_000);
    let input = dir.path().join("in.bin");
    fs::write(&input, &data).unwrap();
    let (receiver, port) = start_receiver(Some(&fifo), &[]);
    let sent = send_file(port, &input, &[]);
    let received = finish(receiver);
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(reader.join().unwrap() == data);
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still a FIFO");
    assert_only_output_left(dir.path(), &["fifo", "in.bin"]);
}

#[test]
fn windows_are_negotiated_and_survive_a_lossy_relay() {
    let data = random_bytes(17, 400_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    fs::write(&input, &data).unwrap();
    for (send_args, recv_args, window) in [
        (&[][..], &[][..], "window 32 granted"),
        (&["--window", "1"][..], &[][..], "window 1 granted"),
        (&["--window", "64", "--congestion", "fixed"][..], &["--max-window", "8"][..], "window 8 granted"),
        (&["--profile", "reference"][..], &["--profile", "reference"][..], "window 1 granted"),
    ] {
        let output = dir.path().join("out.bin");
        let mut recv_args = recv_args.to_vec();
        // The receiver lingers up to its idle timeout when the final ACK is lost (5% here).
        recv_args.extend(["--idle-timeout", "5s"]);
        let (receiver, port) = start_receiver(Some(&output), &recv_args);
        let (mut relay, relay_port) =
            start_relay(port, &["--loss", "5%", "--dup", "2%", "--reorder", "5%", "--seed", "3"]);
        let mut send_args = send_args.to_vec();
        send_args.extend(["--idle-timeout", "30s"]);
        // Text for the reference profile, which cannot carry zero bytes at a block's end.
        let sent = if send_args.contains(&"reference") {
            let text: Vec<u8> = data.iter().map(|b| b'a' + b % 26).collect();
            fs::write(&input, &text).unwrap();
            send_file(relay_port, &input, &send_args)
        } else {
            fs::write(&input, &data).unwrap();
            send_file(relay_port, &input, &send_args)
        };
        let received = finish(receiver);
        let _ = relay.kill();
        let _ = relay.wait();
        assert_success("send", &sent);
        assert_success("recv", &received);
        assert!(fs::read(&output).unwrap() == fs::read(&input).unwrap(), "{send_args:?}: output differs");
        for out in [&sent, &received] {
            assert!(stderr(out).contains(window), "{send_args:?} {recv_args:?}: {}", stderr(out));
        }
        // The receiver's frames are its ACKs; only a windowed sender has a congestion window.
        assert!(stderr(&received).contains(" ACKs sent, "), "{}", stderr(&received));
        assert!(!stderr(&received).contains("congestion window"), "{}", stderr(&received));
        let average: Option<f64> = stderr(&sent)
            .split(", ")
            .find_map(|p| p.strip_prefix("congestion window ")?.strip_suffix(" on average")?.parse().ok());
        match window {
            "window 1 granted" => assert_eq!(average, None, "{}", stderr(&sent)),
            // `fixed` keeps the whole window.
            "window 8 granted" => assert_eq!(average, Some(8.0), "{}", stderr(&sent)),
            // `reno` halves it on loss (5% here): below the grant, at least 1.
            _ => assert!(average.is_some_and(|a| (1.0..32.0).contains(&a)), "{}", stderr(&sent)),
        }
        fs::remove_file(&output).unwrap();
    }
}

#[test]
fn help_shows_the_examples_one_per_line() {
    for flag in ["--help", "-h"] {
        let out = finish(rudp(&[flag]).spawn().unwrap());
        assert_success(flag, &out);
        let help = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = help.lines().map(str::trim).collect();
        assert!(lines.contains(&"rudp recv 9000 -o copy.bin"), "{flag}: {help}");
        assert!(lines.contains(&"rudp send receiver.example 9000 file.bin"), "{flag}: {help}");
        assert!(!help.contains("stop-and-wait with adaptive"), "{flag}: {help}");
    }
}

#[test]
fn a_usage_error_found_after_parsing_shows_the_subcommands_usage() {
    for (args, usage) in [
        (&["recv", "9000", "--min-rto", "3s", "--max-rto", "1s"][..], "Usage: rudp recv "),
        (
            &["send", "127.0.0.1", "9000", "--require-digest", "--profile", "reference"][..],
            "Usage: rudp send ",
        ),
    ] {
        let out = finish(rudp(args).spawn().unwrap());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(usage), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_directory_output_is_refused_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("existing");
    fs::create_dir(&existing).unwrap();
    let new_dir = format!("{}/newdir/", dir.path().display());
    for output in [existing.to_str().unwrap(), new_dir.as_str(), "."] {
        let port = free_port().to_string();
        let start = Instant::now();
        // Without the check it would listen for the whole --wait.
        let out = finish(
            rudp(&["recv", &port, "--bind", "127.0.0.1", "--wait", "20s", "-o", output]).spawn().unwrap(),
        );
        assert_eq!(out.status.code(), Some(1), "{output}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("names a directory"), "{output}: {err}");
        assert!(!err.contains("listening"), "{output}: {err}");
        assert!(start.elapsed() < Duration::from_secs(10), "{output}");
    }
    assert_only_output_left(dir.path(), &["existing"]);
    assert_only_output_left(&existing, &[]);
}

#[test]
fn a_fifo_without_a_reader_does_not_hold_up_listening_or_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Nobody reads the FIFO and nobody sends: --wait ends it.
    let port = free_port().to_string();
    let start = Instant::now();
    let out = finish(
        rudp(&["recv", &port, "--bind", "127.0.0.1", "--wait", "300ms", "-o", fifo.to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no sender connected within 300ms"), "{err}");
    assert!(!err.contains("incomplete"), "nothing was written: {err}");
    assert!(start.elapsed() < Duration::from_secs(10));

    // The receiver listens before the FIFO has a reader; the reader comes later.
    let data = random_bytes(18, 100_000);
    let input = dir.path().join("in.bin");
    fs::write(&input, &data).unwrap();
    let (receiver, port) = start_receiver(Some(&fifo), &[]);
    let reader = {
        let fifo = fifo.clone();
        thread::spawn(move || fs::read(fifo).unwrap())
    };
    let sent = send_file(port, &input, &[]);
    let received = finish(receiver);
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(reader.join().unwrap() == data);
    assert_only_output_left(dir.path(), &["fifo", "in.bin"]);
}

#[test]
fn output_dash_is_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let data = random_bytes(19, 30_000);
    fs::write(&input, &data).unwrap();
    let port = free_port();
    let port_s = port.to_string();
    let receiver =
        rudp(&["recv", &port_s, "--bind", "127.0.0.1", "-o", "-"]).current_dir(dir.path()).spawn().unwrap();
    let receiver = thread::spawn(move || finish(receiver));
    wait_bound(port);
    let sent = send_file(port, &input, &[]);
    let received = receiver.join().unwrap();
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(received.stdout == data, "stdout has {} bytes", received.stdout.len());
    assert_only_output_left(dir.path(), &["in.bin"]);
}

#[test]
fn a_250_character_output_name_works() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let data = random_bytes(20, 5_000);
    fs::write(&input, &data).unwrap();
    let name = "x".repeat(250);
    let output = dir.path().join(&name);
    let (receiver, port) = start_receiver(Some(&output), &[]);
    let sent = send_file(port, &input, &[]);
    let received = finish(receiver);
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert!(fs::read(&output).unwrap() == data);
    assert_only_output_left(dir.path(), &["in.bin", &name]);
}

#[test]
fn a_wait_that_ends_before_any_data_does_not_call_stdout_incomplete() {
    for wait in ["0s", "200ms"] {
        let port = free_port().to_string();
        let out = finish(rudp(&["recv", &port, "--bind", "127.0.0.1", "--wait", wait]).spawn().unwrap());
        assert_eq!(out.status.code(), Some(1), "{wait}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("no sender connected within"), "{wait}: {err}");
        assert!(!err.contains("stdout"), "{wait}: nothing was written, yet: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_commit_that_fails_is_no_success_for_the_sender() {
    // The output's name becomes a non-empty directory after the receiver started listening:
    // the rename at the commit fails. The FIN is answered only after the commit (SPEC §5), so
    // the sender must not report success.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let output = dir.path().join("out.bin");
    fs::write(&input, random_bytes(21, 5000)).unwrap();
    let (receiver, port) = start_receiver(Some(&output), &[]);
    fs::create_dir(&output).unwrap();
    fs::write(output.join("occupant"), b"x").unwrap();
    let sent = send_file(port, &input, &["--idle-timeout", "2s"]);
    let received = finish(receiver);
    assert_eq!(received.status.code(), Some(1), "recv: {}", stderr(&received));
    assert!(stderr(&received).contains("renaming"), "{}", stderr(&received));
    assert_eq!(sent.status.code(), Some(1), "send: {}", stderr(&sent));
    assert!(!stderr(&sent).contains("sent 5000 bytes"), "{}", stderr(&sent));
    // Only the occupant is there: no temporary file left beside the output either.
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

/// Sends a 100 KB file through a relay that delays each datagram by 300 ms, and calls
/// `change` on the file 150 ms after the sender started: after it took the file's size, before
/// it read anything (it reads only once the receiver answered). Returns both outcomes.
fn send_a_file_that_changes(change: impl FnOnce(&Path)) -> (Output, Output, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let output = dir.path().join("out.bin");
    fs::write(&input, random_bytes(22, 100_000)).unwrap();
    let (receiver, port) = start_receiver(Some(&output), &["--idle-timeout", "2s"]);
    let (mut relay, relay_port) = start_relay(port, &["--delay", "300ms"]);
    let port_s = relay_port.to_string();
    let sender = rudp(&["send", "127.0.0.1", &port_s, input.to_str().unwrap()]).spawn().unwrap();
    thread::sleep(Duration::from_millis(150));
    change(&input);
    let sent = finish(sender);
    let received = finish(receiver);
    let _ = relay.kill();
    let _ = relay.wait();
    (sent, received, output, dir)
}

#[test]
fn a_file_that_shrinks_while_it_is_sent_fails_both_sides() {
    let (sent, received, output, _dir) = send_a_file_that_changes(|input| {
        fs::File::options().write(true).open(input).unwrap().set_len(50_000).unwrap()
    });
    assert_eq!(sent.status.code(), Some(1), "send: {}", stderr(&sent));
    assert!(stderr(&sent).contains("ended before the 100000 bytes"), "{}", stderr(&sent));
    assert_eq!(received.status.code(), Some(1), "recv: {}", stderr(&received));
    assert!(!output.exists(), "a partial file presented as complete");
}

#[test]
fn a_file_that_grows_while_it_is_sent_fails_both_sides() {
    let (sent, received, output, _dir) = send_a_file_that_changes(|input| {
        fs::File::options().append(true).open(input).unwrap().write_all(b"more").unwrap()
    });
    assert_eq!(sent.status.code(), Some(1), "send: {}", stderr(&sent));
    assert!(stderr(&sent).contains("holds more than the 100000 bytes"), "{}", stderr(&sent));
    assert_eq!(received.status.code(), Some(1), "recv: {}", stderr(&received));
    assert!(!output.exists(), "a partial file presented as complete");
}

#[test]
fn a_file_whose_size_says_zero_is_sent_whole() {
    // Files in /proc say 0 bytes whatever they hold: no size is announced for them.
    let expected = fs::read("/proc/version").unwrap();
    assert!(!expected.is_empty());
    let (receiver, port) = start_receiver(None, &[]);
    let sent = send_file(port, Path::new("/proc/version"), &[]);
    let received = finish(receiver);
    assert_success("send", &sent);
    assert_success("recv", &received);
    assert_eq!(received.stdout, expected);
}
