//! [`FlashSink`] and [`AsyncFlashSink`]: the same code over a blocking and an async `NorFlash`
//! (one macro writes both, the async one with `.await` after each flash call).

use super::record::{RECORD_LEN, Record, Scan, Slot, StateLog};
use super::{Committed, Core, FlashError, Geometry, Layout, Run, round_down, round_up};
use crate::error::{Error, RefuseReason};
use crate::frame::MAX_PAYLOAD;
use crate::listener::{Admission, Admit, Offer};
use crate::receiver::Receiver;
use crate::time::Instant;

/// Writes a flash sink type `$name` over the `NorFlash` and `ReadNorFlash` traits in scope where
/// it is invoked; `[$($asyncness)?]` is empty or `async`, `[$($await)*]` empty or `.await`.
macro_rules! flash_sink {
    ($(#[$meta:meta])* $name:ident, [$($asyncness:tt)?], [$($await:tt)*]) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name<F, const B: usize = { crate::flash::DEFAULT_BUFFER }> {
            flash: F,
            core: Core<B>,
        }

        impl<F: NorFlash, const B: usize> $name<F, B> {
            /// Opens the sink over `flash` with `layout`: checks that they fit (else
            /// [`FlashError::Layout`]) and reads the state area for the newest record.
            /// Nothing is written.
            pub $($asyncness)? fn open(mut flash: F, layout: Layout) -> Result<Self, FlashError<F::Error>> {
                let capacity = flash.capacity();
                let geometry = Geometry::new(F::READ_SIZE, F::WRITE_SIZE, F::ERASE_SIZE, capacity, B, layout)
                    .ok_or(FlashError::Layout)?;
                let mut buf = [0xffu8; B];
                let mut scan = Scan::new(geometry.per_sector);
                for slot in 0..StateLog::slots(geometry.per_sector) {
                    let bytes = buf.get_mut(..geometry.slot as usize).unwrap_or(&mut []);
                    flash.read(geometry.slot_offset(slot), bytes) $($await)* .map_err(FlashError::Flash)?;
                    scan.add(slot, Slot::of(bytes.get(..RECORD_LEN).unwrap_or(&[])));
                }
                let (record, log) = scan.finish();
                let core = Core {
                    geometry,
                    record,
                    log,
                    pending: None,
                    next_tag: 0,
                    run: None,
                    object: Record::EMPTY,
                    buf,
                };
                Ok($name { flash, core })
            }

            /// The newest record: what the image region holds (what a reset now would leave).
            pub fn record(&self) -> &Record {
                &self.core.record
            }

            /// The committed image's length, when the record says the region holds one (its
            /// digest matched what was read back, SHA-256 if [`Record::digest`] says so).
            pub fn committed(&self) -> Option<u64> {
                self.core.committed()
            }

            /// Whether a transfer is being written.
            pub fn is_writing(&self) -> bool {
                self.core.run.is_some()
            }

            /// The layout it was opened with.
            pub fn layout(&self) -> Layout {
                self.core.geometry.layout
            }

            /// The flash (to read the image).
            pub fn flash_mut(&mut self) -> &mut F {
                &mut self.flash
            }

            /// Gives the flash back.
            pub fn into_flash(self) -> F {
                self.flash
            }

            /// A transfer connected ([`ReceiverEvent::Connected`](crate::ReceiverEvent), with
            /// its `tag` and `transfer_size`): the sink writes it from now on. A transfer from 0
            /// first replaces a record that holds anything (so that no record counts bytes about
            /// to be erased); a resumed one checks that the record still holds its resume point,
            /// and gives the digest the held bytes, read back from the flash.
            ///
            /// It refuses the transfer itself (and says why): without a size or larger than the
            /// image region (reason 2), a receiver without
            /// [`hash_read_back`](crate::ReceiverConfig::hash_read_back), a resume point not
            /// held, or a flash error (reason 4).
            pub $($asyncness)? fn connected<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
                now: Instant,
                tag: u32,
                transfer_size: Option<u64>,
            ) -> Result<(), FlashError<F::Error>> {
                self.core.run = None;
                let pending = self.core.pending.take().filter(|p| p.tag == tag);
                if !receiver.config().hash_read_back {
                    return Err(refuse(receiver, now, RefuseReason::Storage, FlashError::NotReadBack));
                }
                let image_len = self.core.geometry.layout.image_len;
                let Some(size) = transfer_size.and_then(|s| u32::try_from(s).ok()).filter(|&s| s <= image_len)
                else {
                    return Err(refuse(receiver, now, RefuseReason::TooLarge, FlashError::TooLarge));
                };
                let object = match pending {
                    Some(p) if p.object.size() == u64::from(size) => p.object,
                    _ => Record::partial(None, u64::from(size), 0),
                };
                let from = receiver.resume_from();
                let held = self.core.record;
                let write = if from > 0 {
                    let unit = u64::from(self.core.geometry.unit.max(1));
                    let holds = object.object_id().is_some()
                        && held.object_id() == object.object_id()
                        && held.size() == u64::from(size)
                        && held.durable() >= from
                        && from <= u64::from(size)
                        && (from == u64::from(size) || from.is_multiple_of(unit));
                    if !holds {
                        return Err(refuse(receiver, now, RefuseReason::Storage, FlashError::NotHeld));
                    }
                    // What lies past the resume point is erased before it is written again: no
                    // record may count it (or call the image committed) meanwhile. Resumed from
                    // its end, a committed image is only verified again.
                    let resumed = Record::partial(object.object_id(), u64::from(size), from);
                    let rewrites = from < u64::from(size) && (held.durable() > from || held.is_committed());
                    rewrites.then_some(resumed)
                } else {
                    held.holds_anything().then_some(object)
                };
                if let Some(record) = write
                    && let Err(e) = self.write_record(record) $($await)*
                {
                    return Err(refuse(receiver, now, RefuseReason::Storage, FlashError::Flash(e)));
                }
                let from = from.min(u64::from(size)) as u32;
                let erase = self.core.geometry.erase;
                // The resume point is a sector boundary, or the end (nothing more to write).
                let erased_to = if from.is_multiple_of(erase.max(1)) {
                    from
                } else {
                    round_up(from, erase).unwrap_or(image_len).min(image_len)
                };
                let hash = receiver.digest().is_some();
                self.core.run =
                    Some(Run { tag, size, at: from, fill: 0, erased_to, hash, broken: false });
                self.core.object = object;
                if hash && let Err(e) = self.hash_held(receiver, from) $($await)* {
                    self.core.run = None;
                    return Err(refuse(receiver, now, RefuseReason::Storage, FlashError::Flash(e)));
                }
                Ok(())
            }

            /// Gives the digest the first `len` bytes of the image region, read back.
            $($asyncness)? fn hash_held<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
                len: u32,
            ) -> Result<(), F::Error> {
                let g = self.core.geometry;
                let mut at = 0;
                // One buffer a pass: at most `image_len / B` passes.
                while at < len {
                    let n = (len - at).min(B as u32);
                    let read = round_up(n, g.read).unwrap_or(n).min(B as u32) as usize;
                    let buf = self.core.buf.get_mut(..read).unwrap_or(&mut []);
                    self.flash.read(g.layout.image_start + at, buf) $($await)*?;
                    receiver.hash_prefix(buf.get(..n as usize).unwrap_or(&[]));
                    at += n;
                }
                Ok(())
            }

            /// Takes what the receiver has to the flash: into the buffer, written (and read back
            /// for the digest) each time the buffer fills or the object ends. Returns the bytes
            /// taken. A flash error refuses the transfer (reason 4) and ends it here; its durable
            /// bytes stay recorded for resume.
            pub $($asyncness)? fn take<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
                now: Instant,
            ) -> Result<usize, FlashError<F::Error>> {
                let Some(run) = self.core.run else { return Ok(0) };
                if run.broken {
                    self.core.run = None;
                    return Err(refuse(receiver, now, RefuseReason::Storage, FlashError::Incomplete));
                }
                let mut taken = 0;
                // Each pass takes at least one byte of at most W frames.
                for _ in 0..=W * MAX_PAYLOAD {
                    let Some(mut run) = self.core.run else { break };
                    let readable = receiver.readable();
                    let room = (B as u32 - run.fill.min(B as u32)).min(run.size - run.at.min(run.size));
                    let n = readable.len().min(room as usize);
                    if n == 0 {
                        break;
                    }
                    let fill = run.fill as usize;
                    if let (Some(to), Some(from)) = (self.core.buf.get_mut(fill..fill + n), readable.get(..n)) {
                        to.copy_from_slice(from);
                    }
                    receiver.consume(n);
                    run.fill += n as u32;
                    run.at += n as u32;
                    taken += n;
                    self.core.run = Some(run);
                    if run.fill as usize == B || run.at == run.size {
                        if let Err(e) = self.flush(receiver) $($await)* {
                            self.core.run = None;
                            return Err(refuse(receiver, now, RefuseReason::Storage, e));
                        }
                    }
                }
                Ok(taken)
            }

            /// Writes the buffer (padded with 0xFF to the write size), erasing first what it
            /// covers; reads it back for the digest (the padding, which the digest does not
            /// cover, must read back as written); records the durable length when it grew.
            $($asyncness)? fn flush<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
            ) -> Result<(), FlashError<F::Error>> {
                let Some(mut run) = self.core.run else { return Ok(()) };
                let g = self.core.geometry;
                let len = run.fill.min(B as u32);
                let start = run.at - len;
                let padded = round_up(len, g.write).unwrap_or(len).min(B as u32);
                if let Some(pad) = self.core.buf.get_mut(len as usize..padded as usize) {
                    pad.fill(0xff);
                }
                // Each sector the write reaches, erased before its first write.
                while run.erased_to < start + padded {
                    let sector = g.layout.image_start + run.erased_to;
                    self.flash.erase(sector, sector + g.erase) $($await)*.map_err(FlashError::Flash)?;
                    run.erased_to += g.erase;
                    self.core.run = Some(run);
                }
                let buf = self.core.buf.get_mut(..padded as usize).unwrap_or(&mut []);
                self.flash.write(g.layout.image_start + start, buf) $($await)*.map_err(FlashError::Flash)?;
                if run.hash {
                    // Whole read units (past the padding: erased bytes of the sector).
                    let read = round_up(padded, g.read).unwrap_or(padded).min(B as u32) as usize;
                    let buf = self.core.buf.get_mut(..read).unwrap_or(&mut []);
                    self.flash.read(g.layout.image_start + start, buf) $($await)*.map_err(FlashError::Flash)?;
                    receiver.hash_prefix(buf.get(..len as usize).unwrap_or(&[]));
                    let pad = buf.get(len as usize..padded as usize).unwrap_or(&[]);
                    if pad.iter().any(|&b| b != 0xff) {
                        return Err(FlashError::BadWrite);
                    }
                }
                run.fill = 0;
                self.core.run = Some(run);
                // Progress, for an object with an id: the durable length, once it grew.
                let durable = self.core.durable(&run, run.at);
                let object = &self.core.object;
                if object.object_id().is_some() && durable > self.core.record.durable() {
                    let record = Record::partial(object.object_id(), object.size(), durable);
                    self.write_record(record) $($await)*.map_err(FlashError::Flash)?;
                }
                Ok(())
            }

            /// Erases the next sector of the running transfer ahead of its data, if it is not
            /// erased yet (up to the end of the sector after the one being written): call it
            /// while waiting for the network, so that the data path seldom waits for an erase.
            /// Returns whether it erased one. A flash error ends the transfer at the next
            /// [`take`](Self::take) (reason 4).
            pub $($asyncness)? fn erase_ahead(&mut self) -> Result<bool, FlashError<F::Error>> {
                let Some(mut run) = self.core.run else { return Ok(false) };
                let g = self.core.geometry;
                let end = round_up(run.size, g.erase).unwrap_or(g.layout.image_len).min(g.layout.image_len);
                let want = round_down(run.at, g.erase).saturating_add(2 * g.erase).min(end);
                if run.broken || run.erased_to >= want {
                    return Ok(false);
                }
                let sector = g.layout.image_start + run.erased_to;
                match self.flash.erase(sector, sector + g.erase) $($await)* {
                    Ok(()) => run.erased_to += g.erase,
                    Err(e) => {
                        run.broken = true;
                        self.core.run = Some(run);
                        return Err(FlashError::Flash(e));
                    }
                }
                self.core.run = Some(run);
                Ok(true)
            }

            /// The transfer finished ([`ReceiverEvent::Finished`](crate::ReceiverEvent): all
            /// data in, and the digest, when one was agreed, matched what was read back): the
            /// sink records the image as committed, then lets the FIN be answered
            /// ([`Receiver::committed`]). On a flash error the FIN is answered with a refusal
            /// (reason 4, [`Receiver::commit_failed`]) and the record stays as it was.
            pub $($asyncness)? fn finished<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
                now: Instant,
            ) -> Result<Committed, FlashError<F::Error>> {
                let committed = self.commit(receiver, now) $($await)*?;
                receiver.committed(now);
                Ok(committed)
            }

            /// [`finished`](Self::finished) up to the record: the image is recorded as
            /// committed, the FIN not answered yet (the caller answers it: the embassy-boot
            /// adapter marks the update first). On an error the FIN is already answered with
            /// a refusal.
            #[cfg_attr(not(feature = "embassy-boot"), allow(dead_code))]
            pub(crate) $($asyncness)? fn commit<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
                now: Instant,
            ) -> Result<Committed, FlashError<F::Error>> {
                let run = self.core.run.take();
                let Some(run) = run.filter(|r| r.at == r.size && r.fill == 0 && receiver.has_succeeded()) else {
                    receiver.commit_failed(now);
                    return Err(FlashError::Incomplete);
                };
                let digest = receiver.digest();
                if let Err(e) = self.write_record(self.core.object.committed_with(digest)) $($await)* {
                    receiver.commit_failed(now);
                    return Err(FlashError::Flash(e));
                }
                Ok(Committed { len: u64::from(run.size), digest })
            }

            /// The transfer tagged `tag` failed with `error` ([`ReceiverEvent::Failed`](
            /// crate::ReceiverEvent)): the sink stops writing it. Its durable bytes stay
            /// recorded for resume, unless the digest did not match (SPEC §10.5: then the record
            /// is cleared and the next try starts from 0). Another transfer's failure is ignored.
            pub $($asyncness)? fn failed(&mut self, tag: u32, error: Error) -> Result<(), FlashError<F::Error>> {
                if self.core.run.is_none_or(|r| r.tag != tag) {
                    return Ok(());
                }
                self.core.run = None;
                if error == Error::DigestMismatch && self.core.record.holds_anything() {
                    self.write_record(Record::EMPTY) $($await)* .map_err(FlashError::Flash)?;
                }
                Ok(())
            }

            /// Writes `record` into the next slot of the state area (erasing its sector first
            /// when it starts one). The buffer holds no data meanwhile.
            $($asyncness)? fn write_record(&mut self, record: Record) -> Result<(), F::Error> {
                let g = self.core.geometry;
                let (slot, erase_first) = self.core.log.next();
                if erase_first {
                    let sector = g.sector_offset(self.core.log.sector_of(slot));
                    self.flash.erase(sector, sector + g.erase) $($await)*?;
                    self.core.log.erased();
                }
                let buf = self.core.buf.get_mut(..g.slot as usize).unwrap_or(&mut []);
                buf.fill(0xff);
                record.encode(self.core.log.next_seq(), buf);
                self.flash.write(g.slot_offset(slot), buf) $($await)*?;
                self.core.log.written();
                self.core.record = record;
                Ok(())
            }
        }

        /// The admission policy of a [`Listener`](crate::Listener) that writes into this sink
        /// (see the [module docs](crate::flash)).
        impl<E, F, const B: usize> Admit<E> for $name<F, B> {
            fn admit(&mut self, offer: &Offer<'_, E>) -> Admission {
                self.core.admit(offer)
            }
        }
    };
}

/// Refuses the transfer of `receiver` with `reason` (SPEC §10.4), and gives `error` back.
fn refuse<E: Copy + PartialEq, const W: usize, const H: usize, X>(
    receiver: &mut Receiver<E, W, H>,
    now: Instant,
    reason: RefuseReason,
    error: X,
) -> X {
    receiver.abort(now, Error::Stopped(reason));
    error
}

mod blocking {
    use embedded_storage::nor_flash::NorFlash;

    use super::*;

    flash_sink!(
        /// A sink that writes a transfer into a region of a blocking NOR flash
        /// (`embedded_storage::nor_flash::NorFlash`), with resume records: see the
        /// [module docs](crate::flash) for what it does and how a firmware runs it. `B` is its buffer
        /// (default 512 bytes): a multiple of the flash's `WRITE_SIZE` and `READ_SIZE`, and of
        /// at least 64 bytes (one record slot).
        FlashSink, [], []
    );
}

#[cfg(feature = "embedded-storage-async")]
mod asynch {
    use embedded_storage_async::nor_flash::NorFlash;

    use super::*;

    flash_sink!(
        /// [`FlashSink`](super::FlashSink) over an async NOR flash
        /// (`embedded_storage_async::nor_flash::NorFlash`): the same methods, `async` where
        /// they touch the flash.
        AsyncFlashSink, [async], [.await]
    );
}

#[cfg(feature = "embedded-storage-async")]
pub use asynch::AsyncFlashSink;
pub use blocking::FlashSink;
