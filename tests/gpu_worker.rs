//! The engine runs where the page runs it: inside a dedicated Web Worker (navigator.gpu in a
//! WorkerGlobalScope). Runs the engine self-check there, GPU against the CPU reference.
#![cfg(target_arch = "wasm32")]
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::GpuBackend;
use svdtune::backend::selfcheck;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn selfcheck_passes_in_a_dedicated_worker() {
    let gpu = GpuBackend::new().await.expect("WebGPU adapter in a worker");
    let results = selfcheck::compare(&gpu, &CpuBackend)
        .await
        .expect("self-check runs");
    assert!(results.len() >= 7);
    for r in results {
        assert!(
            r.passed,
            "{} differs from the CPU reference: {:e}",
            r.op, r.max_error
        );
    }
}

/// A `Blob` holding `bytes` (as a dropped `File` would).
fn blob(bytes: &[u8]) -> web_sys::Blob {
    let array = js_sys::Array::new();
    array.push(&js_sys::Uint8Array::from(bytes).buffer());
    web_sys::Blob::new_with_buffer_source_sequence(&array).expect("blob")
}

/// The model loader streams weights from dropped files (`Blob`s read by ranges with
/// `FileReaderSync`) and the forward pass on WebGPU gives transformers' logits.
#[wasm_bindgen_test]
async fn model_streams_from_blobs_in_a_worker() {
    use svdtune::backend::Backend;
    use svdtune::model::Model;
    use svdtune::model::acts::{Activations, HeadActs};
    use svdtune::model::forward::{Batch, forward, lm_head};
    use svdtune::model::load::BlobFiles;
    let mut files = BlobFiles::new();
    files.insert(
        "config.json",
        blob(include_bytes!("fixtures/models/llama_sharded/config.json")),
    );
    files.insert(
        "model.safetensors.index.json",
        blob(include_bytes!(
            "fixtures/models/llama_sharded/model.safetensors.index.json"
        )),
    );
    for (name, bytes) in [
        (
            "model-00001-of-00003.safetensors",
            &include_bytes!("fixtures/models/llama_sharded/model-00001-of-00003.safetensors")[..],
        ),
        (
            "model-00002-of-00003.safetensors",
            &include_bytes!("fixtures/models/llama_sharded/model-00002-of-00003.safetensors")[..],
        ),
        (
            "model-00003-of-00003.safetensors",
            &include_bytes!("fixtures/models/llama_sharded/model-00003-of-00003.safetensors")[..],
        ),
    ] {
        files.insert(name, blob(bytes));
    }
    let gpu = GpuBackend::new().await.expect("WebGPU adapter in a worker");
    let mut loaded = 0;
    let mut model = Model::load(&gpu, &files, |_, _, _| loaded += 1).expect("model loads");
    assert!(loaded > 10);
    let gold = safetensors::SafeTensors::deserialize(include_bytes!(
        "fixtures/models/llama_sharded/golden.safetensors"
    ))
    .unwrap();
    let ids: Vec<u32> = gold
        .tensor("input_ids")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect();
    let want: Vec<f32> = gold
        .tensor("logits")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let cfg = model.cfg.clone();
    let input = Batch::new(&gpu, &cfg, &ids, None, None, 2, 12).unwrap();
    let mut acts = Activations::new(&gpu, &cfg, &model.weights, 24, false).unwrap();
    forward(
        &gpu,
        &cfg,
        &model.weights,
        &mut model.rope,
        &input,
        &mut acts,
    )
    .unwrap();
    let mut head = HeadActs::new(&gpu, &cfg, &model.weights, 24).unwrap();
    let mut out = gpu.zeros(&[24, cfg.vocab_size]).unwrap();
    lm_head(&gpu, &model.weights, &acts.hidden, 0, &mut head, &mut out).unwrap();
    gpu.flush().unwrap();
    let got = gpu.read(&out).await.unwrap();
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "max error {worst}");
}
