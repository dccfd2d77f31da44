//! The memory a training run needs on its backend, estimated from `config.json` and the SVD plan
//! alone (before any weight is read), and checked against what the backend can hold: a GPU
//! budget set by the user (browsers report no GPU memory size) or wasm32's 4 GiB for the page's
//! CPU engine. Mirrors the allocations of `ModelWeights` after decomposition, `Activations`,
//! `BackScratch`, `Grads`, `LossHead`, `LossInputs` and `Optimizer`; a test compares it with the
//! GPU backend's own count of the bytes it holds.
use super::backward::loss_chunk;
use crate::backend::{Backend, check_budget};
use crate::error::{Result, human_bytes};
use crate::model::ModelConfig;
use crate::svd::plan::SvdPlan;
use serde::Serialize;

/// Bytes of a training run's tensors, in three parts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MemoryEstimate {
    /// The model after decomposition: `W` (kept as loaded), `U`, `V`, `Σ`, `−Σ₀` of every
    /// planned layer, embeddings, norms and biases.
    pub weights: u64,
    /// Gradients and the two AdamW moments of every trained vector.
    pub optimizer: u64,
    /// Activations kept for backward, backward scratch, the loss head's logits, batch inputs.
    pub activations: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.weights + self.optimizer + self.activations
    }

    /// `Error::OutOfMemory` when the run cannot fit `be` (see [`Backend::memory_limit`]);
    /// `batch` describes the batch in the message.
    pub fn check<B: Backend>(&self, be: &B, batch: &str) -> Result<()> {
        check_budget(be, self.total(), || {
            format!(
                "training {batch} (weights {}, optimizer {}, activations {})",
                human_bytes(self.weights),
                human_bytes(self.optimizer),
                human_bytes(self.activations)
            )
        })
    }
}

/// The estimate for batches of `batch × seq` rows, the loss computed `logit_chunk_elements`
/// logits at a time (the backend's [`Backend::logit_chunk_elements`]).
pub fn estimate(
    cfg: &ModelConfig,
    plan: &SvdPlan,
    batch: usize,
    seq: usize,
    logit_chunk_elements: usize,
) -> MemoryEstimate {
    let u = |x: usize| x as u64;
    let (c, i, v) = (
        u(cfg.hidden_size),
        u(cfg.intermediate_size),
        u(cfg.vocab_size),
    );
    let (qw, kw, h) = (u(cfg.q_width()), u(cfg.kv_width()), u(cfg.num_heads));
    let layers = u(cfg.num_layers);
    let rows = u(batch) * u(seq);
    let fused = cfg.family == crate::model::Family::Phi3;

    let decomposed: u64 = plan
        .layers
        .iter()
        .map(|l| {
            let (m, n, q) = (u(l.m), u(l.n), u(l.q));
            m * n + (m + n) * q + 2 * q + if l.bias { m } else { 0 }
        })
        .sum();
    let norms = u(plan.norm_params);
    let weights = decomposed + v * c + norms;

    let trained = u(plan.sigma_params) + if plan.train_norms { norms } else { 0 };
    let optimizer = 3 * trained + 1;

    // Per row: what every layer keeps for backward, and the rank-q products of its linears.
    let saved = 2 * c + 2 * qw + 2 * kw + h + 2 + 2 * i;
    let ranks: u64 = plan
        .layers
        .iter()
        .filter(|l| l.layer.is_some())
        .map(|l| 3 * u(l.q))
        .sum();
    let (fused_qkv, fused_gu) = if fused { (qw + 2 * kw, 2 * i) } else { (0, 0) };
    let scratch = 2 * c + i + fused_qkv + fused_gu;
    let stream = 2 * c + 1;
    let back = 2 * c + 2 * qw + 2 * kw + 3 * i + fused_qkv + fused_gu;
    let inputs = 5;
    let per_row = layers * saved + ranks + scratch + stream + back + inputs;
    let chunk = u(loss_chunk(
        batch * seq,
        cfg.vocab_size,
        logit_chunk_elements,
    ));
    let head_q = plan
        .layers
        .iter()
        .find(|l| l.layer.is_none())
        .map_or(0, |l| u(l.q));
    let head = chunk * (c + 3 * head_q + v + c) + rows;
    let rope = 2 * u(seq) * u(cfg.head_dim);

    let activations = rows * per_row + head + rope;

    MemoryEstimate {
        weights: 4 * weights,
        optimizer: 4 * optimizer,
        activations: 4 * activations,
    }
}
