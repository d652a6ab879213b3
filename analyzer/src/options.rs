//! What an analysis can be told.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Options of [`analyze`](crate::analyze). `Default` gives plain windows
/// (no merging), automatic time bins and no clock offsets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyzeOptions {
    /// Merge two failure runs separated by at most this many successes
    /// (0: never merge on a count).
    pub merge_successes: u64,
    /// Merge two failure runs whose failures are at most this far apart, ns
    /// (from the last failure of one to the first of the next).
    pub merge_gap_ns: Option<i64>,
    /// Width of the success-ratio bins, ns; `None` picks a round width
    /// giving about 200 bins.
    pub bin_ns: Option<i64>,
    /// Added to every probe time of the named agent, ns, to bring its clock
    /// onto the controller's. The key `*` applies to agents not named.
    pub clock_offsets_ns: BTreeMap<String, i64>,
    /// Timeline to use instead of the run directory's `timeline.jsonl`.
    pub timeline: Option<PathBuf>,
}

impl AnalyzeOptions {
    /// The clock offset of an agent, ns.
    pub fn clock_offset_ns(&self, agent: &str) -> i64 {
        self.clock_offsets_ns
            .get(agent)
            .or_else(|| self.clock_offsets_ns.get("*"))
            .copied()
            .unwrap_or(0)
    }

    /// Adds a clock offset given as `[AGENT=]OFFSET`, where OFFSET is a
    /// duration such as `3ms` or `-1.5ms` (see [`parse_signed_duration_ns`]).
    pub fn add_clock_offset(&mut self, spec: &str) -> Result<()> {
        let (agent, offset) = match spec.rsplit_once('=') {
            Some((agent, offset)) => (agent.to_owned(), offset),
            None => ("*".to_owned(), spec),
        };
        let ns = parse_signed_duration_ns(offset).map_err(|reason| Error::Invalid {
            what: "clock offset",
            reason,
        })?;
        self.clock_offsets_ns.insert(agent, ns);
        Ok(())
    }
}

/// Parses a duration like `250ms`, `1.5s`, `2m`, `100us`, `-3ms` into ns.
/// A bare number is seconds.
pub fn parse_signed_duration_ns(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, unit) = body.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 250ms, 1.5s, -3ms)"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1e9,
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        other => return Err(format!("unknown unit {other:?} in {text:?}")),
    };
    let ns = value * scale;
    if !ns.is_finite() || ns.abs() > i64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    let ns = ns.round() as i64;
    Ok(if negative { -ns } else { ns })
}

/// Parses a non-negative duration into ns.
pub fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let ns = parse_signed_duration_ns(text)?;
    if ns < 0 {
        return Err(format!("{text:?} is negative"));
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_signed_duration_ns("250ms"), Ok(250_000_000));
        assert_eq!(parse_signed_duration_ns("-1.5ms"), Ok(-1_500_000));
        assert_eq!(parse_signed_duration_ns("2"), Ok(2_000_000_000));
        assert_eq!(parse_signed_duration_ns("100us"), Ok(100_000));
        assert!(parse_signed_duration_ns("fast").is_err());
        assert!(parse_signed_duration_ns("3 parsecs").is_err());
        assert!(parse_duration_ns("-1s").is_err());
    }

    #[test]
    fn clock_offsets() {
        let mut o = AnalyzeOptions::default();
        o.add_clock_offset("node-b=-3ms").unwrap();
        o.add_clock_offset("1ms").unwrap();
        assert_eq!(o.clock_offset_ns("node-b"), -3_000_000);
        assert_eq!(o.clock_offset_ns("node-a"), 1_000_000);
        assert!(o.add_clock_offset("x=soon").is_err());
    }
}
