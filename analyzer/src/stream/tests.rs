//! The fold against the frame path: the same windows and summary, field
//! for field, on a synthetic run and on the committed lab logs.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::oracle::{collect, plans, probe_stats};
use super::{Fold, first_pass};
use crate::AnalyzeOptions;
use crate::load::read_log;
use crate::probes::Probes;
use crate::query::{Ctx, probe_frame};
use crate::report::{Span, Summary, Window};
use crate::summary::summary;
use crate::windows::windows;

/// What an engine gives a probe set: its windows and summary.
type Answer = (Vec<Window>, Summary);

/// Each probe set's answer of one log, by the frame path and by the fold.
fn both(path: &Path) -> Vec<(Answer, Answer)> {
    let opts = AnalyzeOptions::default();
    let mut out = Vec::new();
    for mut log in read_log(path, 0, crate::load::Keep::Columns, 2).unwrap() {
        let mut names = Vec::new();
        log.remap(&mut names);
        let frame = probe_frame(vec![std::mem::take(&mut log.cols)], log.sorted).unwrap();
        let t = frame.column("t").unwrap().i64().unwrap().clone();
        let (first, last) = (t.first().unwrap(), t.last().unwrap());
        // Any span inside the probes exercises the three phases.
        let third = (last - first) / 3;
        let rollout = Some(Span {
            start_ns: first + third,
            end_ns: last - third,
        });
        let bin_ns = crate::analyze::auto_bin_ns(last - first);
        let ctx = Ctx {
            bin_ns,
            backends: names.len() as u32,
        };

        let tables = collect(vec![plans(frame.clone().lazy(), ctx)])
            .unwrap()
            .remove(0);
        let st = probe_stats(&frame, rollout).unwrap();
        let (w, _) = windows(&tables, &names, &opts, &log.name).unwrap();
        let by_frame = (w.clone(), summary(&tables, st, w, &names, bin_ns).unwrap());

        // Fine bins widened as the fold goes, the width chosen at the end.
        let probes = Probes::new(vec![frame.clone()]);
        let fold = first_pass(&probes, names.len() as u32, rollout, None).unwrap();
        assert_eq!(fold.span(), Some((first, last)));
        assert_eq!(fold.bin_ns_for(last - first), bin_ns);
        let (tables, st) = fold.finish(bin_ns, &probes).unwrap();
        let (w, _) = windows(&tables, &names, &opts, &log.name).unwrap();
        let by_fold = (w.clone(), summary(&tables, st, w, &names, bin_ns).unwrap());
        out.push((by_frame, by_fold));
    }
    out
}

fn assert_same(path: &Path) {
    let pairs = both(path);
    assert!(!pairs.is_empty());
    for (frame, fold) in pairs {
        assert!(
            frame.1.totals.probes > 0,
            "{}: no probes compared",
            path.display()
        );
        assert_eq!(frame.0, fold.0, "{}: windows", path.display());
        assert_eq!(frame.1, fold.1, "{}: summary", path.display());
    }
}

#[test]
fn the_fold_agrees_with_the_frame_on_a_synthetic_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::synth::SynthSpec {
        probes: 300_000,
        ..Default::default()
    };
    crate::synth::generate(dir.path(), &spec).unwrap();
    let logs = seamless_proto::run::probe_logs(dir.path()).unwrap();
    assert_same(&logs[0]);
}

/// Each committed real-lab scenario's kept log.
fn lab_logs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lab");
    let mut logs = Vec::new();
    for matrix in ["v1.37.2-iptables", "v1.26.3-iptables", "v1.37.2-nftables"] {
        let Ok(scenarios) = std::fs::read_dir(root.join(matrix)) else {
            continue;
        };
        for s in scenarios.flatten() {
            let run = s.path().join("run-01");
            if let Ok(found) = seamless_proto::run::probe_logs(&run) {
                logs.extend(found);
            }
        }
    }
    logs.sort();
    logs
}

#[test]
fn the_fold_agrees_with_the_frame_on_every_kept_lab_log() {
    let logs = lab_logs();
    assert!(logs.len() >= 20, "{} lab logs found", logs.len());
    for log in &logs {
        assert_same(log);
    }
}

#[test]
fn the_marks_find_the_probes_a_walk_counts_to() {
    use crate::load::{CLASS_FAIL, CLASS_LOCAL, CLASS_OK};
    use crate::probes::Row;
    let dir = tempfile::tempdir().unwrap();
    let mut w = crate::spill::SpillWriter::<Row>::new(Some(dir.path())).unwrap();
    let mut fold = Fold::new(0, None, None);
    // Local errors in bursts (they do not count), some failures.
    let class = |k: i64| match k % 1000 {
        0..100 if k > 5000 => CLASS_LOCAL,
        300..310 => CLASS_FAIL,
        _ => CLASS_OK,
    };
    let rows: Vec<Row> = (0..30_000i64)
        .map(|k| Row {
            t: k * 7,
            lat: 1,
            outcome: 0,
            class: class(k),
            backend: 0,
        })
        .collect();
    for r in &rows {
        w.push(*r, &mut |r: &Row| {
            fold.push(r.t, r.lat, r.outcome, r.class, r.backend)
                .unwrap();
        })
        .unwrap();
    }
    let spill = w.finish(None, &mut |_| {}).unwrap();
    let marks = fold.tables(1_000_000).unwrap().marks;
    let counting = rows.iter().filter(|r| r.class != CLASS_LOCAL).count() as i64;
    let idx: Vec<i64> = [
        0,
        1,
        4095,
        4096,
        4097,
        8191,
        12_000,
        counting - 1,
        counting,
        counting + 9000,
    ]
    .into_iter()
    .chain((0..counting).step_by(997))
    .collect();
    let want = crate::windows::counting_times(rows.iter().map(|r| (r.t, r.class)), &idx);
    assert_eq!(marks.times(&spill, &idx).unwrap(), want);
    assert!(want[7].is_some());
    assert_eq!((want[8], want[9]), (None, None), "past the end");
}

/// The tables and statistics of a fold, its second pass over `probes`.
fn finished(
    fold: Fold,
    probes: &Probes,
    bin_ns: i64,
) -> (Vec<DataFrame>, crate::stats::ProbeStats) {
    let f = fold.tables(bin_ns).unwrap();
    let q = &f.quantiles;
    let (mut gaps, mut lat) = (q.gap_pick(), q.latency_pick());
    probes
        .for_each(|r| {
            gaps.push(r.t);
            lat.push(r.t, r.lat, r.class);
        })
        .unwrap();
    let st = q.stats(gaps, q.latency(lat));
    let t = f.tables;
    (
        vec![t.runs, t.fail_combos, t.outcomes, t.bins, t.backends],
        st,
    )
}

/// Two agents' spills: failures in runs (some across any cut), local
/// errors, two backends, ties.
fn two_agents() -> Vec<crate::probes::Source> {
    use crate::load::{CLASS_FAIL, CLASS_LOCAL, CLASS_OK};
    use crate::probes::{Row, Source};
    let mut sources = Vec::new();
    for agent in 0..2i64 {
        let mut w = crate::spill::SpillWriter::<Row>::new(None).unwrap();
        for k in 0..20_000i64 {
            let class = match (k + agent * 3) % 500 {
                0..40 => CLASS_FAIL,
                100..104 => CLASS_LOCAL,
                _ => CLASS_OK,
            };
            let r = Row {
                t: 1_000_000_000 + k * 100_000 + (k * 7919 % 13) * 1000 * agent,
                lat: 200_000 + (k * 104_729 % 50_000),
                outcome: if class == CLASS_FAIL { 3 } else { 0 },
                class,
                backend: if class == CLASS_OK {
                    (k / 7000) as u32 % 2 + 1
                } else {
                    0
                },
            };
            w.push(r, &mut |_| {}).unwrap();
        }
        sources.push(Source::Spill(std::sync::Arc::new(
            w.finish(None, &mut |_| {}).unwrap(),
        )));
    }
    sources
}

#[test]
fn folds_of_the_parts_appended_are_the_fold_of_the_whole() {
    let sources = two_agents();
    let p = Probes::of(sources);
    let rollout = Some(Span {
        start_ns: 1_500_000_000,
        end_ns: 2_000_000_000,
    });
    let bin_ns = 10_000_000;
    let whole = finished(
        first_pass(&p, 2, rollout, Some(bin_ns)).unwrap(),
        &p,
        bin_ns,
    );
    for n in [2, 3, 8] {
        let mut parts = p.cut(n).unwrap().into_iter();
        let mut fold = first_pass(&parts.next().unwrap(), 2, rollout, Some(bin_ns)).unwrap();
        for part in parts {
            fold.append(first_pass(&part, 2, rollout, Some(bin_ns)).unwrap());
        }
        let joined = finished(fold, &p, bin_ns);
        assert_eq!(joined.1, whole.1, "statistics, {n} parts");
        for (a, b) in joined.0.iter().zip(&whole.0) {
            assert!(a.equals_missing(b), "{n} parts:\n{a}\n{b}");
        }
    }
}

#[test]
fn a_merged_views_counts_are_its_agents_added_up() {
    let sources = two_agents();
    let (bin_ns, rollout) = (10_000_000, None);
    let merged = Probes::of(sources.clone());
    let whole = first_pass(&merged, 2, rollout, Some(bin_ns))
        .unwrap()
        .tables(bin_ns)
        .unwrap()
        .tables;
    let agents: Vec<_> = sources
        .iter()
        .map(|s| {
            let p = Probes::of(vec![s.clone()]);
            first_pass(&p, 2, rollout, Some(bin_ns))
                .unwrap()
                .tables(bin_ns)
                .unwrap()
                .tables
        })
        .collect();
    let mut f = Fold::new(2, rollout, Some(bin_ns)).order_only();
    merged
        .for_each(|r| f.push(r.t, r.lat, r.outcome, r.class, r.backend).unwrap())
        .unwrap();
    let mut summed = f.tables(bin_ns).unwrap().tables;
    super::sum_tables(&agents.iter().collect::<Vec<_>>(), &mut summed).unwrap();
    let frames = |t: &crate::query::Tables| {
        vec![
            t.runs.clone(),
            t.fail_combos.clone(),
            t.outcomes.clone(),
            t.bins.clone(),
            t.backends.clone(),
        ]
    };
    for (a, b) in frames(&summed).iter().zip(frames(&whole)) {
        assert!(a.equals_missing(&b), "{a}\n{b}");
        assert_eq!(a.schema(), b.schema());
    }
    assert!(whole.bins.height() > 10);
}

#[test]
fn a_log_too_far_out_of_order_is_folded_from_its_sorted_spill() {
    use seamless_proto::{Header, LogWriter, Outcome, Probe};
    // 70,000 probes, one window of refusals; written in start order, and
    // with the last probe first (further out of order than the buffer).
    let probes: Vec<Probe> = (0..70_000u64)
        .map(|k| {
            let failed = (30_000..30_040).contains(&k);
            Probe {
                intended_ns: 1_000_000 + k * 100_000,
                start_ns: 1_000_000 + k * 100_000 + k % 13,
                connect_ns: 50_000,
                first_byte_ns: if failed { 0 } else { 150_000 },
                total_ns: if failed {
                    50_000
                } else {
                    200_000 + k % 7 * 10_000
                },
                status: if failed { 0 } else { 200 },
                outcome: if failed {
                    Outcome::ConnectRefused
                } else {
                    Outcome::Ok
                },
                ..Probe::default()
            }
        })
        .collect();
    let mut moved = probes.clone();
    moved.rotate_right(1);
    let mut summaries = Vec::new();
    for ps in [&probes, &moved] {
        // The same agent's name in both (the windows name their agents).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe-node.log");
        let mut w =
            LogWriter::new(std::fs::File::create(&path).unwrap(), &Header::example()).unwrap();
        for p in ps {
            w.push(p).unwrap();
        }
        w.finish().unwrap();
        let a = crate::Analysis::run(&path, &AnalyzeOptions::default()).unwrap();
        summaries.push(a.report.agents[0].summary.clone());
    }
    assert_eq!(summaries[0].windows.len(), 1);
    assert_eq!(summaries[0], summaries[1]);
}

#[test]
fn the_fold_refuses_a_probe_out_of_order() {
    let mut fold = Fold::new(0, None, None);
    fold.push(10, 1, 0, crate::load::CLASS_OK, 0).unwrap();
    let e = fold
        .push(9, 1, 0, crate::load::CLASS_OK, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not in start order"), "{e}");
}

/// Timing only (`--ignored`, release): the fold against the frame path's
/// plans and order statistics on the 10M synthetic run of the benchmark.
#[test]
#[ignore]
fn time_the_fold_against_the_frame() {
    let path = Path::new("/tmp/sb10m/probe-synthetic.log");
    let mut log = read_log(path, 0, crate::load::Keep::Columns, 2)
        .unwrap()
        .remove(0);
    let mut names = Vec::new();
    log.remap(&mut names);
    let frame = probe_frame(vec![std::mem::take(&mut log.cols)], log.sorted).unwrap();
    let ctx = Ctx {
        bin_ns: 1_000_000_000,
        backends: names.len() as u32,
    };
    let clock = std::time::Instant::now();
    let _tables = collect(vec![plans(frame.clone().lazy(), ctx)]).unwrap();
    let _st = probe_stats(&frame, None).unwrap();
    eprintln!("frame path: {:?}", clock.elapsed());
    let clock = std::time::Instant::now();
    let probes = Probes::new(vec![frame]);
    let _ = super::fold(&probes, ctx, None).unwrap();
    eprintln!("fold: {:?}", clock.elapsed());
}
