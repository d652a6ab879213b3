//! `export`: every probe of a run as Parquet or CSV, for notebooks.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use seamless_proto::row::COLUMNS;
use seamless_proto::{Mode, Outcome};

use crate::analyze::{inputs, read_logs};
use crate::load::{CLASS_FAIL, CLASS_LOCAL};
use crate::probes::Merge;
use crate::spill::Full;
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

/// Probes a row group (Parquet) or a written batch (CSV) holds.
const ROW_GROUP: usize = 1 << 20;

/// Writes every probe of a run directory or log to `out`, sorted by start
/// time, and returns the number of rows. The columns are proto's probe row
/// ([`seamless_proto::row`], the same as `seamless-agent inspect`), in its
/// order, with wall-clock times after clock offsets: the agent's own name
/// in `agent` (without the mode a several-mode log's report adds), the mode
/// in `mode`, and for reused connections which one, its age, the requests
/// it carried before and its state.
///
/// It streams: each log is decoded once into a spill ([`crate::spill`]),
/// and the spills are merged in start order (ties in agent order, as a
/// stable sort of the agents' probes gives) into row groups of
/// [`ROW_GROUP`] probes, written one at a time.
pub fn export(
    run: &Path,
    opts: &AnalyzeOptions,
    format: ExportFormat,
    out: &Path,
) -> Result<usize> {
    export_in_groups(run, opts, format, out, ROW_GROUP)
}

fn export_in_groups(
    run: &Path,
    opts: &AnalyzeOptions,
    format: ExportFormat,
    out: &Path,
    group: usize,
) -> Result<usize> {
    let inputs = inputs(run, opts)?;
    let mut names = Vec::new();
    let mut warnings = Vec::new();
    let dir = if run.is_dir() {
        Some(run)
    } else {
        run.parent()
    };
    let keep = crate::load::Keep::Spill {
        dir,
        full: true,
        fold: None,
    };
    let agents = read_logs(&inputs, opts, &mut names, keep, &mut warnings)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let mut spills = Vec::new();
    let mut labels = Vec::new();
    for a in &agents {
        let Some(f) = &a.full else { continue };
        spills.push(f.rows());
        let mode = a
            .mode
            .unwrap_or_else(|| a.header.modes.first().map_or(Mode::New, |m| m.mode));
        labels.push((a.agent.as_str(), mode.name()));
    }
    let file = File::create(out).map_err(Error::io(out))?;
    let mut sink = Sink::new(format, file);
    let mut chunk = Chunk::default();
    let mut rows = 0;
    let mut merge = Merge::new(spills);
    while let Some((k, p)) = merge.next_from() {
        chunk.push(labels[k], &p, &names);
        rows += 1;
        if chunk.len() == group {
            sink.write(std::mem::take(&mut chunk).frame()?)?;
        }
    }
    for s in &mut merge.into_walks() {
        if let Some(e) = s.error.take() {
            return Err(Error::Spill {
                path: run.to_owned(),
                source: e,
            });
        }
    }
    if chunk.len() > 0 || rows == 0 {
        sink.write(chunk.frame()?)?;
    }
    sink.finish()?;
    Ok(rows)
}

/// The batched writer of a format, opened at the first row group (it
/// needs the schema).
enum Sink {
    Waiting(ExportFormat, File),
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
    Csv(polars::io::csv::write::BatchedWriter<File>),
    Done,
}

impl Sink {
    fn new(format: ExportFormat, file: File) -> Sink {
        Sink::Waiting(format, file)
    }

    fn write(&mut self, df: DataFrame) -> PolarsResult<()> {
        if let Sink::Waiting(..) = self
            && let Sink::Waiting(format, file) = std::mem::replace(self, Sink::Done)
        {
            *self = match format {
                ExportFormat::Parquet => {
                    Sink::Parquet(Box::new(ParquetWriter::new(file).batched(df.schema())?))
                }
                ExportFormat::Csv => Sink::Csv(CsvWriter::new(file).batched(df.schema())?),
            };
        }
        match self {
            Sink::Parquet(w) => w.write_batch(&df),
            Sink::Csv(w) => w.write_batch(&df),
            _ => Ok(()),
        }
    }

    fn finish(self) -> PolarsResult<()> {
        match self {
            Sink::Parquet(w) => w.finish().map(|_| ()),
            Sink::Csv(mut w) => w.finish(),
            _ => Ok(()),
        }
    }
}

/// One row group's columns.
#[derive(Default)]
struct Chunk<'a> {
    agent: Vec<&'a str>,
    t: Vec<i64>,
    intended: Vec<i64>,
    connect: Vec<i64>,
    first_byte: Vec<i64>,
    lat: Vec<i64>,
    status: Vec<u32>,
    outcome: Vec<&'static str>,
    failure: Vec<bool>,
    local: Vec<bool>,
    backend: Vec<Option<&'a str>>,
    mode: Vec<&'static str>,
    conn_id: Vec<Option<u64>>,
    conn_age: Vec<Option<u64>>,
    conn_requests: Vec<Option<u32>>,
    conn_state: Vec<Option<&'static str>>,
}

impl<'a> Chunk<'a> {
    fn len(&self) -> usize {
        self.t.len()
    }

    fn push(&mut self, (agent, mode): (&'a str, &'static str), p: &Full, names: &'a [String]) {
        let r = &p.row;
        self.agent.push(agent);
        self.t.push(r.t);
        self.intended.push(p.intended);
        self.connect.push(p.connect);
        self.first_byte.push(p.first_byte);
        self.lat.push(r.lat);
        self.status.push(u32::from(p.status));
        self.outcome.push(
            u8::try_from(r.outcome)
                .ok()
                .and_then(Outcome::from_u8)
                .map_or("unknown", Outcome::name),
        );
        self.failure.push(r.class == CLASS_FAIL);
        self.local.push(r.class == CLASS_LOCAL);
        self.backend.push(
            usize::try_from(r.backend)
                .ok()
                .and_then(|b| b.checked_sub(1))
                .and_then(|i| names.get(i))
                .map(String::as_str),
        );
        self.mode.push(mode);
        let c = p.conn;
        self.conn_id.push(c.map(|c| c.id));
        self.conn_age.push(c.map(|c| c.age_ns));
        self.conn_requests.push(c.map(|c| c.requests));
        self.conn_state.push(c.map(|c| c.state.name()));
    }

    fn frame(self) -> PolarsResult<DataFrame> {
        let n = self.len();
        let columns = [
            Column::new(COLUMNS[0].into(), self.agent),
            Column::new(COLUMNS[1].into(), self.t),
            Column::new(COLUMNS[2].into(), self.intended),
            Column::new(COLUMNS[3].into(), self.connect),
            Column::new(COLUMNS[4].into(), self.first_byte),
            Column::new(COLUMNS[5].into(), self.lat),
            Column::new(COLUMNS[6].into(), self.status),
            Column::new(COLUMNS[7].into(), self.outcome),
            Column::new(COLUMNS[8].into(), self.failure),
            Column::new(COLUMNS[9].into(), self.local),
            Column::new(COLUMNS[10].into(), self.backend),
            Column::new(COLUMNS[11].into(), self.mode),
            Column::new(COLUMNS[12].into(), self.conn_id),
            Column::new(COLUMNS[13].into(), self.conn_age),
            Column::new(COLUMNS[14].into(), self.conn_requests),
            Column::new(COLUMNS[15].into(), self.conn_state),
        ];
        DataFrame::new(n, columns.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_groups_of_any_size_write_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let spec = crate::synth::SynthSpec {
            probes: 5_000,
            ..crate::synth::SynthSpec::default()
        };
        crate::synth::generate(&run, &spec).unwrap();
        let opts = AnalyzeOptions::default();
        let csv = |group: usize| {
            let out = dir.path().join(format!("p{group}.csv"));
            let n = export_in_groups(&run, &opts, ExportFormat::Csv, &out, group).unwrap();
            assert_eq!(n, 5_000);
            std::fs::read(&out).unwrap()
        };
        let whole = csv(1 << 20);
        assert_eq!(csv(1_000), whole);
        assert_eq!(csv(7), whole);
        let text = String::from_utf8(whole).unwrap();
        assert_eq!(text.lines().count(), 5_001, "a header, then every probe");
        let pq = dir.path().join("p.parquet");
        export_in_groups(&run, &opts, ExportFormat::Parquet, &pq, 1_000).unwrap();
        let df = ParquetReader::new(File::open(&pq).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.height(), 5_000);
        let t = df.column(COLUMNS[1]).unwrap().i64().unwrap();
        assert!(
            t.into_no_null_iter().is_sorted(),
            "one start order across row groups"
        );
    }
}
