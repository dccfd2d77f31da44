//! Shared by the chat-data tests: the SmolLM2 model text (real tokenizer, ChatML template) and
//! the format fixtures, compiled in so the same tests run natively and in the browser.
#![allow(dead_code)]

use svdtune::data::{Dataset, DatasetOptions, ModelText};

pub const SMOL_TOKENIZER: &[u8] = include_bytes!("../fixtures/data/smollm2/tokenizer.json");
pub const SMOL_CONFIG: &str = include_str!("../fixtures/data/smollm2/tokenizer_config.json");

pub const MESSAGES: &[u8] = include_bytes!("../fixtures/data/formats/messages.jsonl");
pub const SHAREGPT: &[u8] = include_bytes!("../fixtures/data/formats/sharegpt.json");
pub const ALPACA: &[u8] = include_bytes!("../fixtures/data/formats/alpaca.jsonl");
pub const PROMPT_COMPLETION: &[u8] =
    include_bytes!("../fixtures/data/formats/prompt_completion.jsonl");
pub const TEXT: &[u8] = include_bytes!("../fixtures/data/formats/text.jsonl");
pub const BAD: &[u8] = include_bytes!("../fixtures/data/formats/bad.jsonl");

/// SmolLM2-135M-Instruct's tokenizer and chat template (from tokenizer_config.json).
pub fn smol() -> ModelText {
    ModelText::from_files(SMOL_TOKENIZER, Some(SMOL_CONFIG), None, None).unwrap()
}

/// SmolLM2's tokenizer with another chat template.
pub fn smol_with_template(jinja: &str) -> ModelText {
    ModelText::from_files(SMOL_TOKENIZER, Some(SMOL_CONFIG), Some(jinja), None).unwrap()
}

pub fn load(bytes: &[u8], model: &ModelText) -> Dataset {
    Dataset::from_bytes(bytes, model, &DatasetOptions::default()).unwrap()
}
