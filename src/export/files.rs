//! The small files of an exported model folder: `config.json` written back with only the needed
//! changes, and the tokenizer and generation files copied through byte for byte.
use super::target::{ByteSink, ExportTarget};
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::ModelFiles;
use crate::model::source::ByteSource;
use serde_json::Value;

/// Files copied unchanged from the model folder when present: tokenizers (fast and slow),
/// chat templates and generation defaults.
pub const PASSTHROUGH: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
];

/// Bytes copied per read.
const COPY_CHUNK: usize = 1 << 20;

/// `config.json` for the merged export: the original JSON (`cfg.raw`, keys sorted, 2-space
/// indent as transformers writes it) with `tie_word_embeddings: false` when the checkpoint tied
/// the head to the embedding (the export writes an explicit, trained `lm_head.weight`). Every
/// tensor keeps its original dtype, so the `dtype` / `torch_dtype` fields stay as they were.
pub fn merged_config_json(cfg: &ModelConfig) -> Result<String> {
    let mut raw = cfg.raw.clone();
    if cfg.tie_word_embeddings {
        raw.insert("tie_word_embeddings".into(), Value::Bool(false));
    }
    to_json(&Value::Object(raw))
}

/// Pretty JSON with a trailing newline.
pub(crate) fn to_json(value: &Value) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| Error::param("export", format!("cannot encode JSON: {e}")))
}

/// Copies every [`PASSTHROUGH`] file the folder has; returns their names.
pub fn copy_passthrough<F: ModelFiles, T: ExportTarget + ?Sized>(
    files: &F,
    out: &mut T,
) -> Result<Vec<String>> {
    let mut copied = Vec::new();
    for &name in PASSTHROUGH {
        if files.has(name) {
            copy_file(files, name, out)?;
            copied.push(name.to_string());
        }
    }
    Ok(copied)
}

/// Copies the file `name` in chunks.
fn copy_file<F: ModelFiles, T: ExportTarget + ?Sized>(
    files: &F,
    name: &str,
    out: &mut T,
) -> Result<()> {
    let src = files.open(name)?;
    let mut file = out.create(name)?;
    let mut at = 0u64;
    while at < src.len() {
        let n = (src.len() - at).min(COPY_CHUNK as u64) as usize;
        file.write_all(&src.read_at(at, n)?)?;
        at += n as u64;
    }
    out.finish(file)
}
