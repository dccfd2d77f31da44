//! `config.json` → [`ModelConfig`]: the decoder families that share the Llama recipe (RMSNorm,
//! rotary attention with grouped KV heads, SwiGLU MLP): `llama`, `mistral`, `qwen2`, `phi3`,
//! `qwen3` (Qwen2 without q/k/v biases, plus a per-head RMSNorm of queries and keys before RoPE),
//! and `gemma3_text` (Gemma 3: RMSNorm as `x̂ · (1 + w)`, four norms per layer and q/k norms,
//! GeGLU with the tanh GELU, embeddings scaled by √C, `query_pre_attn_scalar` as the softmax
//! scale, sliding-window layers with their own RoPE base beside global ones: [`LocalAttention`]).
//!
//! Fields are read as transformers reads them, with the same defaults per family. Both the
//! classic keys (`rope_theta`, `rope_scaling`) and the newer `rope_parameters` object are read.
//! Anything the engine would compute differently from transformers (another activation, partial
//! rotary embeddings, per-layer sliding windows, …) is refused with a message naming the option.
use crate::error::{Error, Result};
use crate::model::rope::RopeConfig;
use serde_json::{Map, Value};

mod fields;
mod rope;
use fields::Fields;
use rope::{gemma_local, gemma_ropes, rope_config};

/// The `model_type` values this build loads.
pub const SUPPORTED_MODEL_TYPES: &[&str] =
    &["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3_text"];

/// A model family: decides the tensor names, which projections are fused and which carry biases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Llama,
    Mistral,
    Qwen2,
    /// `q_norm` / `k_norm`: RMSNorm over each head of the queries and keys, before RoPE.
    Qwen3,
    /// Fused `qkv_proj` and `gate_up_proj`.
    Phi3,
    /// Gemma 3's text model (`gemma3_text`).
    Gemma3,
}

impl Family {
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Phi3 => "phi3",
            Family::Gemma3 => "gemma3_text",
        }
    }

    /// What the checkpoint's RMSNorm weights are offset by in the product: Gemma computes
    /// `x̂ · (1 + w)`. The engine holds `1 + w` (so every norm kernel stays `x̂ · w`; the
    /// gradient with respect to `1 + w` is the gradient with respect to `w`) and the exports
    /// subtract the offset again.
    pub fn norm_offset(self) -> f32 {
        if self == Family::Gemma3 { 1.0 } else { 0.0 }
    }

    /// Whether the attention and MLP outputs are normed before the residual add (Gemma's
    /// `post_attention_layernorm` and `post_feedforward_layernorm`; the MLP's input norm is
    /// then `pre_feedforward_layernorm`).
    pub fn has_sandwich_norms(self) -> bool {
        self == Family::Gemma3
    }

    /// Whether each layer normalises every query and key head (`q_norm`, `k_norm` `[D]`).
    pub fn has_qk_norm(self) -> bool {
        matches!(self, Family::Qwen3 | Family::Gemma3)
    }
}

/// The MLP's gate activation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// SwiGLU: `silu(gate) ⊙ up`.
    #[default]
    Silu,
    /// GeGLU with the tanh-approximated GELU (`gelu_pytorch_tanh`, Gemma).
    GeluTanh,
}

/// Gemma 3's sliding-window layers: which layers attend locally, how far, with which RoPE.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalAttention {
    /// Keys visible to a query: the current one and `window − 1` before it.
    pub window: usize,
    /// Per decoder layer: `true` for a sliding-window layer.
    pub layers: Vec<bool>,
    /// RoPE of the sliding layers (`rope_local_base_freq`, no scaling).
    pub rope: RopeConfig,
}

/// Which linear layers carry a bias.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Biases {
    /// q, k and v projections (Qwen2; Llama with `attention_bias`).
    pub qkv: bool,
    /// The output projection (Llama with `attention_bias`).
    pub o: bool,
    /// gate, up and down projections (Llama with `mlp_bias`).
    pub mlp: bool,
}

/// Everything the engine needs from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub family: Family,
    pub vocab_size: usize,
    /// Model width `C`.
    pub hidden_size: usize,
    /// MLP width `I`.
    pub intermediate_size: usize,
    pub num_layers: usize,
    /// Query heads `H`.
    pub num_heads: usize,
    /// Key/value heads `Hkv` (divides `H`).
    pub num_kv_heads: usize,
    /// Per-head width `D` (may differ from `C / H`).
    pub head_dim: usize,
    pub rms_norm_eps: f32,
    pub rope: RopeConfig,
    pub max_position_embeddings: usize,
    /// `lm_head` shares the token embedding in the checkpoint.
    pub tie_word_embeddings: bool,
    /// Attention sees at most this many keys (Mistral, Phi-3); `None` = full causal.
    pub sliding_window: Option<usize>,
    pub biases: Biases,
    pub activation: Activation,
    /// Softmax scale `1 / sqrt(query_pre_attn_scalar)` instead of `1 / sqrt(D)` (Gemma).
    pub query_pre_attn_scalar: Option<f64>,
    /// Per-layer sliding windows with their own RoPE (Gemma 3); `None` for the others.
    pub local_attention: Option<LocalAttention>,
    /// Multiply the token embeddings by `sqrt(hidden_size)` (Gemma), rounded to f32.
    pub scale_embeddings: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// `torch_dtype` / `dtype` as written (informational; weights carry their own dtype).
    pub torch_dtype: Option<String>,
    /// The parsed file, kept so an export can write it back with only the needed changes.
    pub raw: Map<String, Value>,
}

impl ModelConfig {
    /// Parses the text of a `config.json`; `file` names it in errors.
    pub fn from_json(file: &str, text: &str) -> Result<ModelConfig> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::input(file, format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::input(file, "expected a JSON object"));
        };
        let f = Fields { file, map: &map };
        let family = match f.str_opt("model_type")? {
            Some("llama") => Family::Llama,
            Some("mistral") => Family::Mistral,
            Some("qwen2") => Family::Qwen2,
            Some("qwen3") => Family::Qwen3,
            Some("gemma3_text") => Family::Gemma3,
            Some("phi3") => Family::Phi3,
            Some(other) => {
                return Err(Error::Unsupported(format!(
                    "{file}: model_type \"{other}\" is not supported (supported: {})",
                    SUPPORTED_MODEL_TYPES.join(", ")
                )));
            }
            None => {
                return Err(Error::input(
                    file,
                    format!(
                        "the required field `model_type` is missing (supported: {})",
                        SUPPORTED_MODEL_TYPES.join(", ")
                    ),
                ));
            }
        };
        let hidden_size = f.positive("hidden_size")?;
        let num_heads = f.positive("num_attention_heads")?;
        let num_kv_heads = f.usize_opt("num_key_value_heads")?.unwrap_or(num_heads);
        if num_kv_heads == 0 || !num_heads.is_multiple_of(num_kv_heads) {
            return Err(Error::input(
                file,
                format!(
                    "num_attention_heads ({num_heads}) must be a multiple of num_key_value_heads ({num_kv_heads})"
                ),
            ));
        }
        let head_dim = match f.usize_opt("head_dim")? {
            Some(d) => d,
            // Qwen3Config's and Gemma3TextConfig's defaults, whatever hidden_size / heads gives.
            None if family == Family::Qwen3 => 128,
            None if family == Family::Gemma3 => 256,
            None if hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
            None => {
                return Err(Error::input(
                    file,
                    format!(
                        "hidden_size ({hidden_size}) is not a multiple of num_attention_heads ({num_heads}) and no head_dim is given"
                    ),
                ));
            }
        };
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(Error::input(
                file,
                format!("head_dim must be even and > 0, found {head_dim}"),
            ));
        }
        refuse_unsupported(&f, family)?;
        let max_position_embeddings = f.positive("max_position_embeddings")?;
        let (rope, local_rope) = if family == Family::Gemma3 {
            gemma_ropes(&f, head_dim, max_position_embeddings)?
        } else {
            (rope_config(&f, head_dim, max_position_embeddings)?, None)
        };
        let eps_default = if family == Family::Phi3 { 1e-5 } else { 1e-6 };
        let rms_norm_eps = f.f64_opt("rms_norm_eps")?.unwrap_or(eps_default) as f32;
        if !(rms_norm_eps.is_finite() && rms_norm_eps >= 0.0) {
            return Err(Error::input(
                file,
                format!("rms_norm_eps must be a finite number ≥ 0, found {rms_norm_eps}"),
            ));
        }
        let sliding_window = match family {
            // MistralConfig defaults to 4096 when the key is absent; null turns it off.
            Family::Mistral if !map.contains_key("sliding_window") => Some(4096),
            Family::Mistral | Family::Phi3 => f.usize_opt("sliding_window")?,
            Family::Llama | Family::Qwen2 | Family::Qwen3 | Family::Gemma3 => None,
        };
        if sliding_window == Some(0) {
            return Err(Error::input(file, "sliding_window must be > 0 or null"));
        }
        let biases = match family {
            Family::Llama | Family::Qwen3 | Family::Gemma3 => {
                let attn = f.bool_or("attention_bias", false)?;
                Biases {
                    qkv: attn,
                    o: attn,
                    mlp: f.bool_or("mlp_bias", false)?,
                }
            }
            Family::Qwen2 => Biases {
                qkv: true,
                ..Biases::default()
            },
            Family::Mistral | Family::Phi3 => Biases::default(),
        };
        let torch_dtype = match f.str_opt("torch_dtype")? {
            Some(d) => Some(d.to_string()),
            None => f.str_opt("dtype")?.map(str::to_string),
        };
        let vocab_size = f.positive("vocab_size")?;
        let intermediate_size = f.positive("intermediate_size")?;
        let num_layers = f.positive("num_hidden_layers")?;
        let local_attention = match local_rope {
            Some(rope) => gemma_local(&f, num_layers, rope)?,
            None => None,
        };
        let query_pre_attn_scalar = match family {
            Family::Gemma3 => Some(f.f64_opt("query_pre_attn_scalar")?.unwrap_or(256.0)),
            _ => None,
        };
        if let Some(s) = query_pre_attn_scalar
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::input(
                file,
                format!("query_pre_attn_scalar must be a number > 0, found {s}"),
            ));
        }
        super::size_limits::check(
            file,
            &super::size_limits::Dims {
                vocab: vocab_size,
                hidden: hidden_size,
                intermediate: intermediate_size,
                layers: num_layers,
                heads: num_heads,
                kv_heads: num_kv_heads,
                head_dim,
                fused: family == Family::Phi3,
            },
        )?;
        Ok(ModelConfig {
            family,
            vocab_size,
            hidden_size,
            intermediate_size,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps,
            rope,
            max_position_embeddings,
            tie_word_embeddings: f.bool_or("tie_word_embeddings", family == Family::Gemma3)?,
            sliding_window,
            biases,
            activation: if family == Family::Gemma3 {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            query_pre_attn_scalar,
            local_attention,
            scale_embeddings: family == Family::Gemma3,
            bos_token_id: f.ids("bos_token_id")?.first().copied(),
            eos_token_ids: f.ids("eos_token_id")?,
            torch_dtype,
            raw: map.clone(),
        })
    }

    /// `H · D`: width of the query projection and of the attention output.
    pub fn q_width(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// `Hkv · D`: width of the key and value projections.
    pub fn kv_width(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Attention geometry of `batch` sequences of `seq` rows.
    pub fn attention_dims(&self, batch: usize, seq: usize) -> crate::backend::AttentionDims {
        crate::backend::AttentionDims {
            batch,
            seq,
            n_heads: self.num_heads,
            n_kv_heads: self.num_kv_heads,
            head_dim: self.head_dim,
            scale: self.attention_scale(),
        }
    }

    /// Softmax scale `1 / sqrt(D)`, or `1 / sqrt(query_pre_attn_scalar)` (Gemma), computed as
    /// transformers does (`scalar ** -0.5` in f64, then f32).
    pub fn attention_scale(&self) -> f32 {
        match self.query_pre_attn_scalar {
            Some(s) => s.powf(-0.5) as f32,
            None => 1.0 / (self.head_dim as f32).sqrt(),
        }
    }

    /// Whether decoder layer `l` attends through a sliding window of its own (Gemma 3).
    pub fn is_local_layer(&self, l: usize) -> bool {
        self.local_attention
            .as_ref()
            .is_some_and(|a| a.layers.get(l).copied().unwrap_or(false))
    }

    /// The sliding window of layer `l`: the model's, or the local one of a sliding layer.
    pub fn layer_window(&self, l: usize) -> Option<usize> {
        match &self.local_attention {
            Some(a) if self.is_local_layer(l) => Some(a.window),
            _ => self.sliding_window,
        }
    }
}

/// Options that would change the computation in ways this engine does not implement.
fn refuse_unsupported(f: &Fields, family: Family) -> Result<()> {
    let unsupported = |what: String| Err(Error::Unsupported(format!("{}: {what}", f.file)));
    let supported_act = if family == Family::Gemma3 {
        "gelu_pytorch_tanh"
    } else {
        "silu"
    };
    for key in ["hidden_act", "hidden_activation"] {
        if let Some(act) = f.str_opt(key)?
            && act != supported_act
        {
            return unsupported(format!(
                "{key} \"{act}\" is not supported for {} (supported: {supported_act})",
                family.model_type()
            ));
        }
    }
    if family == Family::Gemma3 {
        for key in ["final_logit_softcapping", "attn_logit_softcapping"] {
            if let Some(v) = f.f64_opt(key)? {
                return unsupported(format!(
                    "{key} {v} is not supported (supported: null, no soft-capping)"
                ));
            }
        }
        if f.bool_or("use_bidirectional_attention", false)? {
            return unsupported(
                "use_bidirectional_attention true is not supported (supported: causal attention)"
                    .into(),
            );
        }
    }
    if let Some(p) = f.f64_opt("partial_rotary_factor")?
        && p != 1.0
    {
        return unsupported(format!(
            "partial_rotary_factor {p} is not supported (supported: 1.0, the whole head rotated)"
        ));
    }
    if matches!(family, Family::Qwen2 | Family::Qwen3) && f.bool_or("use_sliding_window", false)? {
        return unsupported(format!(
            "use_sliding_window true is not supported for {} (per-layer sliding windows)",
            family.model_type()
        ));
    }
    if let Some(Value::Array(types)) = f.get("layer_types")
        && family != Family::Gemma3
    {
        let mut kinds: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let sliding_ok = matches!(family, Family::Mistral | Family::Phi3);
        match kinds.as_slice() {
            [] | ["full_attention"] => {}
            ["sliding_attention"] if sliding_ok => {}
            _ => {
                return unsupported(format!(
                    "layer_types {kinds:?} are not supported for {} (supported: all \"full_attention\"{})",
                    family.model_type(),
                    if sliding_ok {
                        ", or all \"sliding_attention\""
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    Ok(())
}
