//! `svdtune train --model DIR --data FILE --out DIR`: SVD-training end to end. Loads the model and
//! the chat data, decomposes every planned layer, trains Σ (and the norm weights) with AdamW,
//! evaluates before the first step, periodically and after the last, writes checkpoints that
//! `--resume` continues from, and exports the merged model (DIR) and a PEFT adapter (DIR/adapter).
use crate::backend_choice::{BackendChoice, load_bar, load_model, open_gpu};
use crate::model_arg::open_model;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::{Backend, Format};
use svdtune::data::{Dataset, ModelText};
use svdtune::error::human_bytes;
use svdtune::export::{AdapterOptions, DirTarget, MergedDtype, export_adapter, export_merged_as};
use svdtune::hub::Need;
use svdtune::model::load::open_checkpoint;
use svdtune::train::memory::{Recompute, StoredSizes};
use svdtune::train::optim::Decay;
use svdtune::train::run::TrainOptions;
use svdtune::train::setup::{RunBatches, RunPlan, Started, dataset_options};
use svdtune::{Error, Result};

#[derive(Args)]
pub struct TrainArgs {
    /// Model folder (config.json, safetensors, tokenizer.json, tokenizer_config.json), a .gguf
    /// file (imported in memory), or a Hugging Face Hub id (org/name[@revision]).
    #[arg(long)]
    model: PathBuf,
    /// Chat data: JSON Lines or a JSON array (messages, ShareGPT, Alpaca, prompt/completion, text).
    #[arg(long)]
    data: PathBuf,
    /// Output folder: the merged model, adapter/, checkpoint.safetensors.
    #[arg(long)]
    out: PathBuf,
    /// Fraction of each layer's rank to train (q = max(1, floor(min(m, n) · F))).
    #[arg(long, default_value_t = 0.1)]
    rank_fraction: f64,
    #[arg(long, default_value_t = 1e-2)]
    lr: f32,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    max_steps: Option<usize>,
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Tokens per sequence; longer examples are cut (and counted).
    #[arg(long, default_value_t = 512)]
    seq_len: usize,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Fraction of the examples held out for evaluation.
    #[arg(long, default_value_t = 0.05)]
    eval_split: f64,
    /// Evaluate every N steps (0: only before and after training).
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    /// Keep the RMSNorm weights frozen (train Σ only).
    #[arg(long)]
    freeze_norms: bool,
    /// Dtype of the merged model's floating-point tensors: `source` (each as the checkpoint
    /// stores it; f32 for a .gguf), or f32, f16, bf16 (a .gguf's merged model as bf16, say).
    #[arg(long, default_value = "source", value_name = "source|f32|f16|bf16")]
    merged_dtype: MergedDtype,
    /// Precision the frozen factors U and V are held in: f16 (half the memory of f32; the same
    /// held-out loss on SmolLM2, see bench/README.md) or f32.
    #[arg(long, default_value = "f16")]
    factor_dtype: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Learning-rate decay after warmup: cosine, linear or constant.
    #[arg(long, default_value = "cosine")]
    schedule: String,
    #[arg(long, default_value_t = 0.05)]
    warmup_ratio: f64,
    /// Pack several conversations into each sequence.
    #[arg(long)]
    pack: bool,
    /// Train on every token, not only the assistant's.
    #[arg(long)]
    all_tokens: bool,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 50)]
    checkpoint_every: usize,
    /// Continue from OUT/checkpoint.safetensors.
    #[arg(long)]
    resume: bool,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Recompute each layer's activations in backward from its saved input (`on`), keep every
    /// layer's (`off`), or recompute only when the stored ones do not fit the memory limit
    /// (`auto`).
    #[arg(long, default_value = "auto", value_name = "auto|on|off")]
    recompute: Recompute,
    /// One JSON object per step and per evaluation.
    #[arg(long)]
    log: Option<PathBuf>,
}

impl TrainArgs {
    fn options(&self) -> Result<TrainOptions> {
        let o = TrainOptions {
            rank_fraction: self.rank_fraction,
            lr: self.lr,
            epochs: self.epochs,
            max_steps: self.max_steps,
            batch_size: self.batch_size,
            seq_len: self.seq_len,
            grad_accum: self.grad_accum,
            eval_fraction: self.eval_split,
            eval_every: self.eval_every,
            freeze_norms: self.freeze_norms,
            seed: self.seed,
            schedule: self.schedule.parse::<Decay>()?,
            warmup_ratio: self.warmup_ratio,
            pack: self.pack,
            all_tokens: self.all_tokens,
            recompute: self.recompute,
            factor_format: match self.factor_dtype.as_str() {
                "f32" => Format::F32,
                "f16" => Format::F16,
                other => {
                    return Err(Error::Param {
                        op: "options",
                        message: format!("--factor-dtype {other}: use f32 or f16"),
                    });
                }
            },
            ..TrainOptions::default()
        };
        o.check()?;
        Ok(o)
    }
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let options = args.options()?;
    match open_gpu(args.backend)? {
        Some(gpu) => pollster::block_on(run_on(&gpu, &args, options)),
        None => pollster::block_on(run_on(&CpuBackend, &args, options)),
    }
}

/// Appends JSON lines to the `--log` file.
struct Log(Option<std::fs::File>);

impl Log {
    fn write(&mut self, value: serde_json::Value) -> Result<()> {
        if let Some(f) = &mut self.0 {
            writeln!(f, "{value}").map_err(|e| Error::input("log", e.to_string()))?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves a
/// half-written checkpoint under the real name.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    let name = path.display().to_string();
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Error::input(name, format!("cannot write: {e}")))
}

async fn run_on<B: Backend>(be: &B, args: &TrainArgs, options: TrainOptions) -> Result<ExitCode> {
    let opened = open_model(&args.model, Need::All)?;
    if opened.is_gguf() {
        eprintln!(
            "model: {} imported from GGUF in memory; the merged model is written as {} safetensors",
            opened.name,
            match args.merged_dtype {
                MergedDtype::Source | MergedDtype::F32 => "f32 (--merged-dtype bf16|f16 for less)",
                MergedDtype::F16 => "f16",
                MergedDtype::Bf16 => "bf16",
            }
        );
    }
    let files = &opened.files;
    let text = ModelText::from_model_files(files)?;
    if let Some(n) = text.template.notice() {
        eprintln!("notice: {n}");
    }
    let data_opts = dataset_options(options.seq_len, options.all_tokens);
    let ds = Dataset::from_path(&args.data, &text, &data_opts)?;
    let s = &ds.stats;
    eprintln!(
        "data: {:?} format, {} examples ({} skipped, {} truncated), {} tokens, {} trained",
        ds.format, s.examples, s.skipped, s.truncated, s.tokens, s.trained_tokens
    );
    for skip in ds.skips.iter().take(5) {
        eprintln!("  skipped line {}: {}", skip.line, skip.reason);
    }
    let batches = RunBatches::new(&ds, text.tokenizer.pad_token_id(), &options)?;
    eprintln!(
        "split: {} train examples in {} batches, {} eval examples in {} batches",
        batches.train_examples,
        batches.train.len(),
        batches.eval_examples,
        batches.eval.len()
    );

    let model = load_model(be, files)?;
    let cfg = model.cfg.clone();
    let stored = StoredSizes::from_files(files)?;
    let setup = RunPlan::new(be, &cfg, &stored, &options)?;
    let (plan, memory) = (&setup.plan, &setup.memory);
    eprintln!(
        "plan: {} layers at rank fraction {}: {} trainable parameters ({} Σ + {} norm weights)",
        plan.layers.len(),
        plan.rank_fraction,
        plan.trainable_params(),
        plan.sigma_params,
        if plan.train_norms {
            plan.norm_params
        } else {
            0
        }
    );
    eprintln!(
        "memory ({}): {} estimated (weights {}, factors {}, optimizer {}, activations {}{})",
        be.memory_kind(),
        human_bytes(memory.total()),
        human_bytes(memory.weights),
        human_bytes(memory.factors),
        human_bytes(memory.optimizer),
        human_bytes(memory.activations),
        if memory.recompute {
            ", recomputed in backward"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let bar = load_bar(setup.plan.layers.len() as u64, "decomposing");
    let progress = |done, _, _: &str| bar.set_position(done as u64);
    let every = args.checkpoint_every;
    let Started { mut run, inits } = setup
        .start(be, model, batches, options.clone(), every, progress)
        .await?;
    bar.finish_and_clear();
    eprintln!(
        "decomposed {} layers in {:.1} s on {}",
        inits.len(),
        started.elapsed().as_secs_f64(),
        be.name()
    );

    std::fs::create_dir_all(&args.out).map_err(|e| {
        Error::input(
            args.out.display().to_string(),
            format!("cannot create: {e}"),
        )
    })?;
    let ckpt_path = args.out.join("checkpoint.safetensors");
    if args.resume {
        let name = ckpt_path.display().to_string();
        let bytes = std::fs::read(&ckpt_path).map_err(|e| {
            Error::input(&name, format!("cannot read the checkpoint to resume: {e}"))
        })?;
        run.resume(be, &name, &bytes)?;
        eprintln!("resumed at step {} of {}", run.steps_done, run.total_steps);
    }
    let mut log = Log(match &args.log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Error::input(p.display().to_string(), e.to_string()))?,
        ),
        None => None,
    });
    let first_eval = run.evaluate(be).await?;
    if let Some(l) = first_eval {
        eprintln!("eval loss before training: {l:.4}");
        log.write(serde_json::json!({"step": run.steps_done, "eval_loss": l}))?;
    }
    let bar = indicatif::ProgressBar::new(run.total_steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_position(run.steps_done as u64);
    let (mut tokens, train_start) = (0usize, Instant::now());
    // The latest eval loss: after the loop, the one after the last step.
    let mut last_eval = first_eval;
    let mut skipped = 0usize;
    while !run.done() {
        let t0 = Instant::now();
        let ev = run.step(be).await?;
        let tps = ev.tokens as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        tokens += ev.tokens;
        if !ev.applied && ev.trained_tokens > 0.0 {
            skipped += 1;
            bar.println(format!(
                "step {}: loss {} / gradient norm {} not finite: step skipped, weights unchanged",
                ev.step, ev.loss, ev.grad_norm
            ));
        }
        log.write(serde_json::json!({
            "step": ev.step, "loss": ev.loss, "lr": ev.lr, "grad_norm": ev.grad_norm,
            "tokens_per_s": tps, "applied": ev.applied, "epoch": ev.epoch
        }))?;
        if ev.due.checkpoint {
            write_atomically(&ckpt_path, &run.checkpoint(be).await?)?;
        }
        if ev.due.eval
            && let Some(l) = run.evaluate(be).await?
        {
            last_eval = Some(l);
            log.write(serde_json::json!({"step": ev.step, "eval_loss": l}))?;
        }
        let eval_txt = last_eval
            .map(|l| format!(" eval {l:.4}"))
            .unwrap_or_default();
        bar.set_message(format!(
            "loss {:.4}{eval_txt} lr {:.2e} {:.0} tok/s",
            ev.loss, ev.lr, tps
        ));
        bar.set_position(ev.step as u64);
    }
    bar.finish();
    write_atomically(&ckpt_path, &run.checkpoint(be).await?)?;
    let final_eval = last_eval;
    let secs = train_start.elapsed().as_secs_f64();

    let source = open_checkpoint(files)?;
    let weights = &run.trainer.model.weights;
    let mut target = DirTarget::new(&args.out)?;
    let (dtype, checkpoint) = (args.merged_dtype, (&source, files));
    export_merged_as(
        be,
        &cfg,
        weights,
        checkpoint,
        dtype,
        &mut target,
        |_, _, _| {},
    )
    .await?;
    let sigma0: Vec<(String, Vec<f32>)> = inits.into_iter().map(|l| (l.module, l.sigma0)).collect();
    let mut adapter = DirTarget::new(args.out.join("adapter"))?;
    let aopts = AdapterOptions {
        base_model: svdtune::export::base_model_name(&cfg, &opened.name),
        include_norms: !options.freeze_norms,
    };
    export_adapter(be, &cfg, weights, &sigma0, &aopts, &mut adapter).await?;

    println!(
        "trained {} steps in {secs:.1} s ({:.0} tokens/s), {skipped} skipped",
        run.steps_done,
        tokens as f64 / secs.max(1e-9)
    );
    match (first_eval, final_eval) {
        (Some(a), Some(b)) => println!("eval loss: {a:.4} → {b:.4}"),
        _ => println!("no eval split (--eval-split 0)"),
    }
    println!("merged model: {}", args.out.display());
    println!("PEFT adapter: {}", args.out.join("adapter").display());
    println!("checkpoint:   {}", ckpt_path.display());
    Ok(ExitCode::SUCCESS)
}
