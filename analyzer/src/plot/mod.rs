//! Plots: the run figure (probes, failure windows, rollout, success ratio)
//! and the comparison figure, each drawn once for any plotters backend and
//! rendered to PNG and SVG. Text uses the bundled DejaVu Sans, so a machine
//! without system fonts renders the same picture.

mod compare;
mod data;
mod run;

pub(crate) use run::title as run_title;

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

pub use compare::{compare_png, compare_svg};
pub(crate) use data::{PlotData, PlotWalk, all_phases, p999};

use crate::{Analysis, Error, Result};

/// Pixel size of the run figure.
pub const RUN_SIZE: (u32, u32) = (1600, 1000);

/// The family every text uses; registered from the bundled font.
pub(crate) const FONT: &str = "sans-serif";

/// Registers the bundled font once per process.
pub(crate) fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are a valid TrueType font shipped by the dejavu
            // crate; a failure here would only mean text is not drawn.
            if register_font(FONT, style, dejavu::sans::regular()).is_err() {
                tracing::warn!("the bundled DejaVu font could not be registered");
            }
        }
    });
}

fn plot_err<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::Plot {
        what: what.to_owned(),
        reason: format!("{e:?}"),
    }
}

/// The run figure as SVG text.
pub fn run_svg(analysis: &Analysis) -> Result<String> {
    fonts();
    let data = PlotData::new(analysis)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, RUN_SIZE).into_drawing_area();
        run::draw(&root, &analysis.report, &data).map_err(plot_err("the SVG plot"))?;
        root.present().map_err(plot_err("the SVG plot"))?;
    }
    Ok(svg)
}

/// Writes the run figure as PNG to `png` and SVG to `svg`.
pub fn write_run_plots(analysis: &Analysis, png: &Path, svg: &Path) -> Result<()> {
    fonts();
    let clock = std::time::Instant::now();
    let data = PlotData::new(analysis)?;
    tracing::debug!(elapsed = ?clock.elapsed(), ok_marks = data.ok.len(), failed_marks = data.failed.len(), "plot data");
    {
        let root = BitMapBackend::new(png, RUN_SIZE).into_drawing_area();
        run::draw(&root, &analysis.report, &data).map_err(plot_err("the PNG plot"))?;
        root.present().map_err(plot_err("the PNG plot"))?;
    }
    tracing::debug!(elapsed = ?clock.elapsed(), "PNG written");
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, RUN_SIZE).into_drawing_area();
        run::draw(&root, &analysis.report, &data).map_err(plot_err("the SVG plot"))?;
        root.present().map_err(plot_err("the SVG plot"))?;
    }
    std::fs::write(svg, text).map_err(Error::io(svg))?;
    tracing::debug!(elapsed = ?clock.elapsed(), "SVG written");
    Ok(())
}

/// Colour of an outcome kind.
pub(crate) fn kind_colour(kind: &str) -> RGBColor {
    match kind {
        "connect_refused" => RGBColor(214, 39, 40),
        "reset" => RGBColor(255, 127, 14),
        "connect_timeout" => RGBColor(148, 103, 189),
        "read_timeout" => RGBColor(140, 86, 75),
        "closed_before_status" => RGBColor(227, 119, 194),
        "unexpected_status" => RGBColor(188, 189, 34),
        "unreachable" => RGBColor(0, 0, 0),
        "malformed" => RGBColor(23, 190, 207),
        _ => RGBColor(127, 127, 127),
    }
}

/// Colour of the i-th backend line.
pub(crate) fn series_colour(i: usize) -> RGBColor {
    const P: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(23, 190, 207),
    ];
    P[i % P.len()]
}
