//! The admission policy of `rudp serve`: which transfers to take (the name checked, the size
//! against `--max-size`), under which name, and whether to resume one (SPEC §10.4, §10.5).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rudp_nostd::{Admission, Admit, Offer, RefuseReason};

use super::HALF_OPEN;
use super::log::{Line, Outcome};
use crate::names;
use crate::partial::PartialStore;

/// The most SYNs admitted and not yet connected that the application remembers: the
/// listener keeps at most `HALF_OPEN` of them, so more are a flood; the oldest is forgotten.
const MAX_PENDING: usize = 16 * HALF_OPEN;

/// A SYN admitted, waiting for its third frame.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) name: Option<String>,
    pub(super) admitted_at: std::time::Instant,
    /// The object id and size, when the sender offered resume and the object has a name.
    pub(super) resumable: Option<(Vec<u8>, u64)>,
}

/// The admission policy: which transfers to take, and under which name.
#[derive(Debug)]
pub(super) struct Gate {
    pub(super) dir: PathBuf,
    pub(super) overwrite: bool,
    pub(super) max_size: Option<u64>,
    /// The idle timeout: how long the listener keeps a half-open entry.
    pub(super) idle: Duration,
    /// Where partial objects are kept for resume (`None` with `--no-resume`).
    pub(super) store: Option<PartialStore>,
    pub(super) pending: HashMap<u32, Pending>,
    pub(super) next_tag: u32,
    /// Refusals to log (the log needs the clock and the flags, which the loop has).
    pub(super) refusals: Vec<Line>,
}

impl Gate {
    fn refuse(
        &mut self,
        offer: &Offer<'_, SocketAddr>,
        reason: RefuseReason,
        why: Option<String>,
    ) -> Admission {
        let name = offer.name.map(|n| String::from_utf8_lossy(n).into_owned());
        let mut line = Line::new(offer.peer, name.unwrap_or_default());
        line.outcome = Outcome::Refused(reason, why);
        self.refusals.push(line);
        Admission::Refuse(reason)
    }
}

impl Admit<SocketAddr> for Gate {
    fn admit(&mut self, offer: &Offer<'_, SocketAddr>) -> Admission {
        let now = std::time::Instant::now();
        // Forget what the listener has forgotten (its half-open entries last an idle timeout),
        // and the oldest beyond the bound.
        let idle = self.idle;
        self.pending.retain(|_, p| now.duration_since(p.admitted_at) < idle);
        if self.pending.len() >= MAX_PENDING
            && let Some(oldest) = self.pending.iter().min_by_key(|(_, p)| p.admitted_at).map(|(tag, _)| *tag)
        {
            self.pending.remove(&oldest);
        }
        if let (Some(max), Some(size)) = (self.max_size, offer.transfer_size)
            && size > max
        {
            return self.refuse(
                offer,
                RefuseReason::TooLarge,
                Some(format!("{size} bytes, --max-size {max}")),
            );
        }
        let name = match offer.name {
            Some(bytes) => match names::resolve(&self.dir, bytes, self.overwrite) {
                Ok(_) => Some(String::from_utf8_lossy(bytes).into_owned()),
                Err(e) => return self.refuse(offer, RefuseReason::Name, Some(e.to_string())),
            },
            None => None,
        };
        self.next_tag = self.next_tag.wrapping_add(1);
        let tag = self.next_tag;
        // Resume (SPEC §10.5): a named object with an object id and a size; the kept record
        // must be for the same object id, size and name.
        let resumable = match (&self.store, &name, offer.object_id, offer.transfer_size) {
            (Some(_), Some(_), Some(id), Some(size)) => Some((id.to_vec(), size)),
            _ => None,
        };
        let from = match (&self.store, &name, &resumable) {
            (Some(store), Some(name), Some((id, size))) => store.files(name).resume_point(name, id, *size),
            _ => 0,
        };
        self.pending.insert(tag, Pending { name, admitted_at: now, resumable });
        if from > 0 { Admission::Resume { tag, from } } else { Admission::Take(tag) }
    }

    fn refused(&mut self, offer: &Offer<'_, SocketAddr>, reason: RefuseReason) {
        self.refuse(offer, reason, None);
    }
}
