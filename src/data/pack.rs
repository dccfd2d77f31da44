//! Rows of at most `seq_len` tokens: one example per row, or several packed together.
//!
//! Packing places examples best-fit-decreasing (longest first, each into the row with the least
//! room that still fits it; ties go to the lower row and the earlier example), which is
//! deterministic and fills rows tightly. Packed conversations do not see each other: every token
//! carries the row index where its conversation starts (`window_start`), the attention kernel
//! lets it attend only to `window_start ..= t`, positions restart at 0 for each conversation, and
//! the last token of a conversation is never trained to predict the next one's first token (see
//! [`super::batch`]). The result equals training on each conversation alone.
use std::collections::BTreeSet;

use crate::{Error, Result};

/// One example's place in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index into the example list that was packed.
    pub example: usize,
    /// First row position of the example.
    pub start: usize,
    /// Number of tokens.
    pub len: usize,
}

/// One row of a batch: segments in position order, `Σ len ≤ seq_len`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedRow {
    pub segments: Vec<Segment>,
}

impl PackedRow {
    /// Tokens used in the row.
    pub fn used(&self) -> usize {
        self.segments.last().map_or(0, |s| s.start + s.len)
    }
}

fn check(lengths: &[usize], seq_len: usize) -> Result<()> {
    if seq_len == 0 {
        return Err(Error::param("pack", "seq_len must be at least 1"));
    }
    if let Some((i, &l)) = lengths
        .iter()
        .enumerate()
        .find(|&(_, &l)| l > seq_len || l == 0)
    {
        return Err(Error::param(
            "pack",
            format!("example {i} has {l} tokens; rows hold 1..={seq_len} (truncate first)"),
        ));
    }
    Ok(())
}

/// One example per row, in order.
pub fn one_per_row(lengths: &[usize], seq_len: usize) -> Result<Vec<PackedRow>> {
    check(lengths, seq_len)?;
    Ok(lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| PackedRow {
            segments: vec![Segment {
                example: i,
                start: 0,
                len,
            }],
        })
        .collect())
}

/// Best-fit-decreasing packing of examples with these lengths into rows of `seq_len`.
pub fn pack(lengths: &[usize], seq_len: usize) -> Result<Vec<PackedRow>> {
    check(lengths, seq_len)?;
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then(a.cmp(&b)));
    let mut rows: Vec<PackedRow> = Vec::new();
    // (room left, row index) for every row with room.
    let mut room: BTreeSet<(usize, usize)> = BTreeSet::new();
    for i in order {
        let len = lengths[i];
        let row = match room.range((len, 0)..).next().copied() {
            Some(key) => {
                room.remove(&key);
                key.1
            }
            None => {
                rows.push(PackedRow::default());
                rows.len() - 1
            }
        };
        let start = rows[row].used();
        rows[row].segments.push(Segment {
            example: i,
            start,
            len,
        });
        let left = seq_len - start - len;
        if left > 0 {
            room.insert((left, row));
        }
    }
    Ok(rows)
}
