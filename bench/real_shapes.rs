//! The memory estimate for models of real shape, from their published `config.json` shapes (no
//! weights needed: the estimate reads configs and tensor sizes only): Qwen2.5-0.5B, Qwen3-0.6B,
//! Llama-3.2-1B, Llama-3.2-3B, Qwen3-4B and Phi-3-mini-4k, with frozen matrices in bf16 (two
//! bytes a value, as the safetensors on the Hub) and in Q4_K (144 bytes per 256 values, every
//! matrix, as a GGUF file keeps them; norms f32), at 1 × 512 and 4 × 512, activations stored or
//! recomputed, f32 or f16 factors: weights, factors, optimizer, activations, the decomposition's
//! working tensors and the total (the weights and factors plus the larger phase), as
//! `svdtune inspect --memory` prints them for the GPU backend (its loss chunk of 4 Mi logits),
//! plus each model's largest tensor (in row blocks on an adapter whose bindings are smaller). Ends with the two memory
//! targets: Qwen2.5-0.5B in bf16 at 4 × 512 within 2.5 GB, Phi-3-mini in Q4_K with f16 factors at
//! 1 × 512 within 4 GB.
//!
//! `cargo bench --bench real_shapes`
use svdtune::backend::Format;
use svdtune::model::ModelConfig;
use svdtune::model::layout::expected_tensors;
use svdtune::svd::SvdPlan;
use svdtune::train::memory::{FactorDtype, MemoryOptions, StoredSizes, estimate_with};

/// The GPU backend's loss chunk (`Backend::logit_chunk_elements`' default).
const GPU_LOGIT_CHUNK: usize = 1 << 22;

/// Name and the shape fields of the model's `config.json` on the Hub.
const MODELS: &[(&str, &str)] = &[
    (
        "Qwen2.5-0.5B",
        r#"{"model_type":"qwen2","hidden_size":896,"intermediate_size":4864,
        "num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,
        "vocab_size":151936,"tie_word_embeddings":true,"max_position_embeddings":32768,
        "rope_theta":1000000.0,"rms_norm_eps":1e-6,"hidden_act":"silu"}"#,
    ),
    (
        "Qwen3-0.6B",
        r#"{"model_type":"qwen3","hidden_size":1024,"intermediate_size":3072,
        "num_hidden_layers":28,"num_attention_heads":16,"num_key_value_heads":8,"head_dim":128,
        "vocab_size":151936,"tie_word_embeddings":true,"max_position_embeddings":40960,
        "rope_theta":1000000.0,"rms_norm_eps":1e-6,"hidden_act":"silu"}"#,
    ),
    (
        "Llama-3.2-1B",
        r#"{"model_type":"llama","hidden_size":2048,"intermediate_size":8192,
        "num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":64,
        "vocab_size":128256,"tie_word_embeddings":true,"max_position_embeddings":131072,
        "rope_theta":500000.0,"rms_norm_eps":1e-5,"hidden_act":"silu",
        "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
        "original_max_position_embeddings":8192,"rope_type":"llama3"}}"#,
    ),
    (
        "Llama-3.2-3B",
        r#"{"model_type":"llama","hidden_size":3072,"intermediate_size":8192,
        "num_hidden_layers":28,"num_attention_heads":24,"num_key_value_heads":8,"head_dim":128,
        "vocab_size":128256,"tie_word_embeddings":true,"max_position_embeddings":131072,
        "rope_theta":500000.0,"rms_norm_eps":1e-5,"hidden_act":"silu",
        "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
        "original_max_position_embeddings":8192,"rope_type":"llama3"}}"#,
    ),
    (
        "Qwen3-4B",
        r#"{"model_type":"qwen3","hidden_size":2560,"intermediate_size":9728,
        "num_hidden_layers":36,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":128,
        "vocab_size":151936,"tie_word_embeddings":true,"max_position_embeddings":40960,
        "rope_theta":1000000.0,"rms_norm_eps":1e-6,"hidden_act":"silu"}"#,
    ),
    (
        "Phi-3-mini-4k",
        r#"{"model_type":"phi3","hidden_size":3072,"intermediate_size":8192,
        "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":32,
        "vocab_size":32064,"tie_word_embeddings":false,"max_position_embeddings":4096,
        "rope_theta":10000.0,"rms_norm_eps":1e-5,"hidden_act":"silu"}"#,
    ),
];

/// Every tensor of `cfg` in `matrices` (2-D) or f32 (norms, biases), as loading keeps them.
fn sizes(cfg: &ModelConfig, matrices: Format) -> (StoredSizes, u64) {
    let mut sizes = StoredSizes::default();
    let mut largest = 0;
    for (name, shape) in expected_tensors(cfg) {
        let numel: usize = shape.iter().product();
        let format = if shape.len() == 2 {
            matrices
        } else {
            Format::F32
        };
        let bytes = (format.bytes_for(numel) as u64).div_ceil(4) * 4;
        largest = largest.max(bytes);
        sizes.0.insert(name, bytes);
    }
    (sizes, largest)
}

fn gb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1e9)
}

fn main() {
    println!(
        "| model | weights | batch | activations | factors | weights GB | factors GB | optimizer MB | activations GB | decomposition GB | total GB |"
    );
    println!("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|");
    let mut totals = Vec::new();
    let mut largest_tensors = Vec::new();
    for (name, json) in MODELS {
        let cfg = ModelConfig::from_json("config.json", json).expect("a valid config");
        let plan = SvdPlan::new(&cfg, 0.1, true).expect("a plan");
        for (label, format) in [("bf16", Format::Bf16), ("Q4_K", Format::Q4_K)] {
            let (stored, largest) = sizes(&cfg, format);
            largest_tensors.push((*name, label, largest));
            for batch in [1, 4] {
                for recompute in [false, true] {
                    for factor_dtype in [FactorDtype::F32, FactorDtype::F16] {
                        let o = MemoryOptions {
                            recompute,
                            factor_dtype,
                            stored: Some(&stored),
                            ..MemoryOptions::new(batch, 512, GPU_LOGIT_CHUNK)
                        };
                        let e = estimate_with(&cfg, &plan, &o);
                        println!(
                            "| {name} | {label} | {batch} × 512 | {} | {:?} | {} | {} | {:.1} | {} | {} | **{}** |",
                            if recompute { "recomputed" } else { "stored" },
                            factor_dtype,
                            gb(e.weights),
                            gb(e.factors),
                            e.optimizer as f64 / 1e6,
                            gb(e.activations),
                            gb(e.decomposition),
                            gb(e.total()),
                        );
                        totals.push(((*name, label, batch, recompute, factor_dtype), e.total()));
                    }
                }
            }
        }
    }
    println!();
    for (name, label, bytes) in largest_tensors {
        println!(
            "{name} {label}: largest tensor {:.1} MB (held in row blocks where one binding is smaller)",
            bytes as f64 / 1e6
        );
    }
    // The targets, each at its cheapest choice of recomputation and factor dtype (as `auto`
    // would pick when the stored-activation run does not fit).
    let best = |model: &str, label: &str, batch: usize, dtypes: &[FactorDtype]| {
        totals
            .iter()
            .filter(|((m, l, b, _, d), _)| {
                *m == model && *l == label && *b == batch && dtypes.contains(d)
            })
            .min_by_key(|(_, t)| *t)
            .map(|(k, t)| (*k, *t))
            .expect("measured")
    };
    println!();
    for (model, label, batch, dtypes, limit) in [
        (
            "Qwen2.5-0.5B",
            "bf16",
            4,
            &[FactorDtype::F32, FactorDtype::F16][..],
            2.5e9,
        ),
        ("Phi-3-mini-4k", "Q4_K", 1, &[FactorDtype::F16][..], 4e9),
    ] {
        let ((_, _, _, recompute, dtype), total) = best(model, label, batch, dtypes);
        let verdict = if (total as f64) <= limit {
            "meets"
        } else {
            "misses"
        };
        println!(
            "target: {model} {label} at {batch} × 512 within {} GB: {} GB ({} activations, {dtype:?} factors): {verdict} it",
            limit / 1e9,
            gb(total),
            if recompute { "recomputed" } else { "stored" },
        );
    }
}
