//! The automatic merging of failure runs into windows: a run of
//! successes inside an outage unless it could not be chance.

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
