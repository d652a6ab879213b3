//! The default merging of failure runs: a partial outage is one window; two
//! real outages stay two when the successes between them could not be
//! chance; `--merge-*` override it and `--no-merge` shows the plain runs.
//! On the committed lab runs: every no-preStop run is one window holding
//! the ground truth, without flags.

use std::path::{Path, PathBuf};

use crate::common::{STEP, pattern, wall, write_log};
use seamless_analyzer::{AnalyzeOptions, Report, analyze, check_truth};

/// A seeded pattern: `n` probes failing with probability `ratio`.
fn partial(n: usize, ratio: f64, seed: &mut u64) -> String {
    (0..n)
        .map(|_| {
            // xorshift64*: reproducible without a dependency.
            *seed ^= *seed >> 12;
            *seed ^= *seed << 25;
            *seed ^= *seed >> 27;
            let r = (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
            if r < ratio { 'x' } else { '.' }
        })
        .collect()
}

fn one_log(p: &str, opts: &AnalyzeOptions) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe-a.log");
    write_log(&path, &pattern(p, STEP), true);
    analyze(&path, opts).unwrap()
}

/// Longest run of `.` strictly between the first and the last `x`.
fn longest_inside(p: &str) -> usize {
    let (a, b) = (p.find('x').unwrap(), p.rfind('x').unwrap());
    p[a..=b].split('x').map(str::len).max().unwrap_or(0)
}

#[test]
fn a_partial_outage_is_one_window_by_default() {
    for (seed, ratio) in [(1u64, 0.5), (2, 0.5), (3, 0.3), (4, 0.7), (5, 0.5)] {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let outage = partial(600, ratio, &mut s);
        let p = format!("{}{outage}{}", ".".repeat(500), ".".repeat(500));
        let r = one_log(&p, &AnalyzeOptions::default());
        let w = &r.merged.windows;
        assert_eq!(w.len(), 1, "seed {seed} ratio {ratio}: {w:#?}");
        let failed = p.matches('x').count() as u64;
        assert_eq!(w[0].failed, failed);
        let k = w[0].split_successes.expect("the automatic rule says its k");
        assert!((longest_inside(&p) as u64) < k);
        // The plain runs are many.
        let plain = one_log(
            &p,
            &AnalyzeOptions {
                no_merge: true,
                ..Default::default()
            },
        );
        assert!(plain.merged.windows.len() > 20);
        assert!(
            plain
                .merged
                .windows
                .iter()
                .all(|w| w.split_successes.is_none())
        );
    }
}

#[test]
fn two_outages_close_together_stay_two() {
    let mut s = 0x2545_f491_4f6c_dd1d;
    let a = partial(300, 0.5, &mut s);
    let b = partial(300, 0.5, &mut s);
    // Make each outage start and end with a failure, so the gap is exact.
    let trim = |o: String| format!("x{}x", &o[1..o.len() - 1]);
    let (a, b) = (trim(a), trim(b));
    // 40 successes: 4 ms at 10,000/s; at ratio 0.5 a run of 40 by chance
    // inside one outage is about 1e-12.
    let p = format!(
        "{}{a}{}{b}{}",
        ".".repeat(200),
        ".".repeat(40),
        ".".repeat(200)
    );
    let r = one_log(&p, &AnalyzeOptions::default());
    let w = &r.merged.windows;
    let brief: Vec<_> = w
        .iter()
        .map(|w| {
            (
                w.first_fail_ns - wall(0),
                w.failed,
                w.total,
                w.split_successes,
            )
        })
        .collect();
    assert_eq!(w.len(), 2, "{brief:?}");
    assert_eq!(w[0].first_fail_ns, wall(200));
    assert_eq!(w[0].last_fail_ns, wall(499));
    assert_eq!(w[1].first_fail_ns, wall(540));
    assert_eq!(w[1].last_fail_ns, wall(839));
    assert!(w[0].split_successes.unwrap() <= 40);
    // A fixed rule replaces the automatic one: 5 ms joins them.
    let gap = one_log(
        &p,
        &AnalyzeOptions {
            merge_gap_ns: Some(5_000_000),
            ..Default::default()
        },
    );
    assert_eq!(gap.merged.windows.len(), 1);
    assert_eq!(gap.merged.windows[0].split_successes, None);

    // Full outages: three successes between them cannot be chance.
    let p = format!(
        "{}{}...{}{}",
        ".".repeat(50),
        "x".repeat(30),
        "x".repeat(30),
        ".".repeat(50)
    );
    assert_eq!(
        one_log(&p, &AnalyzeOptions::default()).merged.windows.len(),
        2
    );
}

#[test]
fn scattered_failures_are_no_outage() {
    // One failure every 300 probes: 0.3%, thinner than any partial outage.
    let p = format!(
        "{}{}",
        ".".repeat(10),
        format!("x{}", ".".repeat(299)).repeat(12)
    );
    let r = one_log(&p, &AnalyzeOptions::default());
    assert_eq!(r.merged.windows.len(), 12);
}

fn lab_runs() -> Vec<PathBuf> {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lab-emulated");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&results)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|s| s.file_name().to_string_lossy().ends_with("-no-prestop"))
        .flat_map(|s| std::fs::read_dir(s.path()).into_iter().flatten().flatten())
        .map(|r| r.path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    runs.sort();
    runs
}

#[test]
fn every_no_prestop_lab_run_is_one_window_holding_the_truth_without_flags() {
    let runs = lab_runs();
    assert!(
        runs.len() >= 4,
        "results/lab-emulated/ holds the no-preStop runs"
    );
    let mut analysed = 0;
    for run in &runs {
        // The committed report.json was written with the default options.
        let c = check_truth(run, &AnalyzeOptions::default(), false).unwrap();
        assert!(c.ok(), "{}: {:?}", run.display(), c.problems);
        let text = std::fs::read_to_string(run.join("report.json")).unwrap();
        let report: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(
            report.options,
            AnalyzeOptions::default(),
            "{}",
            run.display()
        );
        // Where the probe log is here (every run-01 is committed whole; a
        // regenerated results/lab-emulated has them all), analyse it afresh.
        if std::fs::read_dir(run)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("probe-"))
        {
            let r = analyze(run, &AnalyzeOptions::default()).unwrap();
            assert_eq!(r.merged.windows.len(), 1, "{}", run.display());
            let c = check_truth(run, &AnalyzeOptions::default(), true).unwrap();
            assert!(c.ok(), "{}: {:?}", run.display(), c.problems);
            analysed += 1;
        }
    }
    assert!(analysed >= 4, "every scenario's run-01 has its probe log");
}

#[test]
fn the_command_line_merges_by_default_and_no_merge_shows_the_runs() {
    let run = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../results/lab-emulated/host-clusterip-no-prestop/run-01");
    let out = tempfile::tempdir().unwrap();
    let report = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_seamless-analyzer"))
            .arg("report")
            .arg(&run)
            .arg("--out")
            .arg(out.path())
            .arg("--no-plot")
            .args(extra)
            .output()
            .unwrap()
    };
    let auto = report(&[]);
    assert!(auto.status.success());
    let text = String::from_utf8_lossy(&auto.stdout);
    assert!(text.contains("in 1 window(s)"), "{text}");
    assert!(text.contains("less than 0.1% chance"), "{text}");
    let raw = report(&["--no-merge"]);
    let text = String::from_utf8_lossy(&raw.stdout);
    assert!(raw.status.success());
    assert!(!text.contains("in 1 window(s)"), "{text}");
    assert!(text.contains("--no-merge"), "{text}");
    let both = report(&["--no-merge", "--merge-gap", "5ms"]);
    assert_eq!(both.status.code(), Some(2));
}
