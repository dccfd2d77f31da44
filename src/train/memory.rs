//! The memory a training run needs on its backend, estimated from `config.json` and the SVD plan
//! alone (before any weight is read; per-tensor stored sizes from the checkpoint's header when
//! weights stay in their stored precision), and checked against what the backend can hold: a GPU
//! budget set by the user (browsers report no GPU memory size) or wasm32's 4 GiB for the page's
//! CPU engine. Mirrors the allocations of `ModelWeights` after decomposition, `Activations`
//! (every layer's saved activations, or with recomputation only each layer's input and one
//! layer's set), `BackScratch`, `Grads`, `LossHead`, `LossInputs` and `Optimizer`; a test
//! compares it with the GPU backend's own count of the bytes it holds. [`plan_memory`] picks
//! recomputation when the stored-activation run does not fit ([`Recompute::Auto`]).
use super::backward::loss_chunk;
use crate::backend::Backend;
use crate::error::{Error, Result, human_bytes};
use crate::model::ModelConfig;
use crate::svd::plan::SvdPlan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bytes of a training run's tensors, in four parts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MemoryEstimate {
    /// The frozen model: `W` of every planned layer (f32 or as stored, see [`WeightStorage`]),
    /// embeddings, norms and biases.
    pub weights: u64,
    /// `U`, `V` (in the factor dtype), `Σ` and `−Σ₀` of every planned layer (with packed
    /// factors, also the GPU's kept readback buffer their conversion leaves, at most 1 MiB).
    pub factors: u64,
    /// Gradients (with dΣ's row-block partial sums) and the two AdamW moments of every trained
    /// vector.
    pub optimizer: u64,
    /// Activations kept for backward (every layer's, or only each layer's input with
    /// recomputation), backward scratch, the loss head's logits, batch inputs.
    pub activations: u64,
    /// The decomposition's working tensors at its largest layer, held over the weights and the
    /// factors before training starts (no optimizer or activations yet): the f32 copy a packed
    /// `W` is read through, the range finder's tall `[max(m, n), q + oversampling]` products
    /// (up to four at once, one of them a readback buffer) and its short ones.
    pub decomposition: u64,
    /// Whether the activations are recomputed in backward.
    pub recompute: bool,
}

/// Whether backward recomputes each layer's activations from its saved input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recompute {
    /// Only when the run with stored activations does not fit the memory limit.
    #[default]
    Auto,
    On,
    Off,
}

impl std::str::FromStr for Recompute {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Recompute::Auto),
            "on" => Ok(Recompute::On),
            "off" => Ok(Recompute::Off),
            _ => Err(Error::param(
                "recompute",
                format!("`{s}` is not one of auto, on, off"),
            )),
        }
    }
}

/// The dtype of the frozen factors `U` and `V`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorDtype {
    #[default]
    F32,
    F16,
}

impl FactorDtype {
    /// The dtype a run's `factor_format` (`TrainOptions::factor_format`) holds `U` and `V` in,
    /// as far as bytes go: bf16 factors take what f16 ones take.
    pub fn of_format(f: crate::backend::Format) -> Self {
        match f {
            crate::backend::Format::F16 | crate::backend::Format::Bf16 => FactorDtype::F16,
            // Factors are never held as GGUF blocks: every other format counts as f32.
            _ => FactorDtype::F32,
        }
    }

    pub fn bytes(self) -> u64 {
        match self {
            FactorDtype::F32 => 4,
            FactorDtype::F16 => 2,
        }
    }

    /// The format a run holds `U` and `V` in (`TrainOptions::factor_format`).
    pub fn format(self) -> crate::backend::Format {
        match self {
            FactorDtype::F32 => crate::backend::Format::F32,
            FactorDtype::F16 => crate::backend::Format::F16,
        }
    }
}

impl std::str::FromStr for FactorDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(FactorDtype::F32),
            "f16" => Ok(FactorDtype::F16),
            _ => Err(Error::param(
                "factor dtype",
                format!("`{s}` is not one of f32, f16"),
            )),
        }
    }
}

/// How the frozen weights (`W`, embeddings) are held on the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightStorage {
    /// Converted to f32 on load (`WeightPrecision::F32`, the comparison path).
    UpcastF32,
    /// As the loaded checkpoint stores them (what `Model::load` does: f16/bf16 two to a u32),
    /// sizes from [`StoredSizes`]; a tensor it does not list counts as f32.
    #[default]
    Stored,
}

/// Bytes each tensor takes as its file stores it, by Hugging Face name
/// (`model.layers.0.self_attn.q_proj.weight`), read from a safetensors header or a GGUF's
/// tensor table; each rounded up to whole u32 words, as packed on the GPU.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredSizes(pub BTreeMap<String, u64>);

impl StoredSizes {
    /// From the headers of a safetensors checkpoint (F64 counts as the f32 it loads as); a
    /// tensor its source offers in a stored format (a GGUF file's blocks) counts as those.
    pub fn from_checkpoint<S: crate::model::source::ByteSource>(
        ck: &crate::model::safetensors::Checkpoint<S>,
    ) -> Self {
        let mut sizes = BTreeMap::new();
        for name in ck.names() {
            if let Some((e, _)) = ck.entry(name) {
                let bytes = match ck.stored_format(name) {
                    Some(f) => f.bytes_for(e.numel()) as u64,
                    None => (e.end - e.start).min(4 * e.numel() as u64),
                };
                sizes.insert(name.to_string(), bytes.div_ceil(4) * 4);
            }
        }
        StoredSizes(sizes)
    }

    /// From the checkpoint `files` hold, as loading sees it (a GGUF file's is the checkpoint
    /// made from it: its matrices as the blocks loading keeps); reads only headers.
    pub fn from_files<F: crate::model::ModelFiles>(files: &F) -> Result<Self> {
        Ok(Self::from_checkpoint(&crate::model::load::open_checkpoint(
            files,
        )?))
    }

    /// Stored bytes of `name` (`numel` f32 values when not listed).
    fn bytes(&self, name: &str, numel: u64) -> u64 {
        self.0.get(name).copied().unwrap_or(4 * numel)
    }
}

/// What the estimate is for: the batch shape, the backend's loss chunk, and the choices that
/// change the bytes.
#[derive(Clone, Debug)]
pub struct MemoryOptions<'a> {
    pub batch: usize,
    pub seq: usize,
    /// The backend's [`Backend::logit_chunk_elements`].
    pub logit_chunk_elements: usize,
    pub recompute: bool,
    pub factor_dtype: FactorDtype,
    pub storage: WeightStorage,
    /// Per-tensor stored sizes, read for [`WeightStorage::Stored`].
    pub stored: Option<&'a StoredSizes>,
}

impl<'a> MemoryOptions<'a> {
    /// Stored activations, f32 factors, weights as stored (f32 for every tensor, as no
    /// [`StoredSizes`] are given yet: see [`MemoryOptions::for_run`]).
    pub fn new(batch: usize, seq: usize, logit_chunk_elements: usize) -> Self {
        MemoryOptions {
            batch,
            seq,
            logit_chunk_elements,
            recompute: false,
            factor_dtype: FactorDtype::F32,
            storage: WeightStorage::Stored,
            stored: None,
        }
    }

    /// What a training run with options `o` holds on a backend whose loss chunk is
    /// `logit_chunk_elements`: batches of `o.batch_size × o.seq_len`, factors in
    /// `o.factor_format`, frozen weights as `stored` lists them (what loading keeps).
    pub fn for_run(
        o: &super::run::TrainOptions,
        logit_chunk_elements: usize,
        stored: &'a StoredSizes,
    ) -> Self {
        MemoryOptions {
            factor_dtype: FactorDtype::of_format(o.factor_format),
            stored: Some(stored),
            ..MemoryOptions::new(o.batch_size, o.seq_len, logit_chunk_elements)
        }
    }
}

impl MemoryEstimate {
    /// The run's peak: the weights and factors, and then the larger of the decomposition's
    /// working tensors and the training's optimizer and activations.
    pub fn total(&self) -> u64 {
        self.weights + self.factors + (self.optimizer + self.activations).max(self.decomposition)
    }

    /// What training holds: weights, factors, optimizer and activations.
    pub fn training(&self) -> u64 {
        self.weights + self.factors + self.optimizer + self.activations
    }

    /// What the decomposition holds at its peak: weights, factors and its working tensors.
    pub fn decomposition_peak(&self) -> u64 {
        self.weights + self.factors + self.decomposition
    }

    /// `Error::OutOfMemory` when the run cannot fit `be` (see [`Backend::memory_limit`]);
    /// `batch` describes the batch in the message.
    pub fn check<B: Backend>(&self, be: &B, batch: &str) -> Result<()> {
        self.check_within(be.memory_limit(), be.memory_kind(), batch)
    }

    /// [`MemoryEstimate::check`] against `limit` bytes (none: always fits) of `device` memory
    /// (`"GPU"`, `"host"`: how the message names it).
    pub fn check_within(
        &self,
        limit: Option<u64>,
        device: &'static str,
        batch: &str,
    ) -> Result<()> {
        match limit {
            Some(limit) if self.total() > limit => Err(Error::OutOfMemory {
                device,
                what: self.describe(batch),
                bytes: Some(self.total()),
                held: 0,
                limit: Some(limit),
            }),
            _ => Ok(()),
        }
    }

    /// `training {batch} (weights …, factors …, optimizer …, activations …[, recomputed])`,
    /// and the decomposition's working tensors when they are the larger phase.
    fn describe(&self, batch: &str) -> String {
        let decomposition = if self.decomposition > self.optimizer + self.activations {
            format!(
                " and, before it, the decomposition's {} of working tensors",
                human_bytes(self.decomposition)
            )
        } else {
            String::new()
        };
        format!(
            "training {batch} (weights {}, factors {}, optimizer {}, activations {}{}){decomposition}",
            human_bytes(self.weights),
            human_bytes(self.factors),
            human_bytes(self.optimizer),
            human_bytes(self.activations),
            if self.recompute { ", recomputed" } else { "" }
        )
    }
}

/// The estimate for `o.recompute` resolved: [`Recompute::Auto`] recomputes only when the run
/// with stored activations does not fit `be`'s memory limit. `Error::OutOfMemory` (naming the
/// parts of the estimate) when the chosen run does not fit either.
pub fn plan_memory<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    plan: &SvdPlan,
    recompute: Recompute,
    o: &MemoryOptions,
) -> Result<MemoryEstimate> {
    plan_memory_within(cfg, plan, recompute, o, be.memory_limit(), be.memory_kind())
}

/// [`plan_memory`] against `limit` bytes (none: no limit) of `device` memory (`"GPU"`,
/// `"host"`): what the page shows before a model's weights load, with its GPU memory setting.
pub fn plan_memory_within(
    cfg: &ModelConfig,
    plan: &SvdPlan,
    recompute: Recompute,
    o: &MemoryOptions,
    limit: Option<u64>,
    device: &'static str,
) -> Result<MemoryEstimate> {
    let with = |on: bool| {
        estimate_with(
            cfg,
            plan,
            &MemoryOptions {
                recompute: on,
                ..o.clone()
            },
        )
    };
    let batch = format!("batches of {} × {}", o.batch, o.seq);
    let chosen = match recompute {
        Recompute::On => with(true),
        Recompute::Off => with(false),
        Recompute::Auto => {
            let stored = with(false);
            if stored.check_within(limit, device, &batch).is_ok() {
                stored
            } else {
                with(true)
            }
        }
    };
    chosen.check_within(limit, device, &batch)?;
    Ok(chosen)
}

/// The estimate for batches of `batch × seq` rows, the loss computed `logit_chunk_elements`
/// logits at a time (the backend's [`Backend::logit_chunk_elements`]), with stored activations,
/// f32 factors and every frozen tensor counted as f32; see [`estimate_with`].
pub fn estimate(
    cfg: &ModelConfig,
    plan: &SvdPlan,
    batch: usize,
    seq: usize,
    logit_chunk_elements: usize,
) -> MemoryEstimate {
    estimate_with(
        cfg,
        plan,
        &MemoryOptions::new(batch, seq, logit_chunk_elements),
    )
}

/// The estimate for the run `o` describes.
pub fn estimate_with(cfg: &ModelConfig, plan: &SvdPlan, o: &MemoryOptions) -> MemoryEstimate {
    let u = |x: usize| x as u64;
    let (c, i, v) = (
        u(cfg.hidden_size),
        u(cfg.intermediate_size),
        u(cfg.vocab_size),
    );
    let (qw, kw, h) = (u(cfg.q_width()), u(cfg.kv_width()), u(cfg.num_heads));
    let layers = u(cfg.num_layers);
    let rows = u(o.batch) * u(o.seq);
    let fused = cfg.family == crate::model::Family::Phi3;

    // Frozen tensors in bytes: f32, or as stored.
    let embed_name = "model.embed_tokens.weight";
    let frozen = |name: &str, numel: u64| match (o.storage, o.stored) {
        (WeightStorage::Stored, Some(s)) => s.bytes(name, numel),
        _ => 4 * numel,
    };
    let layer_w = |l: &crate::svd::plan::PlannedLayer| {
        let numel = u(l.m) * u(l.n);
        let name = format!("{}.weight", l.module);
        let stored = o.stored.is_some_and(|s| s.0.contains_key(&name));
        if l.layer.is_none() && !stored {
            // A tied lm_head is decomposed on a copy of the embedding, held alike.
            frozen(embed_name, numel)
        } else {
            frozen(&name, numel)
        }
    };
    let linear_w: u64 = plan.layers.iter().map(layer_w).sum();
    // `svd::decompose`, whose layers running side by side hold no more than its largest.
    let decomposition = plan
        .layers
        .iter()
        .map(|l| {
            let packed = layer_w(l) < 4 * u(l.m) * u(l.n);
            crate::svd::decompose::layer_scratch_bytes(l.m, l.n, l.q, packed)
        })
        .max()
        .unwrap_or(0);
    let biases: u64 = plan
        .layers
        .iter()
        .map(|l| if l.bias { 4 * u(l.m) } else { 0 })
        .sum();
    let norms = u(plan.norm_params);
    // Gemma's √C embedding scale vector.
    let embed_scale = if cfg.scale_embeddings { c } else { 0 };
    let weights = linear_w + biases + frozen(embed_name, v * c) + 4 * (norms + embed_scale);

    let fb = o.factor_dtype.bytes();
    let factors: u64 = plan
        .layers
        .iter()
        .map(|l| {
            let (m, n, q) = (u(l.m), u(l.n), u(l.q));
            (fb * m * q).div_ceil(4) * 4 + (fb * n * q).div_ceil(4) * 4 + 4 * 2 * q
        })
        .sum();
    // Packed factors are made from f32 ones read back to the host: the GPU keeps the largest
    // readback buffer up to `KEEP_STAGING_BYTES` for later reads.
    let staging = if fb < 4 {
        let largest = plan.layers.iter().map(|l| 4 * u(l.m.max(l.n)) * u(l.q));
        largest
            .max()
            .unwrap_or(0)
            .min(crate::backend::gpu::KEEP_STAGING_BYTES)
    } else {
        0
    };
    let factors = factors + staging;

    let trained = u(plan.sigma_params) + if plan.train_norms { norms } else { 0 };
    // dΣ's row-block partial sums: every trained tensor rounded up to 64 elements, times the
    // row blocks of a batch (`train::grads`).
    let blocks = rows
        .div_ceil(crate::backend::DSIGMA_BLOCK_ROWS as u64)
        .max(1);
    let sigma_units: u64 = plan
        .layers
        .iter()
        .map(|l| u(l.q).next_multiple_of(64))
        .sum();
    let norm_units = if plan.train_norms {
        norms.next_multiple_of(64)
    } else {
        0
    };
    let optimizer = 3 * trained + 1 + (sigma_units + norm_units) * blocks;

    // Per row: what every layer keeps for backward (or, recomputing, each layer's input, one
    // layer's set and the replayed stream), and the rank-q products of its linears.
    let hkv = u(cfg.num_kv_heads);
    // q/k norms keep the projections before their norm and one rstd per head; Gemma's output
    // norms keep o_proj's and down_proj's outputs and their rstd.
    let qk = if cfg.family.has_qk_norm() {
        qw + kw + h + hkv
    } else {
        0
    };
    let sandwich = if cfg.family.has_sandwich_norms() {
        2 * c + 2
    } else {
        0
    };
    let saved = 2 * c + 2 * qw + 2 * kw + h + 2 + 2 * i + qk + sandwich;
    let kept = if o.recompute {
        saved + layers * c + c
    } else {
        layers * saved
    };
    // With recomputation, one set of rank-q buffers serves every layer when their ranks agree.
    let ranks_of = |layer: usize| -> Vec<u64> {
        plan.layers
            .iter()
            .filter(|l| l.layer == Some(layer))
            .map(|l| u(l.q))
            .collect()
    };
    let shared = o.recompute && (1..cfg.num_layers).all(|l| ranks_of(l) == ranks_of(0));
    let in_buffers = |l: &&crate::svd::plan::PlannedLayer| match l.layer {
        Some(layer) => !shared || layer == 0,
        None => false,
    };
    let ranks: u64 = plan
        .layers
        .iter()
        .filter(in_buffers)
        .map(|l| 3 * u(l.q))
        .sum();
    let (fused_qkv, fused_gu) = if fused { (qw + 2 * kw, 2 * i) } else { (0, 0) };
    let scratch = 2 * c + i + fused_qkv + fused_gu;
    let stream = 2 * c + 1;
    let back_qk = if cfg.family.has_qk_norm() { qw + kw } else { 0 };
    let back_sandwich = if cfg.family.has_sandwich_norms() {
        c
    } else {
        0
    };
    let back = 2 * c + 2 * qw + 2 * kw + 3 * i + fused_qkv + fused_gu + back_qk + back_sandwich;
    // ids, positions, window starts, targets, weights; Gemma's local window starts.
    let inputs = 5 + u64::from(cfg.local_attention.is_some());
    let per_row = kept + ranks + scratch + stream + back + inputs;
    let chunk = u(loss_chunk(
        o.batch * o.seq,
        cfg.vocab_size,
        o.logit_chunk_elements,
    ));
    let head_q = plan
        .layers
        .iter()
        .find(|l| l.layer.is_none())
        .map_or(0, |l| u(l.q));
    let head = chunk * (c + 3 * head_q + v + c) + rows;
    // cos and sin tables; twice with Gemma's local RoPE.
    let rope_sets = 1 + u64::from(cfg.local_attention.is_some());
    let rope = rope_sets * 2 * u(o.seq) * u(cfg.head_dim);

    let activations = rows * per_row + head + rope;

    MemoryEstimate {
        weights,
        factors,
        optimizer: 4 * optimizer,
        activations: 4 * activations,
        decomposition,
        recompute: o.recompute,
    }
}
