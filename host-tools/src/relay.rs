//! `rudp relay`: a UDP impairment proxy (being written; see issue 3).

use std::net::SocketAddr;

use clap::Args;

use crate::Failure;

/// Forward UDP between the first client that writes to --listen and the server at --to.
#[derive(Args, Debug)]
pub struct RelayArgs {
    /// Where clients send to.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// The server to forward to.
    #[arg(long, value_name = "ADDR:PORT")]
    pub to: SocketAddr,
}

/// Runs `rudp relay`.
pub fn run(_args: &RelayArgs) -> Result<(), Failure> {
    let _ = crate::duration::parse_probability;
    Err(Failure::Run(anyhow::anyhow!("rudp relay is not implemented yet")))
}
