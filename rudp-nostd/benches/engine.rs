//! Codec and in-memory engine throughput: `cargo bench -p rudp-nostd`.
//!
//! - `codec/decode` and `codec/emit`: one full 524-byte frame, ns per frame.
//! - `engine/transfer`: a whole transfer through `Sender` and `Receiver` via the sans-IO API,
//!   every datagram handed straight to the other side (no sockets, no loss), MB/s of payload.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rudp_nostd::blocking::{SinkReceiver, SourceSender};
use rudp_nostd::wire::{self, Flags, MAX_FRAME, MAX_PAYLOAD, Repr};
use rudp_nostd::{Engine, Instant, Receiver, ReceiverConfig, Sender, SenderConfig, SeqNum};

/// Hands every datagram straight to the other side until neither has anything to send.
fn pump(sender: &mut impl Engine<Endpoint = u8>, receiver: &mut impl Engine<Endpoint = u8>) {
    let now = Instant::ZERO;
    loop {
        let mut moved = false;
        while let Some(t) = sender.poll_transmit(now) {
            receiver.handle_datagram(now, 0, t.datagram);
            moved = true;
        }
        while let Some(t) = receiver.poll_transmit(now) {
            sender.handle_datagram(now, 1, t.datagram);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// Runs one stop-and-wait transfer of `data` into `out`; returns the bytes written.
fn transfer(data: &[u8], out: &mut [u8]) -> usize {
    let capacity = out.len();
    let mut sender = SourceSender::new(Sender::<u8>::new(SenderConfig::new(1), 1u8, Instant::ZERO), data);
    let mut receiver = SinkReceiver::new(Receiver::<u8>::new(ReceiverConfig::new(2), Instant::ZERO), out);
    pump(&mut sender, &mut receiver);
    assert!(sender.has_succeeded() && receiver.has_succeeded());
    capacity - receiver.into_parts().1.len()
}

/// The same with a 32-frame window (32 frame buffers and 32 payload slots).
fn transfer_window32(data: &[u8], out: &mut [u8]) -> usize {
    let capacity = out.len();
    let mut sender = SourceSender::new(Sender::<u8, 32>::new(SenderConfig::new(1), 1u8, Instant::ZERO), data);
    let mut receiver = SinkReceiver::new(Receiver::<u8, 32>::new(ReceiverConfig::new(2), Instant::ZERO), out);
    pump(&mut sender, &mut receiver);
    assert!(sender.has_succeeded() && receiver.has_succeeded() && sender.window() == 32);
    capacity - receiver.into_parts().1.len()
}

fn codec(c: &mut Criterion) {
    let repr =
        Repr { seq: SeqNum::new(43).unwrap(), ack: SeqNum::new(555).unwrap(), conn: 7, flags: Flags::ACK };
    let payload = [0xa5u8; MAX_PAYLOAD];
    let mut buf = [0u8; MAX_FRAME];
    repr.emit_with_payload(&mut buf, &payload).unwrap();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode", |b| b.iter(|| wire::decode(black_box(&buf[..])).map(|f| f.repr)));
    group.bench_function("emit", |b| {
        let mut out = [0u8; MAX_FRAME];
        b.iter(|| black_box(repr).emit_with_payload(&mut out, black_box(&payload)))
    });
    group.finish();
}

fn engine(c: &mut Criterion) {
    const SIZE: usize = 8 << 20;
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 31 + 7) as u8).collect();
    let mut out = vec![0u8; SIZE];
    assert_eq!(transfer(&data, &mut out), SIZE);
    assert!(out == data);
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(20);
    group.bench_function("transfer_8MiB", |b| {
        b.iter_batched_ref(|| (), |()| transfer(black_box(&data), &mut out), BatchSize::PerIteration)
    });
    assert_eq!(transfer_window32(&data, &mut out), SIZE);
    assert!(out == data);
    group.bench_function("transfer_8MiB_window32", |b| {
        b.iter_batched_ref(|| (), |()| transfer_window32(black_box(&data), &mut out), BatchSize::PerIteration)
    });
    group.finish();
}

criterion_group!(benches, codec, engine);
criterion_main!(benches);
