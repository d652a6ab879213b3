//! The binary end to end: exit codes, files written, gate.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seamless-analyzer"))
}

#[test]
fn synthetic_run_reports_and_gate_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = bin()
        .args(["gen-synthetic", "--probes", "30000", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = bin().arg("report").arg(&run).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
