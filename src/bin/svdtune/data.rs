//! `svdtune data`: loads a chat data file with a model's template and tokenizer and prints the
//! detected format, statistics, the split, packing and the skipped records; `--dump` writes one
//! JSON object per example (`line`, `input_ids`, `loss_mask`) to check against other tools.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::model_arg::open_model;
use clap::Args;
use svdtune::data::{Dataset, DatasetOptions, ModelText, pack};
use svdtune::hub::Need;
use svdtune::train::setup::dataset_options;
use svdtune::{Error, Result};

#[derive(Args)]
pub struct DataArgs {
    /// Model folder with tokenizer.json, tokenizer_config.json (and chat_template.jinja), a .gguf
    /// file (its header's tokenizer), or a Hugging Face Hub id (org/name[@revision]; its config and tokenizer files are fetched).
    #[arg(long)]
    model: PathBuf,
    /// Data file: JSON Lines or a JSON array (messages, ShareGPT, Alpaca, prompt/completion, text).
    #[arg(long)]
    data: PathBuf,
    /// Tokens per training sequence; longer examples are cut.
    #[arg(long, default_value_t = 2048)]
    seq_len: usize,
    /// Pack several conversations into each sequence.
    #[arg(long)]
    pack: bool,
    /// Train on every token, not only the assistant turns.
    #[arg(long)]
    all_tokens: bool,
    /// Fraction of examples held out for evaluation.
    #[arg(long, default_value_t = 0.05)]
    eval_fraction: f64,
    /// Seed of the train/eval split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many skipped records to list.
    #[arg(long, default_value_t = 10)]
    show_skips: usize,
    /// Write every example as {"line", "input_ids", "loss_mask"} to this JSON Lines file.
    #[arg(long)]
    dump: Option<PathBuf>,
}

pub fn run(args: DataArgs) -> Result<ExitCode> {
    let model = ModelText::from_model_files(&open_model(&args.model, Need::Text)?.files)?;
    if let Some(n) = model.template.notice() {
        println!("notice: {n}");
    }
    let opts = DatasetOptions {
        max_reported_skips: args.show_skips,
        ..dataset_options(args.seq_len, args.all_tokens)
    };
    let ds = Dataset::from_path(&args.data, &model, &opts)?;
    let s = &ds.stats;
    println!(
        "format: {} ({}, detected at line {})",
        ds.format.name(),
        ds.container.name(),
        ds.format_line
    );
    println!(
        "records: {} read, {} usable, {} skipped",
        s.records, s.examples, s.skipped
    );
    println!(
        "tokens: {} ({} trained, {:.1}%), longest record {} tokens (line {}), {} cut to {}",
        s.tokens,
        s.trained_tokens,
        100.0 * s.trained_tokens as f64 / s.tokens.max(1) as f64,
        s.longest,
        s.longest_line,
        s.truncated,
        args.seq_len
    );
    let split = ds.split(args.eval_fraction, args.seed);
    println!(
        "split (seed {}): {} train, {} eval",
        args.seed,
        split.train.len(),
        split.eval.len()
    );
    let lens: Vec<usize> = split
        .train
        .iter()
        .map(|&i| ds.examples[i].input_ids.len())
        .collect();
    let rows = if args.pack {
        pack::pack(&lens, args.seq_len)?
    } else {
        pack::one_per_row(&lens, args.seq_len)?
    };
    let used: usize = rows.iter().map(|r| r.used()).sum();
    println!(
        "train rows of {}: {} ({}, {:.1}% of positions hold tokens)",
        args.seq_len,
        rows.len(),
        if args.pack {
            "packed, attention kept inside each conversation"
        } else {
            "one example per row"
        },
        100.0 * used as f64 / (rows.len() * args.seq_len).max(1) as f64
    );
    if s.skipped > 0 {
        println!("skipped records ({} in all):", s.skipped);
        for sk in &ds.skips {
            println!("  {sk}");
        }
        if s.skipped > ds.skips.len() {
            println!("  … {} more", s.skipped - ds.skips.len());
        }
    }
    if let Some(path) = &args.dump {
        dump(&ds, path)?;
        println!("wrote {} examples to {}", ds.examples.len(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn dump(ds: &Dataset, path: &std::path::Path) -> Result<()> {
    let io = |e: std::io::Error| Error::Param {
        op: "data",
        message: format!("cannot write {}: {e}", path.display()),
    };
    let f = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::new(f);
    for ex in &ds.examples {
        let line = serde_json::json!({
            "line": ex.line,
            "input_ids": ex.input_ids,
            "loss_mask": ex.loss_mask,
        });
        writeln!(w, "{line}").map_err(io)?;
    }
    w.flush().map_err(io)
}
