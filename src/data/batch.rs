//! Training batches. Every field is row-major `[batch, seq_len]` (index `b · seq_len + t`),
//! where a batch's `seq_len` is its width: the run's sequence length for [`Width::Full`], or its
//! longest row rounded up to a multiple of [`WIDTH_STEP`] (at most the run's sequence length) for
//! [`Width::Longest`], which [`Dataset::batches`] uses. Masked padding does not count in the loss,
//! so both widths give the same losses; the narrower one spends no work on padding, and the
//! rounding bounds the number of distinct shapes the backends allocate buffers for.
//!
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `input_ids` | u32 | token fed at position `t` |
//! | `target_ids` | u32 | token to predict at `t`: the next token of the same conversation |
//! | `loss_weights` | f32 | 1 where the target is trained (its loss-mask bit), else 0 |
//! | `position_ids` | u32 | position inside its own conversation (restarts at 0 per conversation) |
//! | `window_start` | u32 | row position where its conversation starts; attention covers `window_start ..= t` |
//!
//! The shift is the usual causal-LM one (transformers shifts labels inside the loss): the token
//! at `t` predicts the token at `t + 1`, weighted by that token's mask bit. The last token of a
//! conversation has no target (weight 0), also inside packed rows. Padding positions hold the pad
//! id, weight 0, position 0 and `window_start = t` (they attend only to themselves). A last
//! partial batch is filled with all-padding rows so every batch has `batch` rows.
use super::pack::PackedRow;
use super::{Dataset, Example};
use crate::{Error, Result};

/// One batch; see the module docs for the layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub batch: usize,
    pub seq_len: usize,
    pub input_ids: Vec<u32>,
    pub target_ids: Vec<u32>,
    pub loss_weights: Vec<f32>,
    pub position_ids: Vec<u32>,
    pub window_start: Vec<u32>,
    /// Σ loss_weights.
    pub trained_tokens: usize,
    /// Tokens of the examples in the batch (its padding excluded).
    pub real_tokens: usize,
    /// Rows holding examples (the rest, in a last partial batch, are all padding).
    pub rows: usize,
}

/// Batch widths of [`Width::Longest`] are multiples of this (or the run's sequence length).
pub const WIDTH_STEP: usize = 16;

/// How wide the batches are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// Every batch is the run's sequence length wide.
    Full,
    /// Each batch is its longest row wide, rounded up to a multiple of [`WIDTH_STEP`] and at most
    /// the sequence length.
    Longest,
}

impl Width {
    /// The width of a batch of `rows` under a sequence length of `seq_len`.
    pub fn of(self, rows: &[PackedRow], seq_len: usize) -> usize {
        match self {
            Width::Full => seq_len,
            Width::Longest => {
                let longest = rows.iter().map(PackedRow::used).max().unwrap_or(1).max(1);
                longest
                    .div_ceil(WIDTH_STEP)
                    .saturating_mul(WIDTH_STEP)
                    .min(seq_len)
            }
        }
    }
}

impl Batch {
    fn padding(batch: usize, seq_len: usize, pad_id: u32) -> Self {
        let n = batch * seq_len;
        Batch {
            batch,
            seq_len,
            input_ids: vec![pad_id; n],
            target_ids: vec![pad_id; n],
            loss_weights: vec![0.0; n],
            position_ids: vec![0; n],
            window_start: (0..n).map(|i| (i % seq_len) as u32).collect(),
            trained_tokens: 0,
            real_tokens: 0,
            rows: 0,
        }
    }
}

/// Lays `rows` (segments referring to `examples`) out as batches of `batch × seq_len`.
pub fn make_batches(
    examples: &[&Example],
    rows: &[PackedRow],
    batch: usize,
    seq_len: usize,
    pad_id: u32,
) -> Result<Vec<Batch>> {
    make_batches_as(examples, rows, batch, seq_len, pad_id, Width::Full)
}

/// [`make_batches`] with each batch as wide as `width` says (rows hold at most `seq_len`).
pub fn make_batches_as(
    examples: &[&Example],
    rows: &[PackedRow],
    batch: usize,
    max_len: usize,
    pad_id: u32,
    width: Width,
) -> Result<Vec<Batch>> {
    if batch == 0 || max_len == 0 {
        return Err(Error::param(
            "batches",
            format!("batch ({batch}) and seq_len ({max_len}) must be at least 1"),
        ));
    }
    let mut out = Vec::with_capacity(rows.len().div_ceil(batch));
    for chunk in rows.chunks(batch) {
        let seq_len = width.of(chunk, max_len);
        let mut b = Batch::padding(batch, seq_len, pad_id);
        b.rows = chunk.len();
        for (r, row) in chunk.iter().enumerate() {
            for seg in &row.segments {
                let ex = examples.get(seg.example).ok_or_else(|| {
                    Error::param(
                        "batches",
                        format!(
                            "row refers to example {} of {}",
                            seg.example,
                            examples.len()
                        ),
                    )
                })?;
                if seg.len > ex.input_ids.len() || seg.start + seg.len > seq_len {
                    return Err(Error::param(
                        "batches",
                        format!(
                            "segment of example {} ({}..{}) does not fit a row of {seq_len} or the example's {} tokens",
                            seg.example,
                            seg.start,
                            seg.start + seg.len,
                            ex.input_ids.len()
                        ),
                    ));
                }
                b.real_tokens += seg.len;
                for k in 0..seg.len {
                    let i = r * seq_len + seg.start + k;
                    b.input_ids[i] = ex.input_ids[k];
                    b.position_ids[i] = k as u32;
                    b.window_start[i] = seg.start as u32;
                    if k + 1 < seg.len {
                        b.target_ids[i] = ex.input_ids[k + 1];
                        if ex.loss_mask[k + 1] == 1 {
                            b.loss_weights[i] = 1.0;
                            b.trained_tokens += 1;
                        }
                    }
                }
            }
        }
        out.push(b);
    }
    Ok(out)
}

impl Dataset {
    /// Batches of the examples at `indices` (e.g. [`Dataset::split`]'s train list), each example
    /// cut to `seq_len` tokens, packed or one per row, padded with the tokenizer's pad id to the
    /// batch's longest row ([`Width::Longest`]).
    pub fn batches(
        &self,
        indices: &[usize],
        batch: usize,
        seq_len: usize,
        packing: bool,
        pad_id: u32,
    ) -> Result<Vec<Batch>> {
        self.batches_as(indices, batch, seq_len, packing, pad_id, Width::Longest)
    }

    /// [`Dataset::batches`] with the batch width chosen by `width`.
    pub fn batches_as(
        &self,
        indices: &[usize],
        batch: usize,
        seq_len: usize,
        packing: bool,
        pad_id: u32,
        width: Width,
    ) -> Result<Vec<Batch>> {
        let exs: Vec<&Example> = indices
            .iter()
            .map(|&i| {
                self.examples.get(i).ok_or_else(|| {
                    Error::param(
                        "batches",
                        format!("no example {i} (have {})", self.examples.len()),
                    )
                })
            })
            .collect::<Result<_>>()?;
        let lens: Vec<usize> = exs.iter().map(|e| e.input_ids.len().min(seq_len)).collect();
        let rows = if packing {
            super::pack::pack(&lens, seq_len)?
        } else {
            super::pack::one_per_row(&lens, seq_len)?
        };
        make_batches_as(&exs, &rows, batch, seq_len, pad_id, width)
    }
}
