//! End-to-end tests of `rudp serve` and of the refusals and abandons between `rudp send` and
//! `rudp recv` (SPEC §10.4): real processes, real UDP sockets on 127.0.0.1.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// Starts `rudp serve` on a fresh port into `dir`.
fn start_server(dir: &Path, extra: &[&str]) -> (Child, u16) {
    start_server_with(dir, extra, |_| {})
}

/// Starts `rudp serve`, letting `prepare` change the command first.
fn start_server_with(dir: &Path, extra: &[&str], prepare: impl FnOnce(&mut Command)) -> (Child, u16) {
    let port = free_port();
    let port_s = port.to_string();
    let mut args = vec!["serve", port_s.as_str(), dir.to_str().unwrap(), "--bind", "127.0.0.1"];
    args.extend(extra);
    let mut cmd = rudp(&args);
    prepare(&mut cmd);
    let child = cmd.spawn().unwrap();
    wait_bound(port);
    (child, port)
}

fn send(port: u16, file: &Path, extra: &[&str]) -> Child {
    let port = port.to_string();
    let mut args = vec!["send", "127.0.0.1", port.as_str(), file.to_str().unwrap(), "-q"];
    args.extend(extra);
    rudp(&args).spawn().unwrap()
}

/// A slow sender: `size` bytes at window 1 through a relay that delays every datagram by
/// 10 ms (about 25 KB/s), named `name`. Returns it, its relay and its input file.
fn slow_sender(port: u16, work: &Path, name: &str, size: usize) -> (Child, Child, PathBuf) {
    let (relay, relay_port) = start_relay(port, &["--delay", "10ms"]);
    let input = work.join(format!("slow-{}", name.replace('/', "_")));
    fs::write(&input, random_bytes(99, size)).unwrap();
    let sender = send(relay_port, &input, &["--window", "1", "--name", name]);
    (sender, relay, input)
}

/// A sender reading `data` from a pipe (no size announced).
fn piped_sender(port: u16, data: Vec<u8>, extra: &[&str]) -> Child {
    let port = port.to_string();
    let mut args = vec!["send", "127.0.0.1", port.as_str(), "-", "-q"];
    args.extend(extra);
    let mut cmd = rudp(&args);
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    child
}

/// Files under `dir`, relative, sorted (the temporary directory included, with its files).
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Stops the server with SIGINT; it must exit 0 and leave no temporary file.
fn stop_server(server: Child, dir: &Path) -> Output {
    signal(&server, "INT");
    let out = finish(server);
    assert_success("serve", &out);
    // Only data kept for resume (a `.part` with its `.rec`) may remain.
    let partial = dir.join(".rudp-partial");
    let left: Vec<_> =
        fs::read_dir(&partial).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    for path in &left {
        let kept = path.with_extension("rec").exists() && path.with_extension("part").exists();
        assert!(kept, "temporary files left: {left:?}");
    }
    out
}

#[test]
fn eight_senders_at_once_arrive_byte_identical() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let (server, port) = start_server(&dir, &["--log-json"]);
    let sizes = [0usize, 1, 511, 512, 513, 100_000, 3 << 20, 20 << 20];
    let mut inputs = Vec::new();
    let mut senders = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let input = work.path().join(format!("f{i}.bin"));
        fs::write(&input, random_bytes(i as u64, size)).unwrap();
        // Half of them into subdirectories, by name.
        let name = if i % 2 == 0 { format!("f{i}.bin") } else { format!("sub{i}/deeper/f{i}.bin") };
        senders.push(send(port, &input, &["--name", &name]));
        inputs.push((input, name));
    }
    for (sender, (_, name)) in senders.into_iter().zip(&inputs) {
        assert_success(name, &finish(sender));
    }
    let out = stop_server(server, &dir);
    for (input, name) in &inputs {
        assert!(fs::read(input).unwrap() == fs::read(dir.join(name)).unwrap(), "{name} differs");
    }
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.lines().filter(|l| l.ends_with(" verified ok")).count(), 8, "{log}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(json.lines().filter(|l| l.contains("\"outcome\":\"ok\"")).count(), 8, "{json}");
    assert!(json.contains(&format!("\"name\":\"sub7/deeper/f7.bin\",\"bytes\":{}", 20 << 20)), "{json}");
}

#[test]
fn a_transfer_without_a_name_gets_one_that_its_log_line_shows() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let (server, port) = start_server(&dir, &[]);
    assert_success("send", &finish(piped_sender(port, vec![7; 4099], &[])));
    let out = stop_server(server, &dir);
    let names = files_under(&dir);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("unnamed-"), "{names:?}");
    assert_eq!(fs::read(dir.join(&names[0])).unwrap().len(), 4099);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{:?}", names[0])));
}

#[test]
fn a_full_pool_is_refused_within_a_second_and_the_first_transfer_goes_on() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let (server, port) = start_server(&dir, &["--max-transfers", "1"]);
    let (first, relay, first_input) = slow_sender(port, work.path(), "first.bin", 48 << 10);
    thread::sleep(Duration::from_millis(500));
    let input = work.path().join("second.bin");
    fs::write(&input, b"second").unwrap();
    let started = Instant::now();
    let second = finish(send(port, &input, &[]));
    let took = started.elapsed();
    assert!(!second.status.success());
    assert!(stderr(&second).contains("receiver busy, try again later"), "{}", stderr(&second));
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert_success("first", &finish(first));
    stop(relay);
    let out = stop_server(server, &dir);
    assert!(fs::read(dir.join("first.bin")).unwrap() == fs::read(first_input).unwrap());
    assert!(!dir.join("second.bin").exists());
    assert!(stderr(&out).contains("\"second.bin\" 0 B"), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused: busy"), "{}", stderr(&out));
}

#[test]
fn hostile_names_are_refused_and_nothing_is_written_outside_the_directory() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    let outside = work.path().join("outside");
    fs::create_dir(&dir).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(dir.join("exists.bin"), b"old").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("target"), dir.join("dangling")).unwrap();
    }
    let (server, port) = start_server(&dir, &[]);
    let input = work.path().join("x.bin");
    fs::write(&input, b"payload").unwrap();
    let mut hostile = vec![
        "../escape.bin".to_string(),
        "a/../../escape.bin".into(),
        "/tmp/escape.bin".into(),
        "a//b".into(),
        ".".into(),
        "a/./b".into(),
        "a\\b".into(),
        "line\nbreak".into(),
        "bell\u{7}".into(),
        "c1\u{85}control".into(),
        ".rudp-partial/x".into(),
        "dir/".into(),
        "exists.bin".into(),
    ];
    if cfg!(unix) {
        hostile.extend(["link/escape.bin".into(), "link".into(), "dangling".into()]);
    }
    for name in &hostile {
        let out = finish(send(port, &input, &["--name", name]));
        assert!(!out.status.success(), "{name:?} was taken");
        assert!(stderr(&out).contains("refused: name not accepted"), "{name:?}: {}", stderr(&out));
    }
    let out = stop_server(server, &dir);
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "something was written outside");
    assert!(!work.path().join("escape.bin").exists() && !Path::new("/tmp/escape.bin").exists());
    assert_eq!(fs::read(dir.join("exists.bin")).unwrap(), b"old");
    let mut expected = vec!["exists.bin".to_string()];
    if cfg!(unix) {
        expected.extend(["dangling".to_string(), "link".to_string()]);
    }
    expected.sort();
    assert_eq!(files_under(&dir), expected);
    let log = stderr(&out);
    assert_eq!(
        log.lines().filter(|l| l.contains("refused: name not accepted")).count(),
        hostile.len(),
        "{log}"
    );
}

#[test]
fn overwrite_replaces_an_existing_file() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("f.bin"), b"old").unwrap();
    let (server, port) = start_server(&dir, &["--overwrite"]);
    let input = work.path().join("f.bin");
    fs::write(&input, b"new contents").unwrap();
    assert_success("send", &finish(send(port, &input, &[])));
    stop_server(server, &dir);
    assert_eq!(fs::read(dir.join("f.bin")).unwrap(), b"new contents");
}

#[test]
fn max_size_refuses_before_any_data_or_when_the_data_passes_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let (server, port) = start_server(&dir, &["--max-size", "10000"]);
    let big = work.path().join("big.bin");
    fs::write(&big, random_bytes(1, 10_001)).unwrap();
    let small = work.path().join("small.bin");
    fs::write(&small, random_bytes(2, 10_000)).unwrap();
    let out = finish(send(port, &big, &[]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("refused: too large"), "{}", stderr(&out));
    assert_success("small", &finish(send(port, &small, &[])));
    // Standard input announces no size: refused once the data passes the limit.
    let out = finish(piped_sender(port, vec![1; 20_000], &["--name", "piped.bin"]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("refused: too large"), "{}", stderr(&out));
    stop_server(server, &dir);
    assert_eq!(files_under(&dir), vec!["small.bin".to_string()]);
}

/// Limits the files the command may write to `bytes` (RLIMIT_FSIZE), with SIGXFSZ ignored so
/// that a write past it fails (EFBIG) instead of killing the process: a full disk, as far as
/// the process can tell.
#[cfg(target_os = "linux")]
fn file_size_limit(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls: setrlimit and signal.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_refuses_with_reason_4_and_leaves_no_temporary_file() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let (server, port) = start_server_with(&dir, &[], |cmd| file_size_limit(cmd, 200_000));
    let input = work.path().join("big.bin");
    fs::write(&input, random_bytes(3, 2 << 20)).unwrap();
    let started = Instant::now();
    let out = finish(send(port, &input, &[]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("refused: receiver cannot write"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    // A file that fits still goes through.
    let small = work.path().join("small.bin");
    fs::write(&small, random_bytes(4, 50_000)).unwrap();
    assert_success("small", &finish(send(port, &small, &[])));
    let out = stop_server(server, &dir);
    assert_eq!(files_under(&dir), vec!["small.bin".to_string()]);
    assert!(
        stderr(&out).contains("\"big.bin\"") && stderr(&out).contains("failed: writing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sigint_drains_running_transfers_refuses_new_ones_then_stops() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let (server, port) = start_server(&dir, &["--drain", "4s"]);
    let (finishing, relay1, finishing_input) = slow_sender(port, work.path(), "finishing.bin", 16 << 10);
    let (stuck, relay2, _) = slow_sender(port, work.path(), "stuck.bin", 1 << 20);
    thread::sleep(Duration::from_millis(300));
    signal(&server, "INT");
    thread::sleep(Duration::from_millis(200));
    // A new sender is refused: busy.
    let input = work.path().join("late.bin");
    fs::write(&input, b"late").unwrap();
    let late = finish(send(port, &input, &[]));
    assert!(stderr(&late).contains("receiver busy, try again later"), "{}", stderr(&late));
    // A running one finishes within the drain.
    assert_success("finishing", &finish(finishing));
    // The stuck one is cancelled at the drain's end, and told so at once.
    let started = Instant::now();
    let stuck = finish(stuck);
    assert!(stderr(&stuck).contains("cancelled by the receiver"), "{}", stderr(&stuck));
    assert!(started.elapsed() < Duration::from_secs(5));
    let out = finish(server);
    assert_success("serve", &out);
    stop(relay1);
    stop(relay2);
    // The cancelled one's data is kept for resume, beside the finished file.
    let files = files_under(&dir);
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files[2], "finishing.bin");
    assert!(files[0].starts_with(".rudp-partial/") && files[1].ends_with(".rec"), "{files:?}");
    assert!(fs::read(dir.join("finishing.bin")).unwrap() == fs::read(finishing_input).unwrap());
    assert!(stderr(&out).contains("failed: the server stopped"), "{}", stderr(&out));
}

#[test]
fn a_second_signal_stops_at_once() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let (server, port) = start_server(&dir, &["--drain", "60s"]);
    let (stuck, relay, _) = slow_sender(port, work.path(), "stuck.bin", 1 << 20);
    thread::sleep(Duration::from_millis(300));
    signal(&server, "TERM");
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    signal(&server, "INT");
    let out = finish(server);
    assert_success("serve", &out);
    assert!(started.elapsed() < Duration::from_secs(2));
    let stuck = finish(stuck);
    stop(relay);
    assert!(stderr(&stuck).contains("cancelled by the receiver"), "{}", stderr(&stuck));
    // Nothing in place; the cancelled transfer's data is kept for resume (SPEC §10.5).
    let files = files_under(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| f.starts_with(".rudp-partial/")), "{files:?}");
    assert!(files[0].ends_with(".part") && files[1].ends_with(".rec"), "{files:?}");
}

#[test]
fn junk_and_forged_frames_flooding_the_port_change_nothing() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("in");
    fs::create_dir(&dir).unwrap();
    let (server, port) = start_server(&dir, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood(port, stop.clone());
    thread::sleep(Duration::from_millis(100));
    let mut inputs = Vec::new();
    let mut senders = Vec::new();
    for i in 0..3 {
        let input = work.path().join(format!("f{i}.bin"));
        fs::write(&input, random_bytes(10 + i, 1 << 20)).unwrap();
        senders.push(send(port, &input, &[]));
        inputs.push(input);
    }
    for sender in senders {
        assert_success("send", &finish(sender));
    }
    stop.store(true, Ordering::SeqCst);
    assert!(flooder.join().unwrap() > 1000);
    stop_server(server, &dir);
    for input in &inputs {
        assert!(fs::read(input).unwrap() == fs::read(dir.join(input.file_name().unwrap())).unwrap());
    }
}

/// `rudp recv` into `output` on a fresh port.
fn start_receiver(output: &Path, prepare: impl FnOnce(&mut Command)) -> (Child, u16) {
    let port = free_port();
    let port_s = port.to_string();
    let mut cmd =
        rudp(&["recv", port_s.as_str(), "--bind", "127.0.0.1", "-o", output.to_str().unwrap(), "-q"]);
    prepare(&mut cmd);
    let child = cmd.spawn().unwrap();
    wait_bound(port);
    (child, port)
}

/// Waits for `child`'s exit and says how long after `since` it came.
fn exit_after(child: Child, since: Instant) -> (Output, Duration) {
    let out = finish(child);
    (out, since.elapsed())
}

#[test]
fn sigint_on_either_side_is_reported_by_the_other_within_a_second() {
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("out.bin");
    // The receiver is interrupted.
    let (receiver, port) = start_receiver(&output, |_| {});
    let (sender, relay, _) = slow_sender(port, work.path(), "a", 1 << 20);
    thread::sleep(Duration::from_millis(300));
    signal(&receiver, "INT");
    let now = Instant::now();
    let (out, took) = exit_after(sender, now);
    assert!(stderr(&out).contains("cancelled by the receiver"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(!finish(receiver).status.success());
    assert!(!output.exists());
    stop(relay);
    // The sender is interrupted.
    let (receiver, port) = start_receiver(&output, |_| {});
    let (sender, relay, _) = slow_sender(port, work.path(), "b", 1 << 20);
    thread::sleep(Duration::from_millis(300));
    signal(&sender, "INT");
    let now = Instant::now();
    let (out, took) = exit_after(receiver, now);
    assert!(stderr(&out).contains("the sender abandoned the transfer"), "{}", stderr(&out));
    assert!(stderr(&out).contains("it was cancelled"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(!finish(sender).status.success());
    assert!(!output.exists());
    stop(relay);
}

#[cfg(target_os = "linux")]
#[test]
fn a_receiver_that_cannot_write_is_reported_by_the_sender_within_a_second() {
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("out.bin");
    let input = work.path().join("in.bin");
    fs::write(&input, random_bytes(5, 4 << 20)).unwrap();
    let (receiver, port) = start_receiver(&output, |cmd| file_size_limit(cmd, 100_000));
    let sender = send(port, &input, &[]);
    let out = finish(receiver);
    let failed_at = Instant::now();
    assert!(!out.status.success());
    let (sent, took) = exit_after(sender, failed_at);
    assert!(stderr(&sent).contains("refused: receiver cannot write"), "{}", stderr(&sent));
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(!output.exists());
}

#[test]
fn a_source_that_shrinks_is_reported_by_the_receiver_within_a_second() {
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("out.bin");
    let input: PathBuf = work.path().join("in.bin");
    // A FIFO would announce no size: a regular file, truncated while it is read. Large
    // enough that the truncation comes mid-transfer on any machine: 200 MiB through a
    // window of 1.
    fs::File::create(&input).unwrap().set_len(200 << 20).unwrap();
    let (receiver, port) = start_receiver(&output, |_| {});
    // Without resume: the file is not hashed first (the truncation must come mid-send).
    let sender = send(port, &input, &["--window", "1", "--no-resume"]);
    thread::sleep(Duration::from_millis(300));
    fs::OpenOptions::new().write(true).open(&input).unwrap().set_len(1 << 20).unwrap();
    let out = finish(sender);
    let failed_at = Instant::now();
    assert!(stderr(&out).contains("ended before"), "{}", stderr(&out));
    let (received, took) = exit_after(receiver, failed_at);
    assert!(stderr(&received).contains("did not match the size it announced"), "{}", stderr(&received));
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(!output.exists());
}
