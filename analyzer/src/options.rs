//! What an analysis can be told.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Options of [`analyze`](crate::analyze). `Default` merges failure runs
/// automatically (a run of successes inside a window is one that could be
/// chance at the window's failure ratio), picks automatic time bins and no
/// clock offsets. Setting `merge_successes` or `merge_gap_ns` replaces the
/// automatic rule by those; `no_merge` keeps the plain runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyzeOptions {
    /// Merge two failure runs separated by at most this many successes
    /// (0: never merge on a count).
    pub merge_successes: u64,
    /// Merge two failure runs whose failures are at most this far apart, ns
    /// (from the last failure of one to the first of the next).
    pub merge_gap_ns: Option<i64>,
    /// Keep the plain failure runs: no merging at all (the fixed rules
    /// above are then ignored too).
    #[serde(default)]
    pub no_merge: bool,
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
    /// Whether windows are merged by the automatic rule: neither
    /// `no_merge` nor a fixed rule (`merge_successes`, `merge_gap_ns`).
    pub fn auto_merge(&self) -> bool {
        !self.no_merge && self.merge_successes == 0 && self.merge_gap_ns.is_none()
    }

    /// The clock offset of an agent, ns.
    pub fn clock_offset_ns(&self, agent: &str) -> i64 {
        self.clock_offsets_ns
            .get(agent)
            .or_else(|| self.clock_offsets_ns.get("*"))
            .copied()
            .unwrap_or(0)
    }

    /// Adds a clock offset given as `[AGENT=]OFFSET`, where OFFSET is a
    /// duration such as `3ms` or `-1.5ms` (proto's grammar with a sign:
    /// [`seamless_proto::duration::parse_signed_ns`]).
    pub fn add_clock_offset(&mut self, spec: &str) -> Result<()> {
        let (agent, offset) = match spec.rsplit_once('=') {
            Some((agent, offset)) => (agent.to_owned(), offset),
            None => ("*".to_owned(), spec),
        };
        let ns = seamless_proto::duration::parse_signed_ns(offset).map_err(|e| Error::Invalid {
            what: "clock offset",
            reason: e.to_string(),
        })?;
        self.clock_offsets_ns.insert(agent, ns);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_offsets() {
        let mut o = AnalyzeOptions::default();
        o.add_clock_offset("node-b=-3ms").unwrap();
        o.add_clock_offset("1ms").unwrap();
        assert_eq!(o.clock_offset_ns("node-b"), -3_000_000);
        assert_eq!(o.clock_offset_ns("node-a"), 1_000_000);
        assert!(o.add_clock_offset("x=soon").is_err());
        // A bare number is no duration (was seconds once).
        assert!(o.add_clock_offset("x=2").is_err());
    }
}
