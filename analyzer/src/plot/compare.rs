//! The comparison figure: one row per group, every run a dot at its lower
//! bound with a bar to its upper bound, the group's median marked; runs
//! without a preStop hook in red, with one in blue, a scenario's two side
//! by side.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{FONT, fonts, plot_err};
use crate::Result;
use crate::compare::{Comparison, GroupStats};

/// Dot and bar colours: (dot, bar) by preStop.
fn colours(prestop: Option<bool>) -> (RGBColor, RGBColor) {
    match prestop {
        Some(false) => (RGBColor(214, 39, 40), RGBColor(255, 152, 150)),
        Some(true) => (RGBColor(31, 119, 180), RGBColor(158, 202, 225)),
        None => (RGBColor(80, 80, 80), RGBColor(190, 190, 190)),
    }
}

/// Said beside a run whose upper bound is open.
const OPEN_UPPER: &str = "upper bound open";

/// Pixel size: 1400x900 up to 9 groups, taller beyond.
fn size(c: &Comparison) -> (u32, u32) {
    (1400, 900.max(180 + 80 * c.groups.len() as u32))
}

/// The scenario a group belongs to without its preStop suffix: groups of
/// one base sit together.
fn base(group: &str) -> &str {
    group
        .strip_suffix("-no-prestop")
        .or_else(|| group.strip_suffix("-prestop"))
        .unwrap_or(group)
}

/// The top of each group's slot (height 1), with a gap between bases.
fn slots(groups: &[GroupStats]) -> (Vec<f64>, f64) {
    let mut y = 0.0;
    let mut tops = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 && base(&groups[i - 1].group) != base(&g.group) {
            y += 0.35;
        }
        tops.push(y);
        y += 1.0;
    }
    (tops, y.max(1.0))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Comparison,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let ms = |ns: i64| ns as f64 / 1e6;
    let widest = c
        .runs
        .iter()
        .map(|r| ms(r.upper_ns.unwrap_or(r.lower_ns)).max(ms(r.lower_ns)))
        .fold(0.0f64, f64::max);
    let x_max = if widest > 0.0 { widest * 1.06 } else { 1.0 };
    let (tops, height) = slots(&c.groups);
    let (legend, plot) = root.split_vertically(70);
    let mut chart = ChartBuilder::on(&plot)
        .margin_left(14)
        .margin_right(30)
        .margin_bottom(10)
        .x_label_area_size(44)
        .y_label_area_size(380)
        .build_cartesian_2d(0.0..x_max, height..0.0)?;
    chart
        .configure_mesh()
        .x_desc("downtime (ms)")
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .y_labels(0)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;

    let text = |size: u32, h: HPos| {
        (FONT, size)
            .into_font()
            .into_text_style(root)
            .pos(Pos::new(h, VPos::Center))
    };
    legend.draw(&Text::new(
        format!(
            "downtime per run, by {}: dot = lower bound, bar = up to the upper bound, black tick = the group's median (of each bound)",
            c.group_by
        ),
        (20, 22),
        text(20, HPos::Left),
    ))?;
    let mut x = 20;
    for (label, prestop) in [
        ("without preStop", Some(false)),
        ("with preStop", Some(true)),
        ("other", None),
    ] {
        if !c.groups.iter().any(|g| g.prestop == prestop) {
            continue;
        }
        let (dot, bar) = colours(prestop);
        legend.draw(&Rectangle::new([(x, 49), (x + 36, 55)], bar.filled()))?;
        legend.draw(&Circle::new((x, 52), 5, dot.filled()))?;
        legend.draw(&Text::new(label, (x + 46, 52), text(15, HPos::Left)))?;
        x += 200;
    }

    for (g, &top) in c.groups.iter().zip(&tops) {
        let (dot, bar) = colours(g.prestop);
        let members: Vec<_> = c.runs.iter().filter(|r| r.group == g.group).collect();
        let n = members.len().max(1) as f64;
        // A faint band behind the group's runs.
        chart.draw_series([Rectangle::new(
            [(0.0, top + 0.04), (x_max, top + 0.96)],
            RGBColor(246, 246, 246).filled(),
        )])?;
        for (i, r) in members.iter().enumerate() {
            let y = top + 0.1 + 0.8 * (i as f64 + 0.5) / n;
            let lower = ms(r.lower_ns);
            let upper = r.upper_ns.map_or(x_max, ms);
            chart.draw_series([PathElement::new(
                vec![(lower, y), (upper, y)],
                bar.stroke_width(4),
            )])?;
            chart.draw_series([Circle::new((lower, y), 4, dot.filled())])?;
            if r.upper_ns.is_none() {
                chart.draw_series([Text::new(
                    format!("{OPEN_UPPER} ({})", r.run),
                    (x_max, y),
                    text(12, HPos::Right),
                )])?;
            }
        }
        if g.runs_failed == 0 {
            chart.draw_series([Text::new(
                format!("no failed probe in any of the {} runs", g.runs),
                (x_max * 0.02, top + 0.5),
                text(15, HPos::Left),
            )])?;
        }
        for m in [g.lower.median_ns, g.upper.median_ns].into_iter().flatten() {
            chart.draw_series([PathElement::new(
                vec![(ms(m), top + 0.06), (ms(m), top + 0.94)],
                BLACK.stroke_width(2),
            )])?;
        }
        // The label, left of the axis.
        let (px, py) = chart.backend_coord(&(0.0, top + 0.5));
        let left = px - 372;
        root.draw(&Text::new(
            g.group.clone(),
            (left, py - 20),
            text(16, HPos::Left),
        ))?;
        root.draw(&Text::new(
            format!(
                "{} runs, {} with failures, {} failed probes",
                g.runs, g.runs_failed, g.failed_total
            ),
            (left, py),
            text(13, HPos::Left),
        ))?;
        root.draw(&Text::new(
            format!(
                "median {}{}",
                g.median_text(),
                if g.upper_open > 0 {
                    format!(", {} open", g.upper_open)
                } else {
                    String::new()
                }
            ),
            (left, py + 18),
            text(13, HPos::Left),
        ))?;
    }
    Ok(())
}

/// Writes the comparison figure as PNG.
pub fn compare_png(c: &Comparison, path: &Path) -> Result<()> {
    fonts();
    let root = BitMapBackend::new(path, size(c)).into_drawing_area();
    draw(&root, c).map_err(plot_err("the comparison PNG"))?;
    root.present().map_err(plot_err("the comparison PNG"))
}

/// The comparison figure as SVG text.
pub fn compare_svg(c: &Comparison) -> Result<String> {
    fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size(c)).into_drawing_area();
        draw(&root, c).map_err(plot_err("the comparison SVG"))?;
        root.present().map_err(plot_err("the comparison SVG"))?;
    }
    Ok(svg)
}
