//! Failure windows from the runs table, merging, and the union across agents.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use seamless_proto::Outcome;

use crate::AnalyzeOptions;
use crate::query::{Tables, bools, i64s};
use crate::report::{Downtime, Window};

/// One run of equal failure state (local errors skipped).
#[derive(Debug, Clone, Copy)]
struct Run {
    id: i64,
    fail: bool,
    t_first: i64,
    t_last: i64,
    i_first: i64,
    i_last: i64,
    b_first: u32,
    b_last: u32,
}

fn runs(df: &DataFrame) -> PolarsResult<Vec<Run>> {
    let id = i64s(df, "run")?;
    let fail = bools(df, "fail")?;
    let t_first = i64s(df, "t_first")?;
    let t_last = i64s(df, "t_last")?;
    let i_first = i64s(df, "i_first")?;
    let i_last = i64s(df, "i_last")?;
    let b_first = i64s(df, "b_first")?;
    let b_last = i64s(df, "b_last")?;
    let mut runs: Vec<Run> = (0..df.height())
        .map(|k| Run {
            id: id[k],
            fail: fail[k],
            t_first: t_first[k],
            t_last: t_last[k],
            i_first: i_first[k],
            i_last: i_last[k],
            b_first: u32::try_from(b_first[k]).unwrap_or(0),
            b_last: u32::try_from(b_last[k]).unwrap_or(0),
        })
        .collect();
    runs.sort_by_key(|r| r.id);
    Ok(runs)
}

/// Failed probes of one run: (outcome, backend, count).
type Combos = HashMap<i64, Vec<(u32, u32, u64)>>;

fn combos(df: &DataFrame) -> PolarsResult<Combos> {
    let run = i64s(df, "run")?;
    let outcome = i64s(df, "outcome")?;
    let backend = i64s(df, "backend")?;
    let n = i64s(df, "n")?;
    let mut map: Combos = HashMap::new();
    for k in 0..df.height() {
        map.entry(run[k]).or_default().push((
            u32::try_from(outcome[k]).unwrap_or(u32::MAX),
            u32::try_from(backend[k]).unwrap_or(0),
            u64::try_from(n[k]).unwrap_or(0),
        ));
    }
    Ok(map)
}

/// The name of a run-wide backend id.
pub(crate) fn backend_name(names: &[String], id: u32) -> Option<String> {
    seamless_proto::log::backend_name(names, id).map(str::to_owned)
}

/// The outcome name of a byte.
pub(crate) fn outcome_name(byte: u32) -> String {
    u8::try_from(byte)
        .ok()
        .and_then(Outcome::from_u8)
        .map_or_else(|| format!("outcome_{byte}"), |o| o.name().to_owned())
}

/// Whether the failure run `next` joins the window ending with `last`
/// under the fixed rules (`--merge-successes`, `--merge-gap`).
fn merges(last: &Run, next: &Run, opts: &AnalyzeOptions) -> bool {
    let ok_between = u64::try_from(next.i_first - last.i_last - 1).unwrap_or(0);
    let gap = next.t_first - last.t_last;
    (opts.merge_successes > 0 && ok_between <= opts.merge_successes)
        || opts.merge_gap_ns.is_some_and(|g| gap <= g)
}

/// The failure windows of one agent's tables.
pub(crate) fn windows(
    tables: &Tables,
    names: &[String],
    opts: &AnalyzeOptions,
    agent: &str,
) -> PolarsResult<Vec<Window>> {
    let runs = runs(&tables.runs)?;
    let combos = combos(&tables.fail_combos)?;
    let fails: Vec<usize> = (0..runs.len()).filter(|&k| runs[k].fail).collect();
    // Spans of indices into `fails`, and for the automatic rule the run of
    // successes that would have ended each.
    let spans: Vec<(usize, usize, Option<u64>)> = if opts.auto_merge() {
        let seq: Vec<FailRun> = fails
            .iter()
            .map(|&k| FailRun {
                i_first: runs[k].i_first,
                i_last: runs[k].i_last,
            })
            .collect();
        auto_spans(&seq)
            .into_iter()
            .map(|s| (s.first, s.last, Some(s.split_successes)))
            .collect()
    } else {
        let mut spans: Vec<(usize, usize, Option<u64>)> = Vec::new();
        for (j, &k) in fails.iter().enumerate() {
            match spans.last_mut() {
                Some((_, end, _))
                    if !opts.no_merge && merges(&runs[fails[*end]], &runs[k], opts) =>
                {
                    *end = j
                }
                _ => spans.push((j, j, None)),
            }
        }
        spans
    };
    Ok(spans
        .into_iter()
        .map(|(s, e, k)| {
            let mut w = window(&runs, fails[s], fails[e], &combos, names, agent);
            w.split_successes = k;
            w
        })
        .collect())
}

/// The chance allowed for the automatic merging to cut one outage in two:
/// that a run of successes as long as the one it splits at happens by
/// chance anywhere inside the window, at the window's failure ratio
/// (Bonferroni over the window's runs of successes).
pub(crate) const SPLIT_MISS: f64 = 0.001;

/// Runs of successes this long or longer always end a window.
pub(crate) const MAX_SPLIT_SUCCESSES: u64 = 1000;

/// The smallest failure ratio of a partial outage (as seen, not its
/// bound): failures scattered more thinly than this read as separate
/// windows rather than as one long one of a tiny ratio.
pub(crate) const MIN_PARTIAL_RATIO: f64 = 0.01;

/// A failure run, by its indices among the probes that count (local errors
/// skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FailRun {
    /// Index of its first failed probe.
    pub(crate) i_first: i64,
    /// Index of its last failed probe.
    pub(crate) i_last: i64,
}

/// A window found by [`auto_spans`]: failure runs `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AutoSpan {
    /// Index of its first failure run.
    pub(crate) first: usize,
    /// Index of its last failure run.
    pub(crate) last: usize,
    /// The shortest run of successes that ends this window: a run this long
    /// inside it would have less than [`SPLIT_MISS`] chance.
    pub(crate) split_successes: u64,
}

/// The shortest run of successes that has less than [`SPLIT_MISS`] chance
/// to happen anywhere among `gaps` runs of successes inside an outage that
/// fails `ratio` of the probes (at most [`MAX_SPLIT_SUCCESSES`]).
pub(crate) fn split_successes(ratio: f64, gaps: u64) -> u64 {
    if ratio >= 1.0 || gaps == 0 {
        return 1;
    }
    if ratio <= 0.0 {
        return 1;
    }
    // A run of successes between two failure runs holds at least one; it
    // holds k or more with chance (1 - ratio)^(k - 1).
    let k = 1.0 + ((SPLIT_MISS / gaps as f64).ln() / (1.0 - ratio).ln()).ceil();
    (k.max(1.0) as u64).min(MAX_SPLIT_SUCCESSES)
}

/// The automatic merging of failure runs (in order, not overlapping) into
/// windows: a run of successes between two failures is inside the outage
/// unless it could not be chance. Top down: a span of failure runs splits
/// at its longest run of successes when that is at least
/// [`split_successes`] at the span's failure ratio without that run, over
/// the span's runs of successes (failures thinner than
/// [`MIN_PARTIAL_RATIO`] never merge); each part is then judged alone. A span with no such run of successes is one window.
pub(crate) fn auto_spans(fails: &[FailRun]) -> Vec<AutoSpan> {
    let n = fails.len();
    if n == 0 {
        return Vec::new();
    }
    // gaps[j]: successes between failure runs j and j + 1.
    let gaps: Vec<i64> = fails
        .windows(2)
        .map(|p| (p[1].i_first - p[0].i_last - 1).max(0))
        .collect();
    let mut failed_before = vec![0i64; n + 1];
    for (j, f) in fails.iter().enumerate() {
        failed_before[j + 1] = failed_before[j] + (f.i_last - f.i_first + 1);
    }
    let longest = Longest::new(&gaps);
    let mut out = Vec::new();
    let mut todo = vec![(0usize, n - 1)];
    while let Some((a, b)) = todo.pop() {
        let failed = failed_before[b + 1] - failed_before[a];
        if a == b {
            out.push(AutoSpan {
                first: a,
                last: b,
                split_successes: split_successes(1.0, 0),
            });
            continue;
        }
        let j = longest.argmax(a, b - 1);
        let total = fails[b].i_last - fails[a].i_first + 1;
        let rest = (total - gaps[j]) as f64;
        let k = if (failed as f64) < MIN_PARTIAL_RATIO * rest {
            1
        } else {
            split_successes(failed as f64 / rest, (b - a) as u64)
        };
        if gaps[j] as u64 >= k {
            // Right part first so that the left one comes off the stack next.
            todo.push((j + 1, b));
            todo.push((a, j));
        } else {
            out.push(AutoSpan {
                first: a,
                last: b,
                split_successes: k,
            });
        }
    }
    out.sort_by_key(|s| s.first);
    out
}

/// Range-maximum queries over the runs of successes (a sparse table): the
/// first index of the longest in a range, in constant time.
struct Longest<'a> {
    gaps: &'a [i64],
    table: Vec<Vec<usize>>,
}

impl<'a> Longest<'a> {
    fn new(gaps: &'a [i64]) -> Self {
        let mut table = vec![(0..gaps.len()).collect::<Vec<usize>>()];
        let mut width = 1;
        while 2 * width <= gaps.len() {
            let prev = &table[table.len() - 1];
            let next = (0..=gaps.len() - 2 * width)
                .map(|i| {
                    let (x, y) = (prev[i], prev[i + width]);
                    if gaps[y] > gaps[x] { y } else { x }
                })
                .collect();
            table.push(next);
            width *= 2;
        }
        Longest { gaps, table }
    }

    /// The first index of the longest run of successes in `lo..=hi`.
    fn argmax(&self, lo: usize, hi: usize) -> usize {
        let level = (usize::BITS - 1 - (hi - lo + 1).leading_zeros()) as usize;
        let (x, y) = (
            self.table[level][lo],
            self.table[level][hi + 1 - (1 << level)],
        );
        if self.gaps[y] > self.gaps[x] { y } else { x }
    }
}

fn window(
    runs: &[Run],
    s: usize,
    e: usize,
    combos: &Combos,
    names: &[String],
    agent: &str,
) -> Window {
    let before = s.checked_sub(1).map(|k| runs[k]);
    let after = runs.get(e + 1).copied();
    let mut kinds = BTreeMap::new();
    let mut backends = BTreeSet::new();
    let mut failed = 0;
    for run in &runs[s..=e] {
        if run.fail {
            failed += u64::try_from(run.i_last - run.i_first + 1).unwrap_or(0);
            for &(outcome, backend, n) in combos.get(&run.id).into_iter().flatten() {
                *kinds.entry(outcome_name(outcome)).or_insert(0) += n;
                backends.extend(backend_name(names, backend));
            }
        } else {
            backends.extend(backend_name(names, run.b_first));
            backends.extend(backend_name(names, run.b_last));
        }
    }
    let backend_before = before.and_then(|r| backend_name(names, r.b_last));
    let backend_after = after.and_then(|r| backend_name(names, r.b_first));
    backends.extend(backend_before.clone());
    backends.extend(backend_after.clone());
    let (first, last) = (runs[s].t_first, runs[e].t_last);
    let last_ok_before_ns = before.map(|r| r.t_last);
    let first_ok_after_ns = after.map(|r| r.t_first);
    let total = u64::try_from(runs[e].i_last - runs[s].i_first + 1).unwrap_or(0);
    Window {
        first_fail_ns: first,
        last_fail_ns: last,
        last_ok_before_ns,
        first_ok_after_ns,
        lower_ns: last - first,
        upper_ns: last_ok_before_ns.zip(first_ok_after_ns).map(|(b, a)| a - b),
        edge_uncertainty_ns: 0,
        split_successes: None,
        failed,
        total,
        ratio: if total == 0 {
            0.0
        } else {
            failed as f64 / total as f64
        },
        kinds,
        backends: backends.into_iter().collect(),
        backend_before,
        backend_after,
        agents: vec![agent.to_owned()],
    }
}

/// The extent a window covers: from the last ok before (or the first
/// failure) to the first ok after (or the last failure).
fn extent(w: &Window) -> (i64, i64) {
    (
        w.last_ok_before_ns.unwrap_or(w.first_fail_ns),
        w.first_ok_after_ns.unwrap_or(w.last_fail_ns),
    )
}

/// The union of several agents' windows: windows whose extents overlap
/// become one, with counts summed and the widest bounds.
pub(crate) fn union(mut all: Vec<Window>) -> Vec<Window> {
    all.sort_by_key(|w| (extent(w).0, w.first_fail_ns));
    let mut out: Vec<Window> = Vec::new();
    for w in all {
        if let Some(cur) = out.last_mut()
            && extent(&w).0 <= extent(cur).1
        {
            join(cur, w);
            continue;
        }
        out.push(w);
    }
    out
}

fn join(cur: &mut Window, w: Window) {
    let (cur_start, cur_end) = extent(cur);
    let (w_start, w_end) = extent(&w);
    // The joined window is bounded by the earliest ok-before and the latest
    // ok-after; where an unbounded edge ties, it stays unbounded.
    if w_start < cur_start || (w_start == cur_start && w.last_ok_before_ns.is_none()) {
        cur.last_ok_before_ns = w.last_ok_before_ns;
        cur.backend_before = w.backend_before.clone();
    }
    if w_end > cur_end || (w_end == cur_end && w.first_ok_after_ns.is_none()) {
        cur.first_ok_after_ns = w.first_ok_after_ns;
        cur.backend_after = w.backend_after.clone();
    }
    cur.first_fail_ns = cur.first_fail_ns.min(w.first_fail_ns);
    cur.last_fail_ns = cur.last_fail_ns.max(w.last_fail_ns);
    cur.lower_ns = cur.last_fail_ns - cur.first_fail_ns;
    cur.edge_uncertainty_ns = cur.edge_uncertainty_ns.max(w.edge_uncertainty_ns);
    cur.split_successes = cur.split_successes.max(w.split_successes);
    cur.upper_ns = upper(cur);
    cur.failed += w.failed;
    cur.total += w.total;
    cur.ratio = if cur.total == 0 {
        0.0
    } else {
        cur.failed as f64 / cur.total as f64
    };
    for (k, n) in w.kinds {
        *cur.kinds.entry(k).or_insert(0) += n;
    }
    let backends: BTreeSet<String> = cur.backends.drain(..).chain(w.backends).collect();
    cur.backends = backends.into_iter().collect();
    let agents: BTreeSet<String> = cur.agents.drain(..).chain(w.agents).collect();
    cur.agents = agents.into_iter().collect();
}

/// The chance left for a run of successes at a partial window's edge to
/// hide the outage's true start or end.
const EDGE_MISS: f64 = 0.001;

/// The shortest run of successes that has less than [`EDGE_MISS`] chance of
/// happening by luck inside an outage that fails `ratio` of the probes: 1
/// for a full outage.
pub(crate) fn edge_probes(ratio: f64) -> i64 {
    if !(ratio > 0.0 && ratio < 1.0) {
        return 1;
    }
    (EDGE_MISS.ln() / (1.0 - ratio).ln())
        .ceil()
        .clamp(1.0, 1000.0) as i64
}

/// The upper bound of a window: observed edges, widened by the edge
/// uncertainty at each side.
fn upper(w: &Window) -> Option<i64> {
    w.last_ok_before_ns
        .zip(w.first_ok_after_ns)
        .map(|(b, a)| a - b + 2 * w.edge_uncertainty_ns)
}

/// Widens the upper bound of partial windows (some probes inside succeeded)
/// by the run of successes that could hide each edge, in probe intervals.
pub(crate) fn widen_partial(windows: &mut [Window], interval_ns: i64) {
    for w in windows {
        w.edge_uncertainty_ns = (edge_probes(w.ratio) - 1) * interval_ns.max(0);
        w.upper_ns = upper(w);
    }
}

/// Downtime summed over windows.
pub(crate) fn downtime(windows: &[Window]) -> Downtime {
    let unbounded = windows.iter().filter(|w| w.upper_ns.is_none()).count() as u64;
    Downtime {
        windows: windows.len() as u64,
        lower_ns: windows.iter().map(|w| w.lower_ns).sum(),
        upper_ns: if unbounded == 0 {
            Some(windows.iter().filter_map(|w| w.upper_ns).sum())
        } else {
            None
        },
        unbounded_windows: unbounded,
        failed: windows.iter().map(|w| w.failed).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failure runs of a pattern: `x` failed, anything else ok.
    fn fails(p: &str) -> Vec<FailRun> {
        let b = p.as_bytes();
        let mut out: Vec<FailRun> = Vec::new();
        for (i, &c) in b.iter().enumerate() {
            if c != b'x' {
                continue;
            }
            let i = i as i64;
            match out.last_mut() {
                Some(r) if r.i_last == i - 1 => r.i_last = i,
                _ => out.push(FailRun {
                    i_first: i,
                    i_last: i,
                }),
            }
        }
        out
    }

    fn spans(p: &str) -> Vec<(usize, usize)> {
        auto_spans(&fails(p))
            .iter()
            .map(|s| (s.first, s.last))
            .collect()
    }

    #[test]
    fn split_successes_at_a_ratio() {
        assert_eq!(split_successes(1.0, 5), 1);
        assert_eq!(split_successes(0.5, 0), 1);
        // One run of successes (at least one long) at ratio 0.5: 11
        // (0.5^10 < 0.001 < 0.5^9).
        assert_eq!(split_successes(0.5, 1), 11);
        // 100 of them: 0.5^17 * 100 < 0.001.
        assert_eq!(split_successes(0.5, 100), 18);
        assert_eq!(split_successes(0.011, 1000), MAX_SPLIT_SUCCESSES);
    }

    #[test]
    fn auto_spans_of_patterns() {
        assert!(spans("....").is_empty());
        assert_eq!(spans("..x.."), vec![(0, 0)]);
        // Full outages: a success inside one cannot be chance.
        assert_eq!(spans("xxxx...xxxx"), vec![(0, 0), (1, 1)]);
        // Too few failures to tell an outage from two.
        assert_eq!(spans("x.x"), vec![(0, 0), (1, 1)]);
        // A partial outage, alternating: one window.
        assert_eq!(spans(".x.x.x.x.x.x.x.x."), vec![(0, 7)]);
        // ... and a second one far after it: two.
        let p = format!(".x.x.x.x.x.x.x.x.{}x.x.x.x.x.x.x.x.", ".".repeat(40));
        assert_eq!(spans(&p), vec![(0, 7), (8, 15)]);
        // Scattered failures are no outage.
        let p = format!("x{}", format!("{}x", ".".repeat(300)).repeat(9));
        assert_eq!(spans(&p).len(), 10);
    }

    /// Random outages: splitmix64 draws, failing with probability `ratio`.
    fn outage(n: usize, ratio: f64, state: &mut u64) -> String {
        (0..n)
            .map(|_| {
                *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                if ((z >> 11) as f64 / (1u64 << 53) as f64) < ratio {
                    'x'
                } else {
                    '.'
                }
            })
            .collect()
    }

    #[test]
    fn random_partial_outages_are_rarely_cut() {
        // The bound is 0.1% for the successes plus 0.1% for the ratio's
        // bound: of 1000 outages at each ratio, at most a few may be cut.
        let mut state = 7;
        for (ratio, n) in [(0.5, 600), (0.2, 1000), (0.05, 3000), (0.9, 200)] {
            let mut cut = 0;
            for _ in 0..1000 {
                let p = format!("x{}x", outage(n, ratio, &mut state));
                if spans(&p).len() > 1 {
                    cut += 1;
                }
            }
            assert!(cut <= 4, "ratio {ratio}: {cut} of 1000 cut");
        }
    }

    #[test]
    fn longest_run_queries() {
        let gaps = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
        let l = Longest::new(&gaps);
        for lo in 0..gaps.len() {
            for hi in lo..gaps.len() {
                let want = (lo..=hi).fold(lo, |m, i| if gaps[i] > gaps[m] { i } else { m });
                assert_eq!(l.argmax(lo, hi), want, "{lo}..={hi}");
            }
        }
    }
}
