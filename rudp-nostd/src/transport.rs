//! The [`Transport`] trait, a datagram socket that never blocks, and [`poll`], the small driver
//! that pumps datagrams between a transport and an [`Engine`].
//!
//! `poll` suits a firmware main loop (call it after the IP stack's own poll, then sleep until
//! the deadline it returns or the next interrupt) as well as a blocking host loop (wait for the
//! socket to be readable until the deadline, then call it again).
//!
//! ```
//! use rudp_nostd::transport::{self, Report, Transport};
//! use rudp_nostd::{Engine, Instant, Receiver, ReceiverConfig};
//!
//! /// A transport with nothing to read that throws away what it is given.
//! struct Silent;
//!
//! impl Transport for Silent {
//!     type Endpoint = u8;
//!     type Error = core::convert::Infallible;
//!     fn send_to(&mut self, _to: u8, _datagram: &[u8]) -> Result<(), Self::Error> {
//!         Ok(())
//!     }
//!     fn recv_from(&mut self) -> Result<Option<(u8, &[u8])>, Self::Error> {
//!         Ok(None)
//!     }
//! }
//!
//! let mut receiver: Receiver<u8> = Receiver::new(ReceiverConfig::new(7), Instant::ZERO);
//! let mut lines = 0;
//! let next = transport::poll(&mut receiver, &mut Silent, Instant::ZERO, |report| {
//!     if let Report::Trace(trace) = report {
//!         lines += 1; // a host would print `trace` (SPEC §8), firmware would defmt-log it
//!     }
//! });
//! assert_eq!(next, Ok(None)); // no timer runs while waiting for a first SYN
//! assert_eq!(lines, 0);
//! ```

use crate::engine::Engine;
use crate::time::Instant;
use crate::trace::Trace;

/// The most datagrams one [`poll`] takes from the transport, so that a flood cannot keep a
/// firmware main loop from its other work (a whole window of ACKs fits).
pub const MAX_DATAGRAMS_PER_POLL: usize = 64;

/// A datagram taken from a [`Transport`]: its source and its bytes.
pub type Received<'a, E> = (E, &'a [u8]);

/// A datagram socket that never blocks.
pub trait Transport {
    /// The address of a peer.
    type Endpoint: Copy + PartialEq;
    /// What can go wrong.
    type Error;

    /// Queues one datagram for `to`. A datagram that cannot be queued for lack of room may be
    /// dropped (return `Ok`): UDP loses datagrams anyway and the engine retransmits.
    fn send_to(&mut self, to: Self::Endpoint, datagram: &[u8]) -> Result<(), Self::Error>;

    /// Hands every datagram queued by [`Transport::send_to`] to the network. [`poll`] calls it
    /// once it has queued all it had to send, so a transport may keep datagrams until then and
    /// send them together (`sendmmsg`, UDP GSO). The default does nothing: for transports
    /// whose `send_to` already sends, or whose IP stack sends on its own poll (smoltcp).
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Takes the next datagram that has arrived, with its source, or `None` if none waits.
    /// The datagram is borrowed from the transport's own buffer until the next call.
    fn recv_from(&mut self) -> Result<Option<Received<'_, Self::Endpoint>>, Self::Error>;
}

/// What [`poll`] reports to its caller, in order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Report<Ev> {
    /// A frame was sent, received or dropped (SPEC §8).
    Trace(Trace),
    /// An application event.
    Event(Ev),
}

/// Runs `engine` over `transport` at time `now`: fires its timers if due, takes in up to
/// [`MAX_DATAGRAMS_PER_POLL`] waiting datagrams, and sends every reply. Returns when the engine
/// next needs a call (`None`: only when a datagram arrives, or never if it is done).
///
/// A transport error stops this call and is returned; the engine stays consistent (an unsent
/// frame is a lost frame, retransmitted on its timer), so the caller may retry or give up.
pub fn poll<En, T>(
    engine: &mut En,
    transport: &mut T,
    now: Instant,
    mut report: impl FnMut(Report<En::Event>),
) -> Result<Option<Instant>, T::Error>
where
    En: Engine,
    T: Transport<Endpoint = En::Endpoint>,
{
    if engine.poll_timeout().is_some_and(|deadline| deadline <= now)
        && let Some(event) = engine.handle_timeout(now)
    {
        report(Report::Event(event));
    }
    flush(engine, transport, now, &mut report)?;
    // Every datagram already waiting is taken in before anything is sent: a receiver then
    // covers a batch of data frames with one cumulative ACK (SPEC §10.1 allows it; a newer
    // reply replaces an unsent older one in the engine) and still answers every SYN of the
    // batch (the engine keeps what it owes, see `Engine`), and a sender answers a batch of
    // ACKs with one burst of frames.
    for _ in 0..MAX_DATAGRAMS_PER_POLL {
        let Some((from, datagram)) = transport.recv_from()? else {
            break;
        };
        let handled = engine.handle_datagram(now, from, datagram);
        report(Report::Trace(handled.trace));
        for event in handled.events {
            report(Report::Event(event));
        }
    }
    flush(engine, transport, now, &mut report)?;
    Ok(engine.poll_timeout())
}

/// Sends everything the engine has to send, then flushes the transport.
fn flush<En, T>(
    engine: &mut En,
    transport: &mut T,
    now: Instant,
    report: &mut impl FnMut(Report<En::Event>),
) -> Result<(), T::Error>
where
    En: Engine,
    T: Transport<Endpoint = En::Endpoint>,
{
    // A sender holds at most a window of frames (64), a receiver one reply and a SYN|ACK per
    // half-open entry: the bound is a guard (what it leaves, the engine keeps for the next
    // call).
    for _ in 0..2 * crate::MAX_WINDOW as usize {
        let Some(transmit) = engine.poll_transmit(now) else {
            break;
        };
        let trace = transmit.trace;
        transport.send_to(transmit.to, transmit.datagram)?;
        report(Report::Trace(trace));
    }
    transport.flush()
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::{Sender, SenderConfig};

    /// What a transport was asked to do, in order.
    #[derive(Debug, PartialEq)]
    enum Call {
        Send(usize),
        Flush,
    }

    /// A transport that records its calls and has nothing to read.
    #[derive(Default)]
    struct Recorder(Vec<Call>);

    /// A transport with datagrams waiting in `inbox` (with their sources) that keeps what it
    /// is given in `sent` (with their destinations).
    #[derive(Default)]
    struct Queue {
        inbox: std::collections::VecDeque<(u8, Vec<u8>)>,
        current: Vec<u8>,
        sent: Vec<(u8, Vec<u8>)>,
    }

    impl Transport for Queue {
        type Endpoint = u8;
        type Error = core::convert::Infallible;
        fn send_to(&mut self, to: u8, datagram: &[u8]) -> Result<(), Self::Error> {
            self.sent.push((to, datagram.to_vec()));
            Ok(())
        }
        fn recv_from(&mut self) -> Result<Option<Received<'_, u8>>, Self::Error> {
            Ok(self.inbox.pop_front().map(|(from, d)| {
                self.current = d;
                (from, &self.current[..])
            }))
        }
    }

    impl Transport for Recorder {
        type Endpoint = ();
        type Error = core::convert::Infallible;
        fn send_to(&mut self, _to: (), datagram: &[u8]) -> Result<(), Self::Error> {
            self.0.push(Call::Send(datagram.len()));
            Ok(())
        }
        fn recv_from(&mut self) -> Result<Option<Received<'_, ()>>, Self::Error> {
            Ok(None)
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            self.0.push(Call::Flush);
            Ok(())
        }
    }

    #[test]
    fn syns_from_several_endpoints_in_one_batch_each_get_their_syn_ack() {
        use crate::blocking::SinkReceiver;
        use crate::frame::{self, Flags};
        use crate::testing::VecSink;
        use crate::testing::datagram;
        use crate::{Receiver, ReceiverConfig};

        let mut rx =
            SinkReceiver::new(Receiver::<u8>::new(ReceiverConfig::new(9), Instant::ZERO), VecSink::default());
        let mut net = Queue::default();
        // Three endpoints' SYNs, and a repeat of the first, all read before anything is sent.
        for (from, isn) in [(1u8, 100u32), (2, 200), (3, 300), (1, 100)] {
            net.inbox.push_back((from, datagram(isn, 0, 0, Flags::SYN, &[])));
        }
        poll(&mut rx, &mut net, Instant::ZERO, |_| {}).unwrap();
        let answers: Vec<(u8, u32)> = net
            .sent
            .iter()
            .map(|(to, d)| {
                let repr = frame::decode(d).unwrap().repr;
                assert_eq!(repr.flags, Flags::SYN | Flags::ACK);
                (*to, repr.ack.get())
            })
            .collect();
        // The repeat is answered once with the first: one SYN|ACK each.
        assert_eq!(answers, [(1, 101), (2, 201), (3, 301)]);
    }

    #[test]
    fn a_stop_and_wait_receiver_answers_a_batch_with_a_duplicate_with_one_ack() {
        use crate::blocking::SinkReceiver;
        use crate::frame::{self, Flags};
        use crate::testing::VecSink;
        use crate::testing::datagram;
        use crate::{Receiver, ReceiverConfig};

        const ISN: u32 = 5000;
        let mut rx =
            SinkReceiver::new(Receiver::<u8>::new(ReceiverConfig::new(9), Instant::ZERO), VecSink::default());
        let mut net = Queue::default();
        net.inbox.push_back((1, datagram(ISN, 0, 0, Flags::SYN, &[])));
        poll(&mut rx, &mut net, Instant::ZERO, |_| {}).unwrap();
        let syn_ack = frame::decode(&net.sent[0].1).unwrap().repr;
        let (conn, risn) = (syn_ack.conn, syn_ack.seq.get());
        net.sent.clear();

        // The first data frame, then the second twice (its retransmission overtook our ACK),
        // all read in one batch.
        let (one, two) = ([1u8; 512], [2u8; 100]);
        net.inbox.push_back((1, datagram(ISN + 1, risn + 1, conn, Flags::ACK, &one)));
        net.inbox.push_back((1, datagram(ISN + 513, risn + 1, conn, Flags::ACK, &two)));
        net.inbox.push_back((1, datagram(ISN + 513, risn + 1, conn, Flags::ACK, &two)));
        let mut dups = 0;
        poll(&mut rx, &mut net, Instant::ZERO, |report| {
            if let Report::Trace(trace) = report
                && trace.direction == crate::trace::Direction::Recv
                && trace.dup
            {
                dups += 1;
            }
        })
        .unwrap();
        assert_eq!(dups, 1, "the repeat is traced as a duplicate");
        assert_eq!(net.sent.len(), 1, "one ACK for the batch");
        let ack = frame::decode(&net.sent[0].1).unwrap().repr;
        assert_eq!(ack.ack.get(), ISN + 613, "the ACK covers everything written");
        let mut expected = one.to_vec();
        expected.extend_from_slice(&two);
        assert_eq!(rx.sink().0, expected, "written once each, in order");
    }

    #[test]
    fn poll_flushes_the_transport_after_the_last_datagram_it_queued() {
        let mut sender: Sender<()> = Sender::new(SenderConfig::new(1), (), Instant::ZERO);
        let mut transport = Recorder::default();
        poll(&mut sender, &mut transport, Instant::ZERO, |_| {}).unwrap();
        // The SYN is queued, then flushed; nothing is left queued when `poll` returns.
        assert!(matches!(transport.0.first(), Some(Call::Send(len)) if *len >= crate::HEADER_LEN));
        assert_eq!(transport.0.last(), Some(&Call::Flush));
        let sends = transport.0.iter().filter(|c| matches!(c, Call::Send(_))).count();
        assert_eq!(sends, 1);
    }
}
