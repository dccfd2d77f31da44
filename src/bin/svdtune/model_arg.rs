//! `--model`: a local folder or file, or a Hugging Face Hub id (`org/name[@revision]`). A path
//! that exists always wins; an id is resolved through the `huggingface_hub` cache (downloaded
//! into it when the cache lacks files, `src/hub`), with a progress bar on a terminal and one
//! line per downloaded file otherwise.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use svdtune::Result;
use svdtune::hub::{HubEnv, HubId, Need, Progress};

/// The local folder (or file) `--model` names: `arg` itself when it exists or is not shaped
/// like a Hub id (the loaders then say what is wrong with it), else the cache snapshot of the
/// id holding what `need` asks for.
pub fn local_model(arg: &Path, need: Need) -> Result<PathBuf> {
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    let Some(id) = arg.to_str().and_then(HubId::parse) else {
        return Ok(arg.to_path_buf());
    };
    let mut progress = Bar::new();
    svdtune::hub::resolve(&id, &HubEnv::from_env(), need, &mut progress)
}

/// A bar per file on a terminal; one line per file otherwise.
struct Bar {
    terminal: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            terminal: std::io::stderr().is_terminal(),
            bar: None,
        }
    }
}

impl Progress for Bar {
    fn start(&mut self, file: &str, total: u64, done: u64) {
        let resumed = if done > 0 {
            format!(", resuming at {}", svdtune::error::human_bytes(done))
        } else {
            String::new()
        };
        if !self.terminal {
            eprintln!(
                "downloading {file} ({}{resumed})",
                svdtune::error::human_bytes(total)
            );
            return;
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("downloading {file}"));
        bar.set_position(done);
        bar.reset_eta();
        self.bar = Some(bar);
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }
}
