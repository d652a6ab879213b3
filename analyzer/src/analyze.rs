//! From a run directory (or a bare log) to a [`Report`].

use std::path::{Path, PathBuf};

use polars::prelude::*;
use seamless_proto::run::{TIMELINE, probe_logs};
use seamless_proto::timeline::{Event, read_jsonl};
use seamless_proto::{RunInfo, log::FORMAT_VERSION};
use tracing::{debug, warn};

use crate::load::{AgentLog, FoldSpec, Keep, read_log};
use crate::probes::Probes;
use crate::probes::Source;
use crate::query::Ctx;
use crate::report::{AgentReport, EventMark, REPORT_SCHEMA_VERSION, Report, Span};
use crate::stream::{Folded, LatencyPick, Quantiles, first_pass};
use crate::summary::summary;
use crate::walks::Walks;
use crate::windows::{union, widen_partial, windows};
use crate::{AnalyzeOptions, Error, Result};

/// What an analysis starts from.
#[derive(Debug)]
pub(crate) struct Inputs {
    /// Probe logs.
    pub logs: Vec<PathBuf>,
    /// Timeline file, when there is one.
    pub timeline: Option<PathBuf>,
    /// `run.json`, when there is one.
    pub run_info: Option<RunInfo>,
}

/// Finds the logs, timeline and run.json of a run directory or bare log.
pub(crate) fn inputs(path: &Path, opts: &AnalyzeOptions) -> Result<Inputs> {
    let meta = std::fs::metadata(path).map_err(Error::io(path))?;
    if !meta.is_dir() {
        return Ok(Inputs {
            logs: vec![path.to_owned()],
            timeline: opts.timeline.clone(),
            run_info: None,
        });
    }
    let logs = probe_logs(path).map_err(Error::io(path))?;
    let default_timeline = path.join(TIMELINE);
    let timeline = opts
        .timeline
        .clone()
        .or_else(|| default_timeline.is_file().then_some(default_timeline));
    if logs.is_empty() {
        return Err(Error::NoLogs {
            dir: path.to_owned(),
            has_timeline: timeline.is_some(),
        });
    }
    let run_json = path.join(seamless_proto::run::RUN_INFO);
    let run_info = if run_json.is_file() {
        Some(RunInfo::read(path).map_err(|source| Error::RunInfo {
            path: run_json,
            source,
        })?)
    } else {
        None
    };
    Ok(Inputs {
        logs,
        timeline,
        run_info,
    })
}

/// Reads every log; skips (with a warning) those without probes.
pub(crate) fn read_logs(
    inputs: &Inputs,
    opts: &AnalyzeOptions,
    names: &mut Vec<String>,
    keep: Keep<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<AgentLog>> {
    // One thread a log: a run has a log per node, each read on its own;
    // the cores left over decode a log's frames side by side.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let decoders = (cores.saturating_sub(1) / inputs.logs.len().max(1)).max(1);
    let read: Vec<Result<Vec<AgentLog>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .logs
            .iter()
            .map(|path| {
                let agent = crate::load::agent_name(path);
                let offset = crate::clocks::clock(opts, inputs.run_info.as_ref(), &agent).offset_ns;
                scope.spawn(move || read_log(path, offset, keep, decoders))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut agents = Vec::new();
    let mut empty = Vec::new();
    for (path, logs) in inputs.logs.iter().zip(read) {
        let logs = logs?;
        let file = path.display();
        let probes: usize = logs.iter().map(AgentLog::len).sum();
        let Some(first) = logs.first() else {
            continue;
        };
        if let Some(t) = first.torn {
            warnings.push(format!(
                "{file} is torn at byte offset {}: {} bytes lost (the agent was stopped mid-write); analysing the {probes} whole probes before it",
                t.offset,
                t.bytes_lost,
            ));
        } else if first.end_count.is_none() {
            warnings.push(format!(
                "{file} has no end marker: the agent did not stop cleanly (or is still running)"
            ));
        }
        if let Some(n) = first.end_count
            && n != probes as u64
        {
            warnings.push(format!(
                "{file}: the end marker counts {n} probes but {probes} were read"
            ));
        }
        if probes == 0 {
            warnings.push(format!("{file} holds no probes; skipped"));
            empty.push(file.to_string());
            continue;
        }
        for mut log in logs {
            log.remap(names);
            agents.push(log);
        }
    }
    if agents.is_empty() {
        return Err(Error::NoProbes {
            what: format!("every probe log is empty ({})", empty.join(", ")),
        });
    }
    let versions: std::collections::BTreeSet<u16> =
        agents.iter().map(|a| a.format_version).collect();
    if versions.len() > 1 {
        warnings.push(format!(
            "the logs use different format versions ({versions:?}); all are read (this build reads up to {FORMAT_VERSION})"
        ));
    }
    Ok(agents)
}

/// Reads the timeline, sorted by time.
fn read_timeline(path: &Path) -> Result<Vec<Event>> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut events =
        read_jsonl(std::io::BufReader::new(file)).map_err(|source| Error::Timeline {
            path: path.to_owned(),
            source,
        })?;
    events.sort_by_key(|e| e.ts_ns);
    Ok(events)
}

/// The rollout span: first rollout-starting event to last rollout-ending
/// event; without those, the first to the last event other than `run_end`.
fn rollout_span(events: &[Event]) -> Option<Span> {
    use seamless_proto::EventKind;
    let relevant = || events.iter().filter(|e| e.kind != EventKind::RunEnd);
    let start = events
        .iter()
        .find(|e| e.kind.starts_rollout())
        .or_else(|| relevant().next())?
        .ts_ns;
    let end = events
        .iter()
        .rev()
        .find(|e| e.kind.ends_rollout())
        .or_else(|| relevant().next_back())?
        .ts_ns;
    Some(Span {
        start_ns: start,
        end_ns: end.max(start),
    })
}

/// A round bin width giving about 200 bins over `span_ns`.
pub(crate) fn auto_bin_ns(span_ns: i64) -> i64 {
    let target = (span_ns / 200).max(1);
    let mut unit = 1_000_000i64; // 1 ms at least
    loop {
        for step in [1, 2, 5] {
            if unit * step >= target {
                return unit * step;
            }
        }
        unit *= 10;
    }
}

/// A finished analysis: the report, and the probes for plots.
pub struct Analysis {
    /// The report.
    pub report: Report,
    /// Every probe of every agent, walked in start order.
    pub(crate) probes: Probes,
    /// Backend names: id `i` in `probes` is `backends[i - 1]` (0: none).
    pub(crate) backends: Vec<String>,
    /// The figures' data, when gathered by the analysis's own walks.
    pub(crate) figures: Figures,
}

/// The figures' data gathered by the analysis's walks (else each figure
/// walks the probes when drawn).
#[derive(Debug, Default)]
pub(crate) struct Figures {
    /// report.html's chart.
    pub chart: Option<crate::html::ChartWalk>,
    /// The run figure's.
    pub plot: Option<crate::plot::PlotData>,
}

/// Which figures' data an analysis gathers as it walks the probes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gather {
    /// report.html's chart.
    pub page: bool,
    /// The run figure (PNG and SVG).
    pub plots: bool,
}

impl Analysis {
    /// Analyses a run directory or a bare probe log.
    pub fn run(path: &Path, opts: &AnalyzeOptions) -> Result<Analysis> {
        Self::run_gathering(path, opts, Gather::default())
    }

    /// Analyses a run, gathering the figures' data in the same walks.
    ///
    /// Each log is read once (decoded, spilled, and folded as it is read);
    /// then the spills are walked twice, in parts side by side
    /// ([`crate::walks`]): for the quantiles' second pass, report.html's
    /// chart and the merged view's fold, then for the run figure (whose axis
    /// needs the merged p99.9). The edges of partial windows are read from
    /// the spill at their marks.
    pub fn run_gathering(path: &Path, opts: &AnalyzeOptions, gather: Gather) -> Result<Analysis> {
        let inputs = inputs(path, opts)?;
        let mut warnings = Vec::new();
        let mut names = Vec::new();
        let clock = std::time::Instant::now();
        let events = match &inputs.timeline {
            Some(p) => read_timeline(p)?,
            None => Vec::new(),
        };
        let rollout = rollout_span(&events);
        // The probes go to disk beside the run (see crate::spill).
        let spill_dir = if path.is_dir() {
            Some(path)
        } else {
            path.parent()
        };
        let spec = FoldSpec {
            rollout,
            bin_ns: opts.bin_ns,
        };
        let agents = read_logs(
            &inputs,
            opts,
            &mut names,
            Keep::Spill {
                dir: spill_dir,
                full: false,
                fold: Some(spec),
            },
            &mut warnings,
        )?;
        debug!(elapsed = ?clock.elapsed(), "logs read");
        let mut meta = Vec::new();
        let mut sources = Vec::new();
        let mut spills = Vec::new();
        let mut folds = Vec::new();
        for mut a in agents {
            if !a.sorted {
                debug!(agent = %a.name, "probes out of start order in the log: reordered");
            }
            let spill = a.spill.take().ok_or_else(|| Error::NoProbes {
                what: format!("{}: no probes kept", a.name),
            })?;
            let spill = std::sync::Arc::new(spill);
            sources.push(Source::Spill(spill.clone()));
            spills.push(spill);
            folds.push(a.fold.take());
            meta.push(a);
        }
        let span = Probes::of(sources.clone()).span()?;
        let (first, last) = span.unwrap_or((0, 0));
        if let Some(p) = &inputs.timeline {
            if events.is_empty() {
                warnings.push(format!("{} holds no events", p.display()));
            } else if events.iter().all(|e| e.ts_ns < first || e.ts_ns > last) {
                warnings.push(format!(
                    "no timeline event falls inside the probing ({}..{} ns): are the clocks apart? (--clock-offset)",
                    first, last
                ));
            }
        }
        let bin_ns = opts.bin_ns.unwrap_or_else(|| auto_bin_ns(last - first));
        if bin_ns <= 0 {
            return Err(Error::Invalid {
                what: "bin width",
                reason: format!("{bin_ns} ns is not positive"),
            });
        }
        let ctx = Ctx {
            bin_ns,
            backends: u32::try_from(names.len()).unwrap_or(u32::MAX),
        };

        // A control target's agents stay out of the merged view (unless
        // nothing else was probed).
        let mut control: Vec<bool> = meta
            .iter()
            .map(|a| crate::control::is_control(inputs.run_info.as_ref(), &a.agent))
            .collect();
        if control.iter().all(|&c| c) {
            control.iter_mut().for_each(|c| *c = false);
        }
        let rolled: Vec<usize> = (0..sources.len()).filter(|&i| !control[i]).collect();
        let merged = rolled.len() > 1;

        // Each agent's tables, from its fold as read (a log too far out of
        // start order for that is folded from its sorted spill).
        let folded: Vec<Folded> = std::thread::scope(|scope| {
            let handles: Vec<_> = folds
                .into_iter()
                .zip(&sources)
                .map(|(fold, s)| {
                    scope.spawn(move || match fold {
                        Some(mut f) => {
                            f.set_backends(ctx.backends);
                            f.tables(bin_ns)
                        }
                        None => first_pass(
                            &Probes::of(vec![s.clone()]),
                            ctx.backends,
                            rollout,
                            Some(bin_ns),
                        )?
                        .tables(bin_ns),
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect::<PolarsResult<Vec<_>>>()
        })?;
        // The merged view's ok latencies: its agents' added up.
        let merged_lat = Quantiles::of_latency(
            &rolled
                .iter()
                .map(|&i| &folded[i].quantiles)
                .collect::<Vec<_>>(),
        );
        let all = Probes::of(sources.clone());
        let view = Probes::of(rolled.iter().map(|&i| sources[i].clone()).collect());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let walks = Walks {
            sources: &sources,
            folded: &folded,
            control: &control,
            merged: merged.then_some(&view),
            merged_lat: &merged_lat,
            ctx,
            rollout,
            span,
            gather,
            parts: 2 * cores,
        };
        let mut second = walks.second()?;
        let mut merged_fold = second
            .merged_fold()
            .map(|f| f.tables(ctx.bin_ns))
            .transpose()?;
        // Its bins, outcomes and backends: its agents' added up.
        if let Some(m) = &mut merged_fold {
            let agents: Vec<_> = rolled.iter().map(|&i| &folded[i].tables).collect();
            crate::stream::sum_tables(&agents, &mut m.tables)?;
        }
        let mut merged_picks = None;
        let mut stats = Vec::new();
        let mut picks = std::mem::take(&mut second.picks).into_iter();
        for f in &folded {
            let q = &f.quantiles;
            let (gaps, lat, mine) = picks
                .next()
                .flatten()
                .unwrap_or_else(|| (q.gap_pick(), q.latency_pick(), None));
            stats.push(q.stats(gaps, q.latency(lat)));
            if let Some(m) = mine {
                crate::walks::put(&mut merged_picks, m, LatencyPick::add);
            }
        }
        let merged_latency = merged_picks.map(|p| merged_lat.latency(p));
        let p999 = crate::plot::p999(match &merged_latency {
            Some(l) => l,
            None => &stats[rolled[0]].latency,
        });
        let exact_gaps = merged_fold.as_ref().and_then(|f| f.quantiles.exact_gaps());
        let gap_walk = match (&merged_fold, &exact_gaps) {
            (Some(f), None) => Some(&f.quantiles),
            _ => None,
        };
        let third = walks.third(gap_walk, p999)?;
        let (chart, plot) = (second.chart, third.plot);
        let merged_stats = match (merged_fold, exact_gaps, third.gaps, merged_latency) {
            (Some(f), Some(g), _, Some(l)) => Some((f.tables, f.quantiles.stats_from(g, l))),
            (Some(f), None, Some(g), Some(l)) => Some((f.tables, f.quantiles.stats(g, l))),
            _ => None,
        };
        debug!(elapsed = ?clock.elapsed(), "queries collected");

        let marks: Vec<EventMark> = events
            .iter()
            .map(|e| EventMark {
                ts_ns: e.ts_ns,
                kind: e.kind.name().to_owned(),
                label: e.label(),
            })
            .collect();
        let truth = inputs
            .run_info
            .as_ref()
            .and_then(|r| r.ground_truth.as_ref());
        let moments = crate::connections::moments(truth, &marks);
        let mut agent_reports = Vec::new();
        let mut all_windows = Vec::new();
        let mut control_windows = Vec::new();
        for (((a, f), st), spill) in meta.iter().zip(&folded).zip(stats).zip(&spills) {
            let t = &f.tables;
            let (mut w, edges) = windows(t, &names, opts, &a.name)?;
            // The edges of partial windows: the probes around them, read
            // from the agent's spill at their marks.
            let mut read = Ok(());
            widen_partial(&mut w, &edges, st.interval.median_ns, |idx| {
                match f.marks.times(spill, idx) {
                    Ok(times) => times,
                    Err(e) => {
                        read = Err(e);
                        Vec::new()
                    }
                }
            });
            read.map_err(PolarsError::from)?;
            if control[agent_reports.len()] {
                control_windows.extend(w.iter().cloned());
            } else {
                all_windows.extend(w.iter().cloned());
            }
            let clock = crate::clocks::clock(opts, inputs.run_info.as_ref(), &a.agent);
            warnings.extend(crate::clocks::warning(
                &a.name,
                clock,
                st.interval.median_ns,
            ));
            agent_reports.push(AgentReport {
                name: a.name.clone(),
                mode: a.mode.map(|m| m.name().to_owned()),
                file: a.path.display().to_string(),
                format_version: a.format_version,
                agent_version: a.header.agent_version.clone(),
                target_url: a.header.target_url.clone(),
                host: a.header.host.clone(),
                node: a.header.node.clone(),
                pod: a.header.pod.clone(),
                clock_offset_ns: a.clock_offset_ns,
                clock_uncertainty_ns: clock.uncertainty_ns,
                torn: a.torn.map(|t| crate::report::Torn {
                    offset: t.offset,
                    bytes_lost: t.bytes_lost,
                }),
                clean_end: a.end_count.is_some(),
                summary: summary(t, st, w, &names, bin_ns)?,
                connections: a
                    .conns
                    .as_ref()
                    .map(|c| crate::connections::facts(c, rollout, &moments)),
            });
        }
        let merged_summary = match merged_stats {
            None => agent_reports[rolled[0]].summary.clone(),
            Some((t, st)) => summary(&t, st, union(all_windows), &names, bin_ns)?,
        };
        let control =
            crate::control::report(&agent_reports, &control, control_windows, &merged_summary);
        for w in &warnings {
            warn!("{w}");
        }
        let report = Report {
            schema_version: REPORT_SCHEMA_VERSION,
            analyzer_version: env!("CARGO_PKG_VERSION").to_owned(),
            source: path.display().to_string(),
            scenario: inputs.run_info.as_ref().and_then(|r| r.scenario.clone()),
            run_info: inputs.run_info,
            options: opts.clone(),
            rollout,
            events: marks,
            agents: agent_reports,
            merged: merged_summary,
            control,
            warnings,
        };
        let figures = Figures {
            chart,
            plot: plot.map(crate::plot::PlotWalk::finish),
        };
        Ok(Analysis {
            report,
            probes: all,
            backends: names,
            figures,
        })
    }
}
