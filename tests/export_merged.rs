//! The merged export of every fixture family (tied llama with one layer left dense, phi3 with
//! fused projections, qwen2 with biases, mistral, bf16 and f16 checkpoints, a sharded one):
//! re-read with the crate's own loader, every tensor keeps its name, dtype, shape and file; the
//! merged weights equal `W + U diag(Δ) Vᵀ`; trained norms are written; tied models get an
//! explicit `lm_head.weight` and `tie_word_embeddings: false`; the tokenizer files come through
//! byte for byte; the reloaded export gives the decomposed model's logits. The GPU backend's
//! export matches the CPU's. Runs natively and in browsers.
mod common;
mod export_support;
use export_support::*;
use serde_json::Value;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::export::{Exported, MemoryTarget, export_merged};
use svdtune::model::load::open_checkpoint;
use svdtune::model::{MemoryFiles, Model};

/// Loads `files` on `be`, decomposes it (keeping `keep_dense` modules dense) and exports it.
async fn export_on<B: Backend>(
    be: &B,
    files: &MemoryFiles,
    keep_dense: &dyn Fn(&str) -> bool,
) -> (Model<B>, Truth, MemoryTarget, Exported) {
    let mut model = Model::load(be, files, |_, _, _| {}).unwrap();
    let truth = decompose(be, &mut model, 11, keep_dense).await;
    let ckpt = open_checkpoint(files).unwrap();
    let mut out = MemoryTarget::new();
    let mut calls = Vec::new();
    let exported = export_merged(
        be,
        &model.cfg,
        &model.weights,
        &ckpt,
        files,
        &mut out,
        |done, total, name| calls.push((done, total, name.to_string())),
    )
    .await
    .unwrap();
    assert_eq!(
        calls.len(),
        exported.tensors,
        "one progress call per tensor"
    );
    assert!(calls.iter().all(|(_, t, _)| *t == exported.tensors));
    (model, truth, out, exported)
}

/// Tolerance of a stored value: f32 merge rounding, plus half an ulp of a 16-bit dtype.
fn rtol(dtype: safetensors::Dtype) -> f64 {
    match dtype {
        safetensors::Dtype::BF16 => 2f64.powi(-8),
        safetensors::Dtype::F16 => 2f64.powi(-11),
        _ => 1e-6,
    }
}

/// Every check of one fixture; `logits_atol` compares the reloaded export's logits with the
/// decomposed model's (`None` skips it).
async fn check(what: &str, files: MemoryFiles, logits_atol: Option<f32>) {
    let be = CpuBackend;
    let keep_dense = |m: &str| m == "model.layers.0.self_attn.k_proj";
    let (mut model, truth, out, exported) = export_on(&be, &files, &keep_dense).await;
    let cfg = model.cfg.clone();
    let src = open_checkpoint(&files).unwrap();
    let got_files = out.to_model_files();
    let got = open_checkpoint(&got_files).unwrap();

    // names, dtypes, shapes and files
    let mut want_names: Vec<String> = src.names().map(String::from).collect();
    if cfg.tie_word_embeddings {
        want_names.push("lm_head.weight".into());
        want_names.sort();
    }
    let got_names: Vec<String> = got.names().map(String::from).collect();
    assert_eq!(got_names, want_names, "{what}: tensor names");
    for name in &got_names {
        let src_name = if src.entry(name).is_none() {
            "model.embed_tokens.weight"
        } else {
            name
        };
        let (want, want_file) = src.entry(src_name).unwrap();
        let (entry, file) = got.entry(name).unwrap();
        assert_eq!(entry.dtype, want.dtype, "{what}: dtype of {name}");
        assert_eq!(entry.shape, want.shape, "{what}: shape of {name}");
        assert_eq!(file, want_file, "{what}: file of {name}");
    }

    // values
    for name in &got_names {
        let (entry, _) = got.entry(name).unwrap();
        let values = got.read_f32(name).unwrap();
        let want = truth
            .expected
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no expected value for {name}"));
        if name == "model.embed_tokens.weight" {
            let orig = src.read_f32(name).unwrap();
            assert!(
                values
                    .iter()
                    .zip(&orig)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{what}: the embedding is copied exactly"
            );
        }
        assert_close64(
            &format!("{what}: {name}"),
            &values,
            want,
            2e-6,
            rtol(entry.dtype),
        );
    }
    let embed = truth.expected["model.embed_tokens.weight"].clone();
    assert_ne!(
        truth.expected["lm_head.weight"], embed,
        "{what}: the head was trained"
    );

    // config.json: only the tie flag changes
    let orig: Value = serde_json::from_slice(&file_bytes(&files, "config.json")).unwrap();
    let mut written: Value = serde_json::from_slice(out.get("config.json").unwrap()).unwrap();
    if cfg.tie_word_embeddings {
        assert_eq!(written["tie_word_embeddings"], Value::Bool(false), "{what}");
        written["tie_word_embeddings"] = Value::Bool(true);
    }
    assert_eq!(written, orig, "{what}: config.json otherwise unchanged");

    // files copied through byte for byte
    for (name, bytes) in EXTRA_FILES {
        assert_eq!(out.get(name), Some(*bytes), "{what}: {name} copied");
    }
    assert_eq!(
        out.get("generation_config.json").unwrap(),
        file_bytes(&files, "generation_config.json"),
        "{what}: generation_config.json copied"
    );
    let mut listed = exported.files.clone();
    listed.sort();
    let stored: Vec<String> = out.files.keys().cloned().collect();
    assert_eq!(listed, stored, "{what}: Exported lists every file");

    // the export loads and computes what the decomposed model computes
    if let Some(atol) = logits_atol {
        let mut reloaded = Model::load(&be, &got_files, |_, _, _| {}).unwrap();
        assert!(!reloaded.cfg.tie_word_embeddings);
        let ids = sample_ids(cfg.vocab_size);
        let want = logits(&be, &mut model, &ids, 2, 7).await;
        let have = logits(&be, &mut reloaded, &ids, 2, 7).await;
        common::assert_close(&format!("{what}: logits"), &have, &want, atol, 0.0);
    }
}

async fn llama_tied() {
    check("llama", export_fixture!("llama"), Some(1e-4)).await;
}
gpu_test!(tied_llama_export_reloads_with_merged_weights, llama_tied);

async fn phi3_fused() {
    check("phi3", export_fixture!("phi3"), Some(1e-4)).await;
}
gpu_test!(phi3_fused_export_reloads_with_merged_weights, phi3_fused);

async fn qwen2_biases() {
    check("qwen2", export_fixture!("qwen2"), Some(1e-4)).await;
}
gpu_test!(qwen2_export_keeps_biases, qwen2_biases);

async fn mistral_untied() {
    check("mistral", export_fixture!("mistral"), Some(1e-4)).await;
}
gpu_test!(untied_mistral_export_reloads, mistral_untied);

async fn half_precision() {
    check("llama_bf16", export_fixture!("llama_bf16"), None).await;
    check("llama_f16", export_fixture!("llama_f16"), None).await;
}
gpu_test!(bf16_and_f16_exports_keep_their_dtype, half_precision);

async fn sharded() {
    let files = export_fixture!(
        "llama_sharded",
        [
            "config.json",
            "generation_config.json",
            "model.safetensors.index.json",
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors"
        ]
    );
    check("llama_sharded", files.clone(), Some(1e-4)).await;
    let (_, _, out, _) = export_on(&CpuBackend, &files, &|_| false).await;
    assert!(out.get("model.safetensors").is_none());
    let index: Value =
        serde_json::from_slice(out.get("model.safetensors.index.json").unwrap()).unwrap();
    let orig: Value =
        serde_json::from_slice(&file_bytes(&files, "model.safetensors.index.json")).unwrap();
    let mut want_map = orig["weight_map"].as_object().unwrap().clone();
    want_map.insert(
        "lm_head.weight".into(),
        orig["weight_map"]["model.embed_tokens.weight"].clone(),
    );
    assert_eq!(index["weight_map"].as_object().unwrap(), &want_map);
    let got = open_checkpoint(&out.to_model_files()).unwrap();
    let data_bytes: u64 = got
        .names()
        .map(|n| {
            let (e, _) = got.entry(n).unwrap();
            e.end - e.start
        })
        .sum();
    assert_eq!(index["metadata"]["total_size"], data_bytes);
    let params: usize = got.names().map(|n| got.entry(n).unwrap().0.numel()).sum();
    assert_eq!(index["metadata"]["total_parameters"], params);
}
gpu_test!(sharded_export_keeps_the_shard_layout, sharded);

async fn gpu_matches_cpu() {
    let files = export_fixture!("qwen2");
    let gpu = common::gpu().await;
    let (_, _, on_gpu, _) = export_on(&gpu, &files, &|_| false).await;
    let (_, _, on_cpu, _) = export_on(&CpuBackend, &files, &|_| false).await;
    let names: Vec<&String> = on_cpu.files.keys().collect();
    assert_eq!(on_gpu.files.keys().collect::<Vec<_>>(), names);
    let (g, c) = (
        open_checkpoint(&on_gpu.to_model_files()).unwrap(),
        open_checkpoint(&on_cpu.to_model_files()).unwrap(),
    );
    for name in c.names() {
        let want = c.read_f32(name).unwrap();
        common::assert_close(
            &format!("gpu export: {name}"),
            &g.read_f32(name).unwrap(),
            &want,
            1e-5,
            1e-5,
        );
    }
    assert_eq!(on_gpu.get("config.json"), on_cpu.get("config.json"));
}
gpu_test!(gpu_export_matches_cpu_export, gpu_matches_cpu);

async fn qwen3_qk_norms() {
    check("qwen3", export_fixture!("qwen3"), Some(1e-4)).await;
}
gpu_test!(qwen3_export_reloads_with_its_qk_norms, qwen3_qk_norms);

async fn gemma3_offset_norms() {
    check("gemma3", export_fixture!("gemma3"), Some(1e-4)).await;
}
gpu_test!(
    gemma3_export_writes_w_of_its_1_plus_w_norms,
    gemma3_offset_norms
);
