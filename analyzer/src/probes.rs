//! Every agent's probes, walked in one start order without stacking them
//! into one frame: a k-way merge over the agents' frames (each sorted by
//! `t`), ties in agent order, which is the order a stable sort of the
//! stacked frames gives. The merged view's fold and the plots read the
//! probes this way, so a run of many agents holds each probe once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use polars::prelude::*;

/// One probe as the merged walk hands it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    /// Start, wall ns.
    pub t: i64,
    /// Total duration, ns.
    pub lat: i64,
    /// Outcome byte.
    pub outcome: u32,
    /// Class (ok, failed, local).
    pub class: u32,
    /// Run-wide backend id (0: none).
    pub backend: u32,
}

/// The columns of one frame, contiguous.
struct Cols<'a> {
    t: &'a [i64],
    lat: &'a [i64],
    outcome: &'a [u32],
    class: &'a [u32],
    backend: &'a [u32],
}

impl<'a> Cols<'a> {
    fn of(df: &'a DataFrame) -> PolarsResult<Cols<'a>> {
        Ok(Cols {
            t: df.column("t")?.i64()?.cont_slice()?,
            lat: df.column("lat")?.i64()?.cont_slice()?,
            outcome: df.column("outcome")?.u32()?.cont_slice()?,
            class: df.column("class")?.u32()?.cont_slice()?,
            backend: df.column("backend")?.u32()?.cont_slice()?,
        })
    }

    fn row(&self, k: usize) -> Row {
        Row {
            t: self.t[k],
            lat: self.lat[k],
            outcome: self.outcome[k],
            class: self.class[k],
            backend: self.backend[k],
        }
    }
}

/// The agents' probe frames, each sorted by `t` and in one chunk (as
/// [`crate::query::probe_frame`] builds them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Probes {
    frames: Vec<DataFrame>,
}

impl Probes {
    /// Over these frames, in this order (ties go to the earlier frame).
    pub(crate) fn new(frames: Vec<DataFrame>) -> Probes {
        Probes { frames }
    }

    /// The first and last start over every frame, if any probe.
    pub(crate) fn span(&self) -> PolarsResult<Option<(i64, i64)>> {
        let mut span: Option<(i64, i64)> = None;
        for df in &self.frames {
            let t = Cols::of(df)?.t;
            if let (Some(&a), Some(&b)) = (t.first(), t.last()) {
                span = Some(span.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
            }
        }
        Ok(span)
    }

    /// Hands `f` every probe of every frame in start order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(Row)) -> PolarsResult<()> {
        let cols = self
            .frames
            .iter()
            .map(Cols::of)
            .collect::<PolarsResult<Vec<_>>>()?;
        if let [one] = cols.as_slice() {
            for k in 0..one.t.len() {
                f(one.row(k));
            }
            return Ok(());
        }
        // (next start, frame, position), smallest first.
        let mut heap: BinaryHeap<Reverse<(i64, usize, usize)>> = cols
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.t.first().map(|&t| Reverse((t, i, 0))))
            .collect();
        while let Some(Reverse((_, i, k))) = heap.pop() {
            let c = &cols[i];
            f(c.row(k));
            if let Some(&t) = c.t.get(k + 1) {
                heap.push(Reverse((t, i, k + 1)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t: &[i64], tag: u32) -> DataFrame {
        let n = t.len();
        DataFrame::new(
            n,
            vec![
                Column::new("t".into(), t.to_vec()),
                Column::new("lat".into(), vec![1i64; n]),
                Column::new("outcome".into(), vec![tag; n]),
                Column::new("class".into(), vec![0u32; n]),
                Column::new("backend".into(), vec![0u32; n]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_walk_is_a_stable_sort_of_the_stacked_frames() {
        let frames = vec![
            frame(&[1, 4, 4, 9], 0),
            frame(&[2, 4, 10], 1),
            frame(&[], 2),
            frame(&[0, 4], 3),
        ];
        let mut stacked = frames[0].clone();
        for f in &frames[1..] {
            stacked.vstack_mut(f).unwrap();
        }
        let sorted = stacked
            .sort(
                ["t"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .unwrap();
        let want: Vec<(i64, u32)> = sorted
            .column("t")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .zip(
                sorted
                    .column("outcome")
                    .unwrap()
                    .u32()
                    .unwrap()
                    .into_no_null_iter(),
            )
            .collect();
        let p = Probes::new(frames);
        let mut got = Vec::new();
        p.for_each(|r| got.push((r.t, r.outcome))).unwrap();
        assert_eq!(got, want);
        assert_eq!(p.span().unwrap(), Some((0, 10)));
        assert_eq!(Probes::default().span().unwrap(), None);
    }
}
