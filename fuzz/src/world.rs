//! What the two engine worlds (`receiver_world`, `sender_world`) share: endpoints, time
//! steps, the history of past datagrams, the scripted data, near-miss fields and junk
//! payloads, which errors need an extension, and the errors an application stops with.

use std::collections::VecDeque;

use rudp_nostd::{Duration, Error};

use super::spec::refuse_reason;

/// Endpoints are small numbers: the engines take any `Copy + PartialEq` type.
pub(crate) type Endpoint = u8;
/// The well-behaved peer (the scripted sender, or the sender's receiver).
pub(crate) const PEER: Endpoint = 0;
/// The other endpoints are `1..ENDPOINTS`.
pub(crate) const ENDPOINTS: u8 = 4;
/// At most this many past datagrams are kept to be sent again as network duplicates.
pub(crate) const HISTORY: usize = 32;
/// The longest scripted transfer: six frames, so that several full frames and a short last
/// one occur, short enough that the fuzzer finishes transfers.
pub const MAX_PATTERN: usize = 3000;
/// A short wait is `byte * WAIT_UNIT`; a long one (enough for the idle timeout),
/// `byte * WAIT_LONG_UNIT`.
pub(crate) const WAIT_UNIT: Duration = Duration::from_millis(4);
/// The unit of a long wait (see [`WAIT_UNIT`]).
pub(crate) const WAIT_LONG_UNIT: Duration = Duration::from_millis(64);

/// The endpoint an op byte names in its bits 3 and 4.
pub(crate) fn endpoint_of(op: u8) -> Endpoint {
    (op >> 3) % ENDPOINTS
}

/// Keeps `datagram` from `from` to be sent again, dropping the oldest past [`HISTORY`].
pub(crate) fn push_history(history: &mut VecDeque<(Endpoint, Vec<u8>)>, from: Endpoint, datagram: &[u8]) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back((from, datagram.to_vec()));
}

/// The scripted data of `len` bytes: the same for every harness and seed. Never zero (the
/// reference profile strips trailing zeros) and without a short period, so that a chunk
/// written at the wrong offset shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| (mix(i) % 255) as u8 + 1).collect()
}

/// SplitMix64's output function.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A field delta from one input byte: -2..=2 for bytes below 0x80 (near misses are the
/// interesting ones), else -128..=-1.
pub(crate) fn small_delta(byte: u8) -> i64 {
    if byte < 0x80 { i64::from(byte % 5) - 2 } else { i64::from(byte as i8) }
}

/// `len` payload bytes from one input byte: zeros for 0, else counting bytes that end in
/// `fill % 4` zeros (which the reference receiver strips).
pub(crate) fn filler(len: usize, fill: u8) -> Vec<u8> {
    let zeros = usize::from(fill % 4);
    (0..len).map(|i| if fill == 0 || i + zeros >= len { 0 } else { fill.wrapping_add(i as u8) | 1 }).collect()
}

/// Whether `error` is one the engines report for reasons other than a negotiated extension
/// (SPEC §10): those are checked one by one; any other is an extension's verdict (a grant
/// that was not offered, a digest mismatch), allowed only where an extension is in play.
pub(crate) fn is_basic_error(error: Error) -> bool {
    matches!(error, Error::IdleTimeout | Error::AcceptTimeout | Error::Source(_) | Error::Sink(_))
}

/// The error an application stops a transfer with, for the `STOP` ops of both engine worlds:
/// `byte % 4` picks a reason given ([`Error::Stopped`] with the reason `byte >> 2` stands for,
/// unknown ones and 0 included), a length mismatch, an idle timeout (no reason of its own:
/// cancelled), or the source's early end.
pub(crate) fn stop_error(byte: u8) -> Error {
    match byte % 4 {
        0 => Error::Stopped(refuse_reason(byte >> 2)),
        1 => Error::LengthMismatch,
        2 => Error::IdleTimeout,
        _ => Error::SourceEndedEarly,
    }
}
