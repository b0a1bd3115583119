//! Human durations such as `"2h"`, `"45m"` or `"1h30m"`.

use std::time::Duration;

/// Why a duration could not be parsed; rendered into
/// [`CatalogProblem::InvalidDuration`](super::CatalogProblem::InvalidDuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// Nothing but whitespace.
    Empty,
    /// A number without a unit after it, e.g. `"90"`.
    MissingUnit,
    /// A unit without a number before it, e.g. `"h"`.
    MissingNumber,
    /// A unit other than `d`, `h`, `m`, `s`.
    UnknownUnit(char),
    /// A unit used twice, or out of the order `d h m s`.
    UnitOrder(char),
    /// Zero in total.
    Zero,
    /// Too large to represent.
    Overflow,
    /// Longer than the setting allows.
    TooLong {
        /// The longest allowed, as written in the configuration.
        max: &'static str,
        /// Why there is a limit.
        why: &'static str,
    },
}

impl DurationError {
    /// A short explanation, without the value itself.
    pub(crate) fn reason(&self) -> String {
        match self {
            Self::Empty => "it is empty".to_owned(),
            Self::MissingUnit => "a number has no unit after it".to_owned(),
            Self::MissingNumber => "a unit has no number before it".to_owned(),
            Self::UnknownUnit(c) => format!("`{c}` is not a unit"),
            Self::UnitOrder(c) => {
                format!(
                    "unit `{c}` is repeated or out of order (write days, hours, minutes, seconds)"
                )
            }
            Self::Zero => "it must be longer than zero".to_owned(),
            Self::Overflow => "it is too long".to_owned(),
            Self::TooLong { max, why } => {
                format!("it is longer than {max}, the most allowed ({why})")
            }
        }
    }
}

/// Parses a sequence of `<number><unit>` components with units `d`, `h`,
/// `m` and `s`, largest first and each at most once (`"1d"`, `"2h"`,
/// `"1h30m"`, `"90s"`). Surrounding whitespace is ignored; the total must be
/// greater than zero.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u64 = 0;
    // Rank of the last unit seen; units must strictly decrease in size.
    let mut last_rank = usize::MAX;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit)))
                .ok_or(DurationError::Overflow)?;
            number = Some(n);
            continue;
        }
        let (rank, seconds) = match c {
            'd' => (3, 86_400),
            'h' => (2, 3_600),
            'm' => (1, 60),
            's' => (0, 1),
            other => return Err(DurationError::UnknownUnit(other)),
        };
        let n = number.take().ok_or(DurationError::MissingNumber)?;
        if rank >= last_rank {
            return Err(DurationError::UnitOrder(c));
        }
        last_rank = rank;
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or(DurationError::Overflow)?;
    }
    if number.is_some() {
        return Err(DurationError::MissingUnit);
    }
    if total == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_secs(total))
}

/// Like [`parse_duration`], refusing anything longer than `max` (written
/// as `max_text`, with `why` for the person reading the error): configured
/// durations are added to dates, so they are bounded at load.
pub(crate) fn parse_duration_at_most(
    text: &str,
    max: Duration,
    max_text: &'static str,
    why: &'static str,
) -> Result<Duration, DurationError> {
    let duration = parse_duration(text)?;
    if duration > max {
        return Err(DurationError::TooLong { max: max_text, why });
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_durations_say_the_limit() {
        let max = Duration::from_secs(30 * 86_400);
        assert_eq!(
            parse_duration_at_most("2h", max, "30d", "x"),
            Ok(Duration::from_secs(7_200))
        );
        let error = parse_duration_at_most("100000000d", max, "30d", "AWS waits 30 days at most")
            .unwrap_err();
        assert_eq!(
            error.reason(),
            "it is longer than 30d, the most allowed (AWS waits 30 days at most)"
        );
    }

    #[test]
    fn parses_single_and_combined_units() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("45m"), Ok(Duration::from_secs(2_700)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(
            parse_duration(" 1d2h3m4s "),
            Ok(Duration::from_secs(86_400 + 7_200 + 180 + 4))
        );
        assert_eq!(parse_duration("0h5m"), Ok(Duration::from_secs(300)));
    }

    #[test]
    fn refuses_malformed_durations() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("  "), Err(DurationError::Empty));
        assert_eq!(parse_duration("90"), Err(DurationError::MissingUnit));
        assert_eq!(parse_duration("1h30"), Err(DurationError::MissingUnit));
        assert_eq!(parse_duration("h"), Err(DurationError::MissingNumber));
        assert_eq!(parse_duration("2x"), Err(DurationError::UnknownUnit('x')));
        assert_eq!(parse_duration("2 h"), Err(DurationError::UnknownUnit(' ')));
        assert_eq!(parse_duration("-2h"), Err(DurationError::UnknownUnit('-')));
        assert_eq!(parse_duration("30m1h"), Err(DurationError::UnitOrder('h')));
        assert_eq!(parse_duration("1h1h"), Err(DurationError::UnitOrder('h')));
        assert_eq!(parse_duration("0s"), Err(DurationError::Zero));
        assert_eq!(parse_duration("0h0m"), Err(DurationError::Zero));
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("999999999999999999d"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn reasons_are_readable() {
        assert_eq!(
            DurationError::UnknownUnit('x').reason(),
            "`x` is not a unit"
        );
        assert!(DurationError::Zero.reason().contains("zero"));
    }
}
