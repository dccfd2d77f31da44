//! `tokenizer.json` through the `tokenizers` crate (the same library transformers' fast tokenizers
//! wrap), plus the special-token ids a trainer and a generator need.
//!
//! [`TextTokenizer::encode`] adds no special tokens: rendered chat templates already hold them
//! (transformers' `apply_chat_template` tokenizes with `add_special_tokens=False` too), so there is
//! never a double BOS. [`TextTokenizer::encode_with_special`] is `tokenizer(text)` for plain text.
use serde_json::Value as Json;
use tokenizers::Tokenizer;

use super::template::token_string;
use crate::{Error, Result};

fn err(message: impl Into<String>) -> Error {
    Error::param("tokenizer", message)
}

/// Token ids and, per token, its byte range `(start, end)` in the encoded text.
pub type IdsWithOffsets = (Vec<u32>, Vec<(usize, usize)>);

/// A loaded tokenizer.
pub struct TextTokenizer {
    tok: Tokenizer,
    bos: Option<String>,
    eos: Option<String>,
    eos_ids: Vec<u32>,
    pad_id: Option<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab", &self.tok.get_vocab_size(true))
            .field("eos_ids", &self.eos_ids)
            .finish()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; `tokenizer_config.json` (optional) names the BOS/EOS/PAD tokens.
    pub fn from_bytes(tokenizer_json: &[u8], tokenizer_config_json: Option<&str>) -> Result<Self> {
        // Checked as JSON first: the tokenizers crate panics (which would end the wasm engine)
        // instead of failing on some malformed strings, e.g. a lone surrogate in the decoder.
        serde_json::from_slice::<Json>(tokenizer_json)
            .map_err(|e| err(format!("tokenizer.json is not valid JSON: {e}")))?;
        let tok = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| err(format!("cannot load tokenizer.json: {e}")))?;
        let mut t = TextTokenizer {
            tok,
            bos: None,
            eos: None,
            eos_ids: Vec::new(),
            pad_id: None,
        };
        if let Some(cfg) = tokenizer_config_json {
            let cfg: Json = serde_json::from_str(cfg)
                .map_err(|e| err(format!("tokenizer_config.json is not valid JSON: {e}")))?;
            t.bos = token_string(cfg.get("bos_token"));
            t.eos = token_string(cfg.get("eos_token"));
            if let Some(eos) = &t.eos {
                let id = t.tok.token_to_id(eos).ok_or_else(|| {
                    err(format!(
                        "eos_token '{eos}' of tokenizer_config.json is not in tokenizer.json"
                    ))
                })?;
                t.eos_ids.push(id);
            }
            t.pad_id = token_string(cfg.get("pad_token")).and_then(|p| t.tok.token_to_id(&p));
        }
        Ok(t)
    }

    /// Adds the `eos_token_id` (a number or a list) of `generation_config.json` to the stop ids.
    pub fn with_generation_config(mut self, generation_config_json: &str) -> Result<Self> {
        let cfg: Json = serde_json::from_str(generation_config_json)
            .map_err(|e| err(format!("generation_config.json is not valid JSON: {e}")))?;
        let ids: Vec<&Json> = match cfg.get("eos_token_id") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(a)) => a.iter().collect(),
            Some(v) => vec![v],
        };
        for v in ids {
            let id = v
                .as_u64()
                .filter(|&id| id < self.vocab_size() as u64)
                .ok_or_else(|| {
                    err(format!(
                        "generation_config.json: eos_token_id {v} is not a token id of this vocabulary"
                    ))
                })? as u32;
            if !self.eos_ids.contains(&id) {
                self.eos_ids.push(id);
            }
        }
        Ok(self)
    }

    /// Token ids of `text`, no special tokens added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tok
            .encode(text, false)
            .map_err(|e| err(format!("cannot encode text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of `text` (no special tokens added) with each token's byte range in `text`.
    pub fn encode_with_offsets(&self, text: &str) -> Result<IdsWithOffsets> {
        let enc = self
            .tok
            .encode(text, false)
            .map_err(|e| err(format!("cannot encode text: {e}")))?;
        Ok((enc.get_ids().to_vec(), enc.get_offsets().to_vec()))
    }

    /// `tokenizer(text)` as transformers calls it: the post-processor's special tokens (e.g. a
    /// BOS) are added. For plain-text records.
    pub fn encode_with_special(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tok
            .encode(text, true)
            .map_err(|e| err(format!("cannot encode text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens included.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let n = self.vocab_size();
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= n) {
            return Err(err(format!(
                "cannot decode: id {bad} is outside the vocabulary of {n} tokens"
            )));
        }
        self.tok
            .decode(ids, false)
            .map_err(|e| err(format!("cannot decode: {e}")))
    }

    /// Ids that end generation: `eos_token` of tokenizer_config.json, then any
    /// `eos_token_id` of generation_config.json ([`Self::with_generation_config`]).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        self.eos_ids.clone()
    }

    /// The EOS token string, if the config names one.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos.as_deref()
    }

    /// The BOS token string, if the config names one.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos.as_deref()
    }

    /// Id used to fill padding positions (never trained): the pad token, else the first EOS id,
    /// else 0.
    pub fn pad_token_id(&self) -> u32 {
        self.pad_id
            .or_else(|| self.eos_ids.first().copied())
            .unwrap_or(0)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.tok.get_vocab_size(true)
    }

    /// Id of a token string (e.g. a special token), if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tok.token_to_id(token)
    }
}
