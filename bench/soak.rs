//! Soak: memory over a long run. Trains the tiny qwen2 test model (2 layers, hidden 32, vocab
//! 128; every linear layer decomposed) for 2,000 steps with a learning rate that changes every
//! step and loss weights that change every step, evaluating every 200 steps, and prints every
//! 200 steps what the backend holds (GPU: live bind groups, pipelines, buffers and bytes, and
//! how many of each were ever created) and the process RSS (`/proc/self/statm`). Flat columns
//! mean nothing grows with the step count.
//! `cargo bench --bench soak [-- --backend cpu|gpu] [--steps N]` (default: GPU, 2,000 steps;
//! `SOAK_BACKEND` also picks the backend).
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let backend = value("--backend")
        .or_else(|| std::env::var("SOAK_BACKEND").ok())
        .unwrap_or_else(|| "gpu".into());
    let steps = value("--steps").map_or(2000, |s| s.parse().expect("--steps N"));
    match backend.as_str() {
        "gpu" => {
            let g = pollster::block_on(svdtune::backend::gpu::GpuBackend::new())
                .expect("the GPU soak needs an adapter (lavapipe natively)");
            pollster::block_on(soak::run(&g, steps, || Some(g.cache_stats())));
        }
        "cpu" => pollster::block_on(soak::run(&svdtune::backend::cpu::CpuBackend, steps, || None)),
        other => panic!("--backend cpu or gpu, not {other}"),
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod soak {
    use std::time::Instant;
    use svdtune::backend::Backend;
    use svdtune::backend::gpu::GpuCacheStats;
    use svdtune::model::{MemoryFiles, Model};
    use svdtune::svd::SvdPlan;
    use svdtune::svd::decompose::{DecomposeOptions, decompose_model};
    use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
    use svdtune::train::step::{HostBatch, Trainer};

    const CONFIG: &[u8] = include_bytes!("../tests/fixtures/models/qwen2/config.json");
    const WEIGHTS: &[u8] = include_bytes!("../tests/fixtures/models/qwen2/model.safetensors");
    const BATCH: usize = 2;
    const SEQ: usize = 16;
    const EVERY: usize = 200;

    /// Resident set size of this process, bytes (Linux `/proc/self/statm`, second field).
    fn rss() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(pages * page.max(1) as u64)
    }

    fn tokens(n: usize, seed: u64, vocab: usize) -> Vec<u32> {
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % vocab as u64) as u32
            })
            .collect()
    }

    pub async fn run<B: Backend>(
        be: &B,
        steps: usize,
        stats: impl Fn() -> Option<GpuCacheStats>,
    ) {
        let mut files = MemoryFiles::new();
        files.insert("config.json", CONFIG.to_vec());
        files.insert("model.safetensors", WEIGHTS.to_vec());
        let mut model = Model::load(be, &files, |_, _, _| {}).expect("load");
        let cfg = model.cfg.clone();
        let plan = SvdPlan::new(&cfg, 0.5, true).expect("plan");
        decompose_model(
            be,
            &cfg,
            &mut model.weights,
            &plan,
            &DecomposeOptions::default(),
            |_, _, _| {},
        )
        .await
        .expect("decompose");
        let schedule = Schedule {
            peak_lr: 1e-2,
            warmup_steps: steps / 20,
            total_steps: steps,
            decay: Decay::Cosine,
        };
        let mut t = Trainer::new(be, model, BATCH, SEQ, true, schedule, AdamWConfig::default())
            .expect("trainer");
        let rows = BATCH * SEQ;
        let positions: Vec<u32> = (0..rows).map(|r| (r % SEQ) as u32).collect();
        let starts = vec![0u32; rows];
        println!("backend: {}", be.name());
        println!(
            "{:>6} {:>8} {:>8} {:>8} {:>9} {:>12} {:>10} {:>10} {:>9}",
            "step",
            "loss",
            "eval",
            "bind_grp",
            "pipelines",
            "buffers",
            "gpu_bytes",
            "created",
            "rss_MiB"
        );
        let started = Instant::now();
        for i in 1..=steps {
            // A different batch and different loss weights (so a different loss scale) each step.
            let ids = tokens(rows + 1, i as u64, cfg.vocab_size);
            let weights: Vec<f32> = (0..rows)
                .map(|r| if (r + i) % 7 == 0 { 0.0 } else { 1.0 })
                .collect();
            let batch = HostBatch {
                input_ids: &ids[..rows],
                target_ids: &ids[1..],
                loss_weights: &weights,
                position_ids: &positions,
                window_start: &starts,
            };
            let report = t.step(be, &[batch]).await.expect("step");
            if i % EVERY == 0 || i == 1 {
                let eval = t.eval(be, &[batch]).await.expect("eval");
                let rss = rss().map_or("n/a".into(), |b| format!("{:.1}", b as f64 / 1048576.0));
                match stats() {
                    Some(s) => println!(
                        "{i:>6} {:>8.4} {eval:>8.4} {:>8} {:>9} {:>12} {:>10} {:>10} {rss:>9}",
                        report.loss,
                        s.bind_groups,
                        s.pipelines,
                        s.buffers,
                        s.live_bytes,
                        format!(
                            "{}/{}/{}",
                            s.bind_groups_created, s.pipelines_created, s.buffers_created
                        ),
                    ),
                    None => println!(
                        "{i:>6} {:>8.4} {eval:>8.4} {:>8} {:>9} {:>12} {:>10} {:>10} {rss:>9}",
                        report.loss, "-", "-", "-", "-", "-"
                    ),
                }
            }
        }
        println!(
            "{steps} steps in {:.1} s ('created' = bind groups/pipelines/buffers created so far)",
            started.elapsed().as_secs_f64()
        );
    }
}
