//! A dropped `.gguf`: header, metadata, tensor table, config and tokenizer, and every tensor
//! dequantized into the Hugging Face folder in memory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svdtune::model::MemorySource;

fuzz_target!(|data: &[u8]| {
    let _ = svdtune::gguf::import_to_memory(MemorySource::new("f.gguf", data.to_vec()), |_, _, _| {});
});
