//! `svdtune export-gguf --model DIR --out FILE.gguf [--type f16|bf16|q8_0]`: a model folder
//! (typically the merged model `svdtune train --out` wrote; or a Hub id) as one GGUF file for
//! llama.cpp, Ollama and LM Studio, written one tensor at a time (`svdtune::export::gguf_writer`).
use crate::backend_choice::load_bar;
use crate::model_arg::local_model;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use svdtune::Error;
use svdtune::export::{DirTarget, GgufOutType, export_gguf};
use svdtune::hub::Need;
use svdtune::model::load::DirFiles;

#[derive(Args)]
pub struct ExportGgufArgs {
    /// Model folder (or Hugging Face Hub id) to export.
    #[arg(long)]
    model: PathBuf,
    /// The .gguf file to write (replaced when it exists; its folder is created when missing).
    #[arg(long)]
    out: PathBuf,
    /// Type of the weight matrices: f16, bf16 or q8_0 (norms and biases stay f32).
    #[arg(long = "type", default_value = "f16")]
    ty: String,
}

pub fn run(args: ExportGgufArgs) -> svdtune::Result<ExitCode> {
    let start = Instant::now();
    let ty = GgufOutType::parse(&args.ty)?;
    let file_name = args
        .out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::input(args.out.display().to_string(), "is not a file name"))?
        .to_string();
    let dir = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let model_dir = local_model(&args.model, Need::All)?;
    let name = model_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    let files = DirFiles::new(&model_dir)?;
    let mut target = DirTarget::new(&dir)?;
    let bar = load_bar(1, "writing tensors");
    let done = export_gguf(
        &files,
        &mut target,
        &file_name,
        &name,
        ty,
        |done, total, _| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    println!(
        "wrote {} ({}, {}, {} tensors, {} metadata keys{}, {}) in {:.1} s",
        args.out.display(),
        done.architecture,
        args.ty.to_ascii_lowercase(),
        done.tensors,
        done.metadata_keys,
        if done.tokenizer {
            ", with tokenizer and chat template"
        } else {
            ", no tokenizer.json in the folder"
        },
        svdtune::error::human_bytes(done.bytes),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
