//! The FLOPs of one training step of the method, for `svdtune bench`: forward, input-gradient
//! backward and dΣ through every SVD layer, plus causal attention. Multiply-adds count 2.
//!
//! Per token and SVD layer `[m, n]` of rank `q` (delta form, `d = Σ − Σ₀`): forward `x Wᵀ`
//! (2mn) + `x V` (2nq) + `(h⊙d) Uᵀ` (2qm); backward `g W` (2mn) + `g U` (2mq) + `(k⊙d) Vᵀ`
//! (2qn); dΣ is a row sum of products already formed; `d` itself is `q` per layer and step,
//! not counted. Total `4mn + 4q(m + n)`.
//! Attention per sequence of `T` tokens and head of dim `D`: scores and values `4·D·T²/2`
//! (causal), backward twice that plus the recomputed scores: `3 ×` the forward.
use svdtune::model::config::ModelConfig;

pub struct LayerShape {
    pub m: usize,
    pub n: usize,
    pub q: usize,
}

/// FLOPs of one step on `batch` sequences of `seq` tokens.
pub fn step_flops(cfg: &ModelConfig, layers: &[LayerShape], batch: usize, seq: usize) -> f64 {
    let tokens = (batch * seq) as f64;
    let linear: f64 = layers
        .iter()
        .map(|l| {
            let (m, n, q) = (l.m as f64, l.n as f64, l.q as f64);
            4.0 * m * n + 4.0 * q * (m + n)
        })
        .sum::<f64>()
        * tokens;
    let (t, d, h) = (seq as f64, cfg.head_dim as f64, cfg.num_heads as f64);
    let attention_forward = 4.0 * d * t * t / 2.0 * h * batch as f64 * cfg.num_layers as f64;
    linear + 3.0 * attention_forward
}
