//! The SVD plan: for a config and a rank fraction, every linear layer to decompose with its shape
//! and rank `q = max(1, floor(min(m, n) · rank_fraction))`, and the parameter counts the user sees
//! (trainable Σ and norm weights, frozen rest, LoRA counts over the same layers for comparison).
//! Needs only `config.json`.
use crate::error::{Error, Result};
use crate::model::{LinearKind, ModelConfig, layout};

/// One layer to decompose: `W` `[m, n]` → `U` `[m, q]`, `Σ` `[q]`, `V` `[n, q]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PlannedLayer {
    pub module: String,
    pub layer: Option<usize>,
    pub kind: LinearKind,
    pub m: usize,
    pub n: usize,
    pub q: usize,
    pub bias: bool,
}

/// The plan for one model and rank fraction.
#[derive(Clone, Debug, PartialEq)]
pub struct SvdPlan {
    pub rank_fraction: f64,
    pub layers: Vec<PlannedLayer>,
    /// Σ entries over all layers (trainable).
    pub sigma_params: usize,
    /// RMSNorm weights, `(2·layers + 1) · hidden` (+ `2·layers·head_dim` for q/k norms;
    /// trainable unless frozen).
    pub norm_params: usize,
    /// Whether the norm weights train.
    pub train_norms: bool,
    /// Token-embedding entries (frozen).
    pub embedding_params: usize,
    /// Entries of the original weights of the planned layers (`Σ m·n`, `lm_head` counted even
    /// when tied). u64: a large model's count passes 2³² (wasm32's usize).
    pub linear_params: u64,
    /// Bias entries (frozen).
    pub bias_params: usize,
}

/// `max(1, floor(min(m, n) · fraction))`, the product in f64 as Python computes it.
pub fn rank_for(m: usize, n: usize, fraction: f64) -> usize {
    (((m.min(n)) as f64 * fraction).floor() as usize).clamp(1, m.min(n).max(1))
}

/// Checks a rank fraction from user input: a number in (0, 1].
pub fn check_rank_fraction(fraction: f64) -> Result<f64> {
    if fraction.is_finite() && fraction > 0.0 && fraction <= 1.0 {
        Ok(fraction)
    } else {
        Err(Error::param(
            "svd plan",
            format!("rank fraction must be in (0, 1], got {fraction}"),
        ))
    }
}

impl SvdPlan {
    pub fn new(cfg: &ModelConfig, rank_fraction: f64, train_norms: bool) -> Result<SvdPlan> {
        let rank_fraction = check_rank_fraction(rank_fraction)?;
        let layers: Vec<PlannedLayer> = layout::linear_layers(cfg)
            .into_iter()
            .map(|l| PlannedLayer {
                q: rank_for(l.out_features, l.in_features, rank_fraction),
                module: l.module,
                layer: l.layer,
                kind: l.kind,
                m: l.out_features,
                n: l.in_features,
                bias: l.bias,
            })
            .collect();
        Ok(SvdPlan {
            rank_fraction,
            sigma_params: layers.iter().map(|l| l.q).sum(),
            norm_params: layout::norm_tensors(cfg).iter().map(|(_, n)| n).sum(),
            train_norms,
            embedding_params: cfg.vocab_size * cfg.hidden_size,
            linear_params: layers.iter().map(|l| l.m as u64 * l.n as u64).sum(),
            bias_params: layers.iter().filter(|l| l.bias).map(|l| l.m).sum(),
            layers,
        })
    }

    /// Parameters that train: Σ, plus the norm weights unless frozen.
    pub fn trainable_params(&self) -> usize {
        self.sigma_params
            + if self.train_norms {
                self.norm_params
            } else {
                0
            }
    }

    /// Parameters of the model as stored (the embedding counted once when `lm_head` is tied).
    pub fn model_params(&self, cfg: &ModelConfig) -> u64 {
        let tied = if cfg.tie_word_embeddings {
            self.embedding_params as u64
        } else {
            0
        };
        self.embedding_params as u64 + self.linear_params - tied
            + self.bias_params as u64
            + self.norm_params as u64
    }

    /// LoRA with rank `r` on the same layers: `Σ r · (m + n)` trainable parameters.
    pub fn lora_params(&self, r: usize) -> u64 {
        self.layers.iter().map(|l| (r * (l.m + l.n)) as u64).sum()
    }
}
