//! What the user sees on stderr: trace lines (`-v`), a progress bar (on a terminal), and the
//! summary line. stdout is for data only.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rudp_nostd::Direction;
use rudp_nostd::{DigestAlgorithm, Trace};

use crate::common::CommonArgs;

/// Which end of the transfer the summary speaks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// `rudp send`: its frames are data frames (and the SYN and FIN).
    Sender,
    /// `rudp recv`: its frames are acknowledgements.
    Receiver,
}

/// How the window was used, for the summary.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct WindowUse {
    /// The window the receiver granted (1: stop-and-wait).
    pub granted: u8,
    /// The sender's congestion window, averaged over its acknowledgements (sender only, and
    /// only when a window of 2 or more was granted).
    pub average_cwnd: Option<f64>,
}

/// Counters and display for one transfer.
#[derive(Debug)]
pub struct Reporter {
    verbose: bool,
    quiet: bool,
    progress: Option<ProgressBar>,
    /// Data bytes acknowledged (sender) or delivered (receiver) on this connection.
    pub bytes: u64,
    /// Bytes of the object the receiver held already (a resumed transfer): the progress bar
    /// counts them, the rate does not.
    pub skipped: u64,
    /// Frames sent, retransmissions included.
    pub frames_sent: u64,
    /// Frames sent again.
    pub retransmissions: u64,
    /// Frames received and taken (duplicates included).
    pub frames_received: u64,
    /// Duplicates received and re-acknowledged.
    pub duplicates: u64,
    /// Datagrams dropped as not fitting the transfer: undecodable, from another endpoint or
    /// connection, or out of place (a stale or repeated ACK, a SYN during a transfer).
    pub dropped: u64,
}

impl Reporter {
    /// A reporter for the options given.
    pub fn new(common: &CommonArgs) -> Reporter {
        // Trace lines and a bar would fight over the terminal: -v turns the bar off.
        let show_bar = !common.quiet && !common.verbose && std::io::stderr().is_terminal();
        let progress = show_bar.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(spinner_style());
            bar
        });
        Reporter {
            verbose: common.verbose,
            quiet: common.quiet,
            progress,
            bytes: 0,
            skipped: 0,
            frames_sent: 0,
            retransmissions: 0,
            frames_received: 0,
            duplicates: 0,
            dropped: 0,
        }
    }

    /// Takes a trace event: counts it, and prints it with `-v`.
    pub fn trace(&mut self, trace: &Trace) {
        match trace.direction {
            Direction::Send => {
                self.frames_sent += 1;
                self.retransmissions += u64::from(trace.dup);
            }
            Direction::Recv => {
                self.frames_received += 1;
                self.duplicates += u64::from(trace.dup);
            }
            Direction::Drop => self.dropped += 1,
        }
        if self.verbose {
            // One write per line, so that lines never interleave with other output.
            let _ = writeln!(std::io::stderr().lock(), "{trace}");
        }
    }

    /// The total size is known: show a bar with an ETA.
    pub fn set_total(&mut self, total: u64) {
        if let Some(bar) = &self.progress {
            bar.set_length(total);
            bar.set_style(bar_style());
        }
    }

    /// `bytes` more data went through.
    pub fn add_bytes(&mut self, bytes: u64) {
        self.bytes += bytes;
        if let Some(bar) = &self.progress {
            bar.set_position(self.skipped + self.bytes);
        }
    }

    /// The receiver held the object's first `bytes` already (resume): progress starts there.
    pub fn skip(&mut self, bytes: u64) {
        self.skipped += bytes;
        if let Some(bar) = &self.progress {
            bar.set_position(self.skipped + self.bytes);
        }
    }

    /// Prints a line only with `-v`, among the trace lines.
    pub fn detail(&self, message: &str) {
        if self.verbose {
            let _ = writeln!(std::io::stderr().lock(), "{message}");
        }
    }

    /// Prints a status line (unless `-q`), above the bar if there is one.
    pub fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.progress {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
    }

    /// The summary line: `sent 1048576 bytes in 0.42 s (2.50 MB/s), 2051 frames sent, 0
    /// retransmitted, 0 duplicates received, 0 datagrams dropped (not fitting the transfer),
    /// window 32 granted, congestion window 31.2 on average, verified with CRC-32C`. A
    /// receiver's frames are its ACKs. MB are 10^6 bytes, as in the progress bar.
    pub fn summary(
        &self,
        verb: &str,
        side: Side,
        elapsed: Duration,
        window: WindowUse,
        verified: Option<DigestAlgorithm>,
    ) -> String {
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 { self.bytes as f64 / secs / 1e6 } else { 0.0 };
        let frames = match side {
            Side::Sender => "frames",
            Side::Receiver => "ACKs",
        };
        let mut window_note = format!("window {} granted", window.granted);
        if let Some(average) = window.average_cwnd {
            window_note += &format!(", congestion window {average:.1} on average");
        }
        let verified = match verified {
            Some(digest) => format!("verified with {digest}"),
            None => "not verified (no digest agreed)".into(),
        };
        format!(
            "rudp: {verb} {} bytes in {secs:.2} s ({rate:.2} MB/s), {} {frames} sent, {} retransmitted, \
             {} duplicates received, {} datagrams dropped (not fitting the transfer), {window_note}, {verified}",
            self.bytes, self.frames_sent, self.retransmissions, self.duplicates, self.dropped
        )
    }

    /// Prints the summary unless `-q`, with `more` parts at the end of the line.
    pub fn print_summary_with(
        &mut self,
        verb: &str,
        side: Side,
        elapsed: Duration,
        window: WindowUse,
        verified: Option<DigestAlgorithm>,
        more: &[String],
    ) {
        self.finish();
        if !self.quiet {
            let mut line = self.summary(verb, side, elapsed, window, verified);
            for part in more {
                line.push_str(", ");
                line.push_str(part);
            }
            eprintln!("{line}");
        }
    }
}

// Decimal units (MB, MB/s) in the bar, as in the summary line.
fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {decimal_bytes} ({decimal_bytes_per_sec}) {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{bar:30} {decimal_bytes}/{decimal_total_bytes} ({decimal_bytes_per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}
