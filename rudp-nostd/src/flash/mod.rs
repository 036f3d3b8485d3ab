//! A sink that writes a transfer into a region of a NOR flash (feature `embedded-storage`:
//! [`FlashSink`] over an `embedded_storage::nor_flash::NorFlash`; feature
//! `embedded-storage-async`: [`AsyncFlashSink`] over an `embedded_storage_async` one), with
//! resume records (SPEC §10.5).
//!
//! The sink is a firmware's receiving application for one image at a time, run by a
//! [`Listener`](crate::Listener) with a pool of one (`Listener<E, FlashSink<F>, 1, W>`) whose
//! admission policy it is:
//!
//! - **Admission** ([`Admit`](crate::Admit)): a transfer without a `transfer-size`, or larger
//!   than the image region, is refused with reason 2 (too large, SPEC §10.4) before anything is
//!   erased; an object whose `object-id` and size match the resume record is resumed from its
//!   durable length ([`Admission::Resume`]); anything else is taken
//!   from 0.
//! - **Data** ([`FlashSink::connected`], [`FlashSink::take`]): it takes what the receiver has
//!   ([`Receiver::readable`](crate::Receiver::readable)) into a buffer of `B` bytes and writes
//!   it to the flash a buffer at a time, erasing each sector before its first write into it
//!   (and ahead of the data when the application calls [`FlashSink::erase_ahead`] while it
//!   waits for the network), the last write padded with 0xFF to the flash's `WRITE_SIZE`.
//! - **Digest**: the receiver is configured with
//!   [`ReceiverConfig::hash_read_back`](crate::ReceiverConfig::hash_read_back): the sink reads
//!   back each buffer it wrote and gives those bytes to the digest, so a bad write fails the
//!   digest (the FIN is answered with a mismatch, and nothing is committed). It writes and reads
//!   back the last bytes as it takes them (it knows them by the `transfer-size`), before the FIN
//!   can come.
//! - **Commit** ([`FlashSink::finished`]): on [`ReceiverEvent::Finished`](crate::ReceiverEvent)
//!   (all data in, the digest matched what was read back) it records the image as committed,
//!   then lets the FIN be answered ([`Receiver::committed`](crate::Receiver::committed)), and
//!   reports the committed length. A firmware update marks the image for its bootloader after
//!   that, never before.
//! - **Errors**: a flash error refuses the transfer with reason 4 (storage) at once.
//! - **Resume** (SPEC §10.5): the record ([`Record`]: `object-id`, size, durable length) counts
//!   only bytes written to the flash, rounded down to an erase sector and to 512 bytes (a
//!   resumed transfer erases the sector it starts in, so no byte of it may count). It lives in a
//!   state area of two erase sectors, written so that a reset at any moment leaves either the
//!   old record or the new one, never a torn one: see [`Layout`]. A resumed transfer gives the
//!   digest the held bytes read back from the flash, from the start of the object.
//!
//! The sink never allocates and never panics. A flash whose `WRITE_SIZE`, `READ_SIZE` or
//! `ERASE_SIZE` does not fit the buffer or the layout is refused when it is opened
//! ([`FlashError::Layout`]).
//!
//! ## Example: a firmware's receive loop
//!
//! A sender and the listener exchange datagrams in memory here; a firmware passes them through
//! its network stack instead. The flash is a RAM array with NOR rules (`Ram` below); a
//! firmware passes its flash driver.
//!
//! ```
//! use rudp_nostd::flash::{FlashSink, Layout};
//! use rudp_nostd::{
//!     DigestAlgorithm, Engine, Instant, Listener, ListenerConfig, ReceiverConfig, ReceiverEvent, Sender,
//!     SenderConfig,
//! };
//! # use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
//! # /// 64 KiB of NOR flash in RAM: 4 KiB sectors, 4-byte words.
//! # struct Ram([u8; 65536]);
//! # impl ErrorType for Ram {
//! #     type Error = NorFlashErrorKind;
//! # }
//! # impl ReadNorFlash for Ram {
//! #     const READ_SIZE: usize = 1;
//! #     fn read(&mut self, at: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
//! #         let at = at as usize;
//! #         bytes.copy_from_slice(self.0.get(at..at + bytes.len()).ok_or(NorFlashErrorKind::OutOfBounds)?);
//! #         Ok(())
//! #     }
//! #     fn capacity(&self) -> usize {
//! #         self.0.len()
//! #     }
//! # }
//! # impl NorFlash for Ram {
//! #     const WRITE_SIZE: usize = 4;
//! #     const ERASE_SIZE: usize = 4096;
//! #     fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
//! #         self.0.get_mut(from as usize..to as usize).ok_or(NorFlashErrorKind::OutOfBounds)?.fill(0xff);
//! #         Ok(())
//! #     }
//! #     fn write(&mut self, at: u32, bytes: &[u8]) -> Result<(), Self::Error> {
//! #         let at = at as usize;
//! #         let cells = self.0.get_mut(at..at + bytes.len()).ok_or(NorFlashErrorKind::OutOfBounds)?;
//! #         for (cell, byte) in cells.iter_mut().zip(bytes) {
//! #             *cell &= byte; // NOR: a write only clears bits
//! #         }
//! #         Ok(())
//! #     }
//! # }
//!
//! // The image region: 56 KiB from 0; the resume records: two sectors at 56 KiB.
//! let layout = Layout { image_start: 0, image_len: 56 * 1024, state_start: 56 * 1024 };
//! let sink: FlashSink<Ram> = FlashSink::open(Ram([0xff; 65536]), layout).unwrap();
//! // The digest is taken over what is read back from the flash.
//! let receiver = ReceiverConfig { hash_read_back: true, ..ReceiverConfig::new(7) };
//! let config = ListenerConfig { receiver, ..ListenerConfig::new(7) };
//! let mut listener: Listener<u8, FlashSink<Ram>, 1, 1> = Listener::new(config, sink, Instant::ZERO);
//!
//! // The other side: an image with its size (the sink requires one) and a digest.
//! let image: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
//! let digest = Some(DigestAlgorithm::Sha256).filter(|d| d.is_supported());
//! let config = SenderConfig { transfer_size: Some(image.len() as u64), digest, ..SenderConfig::new(1) };
//! let mut sender: Sender<u8> = Sender::new(config, 0, Instant::ZERO);
//! let (mut written, mut transfer, mut committed) = (0, None, None);
//! let mut now = Instant::ZERO;
//! while !(sender.is_done() && listener.running() == 0) {
//!     written += sender.write(&image[written..]);
//!     if written == image.len() {
//!         sender.finish();
//!     }
//!     let mut moved = false;
//!     while let Some(t) = sender.poll_transmit(now) {
//!         // The firmware's part: each datagram to the listener, and its events to the sink.
//!         let handled = listener.handle_datagram(now, 1, t.datagram);
//!         for e in handled.events {
//!             match e.event {
//!                 ReceiverEvent::Connected { transfer_size, .. } => {
//!                     transfer = Some(e.id);
//!                     if let Some((rx, sink)) = listener.transfer_and_admit_mut(e.id) {
//!                         // Refuses the transfer itself when it cannot take it.
//!                         let _ = sink.connected(rx, now, e.tag, transfer_size);
//!                     }
//!                 }
//!                 ReceiverEvent::Finished => {
//!                     if let Some((rx, sink)) = listener.transfer_and_admit_mut(e.id) {
//!                         // Records the image as committed, then answers the FIN.
//!                         committed = sink.finished(rx, now).ok().map(|c| c.len);
//!                     }
//!                 }
//!                 // Kept for resume, or discarded after a digest mismatch.
//!                 ReceiverEvent::Failed(error) => {
//!                     let _ = listener.admit_mut().failed(e.tag, error);
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         moved = true;
//!     }
//!     // The data goes to the flash (a flash error refuses the transfer with reason 4).
//!     if let Some((rx, sink)) = transfer.and_then(|id| listener.transfer_and_admit_mut(id)) {
//!         let _ = sink.take(rx, now);
//!     }
//!     while let Some(t) = listener.poll_transmit(now) {
//!         sender.handle_datagram(now, 0, t.datagram);
//!         moved = true;
//!     }
//!     // Waiting for the network: erase the next sector meanwhile.
//!     let _ = listener.admit_mut().erase_ahead();
//!     if !moved {
//!         now = sender.poll_timeout().into_iter().chain(listener.poll_timeout()).min().unwrap();
//!         sender.handle_timeout(now);
//!         while listener.handle_timeout(now).is_some() {}
//!     }
//! }
//! assert!(sender.has_succeeded());
//! assert_eq!(committed, Some(20_000));
//! let sink = listener.admit_mut();
//! assert!(sink.record().is_committed() && sink.record().size() == 20_000);
//! let mut back = vec![0u8; 20_000];
//! embedded_storage::nor_flash::ReadNorFlash::read(sink.flash_mut(), 0, &mut back).unwrap();
//! assert_eq!(back, image);
//! ```

#[cfg(feature = "embassy-boot")]
pub mod boot;
mod record;
mod sink;

// The tests prove the digest over what is read back: SHA-256.
#[cfg(all(test, feature = "sha256"))]
pub(crate) mod emulated;
#[cfg(all(test, feature = "sha256"))]
mod tests;

use core::fmt;

#[cfg(feature = "embassy-boot")]
pub use boot::{AsyncBootSink, BootError, BootSink};
pub use record::Record;
#[cfg(feature = "embedded-storage-async")]
pub use sink::AsyncFlashSink;
pub use sink::FlashSink;

use crate::digest::DigestAlgorithm;
use crate::error::RefuseReason;
use crate::frame::MAX_PAYLOAD;
use crate::listener::{Admission, Offer};
use record::{MAX_OBJECT_ID, RECORD_LEN, StateLog};

/// The sink's buffer by default: 512 bytes (one frame's payload).
pub const DEFAULT_BUFFER: usize = 512;

/// Where a sink keeps what, as offsets in its flash: the image region, and the state area of
/// the resume records (two erase sectors). Every offset and length is a multiple of the flash's
/// `ERASE_SIZE`, and the two do not overlap.
///
/// ```
/// use rudp_nostd::flash::Layout;
///
/// // A 2 MiB image region from 0, and the records in the two 4 KiB sectors after it.
/// let layout = Layout { image_start: 0, image_len: 2 << 20, state_start: 2 << 20 };
/// assert_eq!(layout.state_len(4096), 8192);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layout {
    /// The image region's first byte.
    pub image_start: u32,
    /// The image region's length: the largest `transfer-size` taken.
    pub image_len: u32,
    /// The state area's first byte; it is two erase sectors long.
    pub state_start: u32,
}

impl Layout {
    /// The state area's length on a flash whose erase sector is `erase_size` bytes: two sectors.
    pub const fn state_len(&self, erase_size: u32) -> u32 {
        erase_size.saturating_mul(2)
    }
}

/// Why a sink could not do what it was asked. Where a transfer was running, the sink has
/// already refused it (SPEC §10.4: the sender is told the reason given here).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FlashError<E> {
    /// The flash failed (its driver's error); the transfer was refused with reason 4 (storage),
    /// or its commit failed (the FIN was answered with reason 4).
    Flash(E),
    /// [`FlashSink::open`]: the layout does not fit the flash (an offset or length not a
    /// multiple of its erase sector, out of its range, the two areas overlapping), or the
    /// flash's sizes do not fit the buffer (`B` a multiple of `WRITE_SIZE` and `READ_SIZE`,
    /// at least one record slot).
    Layout,
    /// The transfer announced no `transfer-size`, or one larger than the image region: refused
    /// with reason 2 (too large), before anything was erased.
    TooLarge,
    /// The transfer was granted a resume point that the record does not hold (it changed since
    /// the SYN): refused with reason 4.
    NotHeld,
    /// The receiver does not give the digest what is read back
    /// ([`ReceiverConfig::hash_read_back`](crate::ReceiverConfig::hash_read_back) is off): the
    /// transfer was refused with reason 4.
    NotReadBack,
    /// The padding after the object's last byte did not read back as written (0xFF): the
    /// digest does not cover it, so the sink checks it; the transfer was refused with reason 4.
    BadWrite,
    /// [`FlashSink::finished`] without a transfer whose data all reached the flash: the commit
    /// failed (the FIN was answered with reason 4). From [`FlashSink::take`]: an earlier
    /// [`FlashSink::erase_ahead`] failed, the transfer was refused with reason 4.
    Incomplete,
}

impl<E: fmt::Debug> fmt::Display for FlashError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlashError::Flash(e) => write!(f, "the flash failed: {e:?}"),
            FlashError::Layout => f.write_str("the layout does not fit the flash"),
            FlashError::TooLarge => f.write_str("no size announced, or larger than the image region"),
            FlashError::NotHeld => f.write_str("a resume point the record does not hold"),
            FlashError::NotReadBack => f.write_str("the receiver does not hash what is read back"),
            FlashError::BadWrite => f.write_str("the padding did not read back as written"),
            FlashError::Incomplete => f.write_str("not all data reached the flash"),
        }
    }
}

/// The flash's sizes and the layout, checked, in bytes.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Geometry {
    layout: Layout,
    read: u32,
    write: u32,
    erase: u32,
    /// A record slot: [`RECORD_LEN`] rounded up to the write and read sizes.
    slot: u32,
    /// Record slots per erase sector.
    per_sector: u32,
    /// What a durable length is rounded down to: a whole number of erase sectors, of 512-byte
    /// frames (SPEC §10.5) and of buffers.
    unit: u32,
}

impl Geometry {
    /// The geometry of a flash with these sizes and `capacity`, a buffer of `buffer` bytes and
    /// `layout`, if they fit.
    fn new(
        read: usize,
        write: usize,
        erase: usize,
        capacity: usize,
        buffer: usize,
        layout: Layout,
    ) -> Option<Geometry> {
        let read = u32::try_from(read).ok().filter(|&n| n > 0)?;
        let write = u32::try_from(write).ok().filter(|&n| n > 0)?;
        let erase = u32::try_from(erase).ok().filter(|&n| n > 0)?;
        let buffer = u32::try_from(buffer).ok().filter(|&n| n > 0)?;
        let slot = round_up(round_up(RECORD_LEN as u32, write)?, read)?;
        let fits = |n: u32, by: u32| n.is_multiple_of(by);
        let sizes_fit = fits(buffer, write)
            && fits(buffer, read)
            && buffer >= slot
            && fits(erase, write)
            && fits(erase, read)
            && fits(slot, write)
            && erase >= slot;
        let Layout { image_start, image_len, state_start } = layout;
        let aligned =
            fits(image_start, erase) && fits(image_len, erase) && fits(state_start, erase) && image_len > 0;
        let (image_end, state_end) =
            (u64::from(image_start) + u64::from(image_len), u64::from(state_start) + 2 * u64::from(erase));
        let apart = state_end <= u64::from(image_start) || image_end <= u64::from(state_start);
        let inside = image_end <= capacity as u64 && state_end <= capacity as u64;
        if !(sizes_fit && aligned && apart && inside) {
            return None;
        }
        let unit = lcm(lcm(u64::from(erase), MAX_PAYLOAD as u64)?, u64::from(buffer))?;
        Some(Geometry {
            layout,
            read,
            write,
            erase,
            slot,
            per_sector: erase / slot,
            unit: u32::try_from(unit).ok()?,
        })
    }

    /// Where record slot `slot` (over both sectors) is.
    fn slot_offset(&self, slot: u32) -> u32 {
        let per = self.per_sector.max(1);
        self.sector_offset(slot / per) + (slot % per) * self.slot
    }

    /// Where sector `sector` (0 or 1) of the state area starts.
    fn sector_offset(&self, sector: u32) -> u32 {
        self.layout.state_start + sector.min(1) * self.erase
    }

    /// The point a transfer of `size` bytes resumes from when `durable` bytes are held: all of
    /// it, or the durable bytes rounded down to the resume unit.
    fn resume_point(&self, durable: u64, size: u64) -> u64 {
        if durable >= size { size } else { durable / u64::from(self.unit.max(1)) * u64::from(self.unit) }
    }
}

/// `n` rounded up to a multiple of `by`; `None` on overflow.
fn round_up(n: u32, by: u32) -> Option<u32> {
    n.div_ceil(by.max(1)).checked_mul(by)
}

/// `n` rounded down to a multiple of `by`.
fn round_down(n: u32, by: u32) -> u32 {
    n / by.max(1) * by
}

/// The least common multiple, if it fits in a `u32`.
fn lcm(a: u64, b: u64) -> Option<u64> {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    let lcm = a.checked_div(x)?.checked_mul(b)?;
    (lcm <= u64::from(u32::MAX)).then_some(lcm)
}

/// The last offer admitted: the object its transfer will write, if it connects.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Pending {
    tag: u32,
    /// Its object id and size (durable 0).
    object: Record,
}

/// The transfer the sink writes.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Run {
    /// The listener's tag of its transfer.
    tag: u32,
    size: u32,
    /// Bytes of the object taken from the receiver (where the next one goes).
    at: u32,
    /// Of those, the bytes in the buffer, not yet written (from `at - fill`).
    fill: u32,
    /// The image region is erased from the run's start up to here (sector aligned).
    erased_to: u32,
    /// A digest was agreed: each buffer written is read back and given to it.
    hash: bool,
    /// A flash error outside the data path ([`FlashSink::erase_ahead`]): the next
    /// [`FlashSink::take`] refuses the transfer.
    broken: bool,
}

/// The sink's state, without the flash: what the blocking and async sinks share.
#[derive(Debug)]
struct Core<const B: usize> {
    geometry: Geometry,
    /// The newest record, as the state area holds it.
    record: Record,
    log: StateLog,
    pending: Option<Pending>,
    next_tag: u32,
    run: Option<Run>,
    /// The object the run writes: its id and size (durable 0), what its records say.
    object: Record,
    /// Data to write (from `run.at - run.fill`), then what is read back; records.
    buf: [u8; B],
}

impl<const B: usize> Core<B> {
    /// The admission decision for `offer` (see the module docs).
    fn admit<E>(&mut self, offer: &Offer<'_, E>) -> Admission {
        let image_len = u64::from(self.geometry.layout.image_len);
        let Some(size) = offer.transfer_size.filter(|&size| size <= image_len) else {
            return Admission::Refuse(RefuseReason::TooLarge);
        };
        self.next_tag = self.next_tag.wrapping_add(1);
        let tag = self.next_tag;
        let id = offer.object_id.filter(|id| id.len() <= MAX_OBJECT_ID);
        self.pending = Some(Pending { tag, object: Record::partial(id, size, 0) });
        let held = &self.record;
        if id.is_some() && held.object_id() == id && held.size() == size {
            let from = self.geometry.resume_point(held.durable(), size);
            if from > 0 {
                return Admission::Resume { tag, from };
            }
        }
        Admission::Take(tag)
    }

    /// The run's durable length once `written` bytes of it are on the flash.
    fn durable(&self, run: &Run, written: u32) -> u64 {
        self.geometry.resume_point(u64::from(written), u64::from(run.size))
    }

    /// The committed image's length, if the record says one is committed.
    fn committed(&self) -> Option<u64> {
        self.record.is_committed().then_some(self.record.size())
    }
}

/// What [`FlashSink::finished`] committed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Committed {
    /// The image's length: its bytes start at the image region's start.
    pub len: u64,
    /// The digest that verified what was read back from the flash (`None`: the sender offered
    /// none this build supports; the image is unverified).
    pub digest: Option<DigestAlgorithm>,
}
