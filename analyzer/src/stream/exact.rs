//! Exact nearest-rank quantiles in two passes, in memory bounded by the
//! answer rather than by the probe count.
//!
//! The first pass counts values into log-linear buckets (every value below
//! 1024 its own bucket, then 1024 buckets per power of two, so a bucket is
//! at most 0.1% wide); that gives, for each quantile, the bucket holding its
//! rank and the rank within it. The second pass counts only the values that
//! fall into those buckets, each distinct value once (a bucket at value v is at
//! most v/1024 wide, so it holds that many distinct values at most: memory
//! bounded by the values' range, not by the probe count), and the rank within the
//! bucket gives the exact value: the same as selecting among all values
//! (rank `round(q (n - 1))`). Both passes add up across probe sets, so a
//! merged view's latency quantiles come from its agents' walks.

use std::collections::BTreeMap;

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

/// Values below this are counted one by one when a histogram is dense.
const DENSE: usize = 1 << 20;

/// The first pass: counts by bucket, the count and the largest value; when
/// dense ([`Hist::dense`]), also a count of each value below [`DENSE`], so
/// that quantiles falling there are exact without a second pass.
#[derive(Debug, Clone, Default)]
pub(super) struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: i64,
    exact: Option<Vec<u64>>,
}

/// Where one quantile's value lies: its bucket, and its rank among the
/// values of that bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Target {
    bucket: usize,
    rank: u64,
}

impl Hist {
    /// A histogram that also counts each value below 2^20 (1 ms of ns; 8
    /// MB): for the gaps of a merged view, whose quantiles then need no
    /// second walk of the merge.
    pub(super) fn dense() -> Hist {
        Hist {
            exact: Some(vec![0; DENSE]),
            ..Hist::default()
        }
    }

    /// The quantiles `qs` exactly, when the histogram is dense and each
    /// falls among the values it counted one by one.
    pub(super) fn exact(&self, qs: &[f64]) -> Option<Vec<i64>> {
        let exact = self.exact.as_ref()?;
        if self.n == 0 {
            return None;
        }
        let below: u64 = exact.iter().sum();
        qs.iter()
            .map(|&q| {
                let idx = ((((self.n - 1) as f64) * q).round() as u64).min(self.n - 1);
                if idx >= below {
                    return None;
                }
                let mut seen = 0;
                exact.iter().position(|&c| {
                    seen += c;
                    seen > idx
                })
            })
            .map(|v| v.map(|v| v as i64))
            .collect()
    }

    pub(super) fn push(&mut self, v: i64) {
        if let Some(e) = &mut self.exact
            && let Some(c) = usize::try_from(v).ok().and_then(|v| e.get_mut(v))
        {
            *c += 1;
        }
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

    /// Adds the counts of `other` (the histogram of both value sets; dense
    /// when both are).
    pub(super) fn add(&mut self, other: &Hist) {
        match (&mut self.exact, &other.exact) {
            (Some(a), Some(b)) => a.iter_mut().zip(b).for_each(|(a, b)| *a += b),
            (Some(_), None) if other.n > 0 => self.exact = None,
            _ => {}
        }
        if other.n == 0 {
            return;
        }
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max = if self.n == 0 {
            other.max
        } else {
            self.max.max(other.max)
        };
        self.n += other.n;
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

/// The second pass for one set of targets: the values of their buckets,
/// counted by value.
#[derive(Debug, Clone)]
pub(super) struct Pick {
    targets: Vec<Target>,
    /// Each target's bucket's values (targets sharing a bucket share it).
    values: Vec<(usize, BTreeMap<i64, u64>)>,
}

impl Pick {
    pub(super) fn new(targets: Vec<Target>) -> Pick {
        let mut buckets: Vec<usize> = targets.iter().map(|t| t.bucket).collect();
        buckets.sort_unstable();
        buckets.dedup();
        Pick {
            targets,
            values: buckets.into_iter().map(|b| (b, BTreeMap::new())).collect(),
        }
    }

    pub(super) fn push(&mut self, v: i64) {
        if self.values.is_empty() {
            return;
        }
        let b = bucket(v);
        if let Some((_, vals)) = self.values.iter_mut().find(|(k, _)| *k == b) {
            *vals.entry(v).or_insert(0) += 1;
        }
    }

    /// Adds the values `other` counted (the same targets).
    pub(super) fn add(&mut self, other: Pick) {
        for ((_, mine), (_, theirs)) in self.values.iter_mut().zip(other.values) {
            for (v, n) in theirs {
                *mine.entry(v).or_insert(0) += n;
            }
        }
    }

    /// The quantiles, in the order asked; zeros without values.
    pub(super) fn finish(self, asked: usize) -> Vec<i64> {
        if self.targets.is_empty() {
            return vec![0; asked];
        }
        self.targets
            .iter()
            .map(|t| {
                let vals = self
                    .values
                    .iter()
                    .find(|(k, _)| *k == t.bucket)
                    .map(|(_, v)| v);
                let mut below = 0;
                for (&v, &n) in vals.into_iter().flatten() {
                    below += n;
                    if below > t.rank {
                        return v;
                    }
                }
                // The first pass counted the bucket: the second finds it.
                0
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

    #[test]
    fn a_dense_histogram_gives_the_quantiles_below_its_limit_at_once() {
        let qs = [0.0, 0.5, 0.99, 1.0];
        let small: Vec<i64> = (0..10_000).map(|k| k * 37 % 90_001).collect();
        let (mut a, mut b) = (Hist::dense(), Hist::dense());
        small[..4000].iter().for_each(|&v| a.push(v));
        small[4000..].iter().for_each(|&v| b.push(v));
        a.add(&b);
        let mut all = small.clone();
        assert_eq!(a.exact(&qs).unwrap(), quantiles(&mut all, &qs));
        // A quantile among the values above the limit needs the second pass.
        a.push(5 << 20);
        assert!(a.exact(&[1.0]).is_none());
        assert!(a.exact(&[0.5]).is_some());
        assert!(Hist::default().exact(&qs).is_none());
    }

    #[test]
    fn both_passes_add_up_across_value_sets() {
        let qs = [0.0, 0.5, 0.99, 1.0];
        // Two sets, one of them with every value alike.
        let a: Vec<i64> = (0..3000).map(|k| 400_000 + k * 37 % 5000).collect();
        let b: Vec<i64> = vec![401_234; 2000];
        let (mut ha, mut hb) = (Hist::default(), Hist::default());
        a.iter().for_each(|&v| ha.push(v));
        b.iter().for_each(|&v| hb.push(v));
        ha.add(&hb);
        ha.add(&Hist::default());
        let targets = ha.targets(&qs);
        let (mut pa, mut pb) = (Pick::new(targets.clone()), Pick::new(targets));
        a.iter().for_each(|&v| pa.push(v));
        b.iter().for_each(|&v| pb.push(v));
        pa.add(pb);
        let mut all: Vec<i64> = a.iter().chain(&b).copied().collect();
        assert_eq!(pa.finish(qs.len()), quantiles(&mut all, &qs));
        assert_eq!(ha.n(), 5000);
        assert_eq!(ha.max(), *all.iter().max().unwrap());
    }
}
