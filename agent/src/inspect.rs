//! `seamless-agent inspect`: a probe log as CSV or JSON lines, so a person
//! or another tool can read it without the analyzer.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use seamless_proto::log::{Header, LogReader, Probe, backend_name};
use serde::Serialize;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A `# {header JSON}` line, a column row, one row per probe.
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

#[derive(Serialize)]
struct Row<'a> {
    wall_ns: i64,
    #[serde(flatten)]
    probe: &'a Probe,
    outcome_name: &'static str,
    backend_name: Option<&'a str>,
}

const CSV_COLUMNS: &str =
    "wall_ns,intended_ns,start_ns,connect_ns,first_byte_ns,total_ns,status,outcome,backend";

fn write_row(
    out: &mut impl Write,
    format: Format,
    header: &Header,
    backends: &[String],
    p: &Probe,
) -> anyhow::Result<()> {
    let backend_name = backend_name(backends, p.backend);
    let wall_ns = header.wall_ns(p.start_ns);
    match format {
        Format::Csv => writeln!(
            out,
            "{wall_ns},{},{},{},{},{},{},{},{}",
            p.intended_ns,
            p.start_ns,
            p.connect_ns,
            p.first_byte_ns,
            p.total_ns,
            p.status,
            p.outcome.name(),
            backend_name.unwrap_or("")
        )?,
        Format::Jsonl => {
            let row = Row {
                wall_ns,
                probe: p,
                outcome_name: p.outcome.name(),
                backend_name,
            };
            serde_json::to_writer(&mut *out, &row)?;
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
        Format::Csv => writeln!(out, "# {header_json}\n{CSV_COLUMNS}")?,
        Format::Jsonl => writeln!(out, "{{\"header\":{header_json}}}")?,
    }
    let mut batch = Vec::new();
    loop {
        batch.clear();
        let more = reader
            .next_batch(&mut batch)
            .with_context(|| format!("reading {}", opts.file.display()));
        for p in &batch {
            write_row(&mut out, opts.format, reader.header(), reader.backends(), p)?;
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
