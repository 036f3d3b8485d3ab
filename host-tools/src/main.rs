//! `rudp`: send and receive files over rudp, a reliable transfer over UDP, and an impairment
//! relay for testing it on machines without netem.
//!
//! Exit codes: 0 success; 1 transfer, network or IO failure; 2 usage error.
//!
//! `unsafe` is denied everywhere but in `batch`, the hand-written `recvmmsg`, `sendmmsg`,
//! UDP GSO and GRO under the UDP transport, so this crate cannot `#![forbid(unsafe_code)]`.
//! Issue 15 asked to replace that module with the `quinn-udp` crate unless the hand-written
//! path was more than 5% faster: in the one interleaved run that decided it (BENCHMARKS.md,
//! "Hand-written IO or quinn-udp"), `quinn-udp` ran even at window 32 (1.02 ×) and 0.93 × as
//! fast at window 1, where it also makes the kernel write three control messages per datagram
//! (a timestamp, the packet info, the TOS byte) that rudp does not use and that no safe API
//! turns off. The hand-written path stayed; the `quinn-udp` transport is in the history
//! (commit "host-tools: a quinn-udp transport beside the hand-written one") for another look.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod batch;
mod clock;
mod common;
mod driver;
mod duration;
mod io_adapters;
mod names;
mod output;
mod partial;
mod recv;
mod relay;
mod report;
mod send;
mod serve;
mod udp;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Shown after the options of `rudp --help` and `rudp -h`, line for line.
const EXAMPLES: &str = "\
Examples (receive on one machine, send from another):
  rudp recv 9000 -o copy.bin
  rudp send receiver.example 9000 file.bin
Collect files from many senders at once into a directory:
  rudp serve 9000 incoming/
  rudp send receiver.example 9000 log.txt --name board-7/log.txt

Exit status: 0 success; 1 transfer, network or IO failure; 2 usage error.";

/// Reliable file transfer over UDP, TCP-like: a handshake, then a window of data frames in flight.
///
/// 524-byte frames (up to 512 data bytes each). `send` keeps up to 32 frames in flight by
/// default, with selective acknowledgements, congestion control and RFC 6298 retransmission
/// timers; it is stop-and-wait with `send --window 1`, or with a peer that grants no window
/// (`--profile reference`, older peers).
#[derive(Parser, Debug)]
#[command(name = "rudp", version, max_term_width = 100, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send FILE (or stdin) to a receiver.
    Send(send::SendArgs),
    /// Receive one transfer and write it to a file or stdout.
    Recv(recv::RecvArgs),
    /// Receive many transfers at once into a directory, until stopped.
    Serve(serve::ServeArgs),
    /// Forward UDP between a client and a server, dropping, duplicating, reordering and
    /// delaying datagrams at random (a test tool for links without netem).
    Relay(relay::RelayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Send(args) => args.common.validate().and_then(|()| send::run(args)),
        Command::Recv(args) => args.common.validate().and_then(|()| recv::run(args)),
        Command::Serve(args) => args.common.validate().and_then(|()| serve::run(args)),
        Command::Relay(args) => relay::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => usage_error(cli.command.name(), message),
        Err(Failure::Run(error)) => {
            eprintln!("rudp: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Exits 2 with clap's format for a usage error found after parsing, with the usage line of
/// the subcommand `name` (`Usage: rudp recv [OPTIONS] <PORT>`), not the top level's.
fn usage_error(name: &str, message: String) -> ! {
    let mut cli = Cli::command();
    // Building sets each subcommand's full name (`rudp recv`) for its usage line.
    cli.build();
    match cli.find_subcommand_mut(name) {
        Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, message).exit(),
        None => cli.error(clap::error::ErrorKind::ArgumentConflict, message).exit(),
    }
}

impl Command {
    /// The subcommand's name, as typed.
    fn name(&self) -> &'static str {
        match self {
            Command::Send(_) => "send",
            Command::Recv(_) => "recv",
            Command::Serve(_) => "serve",
            Command::Relay(_) => "relay",
        }
    }
}

/// How a command failed: usage errors exit 2 with clap's format, everything else exits 1.
#[derive(Debug)]
pub enum Failure {
    /// The arguments do not make sense together.
    Usage(String),
    /// The transfer, the network or a file failed.
    Run(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::Run(error.into())
    }
}
