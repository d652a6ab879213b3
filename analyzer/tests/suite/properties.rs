//! Property tests: random logs against a naive reference, and the
//! invariants every report keeps.

use crate::common::{ANCHOR, P, run_dir};
use proptest::prelude::*;
use seamless_analyzer::{AnalyzeOptions, Window, analyze};
use seamless_proto::Outcome;

/// A random probe: gap after the previous one (ns) and class.
fn probes() -> impl Strategy<Value = Vec<(u64, u8)>> {
    prop::collection::vec((0u64..300_000, 0u8..10), 1..120)
}

fn to_log(raw: &[(u64, u8)]) -> Vec<P> {
    let mut t = 1_000_000;
    raw.iter()
        .map(|&(gap, c)| {
            t += gap;
            let (outcome, backend) = match c {
                0..=5 => (Outcome::Ok, Some("a")),
                6 | 7 => (Outcome::ConnectRefused, None),
                8 => (Outcome::Reset, None),
                _ => (Outcome::LocalFdExhausted, None),
            };
            P {
                start: t,
                outcome,
                backend,
            }
        })
        .collect()
}

/// A window as (first fail, last fail, ok before, ok after, failed, total).
type Expected = (i64, i64, Option<i64>, Option<i64>, u64, u64);

/// The windows by the book: walk the probes in order, skipping local errors.
fn reference(log: &[P], k: u64, gap: Option<i64>) -> Vec<Expected> {
    let rows: Vec<(i64, bool)> = log
        .iter()
        .filter(|p| !p.outcome.is_local())
        .map(|p| (ANCHOR + p.start as i64, p.outcome.is_failure()))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        if !rows[i].1 {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        // Extend over the next failure while it joins.
        while let Some(next) = (end + 1..rows.len()).find(|&n| rows[n].1) {
            let oks = (next - end - 1) as u64;
            let joins = (k > 0 && oks <= k) || gap.is_some_and(|g| rows[next].0 - rows[end].0 <= g);
            if oks == 0 || joins {
                end = next;
            } else {
                break;
            }
        }
        let failed = (start..=end).filter(|&n| rows[n].1).count() as u64;
        out.push((
            rows[start].0,
            rows[end].0,
            start.checked_sub(1).map(|n| rows[n].0),
            rows.get(end + 1).map(|r| r.0),
            failed,
            (end - start + 1) as u64,
        ));
        i = end + 1;
    }
    out
}

fn check_invariants(windows: &[Window], failed_total: u64) {
    let mut failed = 0;
    for w in windows {
        assert!(w.first_fail_ns <= w.last_fail_ns);
        assert_eq!(w.lower_ns, w.last_fail_ns - w.first_fail_ns);
        if let Some(b) = w.last_ok_before_ns {
            assert!(b <= w.first_fail_ns);
        }
        if let Some(a) = w.first_ok_after_ns {
            assert!(a >= w.last_fail_ns);
        }
        if let Some(u) = w.upper_ns {
            assert!(w.lower_ns <= u, "lower {} > upper {u}", w.lower_ns);
        }
        assert!(w.failed >= 1 && w.failed <= w.total);
        assert!(w.ratio > 0.0 && w.ratio <= 1.0);
        assert_eq!(w.kinds.values().sum::<u64>(), w.failed);
        failed += w.failed;
    }
    for pair in windows.windows(2) {
        assert!(
            pair[0].last_fail_ns <= pair[1].first_fail_ns,
            "windows overlap: {pair:#?}"
        );
        if let (Some(after), Some(before)) = (pair[0].first_ok_after_ns, pair[1].last_ok_before_ns)
        {
            assert!(after <= before, "extents overlap: {pair:#?}");
        }
    }
    assert_eq!(failed, failed_total, "window failures do not add up");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn windows_match_the_reference(raw in probes(), k in 0u64..4, gap in prop::option::of(0i64..400_000)) {
        let dir = tempfile::tempdir().unwrap();
        let log = to_log(&raw);
        run_dir(dir.path(), &[("a", log.clone())], &[]);
        let opts = AnalyzeOptions { merge_successes: k, merge_gap_ns: gap, no_merge: k == 0 && gap.is_none(), ..Default::default() };
        let r = analyze(dir.path(), &opts).unwrap();
        let got: Vec<_> = r.merged.windows.iter().map(|w| (
            w.first_fail_ns, w.last_fail_ns, w.last_ok_before_ns, w.first_ok_after_ns, w.failed, w.total,
        )).collect();
        prop_assert_eq!(got, reference(&log, k, gap));
        check_invariants(&r.merged.windows, r.merged.totals.failed);
        let t = &r.merged.totals;
        prop_assert_eq!(t.probes, log.len() as u64);
        prop_assert_eq!(t.ok + t.failed + t.local_errors, t.probes);
    }

    #[test]
    fn merged_agents_keep_the_invariants(a in probes(), b in probes()) {
        let dir = tempfile::tempdir().unwrap();
        run_dir(dir.path(), &[("a", to_log(&a)), ("b", to_log(&b))], &[]);
        let r = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
        check_invariants(&r.merged.windows, r.merged.totals.failed);
        for agent in &r.agents {
            check_invariants(&agent.summary.windows, agent.summary.totals.failed);
        }
        prop_assert_eq!(
            r.merged.totals.probes,
            r.agents.iter().map(|a| a.summary.totals.probes).sum::<u64>()
        );
        let lower: i64 = r.merged.windows.iter().map(|w| w.lower_ns).sum();
        prop_assert_eq!(lower, r.merged.downtime.lower_ns);
    }
}
