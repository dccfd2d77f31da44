//! Fuzz body: a dropped `model.safetensors` (header parsing), every tensor read and converted to
//! f32.
use svdtune::model::MemoryFiles;
use svdtune::model::load::open_checkpoint;

pub fn run(data: &[u8]) {
    let mut files = MemoryFiles::new();
    files.insert("model.safetensors", data.to_vec());
    if let Ok(ckpt) = open_checkpoint(&files) {
        let names: Vec<String> = ckpt.names().map(str::to_string).collect();
        for name in names {
            let _ = ckpt.read_f32(&name);
        }
    }
}
