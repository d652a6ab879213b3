//! The command line: `report`, `compare`, `export`, `gen-synthetic` and
//! `check-truth`.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::synth::{SynthSpec, generate};
use crate::{
    Analysis, AnalyzeOptions, Error, ExportFormat, Gate, Result, check_gate, compare,
    compare_table, export, terminal_table,
};

/// Exit status when a gate (`--max-downtime`, `--max-failed`) is exceeded;
/// 1 is left for errors and 2 for usage.
pub const EXIT_GATE: u8 = 3;

/// Failure windows, downtime, reports and plots from seamless probe logs.
#[derive(Debug, Parser)]
#[command(name = "seamless-analyzer", version)]
pub struct Opts {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse a run directory (or one probe log): print a table and write
    /// report.json, report.md, plot.png and plot.svg.
    Report(ReportArgs),
    /// Analyse several runs and compare them in one table and one figure.
    Compare(CompareArgs),
    /// Write every probe of a run as Parquet or CSV.
    Export(ExportArgs),
    /// Write a synthetic run (log, timeline, run.json) with known failure
    /// windows, for benchmarks and tests.
    GenSynthetic(SynthArgs),
    /// Check lab runs against their ground truth (run.json): one line a
    /// run and a summary; exit 3 when a run fails the checks.
    CheckTruth(CheckTruthArgs),
}

/// `check-truth`.
#[derive(Debug, Args)]
pub struct CheckTruthArgs {
    /// Lab run directories (with run.json and its ground truth).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Analyse the probe logs again instead of reading RUN/report.json
    /// (always done when a run has no report.json).
    #[arg(long)]
    pub reanalyze: bool,
    /// Analysis options, for runs analysed here.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// How probes become windows.
#[derive(Debug, Clone, Args)]
pub struct AnalysisArgs {
    /// Instead of the automatic merging, merge failure runs separated by at
    /// most this many successes. By default a run of successes between two
    /// failures stays inside the window unless it could not be chance at
    /// the window's failure ratio (less than 0.1%), so a partial outage
    /// (iptables still sending part of the traffic to a dead pod) is one
    /// window.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "K",
        conflicts_with = "no_merge"
    )]
    pub merge_successes: u64,
    /// Instead of the automatic merging, merge failure runs whose failures
    /// are at most this far apart, e.g. 50ms.
    #[arg(long, value_name = "DURATION", conflicts_with = "no_merge")]
    pub merge_gap: Option<String>,
    /// No merging: every maximal run of failed probes is a window.
    #[arg(long)]
    pub no_merge: bool,
    /// Shift an agent's probe times onto the controller's clock:
    /// `[AGENT=]OFFSET`, e.g. `node-b=-3.2ms`; OFFSET is added. Repeatable;
    /// without AGENT it applies to every agent not named.
    #[arg(long, value_name = "[AGENT=]OFFSET", allow_hyphen_values = true)]
    pub clock_offset: Vec<String>,
    /// Width of the success-ratio bins, e.g. 100ms (default: about 200 bins).
    #[arg(long, value_name = "DURATION")]
    pub bin: Option<String>,
    /// Timeline to use instead of RUN/timeline.jsonl.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

fn duration(what: &'static str, text: &str) -> Result<i64> {
    // The one duration grammar of every seamless CLI (proto's).
    seamless_proto::duration::parse_ns(text).map_err(|e| Error::Invalid {
        what,
        reason: e.to_string(),
    })
}

impl AnalysisArgs {
    /// The analysis options these flags give.
    pub fn options(&self) -> Result<AnalyzeOptions> {
        let mut o = AnalyzeOptions {
            merge_successes: self.merge_successes,
            merge_gap_ns: self
                .merge_gap
                .as_deref()
                .map(|g| duration("--merge-gap", g))
                .transpose()?,
            no_merge: self.no_merge,
            bin_ns: self
                .bin
                .as_deref()
                .map(|b| duration("--bin", b))
                .transpose()?,
            timeline: self.timeline.clone(),
            ..Default::default()
        };
        if o.bin_ns == Some(0) {
            return Err(Error::Invalid {
                what: "--bin",
                reason: "the bin width must be positive".into(),
            });
        }
        for spec in &self.clock_offset {
            o.add_clock_offset(spec)?;
        }
        Ok(o)
    }
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory (probe-*.log, timeline.jsonl, run.json) or one probe
    /// log.
    pub run: PathBuf,
    /// Where to write the report and plots (default: the run directory, or
    /// the log's directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip plot.png and plot.svg.
    #[arg(long)]
    pub no_plot: bool,
    /// Print report.json on stdout instead of the table (as `--format
    /// json`).
    #[arg(long)]
    pub json: bool,
    /// What to print on stdout: `text` (the table) or `json` (the
    /// report.json document, for scripts).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the gate's verdict as JUnit XML to FILE: one test case
    /// per agent and one for the merged view, failed where the gate is
    /// exceeded (with the bounds). Exit codes are unchanged.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Exit with status 3 when the downtime's upper bound exceeds this, e.g.
    /// 0s or 50ms (a window unbounded at an edge always exceeds it).
    #[arg(long, value_name = "DURATION")]
    pub max_downtime: Option<String>,
    /// Exit with status 3 when more than N probes failed.
    #[arg(long, value_name = "N")]
    pub max_failed: Option<u64>,
    /// Analysis options.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// What `report` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The table.
    Text,
    /// report.json.
    Json,
}

/// `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run directories (or probe logs), in the order to show them.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write compare.md, compare.json, compare.png and compare.svg
    /// (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Group the runs by this key of run.json (dotted: `lab.network`,
    /// `trigger`, ...) instead of by scenario.
    #[arg(long, value_name = "KEY")]
    pub group_by: Option<String>,
    /// Analysis options (a run without probe logs is read from its
    /// report.json as it is).
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// `export`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("format").required(true))]
pub struct ExportArgs {
    /// A run directory or one probe log.
    pub run: PathBuf,
    /// Write Apache Parquet.
    #[arg(long, group = "format")]
    pub parquet: bool,
    /// Write CSV.
    #[arg(long, group = "format")]
    pub csv: bool,
    /// Output file (default: RUN/probes.parquet or RUN/probes.csv).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Shift an agent's probe times: `[AGENT=]OFFSET` (see `report`).
    #[arg(long, value_name = "[AGENT=]OFFSET", allow_hyphen_values = true)]
    pub clock_offset: Vec<String>,
}

/// `gen-synthetic`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Probes to write.
    #[arg(long, default_value_t = 10_000_000)]
    pub probes: u64,
    /// Probes a second.
    #[arg(long, default_value_t = 20_000.0)]
    pub rate: f64,
    /// Seed of the jitter.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The run directory to write.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// How a successful run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// All done, within any gate.
    Ok,
    /// A gate was exceeded; the reasons.
    GateExceeded(Vec<String>),
}

/// The directory a report goes to by default.
fn default_out(run: &Path) -> PathBuf {
    if run.is_dir() {
        run.to_owned()
    } else {
        run.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned)
    }
}

/// Runs a command. Output goes to stdout; warnings to the log (stderr).
pub fn run(opts: Opts) -> Result<Exit> {
    match opts.command {
        Command::Report(a) => report(a),
        Command::Compare(a) => {
            let o = a.analysis.options()?;
            let runs: Vec<&Path> = a.runs.iter().map(PathBuf::as_path).collect();
            let rows = compare(&runs, &o, a.group_by.as_deref())?;
            let table = compare_table(&rows);
            print!("{table}");
            let out = a.out.unwrap_or_else(|| PathBuf::from("."));
            std::fs::create_dir_all(&out).map_err(Error::io(&out))?;
            let write = |name: &str, bytes: &[u8]| {
                let p = out.join(name);
                std::fs::write(&p, bytes).map_err(Error::io(&p))
            };
            write("compare.md", table.as_bytes())?;
            write("compare.json", &serde_json::to_vec_pretty(&rows)?)?;
            write("compare.svg", crate::plot::compare_svg(&rows)?.as_bytes())?;
            crate::plot::compare_png(&rows, &out.join("compare.png"))?;
            Ok(Exit::Ok)
        }
        Command::Export(a) => {
            let mut o = AnalyzeOptions::default();
            for spec in &a.clock_offset {
                o.add_clock_offset(spec)?;
            }
            let format = if a.parquet {
                ExportFormat::Parquet
            } else {
                ExportFormat::Csv
            };
            let out = a.out.unwrap_or_else(|| {
                default_out(&a.run).join(format!("probes.{}", format.extension()))
            });
            let rows = export(&a.run, &o, format, &out)?;
            println!("{rows} probes written to {}", out.display());
            Ok(Exit::Ok)
        }
        Command::CheckTruth(a) => {
            let o = a.analysis.options()?;
            let checks = a
                .runs
                .iter()
                .map(|r| crate::truth::check_run(r, &o, a.reanalyze))
                .collect::<Result<Vec<_>>>()?;
            print!("{}", crate::truth::render(&checks));
            let bad: Vec<String> = checks
                .iter()
                .filter(|c| !c.ok())
                .map(|c| format!("{}: {}", c.run.display(), c.problems.join("; ")))
                .collect();
            Ok(if bad.is_empty() {
                Exit::Ok
            } else {
                Exit::GateExceeded(bad)
            })
        }
        Command::GenSynthetic(a) => {
            let spec = SynthSpec {
                probes: a.probes,
                rate_per_s: a.rate,
                seed: a.seed,
            };
            let r = generate(&a.out, &spec)?;
            println!(
                "{} probes ({} failed, {} local errors) written to {}",
                r.probes,
                r.failed,
                r.local_errors,
                a.out.display()
            );
            Ok(Exit::Ok)
        }
    }
}

fn report(a: ReportArgs) -> Result<Exit> {
    let o = a.analysis.options()?;
    let gate = Gate {
        max_downtime_ns: a
            .max_downtime
            .as_deref()
            .map(|d| duration("--max-downtime", d))
            .transpose()?,
        max_failed: a.max_failed,
    };
    // report.html and the plots are gathered in the analysis's own walks.
    let gather = crate::Gather {
        page: true,
        plots: !a.no_plot,
    };
    let analysis = Analysis::run_gathering(&a.run, &o, gather)?;
    let out = a.out.unwrap_or_else(|| default_out(&a.run));
    analysis.write(&out, !a.no_plot)?;
    if a.json || a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&analysis.report)?);
    } else {
        print!("{}", terminal_table(&analysis.report));
    }
    if let Some(path) = &a.junit {
        std::fs::write(path, crate::junit(&analysis.report, &gate)).map_err(Error::io(path))?;
    }
    let reasons = check_gate(&analysis.report, &gate);
    Ok(if reasons.is_empty() {
        Exit::Ok
    } else {
        Exit::GateExceeded(reasons)
    })
}
