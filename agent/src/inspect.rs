//! `seamless-agent inspect`: a probe log as CSV or JSON lines, so a person
//! or another tool can read it without the analyzer. The rows are proto's
//! [`ProbeRow`] (the columns of `seamless-analyzer export` too).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use seamless_proto::log::LogReader;
use seamless_proto::{ProbeRow, run};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A `# {header JSON}` line, the column names, one row per probe.
    Csv,
    /// `{"header": ...}`, then one JSON object per probe.
    Jsonl,
}

/// Options of `inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectOpts {
    /// The probe log.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
}

/// The agent's name in the rows: `<agent>` of `probe-<agent>.log`, as the
/// analyzer names it; else the file's name without `.log`.
fn agent_name(file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match run::agent_of(&name) {
        Some(agent) => agent.to_owned(),
        None => name.strip_suffix(".log").unwrap_or(&name).to_owned(),
    }
}

fn write_row(out: &mut impl Write, format: Format, row: &ProbeRow<'_>) -> anyhow::Result<()> {
    match format {
        Format::Csv => row.write_csv(out)?,
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, row)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Prints the log; a torn tail is a warning, corruption an error after the
/// probes before it were printed. A reader that goes away (`| head`) ends
/// the output quietly.
pub fn run(opts: &InspectOpts) -> anyhow::Result<i32> {
    match print(opts) {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(0)
        }
        other => other,
    }
}

fn print(opts: &InspectOpts) -> anyhow::Result<i32> {
    let file =
        File::open(&opts.file).with_context(|| format!("cannot open {}", opts.file.display()))?;
    let mut reader = LogReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("{} is not a readable probe log", opts.file.display()))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let header_json = serde_json::to_string(reader.header())?;
    match opts.format {
        Format::Csv => {
            writeln!(out, "# {header_json}")?;
            ProbeRow::write_csv_header(&mut out)?;
        }
        Format::Jsonl => writeln!(out, "{{\"header\":{header_json}}}")?,
    }
    let agent = agent_name(&opts.file);
    let mut batch = Vec::new();
    loop {
        batch.clear();
        let more = reader
            .next_batch(&mut batch)
            .with_context(|| format!("reading {}", opts.file.display()));
        for p in &batch {
            let row = ProbeRow::new(&agent, reader.header(), reader.backends(), p, 0);
            write_row(&mut out, opts.format, &row)?;
        }
        if !more? {
            break;
        }
    }
    out.flush()?;
    if let Some(t) = reader.torn_tail() {
        tracing::warn!(
            "{}: the last {} bytes (from offset {}) are an incomplete frame, ignored: the agent was stopped mid-write",
            opts.file.display(),
            t.bytes_lost,
            t.offset
        );
    } else if reader.end_count().is_none() {
        tracing::warn!(
            "{}: no end marker: the agent did not stop cleanly (or is still running)",
            opts.file.display()
        );
    }
    Ok(0)
}
