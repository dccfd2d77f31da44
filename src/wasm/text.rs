//! The data worker's side of the facade (web/data_worker.js): the only wasm calls that render a
//! chat template or run a tokenizer for the page. The page runs them in a worker of their own,
//! with a wasm instance (and memory) of their own, and ends that worker after a time budget or
//! when it dies (stack overflow, out of memory), so a hostile template from a model folder can
//! never touch the training session. Both calls are synchronous (blobs are read with
//! `FileReaderSync`) and stateless: everything they need comes in with the call.
use super::convert::{js_err, train_options};
use crate::data::wire::{self, Encoded};
use crate::data::{Dataset, DatasetOptions, LossMode, Message, ModelText};
use crate::error::{Error, Result};
use crate::model::ByteSource;
use crate::model::load::BlobFiles;
use crate::model::source::BlobSource;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// The model's template and tokenizer from `[{name, file}]` (the engine's `textFiles()`).
fn model_text(files: &js_sys::Array) -> Result<ModelText> {
    let mut blobs = BlobFiles::new();
    for entry in files.iter() {
        let get = |k: &str| js_sys::Reflect::get(&entry, &JsValue::from_str(k)).ok();
        let name = get("name").and_then(|v| v.as_string());
        let file = get("file").and_then(|v| v.dyn_into::<web_sys::Blob>().ok());
        match (name, file) {
            (Some(n), Some(f)) => blobs.insert(n, f),
            _ => {
                return Err(Error::param(
                    "model files",
                    "expected [{name, file}] with a File or Blob each",
                ));
            }
        }
    }
    ModelText::from_model_files(&blobs)
}

/// Reads the chat file `data` (called `name`) with the model's template and tokenizer (`model`:
/// `[{name, file}]`), cut to `options.seq_len` tokens, assistant turns trained unless
/// `options.all_tokens`; returns the examples, skips and statistics as bytes for the engine's
/// `setData` ([`wire`]). Errors name the file at fault (kind `"template"` when the chat
/// template is).
#[wasm_bindgen(js_name = encodeDataset)]
pub fn encode_dataset(
    model: js_sys::Array,
    name: String,
    data: web_sys::Blob,
    options: JsValue,
) -> std::result::Result<js_sys::Uint8Array, JsValue> {
    let run = || -> Result<Vec<u8>> {
        let o = train_options(options)?;
        let text = model_text(&model)?;
        let src = BlobSource::new(name.clone(), data)?;
        let bytes = src.read_at(0, src.len() as usize)?;
        let loss = if o.all_tokens {
            LossMode::All
        } else {
            LossMode::Assistant
        };
        let opts = DatasetOptions {
            max_tokens: Some(o.seq_len),
            loss,
            ..DatasetOptions::default()
        };
        let dataset = Dataset::from_bytes(&bytes, &text, &opts)
            .map_err(|e| crate::data::dataset::named(e, &name, false))?;
        Ok(wire::encode(&Encoded {
            dataset,
            max_tokens: Some(o.seq_len),
            loss,
        }))
    };
    run()
        .map(|b| js_sys::Uint8Array::from(b.as_slice()))
        .map_err(js_err)
}

/// `prompt` as one user turn of the model's chat template with the assistant opener, tokenized:
/// the prompt ids of the engine's `generate`.
#[wasm_bindgen(js_name = encodePrompt)]
pub fn encode_prompt(
    model: js_sys::Array,
    prompt: String,
) -> std::result::Result<js_sys::Uint32Array, JsValue> {
    let run = || -> Result<Vec<u32>> {
        let text = model_text(&model)?;
        let rendered = text.template.render(&[Message::user(prompt)], true)?;
        text.tokenizer.encode(&rendered)
    };
    run()
        .map(|ids| js_sys::Uint32Array::from(ids.as_slice()))
        .map_err(js_err)
}
