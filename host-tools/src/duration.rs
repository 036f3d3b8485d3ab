//! Durations on the command line: `500ms`, `2s`, `1m`, `250us`, `1.5s`.

use std::time::Duration;

/// Parses a duration with a unit: `us`, `ms`, `s`, `m` or `h` (a bare number is an error, so
/// that `--delay 5` cannot silently mean 5 seconds or 5 milliseconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let micros_per_unit: f64 = match unit {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        "" => return Err(format!("'{text}' needs a unit: us, ms, s, m or h (e.g. 500ms, 2s)")),
        _ => return Err(format!("unknown unit '{unit}' in '{text}': use us, ms, s, m or h")),
    };
    let value: f64 = number.parse().map_err(|_| format!("'{text}' is not a duration (e.g. 500ms, 2s)"))?;
    let micros = value * micros_per_unit;
    if !micros.is_finite() || micros > u64::MAX as f64 / 2.0 {
        return Err(format!("'{text}' is too long"));
    }
    Ok(Duration::from_micros(micros.round() as u64))
}

/// Parses a probability: `0.1` or `10%`, between 0 and 1.
pub fn parse_probability(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| format!("'{text}' is not a probability (e.g. 0.1 or 10%)"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("'{text}' is not between 0 and 1 (0% and 100%)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(parse_duration("5").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1e400s").is_err());
    }

    #[test]
    fn parses_probabilities() {
        assert_eq!(parse_probability("0.1"), Ok(0.1));
        assert_eq!(parse_probability("10%"), Ok(0.1));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_probability("-0.1").is_err());
        assert!(parse_probability("x").is_err());
    }
}
