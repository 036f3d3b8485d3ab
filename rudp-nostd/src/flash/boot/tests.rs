//! The embassy-boot adapter against the NOR emulator: a verified image is marked (embassy-boot's
//! state reads `Swap`); a digest mismatch over what is read back, a cut transfer, a transfer
//! without SHA-256 and a transfer while an update is pending leave the state untouched; a cut
//! transfer resumed to its end is marked.

use std::vec::Vec;

use embassy_boot::{BlockingFirmwareState, State};

use super::super::emulated::{EmuError, NorEmulator};
use super::*;
use crate::flash::Layout;
use crate::testing::t;
use crate::{
    Engine, Listener, ListenerConfig, ListenerEvent, ReceiverConfig, ReceiverEvent, Sender, SenderConfig,
    SenderEvent, TransferId,
};

/// 4-byte words, 4 KiB sectors. The sink's flash: the DFU partition (40 KiB: ACTIVE is 36 KiB)
/// from 0, the resume records in the two sectors after it.
type Emu = NorEmulator<4, 4096>;
const LAYOUT: Layout = Layout { image_start: 0, image_len: 36 * 1024, state_start: 40 * 1024 };

type Pool<'d> = Listener<u8, BootSink<'d, Emu, Emu>, 1, 1>;

/// A DFU flash (with the records) and a STATE flash, both erased.
fn flashes() -> (Emu, Emu) {
    (Emu::new(12, 1), Emu::new(1, 2))
}

fn listener<'d>(dfu: &Emu, state: &Emu, aligned: &'d mut [u8]) -> Pool<'d> {
    let sink = FlashSink::open(dfu.clone(), LAYOUT).unwrap();
    let boot = BootSink::new(sink, BlockingFirmwareState::new(state.clone(), aligned));
    let receiver = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(11) };
    Listener::new(ListenerConfig { receiver, ..ListenerConfig::new(11) }, boot, t(0))
}

fn sender(seed: u64, data: &[u8], digest: DigestAlgorithm) -> Sender<u8> {
    let config = SenderConfig {
        transfer_size: Some(data.len() as u64),
        digest: Some(digest),
        ..SenderConfig::new(seed)
    };
    let mut sender = Sender::new(config, 0, t(0));
    // Resume (and so an object id) goes with SHA-256 only.
    if digest == DigestAlgorithm::Sha256 {
        assert!(sender.offer_object_id(b"firmware-v2"));
    }
    sender
}

fn state_of(state: &Emu) -> State {
    let mut aligned = [0u8; 4];
    BlockingFirmwareState::new(state.clone(), &mut aligned).get_state().unwrap()
}

fn image(len: usize) -> Vec<u8> {
    let mut random = crate::random::SplitMix64::new(len as u64);
    (0..len).map(|_| random.next_u64() as u8).collect()
}

#[derive(Default, Debug)]
struct Ran {
    sender: Vec<SenderEvent>,
    errors: Vec<BootError<EmuError>>,
    committed: Option<Committed>,
    resumed_from: Option<u64>,
}

impl Ran {
    fn succeeded(&self) -> bool {
        self.sender.last() == Some(&SenderEvent::Closed)
            && !self.sender.iter().any(|e| matches!(e, SenderEvent::Failed(_)))
    }
}

/// The firmware's loop (the flash module's, with the adapter) over a perfect link, until both
/// sides are over; with `stop_at`, the sender vanishes once the sink took that many bytes.
fn run(l: &mut Pool<'_>, mut sender: Sender<u8>, data: &[u8], stop_at: Option<u64>) -> Ran {
    let mut ran = Ran::default();
    let (mut written, mut finished, mut transfer, mut taken, mut vanished) =
        (None::<usize>, false, None, 0u64, false);
    let mut now = t(0);
    for _ in 0..1_000_000 {
        if (vanished || sender.is_done()) && l.running() == 0 {
            break;
        }
        let mut moved = false;
        if !vanished {
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
            while let Some(tx) = sender.poll_transmit(now) {
                let handled = l.handle_datagram(now, 1, tx.datagram);
                hear(l, &handled.events, now, &mut transfer, &mut ran);
                moved = true;
            }
        }
        if let Some((rx, boot)) = transfer.and_then(|id| l.transfer_and_admit_mut(id)) {
            match boot.take(rx, now) {
                Ok(n) => taken += n as u64,
                Err(e) => ran.errors.push(e),
            }
        }
        while let Some(tx) = l.poll_transmit(now) {
            if !vanished {
                for e in sender.handle_datagram(now, 0, tx.datagram).events {
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
        if stop_at.is_some_and(|at| taken >= at) {
            vanished = true;
        }
        if !moved {
            let next = if vanished { None } else { sender.poll_timeout() };
            let Some(next) = next.into_iter().chain(l.poll_timeout()).min() else { break };
            now = next.max(now);
            if !vanished && let Some(e) = sender.handle_timeout(now) {
                ran.sender.push(e);
            }
            while let Some(e) = l.handle_timeout(now) {
                hear(l, &[e], now, &mut transfer, &mut ran);
            }
        }
    }
    ran
}

fn hear(
    l: &mut Pool<'_>,
    events: &[ListenerEvent],
    now: Instant,
    transfer: &mut Option<TransferId>,
    ran: &mut Ran,
) {
    for e in events {
        match e.event {
            ReceiverEvent::Connected { transfer_size, .. } => {
                *transfer = Some(e.id);
                if let Some((rx, boot)) = l.transfer_and_admit_mut(e.id)
                    && let Err(err) = boot.connected(rx, now, e.tag, transfer_size)
                {
                    ran.errors.push(err);
                }
            }
            ReceiverEvent::Finished => {
                if let Some((rx, boot)) = l.transfer_and_admit_mut(e.id) {
                    match boot.finished(rx, now) {
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

#[test]
fn a_verified_image_is_marked_and_nothing_more_is_taken() {
    let (dfu, state) = flashes();
    let mut aligned = [0u8; 4];
    let mut l = listener(&dfu, &state, &mut aligned);
    assert_eq!(l.admit_mut().get_state().unwrap(), State::Boot);
    let data = image(30_000);
    let ran = run(&mut l, sender(1, &data, DigestAlgorithm::Sha256), &data, None);
    assert!(ran.errors.is_empty(), "{ran:?}");
    assert!(ran.succeeded(), "{ran:?}");
    assert_eq!(ran.committed, Some(Committed { len: 30_000, digest: Some(DigestAlgorithm::Sha256) }));
    assert!(l.admit_mut().is_marked());
    assert_eq!(state_of(&state), State::Swap);
    assert!(dfu.bytes(0..data.len()) == data, "the DFU partition holds the image from its start");
    // Marked: another transfer is refused (reason 4) before anything is erased.
    let erases = dfu.nor().erases;
    let other = image(5_000);
    let ran = run(&mut l, sender(2, &other, DigestAlgorithm::Sha256), &other, None);
    assert!(!ran.succeeded(), "{ran:?}");
    assert_eq!(dfu.nor().erases, erases);
    assert_eq!(state_of(&state), State::Swap);
}

#[test]
fn a_digest_mismatch_over_the_read_back_image_marks_nothing() {
    let (dfu, state) = flashes();
    // One bit of the image lands flipped: the read-back digest fails.
    let op = dfu.op_after(5);
    dfu.nor().flip_at = Some(op);
    let mut aligned = [0u8; 4];
    let mut l = listener(&dfu, &state, &mut aligned);
    let data = image(20_000);
    let ran = run(&mut l, sender(3, &data, DigestAlgorithm::Sha256), &data, None);
    assert!(dfu.nor().flipped.is_some());
    assert!(!ran.succeeded(), "{ran:?}");
    assert_eq!(ran.committed, None);
    assert!(!l.admit_mut().is_marked());
    assert_eq!(state_of(&state), State::Boot);
    let touched = { state.nor().writes } + { state.nor().erases };
    assert_eq!(touched, 0, "the STATE partition was not touched");
}

#[test]
fn a_transfer_without_sha256_is_refused_before_anything_is_erased() {
    let (dfu, state) = flashes();
    let mut aligned = [0u8; 4];
    let mut l = listener(&dfu, &state, &mut aligned);
    let data = image(10_000);
    let ran = run(&mut l, sender(4, &data, DigestAlgorithm::Crc32c), &data, None);
    assert!(!ran.succeeded(), "{ran:?}");
    assert!(ran.errors.iter().any(|e| matches!(e, BootError::NotSha256)), "{ran:?}");
    assert_eq!(dfu.nor().erases, 0);
    assert_eq!(state_of(&state), State::Boot);
}

#[test]
fn a_cut_transfer_marks_nothing_and_its_resume_is_marked() {
    let (dfu, state) = flashes();
    let data = image(33_000);
    {
        let mut aligned = [0u8; 4];
        let mut l = listener(&dfu, &state, &mut aligned);
        let ran = run(&mut l, sender(5, &data, DigestAlgorithm::Sha256), &data, Some(20_000));
        assert_eq!(ran.committed, None, "{ran:?}");
        assert!(!l.admit_mut().is_marked());
        assert!(l.admit_mut().sink().record().durable() > 0);
    }
    assert_eq!(state_of(&state), State::Boot);
    // A reset, then the sender again: it resumes and the image is marked.
    let mut aligned = [0u8; 4];
    let mut l = listener(&dfu, &state, &mut aligned);
    let ran = run(&mut l, sender(6, &data, DigestAlgorithm::Sha256), &data, None);
    assert!(ran.errors.is_empty(), "{ran:?}");
    assert!(ran.succeeded(), "{ran:?}");
    assert!(ran.resumed_from.is_some_and(|from| from > 0), "{ran:?}");
    assert_eq!(state_of(&state), State::Swap);
    assert!(dfu.bytes(0..data.len()) == data);
}

#[test]
fn while_an_update_is_pending_transfers_are_refused_until_the_image_confirms_itself() {
    let (dfu, state) = flashes();
    let data = image(8_000);
    {
        let mut aligned = [0u8; 4];
        let mut l = listener(&dfu, &state, &mut aligned);
        assert!(run(&mut l, sender(7, &data, DigestAlgorithm::Sha256), &data, None).succeeded());
    }
    // The new image's first boot (state still Swap): no transfer until it confirms itself.
    let erases = dfu.nor().erases;
    let mut aligned = [0u8; 4];
    let mut l = listener(&dfu, &state, &mut aligned);
    let ran = run(&mut l, sender(8, &data, DigestAlgorithm::Sha256), &data, None);
    assert!(!ran.succeeded(), "{ran:?}");
    assert!(ran.errors.iter().any(|e| matches!(e, BootError::Pending)), "{ran:?}");
    assert_eq!(dfu.nor().erases, erases);
    // Confirmed (in the same boot): transfers are taken again.
    l.admit_mut().mark_booted().unwrap();
    assert_eq!(state_of(&state), State::Boot);
    let next = image(9_000);
    let ran = run(&mut l, sender(9, &next, DigestAlgorithm::Sha256), &next, None);
    assert!(ran.succeeded(), "{ran:?}");
    assert_eq!(state_of(&state), State::Swap);
}

#[test]
fn a_failed_mark_answers_the_fin_with_a_refusal() {
    let (dfu, state) = flashes();
    // The STATE flash's first erase or write fails: embassy-boot cannot mark.
    let op = state.op_after(0);
    state.nor().fail_at = Some(op);
    let mut aligned = [0u8; 4];
    let mut l = listener(&dfu, &state, &mut aligned);
    let data = image(6_000);
    let ran = run(&mut l, sender(10, &data, DigestAlgorithm::Sha256), &data, None);
    assert!(ran.errors.iter().any(|e| matches!(e, BootError::Boot(_))), "{ran:?}");
    assert!(!ran.succeeded(), "the sender is not told of success: {ran:?}");
    assert!(!l.admit_mut().is_marked());
    assert_ne!(state_of(&state), State::Swap);
}

/// The async adapter ([`AsyncBootSink`] over embassy-boot's `FirmwareState`) in the same loop,
/// each flash call awaited: a verified image is marked, a corrupted one is not.
#[test]
fn the_async_adapter_marks_a_verified_image_and_never_a_corrupted_one() {
    use embassy_boot::FirmwareState;

    use crate::flash::AsyncFlashSink;

    async fn run_async(dfu: &Emu, state: &Emu, data: &[u8], seed: u64) -> (bool, Option<Committed>) {
        let mut aligned = [0u8; 4];
        let sink: AsyncFlashSink<Emu> = AsyncFlashSink::open(dfu.clone(), LAYOUT).await.unwrap();
        let boot = AsyncBootSink::new(sink, FirmwareState::new(state.clone(), &mut aligned));
        let receiver = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(seed) };
        let mut l: Listener<u8, AsyncBootSink<'_, Emu, Emu>, 1, 1> =
            Listener::new(ListenerConfig { receiver, ..ListenerConfig::new(seed) }, boot, t(0));
        let mut sender = sender(seed, data, DigestAlgorithm::Sha256);
        let (mut written, mut finished, mut transfer, mut committed) = (None::<usize>, false, None, None);
        let mut now = t(0);
        for _ in 0..1_000_000 {
            if sender.is_done() && l.running() == 0 {
                break;
            }
            let mut moved = false;
            if let Some(w) = &mut written {
                *w += sender.write(&data[*w..]);
                if *w == data.len() && !finished {
                    finished = true;
                    sender.finish();
                }
            }
            while let Some(tx) = sender.poll_transmit(now) {
                let handled = l.handle_datagram(now, 1, tx.datagram);
                for e in handled.events {
                    match e.event {
                        ReceiverEvent::Connected { transfer_size, .. } => {
                            transfer = Some(e.id);
                            if let Some((rx, boot)) = l.transfer_and_admit_mut(e.id) {
                                let _ = boot.connected(rx, now, e.tag, transfer_size).await;
                            }
                        }
                        ReceiverEvent::Finished => {
                            if let Some((rx, boot)) = l.transfer_and_admit_mut(e.id) {
                                committed = boot.finished(rx, now).await.ok();
                            }
                        }
                        ReceiverEvent::Failed(error) => {
                            let _ = l.admit_mut().failed(e.tag, error).await;
                        }
                        _ => {}
                    }
                }
                moved = true;
            }
            if let Some((rx, boot)) = transfer.and_then(|id| l.transfer_and_admit_mut(id)) {
                let _ = boot.take(rx, now).await;
            }
            while let Some(tx) = l.poll_transmit(now) {
                for e in sender.handle_datagram(now, 0, tx.datagram).events {
                    if let SenderEvent::Connected { .. } = e {
                        written = Some(sender.resume_from() as usize);
                    }
                }
                moved = true;
            }
            let _ = l.admit_mut().erase_ahead().await;
            if !moved {
                let Some(next) = sender.poll_timeout().into_iter().chain(l.poll_timeout()).min() else {
                    break;
                };
                now = next.max(now);
                sender.handle_timeout(now);
                while l.handle_timeout(now).is_some() {}
            }
        }
        (sender.has_succeeded(), committed)
    }

    // A bit flipped on a write: the read-back digest fails, nothing is marked.
    let (dfu, state) = flashes();
    let op = dfu.op_after(3);
    dfu.nor().flip_at = Some(op);
    let data = image(15_000);
    let (succeeded, committed) = embassy_futures::block_on(run_async(&dfu, &state, &data, 21));
    assert!(!succeeded && committed.is_none());
    assert_eq!(state_of(&state), State::Boot);
    // The same image again, the flash sound: marked.
    let (succeeded, committed) = embassy_futures::block_on(run_async(&dfu, &state, &data, 22));
    assert!(succeeded);
    assert_eq!(committed, Some(Committed { len: 15_000, digest: Some(DigestAlgorithm::Sha256) }));
    assert_eq!(state_of(&state), State::Swap);
    assert!(dfu.bytes(0..data.len()) == data);
}
