//! The text of `check-truth`.

use super::{Tail, TruthCheck, ms};

/// The text of `check-truth`: one line a run, then a summary.
pub fn render(checks: &[TruthCheck]) -> String {
    let mut out = String::new();
    for c in checks {
        let name = c
            .run
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out += &format!(
            "{} {:<28} {name}  {}",
            if c.ok() { "ok " } else { "BAD" },
            c.scenario,
            c.line
        );
        if !c.ok() {
            out += &format!("  <-- {}", c.problems.join("; "));
        }
        out.push('\n');
    }
    let bad = checks.iter().filter(|c| !c.ok()).count();
    let with_outage: Vec<&TruthCheck> = checks
        .iter()
        .filter(|c| c.contained_strictly.is_some())
        .collect();
    let strict = with_outage
        .iter()
        .filter(|c| c.contained_strictly == Some(true))
        .count();
    let mut widths: Vec<f64> = with_outage
        .iter()
        .filter_map(|c| c.width_intervals)
        .collect();
    widths.sort_by(f64::total_cmp);
    let tails: Vec<&Tail> = checks
        .iter()
        .map(|c| &c.tail)
        .filter(|t| t.windows > 0)
        .collect();
    if !tails.is_empty() {
        out += &format!(
            "\n{} runs with a conntrack tail (failures after the outage, through conntrack \
             entries still NATed to the dead backend): {} failed probes, the latest {:.0} ms after its outage",
            tails.len(),
            tails.iter().map(|t| t.failed).sum::<u64>(),
            ms(tails.iter().map(|t| t.last_after_end_ns).max().unwrap_or(0))
        );
    }
    out += &format!(
        "\n{} runs, {bad} failing the checks; of {} runs with an outage, {strict} contained \
         without slack; observed width median {:.1} intervals, max {:.1}\n",
        checks.len(),
        with_outage.len(),
        widths.get(widths.len() / 2).copied().unwrap_or(0.0),
        widths.last().copied().unwrap_or(0.0)
    );
    out
}

pub(super) fn tail_text(t: &Tail) -> String {
    if t.windows == 0 {
        return String::new();
    }
    format!(
        "; conntrack tail: {} failures in {} window(s), the last {:.0} ms after the outage",
        t.failed,
        t.windows,
        ms(t.last_after_end_ns)
    )
}
