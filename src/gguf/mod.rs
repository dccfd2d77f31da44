//! GGUF (llama.cpp's model format) → a Hugging Face model folder: `config.json`,
//! `generation_config.json`, `tokenizer.json`, `tokenizer_config.json` and an f32
//! `model.safetensors` with Hugging Face names and layout, which [`crate::model::Model::load`]
//! loads like any other folder.
//!
//! - [`reader`]: header, metadata, tensor table ([`cursor`] buffers the reads, [`metadata`] types
//!   the values, [`types`] knows the tensor types and [`check_block_type`] which of them train
//!   in their stored precision).
//! - [`dequant`], [`kquants`]: tensor data → f32, bitwise as gguf-py computes it.
//! - [`names`]: llama.cpp names → Hugging Face names; the q/k row permutation undone.
//! - [`config`]: metadata → `config.json` / `generation_config.json` ([`llama3_rope`]: Llama 3's
//!   RoPE scaling from and to the `rope_freqs` tensor).
//! - [`tokenizer`], [`pretokenizers`], [`spm`]: the vocabulary (byte-level BPE or SentencePiece)
//!   → `tokenizer.json` / `tokenizer_config.json`.
//! - [`import`]: [`GgufModel`] ties them together and streams the folder into an export target.
//! - [`lazy`]: [`ImportedWeights`], the folder's `model.safetensors` read by ranges and made on
//!   demand (the command line loads a `.gguf` through it, never holding the f32 file).
//!
//! Everything reads through [`ByteSource`], so the same code imports a native file and a browser
//! `Blob`.
pub mod config;
pub mod cursor;
pub mod dequant;
pub mod import;
pub mod kquants;
pub mod lazy;
pub mod llama3_rope;
pub mod metadata;
pub mod names;
pub mod pretokenizers;
pub mod reader;
pub mod spm;
pub mod tokenizer;
pub mod types;

pub use config::{Arch, SUPPORTED_ARCHITECTURES};
pub use import::{GgufModel, ImportSummary};
pub use lazy::ImportedWeights;
pub use pretokenizers::SUPPORTED_PRE;
pub use reader::{GgufFile, TensorInfo};
pub use tokenizer::SUPPORTED_TOKENIZER_MODELS;
pub use types::{GgmlType, check_block_type};

use crate::error::Result;
use crate::model::{ByteSource, MemoryFiles};

/// Imports the GGUF model in `src` into memory: its summary and the Hugging Face folder.
/// `progress(done, total, tensor)` after each tensor (for a browser worker; natively, prefer
/// [`GgufModel::write_to`] with a directory target, which holds one tensor at a time).
pub fn import_to_memory<S: ByteSource>(
    src: S,
    progress: impl FnMut(usize, usize, &str),
) -> Result<(ImportSummary, MemoryFiles)> {
    let model = GgufModel::open(src)?;
    let summary = model.summary()?;
    let files = model.hf_files(progress)?;
    Ok((summary, files))
}
