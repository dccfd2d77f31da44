//! Gradient buffers of the trainable vectors (Σ of every decomposed layer, RMSNorm weights) and
//! the scratch buffers of the backward pass. Nothing here is ever allocated for `W'`, `U`, `V`,
//! biases or embeddings: they get no gradient.
use crate::backend::Backend;
use crate::error::Result;
use crate::model::ModelConfig;
use crate::model::weights::{Linear, ModelWeights};

/// dΣ of each decomposed linear of one layer (`None` when dense) and the layer's norm grads
/// (`None` when norms are frozen). Fused qkv uses `q`, fused gate_up uses `gate`.
pub struct LayerGrads<T> {
    pub q: Option<T>,
    pub k: Option<T>,
    pub v: Option<T>,
    pub o: Option<T>,
    pub gate: Option<T>,
    pub up: Option<T>,
    pub down: Option<T>,
    /// `[C]`.
    pub input_norm: Option<T>,
    /// `[C]`.
    pub post_norm: Option<T>,
}

/// Every gradient of one training step.
pub struct Grads<T> {
    pub layers: Vec<LayerGrads<T>>,
    pub final_norm: Option<T>,
    pub lm_head: Option<T>,
}

fn dsigma<B: Backend>(be: &B, lin: &Linear<B::Tensor>) -> Result<Option<B::Tensor>> {
    lin.rank().map(|q| be.zeros(&[q])).transpose()
}

impl<T> Grads<T> {
    /// Zeroed gradients for every decomposed layer, and for the norms when `train_norms`.
    pub fn new<B: Backend<Tensor = T>>(
        be: &B,
        cfg: &ModelConfig,
        w: &ModelWeights<T>,
        train_norms: bool,
    ) -> Result<Self> {
        let norm = |be: &B| -> Result<Option<T>> {
            train_norms
                .then(|| be.zeros(&[cfg.hidden_size]))
                .transpose()
        };
        let mut layers = Vec::with_capacity(w.layers.len());
        for lw in &w.layers {
            let [q, k, v, o, gate, up, down] = lw.per_slot(|lin| dsigma(be, lin))?;
            layers.push(LayerGrads {
                q,
                k,
                v,
                o,
                gate,
                up,
                down,
                input_norm: norm(be)?,
                post_norm: norm(be)?,
            });
        }
        Ok(Grads {
            layers,
            final_norm: norm(be)?,
            lm_head: dsigma(be, &w.lm_head)?,
        })
    }

    /// Every gradient tensor, in a fixed order: per layer q, k, v, o, gate, up, down, input norm,
    /// post norm; then the final norm and lm_head.
    pub fn all(&self) -> Vec<&T> {
        let mut out = Vec::new();
        for l in &self.layers {
            for g in [
                &l.q,
                &l.k,
                &l.v,
                &l.o,
                &l.gate,
                &l.up,
                &l.down,
                &l.input_norm,
                &l.post_norm,
            ]
            .into_iter()
            .flatten()
            {
                out.push(g);
            }
        }
        out.extend(self.final_norm.iter());
        out.extend(self.lm_head.iter());
        out
    }

    /// Mutable access in the order of [`Grads::all`].
    pub fn all_mut(&mut self) -> Vec<&mut T> {
        let mut out = Vec::new();
        for l in &mut self.layers {
            for g in [
                &mut l.q,
                &mut l.k,
                &mut l.v,
                &mut l.o,
                &mut l.gate,
                &mut l.up,
                &mut l.down,
                &mut l.input_norm,
                &mut l.post_norm,
            ]
            .into_iter()
            .flatten()
            {
                out.push(g);
            }
        }
        out.extend(self.final_norm.iter_mut());
        out.extend(self.lm_head.iter_mut());
        out
    }

    /// Sets every gradient to zero (start of an optimizer step).
    pub fn zero<B: Backend<Tensor = T>>(&mut self, be: &B) -> Result<()> {
        for g in self.all_mut() {
            be.fill(g, 0.0)?;
        }
        Ok(())
    }
}

/// Scratch buffers of the backward pass for `T` rows, reused by every layer.
pub struct BackScratch<T> {
    /// Gradient of the residual stream `[T, C]`.
    pub dstream: T,
    /// Gradient of a block's normed input `[T, C]` (also the gradient of the final hidden states).
    pub dxn: T,
    /// `[T, H·D]`.
    pub dattn: T,
    pub dq: T,
    /// `[T, Hkv·D]`.
    pub dk: T,
    pub dv: T,
    /// `[T, I]`.
    pub dact: T,
    pub dgate: T,
    pub dup: T,
    /// Fused `[T, (H + 2·Hkv)·D]` (Phi-3).
    pub dqkv: Option<T>,
    /// Fused `[T, 2·I]` (Phi-3).
    pub dgate_up: Option<T>,
}

impl<T> BackScratch<T> {
    pub fn new<B: Backend<Tensor = T>>(
        be: &B,
        cfg: &ModelConfig,
        w: &ModelWeights<T>,
        rows: usize,
    ) -> Result<Self> {
        let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
        let (qw, kw) = (cfg.q_width(), cfg.kv_width());
        let fused_qkv = w.fused_qkv();
        let fused_gu = w.fused_gate_up();
        Ok(BackScratch {
            dstream: be.zeros(&[rows, c])?,
            dxn: be.zeros(&[rows, c])?,
            dattn: be.zeros(&[rows, qw])?,
            dq: be.zeros(&[rows, qw])?,
            dk: be.zeros(&[rows, kw])?,
            dv: be.zeros(&[rows, kw])?,
            dact: be.zeros(&[rows, i])?,
            dgate: be.zeros(&[rows, i])?,
            dup: be.zeros(&[rows, i])?,
            dqkv: fused_qkv
                .then(|| be.zeros(&[rows, qw + 2 * kw]))
                .transpose()?,
            dgate_up: fused_gu.then(|| be.zeros(&[rows, 2 * i])).transpose()?,
        })
    }
}
