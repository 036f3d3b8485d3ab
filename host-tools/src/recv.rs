//! `rudp recv PORT [-o FILE]`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use rudp_nostd::DEFAULT_HALF_OPEN;
use rudp_nostd::blocking::SinkReceiver;
use rudp_nostd::transport::Report;
use rudp_nostd::{Commit, Error, MAX_WINDOW, Receiver, ReceiverConfig, ReceiverEvent, RefuseReason};

use crate::Failure;
use crate::clock::{Clock, random_seed};
use crate::common::CommonArgs;
use crate::driver::{self, Flow, Stop};
use crate::duration::parse_duration;
use crate::io_adapters::StdSink;
use crate::output::Output;
use crate::report::{Reporter, Side, WindowUse};
use crate::udp::UdpTransport;

/// Receive one transfer from `rudp send` (or from the original client.py with --profile
/// reference), then exit.
#[derive(Args, Debug)]
pub struct RecvArgs {
    /// The UDP port to listen on.
    pub port: u16,

    /// Write to FILE instead of stdout (`-`: stdout). FILE appears only once the transfer is
    /// complete (the data goes to a temporary file beside it first); a failed transfer leaves
    /// no FILE. A device or a FIFO is written in place; a FIFO is opened without holding up
    /// the listening, and the transfer waits for its reader. A directory is refused.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Listen on this address only (default: every interface, IPv4 and IPv6).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,

    /// Give up when no sender has connected within DUR (default: wait as long as it takes).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub wait: Option<Duration>,

    /// Grant a sender at most W data frames in flight (1 to 64; 1 is plain stop-and-wait).
    #[arg(long, value_name = "W", default_value_t = 32, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub max_window: u8,

    /// Do not verify a digest, even when the sender offers one.
    #[arg(long)]
    pub no_verify: bool,

    /// When a transfer fails, keep the partial data in the temporary file (and say where)
    /// instead of removing it.
    #[arg(long, requires = "output")]
    pub keep_partial: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `rudp recv`.
pub fn run(args: &RecvArgs) -> Result<(), Failure> {
    let output = match &args.output {
        Some(path) if path.as_os_str() == "-" => Output::stdout(),
        Some(path) => Output::file(path)?,
        None => Output::stdout(),
    };
    let mut sink = StdSink::new(output);
    let mut udp = match UdpTransport::listen(args.bind, args.port) {
        Ok(udp) => udp,
        Err(e) => {
            sink.get_mut().discard(false, false);
            return Err(match e.kind() {
                std::io::ErrorKind::AddrInUse => anyhow!("port {} is in use", args.port),
                _ => anyhow!("cannot listen on port {}: {e}", args.port),
            }
            .into());
        }
    };
    udp.set_busy_poll(args.common.busy_poll());
    let clock = Clock::new();
    let config = ReceiverConfig {
        profile: args.common.profile.into(),
        idle_timeout: args.common.idle_timeout.into(),
        random_seed: random_seed(),
        accept_timeout: args.wait.map(Into::into),
        verify_digest: !args.no_verify,
        max_window: args.max_window,
    };
    // Payload slots for the largest window (the grant is `--max-window`). The FIN is answered
    // only once the output is committed (synced and renamed): the sender's success means the
    // file is in place (SPEC §5, §10.2).
    let mut receiver: SinkReceiver<_, _, { MAX_WINDOW as usize }, DEFAULT_HALF_OPEN> =
        SinkReceiver::with_commit(Receiver::new(config, clock.now()), sink, Commit::Application);
    let mut reporter = Reporter::new(&args.common);
    if let Ok(addr) = udp.local_addr() {
        reporter.note(&format!("rudp: listening on {addr}"));
    }
    let interrupted = driver::interrupt_flag();
    let mut outcome: Option<Result<(), Error>> = None;
    let mut started = None;
    let mut elapsed = None;
    let mut commit_error = None;
    let mut granted_window = 1;
    let mut announced = None;
    let result = loop {
        let report = |report| {
            match report {
                Report::Trace(trace) => reporter.trace(&trace),
                Report::Event(ReceiverEvent::Connected { transfer_size, .. }) => {
                    started = Some(clock.elapsed_secs());
                    announced = transfer_size;
                    if let Some(size) = transfer_size {
                        reporter.set_total(size);
                    }
                }
                Report::Event(ReceiverEvent::Delivered { bytes }) => reporter.add_bytes(bytes.into()),
                Report::Event(ReceiverEvent::Finished) => {
                    elapsed = Some(clock.elapsed_secs() - started.unwrap_or(0.0));
                    outcome = Some(Ok(()));
                    // Commit now, then answer the FIN: the data is complete and flushed.
                    return Flow::Pause;
                }
                Report::Event(ReceiverEvent::Failed(error)) => {
                    outcome = Some(Err(error));
                    // Its last words (a refusal) went out with this poll: nothing more to wait
                    // for.
                    return Flow::Pause;
                }
                Report::Event(ReceiverEvent::Closed) => {}
            }
            Flow::Continue
        };
        let run = driver::run(&mut receiver, &mut udp, &clock, &interrupted, None, report, |_| {});
        match run {
            Ok(Stop::Paused) if matches!(outcome, Some(Err(_))) => break Ok(Stop::Done),
            Ok(Stop::Paused) => {
                // The connection is still there (lingering): note its window for the summary.
                granted_window = receiver.window();
                match receiver.sink_mut().get_mut().commit() {
                    Ok(()) => receiver.committed(clock.now()),
                    Err(e) => {
                        // The FIN is answered with a refusal (reason 4), or, to a sender that
                        // would not understand one, not at all: the sender cannot report
                        // success.
                        receiver.commit_failed(clock.now());
                        let _ = driver::send_pending(&mut receiver, &mut udp, &clock);
                        commit_error = Some(e);
                        break Ok(Stop::Done);
                    }
                }
            }
            other => break other,
        }
    };
    let elapsed = Duration::from_secs_f64(elapsed.unwrap_or_else(|| clock.elapsed_secs()).max(0.0));
    if let Some(e) = commit_error {
        reporter.finish();
        let discarded = receiver.sink_mut().get_mut().discard(args.keep_partial, false);
        return Err(anyhow!("{}", with_note(format!("{e:#}"), discarded)).into());
    }
    match (outcome, result) {
        // The data is committed; nothing in the linger changes that.
        (Some(Ok(())), _) => {
            let window = WindowUse { granted: granted_window, average_cwnd: None };
            reporter.print_summary("received", Side::Receiver, elapsed, window, receiver.digest());
            Ok(())
        }
        (outcome, result) => {
            reporter.finish();
            let mismatch = outcome == Some(Err(Error::DigestMismatch));
            let digest = receiver.digest();
            let discarded = receiver.sink_mut().get_mut().discard(args.keep_partial, mismatch);
            let message = match (outcome, result) {
                (_, Ok(Stop::Interrupted)) => {
                    // Tell the sender (SPEC §10.4: a refusal, reason 5) rather than let it wait.
                    receiver.abort(clock.now(), Error::Stopped(RefuseReason::Cancelled));
                    let _ = driver::send_pending(&mut receiver, &mut udp, &clock);
                    format!("interrupted after {} bytes", reporter.bytes)
                }
                (_, Err(e)) => format!("network error: {e}"),
                (Some(Err(Error::IdleTimeout)), _) => {
                    let frames = format!(
                        "{} frames came, {} of them repeats",
                        reporter.frames_received, reporter.duplicates
                    );
                    // Repeats are frames the sender sent again: our ACKs (or its frames) were lost.
                    let why = if reporter.duplicates * 2 > reporter.frames_received {
                        format!(
                            "frames were rare and mostly repeats before they stopped ({frames}): the path loses most datagrams"
                        )
                    } else {
                        format!("frames stopped ({frames}): the sender went away or the path broke")
                    };
                    format!(
                        "nothing from the sender for {:?} after {} bytes; {why}",
                        args.common.idle_timeout, reporter.bytes
                    )
                }
                (Some(Err(Error::LengthMismatch)), _) => format!(
                    "the sender's data did not match the {} bytes it announced ({} bytes taken in order): its \
                     file changed size while it was sent, or the sender is broken",
                    announced.unwrap_or_default(),
                    reporter.bytes
                ),
                (Some(Err(Error::DigestMismatch)), _) => format!(
                    "digest mismatch: the {} bytes received do not match the sender's {} digest",
                    reporter.bytes,
                    digest.map_or("agreed".into(), |d| d.to_string())
                ),
                (Some(Err(Error::AcceptTimeout)), _) => {
                    format!("no sender connected within {:?}", args.wait.unwrap_or_default())
                }
                (Some(Err(Error::Sink(_))), _) => match receiver.sink_mut().last_error.take() {
                    Some(e) => format!("output not writable: {e}"),
                    None => "output not writable".into(),
                },
                (Some(Err(Error::Refused(reason))), _) => abandoned(reason, reporter.bytes),
                (Some(Err(other)), _) => other.to_string(),
                (_, Ok(_)) => "the transfer ended without a result".into(),
            };
            Err(anyhow!("{}", with_note(message, discarded)).into())
        }
    }
}

/// What a sender's abandoning FIN means, for the one who received.
fn abandoned(reason: RefuseReason, bytes: u64) -> String {
    let why = match reason {
        RefuseReason::Storage => "its source could not be read".to_string(),
        RefuseReason::Cancelled => "it was cancelled".to_string(),
        RefuseReason::Length => "its source did not match the size it announced".to_string(),
        other => format!("{other}"),
    };
    format!("the sender abandoned the transfer after {bytes} bytes: {why}")
}

/// `message`, then what became of the output, if there is anything to say about it.
fn with_note(message: String, note: Option<String>) -> String {
    match note {
        Some(note) => format!("{message}; {note}"),
        None => message,
    }
}
