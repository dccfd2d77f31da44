//! Fuzz body: a hostile chat template (from `tokenizer_config.json`) rendering a fixed
//! conversation. It must end, within the step and output bounds, with text or an error.
use svdtune::data::{ChatTemplate, Message};

/// What one render may write (`MAX_RENDER_BYTES` in `src/data/template.rs`).
const MAX_RENDER_BYTES: usize = 8 << 20;

pub fn run(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let cfg = r#"{"bos_token": "<s>", "eos_token": "</s>"}"#;
    if let Ok(t) = ChatTemplate::from_files(cfg, Some(source)) {
        let conv = [Message::user("Hi"), Message::assistant("Hello!")];
        if let Ok(text) = t.render(&conv, true) {
            assert!(
                text.len() <= MAX_RENDER_BYTES,
                "rendered {} bytes, past the output bound",
                text.len()
            );
        }
    }
}
