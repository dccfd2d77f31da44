//! Activation recomputation: a trainer that keeps only each decoder layer's input and recomputes
//! the layer in backward gives the same losses, gradient norms, dΣ of every layer and norm
//! gradients as the one that stores every layer's activations, bit for bit (the same ops on the
//! same values), over several AdamW steps, on every family (tied llama, qwen2 with biases, phi3
//! with fused projections, mistral with a sliding window, qwen3 with q/k norms, gemma3 with its
//! output norms and local/global layers) and both backends; on the GPU it holds
//! fewer bytes.
mod common;
use common::factors::{GoldenBatch, install_factors};
use common::*;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::{MemoryFiles, Model};
use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
use svdtune::train::step::Trainer;

struct Fixture {
    config: &'static [u8],
    weights: &'static [u8],
    factors: &'static [u8],
    golden: &'static [u8],
}

macro_rules! fixture {
    ($name:literal) => {
        Fixture {
            config: include_bytes!(concat!("fixtures/models/", $name, "/config.json")),
            weights: include_bytes!(concat!("fixtures/models/", $name, "/model.safetensors")),
            factors: include_bytes!(concat!("fixtures/train/", $name, "/factors.safetensors")),
            golden: include_bytes!(concat!("fixtures/train/", $name, "/golden.safetensors")),
        }
    };
}

fn trainer<B: Backend>(be: &B, fx: &Fixture, recompute: bool) -> Trainer<B> {
    let mut files = MemoryFiles::new();
    files.insert("config.json", fx.config.to_vec());
    files.insert("model.safetensors", fx.weights.to_vec());
    let mut model = Model::load(be, &files, |_, _, _| {}).unwrap();
    install_factors(be, &mut model, fx.factors);
    let schedule = Schedule {
        peak_lr: 1e-2,
        warmup_steps: 0,
        total_steps: 100,
        decay: Decay::Constant,
    };
    let adamw = AdamWConfig::default();
    Trainer::with_recompute(be, model, 2, 12, true, recompute, schedule, adamw).unwrap()
}

/// Per step: the loss, the gradient norm and every gradient, as bits.
async fn run<B: Backend>(be: &B, fx: &Fixture, recompute: bool) -> Vec<Vec<u32>> {
    let data = GoldenBatch::new(fx.golden);
    let mut t = trainer(be, fx, recompute);
    let mut out = Vec::new();
    for _ in 0..3 {
        let r = t.step(be, &[data.host()]).await.unwrap();
        assert!(r.applied);
        let mut bits = vec![r.loss.to_bits(), r.grad_norm.to_bits()];
        for g in t.bufs.grads.all() {
            bits.extend(be.read(g).await.unwrap().iter().map(|x| x.to_bits()));
        }
        out.push(bits);
    }
    out
}

async fn same_on<B: Backend>(be: &B, what: &str, fx: &Fixture) {
    let stored = run(be, fx, false).await;
    let recomputed = run(be, fx, true).await;
    for (step, (a, b)) in stored.iter().zip(&recomputed).enumerate() {
        assert_eq!(a.len(), b.len());
        let diff = a.iter().zip(b).position(|(x, y)| x != y);
        assert!(
            diff.is_none(),
            "{what} on {}, step {}: value {} differs: stored {} vs recomputed {}",
            be.name(),
            step + 1,
            diff.unwrap_or(0),
            f32::from_bits(a[diff.unwrap_or(0)]),
            f32::from_bits(b[diff.unwrap_or(0)])
        );
    }
}

async fn check(what: &str, fx: Fixture) {
    same_on(&CpuBackend, what, &fx).await;
    let gpu = gpu().await;
    same_on(&gpu, what, &fx).await;
    // One layer's activations instead of every layer's.
    let stored = trainer(&gpu, &fx, false);
    let stored_bytes = gpu.memory().live_bytes;
    drop(stored);
    let recomputed = trainer(&gpu, &fx, true);
    let recomputed_bytes = gpu.memory().live_bytes;
    drop(recomputed);
    assert!(
        recomputed_bytes < stored_bytes,
        "{what}: {recomputed_bytes} bytes recomputing, {stored_bytes} storing"
    );
}

async fn llama() {
    check("llama (tied)", fixture!("llama")).await;
}
gpu_test!(llama_recomputed_gradients_equal_stored, llama);

async fn qwen2() {
    check("qwen2 (biases)", fixture!("qwen2")).await;
}
gpu_test!(qwen2_recomputed_gradients_equal_stored, qwen2);

async fn phi3() {
    check("phi3 (fused)", fixture!("phi3")).await;
}
gpu_test!(phi3_recomputed_gradients_equal_stored, phi3);

async fn mistral_swa() {
    check("mistral (sliding window)", fixture!("mistral_swa")).await;
}
gpu_test!(mistral_recomputed_gradients_equal_stored, mistral_swa);

async fn qwen3() {
    check("qwen3 (q/k norms)", fixture!("qwen3")).await;
}
gpu_test!(qwen3_recomputed_gradients_equal_stored, qwen3);

async fn gemma3() {
    check(
        "gemma3 (output norms, GeGLU, local and global layers)",
        fixture!("gemma3"),
    )
    .await;
}
gpu_test!(gemma3_recomputed_gradients_equal_stored, gemma3);
