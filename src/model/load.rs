//! A model folder as files by name (a native directory, or files held in memory / dropped in a
//! browser), and loading it: `config.json`, then the checkpoint (`model.safetensors` or a
//! sharded `model.safetensors.index.json`), checked and uploaded to a backend.
use super::config::ModelConfig;
use super::forward::RopeCache;
use super::safetensors::Checkpoint;
use super::source::{ByteSource, MemorySource};
use super::weights::{ModelWeights, WeightPrecision, load_weights_with};
use crate::backend::Backend;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

pub const CONFIG: &str = "config.json";
pub const SINGLE: &str = "model.safetensors";
pub const INDEX: &str = "model.safetensors.index.json";

/// The files of a model folder.
pub trait ModelFiles {
    type Source: ByteSource;
    /// Whether the folder has a file named `name`.
    fn has(&self, name: &str) -> bool;
    /// How errors name the file `name` (a full path for a directory on disk).
    fn describe(&self, name: &str) -> String {
        name.to_string()
    }
    /// Opens `name` for reading by ranges; a missing file is an error naming it.
    fn open(&self, name: &str) -> Result<Self::Source>;
    /// The whole of `name` as UTF-8 text (small files: configs, tokenizers).
    fn read_text(&self, name: &str) -> Result<String> {
        let src = self.open(name)?;
        let bytes = src.read_at(0, src.len() as usize)?;
        String::from_utf8(bytes)
            .map_err(|e| Error::input(self.describe(name), format!("not UTF-8 text: {e}")))
    }
}

/// Files held in memory, by name (tests, a GGUF imported on the command line); opening a file
/// shares its bytes, so a checkpoint read twice (load, then export) is held once.
#[derive(Clone, Default)]
pub struct MemoryFiles {
    files: BTreeMap<String, std::sync::Arc<Vec<u8>>>,
}

impl MemoryFiles {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files
            .insert(name.into(), std::sync::Arc::new(bytes.into()));
    }
}

impl ModelFiles for MemoryFiles {
    type Source = MemorySource;
    fn has(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }
    fn open(&self, name: &str) -> Result<MemorySource> {
        let bytes = self
            .files
            .get(name)
            .ok_or_else(|| Error::input(name, "missing from the model files"))?;
        Ok(MemorySource::shared(name, bytes.clone()))
    }
}

/// A model directory on disk.
#[cfg(not(target_arch = "wasm32"))]
pub struct DirFiles {
    pub dir: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl DirFiles {
    /// A directory that must exist.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Result<Self> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(Error::input(
                dir.display().to_string(),
                "is not a directory (expected a model folder with config.json and safetensors)",
            ));
        }
        Ok(DirFiles { dir })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ModelFiles for DirFiles {
    type Source = super::source::FileSource;
    fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
    fn has(&self, name: &str) -> bool {
        self.dir.join(name).is_file()
    }
    fn open(&self, name: &str) -> Result<Self::Source> {
        let path = self.dir.join(name);
        if !path.is_file() {
            return Err(Error::input(path.display().to_string(), "no such file"));
        }
        super::source::FileSource::open(&path)
    }
}

/// Files dropped in a browser (`File`/`Blob` by name), read slice by slice in the worker.
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Default)]
pub struct BlobFiles {
    files: BTreeMap<String, web_sys::Blob>,
}

#[cfg(target_arch = "wasm32")]
impl BlobFiles {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, name: impl Into<String>, blob: web_sys::Blob) {
        self.files.insert(name.into(), blob);
    }
    /// The file called `name`, if given.
    pub fn get(&self, name: &str) -> Option<&web_sys::Blob> {
        self.files.get(name)
    }
}

#[cfg(target_arch = "wasm32")]
impl ModelFiles for BlobFiles {
    type Source = super::source::BlobSource;
    fn has(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }
    fn open(&self, name: &str) -> Result<Self::Source> {
        let blob = self
            .files
            .get(name)
            .ok_or_else(|| Error::input(name, "missing from the dropped files"))?;
        super::source::BlobSource::new(name, blob.clone())
    }
}

/// Parses the folder's `config.json`.
pub fn read_config<F: ModelFiles>(files: &F) -> Result<ModelConfig> {
    if !files.has(CONFIG) {
        return Err(Error::input(
            CONFIG,
            "missing: a model folder needs its config.json",
        ));
    }
    ModelConfig::from_json(CONFIG, &files.read_text(CONFIG)?)
}

/// Opens the checkpoint: the shard index when present, else the single file.
pub fn open_checkpoint<F: ModelFiles>(files: &F) -> Result<Checkpoint<F::Source>> {
    if files.has(INDEX) {
        let index = files.read_text(INDEX)?;
        Checkpoint::sharded(&files.describe(INDEX), &index, |shard| files.open(shard))
    } else if files.has(SINGLE) {
        Checkpoint::single(files.open(SINGLE)?)
    } else {
        Err(Error::input(
            files.describe(SINGLE),
            format!("missing: the model folder has neither {SINGLE} nor {INDEX}"),
        ))
    }
}

/// A model on a backend: its config, weights and RoPE tables.
pub struct Model<B: Backend> {
    pub cfg: ModelConfig,
    pub weights: ModelWeights<B::Tensor>,
    pub rope: RopeCache<B::Tensor>,
}

impl<B: Backend> Model<B> {
    /// Loads `config.json` and the checkpoint, checks them against each other and uploads the
    /// weights one tensor at a time; `progress(done, total, tensor)` after each.
    /// Frozen f16/bf16 weights stay packed in their stored precision ([`WeightPrecision`]).
    pub fn load<F: ModelFiles>(
        be: &B,
        files: &F,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<Self> {
        Self::load_with(be, files, WeightPrecision::Stored, progress)
    }

    /// [`Model::load`], holding frozen weights in `precision` ([`WeightPrecision::F32`]: the
    /// f32-upcast path, for comparisons).
    pub fn load_with<F: ModelFiles>(
        be: &B,
        files: &F,
        precision: WeightPrecision,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<Self> {
        let cfg = read_config(files)?;
        let ckpt = open_checkpoint(files)?;
        let weights = load_weights_with(be, &cfg, &ckpt, precision, progress)?;
        Ok(Model {
            rope: RopeCache::for_model(&cfg),
            cfg,
            weights,
        })
    }
}
