//! Exact nearest-rank quantiles in two passes, in memory bounded by the
//! answer rather than by the probe count.
//!
//! The first pass counts values into log-linear buckets (every value below
//! 1024 its own bucket, then 1024 buckets per power of two, so a bucket is
//! at most 0.1% wide); that gives, for each quantile, the bucket holding its
//! rank and the rank within it. The second pass keeps only the values that
//! fall into those buckets, and a selection among them gives the exact
//! value: the same as selecting among all values (rank `round(q (n - 1))`).

/// Sub-buckets per power of two, and the values below it bucketed alone.
const SUB: usize = 1024;
const SUB_BITS: u32 = 10;

/// The bucket of a value (negative values count as 0).
fn bucket(v: i64) -> usize {
    let v = v.max(0) as u64;
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let m = (v >> (e - SUB_BITS)) as usize - SUB;
    SUB + (e - SUB_BITS) as usize * SUB + m
}

/// The first pass: counts by bucket, the count and the largest value.
#[derive(Debug, Clone, Default)]
pub(super) struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: i64,
}

/// Where one quantile's value lies: its bucket, and its rank among the
/// values of that bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Target {
    bucket: usize,
    rank: u64,
}

impl Hist {
    pub(super) fn push(&mut self, v: i64) {
        let b = bucket(v);
        if b >= self.counts.len() {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.max = if self.n == 0 { v } else { self.max.max(v) };
        self.n += 1;
    }

    pub(super) fn n(&self) -> u64 {
        self.n
    }

    pub(super) fn max(&self) -> i64 {
        self.max
    }

    /// The targets of quantiles `qs` (none when empty).
    pub(super) fn targets(&self, qs: &[f64]) -> Vec<Target> {
        if self.n == 0 {
            return Vec::new();
        }
        qs.iter()
            .map(|&q| {
                let idx = (((self.n - 1) as f64) * q).round() as u64;
                let idx = idx.min(self.n - 1);
                let mut below = 0;
                for (b, &c) in self.counts.iter().enumerate() {
                    if below + c > idx {
                        return Target {
                            bucket: b,
                            rank: idx - below,
                        };
                    }
                    below += c;
                }
                unreachable!("the ranks are below the count")
            })
            .collect()
    }
}

/// The second pass for one set of targets: the values of their buckets.
#[derive(Debug, Clone)]
pub(super) struct Pick {
    targets: Vec<Target>,
    /// Each target's bucket's values (targets sharing a bucket share it).
    values: Vec<(usize, Vec<i64>)>,
}

impl Pick {
    pub(super) fn new(targets: Vec<Target>) -> Pick {
        let mut buckets: Vec<usize> = targets.iter().map(|t| t.bucket).collect();
        buckets.sort_unstable();
        buckets.dedup();
        Pick {
            targets,
            values: buckets.into_iter().map(|b| (b, Vec::new())).collect(),
        }
    }

    pub(super) fn push(&mut self, v: i64) {
        let b = bucket(v);
        if let Some((_, vals)) = self.values.iter_mut().find(|(k, _)| *k == b) {
            vals.push(v);
        }
    }

    /// The quantiles, in the order asked; zeros without values.
    pub(super) fn finish(mut self, asked: usize) -> Vec<i64> {
        if self.targets.is_empty() {
            return vec![0; asked];
        }
        self.targets
            .iter()
            .map(|t| {
                let (_, vals) = self
                    .values
                    .iter_mut()
                    .find(|(k, _)| *k == t.bucket)
                    .expect("a bucket per target");
                let (_, v, _) = vals.select_nth_unstable(t.rank as usize);
                *v
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::oracle::quantiles;
    use super::*;

    #[test]
    fn buckets_rise_with_the_value_and_stay_narrow() {
        let mut last = 0;
        for v in [0i64, 1, 1023, 1024, 1025, 2047, 2048, 1 << 40, i64::MAX] {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            last = b;
        }
        assert_eq!(bucket(-5), 0);
        // 1024 buckets per power of two above 1024: 0.1% wide at most.
        assert_eq!(bucket(1 << 20), bucket((1 << 20) + 1023));
        assert_ne!(bucket(1 << 20), bucket((1 << 20) + 1024));
    }

    #[test]
    fn two_passes_give_the_selected_quantiles() {
        let mut state = 7u64;
        let qs = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0];
        for n in [1usize, 2, 5, 1000, 50_000] {
            let vals: Vec<i64> = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    // Concentrated like probe gaps: 500 us, a few us jitter,
                    // and a tail.
                    let j = (state >> 33) as i64 % 4000;
                    if state.is_multiple_of(97) {
                        9_000_000 + j
                    } else {
                        500_000 + j
                    }
                })
                .collect();
            let mut h = Hist::default();
            vals.iter().for_each(|&v| h.push(v));
            let mut pick = Pick::new(h.targets(&qs));
            vals.iter().for_each(|&v| pick.push(v));
            let got = pick.finish(qs.len());
            let want = quantiles(&mut vals.clone(), &qs);
            assert_eq!(got, want, "n = {n}");
            assert_eq!(h.max(), *vals.iter().max().unwrap());
        }
        let empty = Hist::default();
        assert_eq!(Pick::new(empty.targets(&qs)).finish(2), [0, 0]);
    }
}
