//! `export`: every probe of a run as Parquet or CSV, for notebooks.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use seamless_proto::row::COLUMNS;
use seamless_proto::{Mode, Outcome};

use crate::analyze::{inputs, read_logs};
use crate::load::{CLASS_FAIL, CLASS_LOCAL};
use crate::{AnalyzeOptions, Error, Result};

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header line.
    Csv,
}

impl ExportFormat {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "parquet",
            ExportFormat::Csv => "csv",
        }
    }
}

/// Writes every probe of a run directory or log to `out`, sorted by start
/// time, and returns the number of rows. The columns are proto's probe row
/// ([`seamless_proto::row`], the same as `seamless-agent inspect`), in its
/// order, with wall-clock times after clock offsets: the agent's own name
/// in `agent` (without the mode a several-mode log's report adds), the mode
/// in `mode`, and for reused connections which one, its age, the requests
/// it carried before and its state.
pub fn export(
    run: &Path,
    opts: &AnalyzeOptions,
    format: ExportFormat,
    out: &Path,
) -> Result<usize> {
    let inputs = inputs(run, opts)?;
    let mut names = Vec::new();
    let mut warnings = Vec::new();
    let keep = crate::load::Keep::Columns { extra: true };
    let agents = read_logs(&inputs, opts, &mut names, keep, &mut warnings)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let mut frames = Vec::new();
    for a in agents {
        let c = a.cols;
        let x = c.extra.unwrap_or_default();
        let n = c.t.len();
        let outcome: Vec<&str> = c
            .outcome
            .iter()
            .map(|&o| {
                u8::try_from(o)
                    .ok()
                    .and_then(Outcome::from_u8)
                    .map_or("unknown", Outcome::name)
            })
            .collect();
        let backend: Vec<Option<&str>> = c
            .backend
            .iter()
            .map(|&b| {
                usize::try_from(b)
                    .ok()
                    .and_then(|b| b.checked_sub(1))
                    .and_then(|i| names.get(i))
                    .map(String::as_str)
            })
            .collect();
        let mode = a
            .mode
            .unwrap_or_else(|| a.header.modes.first().map_or(Mode::New, |m| m.mode))
            .name();
        let conn = &x.conn;
        let conn_id: Vec<Option<u64>> = conn.iter().map(|c| c.map(|c| c.id)).collect();
        let conn_age: Vec<Option<u64>> = conn.iter().map(|c| c.map(|c| c.age_ns)).collect();
        let conn_requests: Vec<Option<u32>> = conn.iter().map(|c| c.map(|c| c.requests)).collect();
        let conn_state: Vec<Option<&str>> =
            conn.iter().map(|c| c.map(|c| c.state.name())).collect();
        let failure: Vec<bool> = c.class.iter().map(|&k| k == CLASS_FAIL).collect();
        let local: Vec<bool> = c.class.iter().map(|&k| k == CLASS_LOCAL).collect();
        let columns = [
            Column::new(COLUMNS[0].into(), vec![a.agent.as_str(); n]),
            Column::new(COLUMNS[1].into(), c.t),
            Column::new(COLUMNS[2].into(), x.intended),
            Column::new(COLUMNS[3].into(), x.connect),
            Column::new(COLUMNS[4].into(), x.first_byte),
            Column::new(COLUMNS[5].into(), c.lat),
            Column::new(COLUMNS[6].into(), x.status),
            Column::new(COLUMNS[7].into(), outcome),
            Column::new(COLUMNS[8].into(), failure),
            Column::new(COLUMNS[9].into(), local),
            Column::new(COLUMNS[10].into(), backend),
            Column::new(COLUMNS[11].into(), vec![mode; n]),
            Column::new(COLUMNS[12].into(), conn_id),
            Column::new(COLUMNS[13].into(), conn_age),
            Column::new(COLUMNS[14].into(), conn_requests),
            Column::new(COLUMNS[15].into(), conn_state),
        ];
        frames.push(DataFrame::new(n, columns.into())?);
    }
    let mut frames = frames.into_iter();
    let mut df = frames.next().unwrap_or_default();
    for f in frames {
        df.vstack_mut(&f)?;
    }
    let mut df = df.sort(
        [COLUMNS[1]],
        SortMultipleOptions::default().with_maintain_order(true),
    )?;
    let mut file = File::create(out).map_err(Error::io(out))?;
    match format {
        ExportFormat::Parquet => {
            ParquetWriter::new(&mut file).finish(&mut df)?;
        }
        ExportFormat::Csv => {
            CsvWriter::new(&mut file).finish(&mut df)?;
        }
    }
    Ok(df.height())
}
