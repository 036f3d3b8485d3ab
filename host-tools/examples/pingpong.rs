//! The stop-and-wait limit of a path: a raw UDP ping-pong with rudp's frame sizes (524 bytes
//! out, 12 back), one datagram in flight, as `rudp send` / `rudp recv` exchange them.
//!
//! ```sh
//! cargo run --release -p rudp-host-tools --example pingpong -- [ROUND_TRIPS] [BUSY_POLL_US]
//! ```
//!
//! Prints the mean round-trip time and the limit it implies for a stop-and-wait transfer of
//! 512-byte payloads: 512 bytes / RTT. The echo side runs in a second process (this program
//! re-executed with `--echo`), as `rudp recv` does. With `BUSY_POLL_US` above 0 both sides
//! wait as `rudp --busy-poll` does: they poll the socket for up to that many microseconds,
//! yielding between polls, before they block; that gives the limit to compare a polling
//! `rudp` with (the default, 0, blocks at once).

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FRAME: usize = 524;
const REPLY: usize = 12;
const PAYLOAD: f64 = 512.0;

/// Receives a datagram as `rudp` does: polls for up to `busy_poll`, then blocks (within the
/// socket's timeout).
fn receive(socket: &UdpSocket, buf: &mut [u8], busy_poll: Duration) -> std::io::Result<(usize, SocketAddr)> {
    if !busy_poll.is_zero() {
        socket.set_nonblocking(true)?;
        let start = Instant::now();
        let polled = loop {
            match socket.recv_from(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && start.elapsed() < busy_poll => {
                    std::thread::yield_now()
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break None,
                other => break Some(other),
            }
        };
        socket.set_nonblocking(false)?;
        if let Some(result) = polled {
            return result;
        }
    }
    socket.recv_from(buf)
}

fn echo(port_file: &str, busy_poll: Duration) -> std::io::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    std::fs::write(port_file, socket.local_addr()?.port().to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 2048];
    let reply = [0u8; REPLY];
    loop {
        let (n, from) = match receive(&socket, &mut buf, busy_poll) {
            Ok(r) => r,
            Err(_) => return Ok(()), // the client is gone
        };
        if n == 1 {
            return Ok(()); // the client's "stop"
        }
        socket.send_to(&reply, from)?;
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let micros = |arg: Option<&String>| Duration::from_micros(arg.and_then(|a| a.parse().ok()).unwrap_or(0));
    if args.get(1).map(String::as_str) == Some("--echo") {
        return echo(&args[2], micros(args.get(3)));
    }
    let round_trips: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let busy_poll = micros(args.get(2));
    let port_file = std::env::temp_dir().join(format!("rudp-pingpong-{}", std::process::id()));
    let _ = std::fs::remove_file(&port_file);
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--echo", port_file.to_str().expect("temp dir is UTF-8"), &busy_poll.as_micros().to_string()])
        .stdin(Stdio::null())
        .spawn()?;
    let start = Instant::now();
    let port: u16 = loop {
        if let Ok(text) = std::fs::read_to_string(&port_file)
            && let Ok(port) = text.trim().parse()
        {
            break port;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "echo process did not start");
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = std::fs::remove_file(&port_file);
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(("127.0.0.1", port))?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    let frame = [0x5au8; FRAME];
    let mut buf = [0u8; 2048];
    // Warm up, then measure.
    let mut lost = 0u32;
    for _ in 0..1000 {
        socket.send(&frame)?;
        let _ = receive(&socket, &mut buf, busy_poll);
    }
    let start = Instant::now();
    for _ in 0..round_trips {
        socket.send(&frame)?;
        if receive(&socket, &mut buf, busy_poll).is_err() {
            lost += 1;
        }
    }
    let elapsed = start.elapsed();
    socket.send(&[0])?;
    let _ = child.wait();
    let rtt = elapsed.as_secs_f64() / f64::from(round_trips);
    println!(
        "pingpong: {round_trips} round trips (524 B out, 12 B back, busy poll {} us) in {:.3} s: RTT {:.2} us, limit {:.2} MB/s, {lost} lost",
        busy_poll.as_micros(),
        elapsed.as_secs_f64(),
        rtt * 1e6,
        PAYLOAD / rtt / 1e6
    );
    Ok(())
}
