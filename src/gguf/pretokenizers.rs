//! How each byte-level BPE vocabulary splits text before merging, by llama.cpp's
//! `tokenizer.ggml.pre` name: the normalizer and pre-tokenizer the model's own Hugging Face
//! `tokenizer.json` has, in that file's JSON form, and whether its BPE takes whole words found in
//! the vocabulary without merging (`ignore_merges`, Llama 3).
use crate::error::{Error, Result};
use serde_json::{Value, json};

/// The `tokenizer.ggml.pre` values this importer handles.
pub const SUPPORTED_PRE: &[&str] = &["smollm", "llama-bpe", "qwen2", "gpt-2"];

/// Llama 3's split pattern: contractions, letters with one leading non-letter, 1–3 digits,
/// punctuation runs, newlines, spaces.
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2's: as Llama 3's with single digits.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The text-splitting parts of a `tokenizer.json`.
pub struct PreSpec {
    pub normalizer: Value,
    pub pre_tokenizer: Value,
    pub ignore_merges: bool,
}

fn byte_level(use_regex: bool, trim_offsets: bool) -> Value {
    json!({
        "type": "ByteLevel",
        "add_prefix_space": false,
        "trim_offsets": trim_offsets,
        "use_regex": use_regex
    })
}

fn split_then_bytes(regex: &str, trim_offsets: bool) -> Value {
    json!({
        "type": "Sequence",
        "pretokenizers": [
            {
                "type": "Split",
                "pattern": {"Regex": regex},
                "behavior": "Isolated",
                "invert": false
            },
            byte_level(false, trim_offsets)
        ]
    })
}

/// The spec for `pre`; another value is an error naming it and the supported ones.
pub fn pre_spec(file: &str, pre: &str) -> Result<PreSpec> {
    Ok(match pre {
        // SmolLM / SmolLM2: single digits, then GPT-2's byte-level split.
        "smollm" => PreSpec {
            normalizer: Value::Null,
            pre_tokenizer: json!({
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Digits", "individual_digits": true},
                    byte_level(true, true)
                ]
            }),
            ignore_merges: false,
        },
        "llama-bpe" => PreSpec {
            normalizer: Value::Null,
            pre_tokenizer: split_then_bytes(LLAMA3_REGEX, true),
            ignore_merges: true,
        },
        "qwen2" => PreSpec {
            normalizer: json!({"type": "NFC"}),
            pre_tokenizer: split_then_bytes(QWEN2_REGEX, false),
            ignore_merges: false,
        },
        "gpt-2" => PreSpec {
            normalizer: Value::Null,
            pre_tokenizer: byte_level(true, true),
            ignore_merges: false,
        },
        other => {
            return Err(Error::input(
                file,
                format!(
                    "tokenizer.ggml.pre \"{other}\" is not supported (supported: {})",
                    SUPPORTED_PRE.join(", ")
                ),
            ));
        }
    })
}
