//! A hostile chat template (from `tokenizer_config.json`) rendering a fixed conversation: it
//! must end, within the step and output bounds, with text or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svdtune::data::{ChatTemplate, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let cfg = r#"{"bos_token": "<s>", "eos_token": "</s>"}"#;
    if let Ok(t) = ChatTemplate::from_files(cfg, Some(source)) {
        let conv = [Message::user("Hi"), Message::assistant("Hello!")];
        let _ = t.render(&conv, true);
    }
});
