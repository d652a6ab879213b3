//! Marks: where every [`MARK_EVERY`]th counting probe lies among an
//! agent's probes, recorded by its fold, so the edges of partial windows
//! are read from the spill near them rather than walked to.

use crate::load::CLASS_LOCAL;

/// Counting (not local) probes between two [`Marks`].
pub(crate) const MARK_EVERY: i64 = 1 << 12;

/// Where every [`MARK_EVERY`]th counting probe lies among an agent's probes:
/// the start of the probe that counts at index `i` is found by reading
/// from the mark before it, not by walking from the first probe.
#[derive(Debug, Clone, Default)]
pub(crate) struct Marks(pub(super) Vec<u64>);

impl Marks {
    /// The starts of the probes that count at indices `idx` (any order;
    /// `None` past the end), read from `spill`.
    pub(crate) fn times(
        &self,
        spill: &crate::spill::Spill,
        idx: &[i64],
    ) -> std::io::Result<Vec<Option<i64>>> {
        let mut out = Vec::with_capacity(idx.len());
        for &i in idx {
            let mark = usize::try_from(i.max(0) / MARK_EVERY).unwrap_or(usize::MAX);
            let Some(&at) = self.0.get(mark) else {
                out.push(None);
                continue;
            };
            let mut counted = mark as i64 * MARK_EVERY;
            let mut rows = spill.rows_from(at);
            let found = rows.find(|r| {
                if r.class == CLASS_LOCAL {
                    return false;
                }
                counted += 1;
                counted > i
            });
            if let Some(e) = rows.error.take() {
                return Err(e);
            }
            out.push(found.map(|r| r.t));
        }
        Ok(out)
    }
}
