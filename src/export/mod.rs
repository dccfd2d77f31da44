//! Exports of a trained model: the merged Hugging Face folder ([`merged`]: safetensors with the
//! original names, dtypes and shards, `config.json`, tokenizer files) and the trained update as a
//! PEFT LoRA adapter ([`adapter`]). Files are streamed one tensor at a time
//! ([`safetensors_writer`]) into an [`ExportTarget`] ([`target`]: a directory, memory, or a
//! zip archive streamed to the page's download, [`zip_target`], or one file streamed,
//! [`stream_target`]); the model as one GGUF file for
//! llama.cpp ([`gguf_writer`], [`gguf_meta`], `gguf_vocab`).
pub mod adapter;
pub mod files;
pub mod gguf_meta;
pub mod gguf_vocab;
pub mod gguf_writer;
pub mod merged;
pub mod safetensors_writer;
pub mod stream_target;
pub mod target;
mod walk;
pub mod zip_target;

pub use adapter::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterOptions, base_model_name, export_adapter, is_hub_id,
};
pub use gguf_writer::{GgufExported, GgufOutType, export_gguf};
pub use merged::{Exported, MergedDtype, export_merged, export_merged_as};
pub use safetensors_writer::{SafetensorsWriter, TensorHeader, write_safetensors};
pub use stream_target::StreamTarget;
#[cfg(not(target_arch = "wasm32"))]
pub use target::DirTarget;
pub use target::{ByteSink, ExportTarget, MemoryTarget};
pub use zip_target::{ZipFile, ZipTarget};
