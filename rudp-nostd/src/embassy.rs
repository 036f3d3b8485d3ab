//! The engines over an embassy-net UDP socket (feature `embassy-net`): one `async` call runs a
//! [`Sender`] ([`send`]), a [`Receiver`] ([`receive`]) or the [`Listener`] ([`listen`]) to its
//! end, with embassy-time timers, the data through `embedded-io-async` sources and sinks.
//!
//! embassy-net keeps smoltcp's `Interface` inside its `Stack` (its `Runner` task polls it), so
//! the smoltcp transport's main-loop turn cannot serve an embassy application; this module is
//! its counterpart. embassy-net 0.9 is built on smoltcp 0.13, as the crate's `smoltcp` feature
//! is: the endpoint here, [`embassy_net::IpEndpoint`], is smoltcp's.
//!
//! Each call is one task's loop: send what the engine has to send, then sleep until a
//! datagram arrives or the engine's next timer ([`Engine::poll_timeout`], raced against the
//! socket with [`embassy_futures::select`]), take in every datagram waiting, move the data,
//! let the timers run. No busy loop and no allocation: the future holds references, the
//! engine's state is the caller's, and a datagram is handed to the engine straight from the
//! socket's buffer. A slow sink (an async flash) is awaited inside the loop: the executor runs
//! other tasks meanwhile, datagrams queue in the socket, and the engine acknowledges data only
//! once the sink has taken it, so the peer waits rather than loses anything. The engine's
//! timers wait too, and the peer's idle timeout (10 s by default) bounds how long one write
//! may take; a source should likewise answer within it (a file or a flash does; a stream that
//! waits for data holds up the sender's retransmissions meanwhile).
//!
//! ```no_run
//! # async fn firmware(stack: embassy_net::Stack<'_>, image: &[u8]) -> Result<(), rudp_nostd::embassy::DriverError> {
//! use embassy_net::udp::{PacketMetadata, UdpSocket};
//! use embassy_net::{IpAddress, IpEndpoint};
//! use rudp_nostd::{Instant, MAX_FRAME, Sender, SenderConfig, embassy};
//!
//! // Room for at least one whole frame each way (more lets a burst queue).
//! let (mut rx_meta, mut tx_meta) = ([PacketMetadata::EMPTY; 4], [PacketMetadata::EMPTY; 4]);
//! let (mut rx_buf, mut tx_buf) = ([0u8; 4 * MAX_FRAME], [0u8; 4 * MAX_FRAME]);
//! let mut socket = UdpSocket::new(stack, &mut rx_meta, &mut rx_buf, &mut tx_meta, &mut tx_buf);
//! socket.bind(49_152).unwrap(); // a new socket, a free port: cannot fail
//!
//! let peer = IpEndpoint::new(IpAddress::v4(192, 168, 1, 10), 9000);
//! let config = SenderConfig { transfer_size: Some(image.len() as u64), ..SenderConfig::new(7) };
//! let mut sender: Sender<IpEndpoint> = Sender::new(config, peer, embassy::now());
//! let mut source = image; // any embedded_io_async::Read
//! embassy::send(&mut socket, &mut sender, &mut source, |_report| {}).await
//! # }
//! ```
//!
//! ## Sockets
//!
//! The socket is the caller's, bound to its local port, with buffers for at least one whole
//! frame ([`MAX_FRAME`] bytes and one metadata slot) each way: a transmit buffer too small for
//! a frame is [`SendError::PacketTooLarge`]. A full transmit buffer makes the call wait for the
//! stack to send, up to 100 ms: a device that sends nothing for that long (a link that is
//! down) loses the frame, so that the engine's timers run and its idle timeout ends a transfer
//! whose link is gone rather than the call waiting for ever. A datagram for a peer no datagram can
//! reach ([`SendError::NoRoute`]: an unspecified address or port 0) fails [`send`], whose peer
//! the application chose; [`receive`] and [`listen`] drop it (the peer came from the network),
//! as UDP loses a datagram.
//!
//! ## Stopping
//!
//! Dropping the future (a `select` against a stop signal) leaves the engine consistent: a
//! frame marked sent but not queued is a lost frame, retransmitted on the next call. Data a
//! sink was writing when dropped is offered to it again by the next call (the engine marks
//! data taken only once the write returns). The listener drains with
//! [`Listener::stop_accepting`] and one more [`listen`], which then returns once every
//! transfer has ended.
//!
//! `From` conversions between embassy-time's and rudp's `Instant` and `Duration` come with
//! this feature; [`now`] reads embassy-time's clock.

use embassy_futures::select::{Either, select};
use embassy_net::IpEndpoint;
use embassy_net::udp::{SendError, UdpSocket};
use embassy_time::Timer;
use embedded_io_async::{Error as _, ErrorKind, Read, Write};

use crate::asynch;
use crate::engine::{Engine, MAX_EVENTS_PER_CALL};
use crate::error::Error;
use crate::listener::{Admit, Listener, ListenerEvent, TransferId};
use crate::receiver::{Receiver, ReceiverEvent};
use crate::sender::{Sender, SenderEvent};
use crate::time::{Duration, Instant};
use crate::transport::{MAX_DATAGRAMS_PER_POLL, Report};

#[cfg(doc)]
use crate::MAX_FRAME;

/// The most timer events taken in one wake-up (a listener gives one per call, for one
/// transfer; what is left runs at once in the next turn).
const MAX_TIMER_EVENTS_PER_WAKE: usize = 64;

/// The most frames sent in one turn: a window of frames, or a reply and a SYN|ACK per
/// half-open entry (a guard; what is left goes in the next turn, which comes at once).
const MAX_TRANSMITS_PER_TURN: usize = 2 * crate::MAX_WINDOW as usize;

/// The longest a frame waits for room in the socket's transmit buffer. The stack frees room
/// as fast as its device sends (a frame takes well under a millisecond on any Ethernet); a
/// buffer still full after this long has a device that sends nothing (the link is down), and
/// waiting on would keep the engine's timers, and so its idle timeout, from ever running. The
/// frame is then lost, as UDP loses it, and the rest of the turn waits for no room at all.
const MAX_SEND_WAIT: embassy_time::Duration = embassy_time::Duration::from_millis(100);

/// Why [`send`] or [`receive`] ended without success.
///
/// ```
/// use rudp_nostd::embassy::DriverError;
/// use rudp_nostd::{Error, RefuseReason};
///
/// fn retry_later(error: DriverError) -> bool {
///     // A busy receiver, or one gone silent, may take the transfer later; a socket that is
///     // not set up will not.
///     matches!(
///         error,
///         DriverError::Failed(Error::Refused(RefuseReason::Busy) | Error::IdleTimeout)
///     )
/// }
/// assert!(retry_later(DriverError::Failed(Error::IdleTimeout)));
/// assert!(!retry_later(DriverError::Socket(embassy_net::udp::SendError::SocketNotBound)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DriverError {
    /// The transfer failed for this reason (also reported as the engine's `Failed` event).
    Failed(Error),
    /// The socket would not take a frame: it is not bound, its transmit buffer can never hold
    /// a frame, or (only [`send`]) the sender's peer is unaddressable. The engine keeps its
    /// state and timers: a call with the socket fixed goes on where this one stopped.
    Socket(SendError),
    /// The engine had ended without success before the call (its failure was reported then).
    Ended,
}

/// Words for a socket's refusal.
fn describe(error: SendError) -> &'static str {
    match error {
        SendError::NoRoute => "the peer is unaddressable",
        SendError::SocketNotBound => "the UDP socket is not bound",
        SendError::PacketTooLarge => "the UDP socket's transmit buffer cannot hold a frame",
    }
}

impl core::fmt::Display for DriverError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DriverError::Failed(error) => write!(f, "{error}"),
            DriverError::Socket(error) => f.write_str(describe(*error)),
            DriverError::Ended => f.write_str("the engine had already ended without success"),
        }
    }
}

// By hand: embassy-net's errors are `defmt::Format` only with its own `defmt` feature, which
// this crate does not turn on (it makes embassy-net log through defmt, which then needs a
// global logger in every binary, host tests included).
#[cfg(feature = "defmt")]
impl defmt::Format for DriverError {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            DriverError::Failed(error) => defmt::write!(f, "Failed({})", error),
            DriverError::Socket(error) => defmt::write!(f, "Socket({=str})", describe(*error)),
            DriverError::Ended => defmt::write!(f, "Ended"),
        }
    }
}

impl core::error::Error for DriverError {}

/// Runs `sender` over `socket` until it is done, reading its data from `source`; returns
/// `Ok` once the receiver has acknowledged the FIN (and the sender's linger is over).
///
/// `report` sees every SPEC §8 trace event and every application event, in order. The
/// source is read only once the receiver has answered (so an application that gives up on
/// one peer can hand it on whole), and whenever the sender has room; with a
/// `transfer-size`, once that many bytes are read, the source must have ended (SPEC §3.1).
///
/// ```no_run
/// # async fn f(socket: &mut embassy_net::udp::UdpSocket<'_>, peer: embassy_net::IpEndpoint, mut flash: &[u8]) {
/// use rudp_nostd::transport::Report;
/// use rudp_nostd::{Sender, SenderConfig, SenderEvent, embassy};
///
/// // A window of 8 frames (8 frame buffers in the sender).
/// let config = SenderConfig { window: 8, ..SenderConfig::new(42) };
/// let mut sender: Sender<_, 8> = Sender::new(config, peer, embassy::now());
/// let mut acknowledged = 0u64;
/// let result = embassy::send(socket, &mut sender, &mut flash, |report| {
///     if let Report::Event(SenderEvent::Acknowledged { bytes }) = report {
///         acknowledged += u64::from(bytes);
///     }
/// })
/// .await;
/// # let _ = result;
/// # }
/// ```
pub async fn send<R: Read, const W: usize>(
    socket: &mut UdpSocket<'_>,
    sender: &mut Sender<IpEndpoint, W>,
    source: &mut R,
    mut report: impl FnMut(Report<SenderEvent>),
) -> Result<(), DriverError> {
    if sender.is_done() {
        return if sender.has_succeeded() { Ok(()) } else { Err(DriverError::Ended) };
    }
    let mut failure = None;
    let mut tracked = |r: Report<SenderEvent>| {
        if let Report::Event(SenderEvent::Failed(error)) = r {
            failure = failure.or(Some(error));
        }
        report(r);
    };
    drive(socket, sender, &mut SourcePump(source), &mut tracked, Unreachable::Fails)
        .await
        .map_err(DriverError::Socket)?;
    outcome(sender.has_succeeded(), failure)
}

/// Runs `receiver` over `socket` until it is done, writing the data to `sink` as it arrives
/// (acknowledged only once written); returns `Ok` once the transfer has succeeded and the
/// receiver has closed.
///
/// When all data is in (and verified, with a digest), `sink.flush()` commits it: only then is
/// the FIN answered, so the sender's success means the data is on the sink; a failed flush
/// fails the transfer and tells the sender ([`Receiver::commit_failed`]). After the FIN's
/// answer the receiver lingers to answer a repeated FIN: the call returns when the sender's
/// final ACK comes (or after the idle timeout, when that ACK is lost).
///
/// ```no_run
/// # async fn f(socket: &mut embassy_net::udp::UdpSocket<'_>, flash: &mut [u8]) {
/// use rudp_nostd::{Receiver, ReceiverConfig, embassy};
///
/// let mut receiver: Receiver<embassy_net::IpEndpoint> =
///     Receiver::new(ReceiverConfig::new(7), embassy::now());
/// let mut sink = flash; // any embedded_io_async::Write: an async flash writer
/// match embassy::receive(socket, &mut receiver, &mut sink, |_| {}).await {
///     Ok(()) => { /* the image is complete and committed */ }
///     Err(error) => { /* discard what was written */ let _ = error; }
/// }
/// # }
/// ```
pub async fn receive<K: Write, const W: usize, const H: usize>(
    socket: &mut UdpSocket<'_>,
    receiver: &mut Receiver<IpEndpoint, W, H>,
    sink: &mut K,
    mut report: impl FnMut(Report<ReceiverEvent>),
) -> Result<(), DriverError> {
    if receiver.is_done() {
        return if receiver.has_succeeded() { Ok(()) } else { Err(DriverError::Ended) };
    }
    let mut failure = None;
    let mut tracked = |r: Report<ReceiverEvent>| {
        if let Report::Event(ReceiverEvent::Failed(error)) = r {
            failure = failure.or(Some(error));
        }
        report(r);
    };
    drive(socket, receiver, &mut SinkPump(sink), &mut tracked, Unreachable::Dropped)
        .await
        .map_err(DriverError::Socket)?;
    outcome(receiver.has_succeeded(), failure)
}

/// Where a [`Listener`]'s transfers put their data: the application's side of [`listen`].
///
/// Each transfer is known by its [`TransferId`] and the tag the application's [`Admit`] gave
/// it ([`Admission::Take`](crate::Admission::Take)); its `Connected`, `Finished`, `Closed` and
/// `Failed` events also reach `listen`'s `report`. A write or a commit may take as long as
/// it needs: the other transfers wait in the socket meanwhile.
///
/// ```
/// use rudp_nostd::embassy::TransferSink;
/// use rudp_nostd::{Error, TransferId};
///
/// /// Each transfer into one of four RAM buffers, by the tag the admission gave it.
/// struct Buffers([[u8; 1024]; 4], [usize; 4]);
///
/// impl TransferSink for Buffers {
///     type Error = embedded_io_async::ErrorKind;
///     async fn write(&mut self, _: TransferId, tag: u32, data: &[u8]) -> Result<usize, Self::Error> {
///         let slot = tag as usize % 4;
///         let (buf, len) = (&mut self.0[slot], &mut self.1[slot]);
///         let n = data.len().min(buf.len() - *len);
///         buf[*len..*len + n].copy_from_slice(&data[..n]);
///         *len += n;
///         Ok(n) // 0 when full: the transfer fails, its sender is told
///     }
///     async fn commit(&mut self, _: TransferId, _tag: u32) -> Result<(), Self::Error> {
///         Ok(()) // RAM: nothing to make durable
///     }
///     async fn failed(&mut self, _: TransferId, tag: u32, _: Error) {
///         self.1[tag as usize % 4] = 0;
///     }
/// }
/// ```
// embassy's executors run a task on one thread: the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait TransferSink {
    /// What a write or a commit can fail with.
    type Error: embedded_io_async::Error;

    /// Writes the start of `data`, the next bytes of transfer `id` (tagged `tag`); returns how
    /// many it took (at least one; 0 fails the transfer, as a full sink). An error fails the
    /// transfer; the sender is told the receiver cannot write.
    async fn write(&mut self, id: TransferId, tag: u32, data: &[u8]) -> Result<usize, Self::Error>;

    /// All data of transfer `id` is written (and verified, with a digest): make it durable.
    /// `Ok` answers the FIN (the sender then succeeds); an error fails the transfer, and the
    /// sender is told the receiver cannot write.
    async fn commit(&mut self, id: TransferId, tag: u32) -> Result<(), Self::Error>;

    /// Transfer `id` failed, for `error` (after a write, a commit, the sender, a timeout): what
    /// it wrote is incomplete. Does nothing by default.
    async fn failed(&mut self, id: TransferId, tag: u32, error: Error) {
        let _ = (id, tag, error);
    }
}

/// Runs `listener` over `socket`: takes each admitted transfer's data to `sink` as it arrives
/// and commits it when complete. Returns once the listener is done (it stopped accepting,
/// [`Listener::stop_accepting`], and every transfer has ended), or when the socket will not
/// take a frame (not bound, or a transmit buffer that can never hold one).
///
/// Until it stops accepting, a listener is never done: the call runs as long as the task,
/// or until its future is dropped (see the module's "Stopping").
///
/// Resume (SPEC §10.5) is not offered here: a transfer admitted with
/// [`Admission::Resume`](crate::Admission::Resume) waits for the bytes held
/// ([`Receiver::hash_prefix`]), which this call does not give. Admit with
/// [`Admission::Take`](crate::Admission::Take).
///
/// ```no_run
/// # async fn f(socket: &mut embassy_net::udp::UdpSocket<'_>, sink: &mut impl rudp_nostd::embassy::TransferSink) {
/// use rudp_nostd::{Admission, Listener, ListenerConfig, Offer, RefuseReason, embassy};
///
/// // Up to two transfers at once; a name is required, 1 MiB at most.
/// let admit = |offer: &Offer<'_, embassy_net::IpEndpoint>| match (offer.name, offer.transfer_size) {
///     (Some(_), Some(size)) if size <= 1 << 20 => Admission::Take(0),
///     (Some(_), _) => Admission::Refuse(RefuseReason::TooLarge),
///     (None, _) => Admission::Refuse(RefuseReason::Name),
/// };
/// let mut listener: Listener<_, _, 2> = Listener::new(ListenerConfig::new(9), admit, embassy::now());
/// let _ = embassy::listen(socket, &mut listener, sink, |_| {}).await;
/// # }
/// ```
pub async fn listen<A, S, const M: usize, const W: usize, const H: usize>(
    socket: &mut UdpSocket<'_>,
    listener: &mut Listener<IpEndpoint, A, M, W, H>,
    sink: &mut S,
    mut report: impl FnMut(Report<ListenerEvent>),
) -> Result<(), SendError>
where
    A: Admit<IpEndpoint>,
    S: TransferSink,
{
    drive(socket, listener, &mut TransferPump(sink), &mut report, Unreachable::Dropped).await
}

/// Runs any engine that moves its own data (the [`blocking`](crate::blocking) adapters over a
/// RAM buffer, or an engine the application feeds elsewhere) over `socket` until it is done,
/// or until the socket will not take a frame. Frames for an unaddressable peer are dropped.
///
/// ```no_run
/// # async fn f(socket: &mut embassy_net::udp::UdpSocket<'_>, peer: embassy_net::IpEndpoint) {
/// use rudp_nostd::blocking::SourceSender;
/// use rudp_nostd::{Sender, SenderConfig, embassy};
///
/// let data: &[u8] = b"a small report, straight from RAM";
/// let mut sender = SourceSender::new(Sender::<_>::new(SenderConfig::new(3), peer, embassy::now()), data);
/// let _ = embassy::run(socket, &mut sender, |_| {}).await;
/// assert!(sender.has_succeeded());
/// # }
/// ```
pub async fn run<En: Engine<Endpoint = IpEndpoint>>(
    socket: &mut UdpSocket<'_>,
    engine: &mut En,
    mut report: impl FnMut(Report<En::Event>),
) -> Result<(), SendError> {
    drive(socket, engine, &mut NoPump, &mut report, Unreachable::Dropped).await
}

/// Runs `engine` over `socket` as [`run`] does, and after each datagram or timer event hands
/// the engine and that step's events (often none) to `step`, before they are reported: the
/// application's part of a listener whose admission policy is also its sink, as
/// [`flash::FlashSink`](crate::flash) and [`flash::BootSink`](crate::flash) are (their
/// `connected`, `finished` and `failed` on those events, `take` and `erase_ahead` every step;
/// `step` may also call [`Listener::stop_accepting`] so that the call returns once the last
/// transfer has ended). `step` is blocking: a flash sink over a blocking flash. Resume works
/// here: the flash sink gives the held bytes to the digest itself.
///
/// ```no_run
/// # async fn f<F: embedded_storage::nor_flash::NorFlash>(socket: &mut embassy_net::udp::UdpSocket<'_>, sink: rudp_nostd::flash::FlashSink<F>) {
/// use rudp_nostd::{Listener, ListenerConfig, ReceiverConfig, ReceiverEvent, embassy};
///
/// let receiver = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(9) };
/// let config = ListenerConfig { receiver, ..ListenerConfig::new(9) };
/// let mut listener: Listener<_, _, 1> = Listener::new(config, sink, embassy::now());
/// let _ = embassy::run_with(socket, &mut listener, |_| {}, |listener, events| {
///     let now = embassy::now();
///     for e in events {
///         let Some((rx, sink)) = listener.transfer_and_admit_mut(e.id) else { continue };
///         match e.event {
///             ReceiverEvent::Connected { transfer_size, .. } => { let _ = sink.connected(rx, now, e.tag, transfer_size); }
///             ReceiverEvent::Finished => { let _ = sink.finished(rx, now); }
///             ReceiverEvent::Failed(error) => { let _ = sink.failed(e.tag, error); }
///             _ => {}
///         }
///     }
///     let running = listener.transfers().next().map(|(id, _, _)| id);
///     if let Some((rx, sink)) = running.and_then(|id| listener.transfer_and_admit_mut(id)) {
///         let _ = sink.take(rx, now);
///     }
///     let _ = listener.admit_mut().erase_ahead();
/// })
/// .await;
/// # }
/// ```
pub async fn run_with<En, S>(
    socket: &mut UdpSocket<'_>,
    engine: &mut En,
    mut report: impl FnMut(Report<En::Event>),
    mut step: S,
) -> Result<(), SendError>
where
    En: Engine<Endpoint = IpEndpoint>,
    S: FnMut(&mut En, &[En::Event]),
{
    drive(socket, engine, &mut StepPump(&mut step), &mut report, Unreachable::Dropped).await
}

/// embassy-time's clock as rudp's [`Instant`] (microseconds since boot): what the engines'
/// constructors take as `now`.
///
/// ```
/// use rudp_nostd::{Receiver, ReceiverConfig, embassy};
///
/// let receiver: Receiver<embassy_net::IpEndpoint> = Receiver::new(ReceiverConfig::new(1), embassy::now());
/// # let _ = receiver;
/// ```
pub fn now() -> Instant {
    embassy_time::Instant::now().into()
}

/// Ok on success, else the failure reported.
fn outcome(succeeded: bool, failure: Option<Error>) -> Result<(), DriverError> {
    match (succeeded, failure) {
        (true, _) => Ok(()),
        (false, Some(error)) => Err(DriverError::Failed(error)),
        (false, None) => Err(DriverError::Ended),
    }
}

/// What a frame for an unaddressable peer does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unreachable {
    /// Ends the call: the application chose the peer.
    Fails,
    /// Is lost, as UDP loses a datagram: the peer came from the network.
    Dropped,
}

/// The application events of one engine call.
type Events<Ev> = heapless::Vec<Ev, MAX_EVENTS_PER_CALL>;

/// What moves the application's data for an engine: after each datagram or timer event, with
/// the events it gave; it reports them (and the failures it causes) in order.
trait Pump<En: Engine> {
    async fn pump<F: FnMut(Report<En::Event>)>(
        &mut self,
        engine: &mut En,
        events: Events<En::Event>,
        report: &mut F,
    );
}

/// The loop every call runs: send, sleep until a datagram or the next timer, take the
/// datagrams in, let the timers run.
async fn drive<En, P, F>(
    socket: &mut UdpSocket<'_>,
    engine: &mut En,
    pump: &mut P,
    report: &mut F,
    unreachable: Unreachable,
) -> Result<(), SendError>
where
    En: Engine<Endpoint = IpEndpoint>,
    P: Pump<En>,
    F: FnMut(Report<En::Event>),
{
    // A call after an interrupted one: the sender may have room already.
    pump.pump(engine, Events::new(), report).await;
    loop {
        transmit(socket, engine, report, unreachable).await?;
        if engine.is_done() {
            return Ok(());
        }
        // With every frame sent, this is the engine's next timer (or none).
        let deadline = engine.poll_timeout();
        match deadline {
            Some(at) => {
                select(socket.wait_recv_ready(), Timer::at(at.into())).await;
            }
            None => socket.wait_recv_ready().await,
        }
        // Every datagram already waiting is taken in before anything is sent (as
        // `transport::poll` does): a receiver covers a batch with one ACK, and ACKs that
        // arrived by the deadline count before the retransmission timer runs.
        for _ in 0..MAX_DATAGRAMS_PER_POLL {
            if !socket.may_recv() {
                break;
            }
            let at = now();
            let handled = socket
                .recv_from_with(|datagram, meta| engine.handle_datagram(at, meta.endpoint, datagram))
                .await;
            report(Report::Trace(handled.trace));
            pump.pump(engine, handled.events, report).await;
        }
        let at = now();
        if deadline.is_some_and(|deadline| deadline <= at) {
            // Early is harmless (a datagram may have moved the timer): the engine checks.
            for _ in 0..MAX_TIMER_EVENTS_PER_WAKE {
                let Some(event) = engine.handle_timeout(at) else { break };
                let mut events = Events::new();
                push(&mut events, event);
                pump.pump(engine, events, report).await;
            }
        }
    }
}

/// Sends what the engine has to send (a full transmit buffer waits for the stack).
async fn transmit<En, F>(
    socket: &UdpSocket<'_>,
    engine: &mut En,
    report: &mut F,
    unreachable: Unreachable,
) -> Result<(), SendError>
where
    En: Engine<Endpoint = IpEndpoint>,
    F: FnMut(Report<En::Event>),
{
    let mut wait = MAX_SEND_WAIT;
    for _ in 0..MAX_TRANSMITS_PER_TURN {
        let Some(transmit) = engine.poll_transmit(now()) else { break };
        let trace = transmit.trace;
        // With no wait left the send is tried once (the timer is due at its first poll).
        match select(socket.send_to(transmit.datagram, transmit.to), Timer::after(wait)).await {
            Either::First(Ok(())) => report(Report::Trace(trace)),
            // No room: lost (not traced: it never left).
            Either::Second(()) => wait = embassy_time::Duration::from_ticks(0),
            Either::First(Err(SendError::NoRoute)) if unreachable == Unreachable::Dropped => {}
            Either::First(Err(error)) => return Err(error),
        }
    }
    Ok(())
}

/// Adds an event; the engines never give more than [`MAX_EVENTS_PER_CALL`] with the one a
/// pump adds (should one ever, the extra is dropped rather than panicking).
fn push<Ev>(events: &mut Events<Ev>, event: Ev) {
    let pushed = events.push(event);
    debug_assert!(pushed.is_ok(), "more than MAX_EVENTS_PER_CALL events");
}

/// Reports each event.
fn report_all<Ev, F: FnMut(Report<Ev>)>(events: Events<Ev>, report: &mut F) {
    for event in events {
        report(Report::Event(event));
    }
}

/// For engines that move their own data.
struct NoPump;

impl<En: Engine> Pump<En> for NoPump {
    async fn pump<F: FnMut(Report<En::Event>)>(
        &mut self,
        _: &mut En,
        events: Events<En::Event>,
        report: &mut F,
    ) {
        report_all(events, report);
    }
}

/// The application's blocking step ([`run_with`]).
struct StepPump<'a, S>(&'a mut S);

impl<En: Engine, S: FnMut(&mut En, &[En::Event])> Pump<En> for StepPump<'_, S> {
    async fn pump<F: FnMut(Report<En::Event>)>(
        &mut self,
        engine: &mut En,
        events: Events<En::Event>,
        report: &mut F,
    ) {
        (self.0)(engine, &events);
        report_all(events, report);
    }
}

/// A sender's data from an async source.
struct SourcePump<'a, R>(&'a mut R);

impl<R: Read, const W: usize> Pump<Sender<IpEndpoint, W>> for SourcePump<'_, R> {
    async fn pump<F: FnMut(Report<SenderEvent>)>(
        &mut self,
        sender: &mut Sender<IpEndpoint, W>,
        events: Events<SenderEvent>,
        report: &mut F,
    ) {
        report_all(events, report);
        // Nothing is read before the receiver has answered (as `SourceSender`).
        if sender.conn() != 0
            && !sender.is_done()
            && let Some(failure) = asynch::fill_from(sender, self.0).await
        {
            report(Report::Event(failure));
        }
    }
}

/// A receiver's data to an async sink; flushing it commits.
struct SinkPump<'a, K>(&'a mut K);

impl<K: Write, const W: usize, const H: usize> Pump<Receiver<IpEndpoint, W, H>> for SinkPump<'_, K> {
    async fn pump<F: FnMut(Report<ReceiverEvent>)>(
        &mut self,
        receiver: &mut Receiver<IpEndpoint, W, H>,
        mut events: Events<ReceiverEvent>,
        report: &mut F,
    ) {
        if let Some(failure) = asynch::write_readable(receiver, self.0, now()).await {
            push(&mut events, failure);
        } else if events.contains(&ReceiverEvent::Finished) {
            // All data is in and written: flush, then the FIN is answered.
            match self.0.flush().await {
                Ok(()) => receiver.committed(now()),
                Err(error) => {
                    receiver.commit_failed(now());
                    // Not finished after all: the output is not complete on the sink.
                    events.retain(|event| *event != ReceiverEvent::Finished);
                    push(&mut events, ReceiverEvent::Failed(Error::Sink(error.kind())));
                }
            }
        }
        report_all(events, report);
    }
}

/// A listener's transfers to the application's [`TransferSink`].
struct TransferPump<'a, S>(&'a mut S);

impl<S: TransferSink> TransferPump<'_, S> {
    /// Writes what transfer `id` has in order; reports the failure it causes.
    async fn drain<A, F, const M: usize, const W: usize, const H: usize>(
        &mut self,
        listener: &mut Listener<IpEndpoint, A, M, W, H>,
        id: TransferId,
        tag: u32,
        report: &mut F,
    ) where
        A: Admit<IpEndpoint>,
        F: FnMut(Report<ListenerEvent>),
    {
        // Each pass takes at least one byte or ends the transfer: bounded by its slots.
        loop {
            let Some(receiver) = listener.transfer_mut(id) else { return };
            let data = receiver.readable();
            if data.is_empty() {
                return;
            }
            let failure = match self.0.write(id, tag, data).await {
                Ok(0) => Error::Sink(ErrorKind::WriteZero),
                Ok(n) => {
                    let n = n.min(data.len());
                    receiver.consume(n);
                    continue;
                }
                Err(error) => Error::Sink(error.kind()),
            };
            let event = receiver.abort(now(), failure);
            report(Report::Event(ListenerEvent { id, tag, event }));
            if let ReceiverEvent::Failed(error) = event {
                self.0.failed(id, tag, error).await;
            }
            return;
        }
    }
}

impl<S, A, const M: usize, const W: usize, const H: usize> Pump<Listener<IpEndpoint, A, M, W, H>>
    for TransferPump<'_, S>
where
    S: TransferSink,
    A: Admit<IpEndpoint>,
{
    async fn pump<F: FnMut(Report<ListenerEvent>)>(
        &mut self,
        listener: &mut Listener<IpEndpoint, A, M, W, H>,
        events: Events<ListenerEvent>,
        report: &mut F,
    ) {
        // Data first, every transfer's: a FIN is taken only once the data before it is.
        // Each pass empties one transfer (or ends it): at most M passes.
        for _ in 0..M {
            let waiting = listener.transfers().find(|(_, _, receiver)| !receiver.readable().is_empty());
            let Some((id, tag, _)) = waiting else { break };
            self.drain(listener, id, tag, report).await;
        }
        for event in events {
            let ListenerEvent { id, tag, event: what } = event;
            match what {
                ReceiverEvent::Finished => match self.0.commit(id, tag).await {
                    Ok(()) => {
                        if let Some(receiver) = listener.transfer_mut(id) {
                            receiver.committed(now());
                        }
                        report(Report::Event(event));
                    }
                    Err(error) => {
                        if let Some(receiver) = listener.transfer_mut(id) {
                            receiver.commit_failed(now());
                        }
                        let error = Error::Sink(error.kind());
                        report(Report::Event(ListenerEvent { id, tag, event: ReceiverEvent::Failed(error) }));
                        self.0.failed(id, tag, error).await;
                    }
                },
                ReceiverEvent::Failed(error) => {
                    report(Report::Event(event));
                    self.0.failed(id, tag, error).await;
                }
                _ => report(Report::Event(event)),
            }
        }
    }
}

// smoltcp's endpoint, which embassy-net uses: the same smoltcp (0.13) as the crate's `smoltcp`
// feature, which implements it in `listener.rs` when it is on.
#[cfg(not(feature = "smoltcp"))]
impl crate::listener::SameHost for IpEndpoint {
    fn same_host(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}

impl From<embassy_time::Instant> for Instant {
    /// Microseconds since boot.
    fn from(t: embassy_time::Instant) -> Instant {
        Instant::from_micros(t.as_micros())
    }
}

impl From<Instant> for embassy_time::Instant {
    /// Saturates at embassy-time's largest instant (a tick rate above 1 MHz can overflow).
    fn from(t: Instant) -> embassy_time::Instant {
        embassy_time::Instant::try_from_micros(t.as_micros()).unwrap_or(embassy_time::Instant::MAX)
    }
}

impl From<embassy_time::Duration> for Duration {
    fn from(d: embassy_time::Duration) -> Duration {
        Duration::from_micros(d.as_micros())
    }
}

impl From<Duration> for embassy_time::Duration {
    /// Saturates at embassy-time's longest duration.
    fn from(d: Duration) -> embassy_time::Duration {
        embassy_time::Duration::try_from_micros(d.as_micros()).unwrap_or(embassy_time::Duration::MAX)
    }
}
