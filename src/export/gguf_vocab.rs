//! A model folder's tokenizer as GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`),
//! the inverse of [`crate::gguf::tokenizer`]. A byte-level BPE (`tokenizer.ggml.model` `gpt2`):
//! `tokenizer.json`'s vocabulary as `tokens` (by id, padded to the model's vocabulary with
//! `[PAD{id}]` unused tokens as llama.cpp's converter does), `token_type` (1 normal, 3 control =
//! special added token, 4 user-defined = other added token, 5 unused), `merges` (`"a b"`), the
//! text splitting as `tokenizer.ggml.pre` (found by comparing with
//! [`crate::gguf::pretokenizers::pre_spec`], so the reader and the writer share one table). A BPE
//! with byte fallback (a SentencePiece vocabulary: `llama`): `tokens`, `scores` rebuilt from the
//! merges ([`spm_scores`]), `token_type` (2 unknown and 6 byte too) and `add_space_prefix`, no
//! merges. Both: the special-token ids, `add_bos_token` / `add_eos_token` and the chat template
//! from `tokenizer_config.json` (or `chat_template.jinja`). A folder without `tokenizer.json`
//! gets no tokenizer keys.
use super::gguf_meta::{Pairs, str_array};
use crate::error::{Error, Result};
use crate::gguf::metadata::{Value, ValueType};
use crate::gguf::pretokenizers::{SUPPORTED_PRE, pre_spec};
use crate::model::{ModelConfig, ModelFiles};
use serde_json::Value as Json;
use std::collections::HashMap;

const TOKENIZER: &str = "tokenizer.json";
const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
const TEMPLATE_FILE: &str = "chat_template.jinja";

const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;
const BYTE: i32 = 6;

fn json_file<F: ModelFiles>(files: &F, name: &str) -> Result<Option<Json>> {
    if !files.has(name) {
        return Ok(None);
    }
    serde_json::from_str(&files.read_text(name)?)
        .map(Some)
        .map_err(|e| Error::input(files.describe(name), format!("not valid JSON: {e}")))
}

/// `tokenizer.ggml.pre` for the splitting of `tok` (a parsed `tokenizer.json`).
fn find_pre(file: &str, tok: &Json) -> Result<&'static str> {
    let null = Json::Null;
    let normalizer = tok.get("normalizer").unwrap_or(&null);
    let pre_tokenizer = tok.get("pre_tokenizer").unwrap_or(&null);
    let ignore = tok["model"]
        .get("ignore_merges")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    for &pre in SUPPORTED_PRE {
        let spec = pre_spec(file, pre)?;
        if &spec.normalizer == normalizer
            && &spec.pre_tokenizer == pre_tokenizer
            && spec.ignore_merges == ignore
        {
            return Ok(pre);
        }
    }
    Err(Error::Unsupported(format!(
        "{file}: the tokenizer's text splitting (normalizer and pre_tokenizer) is not one llama.cpp is known to reproduce here (supported: the splits of {})",
        SUPPORTED_PRE.join(", ")
    )))
}

/// A special token named in `tokenizer_config.json`: a string or `{"content": …}`.
fn token_text(v: Option<&Json>) -> Option<&str> {
    match v? {
        Json::String(s) => Some(s),
        o => o.get("content")?.as_str(),
    }
}

/// The tokenizer keys for the folder `files` (none without `tokenizer.json`).
pub fn vocab_metadata<F: ModelFiles>(files: &F, cfg: &ModelConfig) -> Result<Pairs> {
    let Some(tok) = json_file(files, TOKENIZER)? else {
        return Ok(Vec::new());
    };
    let file = files.describe(TOKENIZER);
    let model = &tok["model"];
    if model["type"].as_str() != Some("BPE") {
        return Err(Error::Unsupported(format!(
            "{file}: only BPE tokenizers (byte-level: llama.cpp's \"gpt2\" tokenizer model; with byte fallback: SentencePiece, \"llama\") are exported to GGUF; this one is {}",
            model["type"].as_str().unwrap_or("of an unknown type")
        )));
    }
    // A BPE with byte fallback is a SentencePiece vocabulary (Llama 2, Mistral 7B, Phi-3, Gemma).
    let spm = model["byte_fallback"].as_bool() == Some(true);
    let (pre, space_prefix) = if spm {
        ("default", spm_space_prefix(&file, &tok)?)
    } else {
        (find_pre(&file, &tok)?, false)
    };
    let vocab = model["vocab"]
        .as_object()
        .ok_or_else(|| Error::input(&file, "model.vocab is not an object"))?;
    let mut by_id: HashMap<usize, (String, i32)> = HashMap::new();
    for (t, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| Error::input(&file, format!("vocab entry \"{t}\" has no integer id")))?;
        by_id.insert(id as usize, (t.clone(), NORMAL));
    }
    for a in tok["added_tokens"].as_array().into_iter().flatten() {
        let (Some(id), Some(content)) = (a["id"].as_u64(), a["content"].as_str()) else {
            return Err(Error::input(
                &file,
                "an added_tokens entry lacks its id or content",
            ));
        };
        let ty = if a["special"].as_bool() == Some(true) {
            CONTROL
        } else {
            USER_DEFINED
        };
        by_id.insert(id as usize, (content.to_string(), ty));
    }
    let n = by_id.keys().max().map_or(0, |m| m + 1).max(cfg.vocab_size);
    if n > cfg.vocab_size {
        return Err(Error::input(
            &file,
            format!(
                "the tokenizer has ids up to {}, past the model's {} embedding rows",
                n - 1,
                cfg.vocab_size
            ),
        ));
    }
    let mut tokens = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    for id in 0..n {
        match by_id.remove(&id) {
            Some((t, ty)) => {
                tokens.push(t);
                types.push(Value::I32(ty));
            }
            None => {
                tokens.push(format!("[PAD{id}]"));
                types.push(Value::I32(UNUSED));
            }
        }
    }
    let merges = model["merges"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, m)| match m {
            Json::String(s) => Ok(s.clone()),
            Json::Array(p) if p.len() == 2 && p.iter().all(Json::is_string) => Ok(format!(
                "{} {}",
                p[0].as_str().unwrap_or_default(),
                p[1].as_str().unwrap_or_default()
            )),
            _ => Err(Error::input(&file, format!("merge {i} is not a pair"))),
        })
        .collect::<Result<Vec<_>>>()?;

    let tc = json_file(files, TOKENIZER_CONFIG)?.unwrap_or(Json::Null);
    let id_of = |text: &str| tokens.iter().position(|t| t == text);
    let named = |key: &str| token_text(tc.get(key)).and_then(id_of);
    let bos = named("bos_token").or(cfg.bos_token_id.map(|b| b as usize));
    let eos = named("eos_token").or(cfg.eos_token_ids.first().map(|&e| e as usize));
    let unk = named("unk_token");
    let pad = named("pad_token").or_else(|| {
        cfg.raw
            .get("pad_token_id")
            .and_then(Json::as_u64)
            .map(|p| p as usize)
    });
    let add_bos = tc["add_bos_token"]
        .as_bool()
        .unwrap_or_else(|| post_processor_adds(&tok, bos, "single", true));
    let add_eos = tc["add_eos_token"]
        .as_bool()
        .unwrap_or_else(|| post_processor_adds(&tok, eos, "single", false));

    let mut m: Pairs = vec![
        (
            "tokenizer.ggml.model".into(),
            Value::String(if spm { "llama" } else { "gpt2" }.into()),
        ),
        ("tokenizer.ggml.pre".into(), Value::String(pre.into())),
    ];
    if spm {
        let unk_text = model["unk_token"].as_str();
        for (t, ty) in tokens.iter().zip(types.iter_mut()) {
            if Some(t.as_str()) == unk_text {
                *ty = Value::I32(UNKNOWN);
            } else if matches!(ty, Value::I32(NORMAL)) && is_byte_piece(t) {
                *ty = Value::I32(BYTE);
            }
        }
        let scores = spm_scores(&tokens, &types, &merges);
        m.push(("tokenizer.ggml.tokens".into(), str_array(tokens)));
        m.push((
            "tokenizer.ggml.scores".into(),
            Value::Array(ValueType::F32, scores.into_iter().map(Value::F32).collect()),
        ));
        m.push((
            "tokenizer.ggml.token_type".into(),
            Value::Array(ValueType::I32, types),
        ));
        m.push((
            "tokenizer.ggml.add_space_prefix".into(),
            Value::Bool(space_prefix),
        ));
    } else {
        m.push(("tokenizer.ggml.tokens".into(), str_array(tokens)));
        m.push((
            "tokenizer.ggml.token_type".into(),
            Value::Array(ValueType::I32, types),
        ));
        // Written even when empty (a vocabulary of bytes only): llama.cpp refuses a "gpt2"
        // tokenizer without the key.
        m.push(("tokenizer.ggml.merges".into(), str_array(merges)));
    }
    for (key, id) in [
        ("bos_token_id", bos),
        ("eos_token_id", eos),
        ("unknown_token_id", unk),
        ("padding_token_id", pad),
    ] {
        if let Some(id) = id.filter(|&i| i < n) {
            m.push((format!("tokenizer.ggml.{key}"), Value::U32(id as u32)));
        }
    }
    m.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(add_bos)));
    if add_eos {
        // llama.cpp's converter writes it only when the tokenizer adds EOS.
        m.push(("tokenizer.ggml.add_eos_token".into(), Value::Bool(true)));
    }
    m.extend(chat_templates(files, &tc)?);
    Ok(m)
}

/// A byte piece of a SentencePiece vocabulary: `<0xNN>`.
fn is_byte_piece(t: &str) -> bool {
    t.len() == 6
        && t.starts_with("<0x")
        && t.ends_with('>')
        && t[3..5].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Scores for a SentencePiece vocabulary rebuilt from a BPE's merges, which llama.cpp's
/// tokenizer (and [`crate::gguf::spm`] on import) turns back into the same merge order: a piece a
/// merge makes scores minus the rank of its first merge; other normal pieces (single characters)
/// score below every merge; control, unknown and byte pieces 0, other added tokens -1000 and
/// padding -10000, as `convert_hf_to_gguf.py` writes them.
fn spm_scores(tokens: &[String], types: &[Value], merges: &[String]) -> Vec<f32> {
    let mut rank: HashMap<String, usize> = HashMap::new();
    for (r, m) in merges.iter().enumerate() {
        // "left right": llama.cpp's split at the first space after the first character.
        let first = m.chars().next().map_or(0, char::len_utf8);
        if let Some(at) = m[first..].find(' ').map(|at| first + at) {
            let piece = format!("{}{}", &m[..at], &m[at + 1..]);
            rank.entry(piece).or_insert(r);
        }
    }
    let n = merges.len();
    tokens
        .iter()
        .zip(types)
        .enumerate()
        .map(|(id, (t, ty))| match ty {
            Value::I32(NORMAL) => -(rank.get(t).copied().unwrap_or(n + id) as f32),
            Value::I32(USER_DEFINED) => -1000.0,
            Value::I32(UNUSED) => -10000.0,
            _ => 0.0,
        })
        .collect()
}

/// Whether a SentencePiece tokenizer prepends `▁` to the text (`tokenizer.ggml.add_space_prefix`):
/// a `Prepend("▁")` normalizer or a `Metaspace` pre-tokenizer that prepends. Any other text
/// handling than spaces → `▁` is refused: llama.cpp would not reproduce it.
fn spm_space_prefix(file: &str, tok: &Json) -> Result<bool> {
    let is_replace = |n: &Json| {
        n["type"] == "Replace" && n["pattern"]["String"] == " " && n["content"] == "\u{2581}"
    };
    let refuse = |what: &str, v: &Json| {
        Err(Error::Unsupported(format!(
            "{file}: the SentencePiece tokenizer's {what} {v} is not one llama.cpp reproduces (supported: spaces as ▁, with or without a prepended ▁)"
        )))
    };
    let normalizer = &tok["normalizer"];
    // Whether spaces become ▁ (a Replace here, or a Metaspace below), and a ▁ is prepended.
    let (mut spaces, mut prefix) = match normalizer {
        Json::Null => (false, false),
        n if is_replace(n) => (true, false),
        n if n["type"] == "Sequence" => {
            let parts = n["normalizers"].as_array().cloned().unwrap_or_default();
            let (mut spaces, mut prefix) = (false, false);
            for p in &parts {
                if p["type"] == "Prepend" && p["prepend"] == "\u{2581}" {
                    prefix = true;
                } else if is_replace(p) {
                    spaces = true;
                } else {
                    return refuse("normalizer", normalizer);
                }
            }
            (spaces, prefix)
        }
        n => return refuse("normalizer", n),
    };
    let pre = &tok["pre_tokenizer"];
    match pre["type"].as_str() {
        None => {}
        Some("Metaspace")
            if pre["replacement"] == "\u{2581}" && pre["split"].as_bool() != Some(true) =>
        {
            spaces = true;
            let scheme = pre["prepend_scheme"].as_str().unwrap_or("always");
            prefix |= scheme != "never" && pre["add_prefix_space"].as_bool() != Some(false);
        }
        // Gemma's: a no-op once spaces are ▁.
        Some("Split") if pre["pattern"]["String"] == " " => {}
        Some(_) => return refuse("pre_tokenizer", pre),
    }
    if !spaces {
        return refuse("text handling (spaces are not turned into ▁)", normalizer);
    }
    Ok(prefix)
}

/// Whether `tokenizer.json`'s post-processor puts the token `id` first (`first`) or last in a
/// single sequence.
fn post_processor_adds(tok: &Json, id: Option<usize>, part: &str, first: bool) -> bool {
    let Some(id) = id else { return false };
    let pp = &tok["post_processor"];
    let Some(items) = pp[part].as_array() else {
        return false;
    };
    let item = if first { items.first() } else { items.last() };
    let Some(name) = item.and_then(|i| i["SpecialToken"]["id"].as_str()) else {
        return false;
    };
    pp["special_tokens"][name]["ids"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|v| v.as_u64() == Some(id as u64)))
}

/// `tokenizer.chat_template` (and `tokenizer.chat_template.NAME` for named templates) from
/// `tokenizer_config.json`'s `chat_template` (a string or `[{"name", "template"}]`), or from
/// `chat_template.jinja`.
fn chat_templates<F: ModelFiles>(files: &F, tc: &Json) -> Result<Pairs> {
    const KEY: &str = "tokenizer.chat_template";
    Ok(match &tc["chat_template"] {
        Json::String(t) => vec![(KEY.into(), Value::String(t.clone()))],
        Json::Array(list) => list
            .iter()
            .filter_map(|e| Some((e["name"].as_str()?, e["template"].as_str()?)))
            .map(|(name, t)| {
                let key = if name == "default" {
                    KEY.to_string()
                } else {
                    format!("{KEY}.{name}")
                };
                (key, Value::String(t.to_string()))
            })
            .collect(),
        _ if files.has(TEMPLATE_FILE) => {
            vec![(KEY.into(), Value::String(files.read_text(TEMPLATE_FILE)?))]
        }
        _ => Vec::new(),
    })
}
