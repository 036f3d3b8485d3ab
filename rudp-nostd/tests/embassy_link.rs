#![cfg(feature = "embassy-net")]
//! End to end through two real embassy-net stacks: the crate's `embassy` driver runs a
//! [`Sender`] on one and a [`Receiver`] (or a [`Listener`] with two senders) on the other, the
//! stacks joined by an in-memory IP link (`embassy-net-driver-channel`) that loses datagrams
//! from a seeded PRNG. The clock is embassy-time's std driver (real time); the executor, as
//! embassy's, polls a task only when its waker is called and parks the thread otherwise, and
//! counts the driver's polls: a driver that spun would show thousands per datagram.
//!
//! `SEED=<n>` picks the link's losses.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use embassy_futures::join::join;
use embassy_futures::select::{Either, select};
use embassy_net::driver::{HardwareAddress, LinkState};
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{
    Config, IpAddress, IpEndpoint, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4,
};
use embassy_net_driver_channel::{self as channel, RxRunner, State, TxRunner};
use embassy_time::Timer;
use rudp_nostd::embassy::{self as driver, DriverError, TransferSink};
use rudp_nostd::random::SplitMix64;
use rudp_nostd::transport::Report;
use rudp_nostd::{
    Admission, Direction, Duration, Error, Listener, ListenerConfig, MAX_FRAME, Offer, Receiver,
    ReceiverConfig, ReceiverEvent, RefuseReason, Sender, SenderConfig, SenderEvent, Timing, TransferId,
};

/// The link's MTU: a whole rudp frame in one IPv4/UDP packet.
const MTU: usize = 1500;
/// Packets each direction of the link (and each stack's device) queues.
const LINK_QUEUE: usize = 16;
/// Datagrams each socket buffer holds, each way: a window of 8 and room for a burst.
const SOCKET_FRAMES: usize = 16;
/// The window both sides use.
const WINDOW: usize = 8;
/// Datagrams lost, each way, per mille.
const LOSS_PER_MILLE: u64 = 100;
/// The most a test may take (the receiver closes after its 2 s idle timeout when the
/// sender's final ACK is lost).
const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

const SENDER_ADDR: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const RECEIVER_ADDR: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const RECEIVER_PORT: u16 = 9000;

/// One task's waker: marks the task woken and unparks the test's thread.
struct TaskWaker {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A background task: never ends (a stack's runner, one direction of the link).
type Task<'a> = Pin<&'a mut dyn Future<Output = ()>>;

/// Runs `main` to its end beside the `background` tasks, as an embassy executor does: each task
/// has its own waker and is polled only once woken; the thread parks while none is. Returns
/// main's output and how often main was polled, so that a test can tell a driver that sleeps
/// until a datagram or a timer from one that spins. Panics after `TIME_LIMIT` from `since`.
fn run<T>(main: impl Future<Output = T>, background: &mut [Task<'_>], since: std::time::Instant) -> (T, u64) {
    let waker = |_| Arc::new(TaskWaker { woken: AtomicBool::new(true), thread: thread::current() });
    let main_waker = waker(());
    let wakers: Vec<Arc<TaskWaker>> = background.iter().map(|_| waker(())).collect();
    let mut main = pin!(main);
    let mut polls = 0;
    loop {
        if main_waker.woken.swap(false, Ordering::SeqCst) {
            polls += 1;
            let waker = Waker::from(main_waker.clone());
            if let Poll::Ready(output) = main.as_mut().poll(&mut Context::from_waker(&waker)) {
                return (output, polls);
            }
        }
        for (task, task_waker) in background.iter_mut().zip(&wakers) {
            if task_waker.woken.swap(false, Ordering::SeqCst) {
                let waker = Waker::from(task_waker.clone());
                let _ = task.as_mut().poll(&mut Context::from_waker(&waker));
            }
        }
        let woken =
            main_waker.woken.load(Ordering::SeqCst) || wakers.iter().any(|w| w.woken.load(Ordering::SeqCst));
        if !woken {
            let left = TIME_LIMIT.checked_sub(since.elapsed()).expect("the test ran past its time limit");
            thread::park_timeout(left);
        }
    }
}

fn seed() -> u64 {
    std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_1e55)
}

/// One side of the link: an IP-medium embassy-net stack with a static address.
struct Side<const Q: usize = LINK_QUEUE> {
    state: State<MTU, Q, Q>,
    resources: StackResources<4>,
}

impl<const Q: usize> Side<Q> {
    fn new() -> Side<Q> {
        Side { state: State::new(), resources: StackResources::new() }
    }

    /// The stack, its runner, and the link's ends of its device.
    fn start(
        &mut self,
        addr: Ipv4Address,
        seed: u64,
    ) -> (Stack<'_>, embassy_net::Runner<'_, channel::Device<'_, MTU>>, RxRunner<'_, MTU>, TxRunner<'_, MTU>)
    {
        let (runner, device) = channel::new(&mut self.state, HardwareAddress::Ip);
        let (state, rx, tx) = runner.split();
        state.set_link_state(LinkState::Up);
        let config = Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new(addr, 24),
            gateway: None,
            dns_servers: Default::default(),
        });
        let (stack, net) = embassy_net::new(device, config, &mut self.resources, seed);
        (stack, net, rx, tx)
    }
}

/// Carries packets from one stack's device to the other's, losing `LOSS_PER_MILLE` of them;
/// counts what it carried and lost. After `cut_after` packets it takes no more: the link is
/// down, and the device's queue fills.
async fn wire(
    mut from: TxRunner<'_, MTU>,
    mut to: RxRunner<'_, MTU>,
    seed: u64,
    counts: &Cell<(u64, u64)>,
    cut_after: u64,
) {
    let mut random = SplitMix64::new(seed);
    loop {
        if counts.get().0 + counts.get().1 >= cut_after {
            core::future::pending::<()>().await;
        }
        let packet = from.tx_buf().await;
        let (carried, lost) = counts.get();
        if random.next_u64() % 1000 < LOSS_PER_MILLE {
            counts.set((carried, lost + 1));
        } else {
            let buf = to.rx_buf().await;
            let n = packet.len().min(buf.len());
            buf[..n].copy_from_slice(&packet[..n]);
            to.rx_done(n);
            counts.set((carried + 1, lost));
        }
        from.tx_done();
    }
}

/// Socket buffers: whole frames each way.
struct Buffers {
    rx_meta: Vec<PacketMetadata>,
    rx: Vec<u8>,
    tx_meta: Vec<PacketMetadata>,
    tx: Vec<u8>,
}

impl Buffers {
    /// `SOCKET_FRAMES` frames each way.
    fn new() -> Buffers {
        Buffers::with_frames(SOCKET_FRAMES)
    }

    fn with_frames(frames: usize) -> Buffers {
        Buffers {
            rx_meta: vec![PacketMetadata::EMPTY; frames],
            rx: vec![0; frames * MAX_FRAME],
            tx_meta: vec![PacketMetadata::EMPTY; frames],
            tx: vec![0; frames * MAX_FRAME],
        }
    }

    fn socket<'a>(&'a mut self, stack: Stack<'a>, port: u16) -> UdpSocket<'a> {
        let mut socket =
            UdpSocket::new(stack, &mut self.rx_meta, &mut self.rx, &mut self.tx_meta, &mut self.tx);
        socket.bind(port).unwrap();
        socket
    }
}

/// Short timers, so that losses cost milliseconds (the link's round trip is well under one).
fn timing() -> Timing {
    Timing {
        initial_rto: Duration::from_millis(50),
        min_rto: Duration::from_millis(10),
        max_rto: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(2),
    }
}

/// The digest both sides use: CRC-32C, else SHA-256, when the build has one.
fn digest() -> Option<rudp_nostd::DigestAlgorithm> {
    #[cfg(feature = "crc32c")]
    return Some(rudp_nostd::DigestAlgorithm::Crc32c);
    #[cfg(all(feature = "sha256", not(feature = "crc32c")))]
    return Some(rudp_nostd::DigestAlgorithm::Sha256);
    #[allow(unreachable_code)]
    None
}

fn sender_config(seed: u64, size: usize) -> SenderConfig {
    SenderConfig {
        timing: timing(),
        transfer_size: Some(size as u64),
        digest: digest(),
        require_digest: digest().is_some(),
        window: WINDOW as u8,
        ..SenderConfig::new(seed)
    }
}

fn receiver_config(seed: u64) -> ReceiverConfig {
    ReceiverConfig { idle_timeout: timing().idle_timeout, ..ReceiverConfig::new(seed) }
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut random = SplitMix64::new(seed);
    (0..len).map(|_| random.next_u64() as u8).collect()
}

/// An async sink like a flash driver: it takes at most 300 bytes a write and every fourth
/// write waits a little (a page being programmed); `flush` commits.
#[derive(Default)]
struct SlowSink {
    data: Vec<u8>,
    writes: u64,
    flushed: bool,
}

impl embedded_io_async::ErrorType for SlowSink {
    type Error = embedded_io_async::ErrorKind;
}

impl embedded_io_async::Write for SlowSink {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.writes += 1;
        if self.writes.is_multiple_of(4) {
            Timer::after_micros(200).await;
        }
        let n = buf.len().min(300);
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Timer::after_millis(1).await;
        self.flushed = true;
        Ok(())
    }
}

/// What a side's `report` saw.
#[derive(Default, Debug)]
struct Seen {
    sent: u64,
    retransmitted: u64,
    received: u64,
}

impl Seen {
    fn trace(&mut self, trace: &rudp_nostd::Trace) {
        match trace.direction {
            Direction::Send => {
                self.sent += 1;
                self.retransmitted += u64::from(trace.dup);
            }
            Direction::Recv => self.received += 1,
            Direction::Drop => {}
        }
    }
}

#[test]
fn a_transfer_with_a_window_and_a_digest_survives_loss_byte_for_byte() {
    let seed = seed();
    let input = data(200 * 1024 + 123, seed);
    let (mut a, mut b): (Side, Side) = (Side::new(), Side::new());
    let (stack_a, mut net_a, rx_a, tx_a) = a.start(SENDER_ADDR, seed);
    let (stack_b, mut net_b, rx_b, tx_b) = b.start(RECEIVER_ADDR, seed ^ 1);
    let (mut buffers_a, mut buffers_b) = (Buffers::new(), Buffers::new());
    let mut socket_a = buffers_a.socket(stack_a, 49_152);
    let mut socket_b = buffers_b.socket(stack_b, RECEIVER_PORT);
    let (ab, ba) = (Cell::new((0, 0)), Cell::new((0, 0)));

    let peer = IpEndpoint::new(IpAddress::Ipv4(RECEIVER_ADDR), RECEIVER_PORT);
    let mut sender: Sender<IpEndpoint, WINDOW> =
        Sender::new(sender_config(seed, input.len()), peer, driver::now());
    let mut receiver: Receiver<IpEndpoint, WINDOW> = Receiver::new(receiver_config(seed ^ 2), driver::now());
    let mut source = &input[..];
    let mut sink = SlowSink::default();
    let (mut seen_tx, mut seen_rx) = (Seen::default(), Seen::default());
    let mut acknowledged = 0u64;

    let started = std::time::Instant::now();
    let transfer = join(
        driver::send(&mut socket_a, &mut sender, &mut source, |report| match report {
            Report::Trace(trace) => seen_tx.trace(&trace),
            Report::Event(SenderEvent::Acknowledged { bytes }) => acknowledged += u64::from(bytes),
            Report::Event(_) => {}
        }),
        driver::receive(&mut socket_b, &mut receiver, &mut sink, |report| {
            if let Report::Trace(trace) = report {
                seen_rx.trace(&trace);
            }
        }),
    );
    let mut net_a = pin!(async { match net_a.run().await {} });
    let mut net_b = pin!(async { match net_b.run().await {} });
    let mut wire_ab = pin!(wire(tx_a, rx_b, seed ^ 3, &ab, u64::MAX));
    let mut wire_ba = pin!(wire(tx_b, rx_a, seed ^ 4, &ba, u64::MAX));
    let mut background: [Task<'_>; 4] = [net_a.as_mut(), net_b.as_mut(), wire_ab.as_mut(), wire_ba.as_mut()];
    let ((sent, received), polls) = run(transfer, &mut background, started);
    let elapsed = started.elapsed();
    let carried = ab.get().0 + ba.get().0;
    println!(
        "seed {seed}: {} bytes in {elapsed:?}; link a->b carried {} and lost {}, b->a carried {} and lost {}; \
         sender {seen_tx:?}, receiver {seen_rx:?}, sink writes {}, the drivers' task polled {polls} times",
        input.len(),
        ab.get().0,
        ab.get().1,
        ba.get().0,
        ba.get().1,
        sink.writes
    );
    assert_eq!(sent, Ok(()), "seed {seed}");
    assert_eq!(received, Ok(()), "seed {seed}");
    assert!(sink.flushed, "the sink was flushed (committed) before the FIN was answered");
    assert_eq!(sink.data.len(), input.len());
    assert!(sink.data == input, "seed {seed}: the copy differs");
    assert_eq!(acknowledged, input.len() as u64);
    assert_eq!(receiver.digest(), digest(), "the digest was agreed");
    assert_eq!(sender.window() as usize, WINDOW, "the window was granted");
    assert!(ab.get().1 > 0 && ba.get().1 > 0, "the link lost datagrams both ways");
    assert!(seen_tx.retransmitted > 0, "losses were repaired by retransmissions");
    // Woken by datagrams, timers and the sink's waits: a few polls for each, not a spin.
    assert!(polls < 4 * (carried + sink.writes), "{polls} polls for {carried} datagrams");
}

/// The listener's side: each transfer into its own buffer, by the tag its name got.
#[derive(Default)]
struct Files {
    data: HashMap<u32, Vec<u8>>,
    committed: Vec<u32>,
    failed: Vec<(u32, Error)>,
}

impl TransferSink for Files {
    type Error = embedded_io_async::ErrorKind;

    async fn write(&mut self, _: TransferId, tag: u32, data: &[u8]) -> Result<usize, Self::Error> {
        // A slow store: every write waits a little.
        Timer::after_micros(100).await;
        let n = data.len().min(256);
        self.data.entry(tag).or_default().extend_from_slice(&data[..n]);
        Ok(n)
    }

    async fn commit(&mut self, _: TransferId, tag: u32) -> Result<(), Self::Error> {
        Timer::after_millis(1).await;
        self.committed.push(tag);
        Ok(())
    }

    async fn failed(&mut self, _: TransferId, tag: u32, error: Error) {
        self.failed.push((tag, error));
    }
}

#[test]
fn a_listener_takes_two_transfers_at_once_through_loss() {
    let seed = seed().wrapping_add(1);
    let inputs = [data(60 * 1024 + 7, seed), data(90 * 1024, seed ^ 9)];
    let (mut a, mut b): (Side, Side) = (Side::new(), Side::new());
    let (stack_a, mut net_a, rx_a, tx_a) = a.start(SENDER_ADDR, seed);
    let (stack_b, mut net_b, rx_b, tx_b) = b.start(RECEIVER_ADDR, seed ^ 1);
    let (mut buffers_1, mut buffers_2, mut buffers_b) = (Buffers::new(), Buffers::new(), Buffers::new());
    let mut socket_1 = buffers_1.socket(stack_a, 49_152);
    let mut socket_2 = buffers_2.socket(stack_a, 49_153);
    let mut socket_b = buffers_b.socket(stack_b, RECEIVER_PORT);
    let (ab, ba) = (Cell::new((0, 0)), Cell::new((0, 0)));

    let peer = IpEndpoint::new(IpAddress::Ipv4(RECEIVER_ADDR), RECEIVER_PORT);
    let mut senders: [Sender<IpEndpoint, WINDOW>; 2] = [0, 1].map(|i| {
        let config = sender_config(seed ^ (10 + i), inputs[i as usize].len());
        Sender::new(config, peer, driver::now())
    });
    assert!(senders[0].offer_name(b"one") && senders[1].offer_name(b"two"));
    let admit = |offer: &Offer<'_, IpEndpoint>| match offer.name {
        Some(b"one") => Admission::Take(1),
        Some(b"two") => Admission::Take(2),
        _ => Admission::Refuse(RefuseReason::Name),
    };
    let config = ListenerConfig { receiver: receiver_config(seed ^ 2), ..ListenerConfig::new(seed ^ 2) };
    let mut listener: Listener<IpEndpoint, _, 2, WINDOW> = Listener::new(config, admit, driver::now());
    let mut files = Files::default();
    let (mut source_1, mut source_2) = (&inputs[0][..], &inputs[1][..]);
    let mut events = Vec::new();

    let started = std::time::Instant::now();
    let mut net_a = pin!(async { match net_a.run().await {} });
    let mut net_b = pin!(async { match net_b.run().await {} });
    let mut wire_ab = pin!(wire(tx_a, rx_b, seed ^ 3, &ab, u64::MAX));
    let mut wire_ba = pin!(wire(tx_b, rx_a, seed ^ 4, &ba, u64::MAX));
    let mut background: [Task<'_>; 4] = [net_a.as_mut(), net_b.as_mut(), wire_ab.as_mut(), wire_ba.as_mut()];
    let [sender_1, sender_2] = &mut senders;
    let both = join(
        driver::send(&mut socket_1, sender_1, &mut source_1, |_| {}),
        driver::send(&mut socket_2, sender_2, &mut source_2, |_| {}),
    );
    let serving = driver::listen(&mut socket_b, &mut listener, &mut files, |report| {
        if let Report::Event(event) = report {
            events.push((event.tag, event.event));
        }
    });
    // The senders finish while the listener runs; then the listener's future is dropped.
    let (results, polls) = match run(select(both, serving), &mut background, started) {
        (Either::First(results), polls) => (results, polls),
        (Either::Second(ended), _) => panic!("seed {seed}: the listener ended: {ended:?}"),
    };
    let finished = started.elapsed();
    assert_eq!(results, (Ok(()), Ok(())), "seed {seed}");
    // Drain: no new transfers, the running ones (lingering) to their end.
    listener.stop_accepting();
    let drain = driver::listen(&mut socket_b, &mut listener, &mut files, |report| {
        if let Report::Event(event) = report {
            events.push((event.tag, event.event));
        }
    });
    let (drained, drain_polls) = run(drain, &mut background, started);
    assert_eq!(drained, Ok(()));
    let carried = ab.get().0 + ba.get().0;
    println!(
        "seed {seed}: {} + {} bytes, both senders done in {finished:?}, the listener drained in {:?}; \
         link a->b carried {} and lost {}, b->a carried {} and lost {}; the task polled {polls} times, \
         then {drain_polls} while draining",
        inputs[0].len(),
        inputs[1].len(),
        started.elapsed(),
        ab.get().0,
        ab.get().1,
        ba.get().0,
        ba.get().1
    );
    assert!(files.failed.is_empty(), "{:?}", files.failed);
    files.committed.sort();
    assert_eq!(files.committed, [1, 2]);
    assert!(files.data[&1] == inputs[0], "seed {seed}: transfer one differs");
    assert!(files.data[&2] == inputs[1], "seed {seed}: transfer two differs");
    for tag in [1, 2] {
        assert!(events.contains(&(tag, ReceiverEvent::Finished)), "{events:?}");
        assert!(events.contains(&(tag, ReceiverEvent::Closed)), "{events:?}");
    }
    assert!(ab.get().1 > 0 && ba.get().1 > 0, "the link lost datagrams both ways");
    // Each write waits once: a few polls for each write and each datagram, not a spin (the
    // drain waits up to the 2 s idle timeout for a lost final ACK).
    let writes = (inputs[0].len() + inputs[1].len()) as u64 / 256 + 2;
    assert!(polls < 4 * (carried + writes), "{polls} polls for {carried} datagrams");
    assert!(drain_polls < 100, "{drain_polls} polls while draining");
}

#[test]
fn a_link_that_goes_down_ends_both_sides_by_their_idle_timeout() {
    let seed = seed().wrapping_add(2);
    let input = data(200 * 1024, seed);
    // Small queues (2 packets in each device, 2 frames in the sender's socket), so that the
    // sender's retransmissions fill them well before its idle timeout.
    let (mut a, mut b): (Side<2>, Side<2>) = (Side::new(), Side::new());
    let (stack_a, mut net_a, rx_a, tx_a) = a.start(SENDER_ADDR, seed);
    let (stack_b, mut net_b, rx_b, tx_b) = b.start(RECEIVER_ADDR, seed ^ 1);
    let (mut buffers_a, mut buffers_b) = (Buffers::with_frames(2), Buffers::new());
    let mut socket_a = buffers_a.socket(stack_a, 49_152);
    let mut socket_b = buffers_b.socket(stack_b, RECEIVER_PORT);
    let (ab, ba) = (Cell::new((0, 0)), Cell::new((0, 0)));

    let peer = IpEndpoint::new(IpAddress::Ipv4(RECEIVER_ADDR), RECEIVER_PORT);
    let mut sender: Sender<IpEndpoint, WINDOW> =
        Sender::new(sender_config(seed, input.len()), peer, driver::now());
    let mut receiver: Receiver<IpEndpoint, WINDOW> = Receiver::new(receiver_config(seed ^ 2), driver::now());
    let mut source = &input[..];
    let mut sink = SlowSink::default();

    let started = std::time::Instant::now();
    let transfer = join(
        driver::send(&mut socket_a, &mut sender, &mut source, |_| {}),
        driver::receive(&mut socket_b, &mut receiver, &mut sink, |_| {}),
    );
    // The sender's way goes down after 100 packets, for good: its device's queue and then its
    // socket's transmit buffer fill, and no frame finds room again (a driver that waited for
    // room for ever would never see its idle timeout: the test's time limit would end it).
    let mut net_a = pin!(async { match net_a.run().await {} });
    let mut net_b = pin!(async { match net_b.run().await {} });
    let mut wire_ab = pin!(wire(tx_a, rx_b, seed ^ 3, &ab, 100));
    let mut wire_ba = pin!(wire(tx_b, rx_a, seed ^ 4, &ba, u64::MAX));
    let mut background: [Task<'_>; 4] = [net_a.as_mut(), net_b.as_mut(), wire_ab.as_mut(), wire_ba.as_mut()];
    let ((sent, received), polls) = run(transfer, &mut background, started);
    let elapsed = started.elapsed();
    println!(
        "seed {seed}: the link went down after {} packets; both sides ended in {elapsed:?}: {sent:?}, \
         {received:?}; {} of {} bytes written; the task polled {polls} times",
        ab.get().0 + ab.get().1,
        sink.data.len(),
        input.len()
    );
    assert_eq!(sent, Err(DriverError::Failed(Error::IdleTimeout)), "seed {seed}");
    assert_eq!(received, Err(DriverError::Failed(Error::IdleTimeout)), "seed {seed}");
    assert!(sink.data.len() < input.len() && input.starts_with(&sink.data));
    // The idle timeout (2 s) after the last frame that got through, and not much more.
    let idle = std::time::Duration::from_secs(2);
    assert!(elapsed >= idle && elapsed < idle * 2, "{elapsed:?}");
}

/// A NOR flash in RAM for the embassy-boot test: 4 KiB sectors, 4-byte words, a write only
/// clears bits.
#[cfg(feature = "embassy-boot")]
struct RamNor(Vec<u8>);

#[cfg(feature = "embassy-boot")]
mod ram_nor {
    use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

    use super::RamNor;

    impl ErrorType for RamNor {
        type Error = NorFlashErrorKind;
    }

    impl ReadNorFlash for RamNor {
        const READ_SIZE: usize = 1;
        fn read(&mut self, at: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
            let at = at as usize;
            bytes.copy_from_slice(self.0.get(at..at + bytes.len()).ok_or(NorFlashErrorKind::OutOfBounds)?);
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.0.len()
        }
    }

    impl NorFlash for RamNor {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = 4096;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
            self.0.get_mut(from as usize..to as usize).ok_or(NorFlashErrorKind::OutOfBounds)?.fill(0xff);
            Ok(())
        }
        fn write(&mut self, at: u32, bytes: &[u8]) -> Result<(), Self::Error> {
            let at = at as usize;
            let cells = self.0.get_mut(at..at + bytes.len()).ok_or(NorFlashErrorKind::OutOfBounds)?;
            for (cell, byte) in cells.iter_mut().zip(bytes) {
                *cell &= byte;
            }
            Ok(())
        }
    }
}

/// `driver::run_with` runs a listener whose sink is the embassy-boot adapter, as the
/// NUCLEO-F429ZI firmware does: the image lands in the DFU partition through loss, is marked
/// (embassy-boot's state reads `Swap`) after its SHA-256 over what was read back matched, the
/// listener stops accepting, and the call returns once the transfer has ended.
#[cfg(feature = "embassy-boot")]
#[test]
fn run_with_updates_through_embassy_boot_through_loss() {
    use std::cell::RefCell;

    use embassy_boot::{BlockingFirmwareState, State as BootState};
    use embassy_embedded_hal::flash::partition::BlockingPartition;
    use embassy_sync::blocking_mutex::Mutex;
    use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    use rudp_nostd::DigestAlgorithm;
    use rudp_nostd::flash::{BootSink, FlashSink, Layout};

    let seed = seed().wrapping_add(2);
    let image = data(100 * 1024 + 5, seed);
    let (mut a, mut b): (Side, Side) = (Side::new(), Side::new());
    let (stack_a, mut net_a, rx_a, tx_a) = a.start(SENDER_ADDR, seed);
    let (stack_b, mut net_b, rx_b, tx_b) = b.start(RECEIVER_ADDR, seed ^ 1);
    let (mut buffers_a, mut buffers_b) = (Buffers::new(), Buffers::new());
    let mut socket_a = buffers_a.socket(stack_a, 49_152);
    let mut socket_b = buffers_b.socket(stack_b, RECEIVER_PORT);
    let (ab, ba) = (Cell::new((0, 0)), Cell::new((0, 0)));

    // One flash: STATE 4 KiB at 0; the DFU partition (ACTIVE 128 KiB + one sector) at 8 KiB,
    // the resume records in the two sectors after it.
    let flash = Mutex::<NoopRawMutex, _>::new(RefCell::new(RamNor(vec![0xff; 256 * 1024])));
    let state = BlockingPartition::new(&flash, 0, 4096);
    let dfu = BlockingPartition::new(&flash, 8192, (128 + 4 + 8) * 1024);
    let layout = Layout { image_start: 0, image_len: 128 * 1024, state_start: 132 * 1024 };
    let mut aligned = [0u8; 4];
    let sink: FlashSink<_> = FlashSink::open(dfu, layout).unwrap();
    let boot = BootSink::new(sink, BlockingFirmwareState::new(state, &mut aligned));
    let receiver = ReceiverConfig { hash_read_back: true, ..receiver_config(seed ^ 2) };
    let config = ListenerConfig { receiver, ..ListenerConfig::new(seed ^ 2) };
    let mut listener: Listener<IpEndpoint, _, 1, WINDOW> = Listener::new(config, boot, driver::now());

    let peer = IpEndpoint::new(IpAddress::Ipv4(RECEIVER_ADDR), RECEIVER_PORT);
    let config = SenderConfig { digest: Some(DigestAlgorithm::Sha256), ..sender_config(seed, image.len()) };
    let mut sender: Sender<IpEndpoint, WINDOW> = Sender::new(config, peer, driver::now());
    assert!(sender.offer_object_id(b"firmware"));
    let mut source = &image[..];
    let mut errors = Vec::new();
    let mut marked_len = None;

    let started = std::time::Instant::now();
    let serving = driver::run_with(
        &mut socket_b,
        &mut listener,
        |_| {},
        |listener, events| {
            let now = driver::now();
            for e in events {
                match e.event {
                    ReceiverEvent::Connected { transfer_size, .. } => {
                        if let Some((rx, boot)) = listener.transfer_and_admit_mut(e.id)
                            && let Err(error) = boot.connected(rx, now, e.tag, transfer_size)
                        {
                            errors.push(format!("{error}"));
                        }
                    }
                    ReceiverEvent::Finished => {
                        if let Some((rx, boot)) = listener.transfer_and_admit_mut(e.id) {
                            match boot.finished(rx, now) {
                                Ok(committed) => marked_len = Some(committed.len),
                                Err(error) => errors.push(format!("{error}")),
                            }
                        }
                    }
                    ReceiverEvent::Failed(error) => {
                        let _ = listener.admit_mut().failed(e.tag, error);
                    }
                    _ => {}
                }
            }
            let running = listener.transfers().next().map(|(id, _, _)| id);
            if let Some((rx, boot)) = running.and_then(|id| listener.transfer_and_admit_mut(id))
                && let Err(error) = boot.take(rx, now)
            {
                errors.push(format!("{error}"));
            }
            let _ = listener.admit_mut().erase_ahead();
            if listener.admit_mut().is_marked() {
                // Marked: no other transfer; the call returns once this one has lingered.
                listener.stop_accepting();
            }
        },
    );
    let both = join(driver::send(&mut socket_a, &mut sender, &mut source, |_| {}), serving);
    let mut net_a = pin!(async { match net_a.run().await {} });
    let mut net_b = pin!(async { match net_b.run().await {} });
    let mut wire_ab = pin!(wire(tx_a, rx_b, seed ^ 3, &ab, u64::MAX));
    let mut wire_ba = pin!(wire(tx_b, rx_a, seed ^ 4, &ba, u64::MAX));
    let mut background: [Task<'_>; 4] = [net_a.as_mut(), net_b.as_mut(), wire_ab.as_mut(), wire_ba.as_mut()];
    let ((sent, served), _) = run(both, &mut background, started);
    println!(
        "seed {seed}: {} bytes marked in {:?}; link a->b lost {}, b->a lost {}",
        image.len(),
        started.elapsed(),
        ab.get().1,
        ba.get().1
    );
    assert_eq!(sent, Ok(()), "seed {seed}");
    assert_eq!(served, Ok(()), "seed {seed}: run_with returned once the listener was done");
    assert!(errors.is_empty(), "seed {seed}: {errors:?}");
    assert_eq!(marked_len, Some(image.len() as u64));
    let boot = listener.admit_mut();
    assert!(boot.is_marked());
    assert_eq!(boot.get_state().unwrap(), BootState::Swap);
    let mut back = vec![0u8; image.len()];
    embedded_storage::nor_flash::ReadNorFlash::read(boot.sink_mut().flash_mut(), 0, &mut back).unwrap();
    assert!(back == image, "seed {seed}: the DFU partition differs");
}
