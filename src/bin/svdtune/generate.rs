//! `svdtune generate --model DIR --prompt TEXT`: applies the model's chat template (with the
//! generation prompt), generates with a KV cache and prints the answer as it is produced.
//! Temperature 0 (the default) is greedy decoding.
use crate::backend_choice::{BackendChoice, load_model, open_gpu};
use crate::model_arg::open_model;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::data::{Message, ModelText, Role};
use svdtune::hub::Need;
use svdtune::model::generate::{StopReason, generate};
use svdtune::model::sample::Sampling;

#[derive(Args)]
pub struct GenerateArgs {
    /// Model folder (config.json, safetensors, tokenizer.json, tokenizer_config.json), a .gguf
    /// file (imported in memory), or a Hugging Face Hub id (org/name[@revision]).
    #[arg(long)]
    model: PathBuf,
    /// The user's message.
    #[arg(long)]
    prompt: String,
    /// An optional system message before it.
    #[arg(long)]
    system: Option<String>,
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus sampling mass in (0, 1].
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Also print, on stderr, one JSON line with the rendered prompt, its token ids and the
    /// generated ids (`{"rendered", "prompt", "new"}`), to compare with another runtime.
    #[arg(long)]
    print_ids: bool,
}

pub fn run(args: GenerateArgs) -> svdtune::Result<ExitCode> {
    match open_gpu(args.backend)? {
        Some(gpu) => pollster::block_on(run_on(&gpu, &args)),
        None => pollster::block_on(run_on(&CpuBackend, &args)),
    }
}

async fn run_on<B: Backend>(be: &B, args: &GenerateArgs) -> svdtune::Result<ExitCode> {
    let files = open_model(&args.model, Need::All)?.files;
    let text = ModelText::from_model_files(&files)?;
    if let Some(n) = text.template.notice() {
        eprintln!("notice: {n}");
    }
    let mut messages = Vec::new();
    if let Some(s) = &args.system {
        messages.push(Message::new(Role::System, s.clone()));
    }
    messages.push(Message::new(Role::User, args.prompt.clone()));
    let rendered = text.template.render(&messages, true)?;
    let prompt = text.tokenizer.encode(&rendered)?;
    let mut model = load_model(be, &files)?;
    let mut eos = text.tokenizer.eos_token_ids();
    eos.extend(model.cfg.eos_token_ids.iter().copied());
    let sampling = Sampling {
        temperature: args.temperature,
        top_p: args.top_p,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let mut shown = String::new();
    let mut produced: Vec<u32> = Vec::new();
    let mut stdout = std::io::stdout();
    let mut decode_error = None;
    let out = generate(
        be,
        &mut model,
        &prompt,
        args.max_new_tokens,
        sampling,
        &eos,
        |t| {
            if eos.contains(&t) {
                return;
            }
            produced.push(t);
            match text.tokenizer.decode(&produced) {
                Ok(s) if s.len() >= shown.len() && s.starts_with(shown.as_str()) => {
                    let _ = write!(stdout, "{}", &s[shown.len()..]);
                    let _ = stdout.flush();
                    shown = s;
                }
                Ok(_) => {}
                Err(e) => decode_error = Some(e),
            }
        },
    )
    .await?;
    if let Some(e) = decode_error {
        return Err(e);
    }
    let full = text.tokenizer.decode(&produced)?;
    if full.len() > shown.len() && full.starts_with(shown.as_str()) {
        print!("{}", &full[shown.len()..]);
    }
    println!();
    if args.print_ids {
        let ids = serde_json::json!({"rendered": rendered, "prompt": prompt, "new": out.tokens});
        eprintln!("{ids}");
    }
    let secs = started.elapsed().as_secs_f64();
    let why = match out.stop {
        StopReason::Eos => "end of turn",
        StopReason::Length => "max new tokens",
        StopReason::ContextFull => "context full",
    };
    eprintln!(
        "[{} prompt tokens, {} new tokens in {secs:.1} s ({:.1} tokens/s), stopped: {why}; {}]",
        prompt.len(),
        out.tokens.len(),
        out.tokens.len() as f64 / secs.max(1e-9),
        be.name()
    );
    Ok(ExitCode::SUCCESS)
}
