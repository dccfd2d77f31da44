//! The key/value metadata of an exported GGUF file, as llama.cpp's `convert_hf_to_gguf.py` writes
//! it: `general.*`, the architecture's hyperparameters under its prefix (`llama` for the llama
//! and mistral families, `qwen2`, `qwen3`, `phi3`), and the tokenizer ([`super::gguf_vocab`]).
//!
//! The keys are the ones [`crate::gguf::config`] reads back, so an export imports to the same
//! config. What llama.cpp would compute differently from this engine is refused: a sliding
//! window shorter than the context outside Phi-3 and Gemma 3, RoPE scalings other than linear,
//! Llama 3's (as the `rope_freqs` tensor) and Phi-3's longrope.
use super::gguf_vocab::vocab_metadata;
use crate::error::{Error, Result};
use crate::gguf::metadata::{Value, ValueType};
use crate::model::config::{Family, SUPPORTED_MODEL_TYPES};
use crate::model::rope::RopeScaling;
use crate::model::{ModelConfig, ModelFiles};

/// Alignment of the tensor data (`general.alignment`).
pub const ALIGNMENT: u64 = 32;

/// The model families the GGUF export maps to llama.cpp architectures.
pub const GGUF_MODEL_TYPES: &[&str] =
    &["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3_text"];

/// llama.cpp's architecture name for `family` (Mistral runs as `llama` there).
pub fn gguf_arch(family: Family) -> &'static str {
    match family {
        Family::Llama | Family::Mistral => "llama",
        Family::Qwen2 => "qwen2",
        Family::Qwen3 => "qwen3",
        Family::Phi3 => "phi3",
        Family::Gemma3 => "gemma3",
    }
}

/// The error for a `model_type` the export does not map (also used by callers that see a
/// family added to the engine before the export learns it).
pub fn unsupported_family(model_type: &str) -> Error {
    Error::Unsupported(format!(
        "model_type \"{model_type}\" cannot be exported as GGUF (supported: {}; the engine loads: {})",
        GGUF_MODEL_TYPES.join(", "),
        SUPPORTED_MODEL_TYPES.join(", ")
    ))
}

/// Metadata pairs in the order they are written.
pub type Pairs = Vec<(String, Value)>;

fn u32v(n: usize) -> Result<Value> {
    u32::try_from(n)
        .map(Value::U32)
        .map_err(|_| Error::Unsupported(format!("{n} does not fit a GGUF uint32 field")))
}

/// `general.name` for a model named `name`. llama.cpp strips the whitespace after Phi-3's added
/// tokens (as Phi-3's own `tokenizer.json` does) only in files whose name contains `phi3` or
/// `phi-3`, so a Phi-3 with a SentencePiece vocabulary (`spm`; not Phi-4's byte-level one) named
/// otherwise gets ` (phi3)` appended.
fn general_name(cfg: &ModelConfig, name: &str, spm: bool) -> String {
    let lower = name.to_lowercase();
    if spm && cfg.family == Family::Phi3 && !lower.contains("phi3") && !lower.contains("phi-3") {
        format!("{name} (phi3)")
    } else {
        name.to_string()
    }
}

/// The `general.*` and architecture keys for `cfg`; `file_type` is llama.cpp's `LlamaFileType`
/// code (1 F16, 7 Q8_0, 32 BF16), `name` becomes `general.name`.
pub fn model_metadata(cfg: &ModelConfig, name: &str, file_type: u32) -> Result<Pairs> {
    let arch = gguf_arch(cfg.family);
    if !GGUF_MODEL_TYPES.contains(&cfg.family.model_type()) {
        return Err(unsupported_family(cfg.family.model_type()));
    }
    let mut m: Pairs = Vec::new();
    let mut put = |k: &str, v: Value| m.push((k.to_string(), v));
    put("general.architecture", Value::String(arch.into()));
    put("general.type", Value::String("model".into()));
    put("general.name", Value::String(name.into()));
    put("general.alignment", Value::U32(ALIGNMENT as u32));
    put("general.file_type", Value::U32(file_type));
    put("general.quantization_version", Value::U32(2));
    let k = |s: &str| format!("{arch}.{s}");
    put(&k("vocab_size"), u32v(cfg.vocab_size)?);
    put(&k("context_length"), u32v(cfg.max_position_embeddings)?);
    put(&k("embedding_length"), u32v(cfg.hidden_size)?);
    put(&k("block_count"), u32v(cfg.num_layers)?);
    put(&k("feed_forward_length"), u32v(cfg.intermediate_size)?);
    put(&k("attention.head_count"), u32v(cfg.num_heads)?);
    put(&k("attention.head_count_kv"), u32v(cfg.num_kv_heads)?);
    put(&k("attention.key_length"), u32v(cfg.head_dim)?);
    put(&k("attention.value_length"), u32v(cfg.head_dim)?);
    put(
        &k("attention.layer_norm_rms_epsilon"),
        Value::F32(cfg.rms_norm_eps),
    );
    put(&k("rope.dimension_count"), u32v(cfg.rope.head_dim)?);
    put(&k("rope.freq_base"), Value::F32(cfg.rope.theta as f32));
    match &cfg.rope.scaling {
        RopeScaling::None => {}
        RopeScaling::Linear { factor } => {
            put(&k("rope.scaling.type"), Value::String("linear".into()));
            put(&k("rope.scaling.factor"), Value::F32(*factor as f32));
        }
        // Written as the tensor `rope_freqs.weight` (see `gguf_writer`), no keys.
        RopeScaling::Llama3 { .. } if cfg.family == Family::Llama => {}
        RopeScaling::LongRope {
            original_max_position_embeddings,
            ..
        } if cfg.family == Family::Phi3 => {
            put(
                &k("rope.scaling.original_context_length"),
                u32v(*original_max_position_embeddings)?,
            );
            put(
                &k("rope.scaling.attn_factor"),
                Value::F32(longrope_attn_factor(cfg) as f32),
            );
        }
        other => {
            return Err(Error::Unsupported(format!(
                "RoPE scaling {} of this {} model is not supported for GGUF export (supported: none, linear; llama3 for llama; longrope for phi3)",
                scaling_name(other),
                cfg.family.model_type()
            )));
        }
    }
    if cfg.family == Family::Gemma3 {
        put(&k("attention.sliding_window"), u32v(gemma3_window(cfg)?)?);
    }
    match (cfg.family, cfg.sliding_window) {
        (Family::Phi3, w) => put(&k("attention.sliding_window"), u32v(w.unwrap_or(0))?),
        (_, Some(w)) if w < cfg.max_position_embeddings => {
            return Err(Error::Unsupported(format!(
                "a sliding window of {w} tokens (shorter than the context of {}) is not supported for GGUF export: llama.cpp's {arch} architecture attends to the whole context",
                cfg.max_position_embeddings
            )));
        }
        _ => {}
    }
    Ok(m)
}

/// The sliding window of a Gemma 3 model that llama.cpp's `gemma3` computes as transformers
/// does: llama.cpp fixes what the config may vary (every 6th layer global, the others sliding
/// with RoPE base 10000, the softmax scale `1 / sqrt(head_dim)`), so anything else is refused.
fn gemma3_window(cfg: &ModelConfig) -> Result<usize> {
    let refuse = |what: String| {
        Err(Error::Unsupported(format!(
            "{what} is not supported for GGUF export: llama.cpp's gemma3 architecture fixes it"
        )))
    };
    let Some(local) = &cfg.local_attention else {
        return refuse("a Gemma 3 model without sliding-window layers".into());
    };
    let pattern: Vec<bool> = (0..cfg.num_layers).map(|i| (i + 1) % 6 != 0).collect();
    if local.layers != pattern {
        return refuse(format!(
            "the layer pattern {:?} (sliding = true; llama.cpp: every 6th layer global)",
            local.layers
        ));
    }
    if local.rope.theta != 10000.0 || local.rope.scaling != RopeScaling::None {
        return refuse(format!(
            "a local RoPE base of {} (llama.cpp: 10000, unscaled)",
            local.rope.theta
        ));
    }
    if cfg.query_pre_attn_scalar != Some(cfg.head_dim as f64) {
        return refuse(format!(
            "query_pre_attn_scalar {:?} other than head_dim {} (llama.cpp scales by head_dim)",
            cfg.query_pre_attn_scalar, cfg.head_dim
        ));
    }
    Ok(local.window)
}

fn scaling_name(s: &RopeScaling) -> &'static str {
    match s {
        RopeScaling::None => "none",
        RopeScaling::Linear { .. } => "linear",
        RopeScaling::Llama3 { .. } => "llama3",
        RopeScaling::LongRope { .. } => "longrope",
    }
}

/// Phi-3's longrope attention factor as `convert_hf_to_gguf.py` computes it: 1 when the context
/// is not extended, else `sqrt(1 + ln(scale) / ln(original))`, or the config's own factor.
fn longrope_attn_factor(cfg: &ModelConfig) -> f64 {
    let RopeScaling::LongRope {
        original_max_position_embeddings: orig,
        factor,
        attention_factor,
        ..
    } = &cfg.rope.scaling
    else {
        return 1.0;
    };
    if let Some(a) = attention_factor {
        return *a;
    }
    let scale = factor.unwrap_or(cfg.max_position_embeddings as f64 / *orig as f64);
    if scale <= 1.0 {
        1.0
    } else {
        (1.0 + scale.ln() / (*orig as f64).ln()).sqrt()
    }
}

/// Every metadata pair of the export of `files` (whose config is `cfg`): the model's, then the
/// tokenizer's when the folder has a `tokenizer.json`.
pub fn gguf_metadata<F: ModelFiles>(
    files: &F,
    cfg: &ModelConfig,
    name: &str,
    file_type: u32,
) -> Result<Pairs> {
    let vocab = vocab_metadata(files, cfg)?;
    let spm = vocab
        .iter()
        .any(|(k, v)| k == "tokenizer.ggml.model" && *v == Value::String("llama".into()));
    let mut m = model_metadata(cfg, &general_name(cfg, name, spm), file_type)?;
    m.extend(vocab);
    Ok(m)
}

/// A string array value.
pub fn str_array(items: impl IntoIterator<Item = String>) -> Value {
    Value::Array(
        ValueType::String,
        items.into_iter().map(Value::String).collect(),
    )
}
