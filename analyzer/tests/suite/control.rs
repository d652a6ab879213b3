//! A control target's agents (`run.json`'s `agents[].role: "control"`):
//! out of the merged view, shown apart, their time taken out of the
//! rolled Service's downtime within its bounds.

use seamless_analyzer::{AnalyzeOptions, analyze};

use crate::common::{STEP, pattern, run_dir};

fn roles(dir: &std::path::Path, with_roles: bool) {
    let mut info = seamless_proto::RunInfo::default();
    let role = |r: &str| if with_roles { Some(r.to_owned()) } else { None };
    info.extra.insert(
        "agents".into(),
        serde_json::json!([
            {"agent": "n.clusterip", "role": role("rolled"), "service": "web"},
            {"agent": "n.control-clusterip", "role": role("control"), "service": "control"}
        ]),
    );
    info.write(dir).unwrap();
}

/// A rolled agent whose probes 4..=11 fail (the rollout) and a control
/// agent whose probes 6 and 7 fail too (the network), with or without
/// their roles in run.json; analysed.
fn analysed(with_roles: bool) -> seamless_analyzer::Report {
    let dir = tempfile::tempdir().unwrap();
    run_dir(
        dir.path(),
        &[
            ("n.clusterip", pattern("....xxxxxxxx........", STEP)),
            ("n.control-clusterip", pattern("......tt............", STEP)),
        ],
        &[],
    );
    roles(dir.path(), with_roles);
    analyze(dir.path(), &AnalyzeOptions::default()).unwrap()
}

#[test]
fn the_control_is_apart_and_its_time_subtracted() {
    let r = analysed(true);
    assert_eq!(r.agents.len(), 2, "both agents keep their rows");
    let m = &r.merged;
    assert_eq!(m.totals.probes, 20, "the merged view is the rolled agent's");
    assert_eq!(m.totals.failed, 8);
    assert_eq!(m.windows.len(), 1);
    assert_eq!(m.windows[0].agents, ["n.clusterip"]);
    let c = r.control.as_ref().expect("a control block");
    assert_eq!(c.agents, ["n.control-clusterip"]);
    assert_eq!((c.probes, c.failed), (20, 2));
    assert_eq!(c.windows.len(), 1);
    assert_eq!(c.windows[0].kinds["connect_timeout"], 2);
    // The control may have failed from probe 5 to 8 (its ok probes), which
    // covers 3 intervals of the rollout's 4..11; it surely failed from 6
    // to 7, 1 interval of the rollout's 3..12.
    assert_eq!(c.net.shared_lower_ns, 3 * STEP as i64);
    assert_eq!(c.net.shared_upper_ns, STEP as i64);
    assert_eq!(c.net.lower_ns, m.downtime.lower_ns - 3 * STEP as i64);
    assert_eq!(c.net.upper_ns, m.downtime.upper_ns.map(|u| u - STEP as i64));
    crate::outputs::assert_valid(
        &crate::outputs::schema(),
        &serde_json::to_value(&r).unwrap(),
    );
    let md = seamless_analyzer::markdown(&r);
    assert!(md.contains("## Control target"), "{md}");
    assert!(md.contains("2 of 20 probes failed"), "{md}");
}

#[test]
fn without_roles_every_agent_is_merged() {
    let r = analysed(false);
    assert!(r.control.is_none());
    assert_eq!(r.merged.totals.probes, 40);
    let json = serde_json::to_value(&r).unwrap();
    assert!(json.get("control").is_none(), "no control key without one");
}
