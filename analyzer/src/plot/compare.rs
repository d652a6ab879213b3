//! The comparison figure: downtime bounds per run as horizontal bars.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{FONT, fonts, plot_err};
use crate::Result;
use crate::compare::CompareRow;

const LOWER: RGBColor = RGBColor(214, 39, 40);
const UPPER: RGBColor = RGBColor(255, 152, 150);

/// Said beside a run whose upper bound is open.
const OPEN_UPPER: &str = "upper bound open (the run starts or ends failing); ";

fn size(rows: &[CompareRow]) -> (u32, u32) {
    (1400, 160 + 48 * rows.len().max(1) as u32)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[CompareRow],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let ms = |ns: i64| ns as f64 / 1e6;
    let widest = rows
        .iter()
        .map(|r| ms(r.upper_ns.unwrap_or(r.lower_ns)))
        .fold(0.0f64, f64::max);
    // Room on the right for the counts.
    let x_max = (widest * 2.0).max(1.0);
    let n = rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "downtime per run: dark = lower bound, light = upper bound",
            (FONT, 22),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(330)
        .build_cartesian_2d(0.0..x_max, 0.0..n)?;
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let label = move |y: &f64| {
        let i = (n - y - 0.5).round();
        if (y.fract() - 0.5).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("downtime (ms)")
        .y_desc("")
        .y_labels(rows.len() * 2 + 1)
        .y_label_formatter(&label)
        .disable_y_mesh()
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    for (i, r) in rows.iter().enumerate() {
        let y = n - i as f64 - 0.5;
        // An open upper bound (the run starts or ends inside a window) is
        // drawn to the widest value of the figure (never short of this run's
        // lower bound, which `widest` counts) and said in words: a bar to
        // the edge would read as a measured figure.
        let upper = r.upper_ns.map_or(widest, ms);
        chart.draw_series([Rectangle::new(
            [(0.0, y - 0.3), (upper, y + 0.3)],
            UPPER.filled(),
        )])?;
        chart.draw_series([Rectangle::new(
            [(0.0, y - 0.3), (ms(r.lower_ns), y + 0.3)],
            LOWER.filled(),
        )])?;
        let kinds = r.kinds_text();
        let open = if r.upper_ns.is_none() { OPEN_UPPER } else { "" };
        let text = format!(
            "  {open}{} failed of {}{}",
            r.failed,
            r.probes,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({kinds})")
            }
        );
        chart.draw_series([Text::new(
            text,
            (upper, y),
            (FONT, 13)
                .into_font()
                .into_text_style(root)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        )])?;
    }
    Ok(())
}

/// Writes the comparison figure as PNG.
pub fn compare_png(rows: &[CompareRow], path: &Path) -> Result<()> {
    fonts();
    let root = BitMapBackend::new(path, size(rows)).into_drawing_area();
    draw(&root, rows).map_err(plot_err("the comparison PNG"))?;
    root.present().map_err(plot_err("the comparison PNG"))
}

/// The comparison figure as SVG text.
pub fn compare_svg(rows: &[CompareRow]) -> Result<String> {
    fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size(rows)).into_drawing_area();
        draw(&root, rows).map_err(plot_err("the comparison SVG"))?;
        root.present().map_err(plot_err("the comparison SVG"))?;
    }
    Ok(svg)
}
