//! `rudp relay` end to end: the real binary between a client socket and an echo server, all on
//! 127.0.0.1. Every wait has a deadline, and a relay left running by a failed test is killed.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const RUDP: &str = env!("CARGO_BIN_EXE_rudp");
/// The longest any single step may take before the test fails.
/// Generous, since CI machines are shared: it only bounds how long a failing test takes.
const DEADLINE: Duration = Duration::from_secs(30);

/// A running `rudp relay`.
struct Relay {
    child: Option<Child>,
    /// Where clients send to (read from the start-up line).
    addr: SocketAddr,
    seed: u64,
    stderr: mpsc::Receiver<String>,
}

impl Relay {
    /// Starts a relay on 127.0.0.1 (a free port) forwarding to `to`, with `extra` options.
    fn start(to: SocketAddr, extra: &[&str]) -> Relay {
        let mut child = Command::new(RUDP)
            .args(["relay", "--listen", "127.0.0.1:0", "--to", &to.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rudp relay");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut relay = Relay { child: Some(child), addr: "0.0.0.0:0".parse().unwrap(), seed: 0, stderr: rx };
        let first = relay.stderr.recv_timeout(DEADLINE).expect("relay start-up line");
        let rest = first
            .strip_prefix("rudp relay: listening on ")
            .unwrap_or_else(|| panic!("start-up line: {first}"));
        let (addr, rest) = rest.split_once(", forwarding to ").expect(&first);
        let (forward, seed) = rest.split_once(", seed ").expect(&first);
        assert_eq!(forward, to.to_string());
        relay.addr = addr.parse().expect(&first);
        relay.seed = seed.parse().expect(&first);
        relay
    }

    /// Sends SIGTERM, waits for the exit and returns its status and the rest of stderr.
    fn stop(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        let killed =
            Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("run kill");
        assert!(killed.success());
        let status = wait_with_deadline(&mut child);
        let mut lines = Vec::new();
        // The reader thread ends at end of file, which comes with the exit.
        while let Ok(line) = self.stderr.recv_timeout(DEADLINE) {
            lines.push(line);
        }
        (status, lines)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for rudp") {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rudp did not exit within {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// An echo server on 127.0.0.1 that records what it receives.
struct Echo {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Echo {
    fn start() -> Echo {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let (seen, stop) = (seen.clone(), stop.clone());
            move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok((len, from)) = socket.recv_from(&mut buf) {
                        seen.lock().unwrap().push(buf[..len].to_vec());
                        let _ = socket.send_to(&buf[..len], from);
                    }
                }
            }
        });
        Echo { addr, seen, stop, thread: Some(thread) }
    }

    fn seen(&self) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A client socket on 127.0.0.1 whose reads give up after `timeout`.
fn client(timeout: Duration) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket
}

fn payload(i: u32) -> Vec<u8> {
    format!("datagram {i:04}").into_bytes()
}

fn index(data: &[u8]) -> u32 {
    std::str::from_utf8(data).unwrap().strip_prefix("datagram ").unwrap().parse().unwrap()
}

/// Receives one datagram, or None when the socket's timeout passes.
fn recv(socket: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    match socket.recv(&mut buf) {
        Ok(len) => Some(buf[..len].to_vec()),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => None,
        Err(e) => panic!("recv: {e}"),
    }
}

/// Receives until `count` datagrams came or `DEADLINE` passed.
fn recv_n(socket: &UdpSocket, count: usize) -> Vec<Vec<u8>> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < count && start.elapsed() < DEADLINE {
        got.extend(recv(socket));
    }
    got
}

/// One direction's counters from the relay's final lines: "received" -> 200, and so on.
fn counters(lines: &[String], direction: &str) -> HashMap<String, u64> {
    let prefix = format!("rudp relay: {direction}: ");
    let line = lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {direction} line in {lines:#?}"));
    line.split(", ")
        .map(|part| {
            let (n, what) = part.split_once(' ').unwrap();
            (what.to_string(), n.parse().unwrap())
        })
        .collect()
}

fn check_counts(lines: &[String], direction: &str, expected: &[(&str, u64)]) {
    let counts = counters(lines, direction);
    for &(what, n) in expected {
        assert_eq!(counts.get(what), Some(&n), "{direction} {what} in {lines:#?}");
    }
}

#[test]
fn forwards_everything_in_order_without_impairment() {
    let echo = Echo::start();
    let relay = Relay::start(echo.addr, &[]);
    let socket = client(DEADLINE);
    let (total, window) = (200u32, 16u32);
    let mut sent = 0;
    let mut got = Vec::new();
    while got.len() < total as usize {
        while sent < total && sent - (got.len() as u32) < window {
            socket.send_to(&payload(sent), relay.addr).unwrap();
            sent += 1;
        }
        let data = recv(&socket).unwrap_or_else(|| panic!("timed out after {} echoes", got.len()));
        got.push(index(&data));
    }
    assert_eq!(got, (0..total).collect::<Vec<_>>());
    let (status, lines) = relay.stop();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    let all = [("received", 200), ("dropped", 0), ("duplicated", 0), ("reordered", 0), ("forwarded", 200)];
    check_counts(&lines, "client->server", &all);
    check_counts(&lines, "server->client", &all);
    let client_addr = socket.local_addr().unwrap();
    let expected = format!("rudp relay: client {client_addr}, 0 datagrams from other sources dropped");
    assert!(lines.contains(&expected), "{lines:#?}");
}

#[test]
fn drops_datagrams_from_other_sources() {
    let echo = Echo::start();
    let relay = Relay::start(echo.addr, &[]);
    let first = client(DEADLINE);
    first.send_to(b"datagram 0001", relay.addr).unwrap();
    assert_eq!(recv(&first).as_deref(), Some(&b"datagram 0001"[..]));
    let other = client(Duration::from_millis(200));
    for _ in 0..3 {
        other.send_to(b"datagram 0002", relay.addr).unwrap();
    }
    assert_eq!(recv(&other), None);
    // The first client is still served.
    first.send_to(b"datagram 0003", relay.addr).unwrap();
    assert_eq!(recv(&first).as_deref(), Some(&b"datagram 0003"[..]));
    let (status, lines) = relay.stop();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    assert_eq!(echo.seen(), vec![b"datagram 0001".to_vec(), b"datagram 0003".to_vec()]);
    let expected =
        format!("rudp relay: client {}, 3 datagrams from other sources dropped", first.local_addr().unwrap());
    assert!(lines.contains(&expected), "{lines:#?}");
}

#[test]
fn follow_client_makes_a_new_source_the_client() {
    let echo = Echo::start();
    let relay = Relay::start(echo.addr, &["--follow-client"]);
    let first = client(Duration::from_millis(200));
    first.send_to(b"datagram 0001", relay.addr).unwrap();
    assert_eq!(recv(&first).as_deref(), Some(&b"datagram 0001"[..]));
    // A sender that starts again from a new port: served, and the replies go to it.
    let second = client(DEADLINE);
    second.send_to(b"datagram 0002", relay.addr).unwrap();
    assert_eq!(recv(&second).as_deref(), Some(&b"datagram 0002"[..]));
    assert_eq!(recv(&first), None, "a reply went to the old client");
    let (status, lines) = relay.stop();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    assert_eq!(echo.seen(), vec![b"datagram 0001".to_vec(), b"datagram 0002".to_vec()]);
    let expected = format!("rudp relay: client {}, 1 changes of client", second.local_addr().unwrap());
    assert!(lines.contains(&expected), "{lines:#?}");
}

#[test]
fn full_loss_delivers_nothing() {
    let echo = Echo::start();
    let relay = Relay::start(echo.addr, &["--loss", "100%"]);
    let socket = client(Duration::from_millis(300));
    for i in 0..20 {
        socket.send_to(&payload(i), relay.addr).unwrap();
    }
    assert_eq!(recv(&socket), None);
    let (status, lines) = relay.stop();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    assert!(echo.seen().is_empty());
    check_counts(&lines, "client->server", &[("received", 20), ("dropped", 20), ("forwarded", 0)]);
    check_counts(&lines, "server->client", &[("received", 0), ("forwarded", 0)]);
}

/// Sends 300 datagrams one at a time through a relay with 30% loss and `seed`, each waiting
/// for its echo or a short timeout; returns the datagrams that came back.
fn lossy_run(seed: u64) -> BTreeSet<u32> {
    let echo = Echo::start();
    let seed = seed.to_string();
    let relay = Relay::start(echo.addr, &["--loss", "0.3", "--seed", &seed]);
    assert_eq!(relay.seed.to_string(), seed);
    let socket = client(Duration::from_millis(15));
    let mut delivered = BTreeSet::new();
    for i in 0..300 {
        socket.send_to(&payload(i), relay.addr).unwrap();
        // A late echo of an earlier datagram still counts: the set must not depend on timing.
        while let Some(data) = recv(&socket) {
            let got = index(&data);
            delivered.insert(got);
            if got == i {
                break;
            }
        }
    }
    // The last echoes may be late on a loaded machine: wait longer for the stragglers.
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    while let Some(data) = recv(&socket) {
        delivered.insert(index(&data));
    }
    let (status, lines) = relay.stop();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    let up = counters(&lines, "client->server");
    let down = counters(&lines, "server->client");
    assert_eq!(up["received"], 300);
    assert_eq!(up["received"], up["dropped"] + up["forwarded"]);
    assert_eq!(down["received"], up["forwarded"]);
    assert_eq!(down["forwarded"], delivered.len() as u64);
    delivered
}

#[test]
fn loss_is_reproducible_with_a_seed() {
    // Three independent relays at once, to keep the test short.
    let (a, b, c) = thread::scope(|s| {
        let a = s.spawn(|| lossy_run(7));
        let b = s.spawn(|| lossy_run(7));
        let c = s.spawn(|| lossy_run(8));
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
    });
    assert_eq!(a, b, "same seed, same traffic: same datagrams delivered");
    // Each round trip survives with probability 0.7 * 0.7 = 0.49.
    assert!((75..=225).contains(&a.len()), "{} of 300 delivered", a.len());
    assert_ne!(a, c, "another seed makes other decisions");
}

#[test]
fn dup_sends_every_datagram_twice() {
    let echo = Echo::start();
    let relay = Relay::start(echo.addr, &["--dup", "1.0"]);
    let socket = client(Duration::from_millis(100));
    for i in 0..10 {
        socket.send_to(&payload(i), relay.addr).unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    // Each datagram twice at the server, and each of its echoes twice on the way back.
    let got = recv_n(&socket, 40);
    assert_eq!(got.len(), 40);
    let (status, lines) = relay.stop();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    let mut seen = echo.seen();
    seen.sort();
    let expected: Vec<Vec<u8>> = (0..10).flat_map(|i| [payload(i), payload(i)]).collect();
    assert_eq!(seen, expected);
    check_counts(&lines, "client->server", &[("received", 10), ("duplicated", 10), ("forwarded", 20)]);
    check_counts(&lines, "server->client", &[("received", 20), ("duplicated", 20), ("forwarded", 40)]);
}

#[test]
fn delay_applies_each_way() {
    let echo = Echo::start();
    let relay = Relay::start(echo.addr, &["--delay", "50ms"]);
    let socket = client(DEADLINE);
    for i in 0..3 {
        let start = Instant::now();
        socket.send_to(&payload(i), relay.addr).unwrap();
        assert_eq!(recv(&socket), Some(payload(i)));
        let rtt = start.elapsed();
        assert!(rtt >= Duration::from_millis(100), "round trip {rtt:?}");
        assert!(rtt < Duration::from_secs(5), "round trip {rtt:?}");
    }
    let (status, lines) = relay.stop();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
}

#[test]
fn reorder_lets_later_datagrams_overtake() {
    let echo = Echo::start();
    let relay = Relay::start(echo.addr, &["--reorder", "50%", "--seed", "1"]);
    let socket = client(Duration::from_millis(100));
    for i in 0..40 {
        socket.send_to(&payload(i), relay.addr).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    let got: Vec<u32> = recv_n(&socket, 40).iter().map(|d| index(d)).collect();
    let (status, lines) = relay.stop();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, (0..40).collect::<Vec<_>>(), "nothing lost");
    assert_ne!(got, sorted, "some datagrams overtaken");
    assert!(counters(&lines, "client->server")["reordered"] > 0);
}

#[test]
fn usage_errors_exit_2() {
    for bad in [["--loss", "2"], ["--dup", "-0.5"], ["--delay", "5"], ["--seed", "x"]] {
        let output = Command::new(RUDP)
            .args(["relay", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9"])
            .args(bad)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn address_in_use_exits_1() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut child = Command::new(RUDP)
        .args(["relay", "--listen", &addr, "--to", "127.0.0.1:9"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_with_deadline(&mut child);
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with(&format!("rudp: error: cannot listen on {addr}")), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
