//! A batch on the device: token ids, each row's RoPE position and first visible key (the start of
//! its conversation, moved up by a sliding window; Gemma 3's sliding layers get their own), made
//! once and rewritten in place for the next batch of the same shape.
use super::config::ModelConfig;
use crate::backend::Backend;
use crate::error::{Error, Result};

/// Token ids and per-row attention geometry of a batch of `batch` sequences of `seq` rows.
pub struct Batch<I> {
    pub batch: usize,
    pub seq: usize,
    /// `[B·S]`.
    pub ids: I,
    /// RoPE position of each row `[B·S]` (reset per conversation when packed).
    pub positions: I,
    /// First visible key row (within its sequence) of each row `[B·S]`: the start of its
    /// conversation, moved up by the sliding window where the model has one.
    pub window_start: I,
    /// The same for the sliding-window layers of a model that also has global ones (Gemma 3).
    pub window_start_local: Option<I>,
    /// `max(positions) + 1`: picks longrope's factors and sizes the tables.
    pub position_span: usize,
}

/// Positions, window starts (all layers; sliding layers of a model with both kinds) and the
/// position span of a batch's rows.
type BatchRows = (Vec<u32>, Vec<u32>, Option<Vec<u32>>, usize);

/// The per-row host arrays of a batch: checked ids, positions and attention window starts.
fn batch_rows(
    cfg: &ModelConfig,
    ids: &[u32],
    positions: Option<&[u32]>,
    segment_starts: Option<&[u32]>,
    batch: usize,
    seq: usize,
) -> Result<BatchRows> {
    let rows = batch * seq;
    let op = "batch";
    if ids.len() != rows || seq == 0 {
        return Err(Error::param(
            op,
            format!("{} token ids for {batch} sequences of {seq}", ids.len()),
        ));
    }
    if let Some((i, &id)) = ids
        .iter()
        .enumerate()
        .find(|&(_, &id)| id as usize >= cfg.vocab_size)
    {
        return Err(Error::param(
            op,
            format!(
                "token id {id} at row {i} is outside the vocabulary of {}",
                cfg.vocab_size
            ),
        ));
    }
    let positions: Vec<u32> = match positions {
        Some(p) => p.to_vec(),
        None => (0..rows).map(|r| (r % seq) as u32).collect(),
    };
    let zeros = vec![0u32; rows];
    let starts = segment_starts.unwrap_or(&zeros);
    if positions.len() != rows || starts.len() != rows {
        return Err(Error::param(
            op,
            "positions and segment starts need one entry per row",
        ));
    }
    let windowed = |window: Option<usize>| -> Vec<u32> {
        (0..rows)
            .map(|r| {
                let t = (r % seq) as u32;
                let start = starts[r].min(t);
                match window {
                    Some(w) => start.max((t + 1).saturating_sub(w as u32)),
                    None => start,
                }
            })
            .collect()
    };
    let window = windowed(cfg.sliding_window);
    let local = cfg
        .local_attention
        .as_ref()
        .map(|a| windowed(Some(a.window)));
    let span = positions.iter().copied().max().unwrap_or(0) as usize + 1;
    Ok((positions, window, local, span))
}

impl<I> Batch<I> {
    /// Uploads a batch. `ids` `[B·S]`; `positions` defaults to `0 .. S` in every sequence;
    /// `segment_starts` (row where each row's conversation starts, within its sequence) to 0.
    /// Ids are checked against the vocabulary.
    pub fn new<B: Backend<Ids = I>>(
        be: &B,
        cfg: &ModelConfig,
        ids: &[u32],
        positions: Option<&[u32]>,
        segment_starts: Option<&[u32]>,
        batch: usize,
        seq: usize,
    ) -> Result<Self> {
        let (positions, window, local, span) =
            batch_rows(cfg, ids, positions, segment_starts, batch, seq)?;
        Ok(Batch {
            batch,
            seq,
            ids: be.ids(ids)?,
            positions: be.ids(&positions)?,
            window_start: be.ids(&window)?,
            window_start_local: local.map(|w| be.ids(&w)).transpose()?,
            position_span: span,
        })
    }

    /// Overwrites this batch's buffers with another batch of the same shape (no new buffers).
    pub fn write<B: Backend<Ids = I>>(
        &mut self,
        be: &B,
        cfg: &ModelConfig,
        ids: &[u32],
        positions: Option<&[u32]>,
        segment_starts: Option<&[u32]>,
    ) -> Result<()> {
        let (positions, window, local, span) =
            batch_rows(cfg, ids, positions, segment_starts, self.batch, self.seq)?;
        be.write_ids(&mut self.ids, ids)?;
        be.write_ids(&mut self.positions, &positions)?;
        be.write_ids(&mut self.window_start, &window)?;
        match (&mut self.window_start_local, local) {
            (Some(dst), Some(w)) => be.write_ids(dst, &w)?,
            (None, None) => {}
            _ => return Err(Error::param("batch", "made for another model's layers")),
        }
        self.position_span = span;
        Ok(())
    }
}
