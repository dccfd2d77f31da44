//! The GPU backend's caches stop growing: once a training run has done its first steps (and its
//! first eval), later steps and evals create no bind group, pipeline or buffer, and the live
//! bytes stay equal, although the learning rate, the bias corrections and the loss scale change
//! every step. Values rewritten in place still reach the kernels that were recorded with them:
//! the GPU run matches the CPU run step by step, and two AdamW or cross-entropy calls recorded
//! on the same buffers in one submit with different values match the CPU. Needs an adapter
//! (lavapipe natively): a missing one fails the test.
mod common;
use common::factors::{f32s, ids, install_factors};
use common::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::{GpuBackend, GpuCacheStats};
use svdtune::backend::{AdamW, Backend};
use svdtune::model::{MemoryFiles, Model};
use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
use svdtune::train::step::{HostBatch, Trainer};

const CONFIG: &[u8] = include_bytes!("fixtures/models/qwen2/config.json");
const WEIGHTS: &[u8] = include_bytes!("fixtures/models/qwen2/model.safetensors");
const FACTORS: &[u8] = include_bytes!("fixtures/train/qwen2/factors.safetensors");
const GOLDEN: &[u8] = include_bytes!("fixtures/train/qwen2/golden.safetensors");

/// The golden batch `[2, 12]` with two sets of loss weights (so the loss scale changes).
struct Data {
    ids: Vec<u32>,
    targets: Vec<u32>,
    weights: [Vec<f32>; 2],
    positions: Vec<u32>,
    starts: Vec<u32>,
}

fn data() -> Data {
    let gold = safetensors::SafeTensors::deserialize(GOLDEN).unwrap();
    let w = f32s(&gold, "weights");
    let w2 = w
        .iter()
        .enumerate()
        .map(|(i, &x)| if i % 5 == 1 { 0.0 } else { 0.5 + x })
        .collect();
    Data {
        ids: ids(&gold, "input_ids"),
        targets: ids(&gold, "targets"),
        weights: [w, w2],
        positions: (0..24).map(|r| r % 12).collect(),
        starts: vec![0; 24],
    }
}

fn host(d: &Data, which: usize) -> HostBatch<'_> {
    HostBatch {
        input_ids: &d.ids,
        target_ids: &d.targets,
        loss_weights: &d.weights[which],
        position_ids: &d.positions,
        window_start: &d.starts,
    }
}

async fn trainer<B: Backend>(be: &B) -> Trainer<B> {
    let mut files = MemoryFiles::new();
    files.insert("config.json", CONFIG.to_vec());
    files.insert("model.safetensors", WEIGHTS.to_vec());
    let mut model = Model::load(be, &files, |_, _, _| {}).unwrap();
    install_factors(be, &mut model, FACTORS);
    // Warmup then cosine decay: the learning rate differs at every step.
    let schedule = Schedule {
        peak_lr: 1e-2,
        warmup_steps: 3,
        total_steps: 14,
        decay: Decay::Cosine,
    };
    Trainer::new(be, model, 2, 12, true, schedule, AdamWConfig::default()).unwrap()
}

const STEPS: usize = 12;

/// The micro-batches of step `i` (1-based): one or two, with alternating loss weights.
fn micro(d: &Data, i: usize) -> Vec<HostBatch<'_>> {
    if i % 3 == 2 {
        vec![host(d, 0), host(d, 1)]
    } else {
        vec![host(d, i % 2)]
    }
}

/// Losses of every step and eval of the run; `after` sees each step (`false`) and eval (`true`).
async fn run<B: Backend>(be: &B, mut after: impl FnMut(usize, bool)) -> Vec<f32> {
    let d = data();
    let mut t = trainer(be).await;
    let mut out = Vec::new();
    for i in 1..=STEPS {
        let r = t.step(be, &micro(&d, i)).await.unwrap();
        assert!(r.applied, "step {i}");
        out.push(r.loss);
        after(i, false);
        if i % 3 == 2 {
            let which = (i / 3) % 2;
            out.push(t.eval(be, &[host(&d, which)]).await.unwrap());
            after(i, true);
        }
    }
    out
}

async fn steady_training() {
    let g = gpu().await;
    let mut seen: Option<GpuCacheStats> = None;
    let mut checked = 0;
    let gpu_losses = run(&g, |i, eval| {
        let now = g.cache_stats();
        // Steps 1 and 2 and the first eval (after step 2) may create what they need.
        if i < 2 || (i == 2 && !eval) {
            return;
        }
        match seen {
            None => seen = Some(now),
            Some(first) => {
                let what = if eval { "eval" } else { "step" };
                assert_eq!(
                    now, first,
                    "after {what} {i}, compared with after step 2's eval"
                );
                checked += 1;
            }
        }
    })
    .await;
    assert_eq!(
        checked,
        STEPS - 2 + 3,
        "steps 3..=12 and evals 2..=4 are checked"
    );
    let s = seen.unwrap();
    assert!(s.bind_groups > 0 && s.pipelines > 0 && s.buffers > s.bind_groups);
    // Every cached bind group owns one uniform, which the live figures count.
    assert!(s.live_bytes >= 16 * s.bind_groups as u64);

    let cpu_losses = run(&CpuBackend, |_, _| {}).await;
    assert_close(
        "losses of steps and evals, GPU vs CPU",
        &gpu_losses,
        &cpu_losses,
        2e-3,
        1e-3,
    );
}
gpu_test!(training_creates_nothing_after_step_two, steady_training);

fn hp(step: u32, lr: f32) -> AdamW {
    AdamW {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        step,
        max_grad_norm: 1.0,
    }
}

/// Two AdamW steps with different rates on the same buffers, recorded before one submit.
async fn adamw_twice_in_one_submit() {
    let (c, g) = (CpuBackend, gpu().await);
    let n = 300;
    let (mut pc, mut pg) = both_rand(&c, &g, &[n], 1);
    let (gc, gg) = both_rand(&c, &g, &[n], 2);
    let (mut mc, mut mg) = both(&c, &g, &vec![0.0; n], &[n]);
    let (mut vc, mut vg) = both(&c, &g, &vec![0.0; n], &[n]);
    let (nc, ng) = both(&c, &g, &[3.0], &[1]);
    let steps = [hp(1, 1e-2), hp(2, 4e-3), hp(3, 7e-2)];
    for h in steps {
        c.adamw(&mut pc, &gc, &mut mc, &mut vc, &nc, h).unwrap();
    }
    g.adamw(&mut pg, &gg, &mut mg, &mut vg, &ng, steps[0])
        .unwrap();
    g.flush().unwrap();
    let first = g.cache_stats();
    g.adamw(&mut pg, &gg, &mut mg, &mut vg, &ng, steps[1])
        .unwrap();
    g.adamw(&mut pg, &gg, &mut mg, &mut vg, &ng, steps[2])
        .unwrap();
    assert_same("param after 3 steps", &g, &pg, &pc, 1e-6, 1e-5).await;
    assert_same("m after 3 steps", &g, &mg, &mc, 1e-6, 1e-5).await;
    assert_same("v after 3 steps", &g, &vg, &vc, 1e-7, 1e-5).await;
    let now = g.cache_stats();
    assert_eq!(now.bind_groups_created, first.bind_groups_created);
    assert_eq!(now.bind_groups, first.bind_groups);
    assert_eq!(now.pipelines_created, first.pipelines_created);
}
gpu_test!(
    adamw_rates_change_in_place_and_match_cpu,
    adamw_twice_in_one_submit
);

/// Cross-entropy with two loss scales on the same buffers, recorded before one submit (the
/// second call works on the first one's dlogits, on both backends).
async fn cross_entropy_twice_in_one_submit() {
    let (c, g) = (CpuBackend, gpu().await);
    let (rows, vocab) = (6, 40);
    let (mut lc, mut lg) = both_rand(&c, &g, &[rows, vocab], 5);
    let targets: Vec<u32> = (0..rows as u32).map(|r| (r * 7) % vocab as u32).collect();
    let (tc, tg) = (c.ids(&targets).unwrap(), g.ids(&targets).unwrap());
    let (wc, wg) = both(&c, &g, &rand_range(rows, 6, 0.0, 1.0), &[rows]);
    let (mut oc, mut og) = both(&c, &g, &vec![0.0; rows], &[rows]);
    let scales = [0.25, 3.0];
    let mut losses_cpu = Vec::new();
    for s in scales {
        c.cross_entropy(&mut lc, &tc, &wc, 0, s, &mut oc).unwrap();
        losses_cpu.extend_from_slice(&c.read(&oc).await.unwrap());
    }
    let mut first_losses = g.zeros(&[rows]).unwrap();
    g.cross_entropy(&mut lg, &tg, &wg, 0, scales[0], &mut og)
        .unwrap();
    g.copy_rows(&og, 0, &mut first_losses, 0, rows).unwrap();
    g.cross_entropy(&mut lg, &tg, &wg, 0, scales[1], &mut og)
        .unwrap();
    let mut losses_gpu = g.read(&first_losses).await.unwrap();
    losses_gpu.extend_from_slice(&g.read(&og).await.unwrap());
    assert_close("losses of both calls", &losses_gpu, &losses_cpu, 1e-5, 1e-4);
    assert_same("dlogits after both calls", &g, &lg, &lc, 1e-6, 1e-4).await;
    let cached = g.cached_bind_groups();
    g.cross_entropy(&mut lg, &tg, &wg, 0, 0.5, &mut og).unwrap();
    g.flush().unwrap();
    assert_eq!(
        g.cached_bind_groups(),
        cached,
        "a new scale reuses the bind group"
    );
}
gpu_test!(
    loss_scales_change_in_place_and_match_cpu,
    cross_entropy_twice_in_one_submit
);

/// Uniforms and readback buffers are counted, and freed from the count with their tensors.
async fn every_buffer_counted() {
    let g: GpuBackend = gpu().await;
    let before = g.cache_stats();
    let mut x = g.zeros(&[64]).unwrap();
    g.fill(&mut x, 2.0).unwrap();
    g.read(&x).await.unwrap();
    let after = g.cache_stats();
    // The tensor (256 bytes), the fill's uniform (16 bytes) and the kept readback buffer.
    assert_eq!(after.buffers, before.buffers + 3, "{after}");
    assert_eq!(
        after.live_bytes,
        before.live_bytes + 256 + 16 + 256,
        "{after}"
    );
    assert_eq!(after.bind_groups, before.bind_groups + 1);
    g.read(&x).await.unwrap();
    assert_eq!(g.cache_stats(), after, "a second read creates nothing");
    drop(x);
    g.flush().unwrap();
    let freed = g.cache_stats();
    assert_eq!(freed.bind_groups, before.bind_groups, "{freed}");
    assert_eq!(
        freed.buffers,
        before.buffers + 1,
        "only the readback buffer stays"
    );
    assert_eq!(freed.live_bytes, after.live_bytes - 256 - 16);
}
gpu_test!(
    uniforms_and_readback_buffers_are_counted,
    every_buffer_counted
);
