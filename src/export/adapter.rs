//! The trained update as a PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`)
//! that `PeftModel.from_pretrained(base, dir)` loads on the original model.
//!
//! For each decomposed layer `W_new − W = U diag(Σ − Σ₀) Vᵀ = B A` with
//! `lora_A = Vᵀ` `[q, n]` and `lora_B = U diag(Σ − Σ₀)` `[m, q]`, stored (f32) under
//! `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`. PEFT scales `B A` by
//! `lora_alpha / r` per module, so each module gets its own rank in `rank_pattern` and the same
//! number as its alpha in `alpha_pattern`: every scaling is exactly 1. Trained RMSNorm weights,
//! which a LoRA update cannot express, travel as `modules_to_save` (full weights under
//! `base_model.model.<norm>.weight`).
//!
//! Tied embeddings: PEFT applies the adapter on `lm_head` to the head's output only, which is
//! what the merged export holds (untied head, frozen embedding), as long as it runs unmerged.
//! `merge_and_unload()` on a tied base writes the head's update into the shared embedding matrix
//! too; untie the base first (load it with `tie_word_embeddings=False` and give `lm_head` a copy
//! of the embedding), or use the merged export.
use super::files::to_json;
use super::merged::{Exported, check_finite, preflight, without_offset};
use super::safetensors_writer::{SafetensorsWriter, TensorHeader};
use super::target::{ExportTarget, write_file};
use super::walk;
use crate::backend::{Backend, SvdLinear, TensorInfo, read_f32};
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::weights::{Linear, ModelWeights};
use safetensors::Dtype;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const ADAPTER_CONFIG: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// Prefix PEFT gives the base model's module names in a saved adapter.
const PREFIX: &str = "base_model.model.";

/// Whether `s` is a Hugging Face Hub id, `owner/name` (letters, digits, `-`, `_`, `.`; not a
/// local path such as `/tmp/x/y` or `./a/b`).
pub fn is_hub_id(s: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match s.split_once('/') {
        Some((owner, name)) => ok(owner) && ok(name) && s.len() <= 96,
        None => false,
    }
}

/// The adapter's `base_model_name_or_path`: the Hub id the model's `config.json` names in
/// `_name_or_path` (transformers writes it on `save_pretrained`; the GGUF import writes the
/// source repository it finds in the metadata), or else `fallback` (the model's folder).
pub fn base_model_name(cfg: &ModelConfig, fallback: &str) -> String {
    match cfg.raw.get("_name_or_path").and_then(Value::as_str) {
        Some(id) if is_hub_id(id) => id.to_string(),
        _ => fallback.to_string(),
    }
}

/// What goes into the adapter beyond the decomposed layers.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterOptions {
    /// `base_model_name_or_path`: the Hub id or folder of the original model.
    pub base_model: String,
    /// Ship the RMSNorm weights as `modules_to_save` (when they were trained).
    pub include_norms: bool,
}

/// One decomposed layer of the adapter.
struct Module<'a, T> {
    layer: &'a SvdLinear<T>,
    sigma0: &'a [f32],
}

/// Writes the adapter of every decomposed layer. `sigma0` gives, per module name (e.g.
/// `model.layers.0.self_attn.q_proj`, `lm_head`), the singular values `Σ₀` the training started
/// from; every decomposed layer needs one, of length `q`, and no other module may appear.
pub async fn export_adapter<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    weights: &ModelWeights<B::Tensor>,
    sigma0: &[(String, Vec<f32>)],
    opts: &AdapterOptions,
    out: &mut impl ExportTarget,
) -> Result<Exported> {
    preflight(be, cfg, weights).await?;
    let modules = match_modules(cfg, weights, sigma0)?;
    let mut tensors = Vec::new();
    // adapter key → (module, whether it is lora_B)
    let mut lora_of = BTreeMap::new();
    for (name, m) in &modules {
        let (rows, cols, q) = m.layer.dims()?;
        tensors.push(TensorHeader::new(
            lora_key(name, 'A'),
            Dtype::F32,
            &[q, cols],
        ));
        tensors.push(TensorHeader::new(
            lora_key(name, 'B'),
            Dtype::F32,
            &[rows, q],
        ));
        lora_of.insert(lora_key(name, 'A'), (m, false));
        lora_of.insert(lora_key(name, 'B'), (m, true));
    }
    let norms = if opts.include_norms {
        walk::norms(weights)
    } else {
        Vec::new()
    };
    let norm_of: BTreeMap<String, _> = norms
        .iter()
        .map(|(name, t)| (format!("{PREFIX}{name}"), *t))
        .collect();
    for (key, t) in &norm_of {
        tensors.push(TensorHeader::new(key, Dtype::F32, t.shape().dims()));
    }
    let mut w = SafetensorsWriter::new(ADAPTER_WEIGHTS, tensors)?;
    let mut file = out.create(ADAPTER_WEIGHTS)?;
    w.write_header(&mut file)?;
    for t in w.order().to_vec() {
        let data = match (norm_of.get(&t.name), lora_of.get(&t.name)) {
            (Some(norm), _) => without_offset(be.read(norm).await?, cfg.family.norm_offset()),
            (None, Some(&(m, is_b))) => lora_tensor(be, m, is_b).await?,
            (None, None) => {
                return Err(Error::param(
                    "adapter",
                    format!("no source for `{}`", t.name),
                ));
            }
        };
        w.write_f32(&mut file, &t.name, &data)?;
    }
    let count = w.order().len();
    w.finish()?;
    out.finish(file)?;
    let norm_names: Vec<String> = norms.iter().map(|(n, _)| n.clone()).collect();
    let config = adapter_config(&modules, &norm_names, opts)?;
    write_file(out, ADAPTER_CONFIG, config.as_bytes())?;
    Ok(Exported {
        files: vec![ADAPTER_WEIGHTS.into(), ADAPTER_CONFIG.into()],
        tensors: count,
    })
}

/// `base_model.model.<module>.lora_<A|B>.weight`.
fn lora_key(module: &str, which: char) -> String {
    format!("{PREFIX}{module}.lora_{which}.weight")
}

/// Pairs each decomposed layer with its `Σ₀`, by module name (execution order).
fn match_modules<'a, T: TensorInfo>(
    cfg: &ModelConfig,
    weights: &'a ModelWeights<T>,
    sigma0: &'a [(String, Vec<f32>)],
) -> Result<Vec<(String, Module<'a, T>)>> {
    let mut given: BTreeMap<&str, &[f32]> = BTreeMap::new();
    for (module, s) in sigma0 {
        if given.insert(module, s).is_some() {
            return Err(Error::param(
                "adapter",
                format!("Σ₀ of `{module}` is given twice"),
            ));
        }
    }
    let mut out = Vec::new();
    for (spec, lin) in walk::linears(cfg, weights)? {
        let s0 = given.remove(spec.module.as_str());
        match (lin, s0) {
            (Linear::Svd(layer), Some(s0)) => {
                let (_, _, q) = layer.dims()?;
                if s0.len() != q {
                    return Err(Error::param(
                        "adapter",
                        format!(
                            "Σ₀ of `{}` has {} values, but the layer has rank {q}",
                            spec.module,
                            s0.len()
                        ),
                    ));
                }
                check_finite(&format!("Σ₀ of `{}`", spec.module), s0)?;
                out.push((spec.module, Module { layer, sigma0: s0 }));
            }
            (Linear::Svd(_), None) => {
                return Err(Error::param(
                    "adapter",
                    format!(
                        "`{}` is decomposed, but no Σ₀ was given for it",
                        spec.module
                    ),
                ));
            }
            (Linear::Dense { .. }, Some(_)) => {
                return Err(Error::param(
                    "adapter",
                    format!(
                        "Σ₀ was given for `{}`, which is not decomposed",
                        spec.module
                    ),
                ));
            }
            (Linear::Dense { .. }, None) => {}
        }
    }
    if let Some(module) = given.keys().next() {
        return Err(Error::param(
            "adapter",
            format!("Σ₀ was given for `{module}`, which is not a linear layer of this model"),
        ));
    }
    if out.is_empty() {
        return Err(Error::param(
            "adapter",
            "no layer is decomposed: there is no update to export",
        ));
    }
    Ok(out)
}

/// `lora_A = Vᵀ` `[q, n]`, or with `is_b` `lora_B = U diag(Σ − Σ₀)` `[m, q]`, of one module.
async fn lora_tensor<B: Backend>(
    be: &B,
    m: &Module<'_, B::Tensor>,
    is_b: bool,
) -> Result<Vec<f32>> {
    let (rows, cols, q) = m.layer.dims()?;
    if !is_b {
        let v = read_f32(be, &m.layer.v).await?;
        let mut a = vec![0.0f32; q * cols];
        for i in 0..cols {
            for j in 0..q {
                a[j * cols + i] = v[i * q + j];
            }
        }
        Ok(a)
    } else {
        let sigma = be.read(&m.layer.sigma).await?;
        let delta: Vec<f32> = sigma.iter().zip(m.sigma0).map(|(s, s0)| s - s0).collect();
        let mut u = read_f32(be, &m.layer.u).await?;
        for row in u.chunks_exact_mut(q).take(rows) {
            row.iter_mut().zip(&delta).for_each(|(x, d)| *x *= d);
        }
        Ok(u)
    }
}

/// `adapter_config.json`: LoRA on exactly the decomposed modules, each with its own rank and
/// alpha equal to it (scaling 1), no dropout, no bias.
fn adapter_config<T: TensorInfo>(
    modules: &[(String, Module<'_, T>)],
    norms: &[String],
    opts: &AdapterOptions,
) -> Result<String> {
    let mut ranks = Map::new();
    let mut targets = Vec::new();
    let mut r = 0;
    for (name, m) in modules {
        let (_, _, q) = m.layer.dims()?;
        r = r.max(q);
        ranks.insert(name.clone(), json!(q));
        targets.push(Value::String(name.clone()));
    }
    let modules_to_save = if opts.include_norms {
        json!(norm_modules(norms))
    } else {
        Value::Null
    };
    to_json(&json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": opts.base_model,
        "target_modules": targets,
        "r": r,
        "lora_alpha": r,
        "rank_pattern": ranks.clone(),
        "alpha_pattern": ranks,
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": false,
        "use_rslora": false,
        "use_dora": false,
        "init_lora_weights": true,
        "inference_mode": true,
        "modules_to_save": modules_to_save,
        "layers_to_transform": null,
        "layers_pattern": null,
        "revision": null,
    }))
}

/// PEFT's `modules_to_save` for the norm weights `norms` (checkpoint names): the module name of
/// each per-layer norm (`input_layernorm`, …, Qwen3's `q_norm`), and `model.norm`, each once.
fn norm_modules(norms: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in norms {
        let module = name.strip_suffix(".weight").unwrap_or(name);
        let short = match module.strip_prefix("model.layers.") {
            Some(rest) => rest.rsplit('.').next().unwrap_or(rest),
            None => module,
        };
        if !out.iter().any(|m| m == short) {
            out.push(short.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{base_model_name, is_hub_id, norm_modules};
    use crate::model::ModelConfig;

    #[test]
    fn hub_ids_and_paths() {
        for id in [
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "Qwen/Qwen2.5-0.5B",
            "a_b/c.d",
        ] {
            assert!(is_hub_id(id), "{id}");
        }
        for not in [
            "", "model", "/tmp/x/y", "./a/b", "a/b/c", "C:\\m\\x", "a b/c", "/a",
        ] {
            assert!(!is_hub_id(not), "{not}");
        }
    }

    #[test]
    fn the_base_model_is_the_configs_hub_id_or_the_folder() {
        let cfg = |extra: &str| {
            let text = include_str!("../../tests/fixtures/tiny-chat/config.json").replacen(
                '{',
                &format!("{{{extra}"),
                1,
            );
            ModelConfig::from_json("config.json", &text).unwrap()
        };
        let named = cfg(r#""_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct","#);
        assert_eq!(
            base_model_name(&named, "smol"),
            "HuggingFaceTB/SmolLM2-135M-Instruct"
        );
        let local = cfg(r#""_name_or_path": "/tmp/convert/out","#);
        assert_eq!(base_model_name(&local, "smol"), "smol");
        assert_eq!(base_model_name(&cfg(""), "smol"), "smol");
    }

    #[test]
    fn modules_to_save_name_each_kind_of_norm_once() {
        let names: Vec<String> = [
            "model.layers.0.input_layernorm.weight",
            "model.layers.0.post_attention_layernorm.weight",
            "model.layers.0.self_attn.q_norm.weight",
            "model.layers.0.self_attn.k_norm.weight",
            "model.layers.1.input_layernorm.weight",
            "model.norm.weight",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            norm_modules(&names),
            [
                "input_layernorm",
                "post_attention_layernorm",
                "q_norm",
                "k_norm",
                "model.norm"
            ]
        );
    }
}
