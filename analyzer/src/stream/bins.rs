//! Time bins folded in start order, for a width chosen only at the end.
//!
//! The frame path bins with `group_by_dynamic` (windows `[k w, (k+1) w)`,
//! only those holding a probe), `w` about a 200th of the span probed,
//! rounded to 1, 2 or 5 times a power of ten ms ([`auto_bin_ns`]). Before
//! the span is known the fold keeps bins of a power of ten ms, starting at
//! 1 ms and ten times wider whenever more than [`MAX_BINS`] are held: a
//! 200th of the span is then still wider, and a multiple, so the final bins
//! are sums of these exactly.

use polars::prelude::*;

use crate::load::{CLASS_FAIL, CLASS_OK};

/// The most fine bins held before they are made ten times wider.
const MAX_BINS: usize = 1 << 16;

/// Counters per bin: probes, ok, failed, then one per backend id.
const FIXED: usize = 3;

/// Bins in start order.
#[derive(Debug)]
pub(super) struct FineBins {
    /// The width asked for, if any: then bins are final from the start.
    given: Option<i64>,
    /// The width of the bins held, ns.
    width: i64,
    backends: usize,
    /// Start of each bin held, ascending.
    starts: Vec<i64>,
    /// `FIXED + backends` counters per bin, flat.
    counts: Vec<i64>,
}

fn floor(t: i64, w: i64) -> i64 {
    t - t.rem_euclid(w)
}

impl FineBins {
    pub(super) fn new(backends: u32, given: Option<i64>) -> FineBins {
        FineBins {
            given,
            width: given.unwrap_or(1_000_000),
            backends: backends as usize,
            starts: Vec::new(),
            counts: Vec::new(),
        }
    }

    fn stride(&self) -> usize {
        FIXED + self.backends
    }

    /// Counts one probe, `t` not before the last one counted.
    pub(super) fn push(&mut self, t: i64, class: u32, backend: u32) {
        let start = floor(t, self.width);
        if self.starts.last() != Some(&start) {
            if self.given.is_none() && self.starts.len() >= MAX_BINS {
                self.widen(self.width * 10);
            }
            let start = floor(t, self.width);
            if self.starts.last() != Some(&start) {
                self.starts.push(start);
                self.counts.resize(self.counts.len() + self.stride(), 0);
            }
        }
        let stride = self.stride();
        let at = self.counts.len() - stride;
        let c = &mut self.counts[at..];
        c[0] += 1;
        if class == CLASS_OK {
            c[1] += 1;
        } else if class == CLASS_FAIL {
            c[2] += 1;
        }
        if backend >= 1 && (backend as usize) <= self.backends {
            c[FIXED + backend as usize - 1] += 1;
        }
    }

    /// Makes room for backend ids up to `backends` (a log's table grows as
    /// it is read).
    pub(super) fn grow(&mut self, backends: usize) {
        if backends > self.backends {
            let ids: Vec<u32> = (0..=self.backends as u32).collect();
            self.remap(&ids, backends);
        }
    }

    /// Moves each backend's counters from id `i` to id `map[i]` of a table
    /// of `backends` (ids the map leaves out, or maps past it, are dropped;
    /// two ids mapped to one add up).
    pub(super) fn remap(&mut self, map: &[u32], backends: usize) {
        let (old, new) = (self.stride(), FIXED + backends);
        let mut counts = vec![0; self.starts.len() * new];
        for (from, to) in self.counts.chunks(old).zip(counts.chunks_mut(new)) {
            to[..FIXED].copy_from_slice(&from[..FIXED]);
            for (i, &n) in from[FIXED..].iter().enumerate() {
                if let Some(&id) = map.get(i + 1)
                    && id >= 1
                    && id as usize <= backends
                {
                    to[FIXED + id as usize - 1] += n;
                }
            }
        }
        self.counts = counts;
        self.backends = backends;
    }

    /// Adds the bins of the probes after these (a later part of the same
    /// walk, as wide or widened to match; the same backends).
    pub(super) fn append(&mut self, mut later: FineBins) {
        if later.width > self.width {
            self.widen(later.width);
        } else if later.width < self.width {
            later.widen(self.width);
        }
        let stride = self.stride();
        let mut from = 0;
        if let (Some(&last), Some(&first)) = (self.starts.last(), later.starts.first())
            && last == first
        {
            // The bin the cut fell in: both parts counted into it.
            let at = self.counts.len() - stride;
            for (a, b) in self.counts[at..].iter_mut().zip(&later.counts[..stride]) {
                *a += b;
            }
            from = 1;
        }
        self.starts.extend_from_slice(&later.starts[from..]);
        self.counts
            .extend_from_slice(&later.counts[from * stride..]);
        if self.given.is_none() {
            while self.starts.len() > MAX_BINS {
                self.widen(self.width * 10);
            }
        }
    }

    /// Makes the bins `width` wide (a multiple of theirs), summing.
    fn widen(&mut self, width: i64) {
        let stride = self.stride();
        let mut starts: Vec<i64> = Vec::new();
        let mut counts: Vec<i64> = Vec::new();
        for (k, &s) in self.starts.iter().enumerate() {
            let start = floor(s, width);
            if starts.last() != Some(&start) {
                starts.push(start);
                counts.resize(counts.len() + stride, 0);
            }
            let at = counts.len() - stride;
            for (acc, v) in counts[at..]
                .iter_mut()
                .zip(&self.counts[k * stride..(k + 1) * stride])
            {
                *acc += v;
            }
        }
        self.starts = starts;
        self.counts = counts;
        self.width = width;
    }

    /// The width the report uses for a span probed of `span_ns`.
    #[cfg(test)]
    pub(super) fn width_for(&self, span_ns: i64) -> i64 {
        self.given
            .unwrap_or_else(|| crate::analyze::auto_bin_ns(span_ns))
    }

    /// The bins `width` wide as the frame path's table: `t, probes, ok,
    /// failed, b<id>`.
    pub(super) fn frame(mut self, width: i64) -> PolarsResult<DataFrame> {
        if width != self.width {
            if width % self.width != 0 {
                polars_bail!(ComputeError: "bins of {} ns cannot make bins of {width} ns", self.width);
            }
            self.widen(width);
        }
        let stride = self.stride();
        let n = self.starts.len();
        let column =
            |k: usize| -> Vec<i64> { (0..n).map(|b| self.counts[b * stride + k]).collect() };
        let mut cols = vec![
            Column::new("t".into(), self.starts.clone()),
            Column::new("probes".into(), column(0)),
            Column::new("ok".into(), column(1)),
            Column::new("failed".into(), column(2)),
        ];
        for id in 1..=self.backends {
            cols.push(Column::new(format!("b{id}").into(), column(FIXED + id - 1)));
        }
        DataFrame::new(n, cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::i64s;

    #[test]
    fn widened_fine_bins_sum_to_the_final_ones() {
        // Probes every 7 ms for 20 s, every 3rd failed, backends 1 and 2.
        let mut fine = FineBins::new(2, None);
        let mut direct = FineBins::new(2, Some(100_000_000));
        for k in 0..2858i64 {
            let t = 1_795_000_000_123_456_789 + k * 7_000_000;
            let class = if k % 3 == 0 { CLASS_FAIL } else { CLASS_OK };
            let backend = (k % 2 + 1) as u32;
            fine.push(t, class, backend);
            direct.push(t, class, backend);
        }
        assert!(fine.width < 100_000_000);
        let (a, b) = (
            fine.frame(100_000_000).unwrap(),
            direct.frame(100_000_000).unwrap(),
        );
        assert!(a.height() > 100);
        for col in ["t", "probes", "ok", "failed", "b1", "b2"] {
            assert_eq!(i64s(&a, col).unwrap(), i64s(&b, col).unwrap(), "{col}");
        }
        assert_eq!(i64s(&a, "probes").unwrap().iter().sum::<i64>(), 2858);
    }

    #[test]
    fn backends_grow_and_move_with_their_counts() {
        let mut bins = FineBins::new(1, Some(10));
        bins.push(0, CLASS_OK, 1);
        bins.grow(3);
        bins.push(1, CLASS_OK, 3);
        bins.push(12, CLASS_OK, 2);
        // The log's 1, 2, 3 are the run's 2, 1, 2.
        bins.remap(&[0, 2, 1, 2], 2);
        let f = bins.frame(10).unwrap();
        assert_eq!(i64s(&f, "probes").unwrap(), [2, 1]);
        assert_eq!(i64s(&f, "b1").unwrap(), [0, 1]);
        assert_eq!(i64s(&f, "b2").unwrap(), [2, 0]);
    }

    #[test]
    fn many_bins_widen_by_ten() {
        let mut fine = FineBins::new(0, None);
        for k in 0..(MAX_BINS as i64 + 10) {
            fine.push(k * 1_000_000, CLASS_OK, 0);
        }
        assert_eq!(fine.width, 10_000_000);
        assert!(fine.starts.len() < MAX_BINS);
        let e = fine.frame(15_000_000).unwrap_err().to_string();
        assert!(e.contains("cannot make bins"), "{e}");
    }
}
