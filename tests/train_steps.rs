//! Optimizer steps: the loss falls over repeated AdamW steps on both backends and the two
//! backends agree step by step; gradient accumulation over micro-batches equals the token-weighted
//! mean of the micro-batches' gradients; a non-finite step changes nothing; the learning-rate
//! schedules follow transformers' definitions. Runs natively and in browsers.
mod common;
use common::factors::{f32s, ids, install_factors};
use common::*;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::GpuTuning;
use svdtune::model::LinearKind;
use svdtune::model::trainables::{Key, NormKind};
use svdtune::model::weights::Linear;
use svdtune::model::{MemoryFiles, Model};
use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
use svdtune::train::step::{HostBatch, Trainer};

const CONFIG: &[u8] = include_bytes!("fixtures/models/qwen2/config.json");
const WEIGHTS: &[u8] = include_bytes!("fixtures/models/qwen2/model.safetensors");
const FACTORS: &[u8] = include_bytes!("fixtures/train/qwen2/factors.safetensors");
const GOLDEN: &[u8] = include_bytes!("fixtures/train/qwen2/golden.safetensors");

/// The golden batch `[2, 12]`, and a second one from the same ids with other weights.
struct Data {
    ids: Vec<u32>,
    targets: Vec<u32>,
    weights: Vec<f32>,
    weights2: Vec<f32>,
    positions: Vec<u32>,
    starts: Vec<u32>,
}

fn data() -> Data {
    let gold = safetensors::SafeTensors::deserialize(GOLDEN).unwrap();
    let weights = f32s(&gold, "weights");
    let weights2 = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| if i % 12 == 11 { 0.0 } else { 1.0 - w * 0.5 })
        .collect();
    Data {
        ids: ids(&gold, "input_ids"),
        targets: ids(&gold, "targets"),
        weights,
        weights2,
        positions: (0..24).map(|r| r % 12).collect(),
        starts: vec![0; 24],
    }
}

fn host<'a>(d: &'a Data, weights: &'a [f32]) -> HostBatch<'a> {
    HostBatch {
        input_ids: &d.ids,
        target_ids: &d.targets,
        loss_weights: weights,
        position_ids: &d.positions,
        window_start: &d.starts,
    }
}

fn schedule(lr: f32) -> Schedule {
    Schedule {
        peak_lr: lr,
        warmup_steps: 0,
        total_steps: 100,
        decay: Decay::Constant,
    }
}

async fn trainer<B: Backend>(be: &B, lr: f32) -> Trainer<B> {
    let mut files = MemoryFiles::new();
    files.insert("config.json", CONFIG.to_vec());
    files.insert("model.safetensors", WEIGHTS.to_vec());
    let mut model = Model::load(be, &files, |_, _, _| {}).unwrap();
    install_factors(be, &mut model, FACTORS);
    Trainer::new(be, model, 2, 12, true, schedule(lr), AdamWConfig::default()).unwrap()
}

async fn losses<B: Backend>(be: &B) -> Vec<f32> {
    let d = data();
    let mut t = trainer(be, 1e-2).await;
    let mut out = Vec::new();
    for _ in 0..8 {
        let r = t.step(be, &[host(&d, &d.weights)]).await.unwrap();
        assert!(r.applied && r.grad_norm.is_finite() && r.grad_norm > 0.0);
        out.push(r.loss);
    }
    out.push(t.eval(be, &[host(&d, &d.weights)]).await.unwrap());
    assert_eq!(t.opt.step, 8);
    out
}

async fn loss_falls() {
    let cpu = losses(&CpuBackend).await;
    let gpu = losses(&gpu().await).await;
    let golden_loss = f32s(
        &safetensors::SafeTensors::deserialize(GOLDEN).unwrap(),
        "loss",
    )[0];
    assert!(
        (cpu[0] - golden_loss).abs() < 1e-4,
        "{} vs {golden_loss}",
        cpu[0]
    );
    assert!(
        cpu[8] < cpu[0] - 0.3,
        "loss should fall clearly over 8 steps at lr 1e-2: {cpu:?}"
    );
    assert!(cpu.windows(2).all(|w| w[1] < w[0]), "{cpu:?}");
    assert_close("loss per step, GPU vs CPU", &gpu, &cpu, 2e-3, 1e-3);
}
gpu_test!(loss_falls_and_backends_agree, loss_falls);

/// With f16 workgroup tiles (GPU tuning `f16_tiles`, where the device has `shader-f16`) the
/// 8 steps' losses and the eval loss stay within 1e-3 of the CPU's f32 ones.
async fn f16_tiles_losses() {
    let g = gpu().await;
    let f16 = GpuTuning::parse("f16_tiles=1").unwrap();
    if !g.context().has_shader_f16() {
        assert!(
            g.set_tuning(f16).is_err(),
            "f16 tiles refused without shader-f16"
        );
        return;
    }
    g.set_tuning(f16).unwrap();
    let half = losses(&g).await;
    let cpu = losses(&CpuBackend).await;
    assert_close("loss per step, f16 tiles vs CPU", &half, &cpu, 1e-3, 1e-3);
}
gpu_test!(f16_tiles_losses_stay_within_1e3, f16_tiles_losses);

/// The GPU groups the trained tensors, their gradients and moments each in one buffer: a step
/// runs one AdamW dispatch and one gradient-norm pass for all of them, and every trained tensor
/// the model reads is the one the optimizer updated (its values after two steps equal the CPU's).
async fn grouped_update() {
    let d = data();
    let g = gpu().await;
    let mut tg = trainer(&g, 1e-2).await;
    let mut tc = trainer(&CpuBackend, 1e-2).await;
    let _ = g.take_dispatch_counts();
    for step in 0..2 {
        tg.step(&g, &[host(&d, &d.weights)]).await.unwrap();
        tc.step(&CpuBackend, &[host(&d, &d.weights)]).await.unwrap();
        let counts = g.take_dispatch_counts();
        let count = |name: &str| {
            counts
                .iter()
                .find(|(k, _)| *k == name)
                .map_or(0, |(_, n)| *n)
        };
        assert_eq!(count("adamw"), 1, "step {step}: {counts:?}");
        // One for the loss's total, one for the norm of every gradient.
        assert_eq!(count("reduce_partial"), 2, "step {step}: {counts:?}");
    }
    let trained = svdtune::model::trainables::trained(&tg.model.weights, true);
    let want = svdtune::model::trainables::trained(&tc.model.weights, true);
    assert!(trained.len() > 10);
    for ((key, t), (_, c)) in trained.into_iter().zip(want) {
        let got = g.read(t).await.unwrap();
        let start = CpuBackend.read(c).await.unwrap();
        assert_close(
            &format!("{key:?} after two steps"),
            &got,
            &start,
            1e-4,
            1e-3,
        );
    }
}
gpu_test!(
    gpu_step_updates_every_trained_tensor_at_once,
    grouped_update
);

/// dΣ of lm_head and d(final norm) after a step with lr 0 (nothing changes, the grads remain).
async fn grads_after<B: Backend>(be: &B, t: &mut Trainer<B>, micro: &[HostBatch<'_>]) -> Vec<f32> {
    t.step(be, micro).await.unwrap();
    let g = &t.bufs.grads;
    let mut out = Vec::new();
    for key in [
        Key::Linear {
            layer: None,
            kind: LinearKind::LmHead,
        },
        Key::Norm {
            layer: None,
            kind: NormKind::Final,
        },
        Key::Linear {
            layer: Some(0),
            kind: LinearKind::Q,
        },
    ] {
        out.extend(be.read(g.get(key).unwrap()).await.unwrap());
    }
    out
}

async fn accumulation() {
    let be = gpu().await;
    let d = data();
    let mut t = trainer(&be, 0.0).await;
    let (b1, b2) = (host(&d, &d.weights), host(&d, &d.weights2));
    let g1 = grads_after(&be, &mut t, &[b1]).await;
    let g2 = grads_after(&be, &mut t, &[b2]).await;
    let g12 = grads_after(&be, &mut t, &[b1, b2]).await;
    let w1: f32 = d.weights.iter().sum();
    let w2: f32 = d.weights2.iter().sum();
    let want: Vec<f32> = g1
        .iter()
        .zip(&g2)
        .map(|(a, b)| (w1 * a + w2 * b) / (w1 + w2))
        .collect();
    assert_close("accumulated gradient", &g12, &want, 1e-5, 1e-4);
}
gpu_test!(
    gradient_accumulation_is_the_token_weighted_mean,
    accumulation
);

fn lm_head_sigma<B: Backend>(t: &Trainer<B>) -> &B::Tensor {
    match &t.model.weights.lm_head {
        Linear::Svd(s) => &s.sigma,
        Linear::Dense { .. } => panic!("lm_head is not decomposed"),
    }
}

async fn non_finite() {
    let be = gpu().await;
    let d = data();
    let mut t = trainer(&be, 1e-2).await;
    let before = be.read(lm_head_sigma(&t)).await.unwrap();
    let mut broken = be.read(&t.model.weights.final_norm).await.unwrap();
    broken[3] = f32::NAN;
    be.write(&mut t.model.weights.final_norm, &broken).unwrap();
    let r = t.step(&be, &[host(&d, &d.weights)]).await.unwrap();
    assert!(!r.applied && !r.loss.is_finite());
    assert_eq!(t.opt.step, 0);
    let after = be.read(lm_head_sigma(&t)).await.unwrap();
    assert_eq!(before, after, "a non-finite step must not change Σ");
    let m = be.read(&t.opt.m[0]).await.unwrap();
    assert!(m.iter().all(|&x| x == 0.0), "nor the optimizer state");
}
gpu_test!(non_finite_step_changes_nothing, non_finite);

async fn schedules() {
    let s = |decay| Schedule {
        peak_lr: 1e-2,
        warmup_steps: 10,
        total_steps: 110,
        decay,
    };
    let close = |a: f32, b: f32| assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    for decay in [Decay::Cosine, Decay::Linear, Decay::Constant] {
        close(s(decay).lr(0), 0.0);
        close(s(decay).lr(5), 5e-3);
        close(s(decay).lr(10), 1e-2);
    }
    close(s(Decay::Cosine).lr(60), 5e-3);
    close(s(Decay::Cosine).lr(110), 0.0);
    close(s(Decay::Linear).lr(35), 7.5e-3);
    close(s(Decay::Linear).lr(200), 0.0);
    close(s(Decay::Constant).lr(100), 1e-2);
    assert!("warmup".parse::<Decay>().is_err());
}
gpu_test!(schedules_follow_transformers, schedules);

async fn resume() {
    use svdtune::train::checkpoint::{RunState, load, save};
    let be = gpu().await;
    let d = data();
    let batch = host(&d, &d.weights);
    let mut a = trainer(&be, 1e-2).await;
    for _ in 0..3 {
        a.step(&be, &[batch]).await.unwrap();
    }
    let state = RunState {
        step: 0,
        steps_done: 3,
        epoch: 1,
        batch_in_epoch: 2,
        seed: 42,
        options: serde_json::json!({"lr": 1e-2}),
        model: String::new(),
    };
    let bytes = save(&be, &mut a, &state).await.unwrap();
    let mut continued = Vec::new();
    for _ in 0..3 {
        continued.push(a.step(&be, &[batch]).await.unwrap().loss);
    }

    let mut b = trainer(&be, 1e-2).await;
    let before = be.read(lm_head_sigma(&b)).await.unwrap();
    let err = load(&be, &mut b, "ckpt.safetensors", &bytes[..bytes.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ckpt.safetensors") && err.contains("incomplete"),
        "{err}"
    );
    assert_eq!(
        before,
        be.read(lm_head_sigma(&b)).await.unwrap(),
        "refused load changed Σ"
    );
    // One flipped bit in the tensor data (the file's tail): refused by the checksum.
    let mut flipped = bytes.clone();
    let at = flipped.len() - 5;
    flipped[at] ^= 0x40;
    let err = load(&be, &mut b, "ckpt.safetensors", &flipped)
        .unwrap_err()
        .to_string();
    assert!(err.contains("checksum"), "{err}");
    let restored = load(&be, &mut b, "ckpt.safetensors", &bytes).unwrap();
    assert_eq!(restored.steps_done, 3);
    assert_eq!(
        (restored.epoch, restored.batch_in_epoch, restored.seed),
        (1, 2, 42)
    );
    assert_eq!(b.opt.step, 3);
    let mut resumed = Vec::new();
    for _ in 0..3 {
        resumed.push(b.step(&be, &[batch]).await.unwrap().loss);
    }
    assert_eq!(resumed, continued, "a resumed run continues exactly");

    let mut frozen_norms = {
        let mut files = MemoryFiles::new();
        files.insert("config.json", CONFIG.to_vec());
        files.insert("model.safetensors", WEIGHTS.to_vec());
        let mut model = Model::load(&be, &files, |_, _, _| {}).unwrap();
        install_factors(&be, &mut model, FACTORS);
        Trainer::new(
            &be,
            model,
            2,
            12,
            false,
            schedule(1e-2),
            AdamWConfig::default(),
        )
        .unwrap()
    };
    let err = load(&be, &mut frozen_norms, "ckpt.safetensors", &bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("norm setting"), "{err}");
}
gpu_test!(checkpoint_resumes_exactly_and_refuses_damage, resume);
