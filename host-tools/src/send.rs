//! `rudp send HOST PORT [FILE]`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;
use rudp_nostd::frame::Flags;
use rudp_nostd::trace::Direction;
use rudp_nostd::transport::Report;
use rudp_nostd::{Error, MAX_WINDOW, Profile, Sender, SenderConfig, SenderEvent};

use crate::Failure;
use crate::clock::{Clock, random_seed};
use crate::common::{CommonArgs, CongestionArg, DigestArg};
use crate::driver::{self, Flow, Stop};
use crate::io_adapters::StdSource;
use crate::report::Reporter;
use crate::udp::UdpTransport;

/// Input buffer: reads far larger than a frame, so that filling a frame rarely costs a call.
const BUFFER: usize = 256 * 1024;

/// Send a file to `rudp recv` (or to the original server.py with --profile reference).
#[derive(Args, Debug)]
pub struct SendArgs {
    /// The receiver: a host name, an IPv4 or an IPv6 address.
    pub host: String,

    /// The receiver's UDP port.
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// The file to send; standard input when omitted or `-`.
    pub file: Option<PathBuf>,

    /// Prove the data with this digest: the receiver commits its output only if it matches.
    /// The reference profile never offers one.
    #[arg(long, value_enum, default_value = "crc32c")]
    pub digest: DigestArg,

    /// Fail before sending any data if the receiver does not agree to verify the digest.
    #[arg(long)]
    pub require_digest: bool,

    /// Offer to keep up to W data frames in flight (1 to 64; 1 is plain stop-and-wait). The
    /// receiver grants at most its own limit; the reference profile never offers a window.
    #[arg(long, value_name = "W", default_value_t = 32, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub window: u8,

    /// How a window adapts to loss: `reno` halves it on loss (shared paths, where loss means
    /// congestion); `fixed` keeps it whole (a dedicated link, where loss is noise).
    #[arg(long, value_enum, default_value = "reno")]
    pub congestion: CongestionArg,

    /// Test hook: send a wrong digest, to check that the receiver rejects the data.
    #[arg(long, hide = true)]
    pub corrupt_digest_for_testing: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Resolves HOST and PORT to one address.
fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    // Brackets are how people write IPv6 addresses next to ports; accept them here too.
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let mut addrs = (bare, port).to_socket_addrs().map_err(|e| anyhow!("host not found: {host} ({e})"))?;
    addrs.next().ok_or_else(|| anyhow!("host not found: {host} has no address"))
}

/// Opens the input; returns it with its size when known (a regular file).
fn open_input(file: Option<&PathBuf>) -> anyhow::Result<(Box<dyn Read>, Option<u64>, String)> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let name = path.display().to_string();
            let file = File::open(path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => anyhow!("file not found: {name}"),
                _ => anyhow!("cannot open {name}: {e}"),
            })?;
            let meta = file.metadata().with_context(|| format!("cannot read {name}"))?;
            if meta.is_dir() {
                anyhow::bail!("{name} is a directory");
            }
            let size = meta.is_file().then_some(meta.len());
            Ok((Box::new(BufReader::with_capacity(BUFFER, file)), size, name))
        }
        _ => Ok((Box::new(BufReader::with_capacity(BUFFER, io::stdin().lock())), None, "stdin".into())),
    }
}

/// Runs `rudp send`.
pub fn run(args: &SendArgs) -> Result<(), Failure> {
    let peer = resolve(&args.host, args.port)?;
    let (input, size, input_name) = open_input(args.file.as_ref())?;
    let clock = Clock::new();
    let mut udp = UdpTransport::connect(peer).with_context(|| format!("cannot reach {peer}"))?;
    udp.set_busy_poll(args.common.busy_poll());
    let profile: Profile = args.common.profile.into();
    let config = SenderConfig {
        profile,
        timing: args.common.timing(),
        random_seed: random_seed(),
        transfer_size: size,
        digest: args.digest.algorithm(),
        require_digest: args.require_digest,
        window: args.window,
        congestion: args.congestion.into(),
    };
    if args.require_digest && (profile == Profile::Reference || args.digest == DigestArg::None) {
        return Err(Failure::Usage(
            "--require-digest needs a digest, and the reference profile has none".into(),
        ));
    }
    // Room for the largest window; the offer is `--window`.
    let mut sender: Sender<_, _, { MAX_WINDOW as usize }> =
        Sender::windowed(config, StdSource::new(input), peer, clock.now());
    if args.corrupt_digest_for_testing {
        sender.corrupt_digest_for_testing();
    }
    let mut reporter = Reporter::new(&args.common);
    if let Some(size) = size {
        reporter.set_total(size);
    }
    let interrupted = driver::interrupt_flag();
    let mut outcome: Option<Result<(), Error>> = None;
    let mut finished_at = None;
    let mut fin_sent = false;
    let result = driver::run(&mut sender, &mut udp, &clock, &interrupted, |report| {
        match report {
            Report::Trace(trace) => {
                fin_sent |= trace.direction == Direction::Send
                    && trace.header.is_ok_and(|h| h.flags.contains(Flags::FIN));
                reporter.trace(&trace);
            }
            Report::Event(SenderEvent::Acknowledged { bytes }) => reporter.add_bytes(bytes.into()),
            Report::Event(SenderEvent::Finished) => {
                finished_at = Some(clock.elapsed_secs());
                outcome = Some(Ok(()));
            }
            Report::Event(SenderEvent::Failed(error)) => outcome = Some(Err(error)),
            Report::Event(SenderEvent::Connected { .. } | SenderEvent::Closed) => {}
        }
        Flow::Continue
    });
    let elapsed = std::time::Duration::from_secs_f64(finished_at.unwrap_or_else(|| clock.elapsed_secs()));
    match (outcome, result) {
        // Nothing after the FIN's acknowledgement turns success into failure (SPEC §5).
        (Some(Ok(())), _) => {
            reporter.print_summary("sent", elapsed, sender.window(), sender.digest());
            Ok(())
        }
        (_, Ok(Stop::Interrupted)) => {
            reporter.finish();
            Err(anyhow!(
                "interrupted after {} bytes; the receiver did not get the whole input",
                reporter.bytes
            )
            .into())
        }
        (_, Err(e)) => {
            reporter.finish();
            Err(anyhow!("network error talking to {peer}: {e}").into())
        }
        (Some(Err(error)), Ok(Stop::Done)) => {
            reporter.finish();
            let idle = args.common.idle_timeout;
            let message = match error {
                Error::IdleTimeout if sender.conn() == 0 && udp.port_unreachable => {
                    format!(
                        "peer not answering: nothing listens on {peer} (port unreachable), gave up after {idle:?}"
                    )
                }
                Error::IdleTimeout if sender.conn() == 0 => {
                    format!("peer not answering: no reply from {peer} for {idle:?}")
                }
                Error::IdleTimeout if fin_sent => format!(
                    "peer stopped answering at the end: all {} bytes were acknowledged, but the receiver did not \
                     confirm the end of the transfer within {idle:?}",
                    reporter.bytes
                ),
                Error::IdleTimeout => format!(
                    "peer vanished mid-transfer: no reply from {peer} for {idle:?} after {} bytes were acknowledged",
                    reporter.bytes
                ),
                Error::Rejected => format!(
                    "the receiver rejected the data: it does not match the {} digest; the receiver discarded it",
                    sender.digest().map_or("agreed".into(), |d| d.to_string())
                ),
                Error::DigestRefused => {
                    "the receiver does not verify digests and --require-digest was given; nothing was sent"
                        .to_string()
                }
                Error::Source(_) => {
                    let source = sender.into_source();
                    match source.last_error {
                        Some(e) => format!("reading {input_name}: {e}"),
                        None => format!("reading {input_name} failed"),
                    }
                }
                other => other.to_string(),
            };
            Err(anyhow!(message).into())
        }
        (_, Ok(Stop::Done | Stop::Paused)) => Err(anyhow!("the transfer ended without a result").into()),
    }
}
