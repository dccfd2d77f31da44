//! `Session`, the training page's engine object (one per worker). Every long call returns a
//! promise and takes the engine for its duration, so the worker stays responsive between calls
//! (training is one `step()` per call, an evaluation or the loss over the file one `passBatch()`
//! per batch: the worker pauses, resumes, stops or generates in between; the decomposition
//! yields to the worker's event loop between layers and stops when its progress callback
//! returns `false`). A
//! call made while another runs is refused with a message, never a panic. Errors are JS `Error`s
//! carrying the engine's message (which names the file, tensor or option at fault) and its
//! `kind` (see [`crate::Error::kind`]). The session never renders a chat template: the page's
//! data worker ([`super::text`]) reads data files and prompts into token ids.
use super::convert::{JsChunks, js_err, progress_fn, progress_until, to_js, train_options};
use super::engine::{self, AnyWork, BackendInfo, on_work};
use super::page_files::Dropped;
use super::tiles;
use super::work;
use crate::backend::gpu::{DeviceCaps, LossHandle};
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

type Shared = Rc<RefCell<Option<AnyWork>>>;

/// The engine of the training page: model, data, run, exports.
#[wasm_bindgen]
pub struct Session {
    work: Shared,
    backend: BackendInfo,
    /// Ends the GPU device even while a step holds the engine (`loseDevice`).
    loss: Option<LossHandle>,
}

fn busy() -> Error {
    Error::param("session", "busy: another operation is still running")
}

/// Runs `f` on the engine, taken out of `cell` while it runs, as a JS promise.
fn promise(
    cell: &Shared,
    f: impl AsyncFnOnce(&mut AnyWork) -> Result<JsValue> + 'static,
) -> js_sys::Promise {
    let cell = cell.clone();
    future_to_promise(async move {
        let taken = cell.try_borrow_mut().ok().and_then(|mut w| w.take());
        let mut work = taken.ok_or_else(|| js_err(busy()))?;
        let out = f(&mut work).await;
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(work);
        }
        out.map_err(js_err)
    })
}

/// Runs a short synchronous `f` on the engine.
fn now<T>(cell: &Shared, f: impl FnOnce(&mut AnyWork) -> Result<T>) -> Result<T> {
    let mut slot = cell.try_borrow_mut().map_err(|_| busy())?;
    f(slot.as_mut().ok_or_else(busy)?)
}

fn bytes(v: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(v).into()
}

#[wasm_bindgen]
impl Session {
    /// Opens WebGPU (unless `cpu_only`), else the CPU engine; see [`Session::backend`].
    /// `binding_cap` (bytes) makes the GPU refuse tensors above it, `memory_cap` (bytes) more
    /// buffer memory than that, as a smaller GPU would.
    pub async fn open(
        cpu_only: bool,
        binding_cap: Option<f64>,
        memory_cap: Option<f64>,
    ) -> Session {
        let bytes = |v: Option<f64>| v.filter(|c| c.is_finite() && *c >= 1.0).map(|c| c as u64);
        let caps = DeviceCaps {
            binding: bytes(binding_cap),
            memory: bytes(memory_cap),
        };
        let (work, backend) = engine::open(cpu_only, caps).await;
        let loss = match &work {
            AnyWork::Gpu(w) => Some(w.be.context().loss_handle()),
            AnyWork::Cpu(_) => None,
        };
        Session {
            work: Rc::new(RefCell::new(Some(work))),
            backend,
            loss,
        }
    }

    /// Ends the GPU device now, as a driver reset or the browser reclaiming it would (the
    /// running step, and every later GPU call, fails with "the GPU device was lost"). Returns
    /// whether there was a GPU device to end. For checking that a run survives a lost device.
    #[wasm_bindgen(js_name = loseDevice)]
    pub fn lose_device(&self) -> bool {
        self.loss.as_ref().inspect(|l| l.lose()).is_some()
    }

    /// Times the 64×64 and 128×128 matrix tiles on this GPU (a few seconds; `small`: small
    /// products, to check the measurement on a software adapter) and uses what the timings
    /// support. Resolves to `{wide_tiles, timings, ms}` (see `tiles.rs`); fails on the CPU engine.
    #[wasm_bindgen(js_name = measureTiles)]
    pub fn measure_tiles(&self, small: bool) -> js_sys::Promise {
        promise(&self.work, async move |work| {
            to_js(&tiles::measure_tiles(work, small).await?)
        })
    }

    /// Uses 128×128 tiles for outputs of at least `wide_tiles` rows and columns (0: never): a
    /// measurement the page kept for this GPU.
    #[wasm_bindgen(js_name = setTiles)]
    pub fn set_tiles(&self, wide_tiles: f64) -> std::result::Result<(), JsValue> {
        let n = if wide_tiles.is_finite() && wide_tiles >= 0.0 {
            wide_tiles as usize
        } else {
            return Err(js_err(Error::param(
                "setTiles",
                "wide_tiles is a size, 0 or more",
            )));
        };
        now(&self.work, |work| tiles::set_tiles(work, n)).map_err(js_err)
    }

    /// `{gpu, name, gpu_error, max_binding_bytes}`: the backend in use and, on the CPU, why.
    pub fn backend(&self) -> std::result::Result<JsValue, JsValue> {
        to_js(&self.backend).map_err(js_err)
    }

    /// Loads a model folder from dropped files: `names[i]` is the path of `files[i]` inside the
    /// folder (`config.json`, `model.safetensors`, …; files in subfolders are ignored by name).
    /// `progress(done, total, tensor)` per uploaded tensor. Resolves to
    /// `{name, dtype, template_notice, summary}` (summary as [`super::plan_summary`]).
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(
        &self,
        name: String,
        names: Vec<String>,
        files: js_sys::Array,
        progress: Option<js_sys::Function>,
    ) -> js_sys::Promise {
        promise(&self.work, async move |work| {
            let files = Dropped::new("loadModel", names, files)?.open(true)?;
            let imported = files.gguf_summary()?;
            let p = progress_fn(progress);
            on_work!(work, w => {
                let mut info = w.load_model(name, files, p)?;
                if let Some(s) = imported {
                    let types: Vec<String> =
                        s.tensor_types.iter().map(|(t, n)| format!("{t} × {n}")).collect();
                    info.dtype = Some(format!(
                        "GGUF ({}): matrices kept in the file's types",
                        types.join(", ")
                    ));
                }
                to_js(&info)
            })
        })
    }

    /// The memory a run with `options` would hold, for the model in `files` (named by `names`,
    /// as for [`Session::load_model`]), from its config and headers alone (no weight read, the
    /// engine not taken): `{weights, factors, optimizer, activations, total, recompute, limit,
    /// fits, refused, …}` ([`super::memory::MemoryView`]).
    pub fn memory(
        &self,
        names: Vec<String>,
        files: js_sys::Array,
        options: JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        super::memory::memory_view(&self.backend, names, files, options)
            .and_then(|v| to_js(&v))
            .map_err(js_err)
    }

    /// The SVD plan of the loaded model at `rank_fraction`.
    pub fn plan(
        &self,
        rank_fraction: f64,
        freeze_norms: bool,
    ) -> std::result::Result<JsValue, JsValue> {
        now(
            &self.work,
            |work| on_work!(work, w => to_js(&w.plan(rank_fraction, freeze_norms)?)),
        )
        .map_err(js_err)
    }

    /// Sets the chat data file `name` from the bytes the data worker's
    /// [`super::text::encode_dataset`] made of it.
    #[wasm_bindgen(js_name = setData)]
    pub fn set_data(&self, name: String, encoded: Vec<u8>) -> std::result::Result<(), JsValue> {
        now(
            &self.work,
            |work| on_work!(work, w => w.set_data(name, &encoded)),
        )
        .map_err(js_err)
    }

    /// The loaded model's tokenizer and chat template files as `[{name, file}]`, for the data
    /// worker (which renders the template and tokenizes, in its own wasm instance).
    #[wasm_bindgen(js_name = textFiles)]
    pub fn text_files(&self) -> std::result::Result<js_sys::Array, JsValue> {
        let files = now(&self.work, |work| on_work!(work, w => w.text_files())).map_err(js_err)?;
        let out = js_sys::Array::new();
        for (name, blob) in files {
            let entry = js_sys::Object::new();
            js_sys::Reflect::set(&entry, &"name".into(), &name.into())?;
            js_sys::Reflect::set(&entry, &"file".into(), &blob)?;
            out.push(&entry);
        }
        Ok(out)
    }

    /// Dataset statistics, skipped records and the split under `options` (any subset of the
    /// training options, by name: `seq_len`, `all_tokens`, `eval_fraction`, `seed`, …).
    #[wasm_bindgen(js_name = dataInfo)]
    pub fn data_info(&self, options: JsValue) -> std::result::Result<JsValue, JsValue> {
        now(&self.work, |work| {
            let o = train_options(options)?;
            on_work!(work, w => to_js(&w.data_info(&o)?))
        })
        .map_err(js_err)
    }

    /// Decomposes the model and starts a run with `options`; `progress(done, total, module)`
    /// per decomposed layer, which stops the decomposition by returning `false`; a checkpoint
    /// is due every `checkpoint_every` steps (none when absent or 0; see [`Session::step`]).
    /// Resolves to `{total_steps, decomposed_layers, trainable_params, decompose_ms,
    /// eval_batches, file_batches, file_examples, batch_size, memory}`, or `null` when stopped
    /// (the model is then as loaded). The first evaluation is a loss pass
    /// ([`Session::begin_pass`]).
    pub fn start(
        &self,
        options: JsValue,
        progress: Option<js_sys::Function>,
        checkpoint_every: Option<usize>,
    ) -> js_sys::Promise {
        promise(&self.work, async move |work| {
            let o = train_options(options)?;
            let p = progress_until(progress);
            let every = checkpoint_every.unwrap_or(0);
            on_work!(work, w => to_js(&w.start(o, every, p).await?))
        })
    }

    /// One optimizer step. Resolves to `{step, total_steps, epoch, loss, grad_norm, lr, applied,
    /// tokens, trained_tokens, due: {eval, checkpoint}, ms, tokens_per_s, checkpoint_due,
    /// done}`: when `due.eval`, the caller runs an evaluation ([`Session::begin_pass`]); when
    /// `checkpoint_due`, it stores [`Session::checkpoint`].
    pub fn step(&self) -> js_sys::Promise {
        promise(
            &self.work,
            async move |work| on_work!(work, w => to_js(&w.step().await?)),
        )
    }

    /// Sets up a loss pass with the current weights, `kind` `"eval"` (the eval split) or
    /// `"file"` (the whole data file; with `examples`, an evenly spread sample of about that
    /// many). Returns `{batches, examples, of}`; [`Session::pass_batch`] runs it.
    #[wasm_bindgen(js_name = beginPass)]
    pub fn begin_pass(
        &self,
        kind: String,
        examples: Option<usize>,
    ) -> std::result::Result<JsValue, JsValue> {
        now(&self.work, |work| {
            let kind: work::PassKind = serde_json::from_value(serde_json::Value::String(kind))
                .map_err(|_| Error::param("beginPass", "kind is \"eval\" or \"file\""))?;
            on_work!(work, w => to_js(&w.begin_pass(kind, examples)?))
        })
        .map_err(js_err)
    }

    /// One batch of the loss pass under way. Resolves to `{done, total, loss, ms}`: `loss`, the
    /// pass's mean loss, is set after the last batch.
    #[wasm_bindgen(js_name = passBatch)]
    pub fn pass_batch(&self) -> js_sys::Promise {
        promise(
            &self.work,
            async move |work| on_work!(work, w => to_js(&w.pass_batch().await?)),
        )
    }

    /// How long a run with `options` will take, by phase, with a loss pass over about
    /// `final_examples` examples of the file after it (all when absent, none when 0). Resolves
    /// to `{decompose_ms, step_ms, steps, eval_batch_ms, evals, eval_batches, eval_ms,
    /// final_batches, final_ms, total_ms}`. The first call after a model is loaded measures
    /// it (a forward pass of a short row and one layer's SVD: about 2 s on the demo
    /// model's CPU engine); later calls reuse the measurement.
    pub fn estimate(&self, options: JsValue, final_examples: Option<usize>) -> js_sys::Promise {
        promise(&self.work, async move |work| {
            let o = train_options(options)?;
            on_work!(work, w => to_js(&w.estimate(&o, final_examples).await?))
        })
    }

    /// A greedy answer to a prompt given as token ids (one user message, rendered and
    /// tokenized by the data worker's [`super::text::encode_prompt`]), with the current weights
    /// or the `original` ones. `on_token(text, tokens, ms)`, when given, streams the answer:
    /// it is called after each new token with the text so far, and a promise it returns is
    /// awaited before the next token (see [`super::work::Work::generate`]). Resolves to
    /// `{text, tokens, ms}`.
    pub fn generate(
        &self,
        prompt_ids: Vec<u32>,
        max_new_tokens: usize,
        original: bool,
        on_token: Option<js_sys::Function>,
    ) -> js_sys::Promise {
        promise(
            &self.work,
            async move |work| on_work!(work, w => to_js(&w.generate(&prompt_ids, max_new_tokens, original, on_token.clone()).await?)),
        )
    }

    /// The merged model folder as a zip, streamed: `dtype` is `source` (each tensor as the
    /// loaded checkpoint stores it; f32 for a GGUF file), `f32`, `f16` or `bf16`,
    /// `on_chunk(Uint8Array)` receives the archive in order, `progress(done, total, tensor)` per
    /// tensor. Resolves to `{files, bytes}`.
    #[wasm_bindgen(js_name = exportMerged)]
    pub fn export_merged(
        &self,
        dtype: String,
        on_chunk: js_sys::Function,
        progress: Option<js_sys::Function>,
    ) -> js_sys::Promise {
        promise(&self.work, async move |work| {
            let dtype = dtype.parse::<crate::export::MergedDtype>()?;
            let p = progress_fn(progress);
            let (files, out) =
                on_work!(work, w => w.export_merged(JsChunks::new(on_chunk), dtype, p).await?);
            to_js(&serde_json::json!({"files": files, "bytes": out.sent}))
        })
    }

    /// The merged model as one GGUF file for llama.cpp, streamed: `ty` is `f16`, `bf16` or
    /// `q8_0` (the matrices' type), `on_chunk(Uint8Array)` receives the file in order,
    /// `progress(done, total, tensor)` per tensor (the merge's, then the GGUF's). Resolves to
    /// `{architecture, tensors, bytes, tokenizer}`.
    #[wasm_bindgen(js_name = exportGguf)]
    pub fn export_gguf(
        &self,
        ty: String,
        on_chunk: js_sys::Function,
        progress: Option<js_sys::Function>,
    ) -> js_sys::Promise {
        promise(&self.work, async move |work| {
            let ty = crate::export::GgufOutType::parse(&ty)?;
            let p = progress_fn(progress);
            let (done, out) =
                on_work!(work, w => w.export_gguf(JsChunks::new(on_chunk), ty, p).await?);
            to_js(&serde_json::json!({
                "architecture": done.architecture,
                "tensors": done.tensors,
                "bytes": out.sent,
                "tokenizer": done.tokenizer,
            }))
        })
    }

    /// The PEFT LoRA adapter (`adapter_config.json`, `adapter_model.safetensors`) as zip bytes.
    #[wasm_bindgen(js_name = exportAdapter)]
    pub fn export_adapter(&self) -> js_sys::Promise {
        promise(
            &self.work,
            async move |work| on_work!(work, w => Ok(bytes(&w.export_adapter().await?))),
        )
    }

    /// A checkpoint of the run as bytes.
    pub fn checkpoint(&self) -> js_sys::Promise {
        promise(
            &self.work,
            async move |work| on_work!(work, w => Ok(bytes(&w.checkpoint().await?))),
        )
    }

    /// Continues the started run (same files and options) from checkpoint bytes; returns
    /// `{step}`, the step it continues after (its eval loss is a loss pass of its own).
    pub fn resume(&self, checkpoint: Vec<u8>) -> std::result::Result<JsValue, JsValue> {
        now(&self.work, |work| {
            let step = on_work!(work, w => w.resume(&checkpoint)?);
            to_js(&serde_json::json!({ "step": step }))
        })
        .map_err(js_err)
    }
}
