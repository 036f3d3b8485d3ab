//! The committed seed corpus (`fuzz/corpus/<target>/seed-*`), generated: SPEC §9's vectors,
//! each rejection rule, the frames of real simulated transfers, and engine programs that
//! complete, lose, duplicate, time out and inject. The replay test writes the files and
//! checks that each seed reaches what it is for.

use rudp_nostd::blocking::{SinkReceiver, SourceSender};
use rudp_nostd::{Engine, Instant, Profile, Receiver, ReceiverConfig, Sender, SenderConfig};

use super::Outcome;
use super::input::Program;
use super::receiver_world::{rx_op, rx_setup};
use super::sender_world::{tx_op, tx_setup};
use super::spec::{self, raw_frame};
use super::world::{Endpoint, PEER, pattern};

/// A seed input for one target.
pub struct Seed {
    /// The target's name.
    pub target: &'static str,
    /// The file name, without the `seed-` prefix.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
    /// What a run of it reaches.
    pub reaches: Outcome,
}

/// No connection, no transfer: the frame targets' seeds.
const NOTHING: Outcome = Outcome { connected: false, completed: false, windowed: false };
/// A connection that does not complete the scripted transfer.
const CONNECTS: Outcome = Outcome { connected: true, completed: false, windowed: false };
/// The scripted transfer completes.
const COMPLETES: Outcome = Outcome { connected: true, completed: true, windowed: false };
/// The scripted transfer completes with a window (SPEC §10.1).
const COMPLETES_WINDOWED: Outcome = Outcome { connected: true, completed: true, windowed: true };
/// A connection with a window that does not complete the scripted transfer.
const CONNECTS_WINDOWED: Outcome = Outcome { connected: true, completed: false, windowed: true };

fn seed(target: &'static str, name: &str, bytes: Vec<u8>, reaches: Outcome) -> Seed {
    Seed { target, name: name.to_string(), bytes, reaches }
}

/// A lossless transfer of `pattern(len)` between the crate's own sender and receiver, each
/// configured as the sender and receiver targets configure theirs: every datagram the sender
/// sent, and every one the receiver sent, in order.
fn real_transfer(
    profile: Profile,
    len: usize,
    sender_seed: u64,
    receiver_seed: u64,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let data = pattern(len);
    let mut out = vec![0u8; len];
    let tx_config = SenderConfig { profile, ..SenderConfig::new(sender_seed) };
    let rx_config = ReceiverConfig { profile, ..ReceiverConfig::new(receiver_seed) };
    let mut tx = SourceSender::new(Sender::<Endpoint>::new(tx_config, PEER, Instant::ZERO), &data[..]);
    let mut rx = SinkReceiver::new(Receiver::<Endpoint>::new(rx_config, Instant::ZERO), &mut out[..]);
    let (mut from_tx, mut from_rx) = (Vec::new(), Vec::new());
    let mut now = Instant::ZERO;
    // Bounded: a lossless transfer of at most MAX_PATTERN bytes takes a few dozen rounds.
    for _ in 0..1000 {
        let mut sent = false;
        while let Some(t) = tx.poll_transmit(now) {
            from_tx.push(t.datagram.to_vec());
            rx.handle_datagram(now, PEER, t.datagram);
            sent = true;
        }
        while let Some(t) = rx.poll_transmit(now) {
            from_rx.push(t.datagram.to_vec());
            tx.handle_datagram(now, PEER, t.datagram);
            sent = true;
        }
        if tx.is_done() && rx.is_done() {
            break;
        }
        if !sent {
            now = tx.poll_timeout().into_iter().chain(rx.poll_timeout()).min().expect("a timer runs");
            tx.handle_timeout(now);
            rx.handle_timeout(now);
        }
    }
    assert!(tx.has_succeeded() && rx.has_succeeded(), "the seed transfer failed");
    (from_tx, from_rx)
}

fn rx_header(setup: u8, len: u16, isn: u32, seed: u16, chunk: u16, slack: u16) -> Program {
    let mut p = Program::default();
    p.u8(setup).u16(len).u32(isn).u16(seed).u16(chunk).u16(slack);
    p
}

fn tx_header(setup: u8, len: u16, seed: u32, conn: u16, risn: u32) -> Program {
    let mut p = Program::default();
    p.u8(setup).u16(len).u32(seed).u16(conn).u32(risn);
    p
}

/// A roundtrip input: the header fields, then the payload.
fn roundtrip_input(seq: u32, ack: u32, conn: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Program::default();
    p.u32(seq).u32(ack).u16(conn).u8(flags);
    let mut bytes = p.into_bytes();
    bytes.extend_from_slice(payload);
    bytes
}

/// The committed seeds: SPEC §9's vectors, each rejection rule, the frames of real simulated
/// transfers, and engine programs that complete, lose, duplicate, time out and inject.
pub fn seed_corpus() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let max = spec::MAX_SEQ;

    // decode_frame: SPEC §9, the edges of SPEC §1, real frames.
    let spec_header = vec![0x2b, 0, 0, 0, 0x2b, 0x02, 0, 0, 0x07, 0, 0x04, 0];
    let mut reference_syn = vec![0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0];
    reference_syn.resize(spec::MAX_FRAME, 0);
    let decode = "decode_frame";
    seeds.push(seed(decode, "spec9-ack-header", spec_header.clone(), NOTHING));
    seeds.push(seed(decode, "spec9-reference-syn", reference_syn.clone(), NOTHING));
    seeds.push(seed(decode, "empty", Vec::new(), NOTHING));
    seeds.push(seed(decode, "truncated-11", spec_header[..11].to_vec(), NOTHING));
    let mut oversized = reference_syn.clone();
    oversized.push(0);
    seeds.push(seed(decode, "oversized-525", oversized, NOTHING));
    seeds.push(seed(decode, "reserved-flag", raw_frame(43, 555, 7, 0x0c, b""), NOTHING));
    seeds.push(seed(decode, "syn-and-fin", raw_frame(43, 555, 7, 0x07, b""), NOTHING));
    seeds.push(seed(decode, "seq-max", raw_frame(max, 0, 7, 0x04, b"x"), NOTHING));
    seeds.push(seed(decode, "ack-max", raw_frame(max - 1, max, 7, 0x04, b"x"), NOTHING));
    seeds.push(seed(decode, "seq-ack-max-minus-1", raw_frame(max - 1, max - 1, 0xffff, 0x05, b"x"), NOTHING));
    let (native_tx, native_rx) = real_transfer(Profile::Native, 1300, 5, 7);
    let (reference_tx, reference_rx) = real_transfer(Profile::Reference, 700, 5, 9);
    for (label, frames) in [
        ("native-sender", &native_tx),
        ("native-receiver", &native_rx),
        ("reference-sender", &reference_tx),
        ("reference-receiver", &reference_rx),
    ] {
        for (i, frame) in frames.iter().enumerate() {
            seeds.push(seed(decode, &format!("{label}-{i}"), frame.clone(), NOTHING));
        }
    }

    // frame_roundtrip.
    let roundtrip = "frame_roundtrip";
    seeds.push(seed(roundtrip, "spec9-ack-header", roundtrip_input(43, 555, 7, 4, b""), NOTHING));
    seeds.push(seed(roundtrip, "spec9-reference-syn", roundtrip_input(42, 0, 0, 2, &[0; 512]), NOTHING));
    seeds.push(seed(
        roundtrip,
        "fin-ack-max",
        roundtrip_input(max - 1, max - 1, 0xffff, 5, b"done"),
        NOTHING,
    ));
    seeds.push(seed(roundtrip, "data-512", roundtrip_input(1000, 5001, 77, 4, &pattern(512)), NOTHING));
    seeds.push(seed(roundtrip, "payload-513", roundtrip_input(1, 2, 3, 0, &pattern(513)), NOTHING));
    seeds.push(seed(roundtrip, "syn-fin-becomes-syn", roundtrip_input(9, 9, 9, 3, b"x"), NOTHING));

    // receiver: scripted transfers.
    let receiver = "receiver";
    let sends = |p: &mut Program, n: usize, lost: bool| {
        for _ in 0..n {
            p.u8(rx_op::SEND | if lost { rx_op::LOST_REPLY } else { 0 });
        }
    };
    let mut p = rx_header(rx_setup::TRANSFER_SIZE, 1300, 1000, 7, 0, 0);
    sends(&mut p, 7, false);
    p.u8(rx_op::WAIT_LONG).u8(200);
    seeds.push(seed(receiver, "native-clean", p.into_bytes(), COMPLETES));

    let mut p = rx_header(rx_setup::REFERENCE, 700, 42, 9, 0, 10);
    sends(&mut p, 6, false);
    seeds.push(seed(receiver, "reference-clean", p.into_bytes(), COMPLETES));

    let mut p = rx_header(rx_setup::CHUNKED, 900, max - 300, 3, 199, 100);
    p.u8(rx_op::SEND);
    p.u8(rx_op::SEND | rx_op::LOST_REPLY).u8(rx_op::WAIT).u8(100);
    p.u8(rx_op::SEND);
    p.u8(rx_op::SEND | rx_op::LOST_REPLY).u8(rx_op::SEND);
    p.u8(rx_op::DUPLICATE).u8(0).u8(rx_op::DUPLICATE).u8(1);
    sends(&mut p, 3, false);
    p.u8(rx_op::DUPLICATE).u8(2);
    sends(&mut p, 4, false);
    seeds.push(seed(receiver, "native-lossy-chunked-wrap", p.into_bytes(), COMPLETES));

    let mut p = rx_header(0, 600, 5000, 11, 0, 0);
    p.u8(rx_op::RAW | 1 << 3).datagram(b"garbage!");
    p.u8(rx_op::RAW | 2 << 3).datagram(&raw_frame(43, 555, 7, 4, b"hi"));
    // A SYN from endpoint 3 (a half-open entry), then the script. (Delta bytes: 2 is 0.)
    p.u8(rx_op::FORGED | 3 << 3).u8(0x81).u8(5).u8(2).u16(0).u8(2).u8(8).u8(1);
    sends(&mut p, 2, false);
    // Endpoint 2 tries the connection's conn and next seq: wrong peer.
    p.u8(rx_op::FORGED | 2 << 3).u8(0x01).u8(2).u8(2).u16(0).u8(4).u8(4).u8(7);
    sends(&mut p, 3, false);
    p.u8(rx_op::WAIT).u8(10);
    seeds.push(seed(receiver, "junk-from-strangers", p.into_bytes(), COMPLETES));

    let mut p = rx_header(0, 0, 77, 1, 0, 0);
    sends(&mut p, 4, false);
    seeds.push(seed(receiver, "empty-transfer", p.into_bytes(), COMPLETES));

    let mut p = rx_header(rx_setup::SMALL_SINK, 1500, 10, 4, 0, 0);
    sends(&mut p, 5, false);
    seeds.push(seed(receiver, "sink-full", p.into_bytes(), CONNECTS));

    let mut p = rx_header(0, 2000, 10, 4, 0, 0);
    sends(&mut p, 3, false);
    p.u8(rx_op::WAIT_LONG).u8(255).u8(rx_op::SEND);
    seeds.push(seed(receiver, "idle-timeout", p.into_bytes(), CONNECTS));

    // A stranger completes a handshake first: the script is locked out.
    let mut p = rx_header(0, 300, 600, 5, 0, 0);
    p.u8(rx_op::FORGED | 2 << 3).u8(0x00).u8(2).u8(2).u16(0).u8(2).u8(0).u8(0);
    p.u8(rx_op::FORGED | 2 << 3).u8(0x00).u8(3).u8(2).u16(0).u8(4).u8(3).u8(9);
    sends(&mut p, 3, false);
    seeds.push(seed(receiver, "stranger-connects-first", p.into_bytes(), CONNECTS));

    // With a window (SPEC §10.1). `pick(k)`: the frame at `k` from the script's `A`.
    let window = |mode: u8, offer: u8| mode << rx_setup::WINDOW_SHIFT | offer << 6;
    let pick = |k: u8| rx_op::SEND | (k + 1) << 3;
    let (next, lose_next) = (rx_op::SEND, rx_op::SEND | 15 << 3);
    // R = 3, offer 64: granted 4. Six frames, sent out of order with a loss.
    let mut p = rx_header(window(1, 0) | rx_setup::TRANSFER_SIZE, 2600, 900, 3, 0, 0);
    p.u8(next).u8(next); // SYN, third frame (alone): A = 512
    p.u8(pick(2)).u8(pick(1)).u8(lose_next).u8(pick(0)); // 1536, 1024, (2048 lost), 512: A = 2048
    p.u8(next).u8(rx_op::DUPLICATE).u8(1).u8(pick(0)); // 2560 (short, held), 2048: A = 2600
    p.u8(next).u8(next).u8(rx_op::WAIT_LONG).u8(200); // FIN, final ACK
    seeds.push(seed(receiver, "window-4-out-of-order", p.into_bytes(), COMPLETES_WINDOWED));

    // R = 31, offer 64: granted 32. Twelve frames, lost answers, duplicates, a wrap.
    let mut p = rx_header(window(2, 0), 6000, max - 2000, 8, 0, 0);
    p.u8(next).u8(next | rx_op::LOST_REPLY).u8(next);
    for round in 0..14u8 {
        p.u8(if round % 3 == 0 { next | rx_op::LOST_REPLY } else { next });
        p.u8(pick(round % 5));
        p.u8(rx_op::DUPLICATE).u8(round);
    }
    p.u8(next).u8(next).u8(next);
    seeds.push(seed(receiver, "window-32-lossy-wrap", p.into_bytes(), COMPLETES_WINDOWED));

    // R = 3, offer 2: granted 2; junk in the window from a stranger.
    let mut p = rx_header(window(1, 1), 1500, 77, 4, 0, 0);
    p.u8(next).u8(next).u8(pick(1));
    p.u8(rx_op::FORGED | 2 << 3).u8(0x01).u8(0x81).u8(2).u16(0).u8(4).u8(200).u8(9);
    for _ in 0..6 {
        p.u8(next);
    }
    seeds.push(seed(receiver, "window-2-stranger", p.into_bytes(), COMPLETES_WINDOWED));

    // A stop-and-wait receiver (R = 0) asked for a window grants none.
    let mut p = rx_header(window(3, 0), 1300, 4000, 5, 0, 0);
    for _ in 0..7 {
        p.u8(next);
    }
    seeds.push(seed(receiver, "window-refused", p.into_bytes(), COMPLETES));

    // The sink fills while held frames are released.
    let mut p = rx_header(window(1, 2) | rx_setup::SMALL_SINK, 2500, 50, 6, 0, 0);
    p.u8(next).u8(next).u8(pick(3)).u8(pick(2)).u8(pick(1)).u8(pick(0)).u8(next);
    seeds.push(seed(receiver, "window-sink-full", p.into_bytes(), CONNECTS_WINDOWED));

    // Refusals (SPEC §10.4): the script offers a window, so it is told why the receiver stops.
    // A FIN at another length than announced (a forged FIN at `A`): refused with reason 6,
    // the refusal repeated to the script's frames, then the idle timeout ends it.
    let mut p = rx_header(window(1, 0) | rx_setup::TRANSFER_SIZE, 2600, 900, 3, 0, 0);
    p.u8(next).u8(next); // SYN, third frame: A = 512
    p.u8(rx_op::FORGED).u8(0x01).u8(2).u8(2).u16(0).u8(1).u8(0).u8(0); // FIN at A
    p.u8(next).u8(next).u8(rx_op::WAIT_LONG).u8(200).u8(next);
    seeds.push(seed(receiver, "refused-fin-short", p.into_bytes(), CONNECTS_WINDOWED));

    // Data past the announced size, on a stop-and-wait receiver asked for a window of 1 (an
    // extension offered all the same): refused with reason 6.
    let mut p = rx_header(window(3, 3) | rx_setup::TRANSFER_SIZE, 100, 4000, 5, 0, 0);
    p.u8(next).u8(next); // SYN, third frame with all 100 bytes
    p.u8(rx_op::FORGED).u8(0x01).u8(2).u8(2).u16(0).u8(4).u8(10).u8(7); // 20 bytes at A
    p.u8(next).u8(rx_op::DUPLICATE).u8(1).u8(rx_op::WAIT_LONG).u8(200);
    seeds.push(seed(receiver, "refused-data-past-size", p.into_bytes(), CONNECTS));

    // The sender abandons the transfer: a FIN with `refuse` 5, two frames above `A`.
    let mut p = rx_header(window(1, 0), 2600, 900, 3, 0, 0);
    p.u8(next).u8(next).u8(pick(1));
    p.u8(rx_op::FORGED).u8(0x81).u8(0x92).u8(2).u16(0).u8(1).u8(2).u8(5);
    p.u8(next).u8(rx_op::WAIT_LONG).u8(200);
    seeds.push(seed(receiver, "abandoning-fin", p.into_bytes(), CONNECTS_WINDOWED));

    // The application stops the transfer (cancelled, 5): refused, then the same answer.
    let mut p = rx_header(window(1, 0), 1300, 77, 4, 0, 0);
    p.u8(next).u8(next).u8(rx_op::STOP).u8(5 << 2).u8(next).u8(pick(1));
    p.u8(rx_op::WAIT_LONG).u8(100).u8(next).u8(rx_op::WAIT_LONG).u8(100).u8(next);
    seeds.push(seed(receiver, "stopped-refuses", p.into_bytes(), CONNECTS_WINDOWED));

    // The frames of a real sender, as junk from the peer's endpoint.
    for (label, profile_bit, len, receiver_seed, frames) in [
        ("real-sender-native", 0, 1300u16, 7u16, &native_tx),
        ("real-sender-reference", rx_setup::REFERENCE, 700, 9, &reference_tx),
    ] {
        let mut p = rx_header(profile_bit, len, 0, receiver_seed, 0, 0);
        for frame in frames {
            p.u8(rx_op::RAW).datagram(frame);
        }
        seeds.push(seed(receiver, label, p.into_bytes(), CONNECTS));
    }

    // sender.
    let sender = "sender";
    let mut p = tx_header(tx_setup::TRANSFER_SIZE, 1300, 5, 77, 5000);
    for _ in 0..6 {
        p.u8(tx_op::GOOD);
    }
    p.u8(tx_op::GOOD).u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "native-good", p.into_bytes(), COMPLETES));

    let mut p = tx_header(tx_setup::REFERENCE, 700, 1, 3, 100);
    for _ in 0..3 {
        p.u8(tx_op::GOOD);
    }
    p.u8(tx_op::GOOD | tx_op::ORIGINAL_FIN_ACK).u8(tx_op::GOOD).u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "reference-good", p.into_bytes(), COMPLETES));

    let mut p = tx_header(0, 1100, 9, 0, max - 2);
    p.u8(tx_op::WAIT).u8(200).u8(tx_op::GOOD | tx_op::WRONG_PEER).u8(tx_op::GOOD);
    p.u8(tx_op::MUTATED).u8(1).u8(1).u8(0).u8(tx_op::REPLAY).u8(0).u8(tx_op::GOOD);
    p.u8(tx_op::MUTATED).u8(2).u8(9).u8(9).u8(tx_op::WAIT_LONG).u8(10).u8(tx_op::GOOD);
    p.u8(tx_op::RAW | 1 << 3).datagram(b"junk").u8(tx_op::MUTATED).u8(5).u8(3).u8(20);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD).u8(tx_op::REPLAY).u8(3).u8(tx_op::GOOD).u8(tx_op::GOOD);
    seeds.push(seed(sender, "native-lossy-wrap", p.into_bytes(), COMPLETES));

    let mut p = tx_header(0, 100, 2, 8, 8);
    p.u8(tx_op::GOOD);
    for _ in 0..4 {
        p.u8(tx_op::WAIT_LONG).u8(255);
    }
    seeds.push(seed(sender, "idle-timeout", p.into_bytes(), CONNECTS));

    let mut p = tx_header(0, 0, 4, 4, 4);
    for _ in 0..4 {
        p.u8(tx_op::GOOD);
    }
    seeds.push(seed(sender, "empty-transfer", p.into_bytes(), COMPLETES));

    // With a window (SPEC §10.1). `mode`: N = 4, 32, or 4 offering 2; `grant`: tx_setup's.
    let window = |mode: u8, grant: u8| mode << tx_setup::WINDOW_SHIFT | grant << tx_setup::GRANT_SHIFT;
    let take = |k: u8| tx_op::GOOD | k << 3;
    // N = 4, granted 4: six frames, answered in order.
    let mut p = tx_header(window(1, 0) | tx_setup::TRANSFER_SIZE, 2600, 11, 9, 700);
    for _ in 0..12 {
        p.u8(tx_op::GOOD);
    }
    p.u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "window-4-in-order", p.into_bytes(), COMPLETES_WINDOWED));

    // N = 32, granted 32, fixed: 24 frames, taken out of order with losses (a fast
    // retransmission), timeouts, bad sacks.
    let mut p = tx_header(window(2, 0) | tx_setup::FIXED, 12000, 12, 3, max - 1000);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD); // SYN|ACK, the third frame's ACK
    for round in 0..40u8 {
        p.u8(take(1 + round % 3));
        if round % 5 == 0 {
            p.u8(tx_op::MUTATED).u8(8 + round % 8).u8(round).u8(round / 2);
        }
        if round % 7 == 0 {
            p.u8(tx_op::WAIT).u8(200);
        }
        p.u8(tx_op::GOOD);
    }
    for _ in 0..30 {
        p.u8(tx_op::GOOD);
    }
    p.u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "window-32-lossy", p.into_bytes(), COMPLETES_WINDOWED));

    // N = 4 offering 2, granted 2, reno: losses recovered by timeouts and early retransmit.
    let mut p = tx_header(window(3, 2), 2000, 13, 5, 5);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD);
    for _ in 0..6 {
        p.u8(take(1)).u8(tx_op::REPLAY).u8(1).u8(tx_op::WAIT_LONG).u8(20).u8(tx_op::GOOD);
    }
    for _ in 0..8 {
        p.u8(tx_op::GOOD);
    }
    seeds.push(seed(sender, "window-2-early-retransmit", p.into_bytes(), COMPLETES_WINDOWED));

    // A grant above the offer: the sender fails.
    let mut p = tx_header(window(1, 5), 1000, 14, 5, 5);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD);
    seeds.push(seed(sender, "window-above-offer", p.into_bytes(), CONNECTS));

    // No grant, a window of 1, a malformed list: stop-and-wait with four frame buffers.
    for (name, grant) in [("window-not-granted", 4), ("window-1-ignored", 6), ("window-malformed", 7)] {
        let mut p = tx_header(window(1, grant), 1300, 15, 6, 6);
        for _ in 0..6 {
            p.u8(tx_op::GOOD);
        }
        seeds.push(seed(sender, name, p.into_bytes(), COMPLETES));
    }

    // Refusals (SPEC §10.4). `refusal(kind, delta, extra)`: tx_op::MUTATED's refusal kinds
    // with a window offered (16 + kind).
    let refusal = |p: &mut Program, kind: u8, delta: u8, extra: u8| {
        p.u8(tx_op::MUTATED).u8(16 + kind).u8(delta).u8(extra);
    };
    // A SYN|ACK with conn 0 that refuses (busy), after one in a malformed list (ignored).
    let mut p = tx_header(window(1, 0), 1000, 16, 7, 7);
    refusal(&mut p, 2, 3, 3);
    refusal(&mut p, 0, 0, 1);
    p.u8(tx_op::GOOD).u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "refused-syn-ack", p.into_bytes(), NOTHING));

    // A refusing ACK mid-transfer (too large) at `A`, after a conn-0 one that comes too late.
    let mut p = tx_header(window(1, 0) | tx_setup::TRANSFER_SIZE, 2600, 17, 9, 700);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD).u8(tx_op::GOOD);
    refusal(&mut p, 1, 0, 4);
    refusal(&mut p, 0, 1, 2);
    p.u8(tx_op::GOOD).u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "refused-mid-transfer", p.into_bytes(), CONNECTS_WINDOWED));

    // The FIN answered by a FIN|ACK that refuses (name, 3), acknowledging the FIN.
    let mut p = tx_header(window(1, 0), 1000, 18, 9, 700);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD).u8(tx_op::GOOD);
    refusal(&mut p, 1, 2, 2);
    p.u8(tx_op::GOOD);
    seeds.push(seed(sender, "refused-fin-ack", p.into_bytes(), CONNECTS_WINDOWED));

    // The application stops the transfer (cancelled): one abandoning FIN.
    let mut p = tx_header(window(1, 0) | tx_setup::TRANSFER_SIZE, 2600, 19, 9, 700);
    p.u8(tx_op::GOOD).u8(tx_op::GOOD).u8(tx_op::GOOD).u8(tx_op::STOP).u8(5 << 2);
    p.u8(tx_op::GOOD).u8(tx_op::WAIT_LONG).u8(100);
    seeds.push(seed(sender, "stopped-abandoning-fin", p.into_bytes(), CONNECTS_WINDOWED));

    // A sender that offered no extension ignores refusals (without a window the refusal
    // kinds are 8 + kind).
    let mut p = tx_header(tx_setup::TRANSFER_SIZE, 1300, 5, 77, 5000);
    p.u8(tx_op::MUTATED).u8(8).u8(0).u8(1).u8(tx_op::GOOD).u8(tx_op::GOOD);
    p.u8(tx_op::MUTATED).u8(8).u8(1).u8(4);
    for _ in 0..5 {
        p.u8(tx_op::GOOD);
    }
    seeds.push(seed(sender, "refusals-ignored", p.into_bytes(), COMPLETES));

    // The answers of a real receiver, as raw datagrams from the peer.
    for (label, setup, len, frames) in [
        ("real-receiver-native", 0, 1300u16, &native_rx),
        ("real-receiver-reference", tx_setup::REFERENCE, 700, &reference_rx),
    ] {
        let mut p = tx_header(setup, len, 5, 1, 1);
        for frame in frames {
            p.u8(tx_op::RAW).datagram(frame);
        }
        p.u8(tx_op::WAIT_LONG).u8(100);
        seeds.push(seed(sender, label, p.into_bytes(), COMPLETES));
    }
    seeds
}
