//! Soak: memory over a long run. Trains the tiny qwen2 test model (2 layers, hidden 32, vocab
//! 128; every linear layer decomposed) for 2,000 steps with a learning rate that changes every
//! step and loss weights that change every step, evaluating every 200 steps, and prints every
//! 200 steps what the backend holds (GPU: live bind groups, pipelines, buffers and bytes, and
//! how many of each were ever created), the process RSS (`/proc/self/statm`), the bytes the Rust
//! code holds on the heap (a counting allocator) and, with glibc, the bytes malloc has handed
//! out to everyone (C libraries and drivers included). Flat columns mean nothing grows with the
//! step count; RSS and malloc growing while the Rust heap stays flat points at a C library (on
//! Mesa 22.3's lavapipe: it compiles a new shader variant with the uniforms inlined at every
//! bind of a pipeline whose loops read them, and never frees it).
//! `cargo bench --bench soak [-- --backend cpu|gpu] [--steps N] [--every N]` (default: GPU,
//! 2,000 steps, a line every 200; `SOAK_BACKEND` also picks the backend). On Mesa 22.3's
//! lavapipe the process grows by about 15 MiB per step in the driver, so give it fewer steps
//! there (bench/README.md, "Soak: memory over 2,000 steps").
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
    // `cargo test --all-targets` runs benchmarks without `--bench`: then a 4-step smoke run, so the
    // test command checks that the soak still runs without taking minutes (or lavapipe's memory).
    let full = args.iter().any(|a| a == "--bench");
    let steps = value("--steps").map_or(if full { 2000 } else { 4 }, |s| {
        s.parse().expect("--steps N")
    });
    let every = value("--every").map_or(if full { 200 } else { 2 }, |s| {
        s.parse().expect("--every N")
    });
    match backend.as_str() {
        "gpu" => {
            let g = pollster::block_on(svdtune::backend::gpu::GpuBackend::new())
                .expect("the GPU soak needs an adapter (lavapipe natively)");
            pollster::block_on(soak::run(&g, steps, every, || Some(g.cache_stats())));
        }
        "cpu" => pollster::block_on(soak::run(
            &svdtune::backend::cpu::CpuBackend,
            steps,
            every,
            || None,
        )),
        other => panic!("--backend cpu or gpu, not {other}"),
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

/// Bytes the Rust code holds on the heap now.
#[cfg(not(target_arch = "wasm32"))]
static RUST_HEAP: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

/// The system allocator, counting what is live in [`RUST_HEAP`].
#[cfg(not(target_arch = "wasm32"))]
struct Counting;

#[cfg(not(target_arch = "wasm32"))]
// SAFETY: every call forwards to the system allocator with the same arguments.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        RUST_HEAP.fetch_add(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        RUST_HEAP.fetch_sub(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        RUST_HEAP.fetch_add(
            n as isize - l.size() as isize,
            std::sync::atomic::Ordering::Relaxed,
        );
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: Counting = Counting;

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

    /// "{rss} {rust heap} {malloc}" in MiB, "n/a" where unknown.
    fn memory() -> String {
        let mib =
            |b: Option<u64>| b.map_or("n/a".into(), |b| format!("{:.1}", b as f64 / 1048576.0));
        let rust = super::RUST_HEAP
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(0) as u64;
        format!(
            "{:>9} {:>9} {:>9}",
            mib(rss()),
            mib(Some(rust)),
            mib(malloc_in_use())
        )
    }

    /// Bytes malloc has handed out and not had back (glibc `mallinfo2`: `uordblks + hblkhd`).
    #[cfg(target_env = "gnu")]
    fn malloc_in_use() -> Option<u64> {
        // SAFETY: mallinfo2 has no preconditions.
        let m = unsafe { libc::mallinfo2() };
        Some((m.uordblks + m.hblkhd) as u64)
    }

    #[cfg(not(target_env = "gnu"))]
    fn malloc_in_use() -> Option<u64> {
        None
    }

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
        every: usize,
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
        let mut t = Trainer::new(
            be,
            model,
            BATCH,
            SEQ,
            true,
            schedule,
            AdamWConfig::default(),
        )
        .expect("trainer");
        let rows = BATCH * SEQ;
        let positions: Vec<u32> = (0..rows).map(|r| (r % SEQ) as u32).collect();
        let starts = vec![0u32; rows];
        println!("backend: {}", be.name());
        println!(
            "{:>6} {:>8} {:>8} {:>8} {:>9} {:>8} {:>10} {:>12} {:>9} {:>9} {:>9}",
            "step",
            "loss",
            "eval",
            "bind_grp",
            "pipelines",
            "buffers",
            "gpu_bytes",
            "created",
            "rss_MiB",
            "rust_MiB",
            "malloc_MiB"
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
            if i % every.max(1) == 0 || i == 1 {
                let eval = t.eval(be, &[batch]).await.expect("eval");
                let mem = memory();
                match stats() {
                    Some(s) => println!(
                        "{i:>6} {:>8.4} {eval:>8.4} {:>8} {:>9} {:>8} {:>10} {:>12} {mem}",
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
                        "{i:>6} {:>8.4} {eval:>8.4} {:>8} {:>9} {:>8} {:>10} {:>12} {mem}",
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
