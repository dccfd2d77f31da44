//! Fuzz body: a dropped `model.safetensors.index.json` naming one small valid shard, then every
//! tensor it lists read as f32.
use svdtune::model::MemoryFiles;
use svdtune::model::load::open_checkpoint;

/// A valid shard holding one f32 tensor `a` of shape [2].
fn shard() -> Vec<u8> {
    let header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(&[0; 8]);
    out
}

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut files = MemoryFiles::new();
    files.insert("model.safetensors.index.json", text.as_bytes().to_vec());
    files.insert("model-00001-of-00001.safetensors", shard());
    if let Ok(ckpt) = open_checkpoint(&files) {
        let names: Vec<String> = ckpt.names().map(str::to_string).collect();
        for name in names {
            let _ = ckpt.read_f32(&name);
        }
    }
}
