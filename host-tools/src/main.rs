//! `rudp`: send and receive files over rudp, a reliable transfer over UDP, and an impairment
//! relay for testing it on machines without netem.
//!
//! Exit codes: 0 success; 1 transfer, network or IO failure; 2 usage error.

mod batch;
mod clock;
mod common;
mod driver;
mod duration;
mod io_adapters;
mod output;
mod recv;
mod relay;
mod report;
mod send;
mod udp;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Reliable file transfer over UDP: 524-byte frames, a TCP-like handshake, stop-and-wait
/// with adaptive retransmission timers.
///
/// Receive on one machine, send from another:
///
///   rudp recv 9000 -o copy.bin
///   rudp send receiver.example 9000 file.bin
#[derive(Parser, Debug)]
#[command(name = "rudp", version, max_term_width = 100)]
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
    /// Forward UDP between a client and a server, dropping, duplicating, reordering and
    /// delaying datagrams at random (a test tool for links without netem).
    Relay(relay::RelayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Send(args) => args.common.validate().and_then(|()| send::run(args)),
        Command::Recv(args) => args.common.validate().and_then(|()| recv::run(args)),
        Command::Relay(args) => relay::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message).exit()
        }
        Err(Failure::Run(error)) => {
            eprintln!("rudp: error: {error:#}");
            ExitCode::FAILURE
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
