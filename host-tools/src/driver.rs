//! The blocking host loop around the core's [`transport::poll`] driver.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rudp_nostd::Engine;
use rudp_nostd::transport::{self, Report};

use crate::clock::Clock;
use crate::udp::UdpTransport;

/// The longest a wait blocks, so that Ctrl-C is noticed even while no timer runs.
const MAX_WAIT: Duration = Duration::from_millis(250);

/// Why the loop stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The engine is done.
    Done,
    /// The user interrupted (Ctrl-C or SIGTERM).
    Interrupted,
    /// The report callback asked for a pause (to act on an event with the engine in hand);
    /// call [`run`] again to go on.
    Paused,
    /// Connecting ([`Attempt`]): an ICMP "port unreachable" came back, nothing listens there.
    Refused,
    /// Connecting ([`Attempt`]): no answer by [`Attempt::give_up_at`].
    NoAnswer,
}

/// A sender's connection attempt to one address: the loop stops at an ICMP "port
/// unreachable" (TCP's "connection refused") and, if given, at a deadline, so that the next
/// address can be tried. Once connected there is no `Attempt`: an unreachable is then a soft
/// error, as TCP treats it, and only the engine's idle timeout ends the transfer.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    /// Give up on the address at this moment (`None`: the engine's idle timeout decides).
    pub give_up_at: Option<std::time::Instant>,
}

/// What the report callback wants next.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep running.
    Continue,
    /// Return [`Stop::Paused`] once the current poll is over.
    Pause,
}

/// Set by the signal handler.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    // If a handler cannot be installed (another one exists), signals keep their default
    // action: the process ends, which loses nothing but the temporary file's cleanup.
    let _ = ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst));
    flag
}

/// Sends what `engine` has to send now, and nothing else: the last words of an engine the
/// application stopped (a refusal, an abandoning FIN).
pub fn send_pending<En>(engine: &mut En, udp: &mut UdpTransport, clock: &Clock) -> io::Result<()>
where
    En: Engine<Endpoint = std::net::SocketAddr>,
{
    use rudp_nostd::Transport;
    while let Some(transmit) = engine.poll_transmit(clock.now()) {
        udp.send_to(transmit.to, transmit.datagram)?;
    }
    udp.flush()
}

/// Runs `engine` over `udp` until it is done or interrupted, reporting every trace and event;
/// while `attempt` is given, also until the peer refuses or the attempt's time is up.
/// `observe` sees the engine after each poll (to read its state between events, without
/// pausing the loop).
pub fn run<En>(
    engine: &mut En,
    udp: &mut UdpTransport,
    clock: &Clock,
    interrupted: &AtomicBool,
    attempt: Option<Attempt>,
    mut report: impl FnMut(Report<En::Event>) -> Flow,
    mut observe: impl FnMut(&En),
) -> io::Result<Stop>
where
    En: Engine<Endpoint = std::net::SocketAddr>,
{
    loop {
        let mut pause = false;
        let next = transport::poll(engine, udp, clock.now(), |r| pause |= report(r) == Flow::Pause)?;
        observe(engine);
        if pause {
            return Ok(Stop::Paused);
        }
        if engine.is_done() {
            return Ok(Stop::Done);
        }
        if interrupted.load(Ordering::SeqCst) {
            return Ok(Stop::Interrupted);
        }
        let mut timeout = next.map_or(MAX_WAIT, |deadline| {
            Duration::from(deadline.saturating_since(clock.now())).min(MAX_WAIT)
        });
        if let Some(attempt) = attempt {
            if udp.port_unreachable {
                return Ok(Stop::Refused);
            }
            if let Some(give_up_at) = attempt.give_up_at {
                let left = give_up_at.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(Stop::NoAnswer);
                }
                timeout = timeout.min(left);
            }
        }
        udp.wait(Some(timeout))?;
    }
}
