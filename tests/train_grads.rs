//! The loss and the backward pass against PyTorch autograd: for tiny checkpoints (tied llama,
//! qwen2 with biases, phi3 with fused projections and longrope, mistral with a sliding window,
//! qwen3 with per-head q/k norms, gemma3 with `1 + w` norms, output norms, GeGLU, scaled
//! embeddings and a sliding layer beside a global one)
//! whose linear layers are factored as `x W'ᵀ + ((x V) ⊙ Σ) Uᵀ + b` with the same `U`, `V`, `W'`,
//! `Σ` as the golden script (`tests/fixtures/train/make_grad_goldens.py`; installed as the delta
//! form with `W = W'` and `Σ₀ = 0`, the same ops), the masked mean
//! cross-entropy, the logits, dΣ of every layer and d(norm weight) of every norm match within
//! 1e-4, on both backends, natively and in browsers.
mod common;
use common::factors::{f32s, ids, install_factors};
use common::*;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::acts::Activations;
use svdtune::model::forward::{Batch, forward};
use svdtune::model::layout;
use svdtune::model::trainables::Key;
use svdtune::model::{MemoryFiles, Model};
use svdtune::train::backward::{LossHead, backward, loss_and_head_backward};
use svdtune::train::grads::{BackScratch, Grads};

struct Fixture {
    files: MemoryFiles,
    factors: &'static [u8],
    golden: &'static [u8],
}

macro_rules! fixture {
    ($name:literal) => {{
        let mut files = MemoryFiles::new();
        for (f, b) in [
            (
                "config.json",
                &include_bytes!(concat!("fixtures/models/", $name, "/config.json"))[..],
            ),
            (
                "model.safetensors",
                &include_bytes!(concat!("fixtures/models/", $name, "/model.safetensors"))[..],
            ),
        ] {
            files.insert(f, b.to_vec());
        }
        Fixture {
            files,
            factors: include_bytes!(concat!("fixtures/train/", $name, "/factors.safetensors")),
            golden: include_bytes!(concat!("fixtures/train/", $name, "/golden.safetensors")),
        }
    }};
}

async fn check_on<B: Backend>(be: &B, what: &str, fx: &Fixture) {
    let mut model = Model::load(be, &fx.files, |_, _, _| {}).unwrap();
    install_factors(be, &mut model, fx.factors);
    let gold = safetensors::SafeTensors::deserialize(fx.golden).unwrap();
    let input_ids = ids(&gold, "input_ids");
    let targets = ids(&gold, "targets");
    let weights = f32s(&gold, "weights");
    let (batch, seq) = (2, 12);
    let rows = batch * seq;
    let cfg = model.cfg.clone();
    let input = Batch::new(be, &cfg, &input_ids, None, None, batch, seq).unwrap();
    let mut acts = Activations::new(be, &cfg, &model.weights, rows, true).unwrap();
    forward(be, &cfg, &model.weights, &mut model.rope, &input, &mut acts).unwrap();

    let mut grads = Grads::new(be, &model.weights, true, rows).unwrap();
    let mut bs = BackScratch::new(be, &cfg, &model.weights, rows).unwrap();
    // Chunks of 8 rows: three chunks exercise the chunked loss.
    let mut lh = LossHead::new(be, &cfg, &model.weights, rows, 8).unwrap();
    let targets_dev = be.ids(&targets).unwrap();
    let weights_dev = be.tensor(&weights, &[rows]).unwrap();
    let scale = 1.0 / weights.iter().sum::<f32>();
    loss_and_head_backward(
        be,
        &model.weights,
        &acts,
        &mut lh,
        &targets_dev,
        &weights_dev,
        scale,
        Some((&mut grads, &mut bs.dxn)),
    )
    .unwrap();
    backward(
        be,
        &cfg,
        &model.weights,
        &mut model.rope,
        &input,
        &mut acts,
        &mut bs,
        &mut grads,
    )
    .unwrap();
    be.flush().unwrap();
    let label = |x: &str| format!("{what} on {}: {x}", be.name());
    let loss = be.read(&lh.total).await.unwrap();
    assert_close(&label("loss"), &loss, &f32s(&gold, "loss"), 1e-5, 1e-5);

    // Every gradient by its registry name: dΣ of each linear, d(weight) of each norm.
    let specs = layout::linear_layers(&cfg);
    let mut sigmas = 0;
    for (key, g) in grads.keys().iter().zip(grads.all()) {
        let golden = match key {
            Key::Linear { .. } => {
                sigmas += 1;
                format!("{}.sigma.grad", key.name())
            }
            Key::Norm { .. } => format!("{}.grad", key.name()),
        };
        let got = be.read(g).await.unwrap();
        let want = f32s(&gold, &golden);
        assert_close(&label(&golden), &got, &want, 1e-4, 1e-3);
    }
    assert_eq!(sigmas, specs.len());
    assert_eq!(
        grads.keys().len(),
        specs.len() + layout::norm_tensors(&cfg).len()
    );
}

async fn check(what: &str, fx: Fixture) {
    check_on(&CpuBackend, what, &fx).await;
    check_on(&gpu().await, what, &fx).await;
}

async fn llama() {
    check("llama (tied)", fixture!("llama")).await;
}
gpu_test!(llama_gradients_match_pytorch, llama);

async fn qwen2() {
    check("qwen2 (biases)", fixture!("qwen2")).await;
}
gpu_test!(qwen2_gradients_match_pytorch, qwen2);

async fn phi3() {
    check("phi3 (fused)", fixture!("phi3")).await;
}
gpu_test!(phi3_gradients_match_pytorch, phi3);

async fn mistral_swa() {
    check("mistral (sliding window)", fixture!("mistral_swa")).await;
}
gpu_test!(mistral_sliding_window_gradients_match_pytorch, mistral_swa);

async fn qwen3() {
    check("qwen3 (q/k norms)", fixture!("qwen3")).await;
}
gpu_test!(qwen3_gradients_match_pytorch, qwen3);

async fn gemma3() {
    check("gemma3", fixture!("gemma3")).await;
}
gpu_test!(gemma3_gradients_match_pytorch, gemma3);

/// Logits `[T, V]` of the golden batch, with activations for inference or for training.
async fn logits_with<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    ids: &[u32],
    training: bool,
) -> Vec<f32> {
    use svdtune::model::acts::HeadActs;
    use svdtune::model::forward::lm_head;
    let cfg = model.cfg.clone();
    let input = Batch::new(be, &cfg, ids, None, None, 2, 12).unwrap();
    let mut acts = Activations::new(be, &cfg, &model.weights, 24, training).unwrap();
    forward(be, &cfg, &model.weights, &mut model.rope, &input, &mut acts).unwrap();
    let mut head = HeadActs::new(be, &cfg, &model.weights, 24).unwrap();
    let mut out = be.zeros(&[24, cfg.vocab_size]).unwrap();
    lm_head(be, &model.weights, &acts.hidden, 0, &mut head, &mut out).unwrap();
    be.flush().unwrap();
    be.read(&out).await.unwrap()
}

/// Layer 0 dense, the rest decomposed: inference (one shared activation set) gives the same
/// logits as training mode, and they differ from the all-dense model only through the Σ change.
async fn mixed_layers() {
    let be = CpuBackend;
    let fx = fixture!("llama");
    let gold = safetensors::SafeTensors::deserialize(fx.golden).unwrap();
    let input_ids = ids(&gold, "input_ids");
    let mut model = Model::load(&be, &fx.files, |_, _, _| {}).unwrap();
    common::factors::install_factors_where(&be, &mut model, fx.factors, |m| {
        !m.starts_with("model.layers.0.")
    });
    let inference = logits_with(&be, &mut model, &input_ids, false).await;
    let training = logits_with(&be, &mut model, &input_ids, true).await;
    assert_close(
        "mixed layers: inference vs training activations",
        &inference,
        &training,
        1e-6,
        0.0,
    );
}
gpu_test!(
    mixed_dense_and_decomposed_layers_run_in_inference,
    mixed_layers
);

/// Five AdamW steps (lr 1e-2, clipping to 1) on the golden batch give PyTorch's losses.
async fn trajectory_on<B: Backend>(be: &B, what: &str, fx: &Fixture) {
    use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
    use svdtune::train::step::{HostBatch, Trainer};
    let mut model = Model::load(be, &fx.files, |_, _, _| {}).unwrap();
    install_factors(be, &mut model, fx.factors);
    let gold = safetensors::SafeTensors::deserialize(fx.golden).unwrap();
    let (input_ids, targets) = (ids(&gold, "input_ids"), ids(&gold, "targets"));
    let weights = f32s(&gold, "weights");
    let positions: Vec<u32> = (0..24).map(|r| r % 12).collect();
    let starts = vec![0u32; 24];
    let batch = HostBatch {
        input_ids: &input_ids,
        target_ids: &targets,
        loss_weights: &weights,
        position_ids: &positions,
        window_start: &starts,
    };
    let schedule = Schedule {
        peak_lr: 1e-2,
        warmup_steps: 0,
        total_steps: 5,
        decay: Decay::Constant,
    };
    let mut t = Trainer::new(be, model, 2, 12, true, schedule, AdamWConfig::default()).unwrap();
    let mut losses = Vec::new();
    for _ in 0..5 {
        losses.push(t.step(be, &[batch]).await.unwrap().loss);
    }
    let want = f32s(&gold, "trajectory_loss");
    assert_close(
        &format!("{what} on {}: 5-step losses", be.name()),
        &losses,
        &want,
        1e-4,
        1e-5,
    );
}

async fn trajectories() {
    let g = gpu().await;
    for (what, fx) in [
        ("llama", fixture!("llama")),
        ("qwen2", fixture!("qwen2")),
        ("phi3", fixture!("phi3")),
        ("mistral_swa", fixture!("mistral_swa")),
        ("qwen3", fixture!("qwen3")),
        ("gemma3", fixture!("gemma3")),
    ] {
        trajectory_on(&CpuBackend, what, &fx).await;
        trajectory_on(&g, what, &fx).await;
    }
}
gpu_test!(five_step_loss_trajectories_match_pytorch, trajectories);
