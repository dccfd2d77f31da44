//! GGUF import against gguf-py and transformers (fixtures and expected values from
//! `tests/fixtures/gguf/make_gguf.py`): dequantization of every supported type bitwise, metadata
//! of every value type, tiny llama / qwen2 models back to their exact Hugging Face weights and
//! transformers logits, a quantized model equal to what transformers loads from it, tokenizers
//! equal to the reference ones, the `import-gguf` command, hostile files (errors, never panics),
//! and (opt-in) SmolLM2-135M-Instruct against its transformers conversion.
#![cfg(not(target_arch = "wasm32"))]
mod common;

#[path = "gguf_import/dequant.rs"]
mod dequant;
#[path = "gguf_import/errors.rs"]
mod errors;
#[path = "gguf_import/models.rs"]
mod models;
#[path = "gguf_import/smollm2.rs"]
mod smollm2;
#[path = "gguf_import/tokenizer.rs"]
mod tokenizer;
#[path = "gguf_import/writer.rs"]
mod writer;

use svdtune::model::MemorySource;

/// A fixture file's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/gguf/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture as a byte source.
pub fn source(name: &str) -> MemorySource {
    MemorySource::new(name, fixture(name))
}

/// Every tensor of a safetensors file as f32 (from F32), by name.
pub fn safetensors_f32(bytes: &[u8]) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
            let values = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, t.shape().to_vec(), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Bitwise equality of two f32 slices, reporting the first difference.
pub fn assert_bitwise(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!(
            "{what}: index {i} is {} ({:#010x}), expected {} ({:#010x})",
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits()
        );
    }
}
