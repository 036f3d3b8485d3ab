//! Links the rudp-nostd sender and receiver (or, with feature `listener`, a sender and a
//! [`Listener`](rudp_nostd::Listener); with feature `flash`, a sender and a listener that writes
//! into a flash sink) into a bare-metal binary that has its own
//! `#[panic_handler]` and no `#[global_allocator]`: if the core ever pulled in `std` or
//! `alloc`, this would fail to build or to link. It runs one transfer through an in-memory
//! loopback [`Transport`], so that every engine path is kept by the linker.
//!
//! Built in release mode it also proves the engines panic-free: see the panic handler.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
#[cfg(not(any(feature = "baseline", feature = "sans-io")))]
use rudp_nostd::MAX_FRAME;
#[cfg(all(feature = "flash", not(any(feature = "baseline", feature = "listener"))))]
use rudp_nostd::SameHost;
#[cfg(not(any(feature = "baseline", feature = "sans-io")))]
use rudp_nostd::transport::{self, Received, Report, Transport};
#[cfg(all(feature = "listener", not(feature = "baseline")))]
use rudp_nostd::{Admission, Admit, Listener, ListenerConfig, Offer, RefuseReason, SameHost};
#[cfg(not(feature = "baseline"))]
use rudp_nostd::{Duration, Engine, Instant, ReceiverEvent, Sender, SenderConfig};
#[cfg(not(any(feature = "baseline", feature = "listener", feature = "flash")))]
use rudp_nostd::{Receiver, ReceiverConfig};

/// The engines' window: 1 (stop-and-wait, the default build) or 32 (feature `window32`),
/// so that CI proves both kinds free of panics.
#[cfg(not(any(feature = "baseline", feature = "sans-io", feature = "window32")))]
const WINDOW: usize = 1;
#[cfg(all(feature = "window32", not(any(feature = "baseline", feature = "sans-io"))))]
const WINDOW: usize = 32;

/// The sender's configuration: with feature `crc32c` or `sha256` it offers that digest, so that
/// `scripts/footprint.sh` can tell what each costs.
#[cfg(not(feature = "baseline"))]
fn sender_config() -> SenderConfig {
    #[allow(unused_mut)]
    let mut config = SenderConfig::new(black_box(1));
    #[cfg(feature = "crc32c")]
    {
        config.digest = black_box(Some(rudp_nostd::DigestAlgorithm::Crc32c));
    }
    #[cfg(feature = "sha256")]
    {
        config.digest = black_box(Some(rudp_nostd::DigestAlgorithm::Sha256));
    }
    config
}

/// Which engine an endpoint is.
#[cfg(not(feature = "baseline"))]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Node {
    Sender,
    Receiver,
}

#[cfg(not(any(feature = "baseline", feature = "sans-io")))]
/// One datagram slot per direction: what one side sends, the other receives.
struct Loopback {
    slots: [([u8; MAX_FRAME], usize, bool); 2],
    rx: [u8; MAX_FRAME],
}

#[cfg(not(any(feature = "baseline", feature = "sans-io")))]
/// The transport as seen from one side.
struct Side<'a> {
    link: &'a mut Loopback,
    me: Node,
}

#[cfg(not(any(feature = "baseline", feature = "sans-io")))]
impl Transport for Side<'_> {
    type Endpoint = Node;
    type Error = core::convert::Infallible;

    fn send_to(&mut self, to: Node, datagram: &[u8]) -> Result<(), Self::Error> {
        let slot = &mut self.link.slots[to as usize];
        let len = datagram.len().min(MAX_FRAME);
        slot.0[..len].copy_from_slice(&datagram[..len]);
        slot.1 = len;
        slot.2 = true;
        Ok(())
    }

    fn recv_from(&mut self) -> Result<Option<Received<'_, Node>>, Self::Error> {
        let slot = &mut self.link.slots[self.me as usize];
        if !slot.2 {
            return Ok(None);
        }
        slot.2 = false;
        let len = slot.1.min(MAX_FRAME);
        self.link.rx[..len].copy_from_slice(&slot.0[..len]);
        let from = match self.me {
            Node::Sender => Node::Receiver,
            Node::Receiver => Node::Sender,
        };
        Ok(Some((from, &self.link.rx[..len])))
    }
}

/// Without the engines (feature `baseline`): the start-up code and a loop, so that
/// `scripts/footprint.sh` can tell what the engines themselves cost.
#[cfg(feature = "baseline")]
#[entry]
fn main() -> ! {
    black_box(rudp_nostd::MAX_FRAME);
    loop {
        core::hint::spin_loop();
    }
}

/// The engines alone, driven through their sans-IO API with no transport and no driver
/// (feature `sans-io`): what `scripts/footprint.sh` reports as the core engine's flash. The
/// application's data goes in and out zero-copy: written into the sender's frame buffers
/// (`write_buf`/`advance`), taken from the receiver's payload slots (`readable`/`consume`).
#[cfg(all(feature = "sans-io", not(any(feature = "baseline", feature = "listener", feature = "flash"))))]
#[entry]
fn main() -> ! {
    let data: &[u8] = black_box(b"a transfer that proves the engines link without std or alloc");
    let mut out = [0u8; 128];
    let (mut written, mut received) = (0, 0);
    let mut sender: Sender<Node> = Sender::new(sender_config(), Node::Receiver, Instant::ZERO);
    let mut receiver: Receiver<Node> = Receiver::new(ReceiverConfig::new(black_box(2)), Instant::ZERO);
    let mut now = Instant::ZERO;
    for _ in 0..10_000 {
        // The application fills the sender's frame buffer and says when its data ends.
        let rest = data.get(written..).unwrap_or(&[]);
        let buf = sender.write_buf();
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        sender.advance(n);
        written += n;
        if written == data.len() {
            black_box(sender.finish());
        }
        let mut moved = false;
        while let Some(t) = sender.poll_transmit(now) {
            black_box(t.trace);
            let handled = receiver.handle_datagram(now, Node::Sender, t.datagram);
            if handled.events.contains(&ReceiverEvent::Finished) {
                // All data is in (and taken): commit, then the FIN is answered.
                receiver.committed(now);
            }
            black_box(handled);
            moved = true;
        }
        // The application takes what arrived; only then is it acknowledged.
        let readable = receiver.readable();
        let slot = out.get_mut(received..).unwrap_or(&mut []);
        let n = readable.len().min(slot.len());
        slot[..n].copy_from_slice(&readable[..n]);
        receiver.consume(n);
        received += n;
        while let Some(t) = receiver.poll_transmit(now) {
            black_box(t.trace);
            black_box(sender.handle_datagram(now, Node::Receiver, t.datagram));
            moved = true;
        }
        if sender.is_done() && receiver.is_done() {
            break;
        }
        if !moved {
            now = now + Duration::from_millis(1);
            black_box((sender.poll_timeout(), receiver.poll_timeout()));
            black_box(sender.handle_timeout(now));
            black_box(receiver.handle_timeout(now));
        }
    }
    black_box(out.get(..received));
    loop {
        core::hint::spin_loop();
    }
}

/// The listener's pool: 1 transfer, or 4 with feature `listener4` (each W = 1, H = 4).
#[cfg(all(feature = "listener", not(any(feature = "baseline", feature = "listener4"))))]
const POOL: usize = 1;
#[cfg(all(feature = "listener4", not(feature = "baseline")))]
const POOL: usize = 4;

/// Each endpoint its own host (the listener's per-host cap counts by address).
#[cfg(all(any(feature = "listener", feature = "flash"), not(feature = "baseline")))]
impl SameHost for Node {
    fn same_host(&self, other: &Self) -> bool {
        self == other
    }
}

/// The application's admission policy: a size limit and a name check, as a server has.
#[cfg(all(feature = "listener", not(feature = "baseline")))]
struct Policy {
    max_size: u64,
}

#[cfg(all(feature = "listener", not(feature = "baseline")))]
impl Admit<Node> for Policy {
    fn admit(&mut self, offer: &Offer<'_, Node>) -> Admission {
        if offer.transfer_size.is_some_and(|size| size > self.max_size) {
            Admission::Refuse(RefuseReason::TooLarge)
        } else if offer.name.is_none_or(|name| name.first() == Some(&b'.')) {
            Admission::Refuse(RefuseReason::Name)
        } else if offer.object_id.is_some() {
            // It "holds" the first frame of the object: resume (SPEC §10.5; with feature
            // `sha256` only, which resume needs).
            Admission::Resume { tag: black_box(7), from: black_box(512) }
        } else {
            Admission::Take(black_box(7))
        }
    }
}

/// A sender into a [`Listener`] (feature `listener`, `listener4`), both through their sans-IO
/// API: what `scripts/footprint.sh` reports as the listener's flash. The sender names its
/// object (the listener asks the policy); the application takes each transfer's data from its
/// receiver (`transfer_mut`: `readable`/`consume`) and commits it when it is complete.
#[cfg(all(feature = "listener", not(feature = "baseline")))]
#[entry]
fn main() -> ! {
    let data: &[u8] = black_box(b"a transfer that proves the listener links without std or alloc");
    let mut out = [0u8; 128];
    let (mut written, mut received) = (0, 0);
    let config = SenderConfig { transfer_size: Some(data.len() as u64), ..sender_config() };
    let mut sender: Sender<Node> = Sender::new(config, Node::Receiver, Instant::ZERO);
    black_box(sender.offer_name(black_box(b"link-check.bin")));
    // Resume needs SHA-256: with feature `sha256` the sender offers it and the policy grants it.
    black_box(sender.offer_object_id(black_box(&[9; 16])));
    let policy = Policy { max_size: black_box(1 << 20) };
    let mut listener: Listener<Node, Policy, POOL, 1, 4> =
        Listener::new(ListenerConfig::new(black_box(2)), policy, Instant::ZERO);
    let mut transfer = None;
    let mut now = Instant::ZERO;
    for _ in 0..10_000 {
        // Resumed: the object's first bytes go to the digest, then the data from there.
        while sender.prefix_left() > 0 {
            let at = written;
            let buf = sender.prefix_buf();
            let src = data.get(at..).unwrap_or(&[]);
            let n = buf.len().min(src.len());
            buf[..n].copy_from_slice(&src[..n]);
            sender.advance_prefix(n);
            written += n;
            if n == 0 {
                break;
            }
        }
        let rest = data.get(written..).unwrap_or(&[]);
        let buf = sender.write_buf();
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        sender.advance(n);
        written += n;
        if written == data.len() {
            black_box(sender.finish());
        }
        let mut moved = false;
        while let Some(t) = sender.poll_transmit(now) {
            black_box(t.trace);
            let handled = listener.handle_datagram(now, Node::Sender, t.datagram);
            for event in &handled.events {
                match event.event {
                    ReceiverEvent::Connected { .. } => {
                        transfer = Some(event.id);
                        // A resumed transfer: the application gives the bytes it holds to
                        // the digest.
                        if let Some(receiver) = listener.transfer_mut(event.id) {
                            let held = receiver.resume_from() as usize;
                            receiver.hash_prefix(data.get(..held).unwrap_or(&[]));
                        }
                    }
                    // All data is in (and taken): commit, then the FIN is answered.
                    ReceiverEvent::Finished => {
                        if let Some(receiver) = listener.transfer_mut(event.id) {
                            receiver.committed(now);
                        }
                    }
                    _ => {}
                }
            }
            black_box(handled);
            moved = true;
        }
        // The application takes what arrived; only then is it acknowledged.
        if let Some(receiver) = transfer.and_then(|id| listener.transfer_mut(id)) {
            let readable = receiver.readable();
            let slot = out.get_mut(received..).unwrap_or(&mut []);
            let n = readable.len().min(slot.len());
            slot[..n].copy_from_slice(&readable[..n]);
            receiver.consume(n);
            received += n;
        }
        while let Some(t) = listener.poll_transmit(now) {
            black_box(t.trace);
            black_box(sender.handle_datagram(now, Node::Receiver, t.datagram));
            moved = true;
        }
        if sender.is_done() {
            listener.stop_accepting();
        }
        if sender.is_done() && listener.is_done() {
            break;
        }
        if !moved {
            now = now + Duration::from_millis(1);
            black_box((sender.poll_timeout(), listener.poll_timeout()));
            black_box(sender.handle_timeout(now));
            while let Some(event) = listener.handle_timeout(now) {
                black_box(event);
            }
        }
    }
    black_box(out.get(..received));
    loop {
        core::hint::spin_loop();
    }
}

/// A NOR flash in RAM for feature `flash`: 8 KiB, 1 KiB sectors, 4-byte words; a write only
/// clears bits. Its calls have no panic path either (no index, no `copy_from_slice`).
#[cfg(all(feature = "flash", not(any(feature = "baseline", feature = "listener"))))]
mod ram_flash {
    use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

    pub struct RamFlash<const N: usize>(pub [u8; N]);

    impl<const N: usize> RamFlash<N> {
        fn cells(&mut self, offset: u32, len: usize) -> Result<&mut [u8], NorFlashErrorKind> {
            let at = offset as usize;
            self.0.get_mut(at..at.saturating_add(len)).ok_or(NorFlashErrorKind::OutOfBounds)
        }
    }

    impl<const N: usize> ErrorType for RamFlash<N> {
        type Error = NorFlashErrorKind;
    }

    impl<const N: usize> ReadNorFlash for RamFlash<N> {
        const READ_SIZE: usize = 1;

        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
            let len = bytes.len();
            for (to, from) in bytes.iter_mut().zip(self.cells(offset, len)?.iter()) {
                *to = *from;
            }
            Ok(())
        }

        fn capacity(&self) -> usize {
            self.0.len()
        }
    }

    impl<const N: usize> NorFlash for RamFlash<N> {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = 1024;

        fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
            self.cells(from, to.saturating_sub(from) as usize)?.fill(0xff);
            Ok(())
        }

        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
            for (cell, byte) in self.cells(offset, bytes.len())?.iter_mut().zip(bytes) {
                *cell &= *byte;
            }
            Ok(())
        }
    }
}

/// A sender into a [`Listener`] whose admission and application is a flash sink (feature
/// `flash`), both through their sans-IO API: what `scripts/footprint.sh` reports as the sink's
/// flash. The listener's receivers give the digest what the sink reads back; the sink takes
/// each transfer's data to the flash, erases ahead while the loop waits, and commits.
#[cfg(all(feature = "flash", not(any(feature = "baseline", feature = "listener"))))]
#[entry]
fn main() -> ! {
    use rudp_nostd::flash::{FlashSink, Layout};
    use rudp_nostd::{Listener, ListenerConfig, ReceiverConfig};

    let data: &[u8] = black_box(b"a transfer that proves the flash sink links without std or alloc");
    let mut written = 0;
    let config = SenderConfig { transfer_size: Some(data.len() as u64), ..sender_config() };
    let mut sender: Sender<Node> = Sender::new(config, Node::Receiver, Instant::ZERO);
    // Resume needs SHA-256: with feature `sha256` the sink grants it from its record.
    black_box(sender.offer_object_id(black_box(&[9; 16])));
    let layout = Layout { image_start: 0, image_len: black_box(6144), state_start: 6144 };
    let Ok(sink) = FlashSink::<_, 512>::open(ram_flash::RamFlash([0xff; 8192]), layout) else {
        loop {
            core::hint::spin_loop();
        }
    };
    // Feature `boot`: the sink inside the embassy-boot adapter, embassy-boot's STATE partition
    // a second flash in RAM; `finished` marks the update.
    #[cfg(feature = "boot")]
    let mut aligned = [0u8; 4];
    #[cfg(feature = "boot")]
    let sink = rudp_nostd::flash::BootSink::new(
        sink,
        embassy_boot::BlockingFirmwareState::new(ram_flash::RamFlash([0xff; 1024]), &mut aligned),
    );
    let receiver = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(black_box(2)) };
    let mut listener: Listener<Node, _, 1, 1, 4> =
        Listener::new(ListenerConfig { receiver, ..ListenerConfig::new(2) }, sink, Instant::ZERO);
    let mut transfer = None;
    let mut now = Instant::ZERO;
    for _ in 0..10_000 {
        while sender.prefix_left() > 0 {
            let at = (sender.resume_from() - sender.prefix_left()) as usize;
            let buf = sender.prefix_buf();
            let src = data.get(at..).unwrap_or(&[]);
            let n = buf.len().min(src.len());
            buf[..n].copy_from_slice(&src[..n]);
            sender.advance_prefix(n);
            if n == 0 {
                break;
            }
        }
        let rest = data.get(written..).unwrap_or(&[]);
        let buf = sender.write_buf();
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        sender.advance(n);
        written += n;
        if written == data.len() {
            black_box(sender.finish());
        }
        let mut moved = false;
        while let Some(t) = sender.poll_transmit(now) {
            black_box(t.trace);
            let handled = listener.handle_datagram(now, Node::Sender, t.datagram);
            for event in &handled.events {
                match event.event {
                    ReceiverEvent::Connected { transfer_size, .. } => {
                        transfer = Some(event.id);
                        if let Some((rx, sink)) = listener.transfer_and_admit_mut(event.id) {
                            black_box(sink.connected(rx, now, event.tag, transfer_size).is_ok());
                        }
                    }
                    ReceiverEvent::Finished => {
                        if let Some((rx, sink)) = listener.transfer_and_admit_mut(event.id) {
                            black_box(sink.finished(rx, now).map(|c| c.len).ok());
                        }
                    }
                    ReceiverEvent::Failed(error) => {
                        black_box(listener.admit_mut().failed(event.tag, error).is_ok());
                    }
                    _ => {}
                }
            }
            black_box(handled);
            moved = true;
        }
        if let Some((rx, sink)) = transfer.and_then(|id| listener.transfer_and_admit_mut(id)) {
            black_box(sink.take(rx, now).ok());
        }
        while let Some(t) = listener.poll_transmit(now) {
            black_box(t.trace);
            black_box(sender.handle_datagram(now, Node::Receiver, t.datagram));
            moved = true;
        }
        black_box(listener.admit_mut().erase_ahead().ok());
        if sender.is_done() {
            listener.stop_accepting();
        }
        if sender.is_done() && listener.is_done() {
            break;
        }
        if !moved {
            now = now + Duration::from_millis(1);
            black_box((sender.poll_timeout(), listener.poll_timeout()));
            black_box(sender.handle_timeout(now));
            while let Some(event) = listener.handle_timeout(now) {
                black_box(event);
            }
        }
    }
    #[cfg(not(feature = "boot"))]
    black_box(listener.admit_mut().committed());
    #[cfg(feature = "boot")]
    black_box((listener.admit_mut().sink().committed(), listener.admit_mut().is_marked()));
    loop {
        core::hint::spin_loop();
    }
}

/// The engines under the [`transport::poll`] driver over a loopback transport, the data going
/// through their copying calls (`write`, `read`) between polls.
#[cfg(not(any(feature = "baseline", feature = "sans-io")))]
#[entry]
fn main() -> ! {
    let data: &[u8] = black_box(b"a transfer that proves the engines link without std or alloc");
    let mut out = [0u8; 128];
    let (mut written, mut received) = (0, 0);
    let mut link = Loopback { slots: [([0; MAX_FRAME], 0, false); 2], rx: [0; MAX_FRAME] };
    let mut sender: Sender<Node, WINDOW> = Sender::new(sender_config(), Node::Receiver, Instant::ZERO);
    let mut receiver: Receiver<Node, WINDOW> =
        Receiver::new(ReceiverConfig::new(black_box(2)), Instant::ZERO);
    let mut now = Instant::ZERO;
    for _ in 0..10_000 {
        written += sender.write(data.get(written..).unwrap_or(&[]));
        if written == data.len() {
            black_box(sender.finish());
        }
        let a = transport::poll(&mut sender, &mut Side { link: &mut link, me: Node::Sender }, now, |r| {
            black_box(r);
        });
        let mut finished = false;
        let b = transport::poll(&mut receiver, &mut Side { link: &mut link, me: Node::Receiver }, now, |r| {
            finished |= r == Report::Event(ReceiverEvent::Finished);
            black_box(r);
        });
        if finished {
            // All data is in (and taken): commit; the next poll answers the FIN.
            receiver.committed(now);
        }
        received += receiver.read(out.get_mut(received..).unwrap_or(&mut []));
        if sender.is_done() && receiver.is_done() {
            break;
        }
        black_box((a.is_ok(), b.is_ok()));
        // Every datagram is taken within the same round: one millisecond per round is a
        // loopback with a 1 ms round trip.
        now = now + Duration::from_millis(1);
    }
    black_box(out.get(..received));
    loop {
        core::hint::spin_loop();
    }
}

/// In release builds this handler is the proof that the engines cannot panic: it calls a
/// function that exists nowhere, so the binary links only if the optimizer removed every path
/// to a panic (an index out of bounds, an overflow, an `unwrap`) from the code it links.
#[cfg(not(debug_assertions))]
#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    unsafe extern "C" {
        /// Deliberately undefined: see above.
        fn rudp_nostd_has_a_reachable_panic() -> !;
    }
    // SAFETY: never called in a binary that links (the symbol does not exist).
    unsafe { rudp_nostd_has_a_reachable_panic() }
}

/// Debug builds keep their overflow checks: an ordinary handler.
#[cfg(debug_assertions)]
#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
