//! Options shared by `send` and `recv`.

use std::time::Duration;

use clap::{Args, ValueEnum};
use rudp_nostd::{Congestion, DigestAlgorithm, Profile, Timing};

use crate::Failure;
use crate::duration::parse_duration;

/// The wire behaviour.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum ProfileArg {
    /// Binary-safe, random initial numbers, adaptive timers (default).
    Native,
    /// Interoperates with the original Python client.py / server.py. TEXT ONLY: the original
    /// receiver finds the end of each payload by stripping trailing zero bytes, so data with a
    /// 512-byte block that ends in zero bytes cannot be sent (the transfer stops there and
    /// fails).
    Reference,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Profile {
        match p {
            ProfileArg::Native => Profile::Native,
            ProfileArg::Reference => Profile::Reference,
        }
    }
}

/// The whole-object digest a sender offers (SPEC §10.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum DigestArg {
    /// CRC-32C (Castagnoli): catches corruption, cheap (default).
    Crc32c,
    /// SHA-256: also resists deliberate tampering, slower.
    Sha256,
    /// No digest: the receiver cannot verify the content.
    None,
}

impl DigestArg {
    /// The algorithm, if any.
    pub fn algorithm(self) -> Option<DigestAlgorithm> {
        match self {
            DigestArg::Crc32c => Some(DigestAlgorithm::Crc32c),
            DigestArg::Sha256 => Some(DigestAlgorithm::Sha256),
            DigestArg::None => None,
        }
    }
}

/// The congestion policy of a windowed sender (SPEC §10.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum CongestionArg {
    /// Halve the window on loss, grow it back (default).
    Reno,
    /// Keep the whole granted window.
    Fixed,
}

impl From<CongestionArg> for Congestion {
    fn from(c: CongestionArg) -> Congestion {
        match c {
            CongestionArg::Reno => Congestion::Reno,
            CongestionArg::Fixed => Congestion::Fixed,
        }
    }
}

/// Protocol and output options of `send` and `recv`.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Wire behaviour: `reference` talks to the original Python tools (text only).
    #[arg(long, value_enum, default_value = "native")]
    pub profile: ProfileArg,

    /// Give up when the peer sends nothing valid for this long.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Retransmission timeout before the first round-trip measurement.
    #[arg(long, value_name = "DUR", default_value = "500ms", value_parser = parse_duration)]
    pub initial_rto: Duration,

    /// Lower bound of the adaptive retransmission timeout.
    #[arg(long, value_name = "DUR", default_value = "10ms", value_parser = parse_duration)]
    pub min_rto: Duration,

    /// Upper bound of the adaptive retransmission timeout.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub max_rto: Duration,

    /// Before blocking for a datagram, poll the socket for up to this long. A process woken
    /// by a datagram takes time to run again (most of a loopback or LAN round trip); polling
    /// spends CPU instead. `0us` blocks at once; machines with one CPU never poll.
    #[arg(long, value_name = "DUR", default_value = "50us", value_parser = parse_duration)]
    pub busy_poll: Duration,

    /// Print a trace line on stderr for every frame sent, received or dropped.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print nothing but errors: no progress bar, no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

impl CommonArgs {
    /// Checks what clap cannot check alone.
    pub fn validate(&self) -> Result<(), Failure> {
        if self.min_rto > self.max_rto {
            return Err(Failure::Usage(format!(
                "--min-rto ({:?}) is above --max-rto ({:?})",
                self.min_rto, self.max_rto
            )));
        }
        if self.idle_timeout.is_zero() {
            return Err(Failure::Usage("--idle-timeout must be above zero".into()));
        }
        if self.min_rto.is_zero() {
            return Err(Failure::Usage("--min-rto must be above zero".into()));
        }
        Ok(())
    }

    /// How long to poll before blocking: `--busy-poll`, or zero on a machine with one CPU,
    /// where polling would only keep the peer from running.
    pub fn busy_poll(&self) -> Duration {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        if cpus > 1 { self.busy_poll } else { Duration::ZERO }
    }

    /// The engines' timers.
    pub fn timing(&self) -> Timing {
        Timing {
            initial_rto: self.initial_rto.into(),
            min_rto: self.min_rto.into(),
            max_rto: self.max_rto.into(),
            idle_timeout: self.idle_timeout.into(),
        }
    }
}
