//! Preallocated activation buffers of the forward pass, named by what they hold, for `T` token
//! rows (`C` hidden, `H`/`Hkv` heads of width `D`, `I` MLP width, `V` vocabulary).
//!
//! Training keeps one [`Saved`] per decoder layer (what backward reads); inference keeps one and
//! reuses it for every layer. Training with recomputation ([`Keep::Inputs`]) keeps only each
//! layer's input `[T, C]` and one [`Saved`] that backward refills by running the layer's forward
//! again just before its backward. Buffers that no backward step reads live once in [`Scratch`].
use super::config::ModelConfig;
use super::weights::{Linear, ModelWeights};
use crate::backend::Backend;
use crate::backend::svd_linear::{SvdLinearActs, svd_linear_acts};
use crate::error::Result;

/// `h = x V` (and scratch) of each decomposed linear of a layer; `None` for dense layers. The
/// fused qkv projection uses `q`, the fused gate_up projection uses `gate`.
pub struct LinearActs<T> {
    pub q: Option<SvdLinearActs<T>>,
    pub k: Option<SvdLinearActs<T>>,
    pub v: Option<SvdLinearActs<T>>,
    pub o: Option<SvdLinearActs<T>>,
    pub gate: Option<SvdLinearActs<T>>,
    pub up: Option<SvdLinearActs<T>>,
    pub down: Option<SvdLinearActs<T>>,
}

/// Per-layer activations that the backward pass reads.
pub struct Saved<T> {
    /// Residual stream entering the layer `[T, C]` (training only).
    pub x_in: Option<T>,
    /// Residual stream after the attention block `[T, C]` (training only).
    pub x_mid: Option<T>,
    /// `1 / rms` of the input norm `[T]`.
    pub rstd_attn: T,
    /// Queries and keys as projected, before their per-head norm `[T, H·D]`, `[T, Hkv·D]`
    /// (families with q/k norms).
    pub q_raw: Option<T>,
    pub k_raw: Option<T>,
    /// `1 / rms` of each query head and key head `[T·H]`, `[T·Hkv]` (q/k norms).
    pub rstd_q: Option<T>,
    pub rstd_k: Option<T>,
    /// Queries after RoPE `[T, H·D]`.
    pub q: T,
    /// Keys after RoPE `[T, Hkv·D]`.
    pub k: T,
    /// Values `[T, Hkv·D]`.
    pub v: T,
    /// Attention output `[T, H·D]`.
    pub attn: T,
    /// Log-sum-exp of the attention scores `[T, H]`.
    pub lse: T,
    /// `1 / rms` of the post-attention norm `[T]`.
    pub rstd_mlp: T,
    /// Gemma: the o_proj and down_proj outputs before their norms `[T, C]`, and those norms'
    /// `1 / rms` `[T]`.
    pub attn_proj: Option<T>,
    pub rstd_attn_out: Option<T>,
    pub mlp_proj: Option<T>,
    pub rstd_mlp_out: Option<T>,
    /// MLP gate and up projections `[T, I]`.
    pub gate: T,
    pub up: T,
}

/// Buffers reused by every layer.
pub struct Scratch<T> {
    /// Normed input of the current block `[T, C]`.
    pub xn: T,
    /// Fused `[q | k | v]` `[T, (H + 2·Hkv)·D]` (Phi-3).
    pub qkv: Option<T>,
    /// Fused `[gate | up]` `[T, 2·I]` (Phi-3).
    pub gate_up: Option<T>,
    /// `silu(gate) ⊙ up` `[T, I]`.
    pub act: T,
    /// Output of o_proj / down_proj before the residual add `[T, C]`.
    pub proj: T,
}

/// What a forward pass keeps for backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing: one [`Saved`] shared by every layer (inference).
    Nothing,
    /// Every layer's [`Saved`] (training, stored activations).
    Every,
    /// Each layer's input `[T, C]` and one shared [`Saved`] that backward refills by
    /// recomputing the layer (training with activation recomputation).
    Inputs,
}

/// Everything the forward pass writes for `rows` token rows.
pub struct Activations<T> {
    pub rows: usize,
    pub keep: Keep,
    /// The residual stream entering each decoder layer `[T, C]`, one per layer under
    /// [`Keep::Inputs`] (empty otherwise).
    pub inputs: Vec<T>,
    /// The residual stream of the layer being recomputed `[T, C]` ([`Keep::Inputs`] only).
    pub replay: Option<T>,
    /// The residual stream `[T, C]`; after the forward pass, the input of the final norm.
    pub stream: T,
    /// One per layer (training) or a single shared one (inference).
    pub layers: Vec<Saved<T>>,
    /// Activations of the decomposed linear layers, one set per layer (they are small, `[T, q]`,
    /// and their ranks may differ from layer to layer); under [`Keep::Inputs`] one set shared by
    /// every layer when all layers have the same ranks (layer `l` uses `lin[l % lin.len()]`).
    pub lin: Vec<LinearActs<T>>,
    pub scratch: Scratch<T>,
    /// `1 / rms` of the final norm `[T]`.
    pub final_rstd: T,
    /// Final normed hidden states `[T, C]`: the input of `lm_head`.
    pub hidden: T,
}

impl<T> Activations<T> {
    /// The saved buffers of layer `l`.
    pub fn saved_mut(&mut self, l: usize) -> &mut Saved<T> {
        let n = self.layers.len();
        &mut self.layers[l % n]
    }

    /// Index into [`Activations::lin`] of layer `l`'s linear activations.
    pub fn lin_index(&self, l: usize) -> usize {
        l % self.lin.len().max(1)
    }
}

fn svd_acts<B: Backend>(
    be: &B,
    lin: &Linear<B::Tensor>,
    rows: usize,
) -> Result<Option<SvdLinearActs<B::Tensor>>> {
    lin.rank().map(|q| svd_linear_acts(be, rows, q)).transpose()
}

/// Whether every decoder layer's linears have the ranks of the first layer's.
fn same_ranks<B: Backend>(w: &ModelWeights<B::Tensor>) -> Result<bool> {
    let ranks = |l: usize| w.layers[l].per_slot(|lin| Ok(lin.rank()));
    let first = match w.layers.first() {
        Some(_) => ranks(0)?,
        None => return Ok(true),
    };
    for l in 1..w.layers.len() {
        if ranks(l)? != first {
            return Ok(false);
        }
    }
    Ok(true)
}

fn linear_acts<B: Backend>(
    be: &B,
    w: &ModelWeights<B::Tensor>,
    l: usize,
    rows: usize,
) -> Result<LinearActs<B::Tensor>> {
    let [q, k, v, o, gate, up, down] = w.layers[l].per_slot(|lin| svd_acts(be, lin, rows))?;
    Ok(LinearActs {
        q,
        k,
        v,
        o,
        gate,
        up,
        down,
    })
}

impl<T> Activations<T> {
    /// Allocates buffers for `rows` token rows. `training` keeps every layer's [`Saved`] (and
    /// the residual copies) for backward; otherwise one set is shared by all layers.
    pub fn new<B: Backend<Tensor = T>>(
        be: &B,
        cfg: &ModelConfig,
        w: &ModelWeights<T>,
        rows: usize,
        training: bool,
    ) -> Result<Self> {
        let keep = if training { Keep::Every } else { Keep::Nothing };
        Self::keeping(be, cfg, w, rows, keep)
    }

    /// Allocates buffers for `rows` token rows that keep what `keep` says for backward.
    pub fn keeping<B: Backend<Tensor = T>>(
        be: &B,
        cfg: &ModelConfig,
        w: &ModelWeights<T>,
        rows: usize,
        keep: Keep,
    ) -> Result<Self> {
        let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
        let (qw, kw) = (cfg.q_width(), cfg.kv_width());
        let training = keep != Keep::Nothing;
        let n_saved = if keep == Keep::Every {
            cfg.num_layers
        } else {
            1
        };
        let (h, hkv) = (cfg.num_heads, cfg.num_kv_heads);
        let qk_norm = cfg.family.has_qk_norm();
        let sandwich = cfg.family.has_sandwich_norms();
        let mut layers = Vec::with_capacity(n_saved);
        for _ in 0..n_saved {
            let keep = |be: &B| -> Result<Option<T>> {
                training.then(|| be.zeros(&[rows, c])).transpose()
            };
            layers.push(Saved {
                x_in: keep(be)?,
                x_mid: keep(be)?,
                rstd_attn: be.zeros(&[rows])?,
                q_raw: qk_norm.then(|| be.zeros(&[rows, qw])).transpose()?,
                k_raw: qk_norm.then(|| be.zeros(&[rows, kw])).transpose()?,
                rstd_q: qk_norm.then(|| be.zeros(&[rows * h])).transpose()?,
                rstd_k: qk_norm.then(|| be.zeros(&[rows * hkv])).transpose()?,
                q: be.zeros(&[rows, qw])?,
                k: be.zeros(&[rows, kw])?,
                v: be.zeros(&[rows, kw])?,
                attn: be.zeros(&[rows, qw])?,
                lse: be.zeros(&[rows, cfg.num_heads])?,
                rstd_mlp: be.zeros(&[rows])?,
                attn_proj: sandwich.then(|| be.zeros(&[rows, c])).transpose()?,
                rstd_attn_out: sandwich.then(|| be.zeros(&[rows])).transpose()?,
                mlp_proj: sandwich.then(|| be.zeros(&[rows, c])).transpose()?,
                rstd_mlp_out: sandwich.then(|| be.zeros(&[rows])).transpose()?,
                gate: be.zeros(&[rows, i])?,
                up: be.zeros(&[rows, i])?,
            });
        }
        let n_lin = if keep == Keep::Inputs && same_ranks::<B>(w)? {
            1
        } else {
            cfg.num_layers
        };
        let lin = (0..n_lin)
            .map(|l| linear_acts(be, w, l, rows))
            .collect::<Result<Vec<_>>>()?;
        let fused_qkv = w.fused_qkv();
        let fused_gu = w.fused_gate_up();
        let scratch = Scratch {
            xn: be.zeros(&[rows, c])?,
            qkv: fused_qkv
                .then(|| be.zeros(&[rows, qw + 2 * kw]))
                .transpose()?,
            gate_up: fused_gu.then(|| be.zeros(&[rows, 2 * i])).transpose()?,
            act: be.zeros(&[rows, i])?,
            proj: be.zeros(&[rows, c])?,
        };
        let recompute = keep == Keep::Inputs;
        let inputs = if recompute {
            (0..cfg.num_layers)
                .map(|_| be.zeros(&[rows, c]))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok(Activations {
            rows,
            keep,
            inputs,
            replay: recompute.then(|| be.zeros(&[rows, c])).transpose()?,
            stream: be.zeros(&[rows, c])?,
            layers,
            lin,
            scratch,
            final_rstd: be.zeros(&[rows])?,
            hidden: be.zeros(&[rows, c])?,
        })
    }
}

/// Input and activations of `lm_head` for a chunk of `rows` rows of the final hidden states.
pub struct HeadActs<T> {
    pub rows: usize,
    /// The chunk's hidden rows `[N, C]`.
    pub input: T,
    pub svd: Option<SvdLinearActs<T>>,
}

impl<T> HeadActs<T> {
    pub fn new<B: Backend<Tensor = T>>(
        be: &B,
        cfg: &ModelConfig,
        w: &ModelWeights<T>,
        rows: usize,
    ) -> Result<Self> {
        Ok(HeadActs {
            rows,
            input: be.zeros(&[rows, cfg.hidden_size])?,
            svd: svd_acts(be, &w.lm_head, rows)?,
        })
    }
}
