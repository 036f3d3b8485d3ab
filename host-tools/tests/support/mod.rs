//! Helpers shared by the end-to-end tests: real `rudp` processes, real UDP sockets on
//! 127.0.0.1.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::UdpSocket;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub const RUDP: &str = env!("CARGO_BIN_EXE_rudp");
/// No test process may run longer than this.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A UDP port that was free a moment ago.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn rudp(args: &[&str]) -> Command {
    let mut cmd = Command::new(RUDP);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Waits for `child` with a deadline, reading its stdout and stderr meanwhile (a child
/// blocked on a full pipe would never exit); kills it and fails the test if it overruns.
pub fn finish(mut child: Child) -> Output {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "process overran {DEADLINE:?}; stderr: {}",
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(what: &str, out: &Output) {
    assert!(out.status.success(), "{what} failed ({}): {}", out.status, stderr(out));
}

/// Waits until a UDP socket is bound to `port`. It reads the kernel's socket tables rather
/// than trying to bind the port itself: a probe that holds the port even for a moment can
/// make the receiver's own bind fail ("port in use"), which once happened here.
pub fn wait_bound(port: u16) {
    let needle = format!(":{port:04X} ");
    let bound = || {
        ["/proc/net/udp", "/proc/net/udp6"].iter().any(|table| {
            fs::read_to_string(table)
                .map(|text| {
                    text.lines().skip(1).any(|line| {
                        line.split_whitespace()
                            .nth(1)
                            .is_some_and(|local| format!("{local} ").ends_with(&needle))
                    })
                })
                .unwrap_or(false)
        })
    };
    let start = Instant::now();
    while !bound() {
        assert!(start.elapsed() < Duration::from_secs(10), "nothing bound port {port}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Pseudo-random bytes (SplitMix64), reproducible.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut random = rudp_nostd::random::SplitMix64::new(seed);
    (0..len).map(|_| random.next_u64() as u8).collect()
}

/// Fires junk at `port` from other sockets until `stop`: random bytes, forged frames with
/// every kind of connection id and random sequence numbers, and SYNs.
pub fn flood(port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let sockets: Vec<UdpSocket> = (0..3).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        let mut sent = 0u64;
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let junk = random_bytes(i, (i % 600) as usize);
            let mut forged = random_bytes(i ^ 0xf00d, 12 + (i % 513) as usize);
            let seq = ((i * 7919) % 204_800) as u32;
            forged[0..4].copy_from_slice(&seq.to_le_bytes());
            forged[4..8].copy_from_slice(&seq.to_le_bytes());
            forged[8..10].copy_from_slice(&((i % 65_536) as u16).to_le_bytes());
            let flags: u16 = [0, 4, 1, 2, 5][(i % 5) as usize];
            forged[10..12].copy_from_slice(&flags.to_le_bytes());
            let s = &sockets[(i % 3) as usize];
            for d in [&junk[..], &forged[..]] {
                if s.send_to(d, ("127.0.0.1", port)).is_ok() {
                    sent += 1;
                }
            }
            i += 1;
            if i.is_multiple_of(8) {
                thread::sleep(Duration::from_micros(200));
            }
        }
        sent
    })
}

/// Sends SIGINT (or another signal, by name: "TERM") to a process.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

pub fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts `rudp relay` in front of the server on `to`; returns it and the port it listens on.
pub fn start_relay(to: u16, extra: &[&str]) -> (Child, u16) {
    let to = format!("127.0.0.1:{to}");
    let mut args = vec!["relay", "--listen", "127.0.0.1:0", "--to", to.as_str()];
    args.extend(extra);
    let mut child = rudp(&args).spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let addr = line.strip_prefix("rudp relay: listening on ").and_then(|r| r.split(',').next());
    let port = addr.and_then(|a| a.rsplit(':').next()?.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    // Keep draining its stderr so that it never blocks on a full pipe.
    thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, port)
}
