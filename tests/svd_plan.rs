//! The SVD plan against the reference library `svd-training` 0.0.2: per-layer ranks, Σ count,
//! norm and embedding counts and LoRA counts for every tiny fixture and for SmolLM2-135M at rank
//! fractions 0.1, 0.2 and 0.5 (recorded by `tests/fixtures/models/svd_training_counts.py`).
//! The library also leaves the token embedding trainable; svdtune keeps it frozen, so its
//! trainable count is the library's minus the embedding.
use serde_json::Value;
use svdtune::model::ModelConfig;
use svdtune::svd::{SvdPlan, rank_for};

const COUNTS: &str = include_str!("fixtures/models/svd_training_counts.json");

fn config(name: &str) -> &'static str {
    match name {
        "llama" => include_str!("fixtures/models/llama/config.json"),
        "llama3" => include_str!("fixtures/models/llama3/config.json"),
        "mistral" => include_str!("fixtures/models/mistral/config.json"),
        "mistral_swa" => include_str!("fixtures/models/mistral_swa/config.json"),
        "qwen2" => include_str!("fixtures/models/qwen2/config.json"),
        "phi3" => include_str!("fixtures/models/phi3/config.json"),
        "qwen3" => include_str!("fixtures/models/qwen3/config.json"),
        "gemma3" => include_str!("fixtures/models/gemma3/config.json"),
        "llama_bf16" => include_str!("fixtures/models/llama_bf16/config.json"),
        "llama_f16" => include_str!("fixtures/models/llama_f16/config.json"),
        "llama_sharded" => include_str!("fixtures/models/llama_sharded/config.json"),
        "smollm2" => include_str!("fixtures/smollm2/config.json"),
        other => panic!("no config for {other}"),
    }
}

#[test]
fn plan_matches_reference_library_counts() {
    let counts: Value = serde_json::from_str(COUNTS).unwrap();
    let models = counts["models"].as_object().unwrap();
    assert!(models.len() >= 12);
    for (name, m) in models {
        let cfg = ModelConfig::from_json("config.json", config(name)).unwrap();
        for (fraction, lib) in m["svd_training"].as_object().unwrap() {
            let f: f64 = fraction.parse().unwrap();
            let plan = SvdPlan::new(&cfg, f, true).unwrap();
            let what = format!("{name} at {fraction}");
            assert_eq!(
                plan.sigma_params as u64,
                lib["sigma"].as_u64().unwrap(),
                "{what}: Σ"
            );
            assert_eq!(
                plan.norm_params as u64,
                lib["norms"].as_u64().unwrap(),
                "{what}: norms"
            );
            assert_eq!(
                plan.embedding_params as u64,
                lib["embeddings"].as_u64().unwrap(),
                "{what}: embedding"
            );
            assert_eq!(
                lib["other"].as_u64(),
                Some(0),
                "{what}: library trains more"
            );
            assert_eq!(
                (plan.trainable_params() + plan.embedding_params) as u64,
                lib["trainable"].as_u64().unwrap(),
                "{what}: trainable + embedding = library's trainable count"
            );
            for (module, q) in lib["q"].as_object().unwrap() {
                let layer = plan.layers.iter().find(|l| &l.module == module);
                let layer = layer.unwrap_or_else(|| panic!("{what}: {module} not planned"));
                assert_eq!(layer.q as u64, q.as_u64().unwrap(), "{what}: q of {module}");
            }
            assert_eq!(
                plan.layers.len(),
                lib["q"].as_object().unwrap().len(),
                "{what}: layer count"
            );
        }
        for (r, n) in m["lora"].as_object().unwrap() {
            let Ok(r) = r.parse::<usize>() else { continue };
            let plan = SvdPlan::new(&cfg, 0.1, true).unwrap();
            assert_eq!(
                plan.lora_params(r),
                n.as_u64().unwrap(),
                "{name}: LoRA r={r}"
            );
        }
    }
}

#[test]
fn smollm2_model_size_matches_transformers() {
    let counts: Value = serde_json::from_str(COUNTS).unwrap();
    let total = counts["models"]["smollm2"]["total_params"]
        .as_u64()
        .unwrap();
    let cfg = ModelConfig::from_json("config.json", config("smollm2")).unwrap();
    let plan = SvdPlan::new(&cfg, 0.1, true).unwrap();
    assert_eq!(plan.model_params(&cfg), total);
}

#[test]
fn rank_rounds_down_with_a_floor_of_one() {
    assert_eq!(rank_for(576, 1536, 0.1), 57);
    assert_eq!(rank_for(192, 576, 0.1), 19);
    assert_eq!(rank_for(8, 32, 0.1), 1);
    assert_eq!(rank_for(100, 100, 0.29), 28); // 100 · 0.29 = 28.999… in f64, as in Python
    assert_eq!(rank_for(64, 64, 1.0), 64);
    assert!(
        SvdPlan::new(
            &ModelConfig::from_json("config.json", config("llama")).unwrap(),
            0.0,
            true
        )
        .is_err()
    );
}

#[test]
fn frozen_norms_leave_only_sigma() {
    let cfg = ModelConfig::from_json("config.json", config("smollm2")).unwrap();
    let plan = SvdPlan::new(&cfg, 0.1, false).unwrap();
    assert_eq!(plan.trainable_params(), 9747);
}
