//! The body of the `listener` target: a `Listener` (3 transfers, window 4, 2 half-open entries)
//! under two real senders and an attacker whose every move comes from the input, with an
//! application whose decisions (take, refuse, resume; read, commit, abort, give held bytes)
//! come from the input too.
//!
//! What it checks, besides that nothing panics: every datagram the listener sends decodes; a
//! refusing SYN|ACK (`conn` 0) carries exactly a `refuse`; the pool never holds more than its
//! size; a transfer's id reaches it only while it is in the pool; and a sender succeeds only if
//! the application committed its transfer. Half the inputs (bit 7 of the per-host byte) have the
//! application give the digest what it reads back (`ReceiverConfig::hash_read_back`): then the
//! bytes it takes are owed to the digest, exactly, and data is readable meanwhile; otherwise
//! data is readable only once the held prefix is given, and taking it owes nothing.

use rudp_nostd::wire::{self, Flags, Repr, SeqNum};
use rudp_nostd::{
    Admission, Engine, Instant, Listener, ListenerConfig, Offer, ReceiverEvent, RefuseReason, Sender,
    SenderConfig, TransferId,
};

use super::Outcome;
use super::input::Cursor;

/// The listener's endpoint (the senders send to it).
const LISTENER: u8 = 0;
/// The senders' endpoints: 1 and 2. Others (3 to 7) are the attacker's.
const SENDERS: usize = 2;

/// The application's decisions on SYNs, read from the input's first bytes.
struct Policy {
    decisions: [u8; 8],
    next: usize,
}

impl rudp_nostd::Admit<u8> for Policy {
    fn admit(&mut self, offer: &Offer<'_, u8>) -> Admission {
        let d = self.decisions[self.next % self.decisions.len()];
        self.next += 1;
        match d % 8 {
            0 => Admission::Refuse(RefuseReason::from_code(d >> 3)),
            1 => Admission::Resume { tag: u32::from(offer.peer), from: u64::from(d >> 3) * 512 },
            2 => Admission::Resume { tag: u32::from(offer.peer), from: offer.transfer_size.unwrap_or(0) },
            _ => Admission::Take(u32::from(offer.peer)),
        }
    }
}

type Pool = Listener<u8, Policy, 3, 4, 2>;

/// Runs the listener world on `data`.
pub fn listener(data: &[u8]) -> Outcome {
    let mut input = Cursor::new(data);
    let mut decisions = [0u8; 8];
    for d in &mut decisions {
        *d = input.u8();
    }
    let host_byte = input.u8();
    let read_back = host_byte & 0x80 != 0;
    let mut config = ListenerConfig {
        per_host: 1 + (host_byte & 0x7f) % 3,
        ..ListenerConfig::new(u64::from(input.u32()))
    };
    config.receiver.hash_read_back = read_back;
    let mut pool: Pool = Listener::new(config, Policy { decisions, next: 0 }, Instant::ZERO);
    let mut now = Instant::ZERO;
    let mut senders: Vec<Sender<u8, 4>> = (0..SENDERS)
        .map(|i| {
            let size = u64::from(input.u16()) % 5000;
            let config = SenderConfig {
                transfer_size: (i == 0).then_some(size),
                window: 1 + input.u8() % 4,
                ..SenderConfig::new(u64::from(input.u32()))
            };
            let mut sender = Sender::new(config, LISTENER, now);
            sender.offer_name(b"object");
            sender
        })
        .collect();
    let mut written = [0usize; SENDERS];
    let sizes = [5000usize, 3000];
    // What the listener sent lately, for forgeries that look right.
    let mut seen: Vec<(u8, Repr)> = Vec::new();
    let mut ids: Vec<TransferId> = Vec::new();
    let mut committed: Vec<u32> = Vec::new();
    let mut outcome = Outcome::default();
    let mut steps = 0;
    while !input.is_empty() && steps < 2_000 {
        steps += 1;
        match input.u8() % 8 {
            // The senders write and send; what they send reaches the listener.
            0 | 1 => {
                for (i, sender) in senders.iter_mut().enumerate() {
                    let data = [b'a' + i as u8; 600];
                    let want = sizes[i].saturating_sub(written[i]).min(data.len());
                    let n = sender.write(&data[..want]);
                    written[i] += n;
                    if written[i] >= sizes[i] {
                        sender.finish();
                    }
                    while let Some(t) = sender.poll_transmit(now) {
                        let bytes = t.datagram.to_vec();
                        let handled = pool.handle_datagram(now, i as u8 + 1, &bytes);
                        note(&handled.events, &mut ids, &mut outcome);
                    }
                }
            }
            // The attacker: junk, or a frame near what it saw.
            2 => {
                let from = 3 + input.u8() % 5;
                let len = usize::from(input.u8()) % 80;
                let junk = input.bytes(len).to_vec();
                let handled = pool.handle_datagram(now, from, &junk);
                note(&handled.events, &mut ids, &mut outcome);
            }
            3 => {
                let from = input.u8() % 8;
                let base = seen.get(usize::from(input.u8()) % seen.len().max(1)).map(|(_, r)| *r);
                let (conn, seq) = match base {
                    Some(r) => (r.conn, r.ack.get()),
                    None => (input.u16(), input.u32() % wire::MAX_SEQ),
                };
                let flags = Flags::from_bits([0, 2, 4, 1, 5][usize::from(input.u8()) % 5]);
                let delta = input.u16() as u32;
                let repr = Repr {
                    seq: SeqNum::from_wrapping(seq.wrapping_add(delta)),
                    ack: SeqNum::from_wrapping(input.u32() % wire::MAX_SEQ),
                    conn,
                    flags,
                };
                let len = usize::from(input.u8()) % 40;
                let payload = input.bytes(len).to_vec();
                let mut buf = [0u8; wire::MAX_FRAME];
                if let Some(n) = repr.emit_with_payload(&mut buf, &payload) {
                    let handled = pool.handle_datagram(now, from, &buf[..n]);
                    note(&handled.events, &mut ids, &mut outcome);
                }
            }
            // Time passes.
            4 => {
                now = now + rudp_nostd::Duration::from_millis(u64::from(input.u16()) % 3_000);
                for sender in &mut senders {
                    sender.handle_timeout(now);
                }
                while let Some(event) = pool.handle_timeout(now) {
                    note(&[event], &mut ids, &mut outcome);
                }
            }
            // The application acts on a transfer.
            5 | 6 => {
                let Some(&id) = ids.get(usize::from(input.u8()) % ids.len().max(1)) else { continue };
                let action = input.u8();
                let tag = pool.transfers().find(|(t, _, _)| *t == id).map(|(_, tag, _)| tag);
                let Some((receiver, _)) = pool.transfer_and_admit_mut(id) else { continue };
                match action % 6 {
                    0 | 1 => {
                        let mut buf = [0u8; 700];
                        let owed = receiver.prefix_left();
                        let n = receiver.read(&mut buf) as u64;
                        if read_back {
                            assert_eq!(
                                receiver.prefix_left(),
                                owed + n,
                                "taken bytes not owed to the digest"
                            );
                        } else {
                            assert!(n == 0 || owed == 0, "data readable before the held prefix is hashed");
                            assert_eq!(receiver.prefix_left(), owed, "taking data changed what is owed");
                        }
                    }
                    2 => {
                        let held = [7u8; 600];
                        let n = (usize::from(input.u8()) * 3).min(held.len());
                        let owed = receiver.prefix_left();
                        receiver.hash_prefix(&held[..n]);
                        assert_eq!(
                            receiver.prefix_left(),
                            owed - owed.min(n as u64),
                            "the digest took other than what was owed"
                        );
                    }
                    3 => {
                        if receiver.has_succeeded() {
                            receiver.committed(now);
                            committed.extend(tag);
                        }
                    }
                    4 => receiver.commit_failed(now),
                    _ => {
                        receiver.abort(now, rudp_nostd::Error::Stopped(RefuseReason::Cancelled));
                    }
                }
            }
            _ => pool.stop_accepting(),
        }
        // The listener's answers: all decode, refusals are well formed; they reach the senders.
        while let Some(t) = pool.poll_transmit(now) {
            let to = t.to;
            let frame = wire::decode(t.datagram).expect("the listener sends frames that decode");
            let repr = frame.repr;
            if repr.flags == Flags::SYN | Flags::ACK && repr.conn == 0 {
                assert!(matches!(frame.payload, [8, 1, _]), "a conn-0 SYN|ACK that is not a refusal");
            }
            seen.push((to, repr));
            if seen.len() > 32 {
                seen.remove(0);
            }
            let bytes = t.datagram.to_vec();
            if let Some(sender) = senders.get_mut(usize::from(to).wrapping_sub(1)) {
                sender.handle_datagram(now, LISTENER, &bytes);
            }
        }
        assert!(pool.running() <= 3, "the pool holds more than its size");
        for &id in &ids {
            // A transfer the application ended leaves the pool at the listener's next call.
            if let Some(receiver) = pool.transfer(id) {
                assert!(
                    receiver.peer().is_some() || receiver.is_done(),
                    "a transfer in the pool without a peer"
                );
            }
        }
    }
    for (i, sender) in senders.iter().enumerate() {
        if sender.has_succeeded() {
            outcome.completed = true;
            assert!(committed.contains(&(i as u32 + 1)), "a sender succeeded without a commit");
        }
    }
    outcome
}

/// Takes note of the listener's events: the ids of new transfers.
fn note(events: &[rudp_nostd::ListenerEvent], ids: &mut Vec<TransferId>, outcome: &mut Outcome) {
    for event in events {
        if let ReceiverEvent::Connected { .. } = event.event {
            outcome.connected = true;
            ids.push(event.id);
        }
    }
}
