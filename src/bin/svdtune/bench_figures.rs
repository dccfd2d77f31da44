//! The figures `svdtune bench` measures on one backend (also written as JSON with `--json`),
//! and how they print.
use serde::Serialize;
use svdtune::backend::gpu::{GpuCacheStats, KernelClock, KernelTime};

/// One run's figures; the GPU-only ones are `None` on the CPU.
#[derive(Serialize)]
pub struct Figures {
    pub backend: String,
    pub batch_size: usize,
    pub seq_len: usize,
    pub rank_fraction: f64,
    pub decomposed_layers: usize,
    pub load_s: f64,
    pub decompose_s: f64,
    pub step_ms_median: f64,
    pub step_ms_all: Vec<f64>,
    pub tokens_per_s: f64,
    pub step_gflop: f64,
    pub step_gflop_per_s: f64,
    pub matmul_gflop_per_s: f64,
    pub fraction_of_matmul_peak: f64,
    pub peak_rss_bytes: Option<u64>,
    pub gpu_peak_bytes: Option<u64>,
    /// GPU: the largest storage binding (bytes), capped by `--max-binding`.
    pub gpu_max_binding_bytes: Option<u64>,
    /// What the GPU backend holds right after the decomposition (its peak: load and
    /// decomposition only).
    pub gpu_after_decomposition: Option<GpuCacheStats>,
    /// What the GPU backend holds right after the last training step (its peak: the steps
    /// only, from what the decomposition left).
    pub gpu_after_steps: Option<GpuCacheStats>,
    /// `train::memory::estimate` for this run (what the page and `train` check and show): the
    /// larger of its two phases below.
    pub memory_estimate_bytes: u64,
    /// The estimate of what training holds (weights, factors, optimizer, activations).
    pub memory_estimate_training_bytes: u64,
    /// The estimate of the decomposition's peak (weights, factors, its working tensors).
    pub memory_estimate_decomposition_bytes: u64,
    /// `--record-only`: no kernel ran; only the buffer and dispatch counts are figures.
    pub record_only: bool,
    /// Whether backward recomputed the activations.
    pub recompute: bool,
    /// GPU: the dispatches of the last training step per kernel, largest first.
    pub dispatches_per_step: Option<Vec<(String, u64)>>,
    /// GPU: their total.
    pub dispatches_per_step_total: Option<u64>,
    /// GPU: buffer copies and clears of the last step (transfer commands, not dispatches).
    pub transfers_per_step: Option<u64>,
    /// GPU: the kernel variants used (`--gpu-tuning`).
    pub gpu_tuning: Option<String>,
    /// GPU: the clock of `kernel_times` (`KernelClock`).
    pub kernel_clock: Option<KernelClock>,
    /// GPU: time per kernel over one more step, every dispatch in a pass of its own (timestamps)
    /// or submitted alone (the wall clock), so the shares, not the sum, are the figure.
    pub kernel_times: Option<Vec<KernelTime>>,
}

/// Prints the figures of one run, as `svdtune bench` shows them.
pub fn print(f: &Figures) {
    let gb = |b: Option<u64>| b.map_or("n/a".to_string(), |b| format!("{:.2} GB", b as f64 / 1e9));
    match f.gpu_max_binding_bytes {
        Some(b) => println!("backend: {} (storage bindings up to {b} bytes)", f.backend),
        None => println!("backend: {}", f.backend),
    }
    if f.record_only {
        println!(
            "record only: commands recorded and buffers made, no kernel run; the times below are not figures"
        );
    }
    println!(
        "work: batch {} × {} tokens, rank fraction {}, {} decomposed layers{}",
        f.batch_size,
        f.seq_len,
        f.rank_fraction,
        f.decomposed_layers,
        if f.recompute {
            ", activations recomputed in backward"
        } else {
            ""
        }
    );
    println!(
        "load: {:.2} s   decomposition: {:.2} s",
        f.load_s, f.decompose_s
    );
    println!(
        "training step: {:.1} ms median ({} steps), {:.0} tokens/s",
        f.step_ms_median,
        f.step_ms_all.len(),
        f.tokens_per_s
    );
    println!(
        "step FLOPs: {:.1} GFLOP (forward + input-gradient backward + dΣ) → {:.1} GFLOP/s",
        f.step_gflop, f.step_gflop_per_s
    );
    println!(
        "matmul peak: {:.1} GFLOP/s → the step runs at {:.0}% of it",
        f.matmul_gflop_per_s,
        100.0 * f.fraction_of_matmul_peak
    );
    println!(
        "peak RSS: {}   GPU buffers peak: {}   estimated training memory: {} ({} bytes)",
        gb(f.peak_rss_bytes),
        gb(f.gpu_peak_bytes),
        gb(Some(f.memory_estimate_bytes)),
        f.memory_estimate_bytes
    );
    if let (Some(d), Some(s)) = (&f.gpu_after_decomposition, &f.gpu_after_steps) {
        let (train, dec) = (
            f.memory_estimate_training_bytes as f64,
            f.memory_estimate_decomposition_bytes as f64,
        );
        println!(
            "GPU peak of the load + decomposition: {} bytes ({:.3} × its estimate); of the steps: {} bytes ({:.3} × theirs); held after the steps: {} bytes ({:.3} × theirs)",
            d.peak_bytes,
            d.peak_bytes as f64 / dec,
            s.peak_bytes,
            s.peak_bytes as f64 / train,
            s.live_bytes,
            s.live_bytes as f64 / train
        );
    }
    if let Some(c) = &f.gpu_after_decomposition {
        println!("GPU after the decomposition: {c}");
    }
    if let Some(c) = &f.gpu_after_steps {
        println!("GPU after the last step: {c}");
    }
    if let Some(t) = &f.gpu_tuning {
        println!("GPU kernel variants: {t}");
    }
    if let (Some(d), Some(total)) = (&f.dispatches_per_step, f.dispatches_per_step_total) {
        println!(
            "dispatches per step: {total} (and {} buffer copies and clears)",
            f.transfers_per_step.unwrap_or(0)
        );
        let times = f.kernel_times.as_deref().unwrap_or_default();
        let total_ms: f64 = times.iter().map(|t| t.ms).sum();
        match f.kernel_clock {
            Some(clock) => println!(
                "GPU time per kernel over one more step ({}): {total_ms:.1} ms in all",
                clock.describe()
            ),
            None => println!("GPU time per kernel: n/a (no timestamp queries, no wall clock here)"),
        }
        for (kernel, n) in d {
            match times.iter().find(|t| t.kernel == kernel) {
                Some(t) => println!(
                    "  {n:>6}  {kernel:<26} {:>9.2} ms  {:>5.1}%",
                    t.ms,
                    100.0 * t.ms / total_ms.max(1e-9)
                ),
                None => println!("  {n:>6}  {kernel}"),
            }
        }
    }
}
