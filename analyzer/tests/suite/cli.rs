//! The binary end to end: exit codes, files written, gate.

use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seamless-analyzer"))
}

/// Runs `cmd` and returns its output; fails the test with its stderr unless
/// it exits 0.
fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn synthetic_run_reports_and_gate_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    succeeds(
        bin()
            .args(["gen-synthetic", "--probes", "30000", "--out"])
            .arg(&run),
    );

    let out = succeeds(bin().arg("report").arg(&run));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("downtime"), "{table}");
    for f in ["report.json", "report.md", "plot.png", "plot.svg"] {
        let len = std::fs::metadata(run.join(f)).unwrap().len();
        assert!(len > 100, "{f} is {len} bytes");
    }

    let out = bin()
        .arg("report")
        .arg(&run)
        .args(["--no-plot", "--max-downtime", "1ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--max-downtime"), "{stderr}");

    let out = bin()
        .arg("report")
        .arg(&run)
        .args([
            "--no-plot",
            "--max-downtime",
            "10s",
            "--max-failed",
            "100000",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn missing_run_is_an_error_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("report")
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope"), "{stderr}");
}

#[test]
fn compare_and_export_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    for (run, seed) in [(&one, "1"), (&two, "2")] {
        succeeds(
            bin()
                .args(["gen-synthetic", "--probes", "5000", "--seed", seed, "--out"])
                .arg(run),
        );
    }
    let out_dir = dir.path().join("cmp");
    let out = succeeds(
        bin()
            .arg("compare")
            .arg(&one)
            .arg(&two)
            .arg("--out")
            .arg(&out_dir)
            .args(["--merge-gap", "2ms"]),
    );
    let table = String::from_utf8(out.stdout).unwrap();
    // One group row, then both runs with their ids.
    assert_eq!(table.matches("synthetic 5000 probes").count(), 3, "{table}");
    assert!(
        table.contains("| synthetic 5000 probes | 2 | 2 |"),
        "{table}"
    );
    for f in ["compare.md", "compare.json", "compare.png", "compare.svg"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }

    succeeds(bin().arg("export").arg(&one).arg("--csv"));
    let csv = std::fs::read_to_string(one.join("probes.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5001);

    // --parquet and --csv together are a usage error (clap: status 2).
    let out = bin()
        .arg("export")
        .arg(&one)
        .args(["--csv", "--parquet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A bare log, with its report written next to it.
    let log = one.join("probe-synthetic.log");
    let out_dir = dir.path().join("bare");
    let out = succeeds(
        bin()
            .arg("report")
            .arg(&log)
            .arg("--json")
            .arg("--out")
            .arg(&out_dir)
            .args(["--clock-offset", "-1ms", "--bin", "10ms"]),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["agents"][0]["clock_offset_ns"], -1_000_000);
    assert_eq!(json["merged"]["bins"]["width_ns"], 10_000_000);
    assert!(out_dir.join("plot.svg").is_file());

    let out = bin()
        .arg("report")
        .arg(&log)
        .args(["--merge-gap", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--merge-gap"));

    // One duration grammar (proto's): a unit on every number, no negative
    // lengths; a bad RUST_LOG is a warning, not an error.
    for (flag, value, why) in [
        ("--merge-gap", "5", "has no unit"),
        ("--bin", "0.5", "has no unit"),
        ("--max-downtime", "-1s", "is negative"),
        ("--clock-offset", "node-b=-3", "has no unit"),
    ] {
        let out = bin()
            .arg("report")
            .arg(&log)
            .args(["--no-plot", "--out"])
            .arg(&out_dir)
            .arg(format!("{flag}={value}"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag} {value}: {err}");
        assert!(err.contains(why), "{flag} {value}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = succeeds(
        bin()
            .arg("report")
            .arg(&log)
            .args(["--no-plot", "--out"])
            .arg(&out_dir)
            .env("RUST_LOG", "seamless_analyzer=loud"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a log filter"), "{err}");
}

#[test]
fn in_process_report_returns_the_gate_reasons() {
    use clap::Parser;
    use seamless_analyzer::cli::{Exit, Opts, run};

    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let missing_out =
        Opts::try_parse_from(["seamless-analyzer", "gen-synthetic", "--probes", "4000"])
            .map(|_| ())
            .unwrap_err();
    assert!(missing_out.to_string().contains("--out"), "{missing_out}");
    let opts = Opts::try_parse_from([
        "seamless-analyzer",
        "gen-synthetic",
        "--probes",
        "4000",
        "--out",
        run_dir.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(run(opts).unwrap(), Exit::Ok);
    let opts = Opts::try_parse_from([
        "seamless-analyzer",
        "report",
        run_dir.to_str().unwrap(),
        "--no-plot",
        "--max-failed",
        "0",
        "--max-downtime",
        "0s",
    ])
    .unwrap();
    match run(opts).unwrap() {
        Exit::GateExceeded(reasons) => {
            assert_eq!(reasons.len(), 2, "{reasons:?}");
            assert!(
                reasons[0].contains("exceeds --max-downtime 0 ns"),
                "{reasons:?}"
            );
            assert!(reasons[1].contains("exceed --max-failed 0"), "{reasons:?}");
        }
        Exit::Ok => panic!("the synthetic run has failures"),
    }
    assert!(run_dir.join("report.json").is_file());
    assert!(!run_dir.join("plot.png").exists(), "--no-plot");
}

#[test]
fn junit_and_json_for_pipelines() {
    let lab = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lab-emulated");
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = bin()
        .arg("report")
        .arg(lab.join("host-clusterip-no-prestop/run-01"))
        .arg("--out")
        .arg(dir.path())
        .args([
            "--no-plot",
            "--max-downtime",
            "0s",
            "--format",
            "json",
            "--junit",
        ])
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "the gate's exit code is unchanged"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["merged"]["downtime"]["windows"], 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains(r#"tests="2" failures="2""#), "{xml}");
    assert!(
        xml.contains(r#"name="agent node-a""#) && xml.contains(r#"name="merged""#),
        "{xml}"
    );
    assert!(xml.contains("exceeds --max-downtime 0 ns"), "{xml}");
    assert!(
        xml.contains("downtime 69.998 ms .. 74.575 ms in 1 window(s)"),
        "{xml}"
    );

    let out = bin()
        .arg("report")
        .arg(lab.join("host-clusterip-prestop/run-01"))
        .arg("--out")
        .arg(dir.path())
        .args(["--no-plot", "--max-downtime", "0s", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    assert!(out.status.success());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"tests="2" failures="0""#), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
}
