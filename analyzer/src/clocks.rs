//! The agents' clocks: the offset added to an agent's times and how well
//! it is known. `--clock-offset` decides where it names the agent (or `*`);
//! otherwise `run.json`'s `agents[]` entry does, as `seamless-controller
//! experiment` writes it (`clock_offset_ns` and `clock_uncertainty_ns`,
//! Cristian's method: the offset is within ± the uncertainty).

use seamless_proto::RunInfo;

use crate::AnalyzeOptions;

/// One agent's clock, as the analysis uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Clock {
    /// Added to every probe time, ns.
    pub offset_ns: i64,
    /// How far off the offset may be, ns, when measured.
    pub uncertainty_ns: Option<i64>,
}

/// The clock of `agent`.
pub(crate) fn clock(opts: &AnalyzeOptions, info: Option<&RunInfo>, agent: &str) -> Clock {
    if opts.clock_offsets_ns.contains_key(agent) || opts.clock_offsets_ns.contains_key("*") {
        return Clock {
            offset_ns: opts.clock_offset_ns(agent),
            uncertainty_ns: recorded(info, agent).and_then(|c| c.uncertainty_ns),
        };
    }
    recorded(info, agent).unwrap_or_default()
}

/// What run.json records for `agent`.
fn recorded(info: Option<&RunInfo>, agent: &str) -> Option<Clock> {
    let agents = info?.extra.get("agents")?.as_array()?;
    let a = agents
        .iter()
        .find(|a| a.get("agent").and_then(|v| v.as_str()) == Some(agent))?;
    Some(Clock {
        offset_ns: a.get("clock_offset_ns")?.as_i64()?,
        uncertainty_ns: a.get("clock_uncertainty_ns").and_then(|v| v.as_i64()),
    })
}

/// The report's warning for an agent whose clock is known less well than
/// its probes are spaced, if it is.
pub(crate) fn warning(agent: &str, c: Clock, interval_ns: i64) -> Option<String> {
    let u = c.uncertainty_ns?;
    (u > interval_ns).then(|| {
        format!(
            "{agent}'s clock is known within ± {} only, more than its probe interval ({}): its windows may sit that much earlier or later against the timeline and the other agents (their lengths are not affected)",
            crate::markdown::fmt_ns(u),
            crate::markdown::fmt_ns(interval_ns)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        let mut i = RunInfo::default();
        i.extra.insert(
            "agents".into(),
            serde_json::json!([
                {"agent": "node-a", "clock_offset_ns": -3000, "clock_uncertainty_ns": 800},
                {"agent": "node-b", "clock_offset_ns": 5}
            ]),
        );
        i
    }

    #[test]
    fn run_json_gives_the_offset_unless_the_command_line_names_the_agent() {
        let mut opts = AnalyzeOptions::default();
        let i = info();
        assert_eq!(
            clock(&opts, Some(&i), "node-a"),
            Clock {
                offset_ns: -3000,
                uncertainty_ns: Some(800)
            }
        );
        assert_eq!(clock(&opts, Some(&i), "node-b").uncertainty_ns, None);
        assert_eq!(clock(&opts, Some(&i), "node-z"), Clock::default());
        assert_eq!(clock(&opts, None, "node-a"), Clock::default());
        opts.add_clock_offset("node-a=1ms").unwrap();
        let c = clock(&opts, Some(&i), "node-a");
        assert_eq!(c.offset_ns, 1_000_000, "the command line wins");
        assert_eq!(c.uncertainty_ns, Some(800));
        opts.add_clock_offset("2ms").unwrap();
        assert_eq!(clock(&opts, Some(&i), "node-b").offset_ns, 2_000_000);
    }

    #[test]
    fn flags_only_an_uncertainty_above_the_interval() {
        let c = Clock {
            offset_ns: 0,
            uncertainty_ns: Some(800_000),
        };
        let w = warning("node-a", c, 500_000).unwrap();
        assert!(
            w.contains("node-a") && w.contains("800.0 us") && w.contains("500.0 us"),
            "{w}"
        );
        assert!(warning("node-a", c, 1_000_000).is_none());
        assert!(warning("node-a", Clock::default(), 1).is_none());
    }
}
