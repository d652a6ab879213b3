//! Exact windows, bounds and counts from hand-built logs; merging; several
//! agents; clock offsets.

use crate::common::{P, STEP, pattern, run_dir, wall, write_log};
use seamless_analyzer::{AnalyzeOptions, analyze};
use seamless_proto::timeline::{Event, EventKind};

/// The plain runs of failures (no merging).
fn plain() -> AnalyzeOptions {
    AnalyzeOptions {
        no_merge: true,
        ..Default::default()
    }
}

fn one_log(p: &str, opts: &AnalyzeOptions) -> seamless_analyzer::Report {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe-a.log");
    write_log(&path, &pattern(p, STEP), true);
    analyze(&path, opts).unwrap()
}

#[test]
fn exact_windows_bounds_and_counts() {
    //          0123456789012345678901234
    let p = "....xxx...x.rr...l.xlx..t";
    let r = one_log(p, &plain());
    let s = &r.merged;
    assert_eq!(s.totals.probes, 25);
    assert_eq!(s.totals.failed, 9);
    assert_eq!(s.totals.local_errors, 2);
    assert_eq!(s.totals.ok, 14);
    assert_eq!(s.totals.failed_by_kind["connect_refused"], 6);
    assert_eq!(s.totals.failed_by_kind["reset"], 2);
    assert_eq!(s.totals.failed_by_kind["connect_timeout"], 1);
    assert_eq!(s.totals.local_by_kind["local_port_exhausted"], 2);

    let w = &s.windows;
    assert_eq!(w.len(), 5, "{w:#?}");
    // xxx at 4..=6
    assert_eq!(w[0].first_fail_ns, wall(4));
    assert_eq!(w[0].last_fail_ns, wall(6));
    assert_eq!(w[0].last_ok_before_ns, Some(wall(3)));
    assert_eq!(w[0].first_ok_after_ns, Some(wall(7)));
    assert_eq!(w[0].lower_ns, 2 * STEP as i64);
    assert_eq!(w[0].upper_ns, Some(4 * STEP as i64));
    assert_eq!(w[0].edge_uncertainty_ns, 0);
    assert_eq!((w[0].failed, w[0].total), (3, 3));
    assert_eq!(w[0].kinds["connect_refused"], 3);
    assert_eq!(w[0].backend_before.as_deref(), Some("a"));
    // a single failure: lower 0, upper two intervals
    assert_eq!(w[1].first_fail_ns, wall(10));
    assert_eq!((w[1].lower_ns, w[1].upper_ns), (0, Some(2 * STEP as i64)));
    // resets
    assert_eq!(w[2].kinds["reset"], 2);
    assert_eq!(w[2].last_ok_before_ns, Some(wall(11)));
    assert_eq!(w[2].first_ok_after_ns, Some(wall(14)));
    // x l x: the local error neither breaks nor joins the window
    assert_eq!(w[3].first_fail_ns, wall(19));
    assert_eq!(w[3].last_fail_ns, wall(21));
    assert_eq!((w[3].failed, w[3].total), (2, 2));
    assert_eq!(w[3].last_ok_before_ns, Some(wall(18)));
    assert_eq!(w[3].first_ok_after_ns, Some(wall(22)));
    // the log ends failing: unbounded above
    assert_eq!(w[4].first_fail_ns, wall(24));
    assert_eq!(w[4].first_ok_after_ns, None);
    assert_eq!(w[4].upper_ns, None);

    let d = &s.downtime;
    assert_eq!(d.windows, 5);
    assert_eq!(d.failed, 9);
    assert_eq!(d.unbounded_windows, 1);
    assert_eq!(d.upper_ns, None);
    // 2 + 0 + 1 + 2 + 0 steps
    assert_eq!(d.lower_ns, 5 * STEP as i64);
    assert_eq!(s.interval.median_ns, STEP as i64);
    assert_eq!(s.interval.p99_ns, STEP as i64);
    assert!((s.totals.achieved_rate_per_s - 1e9 / STEP as f64).abs() < 1e-6);
}

#[test]
fn a_log_starting_with_failures_is_unbounded_below() {
    let r = one_log("xx...", &AnalyzeOptions::default());
    let w = &r.merged.windows[0];
    assert_eq!(w.last_ok_before_ns, None);
    assert_eq!(w.first_ok_after_ns, Some(wall(2)));
    assert_eq!(w.upper_ns, None);
    assert_eq!(r.merged.downtime.lower_ns, STEP as i64);
}

#[test]
fn no_failures_no_windows() {
    let r = one_log("..........", &AnalyzeOptions::default());
    assert!(r.merged.windows.is_empty());
    assert_eq!(r.merged.downtime.lower_ns, 0);
    assert_eq!(r.merged.downtime.upper_ns, Some(0));
}

#[test]
fn merging_across_successes_and_gaps() {
    //        0123456789012345
    let p = "...x.x..x....x..";
    let raw = one_log(p, &plain());
    assert_eq!(raw.merged.windows.len(), 4);

    let k1 = one_log(
        p,
        &AnalyzeOptions {
            merge_successes: 1,
            ..Default::default()
        },
    );
    let w = &k1.merged.windows;
    assert_eq!(w.len(), 3, "{w:#?}");
    assert_eq!((w[0].first_fail_ns, w[0].last_fail_ns), (wall(3), wall(5)));
    assert_eq!((w[0].failed, w[0].total), (2, 3));
    assert!((w[0].ratio - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(w[0].last_ok_before_ns, Some(wall(2)));
    assert_eq!(w[0].first_ok_after_ns, Some(wall(6)));
    // A partial window: at a failure ratio of 2/3, a run of 7 successes is
    // the first with less than a 0.1% chance, so each edge may hide 6 steps.
    assert_eq!(w[0].edge_uncertainty_ns, 6 * STEP as i64);
    assert_eq!(w[0].upper_ns, Some((4 + 2 * 6) * STEP as i64));

    let k2 = one_log(
        p,
        &AnalyzeOptions {
            merge_successes: 2,
            ..Default::default()
        },
    );
    let w = &k2.merged.windows;
    assert_eq!(w.len(), 2);
    assert_eq!((w[0].first_fail_ns, w[0].last_fail_ns), (wall(3), wall(8)));
    assert_eq!((w[0].failed, w[0].total), (3, 6));
    assert_eq!(w[1].first_fail_ns, wall(13));

    // By time: failures 2 steps apart join, 3 steps apart do not.
    let gap = one_log(
        p,
        &AnalyzeOptions {
            merge_gap_ns: Some(2 * STEP as i64),
            ..Default::default()
        },
    );
    let w = &gap.merged.windows;
    assert_eq!(w.len(), 3);
    assert_eq!((w[0].first_fail_ns, w[0].last_fail_ns), (wall(3), wall(5)));
    // The totals never change with merging.
    assert_eq!(gap.merged.totals.failed, 4);
    assert_eq!(gap.merged.downtime.failed, 4);
}

#[test]
fn several_agents_and_the_union_of_their_windows() {
    let dir = tempfile::tempdir().unwrap();
    // Agent b probes 50 us after a; their outages overlap.
    let b: Vec<P> = pattern("......xxxx.....x.", STEP)
        .into_iter()
        .map(|p| P {
            start: p.start + STEP / 2,
            ..p
        })
        .collect();
    run_dir(
        dir.path(),
        &[("a", pattern("....xxx..........", STEP)), ("b", b)],
        &[],
    );
    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    assert_eq!(r.agents.len(), 2);
    assert_eq!(r.agents[0].name, "a");
    assert_eq!(r.agents[0].summary.windows.len(), 1);
    assert_eq!(r.agents[1].summary.windows.len(), 2);
    let m = &r.merged;
    assert_eq!(m.totals.probes, 34);
    assert_eq!(m.totals.failed, 8);
    assert_eq!(m.windows.len(), 2, "{:#?}", m.windows);
    let w = &m.windows[0];
    assert_eq!(w.agents, ["a", "b"]);
    assert_eq!(w.failed, 7);
    assert_eq!(w.first_fail_ns, wall(4));
    assert_eq!(w.last_fail_ns, wall(9) + STEP as i64 / 2);
    assert_eq!(w.last_ok_before_ns, Some(wall(3)));
    assert_eq!(w.first_ok_after_ns, Some(wall(10) + STEP as i64 / 2));
    assert_eq!(m.windows[1].agents, ["b"]);
    assert_eq!(m.downtime.failed, m.totals.failed);
    // Merged gaps interleave the two agents: half a step.
    assert_eq!(m.interval.median_ns, STEP as i64 / 2);
}

#[test]
fn clock_offset_moves_an_agent_onto_the_controller_clock() {
    let dir = tempfile::tempdir().unwrap();
    run_dir(dir.path(), &[("a", pattern("..xx..", STEP))], &[]);
    let mut o = AnalyzeOptions::default();
    o.add_clock_offset("a=-1ms").unwrap();
    let r = analyze(dir.path(), &o).unwrap();
    assert_eq!(r.agents[0].clock_offset_ns, -1_000_000);
    assert_eq!(r.merged.windows[0].first_fail_ns, wall(2) - 1_000_000);
    let other = {
        let mut o = AnalyzeOptions::default();
        o.add_clock_offset("someone-else=5ms").unwrap();
        analyze(dir.path(), &o).unwrap()
    };
    assert_eq!(other.merged.windows[0].first_fail_ns, wall(2));
}

#[test]
fn timeline_phases_backends_and_switch() {
    let dir = tempfile::tempdir().unwrap();
    //                  0123456789012345678
    let probes = pattern("......xx.BBBBBBBBBB", STEP);
    let events = [
        Event::new(wall(3), EventKind::PatchSent),
        Event::new(wall(5), EventKind::PodTerminating),
        Event::new(wall(12), EventKind::RolloutComplete),
        Event::new(wall(18) + 1, EventKind::RunEnd),
    ];
    run_dir(dir.path(), &[("a", probes)], &events);
    let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    let rollout = r.rollout.unwrap();
    assert_eq!((rollout.start_ns, rollout.end_ns), (wall(3), wall(12)));
    assert_eq!(r.events.len(), 4);
    assert_eq!(r.events[1].kind, "pod_terminating");
    let phases: Vec<(&str, u64)> = r
        .merged
        .latency
        .iter()
        .map(|l| (l.phase.as_str(), l.count))
        .collect();
    // ok probes: 0-5 and 8-18; before = 0,1,2; during = 3,4,5,8..=12; after = 13..=18
    assert_eq!(
        phases,
        [("all", 17), ("before", 3), ("during", 8), ("after", 6)]
    );
    let b = &r.merged.backends;
    assert_eq!(b.len(), 2);
    assert_eq!((b[0].name.as_str(), b[0].probes), ("a", 7));
    assert_eq!((b[1].name.as_str(), b[1].probes), ("b", 10));
    let sw = r.merged.switch.as_ref().unwrap();
    assert_eq!((sw.from.as_str(), sw.to.as_str()), ("a", "b"));
    assert_eq!((sw.last_from_ns, sw.first_to_ns), (wall(8), wall(9)));
    let w = &r.merged.windows[0];
    assert_eq!(w.backend_before.as_deref(), Some("a"));
    assert_eq!(w.backend_after.as_deref(), Some("a"));
    // Bins hold every probe once.
    let bins = &r.merged.bins;
    assert_eq!(bins.bins.iter().map(|b| b.probes).sum::<u64>(), 19);
    assert_eq!(bins.bins.iter().map(|b| b.failed).sum::<u64>(), 2);
    let answered: u64 = bins.bins.iter().flat_map(|b| b.backends.values()).sum();
    assert_eq!(answered, 17);
}

#[test]
fn explicit_bins_follow_the_width() {
    let p = "..........xx........";
    let r = one_log(
        p,
        &AnalyzeOptions {
            bin_ns: Some(5 * STEP as i64),
            ..Default::default()
        },
    );
    let bins = &r.merged.bins;
    assert_eq!(bins.width_ns, 5 * STEP as i64);
    assert!(
        bins.bins
            .iter()
            .all(|b| b.start_ns % (5 * STEP as i64) == 0)
    );
    assert_eq!(bins.bins.iter().map(|b| b.probes).sum::<u64>(), 20);
    let with_failures: Vec<_> = bins.bins.iter().filter(|b| b.failed > 0).collect();
    assert_eq!(with_failures.len(), 1);
    assert_eq!(with_failures[0].ratio, Some(3.0 / 5.0));
}

#[test]
fn all_failed_and_all_local_logs() {
    let r = one_log("xxxx", &AnalyzeOptions::default());
    let w = &r.merged.windows;
    assert_eq!(w.len(), 1);
    assert_eq!(
        (w[0].last_ok_before_ns, w[0].first_ok_after_ns),
        (None, None)
    );
    assert_eq!(w[0].lower_ns, 3 * STEP as i64);
    assert_eq!(r.merged.downtime.unbounded_windows, 1);
    assert!(r.merged.latency.is_empty(), "no ok probe, no latency");

    let r = one_log("llll", &AnalyzeOptions::default());
    assert!(r.merged.windows.is_empty());
    assert_eq!(r.merged.totals.local_errors, 4);
    assert_eq!(r.merged.totals.failed, 0);
    assert_eq!(r.merged.downtime.upper_ns, Some(0));
}

#[test]
fn a_single_probe_log() {
    let r = one_log("x", &AnalyzeOptions::default());
    assert_eq!(r.merged.windows.len(), 1);
    assert_eq!(r.merged.interval.median_ns, 0);
    assert_eq!(r.merged.totals.achieved_rate_per_s, 0.0);
}
