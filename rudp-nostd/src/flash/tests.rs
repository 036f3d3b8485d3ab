//! The flash sink against the NOR emulator ([`super::emulated`]): transfers land byte for byte
//! and padded, refusals come before any erase, a flash error refuses with reason 4, a bad write
//! fails the read-back digest, a cut transfer resumes. Power cuts at random points are the
//! simulator's (`sim::flash`).

use std::vec::Vec;

use embedded_storage::nor_flash::NorFlash;

use super::emulated::NorEmulator;
use super::*;
use crate::testing::t;
use crate::{
    Engine, Error, Instant, Listener, ListenerConfig, ListenerEvent, ReceiverConfig, ReceiverEvent, Sender,
    SenderConfig, SenderEvent,
};

/// 4-byte words, 4 KiB sectors, 64 KiB: a 56 KiB image region, the records after it.
type Emu = NorEmulator<4, 4096>;
const LAYOUT: Layout = Layout { image_start: 0, image_len: 56 * 1024, state_start: 56 * 1024 };

type Pool<F, const B: usize, const W: usize> = Listener<u8, FlashSink<F, B>, 1, W>;

fn listener<F: NorFlash, const B: usize, const W: usize>(sink: FlashSink<F, B>) -> Pool<F, B, W> {
    let receiver = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(11) };
    Listener::new(ListenerConfig { receiver, ..ListenerConfig::new(11) }, sink, t(0))
}

/// A sender of `data` with its size and SHA-256, offering `object_id` when given.
fn sender<const W: usize>(seed: u64, data: &[u8], object_id: Option<&[u8]>) -> Sender<u8, W> {
    let config = SenderConfig {
        transfer_size: Some(data.len() as u64),
        digest: Some(DigestAlgorithm::Sha256),
        ..SenderConfig::new(seed)
    };
    let mut sender = Sender::new(config, 0, t(0));
    if let Some(id) = object_id {
        assert!(sender.offer_object_id(id));
    }
    sender
}

/// What a run did.
#[derive(Default, Debug)]
struct Ran {
    sender: Vec<SenderEvent>,
    listener: Vec<ReceiverEvent>,
    errors: Vec<FlashError<super::emulated::EmuError>>,
    committed: Option<Committed>,
    /// The resume point both sides used.
    resumed_from: Option<u64>,
    /// Bytes the sink took.
    taken: u64,
}

impl Ran {
    fn sender_failed(&self) -> Option<Error> {
        self.sender.iter().find_map(|e| match e {
            SenderEvent::Failed(e) => Some(*e),
            _ => None,
        })
    }
}

/// Runs `sender` (of `data`) into `l` over a perfect in-memory link, the application as a
/// firmware runs it (the module docs' loop), until both are over, or, with `stop_at`, until the
/// listener holds that many bytes: then the sender is dropped (it vanishes) and the run goes on
/// until the listener's transfer has timed out.
fn run<F: NorFlash<Error = super::emulated::EmuError>, const B: usize, const W: usize>(
    l: &mut Pool<F, B, W>,
    mut sender: Sender<u8, W>,
    data: &[u8],
    now: &mut Instant,
    stop_at: Option<u64>,
) -> Ran {
    let mut ran = Ran::default();
    let (mut written, mut finished, mut transfer, mut taken) = (None::<usize>, false, None, 0u64);
    let mut vanished = false;
    for _ in 0..1_000_000 {
        if (vanished || sender.is_done()) && l.running() == 0 {
            break;
        }
        let mut moved = false;
        if !vanished {
            // The sender's application: the held prefix to its digest, then the data.
            while sender.prefix_left() > 0 {
                let at = (sender.resume_from() - sender.prefix_left()) as usize;
                let room = sender.prefix_buf();
                let n = room.len();
                room.copy_from_slice(&data[at..at + n]);
                sender.advance_prefix(n);
            }
            if let Some(w) = &mut written {
                *w += sender.write(&data[*w..]);
                if *w == data.len() && !finished {
                    finished = true;
                    ran.sender.extend(sender.finish());
                }
            }
            while let Some(tx) = sender.poll_transmit(*now) {
                let handled = l.handle_datagram(*now, 1, tx.datagram);
                hear(l, &handled.events, *now, &mut transfer, &mut ran);
                moved = true;
            }
        }
        if let Some((rx, sink)) = transfer.and_then(|id| l.transfer_and_admit_mut(id)) {
            match sink.take(rx, *now) {
                Ok(n) => taken += n as u64,
                Err(e) => ran.errors.push(e),
            }
        }
        while let Some(tx) = l.poll_transmit(*now) {
            if !vanished {
                for e in sender.handle_datagram(*now, 0, tx.datagram).events {
                    if let SenderEvent::Connected { .. } = e {
                        written = Some(sender.resume_from() as usize);
                        ran.resumed_from = Some(sender.resume_from());
                    }
                    ran.sender.push(e);
                }
            }
            moved = true;
        }
        if let Err(e) = l.admit_mut().erase_ahead() {
            ran.errors.push(e);
        }
        if stop_at.is_some_and(|at| taken >= at) && !vanished {
            vanished = true;
        }
        if !moved {
            let sender_next = if vanished { None } else { sender.poll_timeout() };
            let Some(next) = sender_next.into_iter().chain(l.poll_timeout()).min() else { break };
            *now = next.max(*now);
            if !vanished && let Some(e) = sender.handle_timeout(*now) {
                ran.sender.push(e);
            }
            while let Some(e) = l.handle_timeout(*now) {
                hear(l, &[e], *now, &mut transfer, &mut ran);
            }
        }
    }
    ran.taken = taken;
    ran
}

/// The application's part of a listener event (the module docs' loop).
fn hear<F: NorFlash<Error = super::emulated::EmuError>, const B: usize, const W: usize>(
    l: &mut Pool<F, B, W>,
    events: &[ListenerEvent],
    now: Instant,
    transfer: &mut Option<crate::TransferId>,
    ran: &mut Ran,
) {
    for e in events {
        ran.listener.push(e.event);
        match e.event {
            ReceiverEvent::Connected { transfer_size, .. } => {
                *transfer = Some(e.id);
                if let Some((rx, sink)) = l.transfer_and_admit_mut(e.id)
                    && let Err(err) = sink.connected(rx, now, e.tag, transfer_size)
                {
                    ran.errors.push(err);
                }
            }
            ReceiverEvent::Finished => {
                if let Some((rx, sink)) = l.transfer_and_admit_mut(e.id) {
                    match sink.finished(rx, now) {
                        Ok(c) => ran.committed = Some(c),
                        Err(err) => ran.errors.push(err),
                    }
                }
            }
            ReceiverEvent::Failed(error) => {
                if let Err(err) = l.admit_mut().failed(e.tag, error) {
                    ran.errors.push(err);
                }
            }
            _ => {}
        }
    }
}

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut random = crate::random::SplitMix64::new(seed);
    (0..len).map(|_| random.next_u64() as u8).collect()
}

/// Checks that the image region of `flash` holds `data`, then 0xFF to the end of its last
/// sector.
fn assert_image<const WR: usize, const ER: usize, const RD: usize>(
    flash: &NorEmulator<WR, ER, RD>,
    data: &[u8],
) {
    let end = data.len().div_ceil(ER) * ER;
    let held = flash.bytes(0..end);
    assert!(held[..data.len()] == data[..], "the image differs from the data");
    assert!(held[data.len()..].iter().all(|&b| b == 0xff), "not padded with 0xFF");
}

#[test]
fn transfers_land_byte_for_byte_and_padded_on_flashes_of_any_geometry() {
    fn case<const WR: usize, const ER: usize, const RD: usize, const B: usize, const W: usize>(
        sizes: &[usize],
    ) {
        for (k, &size) in sizes.iter().enumerate() {
            let flash: NorEmulator<WR, ER, RD> = NorEmulator::new(64 * 1024 / ER, 1);
            let state = (64 * 1024 - 2 * ER) as u32;
            let layout = Layout { image_start: 0, image_len: state, state_start: state };
            let sink: FlashSink<_, B> = FlashSink::open(flash.clone(), layout).unwrap();
            let mut l: Pool<_, B, W> = listener(sink);
            let object = data(k as u64, size);
            let mut now = t(0);
            let ran =
                run(&mut l, sender::<W>(5 + k as u64, &object, Some(&[3; 16])), &object, &mut now, None);
            let what = std::format!("WRITE {WR}, ERASE {ER}, READ {RD}, B {B}, W {W}, {size} bytes: {ran:?}");
            assert!(ran.errors.is_empty(), "{what}");
            assert_eq!(ran.sender.last(), Some(&SenderEvent::Closed), "{what}");
            let committed = Committed { len: size as u64, digest: Some(DigestAlgorithm::Sha256) };
            assert_eq!(ran.committed, Some(committed), "{what}");
            assert_image(&flash, &object);
            let sink = l.admit_mut();
            assert_eq!(sink.committed(), Some(size as u64), "{what}");
            assert_eq!(sink.record().object_id(), Some(&[3u8; 16][..]));
            // What a reset finds: the same record.
            let reopened: FlashSink<_, B> = FlashSink::open(flash.clone(), layout).unwrap();
            assert_eq!(reopened.record(), sink.record(), "{what}");
        }
    }
    let sizes = [0, 1, 100, 511, 512, 513, 4095, 4096, 4097, 20_000, 56 * 1024 - 8192];
    case::<4, 4096, 1, 512, 1>(&sizes);
    case::<4, 4096, 1, 512, 8>(&sizes);
    case::<16, 1024, 4, 512, 4>(&sizes);
    // A page-program flash: 256-byte writes, a 512-byte buffer.
    case::<256, 4096, 1, 512, 1>(&sizes);
    // Small sectors, byte writes, a small buffer (a slot's 64 bytes).
    case::<1, 256, 1, 64, 2>(&sizes);
    // Sectors larger than the buffer and than a frame.
    case::<8, 16384, 8, 256, 4>(&[0, 1, 600, 16383, 16384, 16385, 32_768]);
    // Reads larger than writes: the tail is read back in whole read units.
    case::<1, 1024, 16, 512, 1>(&sizes);
}

#[test]
fn too_large_or_unsized_is_refused_before_anything_is_erased() {
    let flash = Emu::new(16, 1);
    let sink: FlashSink<_> = FlashSink::open(flash.clone(), LAYOUT).unwrap();
    let mut l: Pool<_, 512, 1> = listener(sink);
    let object = data(1, LAYOUT.image_len as usize + 1);
    let mut now = t(0);
    let ran = run(&mut l, sender::<1>(3, &object, None), &object, &mut now, None);
    assert_eq!(ran.sender_failed(), Some(Error::Refused(RefuseReason::TooLarge)), "{ran:?}");
    // No size announced.
    let config = SenderConfig { digest: Some(DigestAlgorithm::Sha256), ..SenderConfig::new(4) };
    let ran = run(&mut l, Sender::new(config, 0, now), b"tiny", &mut now, None);
    assert_eq!(ran.sender_failed(), Some(Error::Refused(RefuseReason::TooLarge)), "{ran:?}");
    assert_eq!(flash.nor().ops, 0, "the flash was touched");
    // The whole region fits.
    let object = data(1, LAYOUT.image_len as usize);
    let ran = run(&mut l, sender::<1>(5, &object, None), &object, &mut now, None);
    assert_eq!(ran.committed.map(|c| c.len), Some(object.len() as u64), "{ran:?}");
    assert_image(&flash, &object);
}

#[test]
fn a_flash_error_refuses_with_reason_4_and_commits_nothing() {
    // The error strikes the first erase, a data write, and the commit's record (the last of
    // 9 operations: an erase and 6 writes of data, the state sector's erase, the record).
    for fail_at in [0, 3, 8] {
        let flash = Emu::new(16, 1);
        flash.nor().fail_at = Some(fail_at);
        let sink: FlashSink<_> = FlashSink::open(flash.clone(), LAYOUT).unwrap();
        let mut l: Pool<_, 512, 4> = listener(sink);
        let object = data(2, 3000);
        let mut now = t(0);
        let ran = run(&mut l, sender::<4>(6, &object, None), &object, &mut now, None);
        let what = std::format!("fail at op {fail_at}: {ran:?} ({} ops)", flash.nor().ops);
        assert_eq!(ran.sender_failed(), Some(Error::Refused(RefuseReason::Storage)), "{what}");
        assert!(matches!(ran.errors[..], [FlashError::Flash(_)]), "{what}");
        assert!(ran.committed.is_none() && l.admit_mut().committed().is_none(), "{what}");
    }
}

#[test]
fn a_bad_write_fails_the_read_back_digest_and_the_next_try_from_0_commits() {
    let flash = Emu::new(16, 1);
    let sink: FlashSink<_> = FlashSink::open(flash.clone(), LAYOUT).unwrap();
    let mut l: Pool<_, 512, 4> = listener(sink);
    let object = data(3, 30_000);
    let id = [4u8; 16];
    // The fourth write (a data buffer: the first sector's erase and three buffers before it).
    flash.nor().flip_at = Some(4);
    let mut now = t(0);
    let ran = run(&mut l, sender::<4>(7, &object, Some(&id)), &object, &mut now, None);
    assert!(flash.nor().flipped.is_some());
    assert_eq!(ran.sender_failed(), Some(Error::Rejected), "{ran:?}");
    assert!(ran.listener.contains(&ReceiverEvent::Failed(Error::DigestMismatch)), "{ran:?}");
    assert!(ran.committed.is_none() && l.admit_mut().committed().is_none());
    // The record was cleared: the next try starts from 0 (and erases the bad word first).
    assert_eq!(*l.admit_mut().record(), Record::EMPTY);
    let ran = run(&mut l, sender::<4>(8, &object, Some(&id)), &object, &mut now, None);
    assert_eq!(ran.resumed_from, Some(0));
    assert!(ran.committed.is_some(), "{ran:?}");
    assert_image(&flash, &object);
}

#[test]
fn a_cut_transfer_resumes_from_its_durable_sectors() {
    let flash = Emu::new(16, 1);
    let sink: FlashSink<_> = FlashSink::open(flash.clone(), LAYOUT).unwrap();
    let mut l: Pool<_, 512, 8> = listener(sink);
    let object = data(4, 50_000);
    let id = [5u8; 20];
    let mut now = t(0);
    // The sender vanishes after 21,000 bytes: what reached the flash (whole buffers), rounded
    // down to a sector, is durable.
    let ran = run(&mut l, sender::<8>(9, &object, Some(&id)), &object, &mut now, Some(21_000));
    assert!(ran.listener.contains(&ReceiverEvent::Failed(Error::IdleTimeout)), "{ran:?}");
    let record = *l.admit_mut().record();
    let durable = ran.taken / 512 * 512 / 4096 * 4096;
    assert!(durable >= 20_480, "{ran:?}");
    assert_eq!((record.durable(), record.size(), record.object_id()), (durable, 50_000, Some(&id[..])));
    // A reset keeps it; the next try resumes there and commits the whole object.
    let sink: FlashSink<_> = FlashSink::open(flash.clone(), LAYOUT).unwrap();
    assert_eq!(*sink.record(), record);
    let mut l: Pool<_, 512, 8> = listener(sink);
    let ran = run(&mut l, sender::<8>(10, &object, Some(&id)), &object, &mut now, None);
    assert_eq!(ran.resumed_from, Some(durable), "{ran:?}");
    assert!(ran.committed.is_some(), "{ran:?}");
    assert_image(&flash, &object);
    // The same object again: resumed from its end, nothing sent, verified from the flash.
    let writes = flash.nor().writes;
    let ran = run(&mut l, sender::<8>(11, &object, Some(&id)), &object, &mut now, None);
    assert_eq!(ran.resumed_from, Some(50_000), "{ran:?}");
    assert!(ran.committed.is_some(), "{ran:?}");
    assert_eq!(flash.nor().writes, writes + 1, "more than the commit's record was written");
    // Another object of the same name and size: from 0.
    let other = data(5, 50_000);
    let ran = run(&mut l, sender::<8>(12, &other, Some(&[6; 20])), &other, &mut now, None);
    assert_eq!(ran.resumed_from, Some(0), "{ran:?}");
    assert!(ran.committed.is_some(), "{ran:?}");
    assert_image(&flash, &other);
}

#[test]
fn a_receiver_that_hashes_what_it_takes_is_refused() {
    let flash = Emu::new(16, 1);
    let sink: FlashSink<_> = FlashSink::open(flash.clone(), LAYOUT).unwrap();
    let mut l: Pool<_, 512, 1> = Listener::new(ListenerConfig::new(1), sink, t(0)); // hash_read_back off
    let object = data(6, 1000);
    let mut now = t(0);
    let ran = run(&mut l, sender::<1>(3, &object, None), &object, &mut now, None);
    assert_eq!(ran.sender_failed(), Some(Error::Refused(RefuseReason::Storage)), "{ran:?}");
    assert!(matches!(ran.errors[..], [FlashError::NotReadBack]), "{ran:?}");
}

#[test]
fn a_layout_that_does_not_fit_the_flash_is_refused() {
    let open = |layout: Layout| FlashSink::<_, 512>::open(Emu::new(16, 1), layout).err();
    let ok = Layout { image_start: 8192, image_len: 32768, state_start: 0 };
    assert_eq!(open(ok), None);
    for bad in [
        Layout { image_start: 100, ..ok },
        Layout { image_len: 1000, ..ok },
        Layout { image_len: 0, ..ok },
        Layout { state_start: 4096, ..ok },
        Layout { state_start: 100, ..ok },
        Layout { image_len: 65536, ..ok },
        Layout { state_start: 65536 - 4096, ..ok },
    ] {
        assert_eq!(open(bad), Some(FlashError::Layout), "{bad:?}");
    }
    // A buffer smaller than a write, or than a record slot.
    let page = FlashSink::<_, 128>::open(NorEmulator::<256, 4096>::new(16, 1), ok).err();
    assert_eq!(page, Some(FlashError::Layout));
    let tiny = FlashSink::<_, 32>::open(Emu::new(16, 1), ok).err();
    assert_eq!(tiny, Some(FlashError::Layout));
}

#[cfg(feature = "embedded-storage-async")]
#[test]
fn the_async_sink_writes_the_same() {
    use core::pin::pin;
    use core::task::{Context, Poll, Waker};

    /// The emulator's futures are ready at once.
    fn block_on<T>(future: impl core::future::Future<Output = T>) -> T {
        let mut future = pin!(future);
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("the emulator never waits"),
        }
    }

    let flash = Emu::new(16, 1);
    let mut sink: AsyncFlashSink<_> = block_on(AsyncFlashSink::open(flash.clone(), LAYOUT)).unwrap();
    let object = data(7, 9000);
    let config = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(2) };
    let mut rx: crate::Receiver<u8, 4> = crate::Receiver::new(config, t(0));
    let mut sender = sender::<4>(1, &object, None);
    let (mut written, mut now, mut committed) = (0, t(0), None);
    while !(sender.is_done() && rx.is_done()) {
        written += sender.write(&object[written..]);
        if written == object.len() {
            sender.finish();
        }
        let mut moved = false;
        while let Some(tx) = sender.poll_transmit(now) {
            for e in rx.handle_datagram(now, 1, tx.datagram).events {
                match e {
                    ReceiverEvent::Connected { transfer_size, .. } => {
                        block_on(sink.connected(&mut rx, now, 0, transfer_size)).unwrap();
                    }
                    ReceiverEvent::Finished => {
                        committed = Some(block_on(sink.finished(&mut rx, now)).unwrap())
                    }
                    _ => {}
                }
            }
            moved = true;
        }
        block_on(sink.take(&mut rx, now)).unwrap();
        while let Some(tx) = rx.poll_transmit(now) {
            sender.handle_datagram(now, 0, tx.datagram);
            moved = true;
        }
        block_on(sink.erase_ahead()).unwrap();
        if !moved {
            now = sender.poll_timeout().into_iter().chain(rx.poll_timeout()).min().unwrap();
            sender.handle_timeout(now);
            rx.handle_timeout(now);
        }
    }
    assert!(sender.has_succeeded());
    assert_eq!(committed.map(|c| c.len), Some(9000));
    assert_image(&flash, &object);
}
