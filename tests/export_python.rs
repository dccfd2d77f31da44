//! Writes exports for `tests/fixtures/export/check_with_transformers.py` (transformers loads the
//! merged folders, PEFT loads the adapters on the original fixtures, both compared with the
//! logits computed here). Ignored by default; run it with
//! `SVDTUNE_EXPORT_DIR=/tmp/svdtune-export cargo test --test export_python -- --ignored`.
//! Native only (it writes to disk).
#![cfg(not(target_arch = "wasm32"))]
mod common;
mod export_support;
use export_support::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::export::safetensors_writer::{TensorHeader, write_safetensors};
use svdtune::export::{AdapterOptions, DirTarget, export_adapter, export_merged};
use svdtune::model::load::{DirFiles, open_checkpoint};
use svdtune::model::{MemoryFiles, Model};

/// For one fixture: `merged/`, `adapter/` and `ours.safetensors` (`input_ids` `[2, 7]`,
/// `logits` of the decomposed model, `logits_reloaded` of the merged export reloaded from disk).
async fn write_case(root: &std::path::Path, name: &str, files: MemoryFiles) {
    let be = CpuBackend;
    let dir = root.join(name);
    let mut model = Model::load(&be, &files, |_, _, _| {}).unwrap();
    let truth = decompose(&be, &mut model, 31, |m| {
        m == "model.layers.0.self_attn.k_proj"
    })
    .await;
    let ckpt = open_checkpoint(&files).unwrap();
    let mut merged = DirTarget::new(dir.join("merged")).unwrap();
    export_merged(
        &be,
        &model.cfg,
        &model.weights,
        &ckpt,
        &files,
        &mut merged,
        |_, _, _| {},
    )
    .await
    .unwrap();
    let opts = AdapterOptions {
        base_model: format!("tests/fixtures/models/{name}"),
        include_norms: true,
    };
    let mut adapter = DirTarget::new(dir.join("adapter")).unwrap();
    export_adapter(
        &be,
        &model.cfg,
        &model.weights,
        &truth.sigma0,
        &opts,
        &mut adapter,
    )
    .await
    .unwrap();
    let ids = sample_ids(model.cfg.vocab_size);
    let factored = logits(&be, &mut model, &ids, 2, 7).await;
    let mut reloaded = Model::load(
        &be,
        &DirFiles::new(dir.join("merged")).unwrap(),
        |_, _, _| {},
    )
    .unwrap();
    let from_disk = logits(&be, &mut reloaded, &ids, 2, 7).await;
    let v = model.cfg.vocab_size;
    let tensors = vec![
        TensorHeader::new("input_ids", safetensors::Dtype::F32, &[2, 7]),
        TensorHeader::new("logits", safetensors::Dtype::F32, &[14, v]),
        TensorHeader::new("logits_reloaded", safetensors::Dtype::F32, &[14, v]),
    ];
    let mut out = Vec::new();
    write_safetensors("ours.safetensors", &mut out, tensors, |t| {
        Ok(match t.name.as_str() {
            "input_ids" => ids.iter().map(|&i| i as f32).collect(),
            "logits" => factored.clone(),
            _ => from_disk.clone(),
        })
    })
    .unwrap();
    std::fs::write(dir.join("ours.safetensors"), out).unwrap();
}

#[test]
#[ignore = "writes exports for the Python check; needs SVDTUNE_EXPORT_DIR"]
fn write_exports_for_python() {
    let root = std::path::PathBuf::from(
        std::env::var("SVDTUNE_EXPORT_DIR").expect("set SVDTUNE_EXPORT_DIR"),
    );
    pollster::block_on(async {
        write_case(&root, "llama", export_fixture!("llama")).await;
        write_case(&root, "mistral", export_fixture!("mistral")).await;
        write_case(&root, "qwen2", export_fixture!("qwen2")).await;
        write_case(&root, "phi3", export_fixture!("phi3")).await;
        write_case(&root, "qwen3", export_fixture!("qwen3")).await;
        write_case(&root, "gemma3", export_fixture!("gemma3")).await;
        write_case(&root, "llama_bf16", export_fixture!("llama_bf16")).await;
        let sharded = export_fixture!(
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
        write_case(&root, "llama_sharded", sharded).await;
    });
}
