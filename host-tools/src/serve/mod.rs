//! `rudp serve PORT DIR`: many transfers at once into a directory (SPEC §10.4).
//!
//! One socket and one [`Listener`] from the core: it routes frames to each transfer's receiver
//! and asks [`Gate`] on each new SYN whether to take it (the name checked by [`crate::names`],
//! the size against `--max-size`, the pool against `--max-transfers`). Each transfer writes to
//! a temporary file in `DIR/.rudp-partial/`, which no accepted name can reach, and is put in
//! place (synced, then renamed or linked) only when complete and, with a digest, verified;
//! the FIN is answered only then. One line per transfer when it ends.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow};
use clap::Args;
use rudp_nostd::transport::{self, Report};
use rudp_nostd::{
    DigestAlgorithm, Engine, Error, Instant, Listener, ListenerConfig, ListenerEvent, MAX_WINDOW,
    ReceiverConfig, ReceiverEvent, RefuseReason, TransferId,
};

use crate::Failure;
use crate::clock::{Clock, random_seed};
use crate::common::CommonArgs;
use crate::duration::parse_duration;
use crate::names::{self, PARTIAL_DIR};
use crate::partial::{self, PartialStore, Record};
use crate::udp::UdpTransport;

mod gate;
mod log;

use gate::Gate;
use log::{Line, Outcome, utc};

/// The most transfers `--max-transfers` allows: the pool is built for this many.
pub const POOL: usize = 64;

/// Half-open entries: SYNs answered whose third frame has not come yet.
const HALF_OPEN: usize = 64;

/// Each transfer's output buffer.
const BUFFER: usize = 128 * 1024;

/// How often kept partial objects older than `--keep-partial-for` are looked for.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// How often a transfer kept for resume is synced and counted in its record.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The longest a wait blocks, so that signals are noticed while no timer runs.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// Receive many transfers at once into DIR, each under the name its sender gives (`rudp send`
/// gives the file's name), until SIGINT or SIGTERM.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The UDP port to listen on.
    pub port: u16,

    /// The directory the files go to (it must exist). A name with directories creates them
    /// inside DIR; nothing is ever written outside it. Temporary files are kept in
    /// DIR/.rudp-partial/ until complete.
    pub dir: PathBuf,

    /// Listen on this address only (default: every interface, IPv4 and IPv6).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,

    /// Run at most M transfers at once (1 to 64); more senders are refused as busy.
    #[arg(long, value_name = "M", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_transfers: u16,

    /// Run at most K transfers at once from one address (1 to 255).
    #[arg(long, value_name = "K", default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..))]
    pub per_peer: u8,

    /// Refuse a transfer larger than BYTES (its announced size, or its data so far).
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<u64>,

    /// Replace a file that exists (default: refuse its name).
    #[arg(long)]
    pub overwrite: bool,

    /// Grant a sender at most W data frames in flight (1 to 64).
    #[arg(long, value_name = "W", default_value_t = 32, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub max_window: u8,

    /// Do not verify a digest, even when the sender offers one.
    #[arg(long)]
    pub no_verify: bool,

    /// After the first SIGINT or SIGTERM, let running transfers finish for this long (new
    /// ones are refused); a second signal ends at once.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub drain: Duration,

    /// Also write each transfer's line as one JSON object per line on stdout.
    #[arg(long)]
    pub log_json: bool,

    /// Do not resume: grant no sender a resume point, and keep no partial data. By default a
    /// named transfer offered for resume (`rudp send FILE` offers it) that fails before its
    /// end leaves its data in DIR/.rudp-partial/, synced about once a second, and the next
    /// transfer of the same object under the same name resumes there (SPEC §10.5).
    #[arg(long)]
    pub no_resume: bool,

    /// Remove partial data kept for resume that nothing touched for DUR.
    #[arg(long, value_name = "DUR", default_value = "24h", value_parser = parse_duration)]
    pub keep_partial_for: Duration,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// The listener as `rudp serve` runs it.
type Pool = Listener<SocketAddr, Gate, POOL, { MAX_WINDOW as usize }, HALF_OPEN>;

/// A transfer being written.
#[derive(Debug)]
struct Active {
    peer: SocketAddr,
    name: String,
    temp: PathBuf,
    file: Option<BufWriter<File>>,
    /// Bytes written on this connection (after `base`).
    bytes: u64,
    /// Where this connection's data starts in the object (resumed: SPEC §10.5).
    base: u64,
    /// Kept for resume when it fails: its record, and when its data was last synced.
    kept: Option<(Record, std::time::Instant)>,
    started: std::time::Instant,
    window: u8,
    digest: Option<DigestAlgorithm>,
}

/// The name of a transfer that came without one: its peer and the time, unique enough (a
/// counter keeps two from one peer in one second apart).
fn generated_name(peer: SocketAddr, serial: u64) -> String {
    let time = utc(SystemTime::now()).replace([':', '-'], "");
    let ip = peer.ip().to_string().replace(':', "_");
    format!("unnamed-{time}-{ip}-{}-{serial}", peer.port())
}

/// Signals: the number of SIGINT/SIGTERM so far.
fn signal_count() -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let handler = count.clone();
    let _ = ctrlc::set_handler(move || {
        handler.fetch_add(1, Ordering::SeqCst);
    });
    count
}

/// The serve loop's state besides the listener.
struct Server<'a> {
    args: &'a ServeArgs,
    partial_dir: PathBuf,
    /// Where partial objects are kept for resume (`None` with `--no-resume`).
    store: Option<PartialStore>,
    active: HashMap<TransferId, Active>,
    clock: Clock,
    serial: u64,
}

impl Server<'_> {
    fn log(&self, line: &Line) {
        let error = !matches!(line.outcome, Outcome::Ok);
        if !self.args.common.quiet || error {
            eprintln!("{}", line.text());
        }
        if self.args.log_json {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{}", line.json());
            let _ = out.flush();
        }
    }

    /// A transfer connected: its temporary file, or the kept data it resumes.
    fn open(&mut self, pool: &mut Pool, event: &ListenerEvent, now: Instant) {
        let Some(receiver) = pool.transfer(event.id) else { return };
        let Some(peer) = receiver.peer() else { return };
        let (window, digest, from) = (receiver.window(), receiver.digest(), receiver.resume_from());
        let pending = pool.admit_mut().pending.remove(&event.tag);
        let store = pool.admit_mut().store.clone();
        self.serial += 1;
        let name = match pending.as_ref().and_then(|p| p.name.clone()) {
            Some(name) => name,
            None => generated_name(peer, self.serial),
        };
        // Kept for resume if it fails: a named object offered for resume, verified with SHA-256
        // (only then can a later transfer resume it, SPEC §10.5).
        let record = match pending.as_ref().and_then(|p| p.resumable.clone()) {
            Some((object_id, size)) if digest == Some(DigestAlgorithm::Sha256) && store.is_some() => {
                Some(Record { object_id, size, name: name.clone(), durable: from })
            }
            _ => None,
        };
        let temp = match (&record, &store) {
            (Some(_), Some(store)) => store.files(&name).data,
            _ => self.partial_dir.join(format!("{}-{}.part", std::process::id(), self.serial)),
        };
        let mut active = Active {
            peer,
            name,
            temp: temp.clone(),
            file: None,
            bytes: 0,
            base: from,
            kept: None,
            started: std::time::Instant::now(),
            window,
            digest,
        };
        if pending.is_none() {
            // Admitted too long ago to remember its name: nothing sensible to write.
            let why = "admitted too long ago".to_string();
            self.abort(pool, event.id, active, now, Error::Stopped(RefuseReason::Busy), why);
            return;
        }
        let opened = if from > 0 {
            // Resumed: the data from `from` on, after the digest has the bytes held.
            partial::open_at(&temp, from).and_then(|file| {
                partial::hash_held(&temp, from, |bytes| {
                    if let Some(receiver) = pool.transfer_mut(event.id) {
                        receiver.hash_prefix(bytes);
                    }
                })?;
                Ok(file)
            })
        } else if record.is_some() {
            // A new object under this name replaces whatever was kept for it.
            File::create(&temp)
        } else {
            OpenOptions::new().write(true).create_new(true).open(&temp)
        };
        match opened {
            Ok(file) => active.file = Some(BufWriter::with_capacity(BUFFER, file)),
            Err(e) => {
                let why = format!("cannot open {}: {e}", temp.display());
                self.abort(pool, event.id, active, now, Error::Stopped(RefuseReason::Storage), why);
                return;
            }
        }
        if let (Some(record), Some(store)) = (record, &store) {
            // The record counts only what is on the disk: the bytes held, none written yet.
            if let Err(e) = store.files(&record.name).save(&record) {
                let why = format!("cannot keep a record for resume: {e}");
                self.abort(pool, event.id, active, now, Error::Stopped(RefuseReason::Storage), why);
                return;
            }
            active.kept = Some((record, std::time::Instant::now()));
        }
        self.active.insert(event.id, active);
    }

    /// Makes what `active` wrote durable and counts it in its record (SPEC §10.5: data synced
    /// before the record that counts it). Nothing for a transfer not kept for resume.
    fn sync_kept(&self, active: &mut Active) -> io::Result<()> {
        let Some((record, synced_at)) = &mut active.kept else { return Ok(()) };
        let Some(file) = active.file.as_mut() else { return Ok(()) };
        file.flush()?;
        file.get_ref().sync_data()?;
        record.durable = active.base + active.bytes;
        if let Some(store) = &self.store {
            store.files(&record.name).save(record)?;
        }
        *synced_at = std::time::Instant::now();
        Ok(())
    }

    /// Syncs, about once a second, the transfers kept for resume: what a crash loses is at
    /// most the last second.
    fn sync_due(&mut self) {
        let ids: Vec<TransferId> = self.active.keys().copied().collect();
        for id in ids {
            let Some(mut active) = self.active.remove(&id) else { continue };
            if active.kept.as_ref().is_some_and(|(_, at)| at.elapsed() >= SYNC_EVERY) {
                let _ = self.sync_kept(&mut active);
            }
            self.active.insert(id, active);
        }
    }

    /// A transfer that failed: kept for resume (synced, counted) when `keep` and it is
    /// resumable, else its temporary file removed. Says which.
    fn end_failed(&self, active: &mut Active, keep: bool) -> Option<String> {
        if keep && active.kept.is_some() && self.sync_kept(active).is_ok() {
            let held = active.base + active.bytes;
            return Some(format!("{held} bytes kept for resume"));
        }
        drop(active.file.take());
        match (&active.kept, &self.store) {
            (Some(_), Some(store)) => store.files(&active.name).discard(),
            _ => {
                let _ = fs::remove_file(&active.temp);
            }
        }
        None
    }

    /// Stops a transfer: tells the sender (`error` gives the reason), removes the temporary
    /// file, logs why.
    fn abort(
        &mut self,
        pool: &mut Pool,
        id: TransferId,
        mut active: Active,
        now: Instant,
        error: Error,
        why: String,
    ) {
        if let Some(receiver) = pool.transfer_mut(id) {
            receiver.abort(now, error);
        }
        // Stopped by this server (SIGINT): kept for resume; a storage or size problem: not.
        let keep = error == Error::Stopped(RefuseReason::Cancelled);
        let why = match self.end_failed(&mut active, keep) {
            Some(kept) => format!("{why}; {kept}"),
            None => why,
        };
        self.log(&Line::of(&active, Outcome::Failed(why)));
    }

    /// Writes what each transfer has in order to its file.
    fn drain(&mut self, pool: &mut Pool, now: Instant) {
        let ids: Vec<TransferId> = self.active.keys().copied().collect();
        for id in ids {
            let mut failure = None;
            if let (Some(active), Some(receiver)) = (self.active.get_mut(&id), pool.transfer_mut(id)) {
                loop {
                    let data = receiver.readable();
                    if data.is_empty() {
                        break;
                    }
                    if let Some(max) = self.args.max_size
                        && active.base + active.bytes + data.len() as u64 > max
                    {
                        failure = Some((
                            Error::Stopped(RefuseReason::TooLarge),
                            format!("more than --max-size {max} bytes"),
                        ));
                        break;
                    }
                    let Some(file) = active.file.as_mut() else { break };
                    match file.write(data) {
                        Ok(0) => {
                            failure = Some((
                                Error::Sink(embedded_io::ErrorKind::WriteZero),
                                "nothing could be written".into(),
                            ));
                            break;
                        }
                        Ok(n) => {
                            active.bytes += n as u64;
                            receiver.consume(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            failure = Some((
                                Error::Stopped(RefuseReason::Storage),
                                format!("writing {}: {e}", active.temp.display()),
                            ));
                            break;
                        }
                    }
                }
            }
            if let Some((error, why)) = failure
                && let Some(active) = self.active.remove(&id)
            {
                self.abort(pool, id, active, now, error, why);
            }
        }
    }

    /// The transfer's data is complete (and verified): put the file in place, then answer the
    /// FIN.
    fn commit(&mut self, pool: &mut Pool, id: TransferId, now: Instant) {
        let Some(mut active) = self.active.remove(&id) else { return };
        let placed = self.place(&mut active);
        let Some(receiver) = pool.transfer_mut(id) else { return };
        match placed {
            Ok(()) => {
                receiver.committed(now);
                if let (Some(_), Some(store)) = (&active.kept, &self.store) {
                    store.files(&active.name).forget();
                }
                self.log(&Line::of(&active, Outcome::Ok));
            }
            Err(e) => {
                receiver.commit_failed(now);
                self.end_failed(&mut active, false);
                self.log(&Line::of(&active, Outcome::Failed(format!("{e:#}"))));
            }
        }
    }

    /// Syncs the temporary file and moves it to its name: renamed over an existing file with
    /// `--overwrite`, else linked (which never replaces a file that appeared meanwhile).
    fn place(&self, active: &mut Active) -> anyhow::Result<()> {
        let Some(mut file) = active.file.take() else {
            return Err(anyhow!("no output file"));
        };
        file.flush().with_context(|| format!("writing {}", active.temp.display()))?;
        let file =
            file.into_inner().map_err(|e| anyhow!("writing {}: {}", active.temp.display(), e.error()))?;
        file.sync_all().with_context(|| format!("syncing {}", active.temp.display()))?;
        drop(file);
        let dest = names::create_parents(&self.args.dir, &active.name)
            .map_err(|e| anyhow!("cannot place {:?}: {e}", active.name))?;
        if self.args.overwrite {
            fs::rename(&active.temp, &dest).with_context(|| format!("renaming to {}", dest.display()))?;
        } else {
            fs::hard_link(&active.temp, &dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
            let _ = fs::remove_file(&active.temp);
        }
        if let Some(parent) = dest.parent()
            && let Ok(dir) = File::open(parent)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn on_event(&mut self, pool: &mut Pool, event: ListenerEvent, now: Instant) {
        match event.event {
            ReceiverEvent::Connected { .. } => self.open(pool, &event, now),
            ReceiverEvent::Delivered { .. } | ReceiverEvent::Closed => {}
            ReceiverEvent::Finished => {
                // All data is in: write what is left, then commit.
                self.drain(pool, now);
                self.commit(pool, event.id, now);
            }
            ReceiverEvent::Failed(error) => {
                if let Some(mut active) = self.active.remove(&event.id) {
                    // SPEC §10.5: kept after a failure before the FIN (the sender vanished or
                    // gave up, or was stopped); not after bad data.
                    let keep = !matches!(
                        error,
                        Error::DigestMismatch | Error::LengthMismatch | Error::Refused(RefuseReason::Length)
                    );
                    let why = match self.end_failed(&mut active, keep) {
                        Some(kept) => format!("{}; {kept}", failure_words(error)),
                        None => failure_words(error),
                    };
                    self.log(&Line::of(&active, Outcome::Failed(why)));
                }
            }
        }
    }
}

/// Why a transfer failed, in the receiver's words.
fn failure_words(error: Error) -> String {
    match error {
        Error::Refused(RefuseReason::Storage) => {
            "the sender abandoned the transfer: its source failed".into()
        }
        Error::Refused(RefuseReason::Cancelled) => "the sender cancelled the transfer".into(),
        Error::Refused(RefuseReason::Length) => {
            "the sender abandoned the transfer: its source did not match the size announced".into()
        }
        Error::Refused(reason) => format!("the sender abandoned the transfer ({reason})"),
        Error::IdleTimeout => "the sender vanished (idle timeout), or restarted".into(),
        other => other.to_string(),
    }
}

/// Runs `rudp serve`.
pub fn run(args: &ServeArgs) -> Result<(), Failure> {
    let meta = fs::metadata(&args.dir).map_err(|e| anyhow!("{}: {e}", args.dir.display()))?;
    if !meta.is_dir() {
        return Err(Failure::Usage(format!("{} is not a directory", args.dir.display())));
    }
    let partial_dir = args.dir.join(PARTIAL_DIR);
    match fs::create_dir(&partial_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = fs::symlink_metadata(&partial_dir)?;
            if !meta.is_dir() {
                return Err(anyhow!("{} exists and is not a directory", partial_dir.display()).into());
            }
        }
        Err(e) => return Err(anyhow!("cannot create {}: {e}", partial_dir.display()).into()),
    }
    let mut udp = UdpTransport::listen(args.bind, args.port).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => anyhow!("port {} is in use", args.port),
        _ => anyhow!("cannot listen on port {}: {e}", args.port),
    })?;
    udp.set_busy_poll(args.common.busy_poll());
    // The pool is large (each transfer has 64 payload slots of 512 bytes): it is built on a
    // thread with a stack that has room for it before it moves to the heap.
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("serve".into())
            .stack_size(POOL_STACK)
            .spawn_scoped(scope, move || serve(args, partial_dir, udp))
            .map_err(|e| anyhow!("cannot start: {e}"))?;
        thread.join().unwrap_or_else(|_| Err(anyhow!("the server stopped unexpectedly").into()))
    })
}

/// The serving thread's stack: room for the pool while it is built.
const POOL_STACK: usize = 64 << 20;

fn serve(args: &ServeArgs, partial_dir: PathBuf, mut udp: UdpTransport) -> Result<(), Failure> {
    let clock = Clock::new();
    let store = (!args.no_resume).then(|| PartialStore::new(&partial_dir));
    if let Some(store) = &store {
        store.expire(args.keep_partial_for);
    }
    let gate = Gate {
        store: store.clone(),
        dir: args.dir.clone(),
        overwrite: args.overwrite,
        max_size: args.max_size,
        idle: args.common.idle_timeout,
        pending: HashMap::new(),
        next_tag: 0,
        refusals: Vec::new(),
    };
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
        per_host: args.per_peer,
        max_transfers: args.max_transfers,
    };
    let mut pool: Box<Pool> = Box::new(Listener::new(config, gate, clock.now()));
    let mut server = Server { args, partial_dir, store, active: HashMap::new(), clock, serial: 0 };
    if !args.common.quiet
        && let Ok(addr) = udp.local_addr()
    {
        eprintln!("rudp: serving {} on {addr}", args.dir.display());
    }
    let signals = signal_count();
    let mut drain_until: Option<std::time::Instant> = None;
    let mut last_expiry = std::time::Instant::now();
    let verbose = args.common.verbose;
    loop {
        let now = server.clock.now();
        let mut events = Vec::new();
        let next = transport::poll(&mut *pool, &mut udp, now, |report| match report {
            Report::Trace(trace) => {
                if verbose {
                    eprintln!("{trace}");
                }
            }
            Report::Event(event) => events.push(event),
        })?;
        for event in events {
            server.on_event(&mut pool, event, now);
        }
        server.drain(&mut pool, now);
        server.sync_due();
        if last_expiry.elapsed() >= EXPIRE_EVERY {
            last_expiry = std::time::Instant::now();
            if let Some(store) = &server.store {
                store.expire(args.keep_partial_for);
            }
        }
        for line in std::mem::take(&mut pool.admit_mut().refusals) {
            server.log(&line);
        }
        // Signals: the first drains, the second (or the drain's end) stops.
        let signalled = signals.load(Ordering::SeqCst);
        if signalled >= 1 && drain_until.is_none() {
            pool.stop_accepting();
            drain_until = Some(std::time::Instant::now() + args.drain);
            if !args.common.quiet {
                eprintln!(
                    "rudp: stopping: {} transfers running, waiting up to {:?} (again to stop now)",
                    server.active.len(),
                    args.drain
                );
            }
        }
        let drained = drain_until.is_some_and(|until| std::time::Instant::now() >= until);
        if signalled >= 2 || drained || (drain_until.is_some() && server.active.is_empty()) {
            stop_all(&mut server, &mut pool, &mut udp)?;
            return Ok(());
        }
        // Taking data owes ACKs: the listener's deadline is now, then.
        let next = next.into_iter().chain(pool.poll_timeout()).min();
        let timeout = next.map_or(MAX_WAIT, |deadline| {
            Duration::from(deadline.saturating_since(server.clock.now())).min(MAX_WAIT)
        });
        udp.wait(Some(timeout))?;
    }
}

/// Ends every running transfer (reason 5 to senders that understand it), removes the
/// temporary files, and sends the refusals.
fn stop_all(server: &mut Server<'_>, pool: &mut Pool, udp: &mut UdpTransport) -> Result<(), Failure> {
    let now = server.clock.now();
    let ids: Vec<TransferId> = server.active.keys().copied().collect();
    for id in ids {
        if let Some(active) = server.active.remove(&id) {
            server.abort(
                pool,
                id,
                active,
                now,
                Error::Stopped(RefuseReason::Cancelled),
                "the server stopped".into(),
            );
        }
    }
    crate::driver::send_pending(pool, udp, &server.clock)?;
    remove_leftovers(&server.partial_dir);
    Ok(())
}

/// Removes this process's temporary files that are left (none should be).
fn remove_leftovers(partial_dir: &Path) {
    let prefix = format!("{}-", std::process::id());
    if let Ok(entries) = fs::read_dir(partial_dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}
