//! rudp trace events in the defmt log as SPEC §8's lines.
//!
//! rudp-nostd's `Trace` derives `defmt::Format`, which logs it as a struct
//! (`Trace { direction: Send, header: Ok(Repr { .. }), .. }`); this module logs the line a
//! host prints instead (`SEND 43 555 7 ACK SYN`), so board and PC traces read alike. A dropped
//! frame also says why, in parentheses.

use rudp_nostd::frame::Flags;
use rudp_nostd::trace::{Direction, Trace};

/// Logs `trace` at `debug` level.
pub fn log(trace: &Trace) {
    let direction = match trace.direction {
        Direction::Send => "SEND",
        Direction::Recv => "RECV",
        Direction::Drop => "DROP",
    };
    let repr = match &trace.header {
        Ok(repr) => repr,
        Err(error) => {
            defmt::debug!("{=str} {}", direction, error);
            return;
        }
    };
    let flag = |flag: Flags, name: &'static str| if repr.flags.contains(flag) { name } else { "" };
    let (ack, syn, fin) = (flag(Flags::ACK, " ACK"), flag(Flags::SYN, " SYN"), flag(Flags::FIN, " FIN"));
    let (seq, ack_num, conn) = (repr.seq.get(), repr.ack.get(), repr.conn);
    match trace.reason {
        None => {
            let dup = if trace.dup { " DUP" } else { "" };
            defmt::debug!(
                "{=str} {=u32} {=u32} {=u16}{=str}{=str}{=str}{=str}",
                direction,
                seq,
                ack_num,
                conn,
                ack,
                syn,
                fin,
                dup
            );
        }
        Some(reason) => {
            defmt::debug!(
                "{=str} {=u32} {=u32} {=u16}{=str}{=str}{=str} ({})",
                direction,
                seq,
                ack_num,
                conn,
                ack,
                syn,
                fin,
                reason
            );
        }
    }
}
