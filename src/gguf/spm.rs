//! SentencePiece vocabularies (`tokenizer.ggml.model == "llama"`: Phi-3, Gemma 3, Llama 2,
//! Mistral, TinyLlama) → the `tokenizer.json` parts of a BPE with byte fallback, the form the
//! models' own `tokenizer.json` files and transformers' GGUF loader use.
//!
//! - Merges: a GGUF lists only the pieces and their scores (required), so the merges are rebuilt as
//!   transformers' `generate_merges` does: every split of a piece into two pieces of the
//!   vocabulary (sorted by their ids), all of them sorted best-first by the score of the merged
//!   piece, then by the length of the left and of the right part (longer first), ties keeping
//!   vocabulary order. Gemma files' scores do not follow the merge order, so for `gemma3` the
//!   position in the file is the score, and a piece made only of whitespace holding a space is
//!   spelled with `▁` (both as transformers' `gemma_tokenizer` does).
//! - Text: spaces become `▁`; with `tokenizer.ggml.add_space_prefix` (default true, Gemma's files
//!   say false) a `▁` is prepended to each piece of text between added tokens, as llama.cpp does
//!   and as the `tokenizer.json` of Phi-3, Llama 2 and Mistral 7B v0.1 do. (transformers' own
//!   Llama tokenizer prepends it only at the very start of the text; llama.cpp is the reference
//!   for a GGUF.)
//! - The model: BPE with `byte_fallback` (`<0xNN>` pieces for bytes no piece covers) and
//!   `fuse_unk`; the decoder turns `▁` back into spaces and bytes back into text.
use super::metadata::Metadata;
use crate::error::{Error, Result};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

const SPACE: &str = "\u{2581}";

/// The parts of `tokenizer.json` that depend on the tokenizer model.
pub struct ModelParts {
    pub normalizer: Value,
    pub pre_tokenizer: Value,
    pub decoder: Value,
    pub model: Value,
}

/// The pieces as the tokenizer looks them up: Gemma files store pieces of whitespace with real
/// spaces, which the text (spaces already `▁`) would never match.
pub fn respell(arch: &str, tokens: &[&str]) -> Vec<String> {
    tokens
        .iter()
        .map(|t| {
            if arch == "gemma3" && t.contains(' ') && t.trim().is_empty() {
                SPACE.repeat(t.chars().count())
            } else {
                t.to_string()
            }
        })
        .collect()
}

/// The tokenizer parts for the SentencePiece vocabulary `tokens` (already [`respell`]ed) of a
/// file of architecture `arch`; `unk` is the unknown piece, when the file names one.
pub fn model_parts(
    meta: &Metadata,
    arch: &str,
    tokens: &[String],
    unk: Option<&str>,
) -> Result<ModelParts> {
    let file = meta.file.as_str();
    let scores = match meta.get("tokenizer.ggml.scores") {
        None => {
            return Err(Error::input(
                file,
                "tokenizer.ggml.scores is missing: a SentencePiece vocabulary (tokenizer.ggml.model \"llama\") needs its scores to merge pieces",
            ));
        }
        Some(super::metadata::Value::Array(_, items)) => items
            .iter()
            .map(|v| {
                v.as_f64().ok_or_else(|| {
                    Error::input(file, "tokenizer.ggml.scores should be an array of numbers")
                })
            })
            .collect::<Result<Vec<f64>>>()?,
        Some(_) => {
            return Err(Error::input(
                file,
                "tokenizer.ggml.scores should be an array of numbers",
            ));
        }
    };
    if scores.len() != tokens.len() {
        return Err(Error::input(
            file,
            format!(
                "tokenizer.ggml.scores has {} entries for {} tokens",
                scores.len(),
                tokens.len()
            ),
        ));
    }
    // Position order where the scores are not the merge order (Gemma).
    let scores = if arch == "gemma3" {
        (0..tokens.len()).map(|i| -(i as f64)).collect()
    } else {
        scores
    };
    let prefix = meta
        .bool("tokenizer.ggml.add_space_prefix")?
        .unwrap_or(true);

    // A repeated piece keeps its last id, as llama.cpp and transformers do.
    let mut vocab = Map::new();
    for (id, t) in tokens.iter().enumerate() {
        vocab.insert(t.clone(), json!(id));
    }
    let merges: Vec<Value> = merges(tokens, &scores)
        .into_iter()
        .map(|(l, r)| json!([l, r]))
        .collect();

    let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": SPACE});
    let normalizer = if prefix {
        json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SPACE}, replace]})
    } else {
        replace
    };
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": SPACE}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    Ok(ModelParts {
        normalizer,
        pre_tokenizer: Value::Null,
        decoder: json!({"type": "Sequence", "decoders": decoders}),
        model: json!({
            "type": "BPE",
            "dropout": null,
            "unk_token": unk,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": true,
            "byte_fallback": true,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges
        }),
    })
}

/// Every split of a piece into two pieces of the vocabulary, best first (see the module docs).
/// `scores[i]` ranks the merge that makes piece `i`.
fn merges<'a>(tokens: &'a [String], scores: &[f64]) -> Vec<(&'a str, &'a str)> {
    // A repeated piece: its last id and score, merged once at its first position (a Python
    // dict built from the pairs in order).
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        ids.insert(t.as_str(), i);
    }
    let mut seen = std::collections::HashSet::with_capacity(tokens.len());
    // (left, right, score of the merged piece, characters of left, of right)
    let mut all: Vec<(&str, &str, f64, usize, usize)> = Vec::new();
    for piece in tokens {
        if !seen.insert(piece.as_str()) {
            continue;
        }
        let Some(&i) = ids.get(piece.as_str()) else {
            continue;
        };
        let mut local: Vec<(usize, usize, &str, &str, usize)> = Vec::new();
        for (n, (at, _)) in piece.char_indices().enumerate().skip(1) {
            let (l, r) = piece.split_at(at);
            if let (Some(&a), Some(&b)) = (ids.get(l), ids.get(r)) {
                local.push((a, b, l, r, n));
            }
        }
        local.sort_by_key(|&(a, b, ..)| (a, b));
        let chars = piece.chars().count();
        all.extend(
            local
                .into_iter()
                .map(|(_, _, l, r, n)| (l, r, scores[i], n, chars - n)),
        );
    }
    // Stable: equal keys keep the order above.
    all.sort_by(|x, y| y.2.total_cmp(&x.2).then(y.3.cmp(&x.3)).then(y.4.cmp(&x.4)));
    all.into_iter().map(|(l, r, ..)| (l, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn merges_follow_the_score_of_the_merged_piece() {
        let t = owned(&["a", "b", "c", "ab", "bc", "abc"]);
        // "abc" scores best, then "bc", then "ab".
        let m = merges(&t, &[0.0, 0.0, 0.0, -3.0, -2.0, -1.0]);
        assert_eq!(m, vec![("ab", "c"), ("a", "bc"), ("b", "c"), ("a", "b")]);
    }

    #[test]
    fn equal_scores_put_longer_left_parts_first() {
        let t = owned(&["a", "b", "c", "ab", "abc", "bc"]);
        let m = merges(&t, &[0.0; 6]);
        // All score 0: longer left first, then longer right, then vocabulary order.
        assert_eq!(m, vec![("ab", "c"), ("a", "bc"), ("a", "b"), ("b", "c")]);
    }

    #[test]
    fn gemma_whitespace_pieces_are_respelled() {
        let t = respell("gemma3", &["  ", "\n", " \n", "a b"]);
        assert_eq!(t, vec!["▁▁", "\n", "▁▁", "a b"]);
        assert_eq!(respell("phi3", &["  "]), vec!["  "]);
    }
}
