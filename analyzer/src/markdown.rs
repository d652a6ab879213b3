//! The report as text: a compact terminal table and `report.md`.

use std::fmt::Write;

use crate::report::{Report, Summary, Window};

/// A duration in ns, in the largest unit that keeps it readable.
pub fn fmt_ns(ns: i64) -> String {
    let a = ns.unsigned_abs();
    if a >= 10_000_000_000 {
        format!("{:.1} s", ns as f64 / 1e9)
    } else if a >= 1_000_000_000 {
        format!("{:.3} s", ns as f64 / 1e9)
    } else if a >= 1_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else if a >= 1_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// A downtime range as `lower .. upper`.
pub(crate) fn fmt_range(lower: i64, upper: Option<i64>) -> String {
    match upper {
        Some(u) => format!("{} .. {}", fmt_ns(lower), fmt_ns(u)),
        None => format!("{} .. unbounded", fmt_ns(lower)),
    }
}

fn kinds(w: &Window) -> String {
    w.kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn secs(report: &Report, ns: i64) -> String {
    format!(
        "{:.6}",
        (ns - report.merged.totals.first_start_ns) as f64 / 1e9
    )
}

fn summary_row(name: &str, s: &Summary) -> [String; 9] {
    let t = &s.totals;
    [
        name.to_owned(),
        t.probes.to_string(),
        t.ok.to_string(),
        t.failed.to_string(),
        t.local_errors.to_string(),
        format!("{:.0}", t.achieved_rate_per_s),
        format!(
            "{} / {}",
            fmt_ns(s.interval.median_ns),
            fmt_ns(s.interval.p99_ns)
        ),
        s.downtime.windows.to_string(),
        fmt_range(s.downtime.lower_ns, s.downtime.upper_ns),
    ]
}

const SUMMARY_HEAD: [&str; 9] = [
    "agent",
    "probes",
    "ok",
    "failed",
    "local",
    "rate/s",
    "interval p50 / p99",
    "windows",
    "downtime",
];

/// Windows listed on the terminal; report.md has them all.
const TERMINAL_WINDOWS: usize = 15;

const WINDOW_HEAD: [&str; 8] = [
    "#",
    "agents",
    "start (s)",
    "downtime",
    "failed / total",
    "kinds",
    "before -> after",
    "backends",
];

fn summary_rows(report: &Report) -> Vec<[String; 9]> {
    let mut rows: Vec<_> = report
        .agents
        .iter()
        .map(|a| summary_row(&a.name, &a.summary))
        .collect();
    if report.agents.len() > 1 {
        rows.push(summary_row("(merged)", &report.merged));
    }
    rows
}

fn window_rows(report: &Report) -> Vec<[String; 8]> {
    report
        .merged
        .windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            [
                (i + 1).to_string(),
                w.agents.join(","),
                secs(report, w.first_fail_ns),
                fmt_range(w.lower_ns, w.upper_ns),
                if w.edge_uncertainty_ns > 0 {
                    format!(
                        "{} / {} (partial: edges +/- {:.3} ms{})",
                        w.failed,
                        w.total,
                        w.edge_uncertainty_ns as f64 / 1e6,
                        w.split_successes
                            .map(|k| format!("; {k} ok in a row would end it"))
                            .unwrap_or_default()
                    )
                } else {
                    format!("{} / {}", w.failed, w.total)
                },
                kinds(w),
                format!(
                    "{} -> {}",
                    w.backend_before.as_deref().unwrap_or("-"),
                    w.backend_after.as_deref().unwrap_or("-")
                ),
                w.backends.join(","),
            ]
        })
        .collect()
}

/// Lays out rows as aligned columns.
fn aligned<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let mut width = head.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut l = String::new();
        for (c, w) in cells.iter().zip(width) {
            let _ = write!(l, "{c:<w$}  ");
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(head.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn title(report: &Report) -> String {
    let (lower, upper) = report.downtime();
    format!(
        "{}: downtime {} in {} window(s), {} of {} probes failed",
        report.scenario.as_deref().unwrap_or(&report.source),
        fmt_range(lower, upper),
        report.merged.downtime.windows,
        report.merged.totals.failed,
        report.merged.totals.probes
    )
}

/// How the windows were merged, in one sentence.
pub(crate) fn merge_note(opts: &crate::AnalyzeOptions) -> String {
    if opts.no_merge {
        return "Windows: every maximal run of failed probes (--no-merge).".into();
    }
    if opts.auto_merge() {
        return format!(
            "Windows: a run of successes between two failures stays inside the window \
             unless it could not be chance: at the window's failure ratio, a run that long \
             anywhere inside has less than {}% chance of cutting one outage in two \
             (--no-merge shows the plain runs).",
            crate::windows::SPLIT_MISS * 100.0
        );
    }
    let mut rules = Vec::new();
    if opts.merge_successes > 0 {
        rules.push(format!(
            "separated by at most {} successes (--merge-successes)",
            opts.merge_successes
        ));
    }
    if let Some(g) = opts.merge_gap_ns {
        rules.push(format!("at most {} apart (--merge-gap)", fmt_ns(g)));
    }
    format!("Windows: failure runs merged when {}.", rules.join(" or "))
}

/// The compact table printed by `seamless-analyzer report`.
pub fn terminal_table(report: &Report) -> String {
    let mut out = title(report);
    out.push('\n');
    out.push_str(&merge_note(&report.options));
    out.push_str("\n\n");
    out.push_str(&aligned(SUMMARY_HEAD, &summary_rows(report)));
    if !report.merged.windows.is_empty() {
        out.push('\n');
        let mut rows = window_rows(report);
        let more = rows.len().saturating_sub(TERMINAL_WINDOWS);
        rows.truncate(TERMINAL_WINDOWS);
        out.push_str(&aligned(WINDOW_HEAD, &rows));
        if more > 0 {
            let _ = writeln!(
                out,
                "... and {more} more windows (report.md lists them all)"
            );
        }
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn md_table<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let mut out = format!("| {} |\n", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(N));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out
}

/// `report.md`.
pub fn markdown(report: &Report) -> String {
    let mut out = format!("# {}\n\n", title(report));
    let _ = writeln!(out, "Source: `{}`\n", report.source);
    let m = &report.merged;
    let _ = writeln!(
        out,
        "Downtime is a range per window: lower = last failed - first failed probe, \
         upper = first ok after - last ok before. The probe interval (median {}, p99 {}) \
         is the resolution of these figures. Local errors of the prober are counted \
         apart and never make a window. {}\n",
        fmt_ns(m.interval.median_ns),
        fmt_ns(m.interval.p99_ns),
        merge_note(&report.options)
    );
    if let Some(r) = report.rollout {
        let _ = writeln!(
            out,
            "Rollout: {} s .. {} s after the first probe ({}).\n",
            secs(report, r.start_ns),
            secs(report, r.end_ns),
            fmt_ns(r.end_ns - r.start_ns)
        );
    }
    out.push_str("## Agents\n\n");
    out.push_str(&md_table(SUMMARY_HEAD, &summary_rows(report)));
    out.push_str("\n## Failure windows\n\n");
    if m.windows.is_empty() {
        out.push_str("No failed probe.\n");
    } else {
        out.push_str(&md_table(WINDOW_HEAD, &window_rows(report)));
    }
    out.push_str(&crate::connections::render(report));
    out.push_str(&crate::control::render(report));
    out.push_str("\n## Latency of ok probes\n\n");
    let rows: Vec<[String; 7]> = m
        .latency
        .iter()
        .map(|l| {
            [
                l.phase.clone(),
                l.count.to_string(),
                fmt_ns(l.p50_ns),
                fmt_ns(l.p90_ns),
                fmt_ns(l.p99_ns),
                fmt_ns(l.p999_ns),
                fmt_ns(l.max_ns),
            ]
        })
        .collect();
    out.push_str(&md_table(
        ["phase", "ok probes", "p50", "p90", "p99", "p99.9", "max"],
        &rows,
    ));
    out.push_str("\n## Backends\n\n");
    let rows: Vec<[String; 5]> = m
        .backends
        .iter()
        .map(|b| {
            [
                b.name.clone(),
                secs(report, b.first_ns),
                secs(report, b.last_ns),
                b.probes.to_string(),
                format!("{:.1} %", b.share * 100.0),
            ]
        })
        .collect();
    out.push_str(&md_table(
        ["backend", "first (s)", "last (s)", "probes", "share"],
        &rows,
    ));
    if let Some(s) = &m.switch {
        let _ = writeln!(
            out,
            "\nTraffic switched from `{}` to `{}`: first answer from `{}` at {} s, last from `{}` at {} s.",
            s.from,
            s.to,
            s.to,
            secs(report, s.first_to_ns),
            s.from,
            secs(report, s.last_from_ns)
        );
    }
    if let Some(r) = crate::race::race(report) {
        out.push_str(&crate::race::render(&r));
    }
    if !report.events.is_empty() {
        out.push_str("\n## Timeline\n\n");
        let rows: Vec<[String; 2]> = report
            .events
            .iter()
            .map(|e| [secs(report, e.ts_ns), e.label.clone()])
            .collect();
        out.push_str(&md_table(["time (s)", "event"], &rows));
    }
    if !report.warnings.is_empty() {
        out.push_str("\n## Warnings\n\n");
        for w in &report.warnings {
            let _ = writeln!(out, "- {w}");
        }
    }
    out
}
