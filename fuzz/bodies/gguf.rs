//! Fuzz body: a dropped `.gguf` (header, metadata, tensor table, config and tokenizer), and every
//! tensor dequantized into the Hugging Face folder in memory.
use svdtune::model::MemorySource;

pub fn run(data: &[u8]) {
    let source = MemorySource::new("f.gguf", data.to_vec());
    let _ = svdtune::gguf::import_to_memory(source, |_, _, _| {});
}
