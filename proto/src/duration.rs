//! The one duration grammar of every seamless command line: humantime's.
//!
//! A duration is one or more numbers, each with its unit: `500ms`, `10s`,
//! `2m`, `1.5s`, `1h 30m`, `250us`, `100ns` (units `ns`, `us`, `ms`, `s`,
//! `m`, `h`, `d` and their long forms such as `sec` or `min`). A bare number
//! is refused, since `--timeout 5` could mean seconds or milliseconds; `0`
//! alone is the one exception. Durations are never negative, except a clock
//! offset ([`parse_signed_ns`]), which may start with `-`.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// A number without its unit.
    #[error("{text:?} has no unit: write e.g. {text}ms or {text}s")]
    NoUnit {
        /// The text given.
        text: String,
    },
    /// A negative duration where only a length of time makes sense.
    #[error("{text:?} is negative: a duration here is a length of time (e.g. 500ms, 10s, 2m)")]
    Negative {
        /// The text given.
        text: String,
    },
    /// Too long to count in nanoseconds.
    #[error("{text:?} is too long a duration")]
    OutOfRange {
        /// The text given.
        text: String,
    },
    /// Anything else.
    #[error("{text:?} is not a duration ({reason}): use forms like 500ms, 10s, 2m")]
    Invalid {
        /// The text given.
        text: String,
        /// What humantime found wrong.
        reason: String,
    },
}

/// Parses a duration (`500ms`, `10s`, `2m`); refuses bare numbers (but `0`)
/// and negatives.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let owned = || trimmed.to_owned();
    if trimmed.starts_with('-') {
        return Err(DurationError::Negative { text: owned() });
    }
    humantime::parse_duration(trimmed).map_err(|e| match e {
        humantime::DurationError::UnknownUnit { ref unit, .. } if unit.is_empty() => {
            DurationError::NoUnit { text: owned() }
        }
        humantime::DurationError::NumberOverflow => DurationError::OutOfRange { text: owned() },
        humantime::DurationError::Empty => DurationError::Invalid {
            text: owned(),
            reason: "empty".into(),
        },
        other => DurationError::Invalid {
            text: owned(),
            reason: other.to_string(),
        },
    })
}

/// [`parse`], in nanoseconds.
pub fn parse_ns(text: &str) -> Result<i64, DurationError> {
    let d = parse(text)?;
    i64::try_from(d.as_nanos()).map_err(|_| DurationError::OutOfRange {
        text: text.trim().to_owned(),
    })
}

/// A signed duration in nanoseconds, for offsets: [`parse`]'s grammar after
/// an optional `-` or `+` (`-3ms`, `+1.5ms`, `250us`).
pub fn parse_signed_ns(text: &str) -> Result<i64, DurationError> {
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    // Errors name the whole text, sign included.
    let ns = parse_ns(body).map_err(|e| match e {
        DurationError::NoUnit { .. } => DurationError::NoUnit {
            text: trimmed.to_owned(),
        },
        DurationError::Negative { .. } => DurationError::Invalid {
            text: trimmed.to_owned(),
            reason: "two signs".into(),
        },
        DurationError::OutOfRange { .. } => DurationError::OutOfRange {
            text: trimmed.to_owned(),
        },
        DurationError::Invalid { reason, .. } => DurationError::Invalid {
            text: trimmed.to_owned(),
            reason,
        },
    })?;
    Ok(if negative { -ns } else { ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_humantime_forms() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse(" 20ms "), Ok(Duration::from_millis(20)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse_ns("250us"), Ok(250_000));
        assert_eq!(parse_ns("100ns"), Ok(100));
    }

    #[test]
    fn refuses_bare_numbers() {
        for text in ["5", "2", "1.5", "100"] {
            let e = parse(text).unwrap_err();
            assert_eq!(e, DurationError::NoUnit { text: text.into() });
            assert!(e.to_string().contains(&format!("{text}ms")), "{e}");
        }
        assert!(
            matches!(parse_signed_ns("-2"), Err(DurationError::NoUnit { text }) if text == "-2")
        );
    }

    #[test]
    fn refuses_negatives() {
        for text in ["-1s", " -5ms", "-0"] {
            let e = parse(text).unwrap_err();
            assert!(matches!(e, DurationError::Negative { .. }), "{text}: {e:?}");
            assert!(e.to_string().contains("negative"), "{e}");
        }
        assert!(matches!(
            parse_ns("-1s"),
            Err(DurationError::Negative { .. })
        ));
    }

    #[test]
    fn refuses_the_rest_clearly() {
        for text in ["", "soon", "3 parsecs", "1.s", "ms"] {
            let e = parse(text).unwrap_err();
            assert!(matches!(e, DurationError::Invalid { .. }), "{text}: {e:?}");
            assert!(e.to_string().contains("500ms, 10s, 2m"), "{e}");
        }
        assert!(matches!(
            parse_ns("1000000000000h"),
            Err(DurationError::OutOfRange { .. })
        ));
    }

    #[test]
    fn signed_offsets() {
        assert_eq!(parse_signed_ns("-1.5ms"), Ok(-1_500_000));
        assert_eq!(parse_signed_ns("+3ms"), Ok(3_000_000));
        assert_eq!(parse_signed_ns("250ms"), Ok(250_000_000));
        assert!(matches!(
            parse_signed_ns("--1ms"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(matches!(
            parse_signed_ns("-soon"),
            Err(DurationError::Invalid { text, .. }) if text == "-soon"
        ));
    }
}
