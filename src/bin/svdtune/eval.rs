//! `svdtune eval --model DIR --data FILE`: the mean loss of any model folder (as loaded, no
//! decomposition) over a chat dataset: assistant tokens by default, every token with
//! `--all-tokens`, so exports can be compared with other tools.
use crate::backend_choice::{BackendChoice, load_model, open_gpu};
use crate::model_arg::open_model;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use svdtune::Result;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::data::{Dataset, ModelText};
use svdtune::hub::Need;
use svdtune::train::setup::{all_batches, dataset_options};
use svdtune::train::step::{HostBatch, eval_loss};

#[derive(Args)]
pub struct EvalArgs {
    /// Model folder, a .gguf file, or a Hugging Face Hub id (org/name[@revision]).
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value_t = 512)]
    seq_len: usize,
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Count every token, not only the assistant's.
    #[arg(long)]
    all_tokens: bool,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    match open_gpu(args.backend)? {
        Some(gpu) => pollster::block_on(run_on(&gpu, &args)),
        None => pollster::block_on(run_on(&CpuBackend, &args)),
    }
}

async fn run_on<B: Backend>(be: &B, args: &EvalArgs) -> Result<ExitCode> {
    let files = open_model(&args.model, Need::All)?.files;
    let text = ModelText::from_model_files(&files)?;
    let opts = dataset_options(args.seq_len, args.all_tokens);
    let ds = Dataset::from_path(&args.data, &text, &opts)?;
    let pad = text.tokenizer.pad_token_id();
    let batches = all_batches(&ds, pad, args.batch_size, args.seq_len)?;
    let mut model = load_model(be, &files)?;
    let host: Vec<HostBatch> = batches.iter().map(HostBatch::from).collect();
    let loss = eval_loss(be, &mut model, &host, args.batch_size, args.seq_len).await?;
    println!(
        "mean loss {loss:.6} over {} {} tokens of {} examples ({} skipped, {} truncated)",
        ds.stats.trained_tokens,
        if args.all_tokens { "" } else { "assistant" },
        ds.stats.examples,
        ds.stats.skipped,
        ds.stats.truncated
    );
    Ok(ExitCode::SUCCESS)
}
