//! The model files the page was given: a dropped folder (each file a `Blob`), or one dropped
//! `.gguf` opened in place: its config and tokenizer files made from its metadata (small `Blob`s,
//! which the data worker reads) and `model.safetensors` an [`ImportedWeights`] view of the file,
//! whose matrices load as the file's own blocks (Q4_K, Q8_0, …, F16, BF16) and whose other
//! tensors are dequantized one at a time as they load. No f32 copy of the model is made.
use super::blob_target::BlobTarget;
use crate::error::{Error, Result};
use crate::export::target::{ByteSink, ExportTarget};
use crate::gguf::{GgufModel, ImportSummary, ImportedWeights, import::WEIGHTS};
use crate::model::load::{BlobFiles, ModelFiles};
use crate::model::source::{BlobSource, ByteSource};
use std::rc::Rc;
use wasm_bindgen::JsCast;

/// A loaded model's files.
pub enum PageFiles {
    /// A Hugging Face folder, as dropped.
    Folder(BlobFiles),
    /// A GGUF file: the small files made from it, the weights read from it.
    Gguf {
        small: BlobFiles,
        model: Rc<GgufModel<BlobSource>>,
    },
}

/// The dropped files (`names[i]` the path of `files[i]`), the `.gguf` among them set apart.
pub struct Dropped {
    blobs: BlobFiles,
    gguf: Option<(String, web_sys::Blob)>,
}

impl Dropped {
    /// Sorts the files `op` (the call, for errors) was given; at most one `.gguf`.
    pub fn new(op: &'static str, names: Vec<String>, files: js_sys::Array) -> Result<Self> {
        if names.len() != files.length() as usize {
            return Err(Error::param(op, "one name per file is needed"));
        }
        let mut dropped = Dropped {
            blobs: BlobFiles::new(),
            gguf: None,
        };
        for (n, f) in names.into_iter().zip(files.iter()) {
            let blob = f.dyn_into::<web_sys::Blob>().map_err(|_| {
                Error::input(&n, "is not a file (expected a File or Blob)".to_string())
            })?;
            if n.to_ascii_lowercase().ends_with(".gguf") {
                if dropped.gguf.is_some() {
                    return Err(Error::input(
                        &n,
                        "only one .gguf file can be given as a model",
                    ));
                }
                dropped.gguf = Some((n, blob));
            } else {
                dropped.blobs.insert(n, blob);
            }
        }
        Ok(dropped)
    }

    /// The model files: the folder, or the `.gguf` opened (`whole`: its tensor table checked
    /// against the file's length, as loading needs; otherwise its header alone, as the memory
    /// table needs). With a `.gguf`, the other dropped files are ignored.
    pub fn open(self, whole: bool) -> Result<PageFiles> {
        let Some((name, blob)) = self.gguf else {
            return Ok(PageFiles::Folder(self.blobs));
        };
        let src = BlobSource::new(&name, blob)?;
        let model = if whole {
            GgufModel::open(src)?
        } else {
            GgufModel::open_header(src)?
        };
        let mut target = BlobTarget::default();
        for (file, text) in model.small_files() {
            let mut sink = target.create(file)?;
            sink.write_all(text.as_bytes())?;
            target.finish(sink)?;
        }
        Ok(PageFiles::Gguf {
            small: target.into_files(),
            model: Rc::new(model),
        })
    }
}

impl PageFiles {
    /// The dropped or made file `name` as a `Blob` (not the GGUF's weights, which have none).
    pub fn get(&self, name: &str) -> Option<&web_sys::Blob> {
        match self {
            PageFiles::Folder(f) => f.get(name),
            PageFiles::Gguf { small, .. } => small.get(name),
        }
    }

    /// What the GGUF file holds (tensor types and counts); `None` for a folder.
    pub fn gguf_summary(&self) -> Result<Option<ImportSummary>> {
        match self {
            PageFiles::Folder(_) => Ok(None),
            PageFiles::Gguf { model, .. } => model.summary().map(Some),
        }
    }
}

impl ModelFiles for PageFiles {
    type Source = Box<dyn ByteSource>;
    fn has(&self, name: &str) -> bool {
        match self {
            PageFiles::Folder(f) => f.has(name),
            PageFiles::Gguf { small, .. } => small.has(name) || name == WEIGHTS,
        }
    }
    fn open(&self, name: &str) -> Result<Self::Source> {
        Ok(match self {
            PageFiles::Folder(f) => Box::new(f.open(name)?),
            PageFiles::Gguf { model, .. } if name == WEIGHTS => {
                Box::new(ImportedWeights::new(model.clone())?)
            }
            PageFiles::Gguf { small, .. } => Box::new(small.open(name)?),
        })
    }
}
