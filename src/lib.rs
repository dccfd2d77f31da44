//! svdtune: fine-tune language models by training only the singular values of their weights,
//! natively and in the browser on WebGPU.
//!
//! - [`backend`]: the op set ([`backend::Backend`]) with a CPU reference and a wgpu/WGSL GPU backend.
//! - [`data`]: chat datasets → chat template → token ids, loss masks, packed fixed-shape batches.
//! - [`model`]: Hugging Face configs and safetensors checkpoints, the forward pass and generation.
//! - [`svd`]: the SVD plan (layers, ranks, parameter counts).
//! - [`export`]: the merged Hugging Face folder and the PEFT LoRA adapter of a trained model.
//! - [`gguf`]: GGUF files (llama.cpp) → a Hugging Face folder: metadata, dequantized weights,
//!   tokenizer.
//! - [`hub`] (native): models from the Hugging Face Hub, through the `huggingface_hub` cache.
pub mod backend;
pub mod data;
pub mod error;
pub mod export;
pub mod gguf;
#[cfg(not(target_arch = "wasm32"))]
pub mod hub;
pub mod model;
pub mod svd;
pub mod task;
pub mod train;

pub use error::{Error, Result};

#[cfg(target_arch = "wasm32")]
pub mod wasm;
