//! What `report`, `compare` and `export` write: report.json against its
//! checked-in schema, Markdown, PNG and SVG plots, comparison, exports.

use crate::common::{P, STEP, pattern, run_dir, wall, write_log};
use polars::prelude::*;
use seamless_analyzer::synth::{INJECTED, SynthSpec, generate};
use seamless_analyzer::{
    Analysis, AnalyzeOptions, ExportFormat, compare, compare_table, export, markdown,
};
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

pub(crate) fn schema() -> jsonschema::Validator {
    let text = include_str!("../../schema/report.schema.json");
    let schema: serde_json::Value = serde_json::from_str(text).unwrap();
    jsonschema::validator_for(&schema).expect("the schema itself is valid")
}

pub(crate) fn assert_valid(v: &jsonschema::Validator, json: &serde_json::Value) {
    let errors: Vec<String> = v
        .iter_errors(json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json breaks its schema: {errors:#?}"
    );
}

/// A run with two agents, a torn log, an unbounded window and a timeline.
fn rich_run(dir: &std::path::Path) {
    let events = [
        Event::new(wall(2), EventKind::PatchSent),
        Event::new(wall(5), EventKind::PodTerminating)
            .with_object(ObjectRef::new("Pod", "web-old")),
        Event::new(wall(14), EventKind::RolloutComplete),
    ];
    run_dir(
        dir,
        &[
            ("a", pattern("....xxx..BBBBB.l..x", STEP)),
            ("b", pattern("xx......rr.......", STEP)),
        ],
        &events,
    );
    let torn = dir.join("probe-c.log");
    write_log(&torn, &pattern(".....x....", STEP), false);
    let len = std::fs::metadata(&torn).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&torn).unwrap();
    f.set_len(len - 3).unwrap();
}

#[test]
fn report_json_follows_the_checked_in_schema() {
    let v = schema();
    let dir = tempfile::tempdir().unwrap();
    rich_run(dir.path());
    let a = Analysis::run(dir.path(), &AnalyzeOptions::default()).unwrap();
    a.write(dir.path(), false).unwrap();
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_valid(&v, &json);
    assert_eq!(a.report.agents.len(), 3);
    assert!(a.report.agents[2].torn.is_some());
    assert!(json["merged"]["windows"].as_array().unwrap().len() >= 3);
    // Round trip: what is written is what the library returned (every
    // time and count exactly; floats may differ in the last digit).
    let back: seamless_analyzer::Report = serde_json::from_str(&text).unwrap();
    let key = |r: &seamless_analyzer::Report| {
        r.merged
            .windows
            .iter()
            .map(|w| {
                (
                    w.first_fail_ns,
                    w.last_fail_ns,
                    w.last_ok_before_ns,
                    w.first_ok_after_ns,
                    w.failed,
                    w.total,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&back), key(&a.report));
    assert_eq!(back.merged.downtime, a.report.merged.downtime);
    assert_eq!(back.agents[2].torn, a.report.agents[2].torn);

    // The schema is not a rubber stamp.
    let mut bad = json.clone();
    bad["merged"]["windows"][0]
        .as_object_mut()
        .unwrap()
        .remove("failed");
    assert!(!v.is_valid(&bad));
    let mut bad = json.clone();
    bad["merged"]["downtime"]["lower_ns"] = serde_json::json!(-5);
    assert!(!v.is_valid(&bad));
    let mut bad = json;
    bad["surprise"] = serde_json::json!(1);
    assert!(!v.is_valid(&bad));
}

#[test]
fn synthetic_run_report_follows_the_schema_and_finds_the_injected_outages() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SynthSpec {
        probes: 40_000,
        rate_per_s: 20_000.0,
        seed: 7,
    };
    let truth = generate(dir.path(), &spec).unwrap();
    let opts = AnalyzeOptions {
        merge_successes: 20,
        ..Default::default()
    };
    let a = Analysis::run(dir.path(), &opts).unwrap();
    assert_valid(&schema(), &serde_json::to_value(&a.report).unwrap());
    let m = &a.report.merged;
    assert_eq!(m.totals.probes, truth.probes);
    assert_eq!(m.totals.failed, truth.failed);
    assert_eq!(m.totals.local_errors, truth.local_errors);
    assert_eq!(m.windows.len(), truth.outages.len(), "{:#?}", m.windows);
    let slack = 100_000; // two probe intervals
    for ((w, o), injected) in m.windows.iter().zip(&truth.outages).zip(INJECTED) {
        // The failures lie inside the outage.
        assert!(w.first_fail_ns >= o.start_ns && w.last_fail_ns <= o.end_ns);
        let (before, after) = (w.last_ok_before_ns.unwrap(), w.first_ok_after_ns.unwrap());
        if injected.fail_prob >= 1.0 {
            // A full outage: the upper bound covers it, within a probe
            // interval either side.
            assert!(before <= o.start_ns && after >= o.end_ns, "{w:#?} vs {o:?}");
            assert!(before >= o.start_ns - slack && after <= o.end_ns + slack);
        } else {
            // A partial one: bounds near its edges, the ratio near the odds.
            assert!((before - o.start_ns).abs() < slack && (after - o.end_ns).abs() < slack);
            assert!((w.ratio - injected.fail_prob).abs() < 0.15, "{}", w.ratio);
        }
    }
    assert_eq!(a.report.scenario.as_deref(), Some("synthetic 40000 probes"));
    assert!(a.report.rollout.is_some());
}

#[test]
fn plots_render_with_title_axes_events_and_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let events = [
        Event::new(wall(3), EventKind::PatchSent),
        Event::new(wall(30), EventKind::EndpointRemoved)
            .with_object(ObjectRef::new("EndpointSlice", "web-abc")),
        Event::new(wall(60), EventKind::RolloutComplete),
    ];
    // 37 refused, 2 resets.
    let p = format!(
        "{}{}{}rr{}",
        ".".repeat(25),
        "x".repeat(37),
        ".".repeat(10),
        "B".repeat(20)
    );
    run_dir(dir.path(), &[("node-a", pattern(&p, STEP))], &events);
    std::fs::write(
        dir.path().join("run.json"),
        br#"{"scenario": "pod-clusterip-no-prestop"}"#,
    )
    .unwrap();
    let a = Analysis::run(dir.path(), &AnalyzeOptions::default()).unwrap();
    let svg = seamless_analyzer::plot::run_svg(&a).unwrap();
    for text in [
        "pod-clusterip-no-prestop: downtime",
        "seconds since probing started",
        "response time (s)",
        "success ratio",
        "endpoint_removed web-abc",
        "failed: connect_refused (37)",
        "failed: reset (2)",
        "answered by b",
    ] {
        assert!(svg.contains(text), "the SVG lacks {text:?}");
    }
    // Every failed probe is drawn: two strokes a cross, plus the legend's.
    let refused = svg.matches("stroke=\"#D62728\"").count();
    assert_eq!(refused, 2 * 37 + 2);

    let out = tempfile::tempdir().unwrap();
    a.write(out.path(), true).unwrap();
    let png = std::fs::read(out.path().join("plot.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "PNG is only {} bytes", png.len());
    let svg_file = std::fs::read_to_string(out.path().join("plot.svg")).unwrap();
    assert!(svg_file.starts_with("<svg") && svg_file.contains("response time (s)"));
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert_eq!(md, markdown(&a.report));
    assert!(
        md.contains("| 1 | node-a |") && md.contains("connect_refused 37"),
        "{md}"
    );
}

#[test]
fn compare_groups_runs_and_keeps_every_run() {
    let root = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for (scenario, p) in [
        ("s-no-prestop", "....xxxx...."),
        ("s-no-prestop", "....xx......"),
        ("s-no-prestop", "...xxxxxx..."),
        ("s-prestop", "............"),
        ("s-prestop", "............"),
    ] {
        let dir = root
            .path()
            .join(scenario)
            .join(format!("run-{:02}", runs.len() + 1));
        std::fs::create_dir_all(&dir).unwrap();
        run_dir(&dir, &[("a", pattern(p, STEP))], &[]);
        let mut info = seamless_proto::RunInfo::read(&dir).unwrap_or_default();
        info.scenario = Some(scenario.into());
        info.trigger = Some(if runs.len() % 2 == 0 { "even" } else { "odd" }.into());
        info.write(&dir).unwrap();
        runs.push(dir);
    }
    let paths: Vec<&std::path::Path> = runs.iter().map(std::path::PathBuf::as_path).collect();
    let c = compare(&paths, &AnalyzeOptions::default(), None).unwrap();
    assert_eq!(c.group_by, "scenario");
    assert_eq!(c.runs.len(), 5);
    assert_eq!(c.runs[0].run, "s-no-prestop/run-01");
    assert_eq!((c.runs[0].failed, c.runs[0].windows), (4, 1));
    assert_eq!(c.runs[0].lower_ns, 3 * STEP as i64);
    assert_eq!(c.runs[0].upper_ns, Some(5 * STEP as i64));
    assert!(!c.runs[0].from_report);
    let g = &c.groups;
    assert_eq!(g.len(), 2);
    assert_eq!(
        (g[0].group.as_str(), g[0].prestop),
        ("s-no-prestop", Some(false))
    );
    assert_eq!((g[0].runs, g[0].runs_failed), (3, 3));
    // Lower bounds 1, 3 and 5 steps: median 3, max 5.
    assert_eq!(g[0].lower.median_ns, Some(3 * STEP as i64));
    assert_eq!(g[0].lower.max_ns, Some(5 * STEP as i64));
    assert_eq!(
        (g[0].failed_median, g[0].failed_max, g[0].failed_total),
        (4, 6, 12)
    );
    assert_eq!(
        (g[1].runs, g[1].runs_failed, g[1].prestop),
        (2, 0, Some(true))
    );
    let table = compare_table(&c);
    assert!(table.contains("| s-no-prestop | 3 | 3 |"), "{table}");
    assert!(
        table.contains("| s-prestop/run-05 | s-prestop | 12 | 0 |"),
        "{table}"
    );
    let svg = seamless_analyzer::plot::compare_svg(&c).unwrap();
    assert!(svg.contains("s-no-prestop") && svg.contains("downtime (ms)"));
    assert!(svg.contains("without preStop") && svg.contains("with preStop"));
    assert!(
        svg.contains("no failed probe in any of the 2 runs"),
        "{svg}"
    );
    assert!(!svg.contains("upper bound open"), "{svg}");
    // Every run a dot: one circle per run plus the legend's two.
    assert_eq!(svg.matches("<circle").count(), 5 + 2, "{svg}");

    // By another key of run.json.
    let by = compare(&paths, &AnalyzeOptions::default(), Some("trigger")).unwrap();
    let names: Vec<&str> = by.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names, ["even", "odd"]);
    assert_eq!((by.groups[0].runs, by.groups[1].runs), (3, 2));
    let none = compare(&paths, &AnalyzeOptions::default(), Some("lab.nothing")).unwrap();
    assert_eq!(none.groups[0].group, "(none)");

    // A run without probe logs is read from its report.json.
    let a = Analysis::run(&runs[1], &AnalyzeOptions::default()).unwrap();
    a.write(&runs[1], false).unwrap();
    std::fs::remove_file(runs[1].join("probe-a.log")).unwrap();
    let again = compare(&paths, &AnalyzeOptions::default(), None).unwrap();
    assert!(again.runs[1].from_report);
    assert_eq!(again.groups, c.groups);
    assert!(compare_table(&again).contains("| s-no-prestop/run-02 (report.json) |"));
}

#[test]
fn compare_says_when_a_runs_upper_bound_is_open() {
    let root = tempfile::tempdir().unwrap();
    let ends_failing = root.path().join("ends-failing");
    let bounded = root.path().join("bounded");
    std::fs::create_dir_all(&ends_failing).unwrap();
    std::fs::create_dir_all(&bounded).unwrap();
    run_dir(&ends_failing, &[("a", pattern("........xxxx", STEP))], &[]);
    run_dir(&bounded, &[("a", pattern("..xx........", STEP))], &[]);
    let c = compare(
        &[ends_failing.as_path(), bounded.as_path()],
        &AnalyzeOptions::default(),
        None,
    )
    .unwrap();
    assert_eq!(c.runs[0].upper_ns, None);
    assert_eq!(c.runs[1].upper_ns, Some(3 * STEP as i64));
    assert_eq!(c.groups[0].upper_open, 1);
    let svg = seamless_analyzer::plot::compare_svg(&c).unwrap();
    assert_eq!(svg.matches("upper bound open").count(), 1, "{svg}");
    assert!(compare_table(&c).contains(".. open"));
}

#[test]
fn the_comparison_figure_is_1400x900_for_8_groups_of_10() {
    let row = |group: &str, i: i64| seamless_analyzer::CompareRow {
        run: format!("{group}/run-{i:02}"),
        group: group.into(),
        name: group.into(),
        source: String::new(),
        from_report: true,
        probes: 10_000,
        failed: if group.ends_with("no-prestop") {
            100 + i as u64
        } else {
            0
        },
        local_errors: 0,
        kinds: Default::default(),
        windows: 1,
        lower_ns: i * 10_000_000,
        upper_ns: Some(i * 10_000_000 + 4_000_000),
        interval_ns: 200_000,
    };
    let mut runs = Vec::new();
    for s in ["a", "b", "c", "d"] {
        for p in ["no-prestop", "prestop"] {
            for i in 1..=10 {
                runs.push(row(&format!("{s}-{p}"), i));
            }
        }
    }
    let c = seamless_analyzer::Comparison {
        group_by: "scenario".into(),
        groups: seamless_analyzer::compare::groups(&runs),
        runs,
    };
    let svg = seamless_analyzer::plot::compare_svg(&c).unwrap();
    assert!(
        svg.contains(r#"width="1400""#) && svg.contains(r#"height="900""#),
        "{}",
        &svg[..300]
    );
    assert_eq!(svg.matches("<circle").count(), 80 + 2);
    let dir = tempfile::tempdir().unwrap();
    seamless_analyzer::plot::compare_png(&c, &dir.path().join("c.png")).unwrap();
}

#[test]
fn export_writes_every_probe_as_csv_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let b: Vec<P> = pattern("..l.xB", STEP)
        .into_iter()
        .map(|p| P {
            start: p.start + 1,
            ..p
        })
        .collect();
    run_dir(dir.path(), &[("a", pattern("..x..", STEP)), ("b", b)], &[]);
    let csv = dir.path().join("probes.csv");
    let n = export(
        dir.path(),
        &AnalyzeOptions::default(),
        ExportFormat::Csv,
        &csv,
    )
    .unwrap();
    assert_eq!(n, 11);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(
        lines[0],
        seamless_proto::row::COLUMNS.join(","),
        "the columns of proto's probe row, in its order"
    );
    // Sorted by start across agents: a's probe 0, then b's.
    assert!(
        lines[1].starts_with(&format!("a,{}", wall(0))),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(&format!("b,{}", wall(0) + 1)),
        "{}",
        lines[2]
    );
    assert!(text.contains("local_port_exhausted,false,true,"));
    assert!(text.contains("connect_refused,true,false,"));

    let pq = dir.path().join("probes.parquet");
    export(
        dir.path(),
        &AnalyzeOptions::default(),
        ExportFormat::Parquet,
        &pq,
    )
    .unwrap();
    let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), 11);
    let failures = df.column("failure").unwrap().bool().unwrap().sum().unwrap();
    assert_eq!(failures, 2);
    let backends = df.column("backend").unwrap().null_count();
    assert_eq!(backends, 3, "failed and local probes name no backend");
}

#[test]
fn plots_of_degenerate_logs_still_render() {
    for p in ["x", "llll", "....", "xxxx"] {
        let dir = tempfile::tempdir().unwrap();
        run_dir(dir.path(), &[("a", pattern(p, STEP))], &[]);
        let a = Analysis::run(dir.path(), &AnalyzeOptions::default()).unwrap();
        let svg = seamless_analyzer::plot::run_svg(&a).unwrap();
        assert!(svg.contains("seconds since probing started"), "{p}");
        a.write(dir.path(), true).unwrap();
        assert!(
            std::fs::metadata(dir.path().join("plot.png"))
                .unwrap()
                .len()
                > 1000
        );
    }
}

/// The seed's scale: 15 events within 10 ms. The plot marks each event's
/// line with its number; the labels go to a table under the plots, one
/// row each at a place of its own, so none stacks over another or the data.
#[test]
fn event_labels_go_to_a_numbered_table_under_the_plots() {
    let dir = tempfile::tempdir().unwrap();
    let p = format!("{}{}{}", ".".repeat(500), "x".repeat(100), ".".repeat(500));
    let events: Vec<Event> = (0..15u64)
        .map(|i| {
            Event::new(wall(450 + i * 7), EventKind::EndpointChanged)
                .with_object(ObjectRef::new("EndpointSlice", format!("slice-{i:02}")))
        })
        .collect();
    run_dir(dir.path(), &[("a", pattern(&p, STEP))], &events);
    let a = Analysis::run(dir.path(), &AnalyzeOptions::default()).unwrap();
    let svg = seamless_analyzer::plot::run_svg(&a).unwrap();
    let mut places = Vec::new();
    for i in 0..15 {
        let label = format!("slice-{i:02}");
        let at = svg
            .find(&label)
            .unwrap_or_else(|| panic!("{label} missing"));
        assert_eq!(svg.matches(&label).count(), 1, "{label} written once");
        // The <text ...> element that holds it: its x and y.
        let open = svg[..at].rfind("<text").unwrap();
        let attr = |name: &str| -> f64 {
            let tag = &svg[open..at];
            let k = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            tag[k..k + tag[k..].find('"').unwrap()].parse().unwrap()
        };
        let (x, y) = (attr("x"), attr("y"));
        assert!(y > 860.0, "{label} at y {y}: below the plots");
        places.push((x as i64, y as i64));
    }
    places.sort_unstable();
    places.dedup();
    assert_eq!(places.len(), 15, "every label at a place of its own");
}
