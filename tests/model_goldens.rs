//! Whole-model forward passes against transformers: tiny random checkpoints of every supported
//! family (llama, Llama 3 rope scaling with its own head_dim, mistral with and without a sliding
//! window, qwen2 with q/k/v biases, phi3 with fused projections and longrope short and long
//! factors, qwen3 with per-head q/k norms and its own head_dim, gemma3 with `1 + w` norms,
//! output norms, GeGLU, scaled embeddings, `query_pre_attn_scalar` and a sliding layer with
//! its own RoPE base beside a global one), bf16/f16 checkpoints against their f32 upcast, a sharded checkpoint, and greedy
//! generation with the KV cache, on the CPU and GPU backends, natively and in browsers.
//! The fixtures and goldens come from `tests/fixtures/models/make_models.py`.
mod common;
use common::*;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::acts::{Activations, HeadActs};
use svdtune::model::forward::{Batch, forward, lm_head};
use svdtune::model::generate::{StopReason, generate};
use svdtune::model::sample::Sampling;
use svdtune::model::{MemoryFiles, Model};

/// A fixture folder as in-memory files (compiled in, so browsers see them too).
macro_rules! fixture {
    ($name:literal, [$($file:literal),*]) => {{
        let mut f = MemoryFiles::new();
        $(f.insert($file, include_bytes!(concat!("fixtures/models/", $name, "/", $file)).to_vec());)*
        (f, &include_bytes!(concat!("fixtures/models/", $name, "/golden.safetensors"))[..])
    }};
    ($name:literal) => {
        fixture!($name, ["config.json", "model.safetensors"])
    };
}

/// A golden tensor as f32 (from F32) or as token ids (from I64), with its shape.
fn golden(bytes: &[u8], name: &str) -> (Vec<f32>, Vec<u32>, Vec<usize>) {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let data = t.data();
    match t.dtype() {
        safetensors::Dtype::F32 => (
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            vec![],
            t.shape().to_vec(),
        ),
        safetensors::Dtype::I64 => (
            vec![],
            data.chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
                .collect(),
            t.shape().to_vec(),
        ),
        other => panic!("golden {name} has dtype {other:?}"),
    }
}

/// Logits `[B·S, V]` of the model for `ids` `[B, S]`.
async fn logits<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    ids: &[u32],
    shape: &[usize],
) -> Vec<f32> {
    let (batch, seq) = (shape[0], shape[1]);
    let rows = batch * seq;
    let cfg = model.cfg.clone();
    let input = Batch::new(be, &cfg, ids, None, None, batch, seq).unwrap();
    let mut acts = Activations::new(be, &cfg, &model.weights, rows, false).unwrap();
    forward(be, &cfg, &model.weights, &mut model.rope, &input, &mut acts).unwrap();
    let mut head = HeadActs::new(be, &cfg, &model.weights, rows).unwrap();
    let mut out = be.zeros(&[rows, cfg.vocab_size]).unwrap();
    lm_head(be, &model.weights, &acts.hidden, 0, &mut head, &mut out).unwrap();
    be.flush().unwrap();
    be.read(&out).await.unwrap()
}

/// Every golden of one fixture on one backend: logits (and the long-sequence logits when
/// present) within 1e-4 max abs; greedy generation token for token when present.
async fn check_on<B: Backend>(be: &B, what: &str, files: &MemoryFiles, gold: &[u8]) {
    let mut model = Model::load(be, files, |_, _, _| {}).unwrap();
    let names: Vec<String> = safetensors::SafeTensors::deserialize(gold)
        .unwrap()
        .names()
        .into_iter()
        .map(String::from)
        .collect();
    for (ids_name, logits_name) in [("input_ids", "logits"), ("input_ids_long", "logits_long")] {
        if !names.iter().any(|n| n == ids_name) {
            continue;
        }
        let (_, ids, shape) = golden(gold, ids_name);
        let (want, _, _) = golden(gold, logits_name);
        let got = logits(be, &mut model, &ids, &shape).await;
        let label = format!("{what} on {}: {logits_name}", be.name());
        assert_close(&label, &got, &want, 1e-4, 0.0);
    }
    if names.iter().any(|n| n == "generate_prompt") {
        let (_, prompt, _) = golden(gold, "generate_prompt");
        let (_, want, _) = golden(gold, "generate_greedy");
        let mut streamed = Vec::new();
        let out = generate(
            be,
            &mut model,
            &prompt,
            want.len(),
            Sampling::default(),
            &[],
            |t| streamed.push(t),
        )
        .await
        .unwrap();
        assert_eq!(
            out.tokens,
            want,
            "{what} on {}: greedy generation",
            be.name()
        );
        assert_eq!(out.tokens, streamed);
        assert_eq!(out.stop, StopReason::Length);
    }
}

async fn check(what: &str, (files, gold): (MemoryFiles, &[u8])) {
    check_on(&CpuBackend, what, &files, gold).await;
    check_on(&gpu().await, what, &files, gold).await;
}

async fn llama() {
    check("llama", fixture!("llama")).await;
}
gpu_test!(llama_matches_transformers, llama);

async fn llama3() {
    check("llama3", fixture!("llama3")).await;
}
gpu_test!(llama3_rope_scaling_matches_transformers, llama3);

async fn mistral() {
    check("mistral", fixture!("mistral")).await;
    check("mistral_swa", fixture!("mistral_swa")).await;
}
gpu_test!(mistral_and_sliding_window_match_transformers, mistral);

async fn qwen2() {
    check("qwen2", fixture!("qwen2")).await;
}
gpu_test!(qwen2_biases_match_transformers, qwen2);

async fn phi3() {
    check("phi3", fixture!("phi3")).await;
}
gpu_test!(phi3_fused_longrope_matches_transformers, phi3);

async fn qwen3() {
    check("qwen3", fixture!("qwen3")).await;
}
gpu_test!(qwen3_qk_norms_match_transformers, qwen3);

async fn gemma3() {
    check("gemma3", fixture!("gemma3")).await;
}
gpu_test!(gemma3_matches_transformers, gemma3);

async fn half_precision() {
    check("llama_bf16", fixture!("llama_bf16")).await;
    check("llama_f16", fixture!("llama_f16")).await;
}
gpu_test!(bf16_and_f16_checkpoints_match_their_upcast, half_precision);

async fn sharded() {
    let files = fixture!(
        "llama_sharded",
        [
            "config.json",
            "model.safetensors.index.json",
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors"
        ]
    );
    check("llama_sharded", files).await;
}
gpu_test!(sharded_checkpoint_matches_transformers, sharded);
