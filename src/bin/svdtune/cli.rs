//! Argument parsing and dispatch for the `svdtune` command line.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

use crate::{bench, check, data, eval, export_gguf, generate, import_gguf, inspect, train};

#[derive(Parser)]
#[command(
    name = "svdtune",
    version,
    about = "Fine-tune language models by training only the singular values of their weights"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time decomposition and training steps on this machine; matmul peak, memory.
    Bench(Box<bench::BenchArgs>),
    /// Show the GPU adapter and check every GPU op against the CPU reference.
    Check,
    /// Load a chat data file with a model's template and tokenizer: format, statistics, skips.
    Data(data::DataArgs),
    /// Mean loss of a model folder on a chat dataset (assistant tokens, or all).
    Eval(eval::EvalArgs),
    /// Write a model folder as one GGUF file for llama.cpp, Ollama, LM Studio (f16, bf16, q8_0).
    ExportGguf(export_gguf::ExportGgufArgs),
    /// Answer a prompt with a model (its chat template applied), greedy or sampled.
    Generate(generate::GenerateArgs),
    /// Convert a GGUF model (llama.cpp) into a Hugging Face folder (f32 safetensors + tokenizer).
    ImportGguf(import_gguf::ImportGgufArgs),
    /// Show a model's SVD plan and trainable-parameter counts (or --memory, a run's memory) from its config.
    Inspect(inspect::InspectArgs),
    /// Train the singular values of every linear layer on chat data; export the merged model.
    Train(Box<train::TrainArgs>),
}

pub fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Bench(args) => bench::run(*args),
        Command::Check => check::run(),
        Command::Data(args) => data::run(args),
        Command::Eval(args) => eval::run(args),
        Command::ExportGguf(args) => export_gguf::run(args),
        Command::Generate(args) => generate::run(args),
        Command::ImportGguf(args) => import_gguf::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Train(args) => train::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
