//! Fuzz body: a dropped chat data file (format detection, records, template, tokens and masks)
//! with the tiny chat model's tokenizer and ChatML template, cut at 64 tokens. Every example
//! that comes out has one mask value (0 or 1) per token and at most 64 tokens.
use std::sync::OnceLock;
use svdtune::data::{Dataset, DatasetOptions, ModelText};

const MAX_TOKENS: usize = 64;

fn model() -> &'static ModelText {
    static MODEL: OnceLock<ModelText> = OnceLock::new();
    MODEL.get_or_init(|| {
        ModelText::from_files(
            include_bytes!("../../tests/fixtures/tiny-chat/tokenizer.json"),
            Some(include_str!(
                "../../tests/fixtures/tiny-chat/tokenizer_config.json"
            )),
            None,
            None,
        )
        .expect("the fixture loads")
    })
}

pub fn run(data: &[u8]) {
    let opts = DatasetOptions {
        max_tokens: Some(MAX_TOKENS),
        ..DatasetOptions::default()
    };
    if let Ok(ds) = Dataset::from_bytes(data, model(), &opts) {
        for ex in &ds.examples {
            let n = ex.input_ids.len();
            assert!(n <= MAX_TOKENS, "line {}: {n} tokens", ex.line);
            assert_eq!(ex.loss_mask.len(), n, "line {}: mask length", ex.line);
            assert!(ex.loss_mask.iter().all(|&m| m <= 1), "line {}", ex.line);
            assert!(
                ex.full_len >= n,
                "line {}: full_len {}",
                ex.line,
                ex.full_len
            );
        }
    }
}
