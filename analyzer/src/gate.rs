//! The CI gate: limits on downtime and failed probes.

use std::fmt::Write;

use crate::Report;
use crate::markdown::{fmt_ns, fmt_range};
use crate::report::Summary;

/// Limits a run must stay within.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gate {
    /// The downtime's upper bound (merged view) may not exceed this, ns. A
    /// window without an ok probe before or after (the service was down at
    /// an edge of the probing) always exceeds it.
    pub max_downtime_ns: Option<i64>,
    /// Failed probes (merged view, local errors excluded) may not exceed this.
    pub max_failed: Option<u64>,
}

/// Why the report exceeds the gate; empty when it passes.
pub fn check_gate(report: &Report, gate: &Gate) -> Vec<String> {
    check_summary(&report.merged, gate)
}

/// Why one summary (an agent's, or the merged view) exceeds the gate.
pub fn check_summary(m: &Summary, gate: &Gate) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(max) = gate.max_downtime_ns {
        match m.downtime.upper_ns {
            Some(upper) if upper > max => reasons.push(format!(
                "downtime up to {} (at least {}) exceeds --max-downtime {}",
                fmt_ns(upper),
                fmt_ns(m.downtime.lower_ns),
                fmt_ns(max)
            )),
            Some(_) => {}
            None => reasons.push(format!(
                "{} failure window(s) without an ok probe before or after: the downtime is unbounded (at least {}), exceeding --max-downtime {}",
                m.downtime.unbounded_windows,
                fmt_ns(m.downtime.lower_ns),
                fmt_ns(max)
            )),
        }
    }
    if let Some(max) = gate.max_failed
        && m.totals.failed > max
    {
        reasons.push(format!(
            "{} failed probes exceed --max-failed {max}",
            m.totals.failed
        ));
    }
    reasons
}

/// Escapes text for XML attributes and content.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The gate's verdict as JUnit XML: one test case per agent and one for
/// the merged view, a failure (with the bounds) where the gate is
/// exceeded.
pub fn junit(report: &Report, gate: &Gate) -> String {
    let suite = report.scenario.as_deref().unwrap_or(&report.source);
    let mut cases: Vec<(String, &Summary)> = report
        .agents
        .iter()
        .map(|a| (format!("agent {}", a.name), &a.summary))
        .collect();
    cases.push(("merged".to_owned(), &report.merged));
    let verdicts: Vec<(String, &Summary, Vec<String>)> = cases
        .into_iter()
        .map(|(name, s)| {
            let reasons = check_summary(s, gate);
            (name, s, reasons)
        })
        .collect();
    let failures = verdicts.iter().filter(|v| !v.2.is_empty()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"seamless-analyzer\" tests=\"{}\" failures=\"{failures}\">",
        verdicts.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        xml(suite),
        verdicts.len()
    );
    for (name, s, reasons) in &verdicts {
        let summary = format!(
            "downtime {} in {} window(s), {} of {} probes failed",
            fmt_range(s.downtime.lower_ns, s.downtime.upper_ns),
            s.downtime.windows,
            s.totals.failed,
            s.totals.probes
        );
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\">",
            xml(suite),
            xml(name)
        );
        if reasons.is_empty() {
            let _ = writeln!(out, "<system-out>{}</system-out></testcase>", xml(&summary));
        } else {
            let _ = writeln!(
                out,
                "\n      <failure message=\"{}\" type=\"gate\">{}</failure>\n    </testcase>",
                xml(&reasons.join("; ")),
                xml(&summary)
            );
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
