//! `rudp send HOST PORT [FILE]`.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use rudp_nostd::Direction;
use rudp_nostd::blocking::SourceSender;
use rudp_nostd::transport::Report;
use rudp_nostd::wire::Flags;
use rudp_nostd::{Error, MAX_WINDOW, Profile, RefuseReason, Sender, SenderConfig, SenderEvent};

use crate::Failure;
use crate::clock::{Clock, random_seed};
use crate::common::{CommonArgs, CongestionArg, DigestArg};
use crate::driver::{self, Flow, Stop};
use crate::duration::parse_duration;
use crate::io_adapters::{StdSource, VerifyingReader, sha256_of};
use crate::report::{Reporter, Side, WindowUse};
use crate::udp::UdpTransport;

/// Input buffer: reads far larger than a frame, so that filling a frame rarely costs a call.
const BUFFER: usize = 256 * 1024;

/// Send a file to `rudp recv` (or to the original server.py with --profile reference).
#[derive(Args, Debug)]
pub struct SendArgs {
    /// The receiver: a host name, an IPv4 or an IPv6 address. Each address of a name is
    /// tried in turn until one answers: the next at once when one refuses (nothing listens
    /// there), or after 2 s without an answer.
    pub host: String,

    /// The receiver's UDP port.
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// The file to send; standard input when omitted or `-`.
    pub file: Option<PathBuf>,

    /// Name the data NAME for the receiver (`rudp serve` stores it under that name; `/`
    /// separates directories). Default: the file's name; standard input has none.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Prove the data with this digest: the receiver commits its output only if it matches.
    /// Default: sha256 for a file (it makes resume possible), crc32c for standard input. The
    /// reference profile never offers one.
    #[arg(long, value_enum)]
    pub digest: Option<DigestArg>,

    /// Do not offer to resume. By default a file is offered for resume (SPEC §10.5): its
    /// SHA-256 is taken first (the summary says how long that took), and a receiver that holds
    /// the start of it from an earlier, interrupted transfer has the rest sent. Resume needs
    /// SHA-256: `--digest crc32c` turns it off too.
    #[arg(long)]
    pub no_resume: bool,

    /// After a failure that may pass (no answer, nothing listening, the receiver busy, the
    /// peer gone silent), try again up to N times, waiting 1 s, 2 s, 4 s... (at most 30 s)
    /// between tries; a file resumes where the receiver says. Standard input is never retried.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,

    /// Stop trying again once DUR has passed since the first try.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub retry_for: Option<Duration>,

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

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Resolves HOST and PORT to every address the name has, in the resolver's order.
fn resolve(host: &str, port: u16) -> anyhow::Result<Vec<SocketAddr>> {
    // Brackets are how people write IPv6 addresses next to ports; accept them here too.
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let addrs: Vec<SocketAddr> =
        (bare, port).to_socket_addrs().map_err(|e| anyhow!("host not found: {host} ({e})"))?.collect();
    if addrs.is_empty() {
        anyhow::bail!("host not found: {host} has no address");
    }
    Ok(addrs)
}

/// Opens the input; returns it with its size when known: a regular file that is not empty.
/// The size binds (SPEC §3.1), and files in /proc say 0 whatever they hold: an empty file
/// announces nothing, and the FIN still ends the data.
fn open_input(
    file: Option<&PathBuf>,
    verify: Option<[u8; 32]>,
) -> anyhow::Result<(Box<dyn Read>, Option<u64>, String)> {
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
            let size = Some(meta.len()).filter(|&len| meta.is_file() && len > 0);
            let reader = BufReader::with_capacity(BUFFER, file);
            match verify {
                Some(expected) => {
                    Ok((Box::new(VerifyingReader::new(reader, expected, meta.len())), size, name))
                }
                None => Ok((Box::new(reader), size, name)),
            }
        }
        _ => Ok((Box::new(BufReader::with_capacity(BUFFER, io::stdin().lock())), None, "stdin".into())),
    }
}

/// How long an address that is not the last one gets to answer the SYN before the next one
/// is tried (TCP clients do the same): with the default 500 ms initial timeout, three SYNs.
const ATTEMPT_TIME: Duration = Duration::from_secs(2);

/// The sender engine as `rudp send` runs it: room for the largest window (the offer is
/// `--window`).
type Engine = SourceSender<StdSource<Box<dyn Read>>, SocketAddr, { MAX_WINDOW as usize }>;

/// An address given up on before the transfer began.
#[derive(Debug)]
enum Tried {
    /// An ICMP "port unreachable" came back: nothing listens there.
    Refused(SocketAddr),
    /// No answer for this long.
    Silent(SocketAddr, Duration),
    /// No socket could be made for it (an IPv6 address on a host without IPv6).
    Unusable(SocketAddr, std::io::Error),
}

impl Tried {
    fn addr(&self) -> SocketAddr {
        match self {
            Tried::Refused(a) | Tried::Silent(a, _) | Tried::Unusable(a, _) => *a,
        }
    }
}

impl std::fmt::Display for Tried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tried::Refused(a) => write!(f, "nothing listens on {a} (port unreachable)"),
            Tried::Silent(a, d) => write!(f, "no reply from {a} for {d:?}"),
            Tried::Unusable(a, e) => write!(f, "cannot reach {a}: {e}"),
        }
    }
}

/// The one line that says why no address of HOST took the transfer.
fn no_peer_message(host: &str, port: u16, tried: &[Tried]) -> String {
    match tried {
        [] => format!("host not found: {host} has no address"),
        [one @ (Tried::Unusable(..) | Tried::Refused(_))] => one.to_string(),
        [one] => format!("peer not answering: {one}"),
        _ if tried.iter().all(|t| matches!(t, Tried::Refused(_))) => {
            let addrs: Vec<String> = tried.iter().map(|t| t.addr().to_string()).collect();
            format!(
                "peer not answering: nothing listens on {host}:{port} (port unreachable at {})",
                addrs.join(", ")
            )
        }
        _ => {
            let each: Vec<String> = tried.iter().map(Tried::to_string).collect();
            format!("peer not answering: no address of {host} answered: {}", each.join("; "))
        }
    }
}

/// What the report callback keeps of a transfer.
#[derive(Debug)]
struct Watch {
    reporter: Reporter,
    outcome: Option<Result<(), Error>>,
    finished_at: Option<f64>,
    fin_sent: bool,
}

impl Watch {
    fn new(reporter: Reporter) -> Watch {
        Watch { reporter, outcome: None, finished_at: None, fin_sent: false }
    }

    /// Takes a report. Pauses the loop on the connection (to leave the attempt).
    fn on(&mut self, report: Report<SenderEvent>, clock: &Clock) -> Flow {
        match report {
            Report::Trace(trace) => {
                self.fin_sent |= trace.direction == Direction::Send
                    && trace.header.is_ok_and(|h| h.flags.contains(Flags::FIN));
                self.reporter.trace(&trace);
            }
            Report::Event(SenderEvent::Acknowledged { bytes }) => self.reporter.add_bytes(bytes.into()),
            Report::Event(SenderEvent::Finished) => {
                self.finished_at = Some(clock.elapsed_secs());
                self.outcome = Some(Ok(()));
            }
            Report::Event(SenderEvent::Failed(error)) => self.outcome = Some(Err(error)),
            Report::Event(SenderEvent::Connected { .. }) => return Flow::Pause,
            Report::Event(SenderEvent::Closed) => {}
        }
        Flow::Continue
    }
}

/// The congestion window averaged over acknowledgement events. The report callback counts the
/// events; the window is read from the engine after each poll (the callback cannot reach the
/// engine, and pausing the loop to read it cost a system call per batch). Cells, so that both
/// closures can hold it.
#[derive(Debug, Default)]
struct CwndAverage {
    /// Acknowledgement events since the window was last read.
    pending: Cell<u64>,
    /// The window summed over acknowledgement events, and how many.
    sum: Cell<u64>,
    samples: Cell<u64>,
}

impl CwndAverage {
    fn on_report(&self, report: &Report<SenderEvent>) {
        if let Report::Event(SenderEvent::Acknowledged { .. }) = report {
            self.pending.set(self.pending.get() + 1);
        }
    }

    /// Counts `cwnd` once for each acknowledgement event since the last call.
    fn sample(&self, cwnd: u8) {
        let acks = self.pending.replace(0);
        self.sum.set(self.sum.get() + u64::from(cwnd) * acks);
        self.samples.set(self.samples.get() + acks);
    }

    fn average(&self) -> Option<f64> {
        (self.samples.get() > 0).then(|| self.sum.get() as f64 / self.samples.get() as f64)
    }
}

/// Where connecting got to: the engine of the last address tried, if one was left running,
/// and the addresses given up on before it.
struct Attempts {
    last: Option<(Box<Engine>, UdpTransport, SocketAddr, std::io::Result<Stop>)>,
    tried: Vec<Tried>,
}

/// What `connect` needs besides the addresses and the input.
struct ConnectOptions<'a> {
    config: &'a dyn Fn() -> SenderConfig,
    /// The name offered in the SYN.
    name: Option<&'a str>,
    /// The object id offered in the SYN (resume, SPEC §10.5).
    object_id: Option<&'a [u8]>,
    busy_poll: Duration,
    /// How long each address but the last gets to answer.
    attempt_time: Duration,
}

/// Sends the SYN to each address in turn, each time with a fresh engine and socket, until one
/// answers: an address that refuses (ICMP port unreachable) is left at once, one that stays
/// silent after `attempt_time` (all but the last; the last has the idle timeout), and the
/// next is tried, as TCP clients do. The input is not read before an answer, so each engine
/// takes it over whole. Returns with the engine paused at its connection (the loop goes on
/// with [`driver::run`]), or stopped for another reason (done, interrupted, a socket error).
fn connect(
    addrs: &[SocketAddr],
    input: StdSource<Box<dyn Read>>,
    options: &ConnectOptions<'_>,
    clock: &Clock,
    interrupted: &AtomicBool,
    watch: &mut Watch,
) -> Attempts {
    let mut input = Some(input);
    let mut tried = Vec::new();
    for (i, &peer) in addrs.iter().enumerate() {
        let last = i + 1 == addrs.len();
        if i > 0 {
            watch.reporter.detail(&format!(
                "rudp: {}; trying {peer}",
                tried.last().map_or(String::new(), Tried::to_string)
            ));
        }
        let mut udp = match UdpTransport::connect(peer) {
            Ok(udp) => udp,
            Err(e) => {
                tried.push(Tried::Unusable(peer, e));
                continue;
            }
        };
        udp.set_busy_poll(options.busy_poll);
        let Some(source) = input.take() else { break };
        let mut engine = Sender::new((options.config)(), peer, clock.now());
        if let Some(name) = options.name {
            // Checked when the arguments were read; the reference profile names nothing.
            engine.offer_name(name.as_bytes());
        }
        if let Some(object_id) = options.object_id {
            engine.offer_object_id(object_id);
        }
        let mut sender: Box<Engine> = Box::new(SourceSender::new(engine, source));
        let attempt =
            driver::Attempt { give_up_at: (!last).then(|| std::time::Instant::now() + options.attempt_time) };
        let stop = driver::run(
            &mut *sender,
            &mut udp,
            clock,
            interrupted,
            Some(attempt),
            |r| watch.on(r, clock),
            |_| {},
        );
        match stop {
            Ok(Stop::Refused) => tried.push(Tried::Refused(peer)),
            Ok(Stop::NoAnswer) => tried.push(Tried::Silent(peer, options.attempt_time)),
            stop => return Attempts { last: Some((sender, udp, peer, stop)), tried },
        }
        input = Some(sender.into_parts().1);
    }
    Attempts { last: None, tried }
}

/// What every try of a transfer shares: the digest, and for a file offered for resume its
/// SHA-256 (the object id is its first 16 bytes).
struct Plan {
    digest: DigestArg,
    sha256: Option<[u8; 32]>,
    /// How long hashing the file took.
    hashing: Duration,
}

/// The input file, when there is one (not standard input).
fn input_file(args: &SendArgs) -> Option<&PathBuf> {
    args.file.as_ref().filter(|path| path.as_os_str() != "-")
}

/// Decides the digest and whether to offer resume; hashes the file if so.
fn plan(args: &SendArgs, profile: Profile) -> Result<Plan, Failure> {
    let file = input_file(args).filter(|_| profile == Profile::Native);
    let regular =
        file.and_then(|path| std::fs::metadata(path).ok()).is_some_and(|m| m.is_file() && m.len() > 0);
    let digest = args.digest.unwrap_or(if regular { DigestArg::Sha256 } else { DigestArg::Crc32c });
    let resume = regular && !args.no_resume && digest == DigestArg::Sha256;
    let started = std::time::Instant::now();
    let sha256 = match file.filter(|_| resume) {
        Some(path) => {
            let file = File::open(path).map_err(|e| anyhow!("cannot open {}: {e}", path.display()))?;
            let sha256 = sha256_of(BufReader::with_capacity(BUFFER, file))
                .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
            Some(sha256)
        }
        None => None,
    };
    Ok(Plan { digest, sha256, hashing: started.elapsed() })
}

/// The wait before try `attempt + 1`: 1 s, 2 s, 4 s... at most 30 s.
fn back_off(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

/// A failed try, and whether trying again may help.
struct TryFailed {
    failure: Failure,
    retryable: bool,
}

/// Runs `rudp send`: one try, and more with `--retries` after failures that may pass.
pub fn run(args: &SendArgs) -> Result<(), Failure> {
    let profile: Profile = args.common.profile.into();
    if args.require_digest && (profile == Profile::Reference || args.digest == Some(DigestArg::None)) {
        return Err(Failure::Usage(
            "--require-digest needs a digest, and the reference profile has none".into(),
        ));
    }
    let name = offered_name(args)?;
    let addrs = resolve(&args.host, args.port)?;
    let plan = plan(args, profile)?;
    let interrupted = driver::interrupt_flag();
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        let failed = match send_once(args, &plan, name.as_deref(), &addrs, &interrupted) {
            Ok(()) => return Ok(()),
            Err(failed) => failed,
        };
        let wait = back_off(attempt);
        let in_time = args.retry_for.is_none_or(|limit| started.elapsed() + wait < limit);
        let again = failed.retryable
            && attempt < args.retries
            && input_file(args).is_some()
            && in_time
            && !interrupted.load(std::sync::atomic::Ordering::SeqCst);
        if !again {
            return Err(failed.failure);
        }
        if let Failure::Run(error) = &failed.failure
            && !args.common.quiet
        {
            eprintln!("rudp: {error:#}; trying again in {wait:?} ({} of {})", attempt + 1, args.retries);
        }
        // Ctrl-C during the wait ends it.
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until && !interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        attempt += 1;
    }
}

/// One try: connect (each address in turn), send, report.
fn send_once(
    args: &SendArgs,
    plan: &Plan,
    name: Option<&str>,
    addrs: &[SocketAddr],
    interrupted: &Arc<AtomicBool>,
) -> Result<(), TryFailed> {
    let mut retryable = false;
    let result = send_try(args, plan, name, addrs, interrupted, &mut retryable);
    result.map_err(|failure| TryFailed { failure, retryable })
}

/// One try; sets `retryable` when its failure may pass.
fn send_try(
    args: &SendArgs,
    plan: &Plan,
    name: Option<&str>,
    addrs: &[SocketAddr],
    interrupted: &Arc<AtomicBool>,
    retryable: &mut bool,
) -> Result<(), Failure> {
    let profile: Profile = args.common.profile.into();
    let (input, size, input_name) = open_input(args.file.as_ref(), plan.sha256)?;
    let clock = Clock::new();
    let config = || SenderConfig {
        profile,
        timing: args.common.timing(),
        random_seed: random_seed(),
        transfer_size: size,
        digest: plan.digest.algorithm(),
        require_digest: args.require_digest,
        window: args.window,
        congestion: args.congestion.into(),
    };
    let mut watch = Watch::new(Reporter::new(&args.common));
    if let Some(size) = size {
        watch.reporter.set_total(size);
    }
    let interrupted = &**interrupted;
    let options = ConnectOptions {
        config: &config,
        name,
        object_id: plan.sha256.as_ref().map(|sha| &sha[..16]),
        busy_poll: args.common.busy_poll(),
        attempt_time: ATTEMPT_TIME.min(args.common.idle_timeout),
    };
    let attempts = connect(addrs, StdSource::new(input), &options, &clock, interrupted, &mut watch);
    let mut tried = attempts.tried;
    let Some((mut sender, mut udp, peer, mut stop)) = attempts.last else {
        watch.reporter.finish();
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(anyhow!("interrupted before any receiver answered").into());
        }
        *retryable = true;
        return Err(anyhow!(no_peer_message(&args.host, args.port, &tried)).into());
    };
    // Resumed (SPEC §10.5): the receiver holds the first bytes; progress counts them.
    let resumed_from = sender.resume_from();
    if resumed_from > 0 {
        watch.reporter.skip(resumed_from);
        watch.reporter.detail(&format!("rudp: resuming: the receiver holds the first {resumed_from} bytes"));
    }
    // Connected (or stopped): from here an ICMP unreachable is a soft error, as in TCP.
    let cwnd = CwndAverage::default();
    let result = loop {
        match stop {
            Ok(Stop::Paused) => {
                let report = |r: Report<SenderEvent>| {
                    cwnd.on_report(&r);
                    watch.on(r, &clock)
                };
                let observe = |sender: &Engine| cwnd.sample(sender.cwnd());
                stop = driver::run(&mut *sender, &mut udp, &clock, interrupted, None, report, observe);
            }
            other => break other,
        }
    };
    let average_cwnd = cwnd.average();
    let Watch { outcome, finished_at, fin_sent, .. } = watch;
    let reporter = &mut watch.reporter;
    let elapsed = Duration::from_secs_f64(finished_at.unwrap_or_else(|| clock.elapsed_secs()));
    match (outcome, result) {
        // Nothing after the FIN's acknowledgement turns success into failure (SPEC §5).
        (Some(Ok(())), _) => {
            let granted = sender.window();
            let window = WindowUse { granted, average_cwnd: if granted >= 2 { average_cwnd } else { None } };
            let mut resume = Vec::new();
            if plan.sha256.is_some() {
                resume.push(format!("hashed for resume in {:.2} s", plan.hashing.as_secs_f64()));
            }
            if resumed_from > 0 {
                resume.push(format!("resumed from {resumed_from} bytes"));
            }
            reporter.print_summary_with("sent", Side::Sender, elapsed, window, sender.digest(), &resume);
            Ok(())
        }
        (_, Ok(Stop::Interrupted)) => {
            reporter.finish();
            // Tell the receiver (SPEC §10.4: an abandoning FIN, reason 5), so that it does not
            // wait its idle timeout.
            sender.abort(Error::Stopped(RefuseReason::Cancelled));
            let _ = driver::send_pending(&mut *sender, &mut udp, &clock);
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
            *retryable = matches!(error, Error::IdleTimeout | Error::Refused(RefuseReason::Busy));
            let idle = args.common.idle_timeout;
            let message = match error {
                Error::IdleTimeout if sender.conn() == 0 => {
                    tried.push(Tried::Silent(peer, idle));
                    no_peer_message(&args.host, args.port, &tried)
                }
                Error::IdleTimeout if fin_sent => format!(
                    "peer stopped answering at the end: all {} bytes were acknowledged, but the receiver did not \
                     confirm the end of the transfer within {idle:?}",
                    reporter.bytes
                ),
                Error::IdleTimeout => {
                    format!(
                        "no reply from {peer} for {idle:?} after {}; {}",
                        acknowledged(reporter, size),
                        replies(reporter)
                    )
                }
                Error::SourceEndedEarly => format!(
                    "{input_name} ended before the {} bytes it had when the transfer began (it shrank while \
                     being sent?); the receiver will discard what it got",
                    size.unwrap_or_default()
                ),
                Error::SourceRanLong => format!(
                    "{input_name} holds more than the {} bytes it had when the transfer began (it grew while \
                     being sent?); the receiver will discard what it got",
                    size.unwrap_or_default()
                ),
                Error::Rejected => format!(
                    "the receiver rejected the data: it does not match the {} digest; the receiver discarded it",
                    sender.digest().map_or("agreed".into(), |d| d.to_string())
                ),
                Error::Refused(reason) => refusal_words(reason),
                Error::DigestRefused => {
                    "the receiver does not verify digests and --require-digest was given; nothing was sent"
                        .to_string()
                }
                Error::Source(_) => {
                    let source = sender.into_parts().1;
                    match source.last_error {
                        Some(e) => format!("reading {input_name}: {e}"),
                        None => format!("reading {input_name} failed"),
                    }
                }
                other => other.to_string(),
            };
            Err(anyhow!(message).into())
        }
        (_, Ok(_)) => Err(anyhow!("the transfer ended without a result").into()),
    }
}

/// The name to offer: `--name`, else the file's name (none for standard input).
fn offered_name(args: &SendArgs) -> Result<Option<String>, Failure> {
    let name = match (&args.name, &args.file) {
        (Some(name), _) => Some(name.clone()),
        (None, Some(path)) if path.as_os_str() != "-" => {
            path.file_name().map(|n| n.to_string_lossy().into_owned())
        }
        _ => None,
    };
    match name {
        Some(name) if name.is_empty() || name.len() > 255 => {
            Err(Failure::Usage(format!("--name must be 1 to 255 bytes, not {}", name.len())))
        }
        name => Ok(name),
    }
}

/// What a receiver's refusal means, for the one who sent.
fn refusal_words(reason: RefuseReason) -> String {
    match reason {
        RefuseReason::Busy => "receiver busy, try again later".into(),
        RefuseReason::TooLarge => "refused: too large".into(),
        RefuseReason::Name => "refused: name not accepted".into(),
        RefuseReason::Storage => "refused: receiver cannot write".into(),
        RefuseReason::Cancelled => "cancelled by the receiver".into(),
        RefuseReason::Length => "refused: the data did not match the size announced".into(),
        RefuseReason::Other(code) => format!("refused by the receiver (reason {code})"),
    }
}

/// How much was acknowledged, of how much when the size is known.
fn acknowledged(reporter: &Reporter, size: Option<u64>) -> String {
    match size {
        Some(size) => format!("{} of {size} bytes were acknowledged", reporter.skipped + reporter.bytes),
        None => format!("{} bytes were acknowledged", reporter.bytes),
    }
}

/// What the replies looked like before they stopped: rare (a path that loses most datagrams)
/// or regular (the receiver went away, or the path broke).
fn replies(reporter: &Reporter) -> String {
    let counts = format!(
        "{} replies came to {} frames sent, {} of them retransmissions",
        reporter.frames_received, reporter.frames_sent, reporter.retransmissions
    );
    if reporter.retransmissions * 2 > reporter.frames_sent {
        format!(
            "replies were rare before they stopped ({counts}): the path loses most datagrams; a longer --idle-timeout may get through"
        )
    } else {
        format!("replies stopped ({counts}): the receiver went away or the path broke")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use rudp_nostd::blocking::SinkReceiver;
    use rudp_nostd::{Receiver, ReceiverConfig};

    /// A receiver engine on 127.0.0.1 in a thread, over the CLI's own transport and loop.
    fn receiver() -> SocketAddr {
        let mut udp = UdpTransport::listen(Some([127, 0, 0, 1].into()), 0).unwrap();
        let addr = udp.local_addr().unwrap();
        std::thread::spawn(move || {
            let clock = Clock::new();
            let mut receiver = SinkReceiver::new(
                Receiver::<SocketAddr>::new(ReceiverConfig::new(7), clock.now()),
                Vec::new(),
            );
            let no_stop = AtomicBool::new(false);
            let _ = driver::run(&mut receiver, &mut udp, &clock, &no_stop, None, |_| Flow::Continue, |_| {});
        });
        addr
    }

    fn quiet_watch() -> Watch {
        let cli = crate::Cli::parse_from(["rudp", "send", "-q", "127.0.0.1", "9"]);
        let crate::Command::Send(args) = cli.command else { unreachable!() };
        Watch::new(Reporter::new(&args.common))
    }

    fn try_in_turn(addrs: &[SocketAddr]) -> Attempts {
        let config = || SenderConfig::new(random_seed());
        let options = ConnectOptions {
            config: &config,
            name: None,
            object_id: None,
            busy_poll: Duration::ZERO,
            attempt_time: Duration::from_millis(300),
        };
        let input: Box<dyn Read> = Box::new(&b"data"[..]);
        connect(
            addrs,
            StdSource::new(input),
            &options,
            &Clock::new(),
            &AtomicBool::new(false),
            &mut quiet_watch(),
        )
    }

    #[test]
    fn each_address_is_tried_until_one_answers() {
        // Refuses (nothing bound: ICMP port unreachable), stays silent (bound, never reads),
        // then answers: as `localhost` resolving to ::1 first with the receiver on 127.0.0.1.
        let refusing = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let answering = receiver();
        let start = std::time::Instant::now();
        let attempts = try_in_turn(&[refusing, silent.local_addr().unwrap(), answering]);
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        let (sender, _, peer, stop) = attempts.last.expect("connected");
        assert_eq!(peer, answering);
        assert!(matches!(stop, Ok(Stop::Paused)), "{stop:?}");
        assert_ne!(sender.conn(), 0, "the receiver answered");
        assert!(
            matches!(attempts.tried[..], [Tried::Refused(a), Tried::Silent(b, _)]
            if a == refusing && b == silent.local_addr().unwrap()),
            "{:?}",
            attempts.tried
        );
    }

    #[test]
    fn when_every_address_refuses_the_message_names_the_host() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let attempts = try_in_turn(&[a, b]);
        assert!(attempts.last.is_none());
        assert_eq!(
            no_peer_message("example", 9, &attempts.tried),
            format!("peer not answering: nothing listens on example:9 (port unreachable at {a}, {b})")
        );
        assert_eq!(
            no_peer_message("x", a.port(), &attempts.tried[..1]),
            format!("nothing listens on {a} (port unreachable)")
        );
    }

    #[test]
    fn a_give_up_says_whether_replies_were_rare_or_stopped() {
        let mut reporter = quiet_watch().reporter;
        (reporter.frames_sent, reporter.retransmissions, reporter.frames_received) = (218, 113, 59);
        let rare = replies(&reporter);
        assert!(rare.starts_with("replies were rare before they stopped (59 replies came to 218 frames sent, 113 of them retransmissions)"), "{rare}");
        assert!(rare.contains("--idle-timeout"), "{rare}");
        (reporter.frames_sent, reporter.retransmissions, reporter.frames_received) = (400, 12, 380);
        let stopped = replies(&reporter);
        assert!(
            stopped.starts_with("replies stopped (380 replies came to 400 frames sent, 12 of them"),
            "{stopped}"
        );
        reporter.bytes = 512;
        assert_eq!(acknowledged(&reporter, Some(1000)), "512 of 1000 bytes were acknowledged");
        assert_eq!(acknowledged(&reporter, None), "512 bytes were acknowledged");
    }

    #[test]
    fn the_congestion_window_is_averaged_over_acknowledgements() {
        let cwnd = CwndAverage::default();
        let ack = Report::Event(SenderEvent::Acknowledged { bytes: 512 });
        assert_eq!(cwnd.average(), None);
        for _ in 0..3 {
            cwnd.on_report(&ack);
        }
        cwnd.sample(4);
        cwnd.on_report(&ack);
        cwnd.on_report(&Report::Event(SenderEvent::Finished));
        cwnd.sample(8);
        assert_eq!(cwnd.average(), Some(5.0));
    }
}
