//! The vocabulary of a GGUF file → Hugging Face `tokenizer.json` and `tokenizer_config.json`.
//!
//! Handled: `tokenizer.ggml.model == "gpt2"` (byte-level BPE) from `tokenizer.ggml.tokens` (ids in
//! order), `tokenizer.ggml.merges` (`"a b"` strings, in rank order) and `tokenizer.ggml.token_type`
//! (3 = control → special added token, 4 = user-defined → added token), with the text splitting
//! of [`super::pretokenizers`] chosen by `tokenizer.ggml.pre`; and `"llama"` (SentencePiece:
//! pieces and scores, merges rebuilt from them, byte fallback; [`super::spm`]), where the unknown
//! token (type 2) is a special added token too. `tokenizer_config.json` carries the
//! special tokens named by `tokenizer.ggml.{bos,eos,unknown,padding}_token_id`, `add_bos_token`,
//! `add_eos_token` and the chat template(s). The result is loaded once with the `tokenizers`
//! crate, so a vocabulary it would refuse is an error here, not when training starts.
use super::metadata::Metadata;
use super::pretokenizers::pre_spec;
use super::spm::ModelParts;
use crate::error::{Error, Result};
use serde_json::{Map, Value, json};

/// The `tokenizer.ggml.model` values this importer handles.
pub const SUPPORTED_TOKENIZER_MODELS: &[&str] = &["gpt2", "llama"];

const UNKNOWN: i128 = 2;
const CONTROL: i128 = 3;
const USER_DEFINED: i128 = 4;

/// The tokenizer files of a model, and what they hold.
#[derive(Clone, Debug)]
pub struct TokenizerFiles {
    pub tokenizer_json: String,
    pub tokenizer_config_json: String,
    /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE) or `llama` (SentencePiece).
    pub model: String,
    /// `tokenizer.ggml.pre` (`default` when a SentencePiece file has none).
    pub pre: String,
    pub n_tokens: usize,
    /// Control and user-defined tokens (and, for SentencePiece, the unknown token).
    pub n_added: usize,
}

/// The tokenizer of `meta`; `None` when the file has none (no `tokenizer.ggml.model`).
/// `context_length` becomes `model_max_length`.
pub fn tokenizer_files(
    meta: &Metadata,
    context_length: Option<usize>,
) -> Result<Option<TokenizerFiles>> {
    let file = meta.file.as_str();
    let Some(model) = meta.str("tokenizer.ggml.model")? else {
        return Ok(None);
    };
    if !SUPPORTED_TOKENIZER_MODELS.contains(&model) {
        return Err(Error::input(
            file,
            format!(
                "tokenizer.ggml.model \"{model}\" is not supported (supported: gpt2 (byte-level BPE), llama (SentencePiece))"
            ),
        ));
    }
    let spm = model == "llama";
    let arch = meta.str("general.architecture")?.unwrap_or_default();
    let raw = meta
        .str_array("tokenizer.ggml.tokens")?
        .ok_or_else(|| meta.missing("tokenizer.ggml.tokens"))?;
    let types = match meta.int_array("tokenizer.ggml.token_type")? {
        Some(t) if t.len() != raw.len() => {
            return Err(Error::input(
                file,
                format!(
                    "tokenizer.ggml.token_type has {} entries for {} tokens",
                    t.len(),
                    raw.len()
                ),
            ));
        }
        Some(t) => t,
        None => vec![1; raw.len()],
    };
    let tokens = if spm {
        super::spm::respell(arch, &raw)
    } else {
        raw.iter().map(|t| t.to_string()).collect()
    };

    let phi3 = phi3_rstrip(meta, arch, spm)?;
    let mut added = Vec::new();
    for (id, (tok, &ty)) in tokens.iter().zip(&types).enumerate() {
        if ty == CONTROL || ty == USER_DEFINED || (spm && ty == UNKNOWN) {
            let rstrip = phi3 && !["<unk>", "<s>", "<|endoftext|>"].contains(&tok.as_str());
            added.push(json!({
                "id": id,
                "content": tok,
                "single_word": false,
                "lstrip": false,
                "rstrip": rstrip,
                "normalized": false,
                "special": ty != USER_DEFINED
            }));
        }
    }
    let token = |key: &str| -> Result<Option<(usize, String)>> {
        match meta.usize(key)? {
            None => Ok(None),
            Some(id) => match tokens.get(id) {
                Some(t) => Ok(Some((id, t.to_string()))),
                None => Err(Error::input(
                    file,
                    format!(
                        "{key} is {id}, past the {} tokens of the vocabulary",
                        tokens.len()
                    ),
                )),
            },
        }
    };
    let bos = token("tokenizer.ggml.bos_token_id")?;
    let eos = token("tokenizer.ggml.eos_token_id")?;
    let unk = token("tokenizer.ggml.unknown_token_id")?;
    let pad = token("tokenizer.ggml.padding_token_id")?;
    // llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise.
    let add_bos = meta.bool("tokenizer.ggml.add_bos_token")?.unwrap_or(spm);
    let add_eos = meta.bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
    let (parts, pre) = if spm {
        let pre = meta.str("tokenizer.ggml.pre")?.unwrap_or("default");
        let unk = unk.as_ref().map(|u| u.1.as_str()).or_else(|| {
            let at = types.iter().position(|&t| t == UNKNOWN)?;
            Some(tokens[at].as_str())
        });
        (super::spm::model_parts(meta, arch, &tokens, unk)?, pre)
    } else {
        byte_level_parts(meta, &tokens)?
    };

    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": parts.normalizer,
        "pre_tokenizer": parts.pre_tokenizer,
        "post_processor": post_processor(
            bos.as_ref().filter(|_| add_bos),
            eos.as_ref().filter(|_| add_eos)
        ),
        "decoder": parts.decoder,
        "model": parts.model
    });
    let tokenizer_json = tokenizer.to_string();
    tokenizers::Tokenizer::from_bytes(tokenizer_json.as_bytes()).map_err(|e| {
        Error::input(
            file,
            format!("the vocabulary in tokenizer.ggml.* does not make a valid tokenizer: {e}"),
        )
    })?;

    let mut config = Map::new();
    config.insert("add_bos_token".into(), json!(add_bos));
    config.insert("add_eos_token".into(), json!(add_eos));
    for (name, t) in [
        ("bos_token", &bos),
        ("eos_token", &eos),
        ("unk_token", &unk),
        ("pad_token", &pad),
    ] {
        if let Some((_, s)) = t {
            config.insert(name.into(), json!(s));
        }
    }
    if let Some(t) = chat_template(meta)? {
        config.insert("chat_template".into(), t);
    }
    config.insert("clean_up_tokenization_spaces".into(), json!(false));
    if let Some(n) = context_length {
        config.insert("model_max_length".into(), json!(n));
    }
    config.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    let tokenizer_config_json = serde_json::to_string_pretty(&Value::Object(config))
        .map_err(|e| Error::input(file, format!("cannot write tokenizer_config.json: {e}")))?;
    Ok(Some(TokenizerFiles {
        tokenizer_json,
        tokenizer_config_json,
        model: model.to_string(),
        pre: pre.to_string(),
        n_tokens: tokens.len(),
        n_added: tokenizer["added_tokens"].as_array().map_or(0, Vec::len),
    }))
}

/// Whether the added tokens strip the whitespace after them, as Phi-3's own `tokenizer.json` has
/// it (`rstrip` on every added token but `<unk>`, `<s>` and `<|endoftext|>`, so
/// `<|user|>\nHi` is `<|user|>` `▁Hi`). A GGUF does not say so; llama.cpp applies it to files
/// whose `general.name` contains `phi3` or `phi-3`, and so does this import, and also to every
/// SentencePiece vocabulary of the `phi3` architecture (recent converters name Phi-3 files
/// "Phi 3 …", which llama.cpp's rule misses). Not by architecture for a byte-level vocabulary:
/// Phi-4, also `phi3`, keeps its whitespace.
fn phi3_rstrip(meta: &Metadata, arch: &str, spm: bool) -> Result<bool> {
    let name = meta.str("general.name")?.unwrap_or_default().to_lowercase();
    Ok((spm && arch == "phi3") || name.contains("phi3") || name.contains("phi-3"))
}

/// The parts of a byte-level BPE (`gpt2`): the text splitting named by `tokenizer.ggml.pre` and
/// the merges the file lists. Also gives that `pre` name.
fn byte_level_parts<'m>(meta: &'m Metadata, tokens: &[String]) -> Result<(ModelParts, &'m str)> {
    let file = meta.file.as_str();
    let pre = meta.str("tokenizer.ggml.pre")?.ok_or_else(|| {
        Error::input(
            file,
            format!(
                "tokenizer.ggml.pre is missing, so the text splitting is unknown (supported: {})",
                super::pretokenizers::SUPPORTED_PRE.join(", ")
            ),
        )
    })?;
    let spec = pre_spec(file, pre)?;
    // gguf-py's writer leaves out an empty list, so an absent key is a byte-level vocabulary
    // without merges.
    let merges = meta.str_array("tokenizer.ggml.merges")?.unwrap_or_default();
    let mut vocab = Map::new();
    for (id, tok) in tokens.iter().enumerate() {
        if !vocab.contains_key(tok) {
            vocab.insert(tok.clone(), json!(id));
        }
    }
    let pairs = merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            // llama.cpp splits at the first space after the first character.
            let first = m.chars().next().map_or(0, char::len_utf8);
            match m[first..].find(' ').map(|at| first + at) {
                Some(at) => Ok(json!([&m[..at], &m[at + 1..]])),
                None => Err(Error::input(
                    file,
                    format!("tokenizer.ggml.merges entry {i} \"{m}\" is not two tokens separated by a space"),
                )),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let parts = ModelParts {
        normalizer: spec.normalizer,
        pre_tokenizer: spec.pre_tokenizer,
        decoder: json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        model: json!({
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": spec.ignore_merges,
            "vocab": vocab,
            "merges": pairs
        }),
    };
    Ok((parts, pre))
}

/// Adds BOS / EOS around each sequence as `add_bos_token` / `add_eos_token` ask.
fn post_processor(bos: Option<&(usize, String)>, eos: Option<&(usize, String)>) -> Value {
    let wrap = |part: &str, type_id: u32| -> Vec<Value> {
        let special =
            |t: &(usize, String)| json!({"SpecialToken": {"id": t.1, "type_id": type_id}});
        bos.map(special)
            .into_iter()
            .chain([json!({"Sequence": {"id": part, "type_id": type_id}})])
            .chain(eos.map(special))
            .collect()
    };
    let mut specials = Map::new();
    for t in [bos, eos].into_iter().flatten() {
        specials.insert(
            t.1.clone(),
            json!({"id": t.1, "ids": [t.0], "tokens": [t.1]}),
        );
    }
    let single = wrap("A", 0);
    let pair: Vec<Value> = wrap("A", 0).into_iter().chain(wrap("B", 1)).collect();
    json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
}

/// `tokenizer.chat_template`, or, with named templates (`tokenizer.chat_template.NAME`), the
/// list form `[{"name", "template"}]` whose `default` entry is the unnamed one.
fn chat_template(meta: &Metadata) -> Result<Option<Value>> {
    const KEY: &str = "tokenizer.chat_template";
    let default = meta.str(KEY)?;
    let mut named = Vec::new();
    for (k, v) in &meta.values {
        if let Some(name) = k.strip_prefix("tokenizer.chat_template.") {
            let t = v.as_str().ok_or_else(|| {
                Error::input(&meta.file, format!("metadata `{k}` should be a string"))
            })?;
            named.push(json!({"name": name, "template": t}));
        }
    }
    Ok(match (default, named.is_empty()) {
        (None, true) => None,
        (Some(t), true) => Some(json!(t)),
        (d, false) => {
            let mut list: Vec<Value> = d
                .map(|t| json!({"name": "default", "template": t}))
                .into_iter()
                .collect();
            list.extend(named);
            Some(Value::Array(list))
        }
    })
}
