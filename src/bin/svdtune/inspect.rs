//! `svdtune inspect MODEL_DIR|FILE.gguf`: the model's shape and its SVD plan from `config.json`
//! alone (a `.gguf`: from its header; no weights read): layers to decompose with their ranks,
//! trainable totals at several rank fractions, LoRA counts over the same layers, and the frozen
//! embedding. `--memory` prints a training run's memory instead ([`crate::inspect_memory`]).
use crate::inspect_memory::{MemoryReport, MemoryRequest};
use crate::model_arg::{is_gguf, local_model, open_model};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use svdtune::gguf::{GgufModel, ImportedWeights};
use svdtune::hub::Need;
use svdtune::model::Checkpoint;
use svdtune::model::load::{DirFiles, INDEX, ModelFiles, SINGLE, open_checkpoint, read_config};
use svdtune::model::source::FileSource;
use svdtune::svd::PlanSummary;
use svdtune::train::memory::{FactorDtype, Recompute, StoredSizes, WeightStorage};

#[derive(Args)]
pub struct InspectArgs {
    /// Model folder holding config.json (or the path of a config.json), a .gguf file (only its
    /// header is read), or a Hugging Face Hub id (`org/name[@revision]`, only its config.json is
    /// fetched).
    #[arg(required_unless_present = "model_flag", value_name = "MODEL")]
    model: Option<PathBuf>,
    /// The same as the positional MODEL, as the other subcommands spell it.
    #[arg(long = "model", conflicts_with = "model", value_name = "MODEL")]
    model_flag: Option<PathBuf>,
    /// Fraction of each layer's full rank to train: q = max(1, floor(min(m, n) · F)).
    #[arg(long, default_value_t = 0.1)]
    rank_fraction: f64,
    /// Count the RMSNorm weights as frozen.
    #[arg(long)]
    freeze_norms: bool,
    /// List every layer instead of grouping identical ones.
    #[arg(long)]
    all_layers: bool,
    /// Print the summary as JSON (the numbers the web page shows).
    #[arg(long)]
    json: bool,
    /// Print the memory a training run needs (weights, optimizer, activations, total) instead of
    /// the plan, estimated from the config alone.
    #[arg(long)]
    memory: bool,
    /// Sequences per batch for --memory (as `svdtune train --batch-size`).
    #[arg(long, default_value_t = 4, requires = "memory")]
    batch_size: usize,
    /// Tokens per sequence for --memory (as `svdtune train --seq-len`).
    #[arg(long, default_value_t = 512, requires = "memory")]
    seq_len: usize,
    /// Activation recomputation for --memory: `on`, `off`, or `auto` (on only when the run with
    /// stored activations does not fit --gpu-memory).
    #[arg(
        long,
        default_value = "auto",
        value_name = "auto|on|off",
        requires = "memory"
    )]
    recompute: Recompute,
    /// The dtype of the frozen factors U and V for --memory (as `train`'s default, f16).
    #[arg(
        long,
        default_value = "f16",
        value_name = "f32|f16",
        requires = "memory"
    )]
    factor_dtype: FactorDtype,
    /// How the frozen weights are held for --memory: `stored` (what loading keeps: f16/bf16
    /// safetensors as the headers give them; a GGUF's matrices as the blocks they load as) or
    /// `f32` (every tensor converted to f32).
    #[arg(
        long,
        default_value = "stored",
        value_name = "f32|stored",
        requires = "memory"
    )]
    weights: String,
    /// GPU memory for --memory, in GB (10⁹ bytes): the run should fit it.
    #[arg(long, default_value_t = 4.0, requires = "memory")]
    gpu_memory: f64,
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: impl std::fmt::Display) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn run(args: InspectArgs) -> svdtune::Result<ExitCode> {
    let given = args
        .model
        .as_ref()
        .or(args.model_flag.as_ref())
        .ok_or_else(|| svdtune::Error::Unsupported("a model is needed".into()))?;
    let cfg = if is_gguf(given) {
        read_config(&open_model(given, Need::Config)?.files)?
    } else {
        let model = local_model(given, Need::Config)?;
        let dir = if model.is_file() {
            model.parent().map(PathBuf::from).unwrap_or_default()
        } else {
            model
        };
        read_config(&DirFiles::new(&dir)?)?
    };
    if args.memory {
        let mut storage = match args.weights.as_str() {
            "f32" => WeightStorage::UpcastF32,
            "stored" => WeightStorage::Stored,
            w => {
                return Err(svdtune::Error::Unsupported(format!(
                    "--weights {w}: expected f32 or stored"
                )));
            }
        };
        if !(args.gpu_memory.is_finite() && args.gpu_memory > 0.0) {
            return Err(svdtune::Error::Unsupported(
                "--gpu-memory must be a positive number of GB".into(),
            ));
        }
        let stored = match storage {
            WeightStorage::Stored => stored_sizes(given)?,
            WeightStorage::UpcastF32 => None,
        };
        if storage == WeightStorage::Stored && stored.is_none() {
            eprintln!(
                "notice: {} has no checkpoint to read tensor dtypes from: weights counted as f32",
                given.display()
            );
            storage = WeightStorage::UpcastF32;
        }
        let m = MemoryReport::new(
            &cfg,
            &MemoryRequest {
                rank_fraction: args.rank_fraction,
                train_norms: !args.freeze_norms,
                batch: args.batch_size,
                seq: args.seq_len,
                recompute: args.recompute,
                factor_dtype: args.factor_dtype,
                storage,
                stored: stored.as_ref(),
                gpu_memory: (args.gpu_memory * 1e9) as u64,
            },
        )?;
        if args.json {
            print_json(&m)?;
        } else {
            m.print();
        }
        return Ok(ExitCode::SUCCESS);
    }
    let s = PlanSummary::new(&cfg, args.rank_fraction, !args.freeze_norms)?;
    if args.json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} layers, hidden {}, MLP {}, {} heads / {} KV heads × {}, vocab {}, {} embeddings, context {}",
        s.model_type,
        s.num_layers,
        s.hidden_size,
        s.intermediate_size,
        s.num_heads,
        s.num_kv_heads,
        s.head_dim,
        s.vocab_size,
        if s.tie_word_embeddings {
            "tied"
        } else {
            "untied"
        },
        s.max_position_embeddings
    );
    println!("parameters: {}", thousands(s.model_params));
    println!();
    println!(
        "SVD plan at rank fraction {} ({} linear layers):",
        s.rank_fraction, s.layer_count
    );
    println!("  {:<40} {:>13} {:>6} {:>8}", "layer", "m × n", "q", "Σ");
    if args.all_layers {
        for l in &s.layers {
            let shape = format!("{} × {}", l.m, l.n);
            println!("  {:<40} {:>13} {:>6} {:>8}", l.module, shape, l.q, l.q);
        }
    } else {
        for g in &s.groups {
            let name = if g.count > 1 {
                format!("{} (× {} layers)", g.module, g.count)
            } else {
                g.module.to_string()
            };
            let shape = format!("{} × {}", g.m, g.n);
            println!(
                "  {:<40} {:>13} {:>6} {:>8}",
                name,
                shape,
                g.q,
                thousands(g.sigma)
            );
        }
    }
    println!();
    println!(
        "trainable parameters (Σ{}; embeddings frozen):",
        if s.train_norms {
            " + RMSNorm weights"
        } else {
            " only, norms frozen"
        }
    );
    println!(
        "  {:>13} {:>10} {:>12} {:>9} {:>26}",
        "rank fraction", "Σ", "trainable", "of model", "svd-training 0.0.2 count*"
    );
    for t in &s.totals {
        let mark = if t.rank_fraction == s.rank_fraction {
            " ←"
        } else {
            ""
        };
        println!(
            "  {:>13} {:>10} {:>12} {:>8.3}% {:>26}{mark}",
            t.rank_fraction,
            thousands(t.sigma),
            thousands(t.trainable),
            t.percent_of_model,
            thousands(t.reference_library_trainable)
        );
    }
    println!("  * the reference library also leaves the token embedding trainable");
    println!();
    println!("LoRA on the same {} layers, for comparison:", s.layer_count);
    for l in &s.lora {
        println!("  r = {:<3} {:>14}", l.rank, thousands(l.params));
    }
    println!(
        "token embedding (frozen): {} ({} × {})",
        thousands(s.embedding_params),
        s.vocab_size,
        s.hidden_size
    );
    Ok(ExitCode::SUCCESS)
}

/// The sizes loading keeps `given`'s frozen tensors in, from headers alone (no weight read; a
/// `.gguf`'s small RoPE tensors, `rope_freqs` or Phi-3's `rope_factors_*`, are read into its
/// config): a safetensors checkpoint's dtypes; a `.gguf`'s tensor table (matrices as the blocks
/// loading keeps, the rest as f32). `None` for a folder without a checkpoint (only
/// `config.json`).
fn stored_sizes(given: &std::path::Path) -> svdtune::Result<Option<StoredSizes>> {
    if is_gguf(given) {
        let model = GgufModel::open_header(FileSource::open(given)?)?;
        let weights = ImportedWeights::new(std::rc::Rc::new(model))?;
        return Ok(Some(StoredSizes::from_checkpoint(&Checkpoint::single(
            weights,
        )?)));
    }
    let model = local_model(given, Need::Config)?;
    let dir = if model.is_file() {
        model.parent().map(PathBuf::from).unwrap_or_default()
    } else {
        model
    };
    let files = DirFiles::new(&dir)?;
    if !(files.has(SINGLE) || files.has(INDEX)) {
        return Ok(None);
    }
    Ok(Some(StoredSizes::from_checkpoint(&open_checkpoint(
        &files,
    )?)))
}

fn print_json(value: &impl serde::Serialize) -> svdtune::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| svdtune::Error::Unsupported(format!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
