//! Every agent's probes, walked in one start order without stacking them:
//! a k-way merge over the agents' sources (each in start order: a spill on
//! disk, or a frame sorted by `t` in the tests), ties in agent order, which
//! is the order a stable sort of the stacked frames gives. The merged
//! view's fold, the quantiles, the edges of partial windows and the plots
//! read the probes this way, a block at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use polars::prelude::*;

use crate::spill::{Record, Spill, SpillRows};

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
#[cfg(test)]
struct Cols<'a> {
    t: &'a [i64],
    lat: &'a [i64],
    outcome: &'a [u32],
    class: &'a [u32],
    backend: &'a [u32],
}

#[cfg(test)]
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

/// Where one agent's probes are walked from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A frame in memory (the tests' reference path).
    #[cfg(test)]
    Frame(DataFrame),
    /// A spill on disk ([`crate::spill`]).
    Spill(Arc<Spill>),
}

/// A walk over one source.
enum Walk<'a> {
    #[cfg(test)]
    Frame(Cols<'a>, usize),
    Spill(SpillRows<'a>),
}

impl Iterator for Walk<'_> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        match self {
            #[cfg(test)]
            Walk::Frame(c, k) => {
                let r = (*k < c.t.len()).then(|| c.row(*k));
                *k += 1;
                r
            }
            Walk::Spill(s) => s.next(),
        }
    }
}

impl Walk<'_> {
    fn error(&mut self) -> Option<std::io::Error> {
        match self {
            #[cfg(test)]
            Walk::Frame(..) => None,
            Walk::Spill(s) => s.error.take(),
        }
    }
}

/// Several walks merged in start order, ties to the earlier walk: a
/// stable sort of their records stacked in walk order.
pub(crate) struct Merge<I: Iterator> {
    walks: Vec<I>,
    /// (next start, walk) of each walk's next record, smallest first.
    heap: BinaryHeap<Reverse<(i64, usize)>>,
    next: Vec<Option<I::Item>>,
}

impl<I: Iterator> Merge<I>
where
    I::Item: Record,
{
    /// Over these walks, each in start order.
    pub(crate) fn new(mut walks: Vec<I>) -> Merge<I> {
        let next: Vec<Option<I::Item>> = walks.iter_mut().map(Iterator::next).collect();
        let heap = next
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| Reverse((r.t(), i))))
            .collect();
        Merge { walks, heap, next }
    }

    /// The next record, and the walk it came from.
    pub(crate) fn next_from(&mut self) -> Option<(usize, I::Item)> {
        // The walk's next record takes its place at the top, sifted down
        // once (not a pop and a push).
        let mut top = self.heap.peek_mut()?;
        let Reverse((_, i)) = *top;
        let next = self.walks[i].next();
        let row = std::mem::replace(&mut self.next[i], next);
        match &self.next[i] {
            Some(r) => *top = Reverse((r.t(), i)),
            None => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
        }
        row.map(|r| (i, r))
    }

    /// The walks back (to ask them why they ended).
    pub(crate) fn into_walks(self) -> Vec<I> {
        self.walks
    }
}

impl<I: Iterator> Iterator for Merge<I>
where
    I::Item: Record,
{
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.next_from().map(|(_, r)| r)
    }
}

/// The agents' probes, each agent's in start order: frames (each sorted
/// by `t`, in one chunk, as [`crate::query::probe_frame`] builds them) or
/// spills.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probes {
    sources: Vec<Source>,
    /// Each spill's probes from the first index to before the second, when
    /// a part of them ([`Probes::cut`]).
    ranges: Option<Vec<(u64, u64)>>,
}

impl Probes {
    /// Over these frames, in this order (ties go to the earlier frame).
    #[cfg(test)]
    pub(crate) fn new(frames: Vec<DataFrame>) -> Probes {
        Probes {
            sources: frames.into_iter().map(Source::Frame).collect(),
            ranges: None,
        }
    }

    /// Over these sources, in this order (ties go to the earlier one).
    pub(crate) fn of(sources: Vec<Source>) -> Probes {
        Probes {
            sources,
            ranges: None,
        }
    }

    /// The spills, when every source is one.
    fn spills(&self) -> Option<Vec<&Spill>> {
        self.sources
            .iter()
            .map(|s| match s {
                #[cfg(test)]
                Source::Frame(_) => None,
                Source::Spill(s) => Some(&**s),
            })
            .collect()
    }

    /// These probes cut in `n` parts by start (spans of equal length; ties
    /// in one part), in start order: walking the parts one after the other
    /// is walking the whole. Frames are not cut.
    pub(crate) fn cut(&self, n: usize) -> PolarsResult<Vec<Probes>> {
        let (Some(spills), None, Some((t0, t1))) = (self.spills(), &self.ranges, self.span()?)
        else {
            return Ok(vec![self.clone()]);
        };
        if n <= 1 {
            return Ok(vec![self.clone()]);
        }
        // Each spill's index of each cut: 0, then the first probe at or
        // after each cut's start, then its length.
        let span = i128::from(t1) - i128::from(t0);
        let mut at = Vec::new();
        for s in &spills {
            let mut idx = vec![0];
            for i in 1..n {
                let t = i128::from(t0) + span * i as i128 / n as i128;
                idx.push(s.first_from(t as i64)?);
            }
            idx.push(s.len());
            at.push(idx);
        }
        Ok((0..n)
            .map(|i| Probes {
                sources: self.sources.clone(),
                ranges: Some(at.iter().map(|idx| (idx[i], idx[i + 1])).collect()),
            })
            .collect())
    }

    /// The latest start before this part, among the sources `keep` takes
    /// (none for the first part).
    pub(crate) fn last_before(&self, keep: impl Fn(usize) -> bool) -> PolarsResult<Option<i64>> {
        let (Some(spills), Some(ranges)) = (self.spills(), &self.ranges) else {
            return Ok(None);
        };
        let mut last = None;
        for (i, (s, &(a, _))) in spills.iter().zip(ranges).enumerate() {
            if a > 0 && keep(i) {
                let t = s.t_at(a - 1)?;
                last = Some(last.map_or(t, |l: i64| l.max(t)));
            }
        }
        Ok(last)
    }

    /// The first and last start over every source, if any probe.
    pub(crate) fn span(&self) -> PolarsResult<Option<(i64, i64)>> {
        let mut span: Option<(i64, i64)> = None;
        for s in &self.sources {
            let one = match s {
                #[cfg(test)]
                Source::Frame(df) => {
                    let t = Cols::of(df)?.t;
                    t.first().copied().zip(t.last().copied())
                }
                Source::Spill(s) => s.span()?,
            };
            if let Some((a, b)) = one {
                span = Some(span.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
            }
        }
        Ok(span)
    }

    /// Hands `f` every probe of every source in start order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(Row)) -> PolarsResult<()> {
        self.walk(|rows| rows.for_each(&mut f))
    }

    fn walks(&self) -> PolarsResult<Vec<Walk<'_>>> {
        self.sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(match s {
                    #[cfg(test)]
                    Source::Frame(df) => Walk::Frame(Cols::of(df)?, 0),
                    Source::Spill(s) => match self.ranges.as_ref().and_then(|r| r.get(i)) {
                        Some(&(a, b)) => Walk::Spill(s.rows_between(a, b)),
                        None => Walk::Spill(s.rows()),
                    },
                })
            })
            .collect()
    }

    /// The read error that cut a walk short, if one did.
    fn ended(mut walks: Vec<Walk<'_>>) -> PolarsResult<()> {
        for w in &mut walks {
            if let Some(e) = w.error() {
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Hands `f` the probes of every source in start order, as one
    /// iterator it may leave early; its answer, or the read error that cut
    /// the walk short.
    pub(crate) fn walk<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = Row>) -> T,
    ) -> PolarsResult<T> {
        let mut walks = self.walks()?;
        let out = if walks.len() == 1 {
            f(&mut walks[0])
        } else {
            let mut merge = Merge::new(std::mem::take(&mut walks));
            let out = f(&mut merge);
            walks = merge.into_walks();
            out
        };
        Self::ended(walks)?;
        Ok(out)
    }
}

/// A spill of these rows (in start order), as a source.
#[cfg(test)]
pub(crate) fn spilled(rows: &[Row]) -> Source {
    let mut w = crate::spill::SpillWriter::<Row>::new(None).unwrap();
    for &r in rows {
        w.push(r, &mut |_| {}).unwrap();
    }
    Source::Spill(Arc::new(w.finish(None, &mut |_| {}).unwrap()))
}

/// Three agents' probes: ties across agents, failures, local errors,
/// latencies spread over many rows.
#[cfg(test)]
pub(crate) fn three_agents() -> Vec<Vec<Row>> {
    (0..3u32)
        .map(|a| {
            (0..6000i64)
                .map(|k| {
                    let class = match (k + i64::from(a)) % 97 {
                        0..3 => crate::load::CLASS_FAIL,
                        50 => crate::load::CLASS_LOCAL,
                        _ => crate::load::CLASS_OK,
                    };
                    Row {
                        t: 1_000_000 * (k / 2) + i64::from(a % 2) * 3,
                        lat: 10_000 + (k * 7919 + i64::from(a) * 31) % 15_000_000,
                        outcome: if class == crate::load::CLASS_FAIL {
                            3 + a
                        } else {
                            0
                        },
                        class,
                        backend: a % 2 + 1,
                    }
                })
                .collect()
        })
        .collect()
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

    fn spill(t: &[i64], tag: u32) -> Source {
        let rows: Vec<Row> = t
            .iter()
            .map(|&t| Row {
                t,
                lat: 1,
                outcome: tag,
                class: 0,
                backend: 0,
            })
            .collect();
        spilled(&rows)
    }

    #[test]
    fn the_parts_walked_in_turn_are_the_whole_walk() {
        let a: Vec<i64> = (0..5000).map(|k| k * 3).collect();
        let b: Vec<i64> = (0..3000).map(|k| 100 + k * 4).chain([14_997; 3]).collect();
        let p = Probes::of(vec![spill(&a, 0), spill(&b, 1), spill(&[], 2)]);
        let mut whole = Vec::new();
        p.for_each(|r| whole.push((r.t, r.outcome))).unwrap();
        for n in [1, 2, 3, 7] {
            let parts = p.cut(n).unwrap();
            assert_eq!(parts.len(), n);
            let mut walked = Vec::new();
            let mut prev = None;
            for part in &parts {
                // The start before each part is the last of the ones before.
                assert_eq!(part.last_before(|_| true).unwrap(), prev, "n = {n}");
                part.for_each(|r| walked.push((r.t, r.outcome))).unwrap();
                prev = walked.last().map(|w| w.0);
            }
            assert_eq!(walked, whole, "n = {n}");
        }
        // Only the sources asked for count before a part.
        let parts = p.cut(2).unwrap();
        let before_b = parts[1].last_before(|i| i == 1).unwrap().unwrap();
        assert!(
            b.contains(&before_b)
                && before_b < parts[1].last_before(|_| true).unwrap().unwrap() + 4
        );
    }
}
