//! report.html in a real browser: headless Chromium (Debian's `chromium`)
//! loads the file from disk, offline, with no script error; the chart draws
//! every failed probe; and a screenshot shows the chart with the failure
//! window shaded and the failed probes in their colour. Skipped where
//! Chromium is missing, except in CI (which installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use seamless_analyzer::{Analysis, AnalyzeOptions};
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

use crate::common::{STEP, pattern, run_dir, wall};

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|b| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| Path::new(d).join(b))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium for the report.html test"
        );
        eprintln!("skipping: no chromium on PATH");
    }
    found
}

/// Runs headless Chromium on `page` with `args`, a profile of its own.
fn browse(chrome: &Path, page: &Path, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1400,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium")
}

#[test]
fn the_html_report_draws_in_a_real_browser() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // 3000 probes, a full outage of 400 (connect refused) in the middle.
    let p = format!(
        "{}{}{}",
        ".".repeat(1300),
        "x".repeat(400),
        "B".repeat(1300)
    );
    let events = [
        Event::new(wall(1200), EventKind::PodTerminating)
            .with_object(ObjectRef::new("Pod", "web-old")),
        Event::new(wall(1800), EventKind::ProxyRulesSynced)
            .with_object(ObjectRef::new("Pod", "web-old")),
    ];
    run_dir(dir.path(), &[("node-c", pattern(&p, STEP))], &events);
    let a = Analysis::run(dir.path(), &AnalyzeOptions::default()).unwrap();
    a.write(dir.path(), false).unwrap();
    let page = dir.path().join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("uPlot") && !html.contains("src=\"http"),
        "self-contained"
    );

    let out = browse(&chrome, &page, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout);
    let body = dom
        .find("<body")
        .map(|i| &dom[i..dom[i..].find('>').map_or(dom.len(), |j| i + j)])
        .unwrap_or_else(|| panic!("no body in {dom}"));
    assert!(!body.contains("data-errors"), "script errors: {body}");
    assert!(body.contains("data-drawn=\"failed=400 "), "{body}");

    let shot = dir.path().join("shot.png");
    let out = browse(
        &chrome,
        &page,
        &[&format!("--screenshot={}", shot.display())],
    );
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let count = |f: &dyn Fn(&[u8]) -> bool| pixels.iter().filter(|p| f(p)).count();
    // The failed probes: connect_refused's #d62728.
    let red = count(&|p| p[0] == 214 && p[1] == 39 && p[2] == 40);
    // The window's band: rgba(214,39,40,0.18) over white, or over the
    // rollout's grey.
    let band = count(&|p| {
        (230..=250).contains(&p[0]) && (200..=220).contains(&p[1]) && (200..=220).contains(&p[2])
    });
    // Ok probes: #4a90d9.
    let blue = count(&|p| p[0] == 74 && p[1] == 144 && p[2] == 217);
    if std::env::var_os("KEEP_SHOT").is_some() {
        std::fs::copy(&shot, "/tmp/html-shot.png").unwrap();
    }
    assert!(red > 100, "failed probes drawn: {red} red pixels");
    assert!(band > 5_000, "the window shaded: {band} pixels");
    assert!(blue > 100, "ok probes drawn: {blue} pixels");
}
