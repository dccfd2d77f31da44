//! GGUF metadata → Hugging Face `config.json` and `generation_config.json`, for the
//! architectures this importer handles (`general.architecture`): `llama` (which llama.cpp also
//! uses for Mistral-style and SmolLM models), `qwen2`, `qwen3`, `gemma3` (as llama.cpp runs
//! it: every 6th layer global, the others sliding with RoPE base 10000, softmax scale
//! `1 / sqrt(head_dim)`) and `phi3` (fused projections; its sliding window; longrope from the
//! `rope_factors_long` / `rope_factors_short` tensors and `rope.scaling.original_context_length`).
//! Llama 3's RoPE scaling comes from the `rope_freqs` tensor ([`super::llama3_rope`]).
//!
//! Keys read (prefixed by the architecture): `block_count`, `embedding_length`,
//! `feed_forward_length`, `attention.head_count`, `attention.head_count_kv`,
//! `attention.key_length` / `value_length`, `rope.dimension_count`, `rope.freq_base`,
//! `rope.scaling.*`, `attention.layer_norm_rms_epsilon`, `context_length`, `vocab_size`; and
//! `tokenizer.ggml.{bos,eos,padding,eot}_token_id`. What the tensor table tells (vocabulary
//! rows, tied head, biases) comes in [`TensorFacts`]. Options the engine would compute
//! differently (partial rotary, other RoPE scalings, sliding windows, experts) are refused.
use super::metadata::Metadata;
use crate::error::{Error, Result};
use serde_json::{Map, Value, json};

/// The Hugging Face Hub id the model came from, when the metadata names one:
/// `general.source.huggingface.repository`, a `https://huggingface.co/OWNER/NAME` in
/// `general.source.url`, `general.base_model.0.repo_url` or `general.url`, or `general.name`
/// when it is written as `OWNER/NAME`. `general.basename` and `general.organization` alone are
/// not enough: a guessed id that does not exist would be worse than the folder's name.
pub fn hub_source(meta: &Metadata) -> Result<Option<String>> {
    use crate::export::is_hub_id;
    if let Some(repo) = meta.str("general.source.huggingface.repository")?
        && is_hub_id(repo)
    {
        return Ok(Some(repo.to_string()));
    }
    for key in [
        "general.source.url",
        "general.base_model.0.repo_url",
        "general.url",
    ] {
        let Some(url) = meta.str(key)? else { continue };
        let path = url
            .strip_prefix("https://huggingface.co/")
            .or_else(|| url.strip_prefix("http://huggingface.co/"));
        if let Some(path) = path {
            let parts: Vec<&str> = path.split('/').take(2).collect();
            let id = parts.join("/");
            if is_hub_id(&id) {
                return Ok(Some(id));
            }
        }
    }
    Ok(meta
        .str("general.name")?
        .filter(|n| is_hub_id(n))
        .map(str::to_string))
}

/// The `general.architecture` values this importer handles.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "gemma3", "phi3"];

/// A supported architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    /// Qwen2 without q/k/v biases, with per-head `attn_q_norm`/`attn_k_norm`.
    Qwen3,
    /// Gemma 3's text model.
    Gemma3,
    /// Phi-3 / Phi-3.5: fused `attn_qkv` and gate/up `ffn_up`.
    Phi3,
}

impl Arch {
    /// From `general.architecture`; other values are refused with the supported list.
    pub fn from_metadata(meta: &Metadata) -> Result<Arch> {
        let name = meta
            .str("general.architecture")?
            .ok_or_else(|| meta.missing("general.architecture"))?;
        match name {
            "llama" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            "qwen3" => Ok(Arch::Qwen3),
            "gemma3" => Ok(Arch::Gemma3),
            "phi3" => Ok(Arch::Phi3),
            other => Err(Error::input(
                &meta.file,
                format!(
                    "architecture \"{other}\" is not supported (supported: {})",
                    SUPPORTED_ARCHITECTURES.join(", ")
                ),
            )),
        }
    }

    /// The metadata prefix and the name `general.architecture` gives.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
            Arch::Phi3 => "phi3",
        }
    }

    /// Whether llama.cpp's converter permuted the q/k rows of this architecture.
    pub fn permutes_qk(self) -> bool {
        self == Arch::Llama
    }

    fn hf_class(self) -> &'static str {
        match self {
            Arch::Llama => "LlamaForCausalLM",
            Arch::Qwen2 => "Qwen2ForCausalLM",
            Arch::Qwen3 => "Qwen3ForCausalLM",
            Arch::Gemma3 => "Gemma3ForCausalLM",
            Arch::Phi3 => "Phi3ForCausalLM",
        }
    }
}

/// What the tensor table says about the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorFacts {
    /// Rows of `token_embd.weight`.
    pub vocab_rows: usize,
    /// Columns of `token_embd.weight` (the model width).
    pub embed_cols: usize,
    /// Tensors in the file (bounds the layer count).
    pub n_tensors: usize,
    /// No `output.weight`: the head reuses the embedding.
    pub tied: bool,
    /// `attn_q.bias` present (llama: `attention_bias`).
    pub attention_bias: bool,
    /// `ffn_gate.bias` present (llama: `mlp_bias`).
    pub mlp_bias: bool,
}

/// RoPE data llama.cpp keeps in tensors rather than keys.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeTensors {
    /// Phi-3's longrope factors, from `rope_factors_long.weight` and `rope_factors_short.weight`
    /// (`head_dim / 2` values each).
    LongRope { long: Vec<f32>, short: Vec<f32> },
    /// Llama 3's scaling as per-frequency divisors, `rope_freqs.weight`
    /// ([`super::llama3_rope`]).
    Freqs(Vec<f32>),
}

/// The head counts the q/k permutation is undone with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    pub n_head: usize,
    pub n_head_kv: usize,
}

/// Largest size a metadata field may give (widths, head counts, context): far above any real
/// model, low enough that products of two never overflow.
const MAX_SIZE: usize = 1 << 24;

/// A size field, refused above [`MAX_SIZE`].
fn size(meta: &Metadata, key: &str) -> Result<Option<usize>> {
    match meta.usize(key)? {
        Some(n) if n > MAX_SIZE => Err(Error::input(
            &meta.file,
            format!("metadata `{key}` is {n}, more than the {MAX_SIZE} allowed"),
        )),
        n => Ok(n),
    }
}

fn require_size(meta: &Metadata, key: &str) -> Result<usize> {
    size(meta, key)?.ok_or_else(|| meta.missing(key))
}

/// Reads the attention head counts.
pub fn heads(meta: &Metadata, arch: Arch) -> Result<Heads> {
    let key = |k: &str| format!("{}.{k}", arch.name());
    let n_head = require_size(meta, &key("attention.head_count"))?;
    let n_head_kv = size(meta, &key("attention.head_count_kv"))?.unwrap_or(n_head);
    Ok(Heads { n_head, n_head_kv })
}

/// The `config.json` object. `rope`: the RoPE tensors, when the file has them.
pub fn hf_config(
    meta: &Metadata,
    arch: Arch,
    facts: &TensorFacts,
    rope: Option<&RopeTensors>,
) -> Result<Map<String, Value>> {
    let p = arch.name();
    let key = |k: &str| format!("{p}.{k}");
    let unsupported = |m: String| Err(Error::Unsupported(format!("{}: {m}", meta.file)));
    let hidden = require_size(meta, &key("embedding_length"))?;
    if hidden != facts.embed_cols {
        return Err(Error::input(
            &meta.file,
            format!(
                "{} is {hidden}, but token_embd.weight has rows of {}",
                key("embedding_length"),
                facts.embed_cols
            ),
        ));
    }
    let layers = require_size(meta, &key("block_count"))?;
    if layers > facts.n_tensors {
        return Err(Error::input(
            &meta.file,
            format!(
                "{} is {layers}, but the file has only {} tensors",
                key("block_count"),
                facts.n_tensors
            ),
        ));
    }
    let Heads { n_head, n_head_kv } = heads(meta, arch)?;
    if n_head == 0 {
        return Err(Error::input(
            &meta.file,
            format!("{} is 0", key("attention.head_count")),
        ));
    }
    let head_dim = match size(meta, &key("attention.key_length"))? {
        Some(d) => d,
        None => hidden / n_head,
    };
    if let Some(v) = meta.usize(&key("attention.value_length"))?
        && v != head_dim
    {
        return unsupported(format!(
            "value heads of width {v} differ from key heads of width {head_dim}, which is not supported"
        ));
    }
    if let Some(r) = meta.usize(&key("rope.dimension_count"))?
        && r != head_dim
    {
        return unsupported(format!(
            "rotary embedding over {r} of {head_dim} head dimensions (partial rotary) is not supported"
        ));
    }
    if meta.usize(&key("expert_count"))?.unwrap_or(0) > 0 {
        return unsupported("mixture-of-experts models are not supported".into());
    }
    if !matches!(arch, Arch::Gemma3 | Arch::Phi3)
        && meta.get(&key("attention.sliding_window")).is_some()
    {
        return unsupported("sliding-window attention is not supported for GGUF import".into());
    }
    if let Some(n) = meta.usize(&key("vocab_size"))?
        && n != facts.vocab_rows
    {
        return Err(Error::input(
            &meta.file,
            format!(
                "{} is {n}, but token_embd.weight has {} rows",
                key("vocab_size"),
                facts.vocab_rows
            ),
        ));
    }
    let eps = meta
        .f64(&key("attention.layer_norm_rms_epsilon"))?
        .ok_or_else(|| meta.missing(&key("attention.layer_norm_rms_epsilon")))?;
    let mut c = Map::new();
    if let Some(id) = hub_source(meta)? {
        c.insert("_name_or_path".into(), json!(id));
    }
    c.insert("architectures".into(), json!([arch.hf_class()]));
    c.insert(
        "model_type".into(),
        json!(if arch == Arch::Gemma3 {
            "gemma3_text"
        } else {
            arch.name()
        }),
    );
    c.insert("vocab_size".into(), json!(facts.vocab_rows));
    c.insert("hidden_size".into(), json!(hidden));
    c.insert(
        "intermediate_size".into(),
        json!(require_size(meta, &key("feed_forward_length"))?),
    );
    c.insert("num_hidden_layers".into(), json!(layers));
    c.insert("num_attention_heads".into(), json!(n_head));
    c.insert("num_key_value_heads".into(), json!(n_head_kv));
    c.insert("head_dim".into(), json!(head_dim));
    if arch != Arch::Gemma3 {
        c.insert("hidden_act".into(), json!("silu"));
    }
    c.insert(
        "max_position_embeddings".into(),
        json!(require_size(meta, &key("context_length"))?),
    );
    c.insert("rms_norm_eps".into(), json!(eps));
    c.insert(
        "rope_theta".into(),
        json!(meta.f64(&key("rope.freq_base"))?.unwrap_or(10000.0)),
    );
    match (rope, arch) {
        (Some(RopeTensors::LongRope { long, short }), Arch::Phi3) => {
            longrope(meta, &mut c, long, short, head_dim)?
        }
        (Some(RopeTensors::Freqs(freqs)), Arch::Llama) => {
            let theta = meta.f64(&key("rope.freq_base"))?.unwrap_or(10000.0);
            match super::llama3_rope::fit(freqs, theta, head_dim) {
                Ok(Some(p)) => {
                    c.insert(
                        "rope_scaling".into(),
                        json!({
                            "rope_type": "llama3",
                            "factor": p.factor,
                            "low_freq_factor": p.low_freq_factor,
                            "high_freq_factor": p.high_freq_factor,
                            "original_max_position_embeddings": p.original_max_position_embeddings
                        }),
                    );
                }
                Ok(None) => {
                    c.insert("rope_scaling".into(), rope_scaling(meta, arch)?);
                }
                Err(why) => {
                    return unsupported(format!("tensor `rope_freqs.weight`: {why}"));
                }
            }
        }
        (Some(RopeTensors::LongRope { .. }), _) => {
            return unsupported(
                "rope_factors_long / rope_factors_short tensors are read only for the phi3 architecture".into(),
            );
        }
        (Some(RopeTensors::Freqs(_)), _) => {
            return unsupported(format!(
                "tensor `rope_freqs.weight` (per-frequency RoPE factors) is read only for the llama architecture, not {}",
                arch.name()
            ));
        }
        (None, _) => {
            c.insert("rope_scaling".into(), rope_scaling(meta, arch)?);
        }
    }
    c.insert("tie_word_embeddings".into(), json!(facts.tied));
    match arch {
        Arch::Llama => {
            c.insert("attention_bias".into(), json!(facts.attention_bias));
            c.insert("mlp_bias".into(), json!(facts.mlp_bias));
        }
        Arch::Qwen2 => {
            c.insert("use_sliding_window".into(), json!(false));
            c.insert("sliding_window".into(), Value::Null);
        }
        Arch::Qwen3 => {
            c.insert("attention_bias".into(), json!(facts.attention_bias));
            c.insert("use_sliding_window".into(), json!(false));
            c.insert("sliding_window".into(), Value::Null);
        }
        Arch::Gemma3 => {
            // What llama.cpp's gemma3 computes (see the module docs).
            c.insert("hidden_activation".into(), json!("gelu_pytorch_tanh"));
            c.insert("query_pre_attn_scalar".into(), json!(head_dim));
            c.insert("rope_local_base_freq".into(), json!(10000.0));
            let window = size(meta, &key("attention.sliding_window"))?.unwrap_or(0);
            if window == 0 {
                return unsupported(
                    "a gemma3 file without attention.sliding_window is not supported".into(),
                );
            }
            c.insert("sliding_window".into(), json!(window));
            c.insert("sliding_window_pattern".into(), json!(6));
            c.insert("attention_bias".into(), json!(facts.attention_bias));
        }
        Arch::Phi3 => {
            // llama.cpp's converter writes 0 for "no window".
            let window = size(meta, &key("attention.sliding_window"))?.filter(|&w| w > 0);
            c.insert("sliding_window".into(), json!(window));
        }
    }
    for (hf, gguf) in [
        ("bos_token_id", "tokenizer.ggml.bos_token_id"),
        ("eos_token_id", "tokenizer.ggml.eos_token_id"),
        ("pad_token_id", "tokenizer.ggml.padding_token_id"),
    ] {
        if let Some(id) = meta.usize(gguf)? {
            c.insert(hf.into(), json!(id));
        }
    }
    c.insert("torch_dtype".into(), json!("float32"));
    Ok(c)
}

/// Phi-3's longrope: `rope_scaling` with the two factor lists, and
/// `original_max_position_embeddings`. An attention factor that differs from the one
/// transformers computes from the two context lengths is written as `attention_factor`.
fn longrope(
    meta: &Metadata,
    c: &mut Map<String, Value>,
    long: &[f32],
    short: &[f32],
    head_dim: usize,
) -> Result<()> {
    let key = "phi3.rope.scaling.original_context_length";
    let original = require_size(meta, key)?;
    if long.len() != head_dim / 2 || short.len() != head_dim / 2 {
        return Err(Error::input(
            &meta.file,
            format!(
                "rope_factors_long and rope_factors_short need head_dim / 2 = {} values, found {} and {}",
                head_dim / 2,
                long.len(),
                short.len()
            ),
        ));
    }
    let context = c["max_position_embeddings"].as_u64().unwrap_or(0) as f64;
    let scale = context / original.max(1) as f64;
    let computed = if scale > 1.0 {
        (1.0 + scale.ln() / (original as f64).ln()).sqrt()
    } else {
        1.0
    };
    // The f32 values as their shortest decimals (1.15, not 1.149999976158142), as config.json
    // spells them.
    let decimal = |v: &[f32]| -> Vec<f64> {
        v.iter()
            .map(|x| x.to_string().parse().unwrap_or(f64::from(*x)))
            .collect()
    };
    let mut scaling = json!({
        "type": "longrope",
        "long_factor": decimal(long),
        "short_factor": decimal(short)
    });
    if let Some(a) = meta.f64("phi3.rope.scaling.attn_factor")?
        && (a - computed).abs() > 1e-6 * computed
    {
        scaling["attention_factor"] = json!(a);
    }
    c.insert("rope_scaling".into(), scaling);
    c.insert("original_max_position_embeddings".into(), json!(original));
    Ok(())
}

/// `rope_scaling`: none, or linear with its factor.
fn rope_scaling(meta: &Metadata, arch: Arch) -> Result<Value> {
    let key = |k: &str| format!("{}.{k}", arch.name());
    let factor = meta.f64(&key("rope.scaling.factor"))?;
    let old_linear = meta.f64(&key("rope.scale_linear"))?;
    match meta.str(&key("rope.scaling.type"))? {
        None | Some("none") => match old_linear {
            Some(f) if f != 1.0 => Ok(json!({"rope_type": "linear", "factor": f})),
            _ => Ok(Value::Null),
        },
        Some("linear") => {
            let f = factor.ok_or_else(|| meta.missing(&key("rope.scaling.factor")))?;
            Ok(json!({"rope_type": "linear", "factor": f}))
        }
        Some(other) => Err(Error::Unsupported(format!(
            "{}: RoPE scaling \"{other}\" is not supported for GGUF import (supported: none, linear)",
            meta.file
        ))),
    }
}

/// `generation_config.json` from the special-token ids: `eos_token_id` lists the end-of-turn
/// token too when the file names one apart from EOS. `None` when the file names none.
pub fn generation_config(meta: &Metadata) -> Result<Option<Map<String, Value>>> {
    let id = |k: &str| meta.usize(&format!("tokenizer.ggml.{k}"));
    let (bos, eos, eot, pad) = (
        id("bos_token_id")?,
        id("eos_token_id")?,
        id("eot_token_id")?,
        id("padding_token_id")?,
    );
    if bos.is_none() && eos.is_none() && eot.is_none() {
        return Ok(None);
    }
    let mut g = Map::new();
    if let Some(b) = bos {
        g.insert("bos_token_id".into(), json!(b));
    }
    let mut stops: Vec<usize> = eos.into_iter().chain(eot).collect();
    stops.dedup();
    match stops.as_slice() {
        [] => {}
        [one] => {
            g.insert("eos_token_id".into(), json!(one));
        }
        many => {
            g.insert("eos_token_id".into(), json!(many));
        }
    }
    if let Some(p) = pad {
        g.insert("pad_token_id".into(), json!(p));
    }
    Ok(Some(g))
}

#[cfg(test)]
mod tests {
    use super::hub_source;
    use crate::gguf::metadata::{Metadata, Value};

    fn meta(pairs: &[(&str, &str)]) -> Metadata {
        Metadata {
            file: "m.gguf".into(),
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
        }
    }

    #[test]
    fn the_hub_id_comes_from_the_source_repository_or_url() {
        let id = |pairs: &[(&str, &str)]| hub_source(&meta(pairs)).unwrap();
        let repo = "HuggingFaceTB/SmolLM2-135M-Instruct";
        assert_eq!(
            id(&[("general.source.huggingface.repository", repo)]),
            Some(repo.into())
        );
        let url = format!("https://huggingface.co/{repo}/tree/main");
        assert_eq!(id(&[("general.source.url", &url)]), Some(repo.into()));
        assert_eq!(
            id(&[("general.name", "Qwen/Qwen2.5-0.5B")]),
            Some("Qwen/Qwen2.5-0.5B".into())
        );
        // Names and basenames alone are not ids; neither are other hosts.
        assert_eq!(
            id(&[
                ("general.name", "Smollm2 135M 8k Lc100K Mix1 Ep2"),
                ("general.basename", "smollm2"),
                ("general.organization", "HuggingFaceTB"),
                ("general.source.url", "https://example.com/a/b"),
            ]),
            None
        );
    }
}
