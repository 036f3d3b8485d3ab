//! A receiver's one reply waiting for the driver: a header and a few option bytes, built in a
//! small buffer of its own (SPEC §10: a reply carries only what was granted, in ascending type
//! order). A newer reply replaces an older one not yet sent.

use crate::digest::DigestAlgorithm;
use crate::engine::Transmit;
use crate::error::RefuseReason;
use crate::frame::{HEADER_LEN, Packet, Repr};
use crate::options;
use crate::trace::Trace;

/// Room for a reply: a header and a few option bytes (a SYN|ACK's two grants, a full `sack`).
const CAPACITY: usize = HEADER_LEN + 16;

/// The reply buffer.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Reply<E> {
    buf: [u8; CAPACITY],
    len: u8,
    to: Option<E>,
    dup: bool,
}

impl<E: Copy> Reply<E> {
    pub const fn new() -> Reply<E> {
        Reply { buf: [0; CAPACITY], len: 0, to: None, dup: false }
    }

    /// Puts `repr` and `options` (an option list) in the buffer, for `to`.
    pub fn queue(&mut self, to: E, repr: Repr, options: &[u8], dup: bool) {
        let (header, area) = self.buf.split_at_mut(HEADER_LEN);
        let len = options.len().min(area.len());
        area[..len].copy_from_slice(&options[..len]);
        repr.emit(&mut Packet::new_unchecked(header));
        self.len = (HEADER_LEN + len) as u8;
        self.to = Some(to);
        self.dup = dup;
    }

    /// A SYN|ACK: exactly the options granted, in ascending type order (SPEC §10): the
    /// window when `window` is 2 or more and `windows` (the caller can grant one at all),
    /// the digest when one is granted, `resume-from` when not 0 (SPEC §10.5).
    #[allow(clippy::too_many_arguments)]
    pub fn syn_ack(
        &mut self,
        to: E,
        repr: Repr,
        windows: bool,
        window: u8,
        digest: Option<DigestAlgorithm>,
        resume_from: u64,
        dup: bool,
    ) {
        let mut granted = [0u8; 16];
        let mut len = 0;
        if windows && window >= 2 {
            let area = granted.get_mut(len..).unwrap_or(&mut []);
            len += options::write_option(area, options::WINDOW, &[window]).unwrap_or(0);
        }
        if let Some(digest) = digest {
            let area = granted.get_mut(len..).unwrap_or(&mut []);
            len += options::write_option(area, options::DIGEST, &[digest.code()]).unwrap_or(0);
        }
        if resume_from > 0 {
            let area = granted.get_mut(len..).unwrap_or(&mut []);
            len += options::write_option(area, options::RESUME_FROM, &resume_from.to_le_bytes()).unwrap_or(0);
        }
        self.queue(to, repr, granted.get(..len).unwrap_or(&[]), dup);
    }

    /// A reply whose payload is a `refuse` alone (SPEC §10.4).
    pub fn refusal(&mut self, to: E, repr: Repr, reason: RefuseReason, dup: bool) {
        self.queue(to, repr, &[options::REFUSE, 1, reason.code()], dup);
    }

    /// Forgets the reply (the connection ended: it is not needed any more).
    pub fn clear(&mut self) {
        self.to = None;
    }

    /// Whether a reply waits for the driver.
    pub fn is_pending(&self) -> bool {
        self.to.is_some()
    }

    /// The reply, for the driver to send; the buffer is free again.
    pub fn take(&mut self) -> Option<Transmit<'_, E>> {
        let to = self.to.take()?;
        let split = self.buf.split_first_chunk::<HEADER_LEN>();
        debug_assert!(split.is_some(), "the reply buffer is longer than a header");
        let (header, _) = split.unwrap_or((&[0; HEADER_LEN], &[]));
        let trace = Trace::send(Repr::read_emitted(header), self.dup);
        let datagram = &self.buf[..usize::from(self.len).min(CAPACITY)];
        Some(Transmit { to, datagram, trace })
    }
}
