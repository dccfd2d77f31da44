//! The tensors a checkpoint of a given config must hold: Hugging Face names and shapes, and the
//! linear layers among them (what the SVD plan decomposes). Checking a checkpoint against this
//! list gives errors that name the tensor with the expected and the found shape.
use super::config::{Family, ModelConfig};
use super::safetensors::Checkpoint;
use super::source::ByteSource;
use crate::error::{Error, Result};

/// Which projection a linear layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinearKind {
    Q,
    K,
    V,
    /// Phi-3's fused q, k, v: rows `[q | k | v]`.
    Qkv,
    O,
    Gate,
    Up,
    /// Phi-3's fused gate and up: rows `[gate | up]`.
    GateUp,
    Down,
    LmHead,
}

impl LinearKind {
    /// The module's last name component (`q_proj`, …, `lm_head`).
    pub fn module(self) -> &'static str {
        match self {
            LinearKind::Q => "q_proj",
            LinearKind::K => "k_proj",
            LinearKind::V => "v_proj",
            LinearKind::Qkv => "qkv_proj",
            LinearKind::O => "o_proj",
            LinearKind::Gate => "gate_proj",
            LinearKind::Up => "up_proj",
            LinearKind::GateUp => "gate_up_proj",
            LinearKind::Down => "down_proj",
            LinearKind::LmHead => "lm_head",
        }
    }
}

/// The module path of a linear layer: `model.layers.{layer}.self_attn.q_proj` (attention),
/// `model.layers.{layer}.mlp.down_proj` (MLP), `lm_head` (no layer).
pub fn linear_module(layer: Option<usize>, kind: LinearKind) -> String {
    let block = match kind {
        LinearKind::Q | LinearKind::K | LinearKind::V | LinearKind::Qkv | LinearKind::O => {
            "self_attn"
        }
        LinearKind::Gate | LinearKind::Up | LinearKind::GateUp | LinearKind::Down => "mlp",
        LinearKind::LmHead => return kind.module().to_string(),
    };
    match layer {
        Some(l) => format!("model.layers.{l}.{block}.{}", kind.module()),
        None => format!("model.{block}.{}", kind.module()),
    }
}

/// One linear layer `y = x Wᵀ + b`, `W` `[out_features, in_features]` (m × n).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearSpec {
    /// Module path, e.g. `model.layers.3.self_attn.q_proj` or `lm_head`.
    pub module: String,
    /// Decoder layer index (`None` for `lm_head`).
    pub layer: Option<usize>,
    pub kind: LinearKind,
    /// `m`.
    pub out_features: usize,
    /// `n`.
    pub in_features: usize,
    pub bias: bool,
}

impl LinearSpec {
    pub fn weight_name(&self) -> String {
        format!("{}.weight", self.module)
    }
    pub fn bias_name(&self) -> String {
        format!("{}.bias", self.module)
    }
}

/// The linear layers of the model in execution order: per decoder layer the attention
/// projections (q, k, v or qkv; o) then the MLP (gate, up or gate_up; down), then `lm_head`.
pub fn linear_layers(cfg: &ModelConfig) -> Vec<LinearSpec> {
    let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
    let (qw, kw) = (cfg.q_width(), cfg.kv_width());
    let b = cfg.biases;
    let mut out = Vec::new();
    for l in 0..cfg.num_layers {
        let mut push = |kind: LinearKind, m: usize, n: usize, bias: bool| {
            out.push(LinearSpec {
                module: linear_module(Some(l), kind),
                layer: Some(l),
                kind,
                out_features: m,
                in_features: n,
                bias,
            })
        };
        if cfg.family == Family::Phi3 {
            push(LinearKind::Qkv, qw + 2 * kw, c, b.qkv);
        } else {
            push(LinearKind::Q, qw, c, b.qkv);
            push(LinearKind::K, kw, c, b.qkv);
            push(LinearKind::V, kw, c, b.qkv);
        }
        push(LinearKind::O, c, qw, b.o);
        if cfg.family == Family::Phi3 {
            push(LinearKind::GateUp, 2 * i, c, b.mlp);
        } else {
            push(LinearKind::Gate, i, c, b.mlp);
            push(LinearKind::Up, i, c, b.mlp);
        }
        push(LinearKind::Down, c, i, b.mlp);
    }
    out.push(LinearSpec {
        module: linear_module(None, LinearKind::LmHead),
        layer: None,
        kind: LinearKind::LmHead,
        out_features: cfg.vocab_size,
        in_features: c,
        bias: false,
    });
    out
}

/// Name of the token embedding.
pub const EMBED: &str = "model.embed_tokens.weight";
/// Name of the final norm.
pub const FINAL_NORM: &str = "model.norm.weight";

/// The two RMSNorm weights of layer `l`: before attention and before the MLP.
pub fn layer_norms(l: usize) -> [String; 2] {
    [
        format!("model.layers.{l}.input_layernorm.weight"),
        format!("model.layers.{l}.post_attention_layernorm.weight"),
    ]
}

/// Gemma's norms around the MLP of layer `l`: `pre_feedforward_layernorm` (its input norm;
/// Gemma's `post_attention_layernorm` norms the attention output instead) and
/// `post_feedforward_layernorm` (its output, before the residual add).
pub fn feedforward_norms(l: usize) -> [String; 2] {
    [
        format!("model.layers.{l}.pre_feedforward_layernorm.weight"),
        format!("model.layers.{l}.post_feedforward_layernorm.weight"),
    ]
}

/// The per-head query and key RMSNorm weights of layer `l` (Qwen3): `q_norm`, `k_norm`, `[D]`.
pub fn qk_norms(l: usize) -> [String; 2] {
    [
        format!("model.layers.{l}.self_attn.q_norm.weight"),
        format!("model.layers.{l}.self_attn.k_norm.weight"),
    ]
}

/// Every norm weight with its length, in registry order (`trainables`): per layer the two block
/// norms `[C]` (Gemma: four, see [`feedforward_norms`]), `q_norm`, `k_norm` `[D]` where the family
/// has them, then the final norm `[C]`. Their total is the norm part of the trainable parameter
/// count.
pub fn norm_tensors(cfg: &ModelConfig) -> Vec<(String, usize)> {
    let c = cfg.hidden_size;
    let mut out = Vec::new();
    for l in 0..cfg.num_layers {
        for n in layer_norms(l) {
            out.push((n, c));
        }
        if cfg.family.has_sandwich_norms() {
            for n in feedforward_norms(l) {
                out.push((n, c));
            }
        }
        if cfg.family.has_qk_norm() {
            for n in qk_norms(l) {
                out.push((n, cfg.head_dim));
            }
        }
    }
    out.push((FINAL_NORM.to_string(), c));
    out
}

/// Every tensor the checkpoint must hold, with its shape. With tied embeddings `lm_head.weight`
/// is not required (the embedding serves as its weight).
pub fn expected_tensors(cfg: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let c = cfg.hidden_size;
    let mut out = vec![(EMBED.to_string(), vec![cfg.vocab_size, c])];
    for (n, len) in norm_tensors(cfg) {
        out.push((n, vec![len]));
    }
    for lin in linear_layers(cfg) {
        if lin.kind == LinearKind::LmHead && cfg.tie_word_embeddings {
            continue;
        }
        out.push((lin.weight_name(), vec![lin.out_features, lin.in_features]));
        if lin.bias {
            out.push((lin.bias_name(), vec![lin.out_features]));
        }
    }
    out
}

/// Tensors a checkpoint may hold beyond [`expected_tensors`] without being wrong: precomputed
/// rotary frequencies of older exports, and `lm_head.weight` when it is tied to the embedding
/// (transformers then ignores it).
fn ignorable(cfg: &ModelConfig, name: &str) -> bool {
    name.ends_with(".rotary_emb.inv_freq") || (cfg.tie_word_embeddings && name == "lm_head.weight")
}

/// Checks that `ckpt` holds exactly the tensors `cfg` needs, with the right shapes. Errors name
/// the tensor (and its file), the expected and the found shape.
pub fn check_checkpoint<S: ByteSource>(cfg: &ModelConfig, ckpt: &Checkpoint<S>) -> Result<()> {
    let expected = expected_tensors(cfg);
    for (name, shape) in &expected {
        match ckpt.entry(name) {
            None => {
                return Err(Error::input(
                    "checkpoint",
                    format!(
                        "the tensor `{name}` (shape {shape:?}) that this {} config needs is missing",
                        cfg.family.model_type()
                    ),
                ));
            }
            Some((entry, file)) if &entry.shape != shape => {
                return Err(Error::input(
                    file,
                    format!(
                        "tensor `{name}` has shape {:?}, but config.json implies {shape:?}",
                        entry.shape
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    for name in ckpt.names() {
        if !ignorable(cfg, name) && !expected.iter().any(|(n, _)| n == name) {
            let file = ckpt.entry(name).map(|(_, f)| f).unwrap_or("checkpoint");
            return Err(Error::input(
                file,
                format!(
                    "unexpected tensor `{name}`: a {} model with this config.json has no such weight",
                    cfg.family.model_type()
                ),
            ));
        }
    }
    Ok(())
}
