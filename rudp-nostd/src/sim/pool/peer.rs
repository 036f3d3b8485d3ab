//! The senders of a pool run: real [`Sender`]s of 1, 4 or 32 frame buffers behind one
//! interface, each driven by its [`Plan`] (when it starts, what it writes, when it vanishes
//! or is aborted), and what each reported.

use std::boxed::Box;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::{Frames, Plan, Stop};
use crate::sim::Node;
use crate::{
    DigestAlgorithm, Engine, Error, Instant, RefuseReason, Sender, SenderConfig, SenderEvent, Timing,
};

/// A sender of any number of frame buffers.
trait AnySender {
    fn offer_name(&mut self, name: &[u8]) -> bool;
    fn write(&mut self, data: &[u8]) -> usize;
    fn finish(&mut self) -> Option<SenderEvent>;
    fn abort(&mut self, error: Error) -> SenderEvent;
    fn handle_datagram(&mut self, now: Instant, from: Node, datagram: &[u8]) -> Vec<SenderEvent>;
    fn handle_timeout(&mut self, now: Instant) -> Option<SenderEvent>;
    /// The next datagram, and its trace line when `trace`.
    fn poll_transmit(&mut self, now: Instant, trace: bool) -> Option<(Node, Vec<u8>, String)>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn is_done(&self) -> bool;
    fn conn(&self) -> u16;
    fn window(&self) -> u8;
    fn digest(&self) -> Option<DigestAlgorithm>;
}

impl<const W: usize> AnySender for Sender<Node, W> {
    fn offer_name(&mut self, name: &[u8]) -> bool {
        Sender::offer_name(self, name)
    }
    fn write(&mut self, data: &[u8]) -> usize {
        Sender::write(self, data)
    }
    fn finish(&mut self) -> Option<SenderEvent> {
        Sender::finish(self)
    }
    fn abort(&mut self, error: Error) -> SenderEvent {
        Sender::abort(self, error)
    }
    fn handle_datagram(&mut self, now: Instant, from: Node, datagram: &[u8]) -> Vec<SenderEvent> {
        Engine::handle_datagram(self, now, from, datagram).events.to_vec()
    }
    fn handle_timeout(&mut self, now: Instant) -> Option<SenderEvent> {
        Engine::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, trace: bool) -> Option<(Node, Vec<u8>, String)> {
        Engine::poll_transmit(self, now)
            .map(|t| (t.to, t.datagram.to_vec(), if trace { format!("{}", t.trace) } else { String::new() }))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Engine::poll_timeout(self)
    }
    fn is_done(&self) -> bool {
        Engine::is_done(self)
    }
    fn conn(&self) -> u16 {
        Sender::conn(self)
    }
    fn window(&self) -> u8 {
        Sender::window(self)
    }
    fn digest(&self) -> Option<DigestAlgorithm> {
        Sender::digest(self)
    }
}

/// What happened to one sender.
#[derive(Clone, Debug, Default)]
pub(crate) struct SenderRecord {
    pub started: Option<Instant>,
    pub events: Vec<(Instant, SenderEvent)>,
    /// Bytes acknowledged (the sum of its `Acknowledged` events).
    pub acked: u64,
    /// When it vanished or was aborted, and the bytes acknowledged then.
    pub stopped: Option<(Instant, u64)>,
    /// Its abandoning FIN (after an abort) reached the listener.
    pub abandon_delivered: bool,
    /// When each frame of it reached the listener, with the listener's `running()` just
    /// before, and whether it was a SYN.
    pub arrivals: Vec<(Instant, usize, bool)>,
    /// The listener's `running()` when it started.
    pub running_at_start: usize,
    /// Its connection id, granted window and digest, as it reports them.
    pub conn: u16,
    pub window: u8,
    pub digest: Option<DigestAlgorithm>,
}

impl SenderRecord {
    fn push(&mut self, now: Instant, event: SenderEvent) {
        if let SenderEvent::Acknowledged { bytes } = event {
            self.acked += u64::from(bytes);
        }
        self.events.push((now, event));
    }

    pub(crate) fn failed(&self) -> Option<Error> {
        self.events.iter().find_map(|(_, e)| match e {
            SenderEvent::Failed(error) => Some(*error),
            _ => None,
        })
    }

    /// When it first reported `event`.
    pub(crate) fn at(&self, event: impl Fn(SenderEvent) -> bool) -> Option<Instant> {
        self.events.iter().find(|&&(_, e)| event(e)).map(|&(at, _)| at)
    }
}

/// A sender of the run and where it is.
pub(crate) struct Peer {
    pub plan: Plan,
    /// Its endpoint: `Node::Peer(endpoint)`.
    pub endpoint: u8,
    engine: Option<Box<dyn AnySender>>,
    seed: u64,
    written: usize,
    finished: bool,
    pub vanished: bool,
    pub record: SenderRecord,
}

impl Peer {
    pub(crate) fn new(plan: Plan, endpoint: u8, seed: u64) -> Peer {
        Peer {
            plan,
            endpoint,
            engine: None,
            seed,
            written: 0,
            finished: false,
            vanished: false,
            record: SenderRecord::default(),
        }
    }

    pub(crate) fn is_started(&self) -> bool {
        self.engine.is_some()
    }

    /// Done, or vanished: it needs nothing more.
    pub(crate) fn is_over(&self) -> bool {
        self.vanished || self.engine.as_ref().is_some_and(|e| e.is_done())
    }

    /// Its connection, once it has one.
    pub(crate) fn conn(&self) -> Option<u16> {
        self.engine.as_ref().map(|e| e.conn())
    }

    /// Builds its sender at `now`, with its name offered.
    pub(crate) fn start(&mut self, now: Instant, running: usize) {
        let config = SenderConfig {
            timing: Timing { idle_timeout: self.plan.idle_timeout, ..Timing::DEFAULT },
            transfer_size: self.plan.announce.then_some(self.plan.data.len() as u64),
            digest: self.plan.digest,
            window: self.plan.window,
            congestion: self.plan.congestion,
            ..SenderConfig::new(self.seed)
        };
        let mut engine: Box<dyn AnySender> = match self.plan.frames {
            Frames::One => Box::new(Sender::<Node, 1>::new(config, Node::Receiver, now)),
            Frames::Four => Box::new(Sender::<Node, 4>::new(config, Node::Receiver, now)),
            Frames::ThirtyTwo => Box::new(Sender::<Node, 32>::new(config, Node::Receiver, now)),
        };
        if let Some(name) = &self.plan.name {
            assert!(engine.offer_name(name), "the name fits in the SYN");
        }
        self.engine = Some(engine);
        self.record.started = Some(now);
        self.record.running_at_start = running;
    }

    /// Started and not vanished: pumped.
    fn live(&mut self) -> Option<&mut Box<dyn AnySender>> {
        if self.vanished { None } else { self.engine.as_mut() }
    }

    /// A datagram arrived (ignored once it vanished); its events.
    pub(crate) fn receive(&mut self, now: Instant, from: Node, datagram: &[u8]) -> Vec<SenderEvent> {
        let Some(engine) = self.live() else { return Vec::new() };
        let events = engine.handle_datagram(now, from, datagram);
        for &e in &events {
            self.record.push(now, e);
        }
        events
    }

    /// Its timers, then its application: vanishes or aborts when the plan says so, writes what
    /// fits, finishes. Whether anything happened.
    pub(crate) fn step(&mut self, now: Instant, trace: &mut Option<Vec<String>>) -> bool {
        let acked = self.record.acked;
        let (stop, size) = (self.plan.stop, self.plan.data.len());
        let Some(engine) = self.engine.as_mut().filter(|_| !self.vanished) else { return false };
        let mut busy = false;
        if engine.poll_timeout().is_some_and(|t| t <= now)
            && let Some(e) = engine.handle_timeout(now)
        {
            self.record.push(now, e);
            busy = true;
        }
        if engine.is_done() {
            return busy;
        }
        match stop {
            Stop::Vanish { after } if acked >= after => {
                self.record.stopped = Some((now, acked));
                self.vanished = true;
                if let Some(trace) = trace {
                    trace.push(format!("{now:?} S{} vanishes after {acked} bytes", self.endpoint));
                }
                return true;
            }
            Stop::Abort { after } if acked >= after => {
                self.record.stopped = Some((now, acked));
                let event = engine.abort(Error::Stopped(RefuseReason::Cancelled));
                self.record.push(now, event);
                return true;
            }
            _ => {}
        }
        if self.written < size {
            let n = engine.write(&self.plan.data[self.written..]);
            self.written += n;
            busy |= n > 0;
        }
        if self.written == size && !self.finished {
            self.finished = true;
            busy = true;
            if let Some(e) = engine.finish() {
                self.record.push(now, e);
            }
        }
        busy
    }

    /// Its next datagram to send.
    pub(crate) fn transmit(&mut self, now: Instant, trace: bool) -> Option<(Node, Vec<u8>, String)> {
        self.live()?.poll_transmit(now, trace)
    }

    /// When it must be called next.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        self.live()?.poll_timeout()
    }

    /// Notes what its sender reports of the connection.
    pub(crate) fn note(&mut self) {
        if let Some(engine) = &self.engine {
            self.record.conn = engine.conn();
            self.record.window = engine.window();
            self.record.digest = engine.digest();
        }
    }
}
