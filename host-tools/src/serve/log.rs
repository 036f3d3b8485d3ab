//! The log of `rudp serve`: one line per transfer when it ends (or is refused), in words on
//! stderr and, with `--log-json`, as one JSON object per line on stdout.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rudp_nostd::RefuseReason;

use super::Active;

/// How a transfer ended.
#[derive(Debug)]
pub(super) enum Outcome {
    Ok,
    Failed(String),
    Refused(RefuseReason, Option<String>),
}

/// One log line: a transfer that ended, or a refusal.
#[derive(Debug)]
pub(super) struct Line {
    pub(super) time: SystemTime,
    pub(super) peer: SocketAddr,
    pub(super) name: String,
    pub(super) bytes: u64,
    pub(super) seconds: f64,
    pub(super) window: u8,
    pub(super) verified: bool,
    pub(super) outcome: Outcome,
}

impl Line {
    pub(super) fn new(peer: SocketAddr, name: String) -> Line {
        Line {
            time: SystemTime::now(),
            peer,
            name,
            bytes: 0,
            seconds: 0.0,
            window: 1,
            verified: false,
            outcome: Outcome::Ok,
        }
    }

    pub(super) fn of(active: &Active, outcome: Outcome) -> Line {
        Line {
            time: SystemTime::now(),
            peer: active.peer,
            name: active.name.clone(),
            bytes: active.bytes,
            seconds: active.started.elapsed().as_secs_f64(),
            window: active.window,
            verified: active.digest.is_some() && matches!(outcome, Outcome::Ok),
            outcome,
        }
    }

    fn mb_per_s(&self) -> f64 {
        if self.seconds > 0.0 { self.bytes as f64 / self.seconds / 1e6 } else { 0.0 }
    }

    fn outcome_text(&self) -> String {
        match &self.outcome {
            Outcome::Ok => "ok".into(),
            Outcome::Failed(why) => format!("failed: {why}"),
            Outcome::Refused(reason, None) => format!("refused: {}", reason_words(*reason)),
            Outcome::Refused(reason, Some(why)) => format!("refused: {} ({why})", reason_words(*reason)),
        }
    }

    /// The human line, for stderr.
    pub(super) fn text(&self) -> String {
        format!(
            "{} {} {:?} {} B {:.2} s {:.2} MB/s window {} {} {}",
            utc(self.time),
            self.peer,
            self.name,
            self.bytes,
            self.seconds,
            self.mb_per_s(),
            self.window,
            if self.verified { "verified" } else { "unverified" },
            self.outcome_text()
        )
    }

    /// The same as one JSON object.
    pub(super) fn json(&self) -> String {
        let (outcome, reason) = match &self.outcome {
            Outcome::Ok => ("ok", None),
            Outcome::Failed(why) => ("failed", Some(why.clone())),
            Outcome::Refused(reason, why) => (
                "refused",
                Some(match why {
                    Some(why) => format!("{} ({why})", reason_words(*reason)),
                    None => reason_words(*reason).to_string(),
                }),
            ),
        };
        let reason = reason.map_or("null".to_string(), |r| json_string(&r));
        format!(
            "{{\"time\":{},\"peer\":{},\"name\":{},\"bytes\":{},\"seconds\":{:.3},\"mb_per_s\":{:.3},\"window\":{},\"verified\":{},\"outcome\":\"{outcome}\",\"reason\":{reason}}}",
            json_string(&utc(self.time)),
            json_string(&self.peer.to_string()),
            json_string(&self.name),
            self.bytes,
            self.seconds,
            self.mb_per_s(),
            self.window,
            self.verified,
        )
    }
}

/// A refusal's reason in words, for the receiver's log.
fn reason_words(reason: RefuseReason) -> &'static str {
    match reason {
        RefuseReason::Busy => "busy",
        RefuseReason::TooLarge => "too large",
        RefuseReason::Name => "name not accepted",
        RefuseReason::Storage => "cannot write",
        RefuseReason::Cancelled => "cancelled",
        RefuseReason::Length => "length does not match the size announced",
        RefuseReason::Other(_) => "other reason",
    }
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `time` as `2026-11-27T18:34:41Z` (UTC; days to civil date after Howard Hinnant).
pub(super) fn utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_are_utc_in_iso_8601() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2026-11-27 18:34:41 UTC, and a leap day.
        assert_eq!(utc(UNIX_EPOCH + Duration::from_secs(1_795_804_481)), "2026-11-27T18:34:41Z");
        assert_eq!(utc(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(json_string("x\ny\u{85}"), "\"x\\u000ay\\u0085\"");
        assert_eq!(json_string("ünï"), "\"ünï\"");
    }

    #[test]
    fn a_line_reads_the_same_in_words_and_in_json() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut line = Line::new(peer, "a \"b\".bin".into());
        line.time = UNIX_EPOCH;
        line.outcome = Outcome::Refused(RefuseReason::Name, Some("the name already exists".into()));
        assert_eq!(
            line.text(),
            "1970-01-01T00:00:00Z 127.0.0.1:9 \"a \\\"b\\\".bin\" 0 B 0.00 s 0.00 MB/s window 1 unverified \
             refused: name not accepted (the name already exists)"
        );
        assert!(line.json().contains("\"name\":\"a \\\"b\\\".bin\""), "{}", line.json());
        assert!(
            line.json().contains(
                "\"outcome\":\"refused\",\"reason\":\"name not accepted (the name already exists)\""
            )
        );
    }
}
