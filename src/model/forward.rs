//! The forward pass, written once against the [`Backend`] trait: embedding, decoder layers
//! (RMSNorm → q/k/v → RoPE → attention → o_proj → residual; RMSNorm → gate/up → SwiGLU → down →
//! residual), final norm, and `lm_head` over chunks of rows.
//!
//! Attention runs either over whole sequences ([`AttentionMode::Batch`], training and eval; rows
//! `b·S + t`) or against a key/value cache ([`AttentionMode::Cached`], generation).
use super::acts::{Activations, HeadActs, LinearActs, Saved, Scratch};
use super::config::ModelConfig;
use super::weights::{GateUpProj, LayerWeights, ModelWeights, QkvProj, linear_forward};
use crate::backend::{Backend, CachedAttentionDims, TensorInfo};
use crate::error::{Error, Result};
use crate::model::rope::{self, RopeConfig};

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
    /// `max(positions) + 1`: picks longrope's factors and sizes the tables.
    pub position_span: usize,
}

/// The per-row host arrays of a batch: checked ids, positions and attention window starts.
fn batch_rows(
    cfg: &ModelConfig,
    ids: &[u32],
    positions: Option<&[u32]>,
    segment_starts: Option<&[u32]>,
    batch: usize,
    seq: usize,
) -> Result<(Vec<u32>, Vec<u32>, usize)> {
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
    let window: Vec<u32> = (0..rows)
        .map(|r| {
            let t = (r % seq) as u32;
            let start = starts[r].min(t);
            match cfg.sliding_window {
                Some(w) => start.max((t + 1).saturating_sub(w as u32)),
                None => start,
            }
        })
        .collect();
    let span = positions.iter().copied().max().unwrap_or(0) as usize + 1;
    Ok((positions, window, span))
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
        let (positions, window, span) =
            batch_rows(cfg, ids, positions, segment_starts, batch, seq)?;
        Ok(Batch {
            batch,
            seq,
            ids: be.ids(ids)?,
            positions: be.ids(&positions)?,
            window_start: be.ids(&window)?,
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
        let (positions, window, span) =
            batch_rows(cfg, ids, positions, segment_starts, self.batch, self.seq)?;
        be.write_ids(&mut self.ids, ids)?;
        be.write_ids(&mut self.positions, &positions)?;
        be.write_ids(&mut self.window_start, &window)?;
        self.position_span = span;
        Ok(())
    }
}

/// cos/sin tables on the device, grown on demand; longrope keeps its short and long tables apart.
pub struct RopeCache<T> {
    cfg: RopeConfig,
    short: Option<(T, T, usize)>,
    long: Option<(T, T, usize)>,
}

impl<T> RopeCache<T> {
    pub fn new(cfg: RopeConfig) -> Self {
        RopeCache {
            cfg,
            short: None,
            long: None,
        }
    }

    /// `(cos, sin)` for sequences whose positions are below `span` (the factors are chosen by
    /// `span`, as transformers does with `max(position_ids) + 1`).
    pub fn tables<B: Backend<Tensor = T>>(&mut self, be: &B, span: usize) -> Result<(&T, &T)> {
        let long = rope::uses_long_factors(&self.cfg, span);
        let slot = if long {
            &mut self.long
        } else {
            &mut self.short
        };
        if slot.as_ref().is_none_or(|(_, _, n)| *n < span) {
            let positions = span.next_power_of_two().max(64);
            let t = rope::tables_for(&self.cfg, span, positions)?;
            let shape = [positions, t.half];
            *slot = Some((
                be.tensor(&t.cos, &shape)?,
                be.tensor(&t.sin, &shape)?,
                positions,
            ));
        }
        let (cos, sin, _) = slot
            .as_ref()
            .ok_or_else(|| Error::param("rope", "no table"))?;
        Ok((cos, sin))
    }
}

/// How a layer's attention sees keys.
pub enum AttentionMode<'a, B: Backend> {
    /// Whole sequences: rows `b·S + t`, keys of the same sequence from `window_start`.
    Batch {
        window_start: &'a B::Ids,
        batch: usize,
        seq: usize,
    },
    /// New rows at positions `q_offset ..` against this layer's key/value cache
    /// `[L, Hkv·D]` (their keys and values are written into it first).
    Cached {
        k_cache: &'a mut B::Tensor,
        v_cache: &'a mut B::Tensor,
        q_offset: usize,
    },
}

/// The model's forward pass over a batch: fills `acts` (`acts.rows = B·S`) up to the final
/// normed hidden states `acts.hidden`; logits come from [`lm_head`].
pub fn forward<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    w: &ModelWeights<B::Tensor>,
    rope: &mut RopeCache<B::Tensor>,
    batch: &Batch<B::Ids>,
    acts: &mut Activations<B::Tensor>,
) -> Result<()> {
    if acts.rows != batch.batch * batch.seq {
        return Err(Error::param(
            "forward",
            format!(
                "activations for {} rows, batch has {}",
                acts.rows,
                batch.batch * batch.seq
            ),
        ));
    }
    let tables = rope.tables(be, batch.position_span)?;
    let keys = Keys::Batch {
        window_start: &batch.window_start,
        batch: batch.batch,
        seq: batch.seq,
    };
    run_model(be, cfg, w, tables, &batch.ids, &batch.positions, keys, acts)
}

/// Where every layer's attention finds its keys.
pub enum Keys<'a, B: Backend> {
    /// In the batch itself (see [`AttentionMode::Batch`]).
    Batch {
        window_start: &'a B::Ids,
        batch: usize,
        seq: usize,
    },
    /// In per-layer caches `[L, Hkv·D]`, new rows at positions `q_offset ..`.
    Cached {
        k: &'a mut [B::Tensor],
        v: &'a mut [B::Tensor],
        q_offset: usize,
    },
}

/// Embedding, every decoder layer and the final norm for the rows of `acts`: the part of the
/// forward pass shared by batches and generation steps.
#[allow(clippy::too_many_arguments)]
pub fn run_model<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    w: &ModelWeights<B::Tensor>,
    (cos, sin): (&B::Tensor, &B::Tensor),
    ids: &B::Ids,
    positions: &B::Ids,
    mut keys: Keys<'_, B>,
    acts: &mut Activations<B::Tensor>,
) -> Result<()> {
    be.embedding(&w.embed, ids, &mut acts.stream)?;
    for (l, lw) in w.layers.iter().enumerate() {
        let mode: AttentionMode<'_, B> = match &mut keys {
            Keys::Batch {
                window_start,
                batch,
                seq,
            } => AttentionMode::Batch {
                window_start,
                batch: *batch,
                seq: *seq,
            },
            Keys::Cached { k, v, q_offset } => AttentionMode::Cached {
                k_cache: &mut k[l],
                v_cache: &mut v[l],
                q_offset: *q_offset,
            },
        };
        let n = acts.layers.len();
        layer_forward(
            be,
            cfg,
            lw,
            (cos, sin),
            positions,
            mode,
            &mut acts.stream,
            &mut acts.layers[l % n],
            &mut acts.lin[l],
            &mut acts.scratch,
        )?;
    }
    be.rmsnorm_forward(
        &acts.stream,
        &w.final_norm,
        cfg.rms_norm_eps,
        &mut acts.hidden,
        &mut acts.final_rstd,
    )
}

/// One decoder layer on the residual stream `x` `[T, C]` (updated in place).
#[allow(clippy::too_many_arguments)]
pub fn layer_forward<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    lw: &LayerWeights<B::Tensor>,
    (cos, sin): (&B::Tensor, &B::Tensor),
    positions: &B::Ids,
    mode: AttentionMode<'_, B>,
    x: &mut B::Tensor,
    s: &mut Saved<B::Tensor>,
    lin: &mut LinearActs<B::Tensor>,
    sc: &mut Scratch<B::Tensor>,
) -> Result<()> {
    let (h, hkv, d) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
    if let Some(x_in) = &mut s.x_in {
        be.copy_rows(x, 0, x_in, 0, x.shape().rows())?;
    }
    be.rmsnorm_forward(
        x,
        &lw.input_norm,
        cfg.rms_norm_eps,
        &mut sc.xn,
        &mut s.rstd_attn,
    )?;
    match &lw.qkv {
        QkvProj::Separate { q, k, v } => {
            linear_forward(be, q, &sc.xn, lin.q.as_mut(), &mut s.q)?;
            linear_forward(be, k, &sc.xn, lin.k.as_mut(), &mut s.k)?;
            linear_forward(be, v, &sc.xn, lin.v.as_mut(), &mut s.v)?;
        }
        QkvProj::Fused(f) => {
            let qkv = fused(&mut sc.qkv, "qkv")?;
            linear_forward(be, f, &sc.xn, lin.q.as_mut(), qkv)?;
            let (qw, kw) = (h * d, hkv * d);
            be.copy_cols(qkv, 0, &mut s.q, 0, qw)?;
            be.copy_cols(qkv, qw, &mut s.k, 0, kw)?;
            be.copy_cols(qkv, qw + kw, &mut s.v, 0, kw)?;
        }
    }
    be.rope_qk(&mut s.q, &mut s.k, positions, cos, sin, (h, hkv), d, false)?;
    match mode {
        AttentionMode::Batch {
            window_start,
            batch,
            seq,
        } => {
            let dims = cfg.attention_dims(batch, seq);
            be.attention_forward(
                &s.q,
                &s.k,
                &s.v,
                window_start,
                dims,
                &mut s.attn,
                &mut s.lse,
            )?;
        }
        AttentionMode::Cached {
            k_cache,
            v_cache,
            q_offset,
        } => {
            let rows = x.shape().rows();
            be.copy_rows(&s.k, 0, k_cache, q_offset, rows)?;
            be.copy_rows(&s.v, 0, v_cache, q_offset, rows)?;
            let dims = CachedAttentionDims {
                rows,
                q_offset,
                n_heads: h,
                n_kv_heads: hkv,
                head_dim: d,
                window: cfg.sliding_window.unwrap_or(0),
                scale: cfg.attention_scale(),
            };
            be.attention_cached(&s.q, k_cache, v_cache, dims, &mut s.attn)?;
        }
    }
    linear_forward(be, &lw.o, &s.attn, lin.o.as_mut(), &mut sc.proj)?;
    be.add_assign(x, &sc.proj)?;
    if let Some(x_mid) = &mut s.x_mid {
        be.copy_rows(x, 0, x_mid, 0, x.shape().rows())?;
    }
    be.rmsnorm_forward(
        x,
        &lw.post_attention_norm,
        cfg.rms_norm_eps,
        &mut sc.xn,
        &mut s.rstd_mlp,
    )?;
    match &lw.gate_up {
        GateUpProj::Separate { gate, up } => {
            linear_forward(be, gate, &sc.xn, lin.gate.as_mut(), &mut s.gate)?;
            linear_forward(be, up, &sc.xn, lin.up.as_mut(), &mut s.up)?;
        }
        GateUpProj::Fused(f) => {
            let gu = fused(&mut sc.gate_up, "gate_up")?;
            linear_forward(be, f, &sc.xn, lin.gate.as_mut(), gu)?;
            let i = cfg.intermediate_size;
            be.copy_cols(gu, 0, &mut s.gate, 0, i)?;
            be.copy_cols(gu, i, &mut s.up, 0, i)?;
        }
    }
    be.swiglu_forward(&s.gate, &s.up, &mut sc.act)?;
    linear_forward(be, &lw.down, &sc.act, lin.down.as_mut(), &mut sc.proj)?;
    be.add_assign(x, &sc.proj)
}

fn fused<'a, T>(buf: &'a mut Option<T>, what: &str) -> Result<&'a mut T> {
    buf.as_mut().ok_or_else(|| {
        Error::param(
            "forward",
            format!("no {what} buffer for a fused projection"),
        )
    })
}

/// Logits of rows `row0 .. row0 + head.rows` of `hidden` `[T, C]` into `out` `[N, V]`.
pub fn lm_head<B: Backend>(
    be: &B,
    w: &ModelWeights<B::Tensor>,
    hidden: &B::Tensor,
    row0: usize,
    head: &mut HeadActs<B::Tensor>,
    out: &mut B::Tensor,
) -> Result<()> {
    be.copy_rows(hidden, row0, &mut head.input, 0, head.rows)?;
    linear_forward(be, &w.lm_head, &head.input, head.svd.as_mut(), out)
}
