//! Fuzz body: a dropped `tokenizer.json` (with the tiny model's `tokenizer_config.json`), then
//! encoding a chat.
use svdtune::data::ModelText;

pub fn run(data: &[u8]) {
    let cfg = include_str!("../../tests/fixtures/tiny-chat/tokenizer_config.json");
    if let Ok(m) = ModelText::from_files(data, Some(cfg), None, None) {
        let _ = m.tokenizer.encode("<|im_start|>user\nHi 123<|im_end|>\n");
    }
}
