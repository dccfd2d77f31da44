//! `svdtune import-gguf FILE --out DIR`: a GGUF model (llama.cpp) as a Hugging Face folder that the
//! other commands (and the page) load: config.json, generation_config.json, tokenizer.json,
//! tokenizer_config.json and an f32 model.safetensors, written one tensor at a time.
use crate::backend_choice::load_bar;
use crate::inspect::thousands;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use svdtune::export::DirTarget;
use svdtune::gguf::GgufModel;
use svdtune::model::source::FileSource;

#[derive(Args)]
pub struct ImportGgufArgs {
    /// The .gguf file.
    file: PathBuf,
    /// Output folder (created when missing; files of the same names are replaced).
    #[arg(long)]
    out: PathBuf,
}

/// `1234567` bytes → `1.2 MB`.
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} kB", b / 1e3)
    }
}

pub fn run(args: ImportGgufArgs) -> svdtune::Result<ExitCode> {
    let start = Instant::now();
    let src = FileSource::open(&args.file)?;
    let in_bytes = svdtune::model::ByteSource::len(&src);
    let model = GgufModel::open(src)?;
    let s = model.summary()?;
    let mut target = DirTarget::new(&args.out)?;
    let bar = load_bar(model.tensor_names().len() as u64, "converting tensors");
    model.write_to(&mut target, |done, total, _| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();

    let name = s
        .name
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    println!(
        "{}{name}: {} layers, hidden {}, {} heads / {} KV heads, vocab {}, context {}, {} embeddings",
        s.architecture,
        s.layers,
        s.hidden_size,
        s.heads,
        s.kv_heads,
        s.vocab_size,
        s.context_length,
        if s.tied_embeddings { "tied" } else { "untied" }
    );
    let types: Vec<String> = s
        .tensor_types
        .iter()
        .map(|(t, n)| format!("{t} × {n}"))
        .collect();
    println!("tensor types: {}", types.join(", "));
    println!("parameters: {}", thousands(s.parameters));
    match &s.tokenizer {
        Some(t) => println!("tokenizer: {t}"),
        None => println!("tokenizer: none in the file (no tokenizer.json written)"),
    }
    println!(
        "wrote {} to {} ({} of f32 weights from {} of GGUF) in {:.1} s",
        s.files.join(", "),
        args.out.display(),
        size(s.weights_bytes),
        size(in_bytes),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
