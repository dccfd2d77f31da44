//! The forward pass, written once against the [`Backend`] trait: embedding, decoder layers
//! (RMSNorm → q/k/v → RoPE → attention → o_proj → residual; RMSNorm → gate/up → SwiGLU → down →
//! residual), final norm, and `lm_head` over chunks of rows.
//!
//! Qwen3's q/k norms normalise each head of the projected queries and keys before RoPE. That is
//! the plain RMSNorm op over the `[T·H, D]` view of `[T, H·D]` ([`Backend::reshape`], no copy), so
//! no kernel of its own: [`head_norm_forward`], and its backward in `train::backward`. The
//! projections then land in `Saved::q_raw`/`k_raw` (kept for backward) and the normed heads in
//! `Saved::q`/`k`, where RoPE and attention find them as in the other families.
//!
//! Gemma 3 adds: embeddings times √C (`mul_cols` by a `[C]` vector of √C), norms of the attention
//! and MLP outputs before each residual add (their inputs kept in `Saved::attn_proj`/`mlp_proj`),
//! GeGLU, and sliding-window layers with their own window starts (`Batch::window_start_local`)
//! and RoPE tables ([`RopeCache`]'s local half) beside the global ones.
//!
//! Attention runs either over whole sequences ([`AttentionMode::Batch`], training and eval; rows
//! `b·S + t`) or against a key/value cache ([`AttentionMode::Cached`], generation).
use super::acts::{Activations, HeadActs, LinearActs, Saved, Scratch};
use super::config::{Activation, ModelConfig};
use super::weights::{
    GateUpProj, LayerWeights, ModelWeights, QkvProj, linear_forward, linear_forward_add,
    linears_forward,
};
use crate::backend::{Backend, CachedAttentionDims, TensorInfo};
use crate::error::{Error, Result};
use crate::model::rope::{self, RopeConfig};

pub use super::batch::Batch;

/// cos/sin tables on the device, grown on demand; longrope keeps its short and long tables apart.
/// A model with sliding-window layers of their own RoPE (Gemma 3) has a second cache, `local`.
pub struct RopeCache<T> {
    cfg: RopeConfig,
    short: Option<(T, T, usize)>,
    long: Option<(T, T, usize)>,
    local: Option<Box<RopeCache<T>>>,
}

/// `(cos, sin)` `[P, D/2]` of the global layers and, where they differ, of the local ones.
pub struct RopeTables<'a, T> {
    pub global: (&'a T, &'a T),
    pub local: Option<(&'a T, &'a T)>,
}

impl<T> RopeTables<'_, T> {
    /// The tables of decoder layer `l`.
    pub fn layer(&self, cfg: &ModelConfig, l: usize) -> (&T, &T) {
        match self.local {
            Some(t) if cfg.is_local_layer(l) => t,
            _ => self.global,
        }
    }
}

impl<T> RopeCache<T> {
    pub fn new(cfg: RopeConfig) -> Self {
        RopeCache {
            cfg,
            short: None,
            long: None,
            local: None,
        }
    }

    /// The caches a model needs: its RoPE and, for sliding layers with their own, the local one.
    pub fn for_model(cfg: &ModelConfig) -> Self {
        let mut c = RopeCache::new(cfg.rope.clone());
        c.local = cfg
            .local_attention
            .as_ref()
            .map(|a| Box::new(RopeCache::new(a.rope.clone())));
        c
    }

    /// The global and local tables for positions below `span`.
    pub fn all_tables<B: Backend<Tensor = T>>(
        &mut self,
        be: &B,
        span: usize,
    ) -> Result<RopeTables<'_, T>> {
        self.tables(be, span)?;
        if let Some(l) = &mut self.local {
            l.tables(be, span)?;
        }
        let local = match &self.local {
            Some(l) => Some(l.get(span)?),
            None => None,
        };
        Ok(RopeTables {
            global: self.get(span)?,
            local,
        })
    }

    /// The tables already grown for `span` (see [`RopeCache::tables`]).
    fn get(&self, span: usize) -> Result<(&T, &T)> {
        let slot = if rope::uses_long_factors(&self.cfg, span) {
            &self.long
        } else {
            &self.short
        };
        let (cos, sin, _) = slot
            .as_ref()
            .ok_or_else(|| Error::param("rope", "no table"))?;
        Ok((cos, sin))
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
    let tables = rope.all_tables(be, batch.position_span)?;
    let keys = Keys::Batch {
        window_start: &batch.window_start,
        window_start_local: batch.window_start_local.as_ref(),
        batch: batch.batch,
        seq: batch.seq,
    };
    run_model(be, cfg, w, tables, &batch.ids, &batch.positions, keys, acts)
}

/// Where every layer's attention finds its keys.
pub enum Keys<'a, B: Backend> {
    /// In the batch itself (see [`AttentionMode::Batch`]); sliding-window layers of a model with
    /// both kinds use `window_start_local`.
    Batch {
        window_start: &'a B::Ids,
        window_start_local: Option<&'a B::Ids>,
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
    tables: RopeTables<'_, B::Tensor>,
    ids: &B::Ids,
    positions: &B::Ids,
    mut keys: Keys<'_, B>,
    acts: &mut Activations<B::Tensor>,
) -> Result<()> {
    match &w.embed_scale {
        Some(scale) => {
            be.embedding(&w.embed, ids, &mut acts.scratch.xn)?;
            be.mul_cols(&acts.scratch.xn, scale, None, &mut acts.stream)?;
        }
        None => be.embedding(&w.embed, ids, &mut acts.stream)?,
    }
    for (l, lw) in w.layers.iter().enumerate() {
        let local = cfg.is_local_layer(l);
        let mode: AttentionMode<'_, B> = match &mut keys {
            Keys::Batch {
                window_start,
                window_start_local,
                batch,
                seq,
            } => AttentionMode::Batch {
                window_start: match window_start_local {
                    Some(w) if local => w,
                    _ => window_start,
                },
                batch: *batch,
                seq: *seq,
            },
            Keys::Cached { k, v, q_offset } => AttentionMode::Cached {
                k_cache: &mut k[l],
                v_cache: &mut v[l],
                q_offset: *q_offset,
            },
        };
        if let Some(input) = acts.inputs.get_mut(l) {
            be.copy_rows(&acts.stream, 0, input, 0, acts.rows)?;
        }
        let n = acts.layers.len();
        let li = acts.lin_index(l);
        layer_forward(
            be,
            cfg,
            l,
            lw,
            tables.layer(cfg, l),
            positions,
            mode,
            &mut acts.stream,
            &mut acts.layers[l % n],
            &mut acts.lin[li],
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
    l: usize,
    lw: &LayerWeights<B::Tensor>,
    rope_tables: (&B::Tensor, &B::Tensor),
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
    // Projected queries and keys go to q_raw/k_raw where a per-head norm follows.
    let qk_norm = lw.q_norm.is_some() || lw.k_norm.is_some();
    let (q_dst, k_dst) = match (&mut s.q_raw, &mut s.k_raw) {
        (Some(qr), Some(kr)) if qk_norm => (qr, kr),
        _ if qk_norm => return Err(missing_qk_buffers()),
        _ => (&mut s.q, &mut s.k),
    };
    match &lw.qkv {
        QkvProj::Separate { q, k, v } => {
            let mut qkv = [
                (q, lin.q.as_mut(), q_dst),
                (k, lin.k.as_mut(), k_dst),
                (v, lin.v.as_mut(), &mut s.v),
            ];
            linears_forward(be, &sc.xn, &mut qkv)?;
        }
        QkvProj::Fused(f) => {
            let qkv = fused(&mut sc.qkv, "qkv")?;
            linear_forward(be, f, &sc.xn, lin.q.as_mut(), qkv)?;
            let (qw, kw) = (h * d, hkv * d);
            be.copy_cols(qkv, 0, q_dst, 0, qw)?;
            be.copy_cols(qkv, qw, k_dst, 0, kw)?;
            be.copy_cols(qkv, qw + kw, &mut s.v, 0, kw)?;
        }
    }
    if qk_norm {
        let eps = cfg.rms_norm_eps;
        let (Some(qn), Some(kn), Some(qr), Some(kr), Some(rq), Some(rk)) = (
            &lw.q_norm,
            &lw.k_norm,
            &mut s.q_raw,
            &mut s.k_raw,
            &mut s.rstd_q,
            &mut s.rstd_k,
        ) else {
            return Err(missing_qk_buffers());
        };
        head_norm_forward(be, qr, qn, eps, h, &mut s.q, rq)?;
        head_norm_forward(be, kr, kn, eps, hkv, &mut s.k, rk)?;
    }
    let (cos, sin) = rope_tables;
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
                window: cfg.layer_window(l).unwrap_or(0),
                scale: cfg.attention_scale(),
            };
            be.attention_cached(&s.q, k_cache, v_cache, dims, &mut s.attn)?;
        }
    }
    match (&lw.sandwich, &mut s.attn_proj, &mut s.rstd_attn_out) {
        (None, ..) => linear_forward_add(be, &lw.o, &s.attn, lin.o.as_mut(), x)?,
        (Some(sw), Some(p), Some(r)) => {
            linear_forward(be, &lw.o, &s.attn, lin.o.as_mut(), p)?;
            be.rmsnorm_forward(p, &sw.attn_out, cfg.rms_norm_eps, &mut sc.proj, r)?;
            be.add_assign(x, &sc.proj)?;
        }
        _ => return Err(missing_sandwich_buffers()),
    }
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
            let mut gate_up = [
                (gate, lin.gate.as_mut(), &mut s.gate),
                (up, lin.up.as_mut(), &mut s.up),
            ];
            linears_forward(be, &sc.xn, &mut gate_up)?;
        }
        GateUpProj::Fused(f) => {
            let gu = fused(&mut sc.gate_up, "gate_up")?;
            linear_forward(be, f, &sc.xn, lin.gate.as_mut(), gu)?;
            let i = cfg.intermediate_size;
            be.copy_cols(gu, 0, &mut s.gate, 0, i)?;
            be.copy_cols(gu, i, &mut s.up, 0, i)?;
        }
    }
    match cfg.activation {
        Activation::Silu => be.swiglu_forward(&s.gate, &s.up, &mut sc.act)?,
        Activation::GeluTanh => be.geglu_forward(&s.gate, &s.up, &mut sc.act)?,
    }
    match (&lw.sandwich, &mut s.mlp_proj, &mut s.rstd_mlp_out) {
        (None, ..) => linear_forward_add(be, &lw.down, &sc.act, lin.down.as_mut(), x),
        (Some(sw), Some(p), Some(r)) => {
            linear_forward(be, &lw.down, &sc.act, lin.down.as_mut(), p)?;
            be.rmsnorm_forward(p, &sw.mlp_out, cfg.rms_norm_eps, &mut sc.proj, r)?;
            be.add_assign(x, &sc.proj)
        }
        _ => Err(missing_sandwich_buffers()),
    }
}

fn missing_sandwich_buffers() -> Error {
    Error::param(
        "forward",
        "output norms need their attn_proj, mlp_proj and rstd buffers",
    )
}

fn missing_qk_buffers() -> Error {
    Error::param(
        "forward",
        "q/k norms need both weights and their q_raw, k_raw, rstd_q, rstd_k buffers",
    )
}

/// Runs `f` with each of `ts` viewed as `[rows·heads, width / heads]` (rows and width from the
/// first; the others must hold as many elements), then restores their shapes, also when `f`
/// fails.
pub fn with_heads<B: Backend, R>(
    be: &B,
    ts: &mut [&mut B::Tensor],
    heads: usize,
    f: impl FnOnce(&B, &mut [&mut B::Tensor]) -> Result<R>,
) -> Result<R> {
    let Some(first) = ts.first() else {
        return Err(Error::param("head norm", "no tensor"));
    };
    let (rows, width) = first.shape().matrix("head norm", "x")?;
    if heads == 0 || !width.is_multiple_of(heads) {
        return Err(Error::param(
            "head norm",
            format!("a width of {width} does not split into {heads} heads"),
        ));
    }
    let mut shapes = Vec::with_capacity(ts.len());
    let mut res = Ok(());
    for t in ts.iter_mut() {
        let shape = t.shape().dims().to_vec();
        res = be.reshape(t, &[rows * heads, width / heads]);
        if res.is_err() {
            break;
        }
        shapes.push(shape);
    }
    let out = res.and_then(|()| f(be, ts));
    for (t, shape) in ts.iter_mut().zip(&shapes) {
        be.reshape(t, shape)?;
    }
    out
}

/// RMSNorm of every head: `y[t, h·D + i] = x[t, h·D + i] · rstd[t·H + h] · w[i]`, the RMSNorm op
/// on the `[T·H, D]` view. x, y `[T, H·D]`, w `[D]`, rstd `[T·H]`.
pub fn head_norm_forward<B: Backend>(
    be: &B,
    x: &mut B::Tensor,
    w: &B::Tensor,
    eps: f32,
    heads: usize,
    y: &mut B::Tensor,
    rstd: &mut B::Tensor,
) -> Result<()> {
    with_heads(be, &mut [x, y], heads, |be, t| {
        let [x, y] = t else {
            return Err(Error::param("head norm", "two tensors"));
        };
        be.rmsnorm_forward(x, w, eps, y, rstd)
    })
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
