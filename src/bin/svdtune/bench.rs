//! `svdtune bench --model DIR | --config config.json`: the figures of the method on this machine,
//! per backend: model load and decomposition time, training step time and tokens/s on a fixed
//! batch (random token ids, every token trained), the backend's matmul GFLOP/s (its practical
//! peak) and the step's FLOP rate as a fraction of it, peak process RSS and, on the GPU, the peak
//! bytes of GPU buffers, and on the GPU what the backend holds after the last step (bind groups,
//! pipelines, buffers and bytes, which must not grow with the step count: compare `--steps 5`
//! with `--steps 50`). `--config` builds random weights from a config.json alone (for machines
//! without the checkpoint). `--recompute auto|on|off` chooses activation recomputation as
//! `svdtune train` does, `--factor-dtype f32|f16` holds U and V as `train` does. `--json FILE` writes the figures. On the GPU it also prints the
//! dispatches of one step per kernel (and the buffer copies and clears), the GPU time per kernel
//! over one more step (GPU timestamps, or the wall clock of each dispatch alone where the adapter
//! has none: `--kernel-clock`), and runs the kernel variants
//! `--gpu-tuning KEY=VALUE,…` chooses (`GpuTuning`).
use crate::backend_choice::{BackendChoice, open_gpu};
use crate::bench_figures::{Figures, print};
use crate::bench_flops::{LayerShape, step_flops};
use crate::model_arg::open_model;
use clap::Args;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Instant;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::{GpuBackend, GpuCacheStats, KernelClock, KernelTime};
use svdtune::backend::{Backend, Matmul};
use svdtune::export::safetensors_writer::{TensorHeader, write_safetensors};
use svdtune::hub::Need;
use svdtune::model::config::ModelConfig;
use svdtune::model::{MemoryFiles, Model, ModelFiles, layout};
use svdtune::svd::SvdPlan;
use svdtune::svd::decompose::{DecomposeOptions, decompose_model};
use svdtune::train::memory::{FactorDtype, MemoryOptions, Recompute, StoredSizes, plan_memory};
use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
use svdtune::train::step::{HostBatch, Trainer};
use svdtune::{Error, Result};

#[derive(Args)]
pub struct BenchArgs {
    /// Model folder (config.json + safetensors), a .gguf file, or a Hugging Face Hub id.
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    model: Option<PathBuf>,
    /// A config.json alone: the model gets random weights (same shapes, same work).
    #[arg(long)]
    config: Option<PathBuf>,
    /// `cpu`, `gpu`, or `auto` (the GPU when there is one, else the CPU).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    #[arg(long, default_value_t = 0.1)]
    rank_fraction: f64,
    /// Timed steps (after the warm-up ones); the median is reported.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Recompute each layer's activations in backward (`on`), keep them (`off`), or recompute
    /// only when the stored ones do not fit the memory limit (`auto`).
    #[arg(long, default_value = "auto", value_name = "auto|on|off")]
    recompute: Recompute,
    /// Precision the frozen factors U and V are held in (as `train --factor-dtype`).
    #[arg(long, default_value = "f16", value_name = "f32|f16")]
    factor_dtype: FactorDtype,
    /// GPU kernel variants, `KEY=VALUE,…` over the adapter's defaults (keys: col_dot_rows,
    /// col_dot_lanes, reduce_tensors, unchecked_tiles, wide_tiles, f16_tiles, subgroup_reduce;
    /// see `GpuTuning`).
    #[arg(long, default_value = "")]
    gpu_tuning: String,
    /// With `--config`: the dtype of the random weights' file (`bf16`: loaded packed, as a
    /// checkpoint from the Hub is).
    #[arg(
        long,
        default_value = "f32",
        value_name = "f32|bf16",
        requires = "config"
    )]
    weights_dtype: WeightsDtype,
    /// With `--backend gpu`: cap the adapter's storage bindings at this many bytes, as a smaller
    /// GPU would (matrices above it are held in row blocks).
    #[arg(long, value_name = "BYTES")]
    max_binding: Option<u64>,
    /// With `--backend gpu`: record every command and make every buffer, but run no kernel: the
    /// GPU's buffer bytes of a run at any shape in about the time its upload takes (the times
    /// printed are then not figures).
    #[arg(long)]
    record_only: bool,
    /// With `--backend gpu`: the clock of the time per kernel: GPU timestamps where the adapter
    /// has them, else the wall clock of each dispatch alone (`auto`); `wall` also where it has
    /// them (to compare the estimate with the timestamps).
    #[arg(long, default_value = "auto", value_name = "auto|wall")]
    kernel_clock: KernelClockArg,
    /// Write the figures as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `--kernel-clock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum KernelClockArg {
    Auto,
    Wall,
}

/// The dtype of `--config`'s random weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum WeightsDtype {
    F32,
    Bf16,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.steps == 0 || args.batch_size == 0 || args.seq_len == 0 {
        return Err(Error::Unsupported(
            "--steps, --batch-size and --seq-len must be at least 1".into(),
        ));
    }
    if args.record_only && args.backend != BackendChoice::Gpu {
        return Err(Error::Unsupported(
            "--record-only counts a GPU's buffers: it needs --backend gpu".into(),
        ));
    }
    let gpu = match args.max_binding {
        None => open_gpu(args.backend)?,
        Some(_) if args.backend != BackendChoice::Gpu => {
            return Err(Error::Unsupported(
                "--max-binding caps a GPU's bindings: it needs --backend gpu".into(),
            ));
        }
        Some(cap) => Some(pollster::block_on(GpuBackend::with_binding_cap(Some(cap)))?),
    };
    let figures = match &gpu {
        Some(g) => {
            g.set_tuning(g.tuning().apply(&args.gpu_tuning)?)?;
            g.set_record_only(args.record_only);
            let probes = Probes {
                // Each reading restarts the peak: after the decomposition it is the load's and
                // the decomposition's, after the steps the steps'.
                held: || {
                    let stats = g.cache_stats();
                    g.restart_peak();
                    Some(stats)
                },
                dispatches: || Some((g.take_dispatch_counts(), g.take_transfer_count())),
                start_profile: |n| match args.kernel_clock {
                    KernelClockArg::Auto => g.start_profile(n),
                    KernelClockArg::Wall => Ok(g
                        .start_profile_with(n, KernelClock::WallClock)?
                        .then_some(KernelClock::WallClock)),
                },
                take_profile: || Box::pin(g.take_profile()) as ProfileFuture<'_>,
            };
            let mut f = pollster::block_on(bench(g, &args, probes))?;
            f.gpu_peak_bytes = [&f.gpu_after_decomposition, &f.gpu_after_steps]
                .iter()
                .filter_map(|s| s.map(|s| s.peak_bytes))
                .max();
            f.gpu_max_binding_bytes = Some(g.context().max_binding_bytes());
            f.gpu_tuning = Some(g.tuning().describe());
            f.record_only = args.record_only;
            f
        }
        None => {
            let probes = Probes {
                held: || None,
                dispatches: || None,
                start_profile: |_| Ok(None),
                take_profile: || Box::pin(async { Ok(None) }) as ProfileFuture<'_>,
            };
            pollster::block_on(bench(&CpuBackend, &args, probes))?
        }
    };
    print(&figures);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&figures)
            .map_err(|e| Error::Unsupported(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The model of `args` on `be`, and the sizes its frozen tensors are held in.
fn load<B: Backend>(be: &B, args: &BenchArgs) -> Result<(Model<B>, StoredSizes)> {
    fn with_sizes<B: Backend, F: ModelFiles>(be: &B, files: &F) -> Result<(Model<B>, StoredSizes)> {
        Ok((
            Model::load(be, files, |_, _, _| {})?,
            StoredSizes::from_files(files)?,
        ))
    }
    match (&args.model, &args.config) {
        (Some(dir), _) => with_sizes(be, &open_model(dir, Need::All)?.files),
        (None, Some(config)) => {
            let name = config.display().to_string();
            let text =
                std::fs::read_to_string(config).map_err(|e| Error::input(&name, e.to_string()))?;
            with_sizes(be, &random_model(&text, args.weights_dtype)?)
        }
        (None, None) => Err(Error::Unsupported("--model or --config is needed".into())),
    }
}

/// A model folder in memory: `config` and random weights of the shapes it implies, every tensor
/// stored in `dtype`.
fn random_model(config: &str, dtype: WeightsDtype) -> Result<MemoryFiles> {
    let cfg = ModelConfig::from_json("config.json", config)?;
    let dtype = match dtype {
        WeightsDtype::F32 => safetensors::Dtype::F32,
        WeightsDtype::Bf16 => safetensors::Dtype::BF16,
    };
    let tensors: Vec<TensorHeader> = layout::expected_tensors(&cfg)
        .iter()
        .map(|(n, s)| TensorHeader::new(n.clone(), dtype, s))
        .collect();
    let mut bytes = Vec::new();
    let mut seed = 0x2545F4914F6CDD1Du64;
    write_safetensors("model.safetensors", &mut bytes, tensors, |t| {
        if t.name.ends_with("norm.weight") {
            return Ok(vec![1.0; t.numel()]);
        }
        Ok((0..t.numel())
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
            })
            .collect())
    })?;
    let mut files = MemoryFiles::new();
    files.insert("config.json", config.as_bytes().to_vec());
    files.insert("model.safetensors", bytes);
    Ok(files)
}

/// The GPU time per kernel of the profiled step, when it was profiled.
type ProfileFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Vec<KernelTime>>>> + 'a>>;

/// What `bench` asks the backend besides the trait (`None` on the CPU).
struct Probes<H, D, S, P> {
    /// What the backend holds at the moment (the GPU's [`GpuCacheStats`]), asked after the
    /// decomposition and after the last step.
    held: H,
    /// The dispatches per kernel and the transfer commands since the last call (it restarts
    /// the counts).
    dispatches: D,
    /// Opens a profile of the time per kernel for this many dispatches, with the clock it
    /// gives (`None`: no clock, or not a GPU).
    start_profile: S,
    /// Closes it.
    take_profile: P,
}

/// The figures of `args` on `be`.
async fn bench<'a, B: Backend, H, D, S, P>(
    be: &B,
    args: &BenchArgs,
    probes: Probes<H, D, S, P>,
) -> Result<Figures>
where
    H: Fn() -> Option<GpuCacheStats>,
    D: Fn() -> Option<(Vec<(&'static str, u64)>, u64)>,
    S: Fn(usize) -> Result<Option<KernelClock>>,
    P: Fn() -> ProfileFuture<'a>,
{
    let held = probes.held;
    let t = Instant::now();
    let (mut model, stored) = load(be, args)?;
    be.flush()?;
    let load_s = t.elapsed().as_secs_f64();
    let cfg = model.cfg.clone();
    let plan = SvdPlan::new(&cfg, args.rank_fraction, true)?;
    let t = Instant::now();
    decompose_model(
        be,
        &cfg,
        &mut model.weights,
        &plan,
        &DecomposeOptions {
            factor_format: args.factor_dtype.format(),
            ..DecomposeOptions::default()
        },
        |_, _, _| {},
    )
    .await?;
    let probe = be.zeros(&[1])?;
    be.read(&probe).await?;
    let decompose_s = t.elapsed().as_secs_f64();
    let gpu_after_decomposition = held();

    let (b, s) = (args.batch_size, args.seq_len);
    let rows = b * s;
    let mut seed = 0x9E3779B97F4A7C15u64;
    let ids: Vec<u32> = (0..rows + 1)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % cfg.vocab_size as u64) as u32
        })
        .collect();
    let positions: Vec<u32> = (0..rows).map(|r| (r % s) as u32).collect();
    let starts = vec![0u32; rows];
    let weights = vec![1.0f32; rows];
    let batch = HostBatch {
        input_ids: &ids[..rows],
        target_ids: &ids[1..],
        loss_weights: &weights,
        position_ids: &positions,
        window_start: &starts,
    };
    let schedule = Schedule {
        peak_lr: 1e-2,
        warmup_steps: 0,
        total_steps: args.warmup + args.steps,
        decay: Decay::Constant,
    };
    let mo = MemoryOptions {
        stored: Some(&stored),
        factor_dtype: args.factor_dtype,
        ..MemoryOptions::new(b, s, be.logit_chunk_elements())
    };
    let memory = plan_memory(be, &cfg, &plan, args.recompute, &mo)?;
    let mut trainer = Trainer::with_recompute(
        be,
        model,
        b,
        s,
        true,
        memory.recompute,
        schedule,
        AdamWConfig::default(),
    )?;
    let mut times = Vec::new();
    let mut dispatches = None;
    for i in 0..args.warmup + args.steps {
        (probes.dispatches)();
        let t = Instant::now();
        trainer.step(be, &[batch]).await?;
        if i >= args.warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        dispatches = (probes.dispatches)();
    }
    // One more step with every dispatch timed (slower: a pass per dispatch), after the timed ones.
    let step_dispatches = dispatches
        .as_ref()
        .map_or(0, |d| d.0.iter().map(|k| k.1 as usize).sum());
    let kernel_clock = if dispatches.is_some() {
        (probes.start_profile)(step_dispatches + 16)?
    } else {
        None
    };
    let kernel_times = if kernel_clock.is_some() {
        trainer.step(be, &[batch]).await?;
        (probes.take_profile)().await?
    } else {
        None
    };
    let transfers_per_step = dispatches.as_ref().map(|d| d.1);
    let dispatches_per_step: Option<Vec<(String, u64)>> =
        dispatches.map(|d| d.0.into_iter().map(|(k, n)| (k.to_string(), n)).collect());
    let gpu_after_steps = held();
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];

    let shapes: Vec<LayerShape> = plan
        .layers
        .iter()
        .map(|l| LayerShape {
            m: l.m,
            n: l.n,
            q: l.q,
        })
        .collect();
    let flops = step_flops(&cfg, &shapes, b, s);
    let peak = matmul_rate(be, rows, cfg.hidden_size, cfg.intermediate_size).await?;
    let step_rate = flops / (median / 1e3) / 1e9;
    Ok(Figures {
        backend: be.name(),
        batch_size: b,
        seq_len: s,
        rank_fraction: args.rank_fraction,
        decomposed_layers: plan.layers.len(),
        load_s,
        decompose_s,
        step_ms_median: median,
        step_ms_all: times,
        tokens_per_s: rows as f64 / (median / 1e3),
        step_gflop: flops / 1e9,
        step_gflop_per_s: step_rate,
        matmul_gflop_per_s: peak,
        fraction_of_matmul_peak: step_rate / peak,
        peak_rss_bytes: peak_rss(),
        gpu_peak_bytes: None,
        gpu_max_binding_bytes: None,
        gpu_after_decomposition,
        gpu_after_steps,
        memory_estimate_bytes: memory.total(),
        memory_estimate_training_bytes: memory.training(),
        memory_estimate_decomposition_bytes: memory.decomposition_peak(),
        record_only: false,
        recompute: memory.recompute,
        dispatches_per_step_total: dispatches_per_step
            .as_ref()
            .map(|d| d.iter().map(|(_, n)| n).sum()),
        dispatches_per_step,
        transfers_per_step,
        gpu_tuning: None,
        kernel_clock,
        kernel_times,
    })
}

/// GFLOP/s of the backend's matmul on the model's largest product at this batch
/// (`[rows, hidden] · [hidden, intermediate]`), the best of three timed rounds.
async fn matmul_rate<B: Backend>(be: &B, rows: usize, k: usize, n: usize) -> Result<f64> {
    let a = be.tensor(&vec![0.5; rows * k], &[rows, k])?;
    let w = be.tensor(&vec![0.25; n * k], &[n, k])?;
    let mut c = be.zeros(&[rows, n])?;
    let probe = be.zeros(&[1])?;
    let iters = 10;
    let mut best = f64::MAX;
    for _ in 0..4 {
        be.read(&probe).await?;
        let t = Instant::now();
        for _ in 0..iters {
            be.matmul(&a, &w, &mut c, Matmul::NT)?;
        }
        be.copy_rows(&c, 0, &mut be.zeros(&[1, n])?, 0, 1)?;
        be.read(&probe).await?;
        best = best.min(t.elapsed().as_secs_f64() / iters as f64);
    }
    Ok(2.0 * (rows * k * n) as f64 / best / 1e9)
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
