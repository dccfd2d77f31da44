//! `--model`: a local folder or file, a `.gguf` file, or a Hugging Face Hub id
//! (`org/name[@revision]`). A path that exists always wins; an id is resolved through the
//! `huggingface_hub` cache (downloaded into it when the cache lacks files, `src/hub`), with a
//! progress bar on a terminal and one line per downloaded file otherwise. A `.gguf` file is
//! opened as the folder `import-gguf` would write (no folder written): config and tokenizer files
//! in memory, and an f32 `model.safetensors` made by ranges as it is read ([`ImportedWeights`]:
//! one tensor at a time is dequantized, the f32 file is never held), loaded like any folder.
//! Commands that need only the config or the tokenizer get no weights file.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use svdtune::Result;
use svdtune::gguf::{GgufModel, ImportedWeights, import::WEIGHTS};
use svdtune::hub::{HubEnv, HubId, Need, Progress};
use svdtune::model::load::{DirFiles, MemoryFiles, ModelFiles};
use svdtune::model::{ByteSource, source::FileSource};

/// The files of `--model`: a folder on disk, or a GGUF file's folder: the small files in
/// memory, `model.safetensors` made from the GGUF file on demand (when the command needs it).
pub enum CliFiles {
    Dir(DirFiles),
    Gguf {
        path: PathBuf,
        files: MemoryFiles,
        weights: Option<Rc<GgufModel<FileSource>>>,
    },
}

impl ModelFiles for CliFiles {
    type Source = Box<dyn ByteSource>;
    fn has(&self, name: &str) -> bool {
        match self {
            CliFiles::Dir(d) => d.has(name),
            CliFiles::Gguf { files, weights, .. } => {
                files.has(name) || (name == WEIGHTS && weights.is_some())
            }
        }
    }
    fn describe(&self, name: &str) -> String {
        match self {
            CliFiles::Dir(d) => d.describe(name),
            CliFiles::Gguf { path, .. } => format!("{name} (from {})", path.display()),
        }
    }
    fn open(&self, name: &str) -> Result<Self::Source> {
        Ok(match self {
            CliFiles::Dir(d) => Box::new(d.open(name)?),
            CliFiles::Gguf {
                weights: Some(model),
                ..
            } if name == WEIGHTS => Box::new(ImportedWeights::new(model.clone())?),
            CliFiles::Gguf { files, .. } => Box::new(files.open(name)?),
        })
    }
}

/// `--model` opened: its files and the name exports and adapters give it.
pub struct CliModel {
    pub files: CliFiles,
    /// A GGUF file's `general.name` (else `general.basename`), else the argument as given.
    pub name: String,
}

impl CliModel {
    /// Whether the model was imported from a GGUF file.
    pub fn is_gguf(&self) -> bool {
        matches!(self.files, CliFiles::Gguf { .. })
    }
}

/// Whether `arg` names an existing `.gguf` file.
pub fn is_gguf(arg: &Path) -> bool {
    arg.is_file()
        && arg
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// Opens `--model` for a command that needs `need`: a `.gguf` file is checked whole and its
/// weights made on demand ([`Need::All`]), or only its header is read ([`Need::Config`],
/// [`Need::Text`]); anything else is resolved by [`local_model`] to a folder.
pub fn open_model(arg: &Path, need: Need) -> Result<CliModel> {
    if !is_gguf(arg) {
        let dir = local_model(arg, need)?;
        return Ok(CliModel {
            files: CliFiles::Dir(DirFiles::new(dir)?),
            name: arg.display().to_string(),
        });
    }
    let src = FileSource::open(arg)?;
    let model = if need == Need::All {
        GgufModel::open(src)?
    } else {
        GgufModel::open_header(src)?
    };
    let (name, files) = (model.model_name(), model.header_files());
    let weights = (need == Need::All).then(|| Rc::new(model));
    Ok(CliModel {
        files: CliFiles::Gguf {
            path: arg.to_path_buf(),
            files,
            weights,
        },
        name: name.unwrap_or_else(|| arg.display().to_string()),
    })
}

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
