//! Firmware updates through [embassy-boot](https://docs.rs/embassy-boot) (feature
//! `embassy-boot`): [`BootSink`] over a blocking flash, [`AsyncBootSink`] over an async one.
//!
//! The adapter is a [`FlashSink`] whose image region is embassy-boot's DFU partition, and
//! embassy-boot's state half of the `FirmwareUpdater` ([`BlockingFirmwareState`] /
//! [`FirmwareState`]) over its STATE partition. The sink writes the image into the DFU
//! partition as it does any image (each sector erased before its first write, every buffer read
//! back and given to the digest, resume records), so embassy-boot's `prepare_update` and
//! `write_firmware` are not used: they would erase and write the same partition, without the
//! read-back. The adapter adds three rules:
//!
//! - **SHA-256 only.** A transfer that did not agree on SHA-256 (SPEC §10.2) is refused with
//!   reason 4 when it connects, before anything is erased: an image is only marked once a
//!   cryptographic digest matched it.
//! - **Marked only after the read-back digest matched.** [`BootSink::finished`] is the only
//!   path to embassy-boot's `mark_updated`, and it calls it only after the sink's commit
//!   returned a [`Committed`] whose digest is SHA-256. The sink commits only on the receiver's
//!   `Finished` event, which comes only when all data reached the flash and the digest over
//!   the bytes *read back from the flash* matched the sender's; a cut transfer, a digest
//!   mismatch, a flash error or a bad write never reaches it. The update is marked before the
//!   FIN is answered, so a sender is told of success only when the board will boot the image;
//!   if marking fails, the FIN is answered with a refusal (reason 4).
//! - **Never while an update is pending.** While embassy-boot's state is `Swap` (an update is
//!   marked and not yet booted, or the new image has booted and not yet confirmed it with
//!   [`BootSink::mark_booted`]), transfers are refused (reason 4): writing the DFU partition
//!   then could have the bootloader swap in a half-written image. This is embassy-boot's own
//!   rule for `write_firmware` (`verify_booted`).
//!
//! ## Layout
//!
//! The sink's flash holds the DFU partition and, outside it, the sink's state area (two erase
//! sectors for the resume records, [`Layout`](super::Layout)): embassy-boot uses the whole DFU partition
//! during the swap (its last page as scratch) and its STATE partition for its magic, so the
//! records may be in neither. The image region starts at the DFU partition's start and is at
//! most the ACTIVE partition's length (a larger transfer is refused with reason 2 before
//! anything is erased); embassy-boot's DFU partition is one page larger than ACTIVE.
//!
//! After the bootloader swapped, the DFU partition holds the previous image, and the sink's
//! record still names the new one: an offer of that same object resumes "all held" and fails
//! its digest over what is read back, so it is taken again from 0. Nothing stale is ever
//! marked.
//!
//! ```
//! use core::cell::RefCell;
//!
//! use embassy_boot::{BlockingFirmwareState, State};
//! use embassy_embedded_hal::flash::partition::BlockingPartition;
//! use embassy_sync::blocking_mutex::Mutex;
//! use embassy_sync::blocking_mutex::raw::NoopRawMutex;
//! use rudp_nostd::flash::{BootSink, FlashSink, Layout};
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
//! #             *cell &= byte;
//! #         }
//! #         Ok(())
//! #     }
//! # }
//!
//! // One flash: STATE (embassy-boot's) at 0, 4 KiB; the DFU partition at 8 KiB, 40 KiB (ACTIVE
//! // is 36 KiB elsewhere); the sink's resume records in the two sectors after the DFU.
//! let flash = Mutex::<NoopRawMutex, _>::new(RefCell::new(Ram([0xff; 65536])));
//! let state = BlockingPartition::new(&flash, 0, 4096);
//! let dfu_and_records = BlockingPartition::new(&flash, 8192, 48 * 1024);
//! let layout = Layout { image_start: 0, image_len: 36 * 1024, state_start: 40 * 1024 };
//! let sink: FlashSink<_> = FlashSink::open(dfu_and_records, layout).unwrap();
//! let mut aligned = [0u8; 4]; // the STATE flash's WRITE_SIZE
//! let mut boot = BootSink::new(sink, BlockingFirmwareState::new(state, &mut aligned));
//! assert_eq!(boot.get_state().unwrap(), State::Boot);
//! // A Listener<_, BootSink<..>, 1, W> runs it as the flash module's loop runs a FlashSink
//! // (`boot.finished` marks the update), then the firmware resets into the bootloader.
//! ```

use core::fmt;

use embassy_boot::{BlockingFirmwareState, FirmwareState, FirmwareUpdaterError, State};

#[cfg(feature = "embedded-storage-async")]
use super::AsyncFlashSink;
use super::{Committed, DEFAULT_BUFFER, FlashError, FlashSink};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, RefuseReason};
use crate::listener::{Admission, Admit, Offer};
use crate::receiver::Receiver;
use crate::time::Instant;

/// Why the adapter did not do what it was asked. Where a transfer was running, it has already
/// been refused or its FIN answered with a refusal (reason 4, or 2 for a size).
#[derive(Debug)]
pub enum BootError<E> {
    /// The flash sink's error (the DFU partition or the resume records).
    Sink(FlashError<E>),
    /// embassy-boot's state partition failed (reading the state, or marking).
    Boot(FirmwareUpdaterError),
    /// The transfer did not agree on SHA-256: refused with reason 4, nothing written or marked.
    NotSha256,
    /// An update is marked and not yet booted and confirmed (embassy-boot's state is `Swap`):
    /// refused with reason 4, nothing written.
    Pending,
}

impl<E: fmt::Debug> fmt::Display for BootError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::Sink(e) => write!(f, "{e}"),
            BootError::Boot(e) => write!(f, "embassy-boot: {e:?}"),
            BootError::NotSha256 => f.write_str("the transfer has no SHA-256 digest"),
            BootError::Pending => f.write_str("an update is pending (state Swap)"),
        }
    }
}

#[cfg(feature = "defmt")]
impl<E: defmt::Format> defmt::Format for BootError<E> {
    fn format(&self, fmt: defmt::Formatter) {
        match self {
            BootError::Sink(e) => defmt::write!(fmt, "BootError::Sink({})", e),
            // embassy-boot's own defmt (its feature `defmt`) logs, so this crate leaves it off:
            // its error is shown by what it is.
            BootError::Boot(FirmwareUpdaterError::Flash(kind)) => {
                defmt::write!(fmt, "BootError::Boot(Flash({}))", defmt::Debug2Format(kind))
            }
            BootError::Boot(FirmwareUpdaterError::BadState) => {
                defmt::write!(fmt, "BootError::Boot(BadState)")
            }
            BootError::Boot(FirmwareUpdaterError::Signature(_)) => {
                defmt::write!(fmt, "BootError::Boot(Signature)")
            }
            BootError::NotSha256 => defmt::write!(fmt, "BootError::NotSha256"),
            BootError::Pending => defmt::write!(fmt, "BootError::Pending"),
        }
    }
}

impl<E> From<FlashError<E>> for BootError<E> {
    fn from(e: FlashError<E>) -> Self {
        BootError::Sink(e)
    }
}

/// Writes an adapter type `$name` over sink `$sink` and embassy-boot state `$state`, with the
/// `NorFlash` traits in scope where it is invoked; `[$($asyncness)?]` is empty or `async`,
/// `[$($await)*]` empty or `.await`.
macro_rules! boot_sink {
    ($(#[$meta:meta])* $name:ident, $sink:ident, $state:ident, [$($asyncness:tt)?], [$($await:tt)*]) => {
        $(#[$meta])*
        pub struct $name<'d, F, S, const B: usize = DEFAULT_BUFFER> {
            sink: $sink<F, B>,
            state: $state<'d, S>,
            /// Marked in this boot: no other transfer is taken until a reset.
            marked: bool,
            /// embassy-boot's state as last read was `Swap` (or could not be read).
            pending: bool,
        }

        impl<'d, F: NorFlash, S: NorFlash, const B: usize> $name<'d, F, S, B> {
            /// The adapter over `sink` (opened over the flash that holds the DFU partition as
            /// its image region, see the [module docs](crate::flash::boot)) and embassy-boot's
            /// state over its STATE partition (`from_config` or `new` with a buffer of the
            /// STATE flash's `WRITE_SIZE`).
            pub fn new(sink: $sink<F, B>, state: $state<'d, S>) -> Self {
                $name { sink, state, marked: false, pending: false }
            }

            /// embassy-boot's state: `Swap` after an update is marked, and again in the new
            /// image's first boot until it confirms itself ([`mark_booted`](Self::mark_booted)).
            pub $($asyncness)? fn get_state(&mut self) -> Result<State, FirmwareUpdaterError> {
                self.state.get_state() $($await)*
            }

            /// Confirms that the running image booted (embassy-boot's `mark_booted`): a new
            /// image calls it once it works (else the bootloader reverts to the old one at the
            /// next reset); updates are refused until then.
            pub $($asyncness)? fn mark_booted(&mut self) -> Result<(), FirmwareUpdaterError> {
                self.state.mark_booted() $($await)*?;
                // Not after a mark in this boot: that update is still to be swapped in.
                self.pending = self.marked;
                Ok(())
            }

            /// Whether this adapter marked an update since it was made: the firmware resets
            /// into the bootloader now.
            pub fn is_marked(&self) -> bool {
                self.marked
            }

            /// The flash sink (its record, its flash).
            pub fn sink(&self) -> &$sink<F, B> {
                &self.sink
            }

            /// The flash sink, mutable (to read the image); committing through it directly
            /// marks nothing.
            pub fn sink_mut(&mut self) -> &mut $sink<F, B> {
                &mut self.sink
            }

            /// A transfer connected ([`FlashSink::connected`]): refused with reason 4 unless
            /// it agreed on SHA-256 and no update is pending, before anything is erased.
            pub $($asyncness)? fn connected<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
                now: Instant,
                tag: u32,
                transfer_size: Option<u64>,
            ) -> Result<(), BootError<F::Error>> {
                let pending = self.marked || !matches!(self.state.get_state() $($await)*, Ok(State::Boot | State::Revert | State::DfuDetach));
                if pending {
                    self.pending = true;
                    receiver.abort(now, Error::Stopped(RefuseReason::Storage));
                    return Err(BootError::Pending);
                }
                if receiver.digest() != Some(DigestAlgorithm::Sha256) {
                    receiver.abort(now, Error::Stopped(RefuseReason::Storage));
                    return Err(BootError::NotSha256);
                }
                Ok(self.sink.connected(receiver, now, tag, transfer_size) $($await)*?)
            }

            /// Takes what the receiver has into the DFU partition ([`FlashSink::take`]).
            pub $($asyncness)? fn take<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
                now: Instant,
            ) -> Result<usize, BootError<F::Error>> {
                Ok(self.sink.take(receiver, now) $($await)*?)
            }

            /// Erases ahead of the data while waiting for the network
            /// ([`FlashSink::erase_ahead`]).
            pub $($asyncness)? fn erase_ahead(&mut self) -> Result<bool, BootError<F::Error>> {
                Ok(self.sink.erase_ahead() $($await)*?)
            }

            /// The transfer tagged `tag` failed ([`FlashSink::failed`]): nothing is marked.
            pub $($asyncness)? fn failed(&mut self, tag: u32, error: Error) -> Result<(), BootError<F::Error>> {
                Ok(self.sink.failed(tag, error) $($await)*?)
            }

            /// The transfer finished ([`ReceiverEvent::Finished`](crate::ReceiverEvent)): the
            /// sink records the image as committed (all of it on the flash, the SHA-256 over
            /// what was read back matched), then embassy-boot's `mark_updated` sets the swap
            /// magic, then the FIN is answered. Any failure answers the FIN with a refusal
            /// (reason 4) and marks nothing; a commit without SHA-256 (which
            /// [`connected`](Self::connected) already refuses) is never marked.
            pub $($asyncness)? fn finished<E: Copy + PartialEq, const W: usize, const H: usize>(
                &mut self,
                receiver: &mut Receiver<E, W, H>,
                now: Instant,
            ) -> Result<Committed, BootError<F::Error>> {
                let committed = self.sink.commit(receiver, now) $($await)*?;
                if committed.digest != Some(DigestAlgorithm::Sha256) {
                    receiver.commit_failed(now);
                    return Err(BootError::NotSha256);
                }
                if self.marked {
                    receiver.commit_failed(now);
                    return Err(BootError::Pending);
                }
                if let Err(e) = self.state.mark_updated() $($await)* {
                    receiver.commit_failed(now);
                    return Err(BootError::Boot(e));
                }
                self.marked = true;
                receiver.committed(now);
                Ok(committed)
            }
        }

        /// The admission policy: the flash sink's (see the [module docs](crate::flash)), and
        /// every offer refused (reason 4) once an update was marked, or while one is pending.
        impl<'d, E, F, S, const B: usize> Admit<E> for $name<'d, F, S, B> {
            fn admit(&mut self, offer: &Offer<'_, E>) -> Admission {
                if self.marked || self.pending {
                    return Admission::Refuse(RefuseReason::Storage);
                }
                Admit::<E>::admit(&mut self.sink, offer)
            }
        }

        impl<'d, F: fmt::Debug, S, const B: usize> fmt::Debug for $name<'d, F, S, B> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("sink", &self.sink)
                    .field("marked", &self.marked)
                    .field("pending", &self.pending)
                    .finish_non_exhaustive()
            }
        }
    };
}

mod blocking {
    use embedded_storage::nor_flash::NorFlash;

    use super::*;

    boot_sink!(
        /// A firmware update through embassy-boot over blocking flashes: a [`FlashSink`] over
        /// the DFU partition (and the resume records beside it) and embassy-boot's
        /// [`BlockingFirmwareState`] over its STATE partition. See the
        /// [module docs](crate::flash::boot): it marks the update only after the SHA-256 over
        /// the image read back from the DFU partition matched.
        BootSink, FlashSink, BlockingFirmwareState, [], []
    );
}

#[cfg(feature = "embedded-storage-async")]
mod asynch {
    use embedded_storage_async::nor_flash::NorFlash;

    use super::*;

    boot_sink!(
        /// [`BootSink`](super::BootSink) over async flashes: an [`AsyncFlashSink`] and
        /// embassy-boot's [`FirmwareState`]; the same methods, `async` where they touch the
        /// flash.
        AsyncBootSink, AsyncFlashSink, FirmwareState, [async], [.await]
    );
}

#[cfg(feature = "embedded-storage-async")]
pub use asynch::AsyncBootSink;
pub use blocking::BootSink;

#[cfg(all(test, feature = "sha256"))]
mod tests;
