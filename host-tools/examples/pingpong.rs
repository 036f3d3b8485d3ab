//! The stop-and-wait limit of a path: a raw UDP ping-pong with rudp's frame sizes (524 bytes
//! out, 12 back), one datagram in flight, as `rudp send` / `rudp recv` exchange them.
//!
//! ```sh
//! cargo run --release -p rudp-host-tools --example pingpong -- [ROUND_TRIPS]
//! ```
//!
//! Prints the mean round-trip time and the limit it implies for a stop-and-wait transfer of
//! 512-byte payloads: 512 bytes / RTT. The echo side runs in a second process (this program
//! re-executed with `--echo`), as `rudp recv` does.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FRAME: usize = 524;
const REPLY: usize = 12;
const PAYLOAD: f64 = 512.0;

fn echo(port_file: &str) -> std::io::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    std::fs::write(port_file, socket.local_addr()?.port().to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 2048];
    let reply = [0u8; REPLY];
    loop {
        let (n, from) = match socket.recv_from(&mut buf) {
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
    if args.get(1).map(String::as_str) == Some("--echo") {
        return echo(&args[2]);
    }
    let round_trips: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let port_file = std::env::temp_dir().join(format!("rudp-pingpong-{}", std::process::id()));
    let _ = std::fs::remove_file(&port_file);
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--echo", port_file.to_str().expect("temp dir is UTF-8")])
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
        let _ = socket.recv(&mut buf);
    }
    let start = Instant::now();
    for _ in 0..round_trips {
        socket.send(&frame)?;
        if socket.recv(&mut buf).is_err() {
            lost += 1;
        }
    }
    let elapsed = start.elapsed();
    socket.send(&[0])?;
    let _ = child.wait();
    let rtt = elapsed.as_secs_f64() / f64::from(round_trips);
    println!(
        "pingpong: {round_trips} round trips (524 B out, 12 B back) in {:.3} s: RTT {:.2} us, limit {:.2} MB/s, {lost} lost",
        elapsed.as_secs_f64(),
        rtt * 1e6,
        PAYLOAD / rtt / 1e6
    );
    Ok(())
}
