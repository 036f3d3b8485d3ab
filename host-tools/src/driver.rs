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

/// Runs `engine` over `udp` until it is done or interrupted, reporting every trace and event.
pub fn run<En>(
    engine: &mut En,
    udp: &mut UdpTransport,
    clock: &Clock,
    interrupted: &AtomicBool,
    mut report: impl FnMut(Report<En::Event>) -> Flow,
) -> io::Result<Stop>
where
    En: Engine<Endpoint = std::net::SocketAddr>,
{
    loop {
        let mut pause = false;
        let next = transport::poll(engine, udp, clock.now(), |r| pause |= report(r) == Flow::Pause)?;
        if pause {
            return Ok(Stop::Paused);
        }
        if engine.is_done() {
            return Ok(Stop::Done);
        }
        if interrupted.load(Ordering::SeqCst) {
            return Ok(Stop::Interrupted);
        }
        let timeout = next.map_or(MAX_WAIT, |deadline| {
            Duration::from(deadline.saturating_since(clock.now())).min(MAX_WAIT)
        });
        udp.wait(Some(timeout))?;
    }
}
