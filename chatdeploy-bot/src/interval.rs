//! Durations on the command line: `500ms`, `10s`, `2m`.

use std::time::Duration;

/// Parses `500ms`, `10s` or `2m` (between 1 ms and 60 minutes).
///
/// # Errors
///
/// A sentence saying what is wrong and what to write instead.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit; write e.g. 10s or 500ms"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number; write e.g. 10s"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        other => return Err(format!("`{other}` is not a unit; use ms, s or m")),
    };
    if duration.is_zero() || duration > Duration::from_secs(3600) {
        return Err(format!("`{text}` must be between 1ms and 60m"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bounds() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_interval("0s").unwrap_err().contains("between"));
        assert!(parse_interval("61m").unwrap_err().contains("between"));
        assert!(parse_interval("5h").unwrap_err().contains("not a unit"));
        assert!(parse_interval("s").unwrap_err().contains("number"));
    }
}
