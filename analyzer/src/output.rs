//! Writing an analysis into a directory: report.json, report.md and the
//! plots.

use std::path::Path;

use seamless_proto::run::{PLOT_PNG, PLOT_SVG, REPORT_HTML, REPORT_JSON, REPORT_MD};

use crate::{Analysis, Error, Result, html, markdown, plot};

impl Analysis {
    /// Writes `report.json`, `report.md`, `report.html` and, with `plots`,
    /// `plot.png` and `plot.svg` into `dir` (created if missing).
    pub fn write(&self, dir: &Path, plots: bool) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let mut json = serde_json::to_vec_pretty(&self.report)?;
        json.push(b'\n');
        let path = dir.join(REPORT_JSON);
        std::fs::write(&path, json).map_err(Error::io(&path))?;
        let path = dir.join(REPORT_MD);
        std::fs::write(&path, markdown(&self.report)).map_err(Error::io(&path))?;
        // report.html and the plots each walk every probe: side by side.
        let (page, plotted) = std::thread::scope(|s| {
            let plotted = s.spawn(|| {
                if plots {
                    plot::write_run_plots(self, &dir.join(PLOT_PNG), &dir.join(PLOT_SVG))
                } else {
                    Ok(())
                }
            });
            let page = html::report_html(self);
            let plotted = plotted
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (page, plotted)
        });
        let path = dir.join(REPORT_HTML);
        std::fs::write(&path, page?).map_err(Error::io(&path))?;
        plotted
    }
}
