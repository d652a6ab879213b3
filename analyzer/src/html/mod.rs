//! `report.html`: the run's report in one self-contained file, the probes as
//! an interactive chart that opens offline.
//!
//! The chart is uPlot 1.6.32 (MIT, `analyzer/vendor/uplot-1.6.32/`, its
//! LICENSE beside it), inlined with the page's own script
//! (`report.js`). What it draws is reduced here, as the PNG's data is
//! ([`crate::plot`]): every failed probe with its record, and ok probes
//! thinned to one per occupied cell of a time x latency grid, each cell
//! keeping one real probe (its time, latency and backend, for the hover).
//! The grid is finer over the rollout, where a reader zooms into tens of
//! ms, than over the rest, so a 10-million-probe run stays a few MB.

mod data;

pub(crate) use data::ChartWalk;

use std::fmt::Write as _;

use crate::markdown::fmt_ns;
use crate::{Analysis, Result};

const UPLOT_JS: &str = include_str!("../../vendor/uplot-1.6.32/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../vendor/uplot-1.6.32/uPlot.min.css");
const REPORT_JS: &str = include_str!("report.js");

/// The whole page.
pub fn report_html(a: &Analysis) -> Result<String> {
    let data = data::ChartData::new(a)?;
    let json = serde_json::to_string(&data)?;
    let r = &a.report;
    let title = crate::plot::run_title(r);
    let mut summary = String::new();
    let m = &r.merged;
    let _ = write!(
        summary,
        "<p>{} probes, {} failed, {} local errors; probe interval median {} (the resolution). \
         Drag across the chart to zoom, double-click to zoom out; hover a point for its probe.</p>",
        m.totals.probes,
        m.totals.failed,
        m.totals.local_errors,
        esc(&fmt_ns(m.interval.median_ns))
    );
    if !m.windows.is_empty() {
        summary.push_str(
            "<table><tr><th>#</th><th>start (s)</th><th>downtime</th><th>failed / total</th><th>kinds</th></tr>",
        );
        for (i, w) in m.windows.iter().enumerate() {
            let kinds: Vec<String> = w.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = write!(
                summary,
                "<tr><td>{}</td><td>{:.6}</td><td>{} .. {}</td><td>{} / {}</td><td>{}</td></tr>",
                i + 1,
                (w.first_fail_ns - m.totals.first_start_ns) as f64 / 1e9,
                esc(&fmt_ns(w.lower_ns)),
                w.upper_ns.map_or("open".into(), |u| esc(&fmt_ns(u))),
                w.failed,
                w.total,
                esc(&kinds.join(", "))
            );
        }
        summary.push_str("</table>");
    }
    for a in &r.agents {
        if let Some(c) = &a.connections {
            let _ = write!(
                summary,
                "<p>{}</p>",
                esc(&crate::connections::sentence(&a.name, c))
            );
        }
    }
    for w in &r.warnings {
        let _ = write!(summary, "<p class=\"warn\">{}</p>", esc(w));
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{t}</title>\n<style>{UPLOT_CSS}\n{PAGE_CSS}</style></head>\n<body>\
         <h1>{t}</h1>{summary}<div id=\"events\"></div><div id=\"chart\"></div>\
         <pre id=\"probe\">hover a point</pre>\n\
         <script>{UPLOT_JS}</script>\n<script id=\"data\" type=\"application/json\">{data}</script>\n\
         <script>{REPORT_JS}</script></body></html>\n",
        t = esc(&title),
        data = json.replace("</", "<\\/"),
    ))
}

const PAGE_CSS: &str = "body{font-family:sans-serif;margin:16px;max-width:1400px}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}\
.warn{color:#a40}#events label{margin-right:12px;font-size:13px}#probe{background:#f4f4f4;padding:6px}";

/// HTML-escapes text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
