//! Counting probes as they are recorded: outcomes, latency percentiles,
//! schedule lag, failure streaks; printed at the end as text or JSON.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use seamless_proto::{ConnState, Mode, Outcome, Probe};
use serde::Serialize;

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits; larger values saturate.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Running counts for a run (or for one progress interval).
pub struct Tally {
    counts: [u64; Outcome::ALL.len()],
    ok_latency: Histogram<u64>,
    connect: Histogram<u64>,
    lag: Histogram<u64>,
    first_start_ns: Option<u64>,
    last_start_ns: u64,
    streak: u64,
    longest_streak: u64,
    conns: [u64; ConnState::ALL.len()],
}

/// A run's counts: all probes, and each mode's.
#[derive(Default)]
pub struct RunTally {
    /// Every probe.
    pub all: Tally,
    modes: [Tally; Mode::ALL.len()],
}

impl RunTally {
    /// Counts one probe (see [`Tally::add`]).
    pub fn add(&mut self, p: &Probe) {
        self.all.add(p);
        self.modes[usize::from(p.mode.as_u8())].add(p);
    }

    /// The counts of one mode.
    pub fn mode(&self, m: Mode) -> &Tally {
        &self.modes[usize::from(m.as_u8())]
    }

    /// Probes counted.
    pub fn probes(&self) -> u64 {
        self.all.probes()
    }

    /// The summary of every probe.
    pub fn summary(&self, intended_rate: Option<f64>, elapsed_ns: u64) -> Summary {
        self.all.summary(intended_rate, elapsed_ns)
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            counts: [0; Outcome::ALL.len()],
            ok_latency: histogram(),
            connect: histogram(),
            lag: histogram(),
            first_start_ns: None,
            last_start_ns: 0,
            streak: 0,
            longest_streak: 0,
            conns: [0; ConnState::ALL.len()],
        }
    }
}

impl Tally {
    /// Counts one probe; probes must come in order of intended start for the
    /// streaks to mean anything.
    pub fn add(&mut self, p: &Probe) {
        self.counts[usize::from(p.outcome.as_u8())] += 1;
        if let Some(c) = p.conn {
            self.conns[usize::from(c.state.as_u8())] += 1;
        }
        if p.outcome == Outcome::Ok {
            self.ok_latency.saturating_record(p.total_ns.max(1));
        }
        if p.connect_ns > 0 && !p.outcome.is_local() {
            self.connect.saturating_record(p.connect_ns);
        }
        self.lag
            .saturating_record(p.start_ns.saturating_sub(p.intended_ns).max(1));
        self.first_start_ns = Some(
            self.first_start_ns
                .map_or(p.start_ns, |f| f.min(p.start_ns)),
        );
        self.last_start_ns = self.last_start_ns.max(p.start_ns);
        if p.outcome.is_failure() {
            self.streak += 1;
            self.longest_streak = self.longest_streak.max(self.streak);
        } else if p.outcome == Outcome::Ok {
            self.streak = 0;
        }
    }

    /// Probes counted.
    pub fn probes(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Probes that failed (not ok, not local).
    pub fn failed(&self) -> u64 {
        self.count_where(Outcome::is_failure)
    }

    /// Local errors.
    pub fn local(&self) -> u64 {
        self.count_where(Outcome::is_local)
    }

    /// Probes of one outcome.
    pub fn count(&self, o: Outcome) -> u64 {
        self.counts[usize::from(o.as_u8())]
    }

    fn count_where(&self, f: impl Fn(Outcome) -> bool) -> u64 {
        Outcome::ALL
            .iter()
            .filter(|&&o| f(o))
            .map(|&o| self.count(o))
            .sum()
    }

    /// The current run of consecutive failures.
    pub fn streak(&self) -> u64 {
        self.streak
    }

    /// A latency quantile of ok probes, ns.
    pub fn ok_quantile(&self, q: f64) -> u64 {
        self.ok_latency.value_at_quantile(q)
    }

    /// Clears counts and histograms, keeping the failure streak (for
    /// per-interval progress).
    pub fn reset_interval(&mut self) {
        let streak = self.streak;
        *self = Tally::default();
        self.streak = streak;
    }

    /// The final summary.
    pub fn summary(&self, intended_rate: Option<f64>, elapsed_ns: u64) -> Summary {
        let q = |h: &Histogram<u64>| Quantiles {
            p50_ns: h.value_at_quantile(0.5),
            p90_ns: h.value_at_quantile(0.9),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
        };
        let span = self
            .first_start_ns
            .map_or(0, |f| self.last_start_ns.saturating_sub(f));
        let probes = self.probes();
        Summary {
            probes,
            ok: self.count(Outcome::Ok),
            failed: self.failed(),
            local_errors: self.local(),
            by_outcome: Outcome::ALL
                .iter()
                .filter(|&&o| self.count(o) > 0)
                .map(|&o| (o.name().to_owned(), self.count(o)))
                .collect(),
            elapsed_s: elapsed_ns as f64 / 1e9,
            achieved_rate: if span > 0 {
                (probes.saturating_sub(1)) as f64 / (span as f64 / 1e9)
            } else {
                0.0
            },
            intended_rate,
            longest_failure_streak: self.longest_streak,
            ok_latency: q(&self.ok_latency),
            connect: q(&self.connect),
            schedule_lag: q(&self.lag),
            connections: ConnState::ALL
                .iter()
                .filter(|&&c| self.conns[usize::from(c.as_u8())] > 0)
                .map(|&c| (c.name().to_owned(), self.conns[usize::from(c.as_u8())]))
                .collect(),
            skipped_local_backoff: 0,
            by_mode: BTreeMap::new(),
            log: None,
        }
    }
}

/// Percentiles, ns.
#[derive(Debug, Clone, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Maximum.
    pub max_ns: u64,
}

/// Where the log went.
#[derive(Debug, Clone, Serialize)]
pub struct LogStats {
    /// The file.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Probes written.
    pub probes: u64,
}

/// The summary printed when the agent stops (`--json`: this, as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Probes recorded.
    pub probes: u64,
    /// Ok probes.
    pub ok: u64,
    /// Failed probes (service failures; local errors excluded).
    pub failed: u64,
    /// The prober's own errors, never downtime.
    pub local_errors: u64,
    /// Probes per outcome name (only outcomes seen).
    pub by_outcome: BTreeMap<String, u64>,
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// Probes started per second, from the first start to the last.
    pub achieved_rate: f64,
    /// The open-loop rate asked for.
    pub intended_rate: Option<f64>,
    /// The longest run of consecutive failed probes.
    pub longest_failure_streak: u64,
    /// Total time of ok probes.
    pub ok_latency: Quantiles,
    /// Connect time of probes that reached the connect phase.
    pub connect: Quantiles,
    /// Actual start minus intended start (coordinated omission shows here).
    pub schedule_lag: Quantiles,
    /// Reuse mode: probes by connection state (`reused`, `opened`,
    /// `after_failure`, `after_close`, `after_idle_error`; only those seen).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub connections: BTreeMap<String, u64>,
    /// Open-loop slots skipped while backing off on local errors.
    pub skipped_local_backoff: u64,
    /// Per mode, when the run had more than one (or a mode other than new).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_mode: BTreeMap<String, Summary>,
    /// The log file.
    pub log: Option<LogStats>,
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

impl Summary {
    /// The human-readable form.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "seamless-agent: {} probes in {:.2} s, {:.1}/s achieved",
            self.probes, self.elapsed_s, self.achieved_rate
        );
        if let Some(r) = self.intended_rate {
            s += &format!(" ({r}/s intended)");
        }
        s += "\n  outcomes:";
        for (name, n) in &self.by_outcome {
            s += &format!(" {name} {n};");
        }
        s += &format!(
            "\n  failed {} (longest streak {}), local errors {} (not downtime)",
            self.failed, self.longest_failure_streak, self.local_errors
        );
        let q = &self.ok_latency;
        s += &format!(
            "\n  ok latency: p50 {}, p90 {}, p99 {}, p99.9 {}, max {}",
            ms(q.p50_ns),
            ms(q.p90_ns),
            ms(q.p99_ns),
            ms(q.p999_ns),
            ms(q.max_ns)
        );
        s += &format!(
            "\n  connect: p50 {}, p99 {}; schedule lag: p99 {}, max {}",
            ms(self.connect.p50_ns),
            ms(self.connect.p99_ns),
            ms(self.schedule_lag.p99_ns),
            ms(self.schedule_lag.max_ns)
        );
        if !self.connections.is_empty() {
            s += "\n  connections:";
            for (name, n) in &self.connections {
                s += &format!(" {name} {n};");
            }
        }
        if self.skipped_local_backoff > 0 {
            s += &format!(
                "\n  skipped while backing off on local errors: {}",
                self.skipped_local_backoff
            );
        }
        for (mode, m) in &self.by_mode {
            s += &format!(
                "\n  mode {mode}: {} probes, {:.1}/s; ok {}, failed {}, local {}; ok p50 {}, p99 {};",
                m.probes,
                m.achieved_rate,
                m.ok,
                m.failed,
                m.local_errors,
                ms(m.ok_latency.p50_ns),
                ms(m.ok_latency.p99_ns)
            );
            for (name, n) in &m.by_outcome {
                s += &format!(" {name} {n};");
            }
        }
        if let Some(log) = &self.log {
            let per = if log.probes > 0 {
                log.bytes as f64 / log.probes as f64
            } else {
                0.0
            };
            s += &format!(
                "\n  log: {} ({} probes, {} bytes, {per:.1} bytes/probe)",
                log.path, log.probes, log.bytes
            );
        }
        s
    }
}
