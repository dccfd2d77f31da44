//! A dropped chat data file: format detection, records, template, tokens and masks, with the
//! tiny chat model's tokenizer and ChatML template.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use svdtune::data::{Dataset, DatasetOptions, ModelText};

fn model() -> &'static ModelText {
    static MODEL: OnceLock<ModelText> = OnceLock::new();
    MODEL.get_or_init(|| {
        ModelText::from_files(
            include_bytes!("../../tests/fixtures/tiny-chat/tokenizer.json"),
            Some(include_str!("../../tests/fixtures/tiny-chat/tokenizer_config.json")),
            None,
            None,
        )
        .expect("the fixture loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let opts = DatasetOptions { max_tokens: Some(64), ..DatasetOptions::default() };
    let _ = Dataset::from_bytes(data, model(), &opts);
});
