//! The run figure: probes over time above, success ratio and answering
//! backends below, and under them the timeline's events as a numbered table
//! (the plot marks each event's line with its number only, so labels never
//! stack over the data).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::PlotData;
use super::{FONT, kind_colour, series_colour};
use crate::markdown::{fmt_ns, fmt_range};
use crate::report::Report;

/// Where failed probes sit on the response-time axis: the seed's look.
pub(crate) const FAIL_Y: f64 = -0.01;

const OK_COLOUR: RGBColor = RGBColor(31, 119, 180);
const WINDOW_COLOUR: RGBColor = RGBColor(214, 39, 40);
const ROLLOUT_COLOUR: RGBColor = RGBColor(120, 120, 120);
const EVENT_COLOUR: RGBColor = RGBColor(60, 60, 60);

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The figure's title: scenario and downtime.
pub(crate) fn title(report: &Report) -> String {
    let (lower, upper) = report.downtime();
    let m = &report.merged;
    format!(
        "{}: downtime {} ({} window{}, {} of {} probes failed)",
        report.scenario.as_deref().unwrap_or("seamless run"),
        fmt_range(lower, upper),
        m.downtime.windows,
        if m.downtime.windows == 1 { "" } else { "s" },
        m.totals.failed,
        m.totals.probes
    )
}

/// Draws the run figure on `root`.
/// Rows of event labels at most: nine above the ok probes, the rest in the
/// empty band between them and the failed probes' line.
const MAX_LABEL_ROWS: usize = 16;

/// Where label row `row` sits, as a fraction of the panel's height from its
/// top.
fn label_row_depth(row: usize) -> f64 {
    if row < 9 {
        0.04 + 0.045 * row as f64
    } else {
        0.56 + 0.045 * (row - 9) as f64
    }
}

pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    data: &PlotData,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(&title(report), (FONT, 26))?;
    let events = events_in_range(report, data);
    let rows = events.len().div_ceil(TABLE_COLUMNS) as u32;
    let table_h = if events.is_empty() { 0 } else { 14 + rows * 17 };
    let plots_h = root.dim_in_pixel().1.saturating_sub(table_h);
    let (plots, table) = root.split_vertically(plots_h);
    let (upper, lower) = plots.split_vertically(plots_h * 68 / 100);
    probes_panel(&upper, report, data, &events)?;
    ratio_panel(&lower, report, data)?;
    events_table(&table, data, &events)?;
    Ok(())
}

/// Columns of the events table.
const TABLE_COLUMNS: usize = 3;

/// The timeline's events inside the plot's time range, in time order
/// (timelines from several writers interleave).
fn events_in_range<'a>(report: &'a Report, data: &PlotData) -> Vec<&'a crate::report::EventMark> {
    let range = x_range(data);
    let mut events: Vec<_> = report
        .events
        .iter()
        .filter(|e| (range.start..=range.end).contains(&data.secs(e.ts_ns)))
        .collect();
    events.sort_by_key(|e| e.ts_ns);
    events
}

/// The numbered events, in columns filled top to bottom.
fn events_table<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &PlotData,
    events: &[&crate::report::EventMark],
) -> DrawResult<DB> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = events.len().div_ceil(TABLE_COLUMNS);
    let col_w = (area.dim_in_pixel().0 as i32 - 100) / TABLE_COLUMNS as i32;
    let style = (FONT, 13).into_font().color(&EVENT_COLOUR);
    for (i, e) in events.iter().enumerate() {
        let (col, row) = (i / rows, i % rows);
        let text = format!("{:>2}  {:>9.3} s  {}", i + 1, data.secs(e.ts_ns), e.label);
        area.draw(&Text::new(
            text,
            (92 + col as i32 * col_w, 6 + row as i32 * 17),
            style.clone(),
        ))?;
    }
    Ok(())
}

fn x_range(data: &PlotData) -> std::ops::Range<f64> {
    let pad = (data.span_s * 0.01).max(0.001);
    -pad..data.span_s + pad
}

fn probes_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    data: &PlotData,
    events: &[&crate::report::EventMark],
) -> DrawResult<DB> {
    let y_bottom = FAIL_Y * 1.25;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range(data), y_bottom..data.y_top)?;
    let y_desc = if data.clipped > 0 {
        format!(
            "response time (s); {} ok probes above {} drawn at the top",
            data.clipped,
            fmt_ns((data.y_top * 1e9) as i64)
        )
    } else {
        "response time (s)".to_owned()
    };
    chart
        .configure_mesh()
        .x_desc("seconds since probing started")
        .y_desc(y_desc)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    if let Some(r) = report.rollout {
        chart
            .draw_series([Rectangle::new(
                [
                    (data.secs(r.start_ns), y_bottom),
                    (data.secs(r.end_ns), data.y_top),
                ],
                ROLLOUT_COLOUR.mix(0.12).filled(),
            )])?
            .label(format!("rollout ({})", fmt_ns(r.end_ns - r.start_ns)))
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 6), (x + 14, y + 6)],
                    ROLLOUT_COLOUR.mix(0.3).filled(),
                )
            });
    }
    // Windows: the upper bound lightly, the lower bound (failures) strongly,
    // at least a few pixels wide so a single failure still shows.
    let min_w = data.span_s / 600.0;
    let windows = &report.merged.windows;
    let bands = windows.iter().map(|w| {
        // The upper bound's extent, widened for a partial outage.
        let e = w.edge_uncertainty_ns;
        let a = data.secs(w.last_ok_before_ns.map_or(w.first_fail_ns, |t| t - e));
        let b = data.secs(w.first_ok_after_ns.map_or(w.last_fail_ns, |t| t + e));
        let mid = (a + b) / 2.0;
        let half = ((b - a) / 2.0).max(min_w);
        Rectangle::new(
            [(mid - half, y_bottom), (mid + half, data.y_top)],
            WINDOW_COLOUR.mix(0.15).filled(),
        )
    });
    let series = chart.draw_series(bands)?;
    if !windows.is_empty() {
        series
            .label("failure window (upper bound)")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 6), (x + 14, y + 6)],
                    WINDOW_COLOUR.mix(0.25).filled(),
                )
            });
    }
    chart.draw_series(windows.iter().map(|w| {
        let a = data.secs(w.first_fail_ns);
        let b = data.secs(w.last_fail_ns);
        let mid = (a + b) / 2.0;
        let half = ((b - a) / 2.0).max(min_w / 2.0);
        Rectangle::new(
            [(mid - half, y_bottom), (mid + half, data.y_top)],
            WINDOW_COLOUR.mix(0.3).filled(),
        )
    }))?;

    chart
        .draw_series(
            data.ok
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 1, OK_COLOUR.filled())),
        )?
        .label("ok probe")
        .legend(|(x, y)| Circle::new((x + 7, y), 3, OK_COLOUR.filled()));

    let mut by_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (x, kind) in &data.failed {
        by_kind.entry(kind).or_default().push(*x);
    }
    for (kind, xs) in &by_kind {
        let colour = kind_colour(kind);
        let n = report
            .merged
            .totals
            .failed_by_kind
            .get(*kind)
            .copied()
            .unwrap_or(xs.len() as u64);
        chart
            .draw_series(
                xs.iter()
                    .map(|&x| Cross::new((x, FAIL_Y), 4, colour.stroke_width(2))),
            )?
            .label(format!("failed: {kind} ({n})"))
            .legend(move |(x, y)| Cross::new((x + 7, y), 4, colour.stroke_width(2)));
    }

    // Timeline events: a dashed line and its number in the table below,
    // staggered so neighbours stay readable.
    // Numbers go to the first row where they do not run into the previous
    // one (about 7.5 px a character at 12 px, over a plot ~1,450 px wide).
    let secs_per_char = (x_range(data).end - x_range(data).start) * 7.5 / 1450.0;
    let mut row_ends: Vec<f64> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let number = (i + 1).to_string();
        let x = data.secs(e.ts_ns);
        let steps = 40;
        let dy = (data.y_top - y_bottom) / steps as f64;
        chart.draw_series((0..steps).step_by(2).map(|k| {
            let y0 = y_bottom + dy * k as f64;
            PathElement::new(vec![(x, y0), (x, y0 + dy)], EVENT_COLOUR.mix(0.6))
        }))?;
        let end = x + (number.len() + 2) as f64 * secs_per_char;
        let row = match row_ends.iter().position(|&r| r < x) {
            Some(r) => r,
            None if row_ends.len() < MAX_LABEL_ROWS => {
                row_ends.push(f64::MIN);
                row_ends.len() - 1
            }
            None => (0..row_ends.len())
                .min_by(|&a, &b| row_ends[a].total_cmp(&row_ends[b]))
                .unwrap_or(0),
        };
        row_ends[row] = end;
        let y = data.y_top - (data.y_top - y_bottom) * label_row_depth(row);
        chart.draw_series([Text::new(
            format!(" {number}"),
            (x, y),
            (FONT, 12)
                .into_font()
                .color(&EVENT_COLOUR)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        )])?;
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

fn ratio_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    data: &PlotData,
) -> DrawResult<DB> {
    let bins = &report.merged.bins;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range(data), 0.0..1.05)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "seconds since probing started (bins of {})",
            fmt_ns(bins.width_ns)
        ))
        .y_desc("success ratio / backend share")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    if let Some(r) = report.rollout {
        chart.draw_series([Rectangle::new(
            [(data.secs(r.start_ns), 0.0), (data.secs(r.end_ns), 1.05)],
            ROLLOUT_COLOUR.mix(0.12).filled(),
        )])?;
    }
    let mid = |start: i64| data.secs(start) + bins.width_ns as f64 / 2e9;
    // Which backend answered: each bin's probes stacked by backend, as
    // translucent bars under the success ratio.
    let half = bins.width_ns as f64 / 2e9;
    for (i, seen) in report.merged.backends.iter().enumerate() {
        let colour = series_colour(i + 1);
        let bars = bins.bins.iter().filter_map(|b| {
            let n = b.backends.get(&seen.name).copied()?;
            let below: u64 = report.merged.backends[..i]
                .iter()
                .filter_map(|o| b.backends.get(&o.name))
                .sum();
            let total = b.probes.max(1) as f64;
            let x = mid(b.start_ns);
            Some(Rectangle::new(
                [
                    (x - half, below as f64 / total),
                    (x + half, (below + n) as f64 / total),
                ],
                colour.mix(0.35).filled(),
            ))
        });
        chart
            .draw_series(bars)?
            .label(format!("answered by {}", seen.name))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.mix(0.5).filled())
            });
    }
    let ratio: Vec<(f64, f64)> = bins
        .bins
        .iter()
        .filter_map(|b| b.ratio.map(|r| (mid(b.start_ns), r)))
        .collect();
    chart
        .draw_series(LineSeries::new(ratio, BLACK.stroke_width(2)))?
        .label("success ratio")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}
