//! `rudp recv PORT [-o FILE]`: one transfer, then exit.
//!
//! It runs the core's [`Listener`] with a pool of one: the first sender to complete its
//! handshake is taken, later ones are refused as busy. The listener is what lets the
//! application decide on each SYN ([`Gate`]), and so grant resume (SPEC §10.5): a transfer
//! offered for resume (an `object-id`, a `transfer-size`, SHA-256) writes into
//! `.FILE.rudp.part` beside FILE, counted in `.FILE.rudp.rec` as it becomes durable (synced
//! about once a second), and the next transfer of the same object resumes there.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use rudp_nostd::transport::{self, Report};
use rudp_nostd::{
    Admission, Admit, DEFAULT_HALF_OPEN, DigestAlgorithm, Engine, Error, Instant, Listener, ListenerConfig,
    MAX_WINDOW, Offer, ReceiverConfig, ReceiverEvent, RefuseReason, TransferId,
};

use crate::Failure;
use crate::clock::{Clock, random_seed};
use crate::common::CommonArgs;
use crate::driver;
use crate::duration::parse_duration;
use crate::output::{NAME_MAX, Output};
use crate::partial::{self, PartialFiles, Record};
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

    /// When a transfer fails, keep its data (and say where) even when it cannot be resumed:
    /// a transfer offered for resume keeps what it received anyway (see --no-resume), unless
    /// its data proved bad; this also keeps the data of one that cannot resume (from a pipe,
    /// with a CRC-32C digest), and bad data, marked as such, for a look.
    #[arg(long, requires = "output")]
    pub keep_partial: bool,

    /// Do not resume: grant no sender a resume point, and keep nothing for resume. By default
    /// a transfer offered for resume (`rudp send FILE` offers it) writes into .FILE.rudp.part
    /// beside FILE, synced about once a second and counted in .FILE.rudp.rec; if it fails
    /// before its end, the next run of this command resumes the same object there (SPEC
    /// §10.5). Another object for FILE starts from 0 and replaces it. Remove both files to
    /// forget it.
    #[arg(long)]
    pub no_resume: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// How often a transfer kept for resume is synced and counted in its record: what a crash
/// loses is at most about this much.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The longest a wait blocks, so that Ctrl-C and `--wait` are noticed while no timer runs.
const MAX_WAIT: Duration = Duration::from_millis(250);

/// The admitted SYNs whose offers are remembered until their third frame: more are a flood,
/// and the oldest is forgotten (its transfer, if it comes, is then not kept for resume).
const MAX_OFFERS: usize = 4 * DEFAULT_HALF_OPEN;

/// The listener as `rudp recv` runs it: a pool of one.
type Single = Listener<SocketAddr, Gate, 1, { MAX_WINDOW as usize }, DEFAULT_HALF_OPEN>;

/// Where this run keeps a transfer offered for resume: the files beside FILE, the name their
/// record gives, and the data file, open and locked so that a second `rudp recv -o FILE`
/// stays out of it.
#[derive(Debug)]
struct Keeping {
    files: PartialFiles,
    name: String,
    /// The data file, locked (exclusive) while this run lives. The transfer writes through
    /// this handle: nothing put at that path meanwhile is written to.
    data: File,
}

impl Keeping {
    /// Locks the partial object kept beside `target` for this run (creating its data file,
    /// empty, if there is none): fails if another run holds it.
    fn lock(target: &Path) -> anyhow::Result<Option<Keeping>> {
        let Some(files) = PartialFiles::beside(target, NAME_MAX) else { return Ok(None) };
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        // Not through a link someone left at that name.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
        let data = options
            .open(&files.data)
            .map_err(|e| anyhow!("output not writable: cannot open {}: {e}", files.data.display()))?;
        match data.try_lock() {
            Ok(()) => Ok(Some(Keeping { files, name, data })),
            Err(std::fs::TryLockError::WouldBlock) => Err(anyhow!(
                "another rudp recv is receiving into {} (it holds {})",
                target.display(),
                files.data.display()
            )),
            // No locks on this file system: go on without (two runs into one FILE are the
            // user's to avoid).
            Err(std::fs::TryLockError::Error(_)) => Ok(Some(Keeping { files, name, data })),
        }
    }

    /// Removes the data file this run created and did not use (empty, and no record counts
    /// it).
    fn tidy(&self) {
        let unused =
            std::fs::metadata(&self.files.data).is_ok_and(|m| m.len() == 0) && !self.files.record.exists();
        if unused {
            let _ = std::fs::remove_file(&self.files.data);
        }
    }
}

/// The admission policy of `rudp recv`: takes every offer (the pool of one holds the first
/// to connect) and grants resume where the data kept beside FILE is of the object offered
/// (the same `object-id` and `transfer-size`: FILE is the name here, whatever the sender's).
#[derive(Debug)]
struct Gate {
    /// Where a transfer offered for resume is kept (`None`: stdout, a device, `--no-resume`).
    keeping: Option<Keeping>,
    /// Each admitted SYN's object (`object-id`, size) by tag, when it was offered for resume.
    offers: HashMap<u32, Option<(Vec<u8>, u64)>>,
    next_tag: u32,
}

impl Admit<SocketAddr> for Gate {
    fn admit(&mut self, offer: &Offer<'_, SocketAddr>) -> Admission {
        if self.offers.len() >= MAX_OFFERS
            && let Some(oldest) = self.offers.keys().min().copied()
        {
            self.offers.remove(&oldest);
        }
        self.next_tag = self.next_tag.wrapping_add(1);
        let tag = self.next_tag;
        let object = match (&self.keeping, offer.object_id, offer.transfer_size) {
            (Some(_), Some(id), Some(size)) => Some((id.to_vec(), size)),
            _ => None,
        };
        let from = match (&self.keeping, &object) {
            (Some(keeping), Some((id, size))) => keeping.files.resume_point(&keeping.name, id, *size),
            _ => 0,
        };
        self.offers.insert(tag, object);
        if from > 0 { Admission::Resume { tag, from } } else { Admission::Take(tag) }
    }
}

/// The transfer being received.
#[derive(Debug)]
struct Transfer {
    id: TransferId,
    /// When it connected, in seconds on the run's clock.
    started: f64,
    /// Its announced size.
    announced: Option<u64>,
    /// Where its data starts in the object (resumed: SPEC §10.5).
    from: u64,
    /// Kept for resume if it fails: its record, and when its data was last synced.
    kept: Option<(Record, std::time::Instant)>,
}

/// Why the receive loop stopped.
#[derive(Debug)]
enum Stop {
    /// The transfer ended: committed and closed, or failed (see the outcome).
    Ended,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// No sender connected within `--wait`.
    NoSender,
    /// The socket failed.
    Network(io::Error),
}

/// A run of `rudp recv`: the output, the progress, and what became of the transfer.
struct Run<'a> {
    args: &'a RecvArgs,
    clock: Clock,
    output: Output,
    reporter: Reporter,
    transfer: Option<Transfer>,
    /// Decided: `Ok` once the data is committed.
    outcome: Option<Result<(), Error>>,
    /// The FIN's answer was seen (or the linger ended): nothing more to do.
    closed: bool,
    /// Why the output could not be written, or committed.
    write_error: Option<io::Error>,
    commit_error: Option<anyhow::Error>,
    /// Seconds from connection to the last byte.
    elapsed: Option<f64>,
    window: u8,
    digest: Option<DigestAlgorithm>,
}

impl Run<'_> {
    fn on_event(&mut self, pool: &mut Single, id: TransferId, tag: u32, event: ReceiverEvent, now: Instant) {
        match event {
            ReceiverEvent::Connected { transfer_size, .. } => {
                self.connected(pool, id, tag, transfer_size, now)
            }
            _ if self.transfer.as_ref().is_none_or(|t| t.id != id) => {}
            ReceiverEvent::Delivered { bytes } => self.reporter.add_bytes(bytes.into()),
            ReceiverEvent::Finished => {
                // All data is in: write what is left, commit, then answer the FIN (the sender's
                // success means the file is in place: SPEC §5, §10.2).
                self.drain(pool, now);
                if self.outcome.is_none() {
                    self.commit(pool, id, now);
                }
            }
            ReceiverEvent::Failed(error) => {
                self.outcome.get_or_insert(Err(error));
            }
            ReceiverEvent::Closed => self.closed = true,
        }
    }

    /// A sender connected: the one transfer of this run. Its data goes to the output, or,
    /// offered for resume, to the data kept beside FILE from where it starts.
    fn connected(&mut self, pool: &mut Single, id: TransferId, tag: u32, size: Option<u64>, now: Instant) {
        pool.stop_accepting();
        let Some(receiver) = pool.transfer(id) else { return };
        let (from, digest, window) = (receiver.resume_from(), receiver.digest(), receiver.window());
        let gate = pool.admit_mut();
        let offer = gate.offers.remove(&tag).flatten();
        gate.offers.clear();
        let keeping = gate.keeping.as_ref().map(|k| (k.files.clone(), k.name.clone(), k.data.try_clone()));
        self.digest = digest;
        self.window = window;
        let mut transfer =
            Transfer { id, started: self.clock.elapsed_secs(), announced: size, from, kept: None };
        if let Some(size) = size {
            self.reporter.set_total(size);
        }
        // Kept for resume: an object offered for resume and verified with SHA-256 (only then can
        // a later transfer resume it, SPEC §10.5).
        if let (Some((object_id, size)), Some(DigestAlgorithm::Sha256), Some((files, name, data))) =
            (offer, digest, keeping)
        {
            if from > 0 {
                self.reporter.skip(from);
                self.reporter
                    .note(&format!("rudp: resuming from {from} bytes held in {}", files.data.display()));
            }
            // The digest has the bytes held, then the data goes on from `from` (from 0: this
            // object replaces whatever was kept for FILE).
            let opened = data.and_then(|mut file| {
                file.seek(SeekFrom::Start(0))?;
                partial::hash_from(&mut file, from, |bytes| {
                    if let Some(receiver) = pool.transfer_mut(id) {
                        receiver.hash_prefix(bytes);
                    }
                })?;
                partial::cut_at(&mut file, from)?;
                Ok(file)
            });
            let record = Record { object_id, size, name, durable: from };
            // The record counts only what is on the disk: the bytes held, none written yet.
            let kept = opened.and_then(|file| {
                self.output.write_to(&files.data, file);
                files.save(&record)
            });
            match kept {
                Ok(()) => transfer.kept = Some((record, std::time::Instant::now())),
                Err(e) => {
                    let message = format!("cannot keep the data for resume in {}: {e}", files.data.display());
                    self.fail(
                        pool,
                        id,
                        now,
                        Error::Stopped(RefuseReason::Storage),
                        io::Error::other(message),
                    );
                }
            }
        }
        self.transfer = Some(transfer);
    }

    /// Stops the transfer because of the output: tells the sender (SPEC §10.4, the reason
    /// `error` implies), keeps `why` for the message.
    fn fail(&mut self, pool: &mut Single, id: TransferId, now: Instant, error: Error, why: io::Error) {
        if let Some(receiver) = pool.transfer_mut(id) {
            receiver.abort(now, error);
        }
        self.write_error = Some(why);
        self.outcome.get_or_insert(Err(error));
    }

    /// Writes what the transfer has in order to the output.
    fn drain(&mut self, pool: &mut Single, now: Instant) {
        let Some(id) = self.transfer.as_ref().map(|t| t.id) else { return };
        if self.outcome.is_some() {
            return;
        }
        let Some(receiver) = pool.transfer_mut(id) else { return };
        let failure = loop {
            let data = receiver.readable();
            if data.is_empty() {
                break None;
            }
            match self.output.write(data) {
                Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => receiver.consume(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        if let Some(e) = failure {
            let kind = embedded_io::Error::kind(&e);
            self.fail(pool, id, now, Error::Sink(kind), e);
        }
    }

    /// The data is complete (and verified): the output goes in place, then the FIN is answered;
    /// or, if it cannot, the FIN is refused (reason 4) and the sender cannot report success.
    fn commit(&mut self, pool: &mut Single, id: TransferId, now: Instant) {
        self.elapsed = Some(self.clock.elapsed_secs() - self.transfer.as_ref().map_or(0.0, |t| t.started));
        let Some(receiver) = pool.transfer_mut(id) else { return };
        match self.output.commit() {
            Ok(()) => {
                receiver.committed(now);
                if let Some(transfer) = &mut self.transfer
                    && transfer.kept.take().is_some()
                    && let Some(keeping) = &pool.admit_mut().keeping
                {
                    keeping.files.forget();
                }
                self.outcome = Some(Ok(()));
            }
            Err(e) => {
                receiver.commit_failed(now);
                self.commit_error = Some(e);
                self.outcome = Some(Err(Error::Stopped(RefuseReason::Storage)));
            }
        }
    }

    /// Makes the transfer's data durable and counts it in its record, once `SYNC_EVERY` has
    /// passed (or at once with `now`); nothing for a transfer not kept for resume. Returns the
    /// bytes now durable.
    fn sync_kept(&mut self, keeping: Option<&Keeping>, now: bool) -> io::Result<Option<u64>> {
        let (Some(transfer), Some(keeping)) = (&mut self.transfer, keeping) else { return Ok(None) };
        let Some((record, synced_at)) = &mut transfer.kept else { return Ok(None) };
        if !now && synced_at.elapsed() < SYNC_EVERY {
            return Ok(None);
        }
        // SPEC §10.5: the data synced before the record that counts it.
        self.output.sync()?;
        record.durable = transfer.from + self.output.written();
        keeping.files.save(record)?;
        *synced_at = std::time::Instant::now();
        Ok(Some(record.durable))
    }

    /// What becomes of a failed transfer's data: kept for resume when `resumable` (a failure
    /// before the end that says nothing against the data) and it was offered for resume;
    /// otherwise removed, or kept for a look with `--keep-partial`. Returns what to tell.
    fn end_failed(&mut self, keeping: Option<&Keeping>, resumable: bool, bad: bool) -> Option<String> {
        let target = self.output.file_target().map(|t| t.display().to_string());
        let kept = self.transfer.as_ref().is_some_and(|t| t.kept.is_some());
        if kept && resumable {
            match self.sync_kept(keeping, true) {
                Ok(Some(durable)) => {
                    let data = keeping.map_or(String::new(), |k| k.files.data.display().to_string());
                    return Some(format!(
                        "{} was not written; {durable} bytes are kept for resume in {data}: run this \
                         command again, and the sender's next try resumes there",
                        target.unwrap_or_default()
                    ));
                }
                Ok(None) => {}
                Err(e) => self.reporter.note(&format!("rudp: could not keep the data for resume: {e}")),
            }
        }
        if kept && let Some(keeping) = keeping {
            // Never to be resumed: the record goes, the data too unless --keep-partial.
            keeping.files.forget();
        }
        self.output.discard(self.args.keep_partial, bad)
    }
}

/// Runs `rudp recv`.
pub fn run(args: &RecvArgs) -> Result<(), Failure> {
    let mut output = match &args.output {
        Some(path) if path.as_os_str() == "-" => Output::stdout(),
        Some(path) => Output::file(path)?,
        None => Output::stdout(),
    };
    let keeping = match output.file_target() {
        Some(target) if !args.no_resume => match Keeping::lock(target) {
            Ok(keeping) => keeping,
            Err(e) => {
                output.discard(false, false);
                return Err(e.into());
            }
        },
        _ => None,
    };
    let mut udp = match UdpTransport::listen(args.bind, args.port) {
        Ok(udp) => udp,
        Err(e) => {
            output.discard(false, false);
            if let Some(keeping) = &keeping {
                keeping.tidy();
            }
            return Err(match e.kind() {
                io::ErrorKind::AddrInUse => anyhow!("port {} is in use", args.port),
                _ => anyhow!("cannot listen on port {}: {e}", args.port),
            }
            .into());
        }
    };
    udp.set_busy_poll(args.common.busy_poll());
    let clock = Clock::new();
    let config = ListenerConfig {
        receiver: ReceiverConfig {
            profile: args.common.profile.into(),
            idle_timeout: args.common.idle_timeout.into(),
            random_seed: random_seed(),
            accept_timeout: None,
            verify_digest: !args.no_verify,
            max_window: args.max_window,
            hash_read_back: false,
        },
        per_host: 8,
        max_transfers: 1,
    };
    let gate = Gate { keeping, offers: HashMap::new(), next_tag: 0 };
    let mut pool: Box<Single> = Box::new(Listener::new(config, gate, clock.now()));
    let mut run = Run {
        args,
        clock,
        output,
        reporter: Reporter::new(&args.common),
        transfer: None,
        outcome: None,
        closed: false,
        write_error: None,
        commit_error: None,
        elapsed: None,
        window: 1,
        digest: None,
    };
    if let Ok(addr) = udp.local_addr() {
        run.reporter.note(&format!("rudp: listening on {addr}"));
    }
    let interrupted = driver::interrupt_flag();
    let wait_until = args.wait.map(|wait| std::time::Instant::now() + wait);
    let stop = loop {
        let now = run.clock.now();
        let mut events = Vec::new();
        let reporter = &mut run.reporter;
        let polled = transport::poll(&mut *pool, &mut udp, now, |report| match report {
            Report::Trace(trace) => reporter.trace(&trace),
            Report::Event(event) => events.push(event),
        });
        let next = match polled {
            Ok(next) => next,
            Err(e) => break Stop::Network(e),
        };
        for event in events {
            run.on_event(&mut pool, event.id, event.tag, event.event, now);
        }
        run.drain(&mut pool, now);
        if let Err(e) = run.sync_kept(pool.admit_mut().keeping.as_ref(), false) {
            run.reporter.note(&format!("rudp: could not sync the data kept for resume: {e}"));
        }
        match run.outcome {
            Some(Err(_)) => break Stop::Ended,
            Some(Ok(())) if run.closed => break Stop::Ended,
            _ => {}
        }
        if interrupted.load(Ordering::SeqCst) {
            break Stop::Interrupted;
        }
        let mut timeout = next.into_iter().chain(pool.poll_timeout()).min().map_or(MAX_WAIT, |deadline| {
            Duration::from(deadline.saturating_since(run.clock.now())).min(MAX_WAIT)
        });
        if let Some(until) = wait_until
            && run.transfer.is_none()
        {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break Stop::NoSender;
            }
            timeout = timeout.min(left);
        }
        if let Err(e) = udp.wait(Some(timeout)) {
            break Stop::Network(e);
        }
    };
    let result = finish(&mut run, &mut pool, stop);
    // The last words of a transfer this run stopped (a refusal) go out before it exits.
    let _ = driver::send_pending(&mut *pool, &mut udp, &run.clock);
    if let Some(keeping) = &pool.admit_mut().keeping {
        keeping.tidy();
    }
    result
}

/// The run's result, in words: the summary, or why it failed and what became of the output.
fn finish(run: &mut Run<'_>, pool: &mut Single, stop: Stop) -> Result<(), Failure> {
    let now = run.clock.now();
    let elapsed = run
        .elapsed
        .unwrap_or_else(|| run.clock.elapsed_secs() - run.transfer.as_ref().map_or(0.0, |t| t.started));
    let elapsed = Duration::from_secs_f64(elapsed.max(0.0));
    if let Some(e) = run.commit_error.take() {
        run.reporter.finish();
        let keeping = pool.admit_mut().keeping.take();
        let note = run.end_failed(keeping.as_ref(), false, false);
        pool.admit_mut().keeping = keeping;
        return Err(anyhow!("{}", with_note(format!("{e:#}"), note)).into());
    }
    if run.outcome == Some(Ok(())) {
        // The data is committed; nothing in the linger changes that.
        let window = WindowUse { granted: run.window, average_cwnd: None };
        let from = run.transfer.as_ref().map_or(0, |t| t.from);
        let resumed = if from > 0 { vec![format!("resumed from {from} bytes")] } else { Vec::new() };
        run.reporter.print_summary_with("received", Side::Receiver, elapsed, window, run.digest, &resumed);
        return Ok(());
    }
    run.reporter.finish();
    let bytes = run.reporter.bytes;
    let (message, resumable, bad) = match (stop, run.outcome) {
        (Stop::Interrupted, _) => {
            // Tell the sender (SPEC §10.4: a refusal, reason 5) rather than let it wait.
            if let Some(transfer) = &run.transfer
                && let Some(receiver) = pool.transfer_mut(transfer.id)
            {
                receiver.abort(now, Error::Stopped(RefuseReason::Cancelled));
            }
            (format!("interrupted after {bytes} bytes"), true, false)
        }
        (Stop::Network(e), _) => (format!("network error: {e}"), true, false),
        (Stop::NoSender, _) => {
            (format!("no sender connected within {:?}", run.args.wait.unwrap_or_default()), false, false)
        }
        (Stop::Ended, Some(Err(Error::IdleTimeout))) => {
            let frames = format!(
                "{} frames came, {} of them repeats",
                run.reporter.frames_received, run.reporter.duplicates
            );
            // Repeats are frames the sender sent again: our ACKs (or its frames) were lost.
            let why = if run.reporter.duplicates * 2 > run.reporter.frames_received {
                format!(
                    "frames were rare and mostly repeats before they stopped ({frames}): the path loses most datagrams"
                )
            } else {
                format!("frames stopped ({frames}): the sender went away or the path broke")
            };
            let message = format!(
                "nothing from the sender for {:?} after {bytes} bytes; {why}",
                run.args.common.idle_timeout
            );
            (message, true, false)
        }
        (Stop::Ended, Some(Err(Error::LengthMismatch))) => {
            let message = format!(
                "the sender's data did not match the {} bytes it announced ({bytes} bytes taken in order): its \
                 file changed size while it was sent, or the sender is broken",
                run.transfer.as_ref().and_then(|t| t.announced).unwrap_or_default(),
            );
            (message, false, true)
        }
        (Stop::Ended, Some(Err(Error::DigestMismatch))) => {
            let message = format!(
                "digest mismatch: the {bytes} bytes received do not match the sender's {} digest",
                run.digest.map_or("agreed".into(), |d| d.to_string())
            );
            (message, false, true)
        }
        (Stop::Ended, Some(Err(Error::Sink(_) | Error::Stopped(RefuseReason::Storage)))) => {
            let message = match run.write_error.take() {
                Some(e) => format!("output not writable: {e}"),
                None => "output not writable".into(),
            };
            (message, false, false)
        }
        (Stop::Ended, Some(Err(Error::Refused(reason)))) => {
            (abandoned(reason, bytes), reason != RefuseReason::Length, reason == RefuseReason::Length)
        }
        (Stop::Ended, Some(Err(other))) => (other.to_string(), true, false),
        (Stop::Ended, _) => ("the transfer ended without a result".into(), false, false),
    };
    let keeping = pool.admit_mut().keeping.take();
    let note = run.end_failed(keeping.as_ref(), resumable, bad);
    pool.admit_mut().keeping = keeping;
    Err(anyhow!("{}", with_note(message, note)).into())
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
