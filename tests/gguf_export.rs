//! GGUF export (`svdtune export-gguf`): the tiny fixture models written as F16, BF16 and Q8_0
//! read back by our importer bit for bit (tensors equal to the source converted to the type and
//! back, same config), Phi-3's fused tensors and longrope keys, the tokenizer keys equal to the
//! fixtures gguf-py wrote, a GGUF fixture imported and exported again, and bad input.
#![cfg(not(target_arch = "wasm32"))]

#[path = "gguf_export/errors.rs"]
mod errors;
#[path = "gguf_export/models.rs"]
mod models;
#[path = "gguf_export/vocab.rs"]
mod vocab;

use svdtune::export::{GgufOutType, MemoryTarget, export_gguf};
use svdtune::model::MemorySource;
use svdtune::model::ModelFiles;
use svdtune::model::load::DirFiles;

/// A folder under tests/fixtures.
pub fn fixture_dir(rel: &str) -> DirFiles {
    DirFiles::new(format!(
        "{}/tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The export of `files` as `ty`, as a byte source.
pub fn export<F: ModelFiles>(files: &F, ty: GgufOutType) -> MemorySource {
    let mut out = MemoryTarget::new();
    let mut calls = 0;
    let done = export_gguf(files, &mut out, "m.gguf", "tiny", ty, |d, t, _| {
        calls += 1;
        assert_eq!(d, calls);
        assert!(d <= t);
    })
    .unwrap();
    assert_eq!(calls, done.tensors);
    let bytes = out.get("m.gguf").unwrap().to_vec();
    assert_eq!(bytes.len() as u64, done.bytes);
    MemorySource::new("m.gguf", bytes)
}
