//! What a page session does, on one backend (generic, so WebGPU and the CPU fallback share it):
//! load a dropped model folder, read the dropped dataset, decompose and train step by step,
//! evaluate, generate with the original or the current weights, export, checkpoint and resume.
//! The run is set up as `svdtune train` sets it up ([`crate::train::setup`]) and its cadence
//! (evaluations, checkpoints due) is the run's own; this is the page's side of it, one call per
//! step. The dataset side is in [`data`], the exports in [`export`].
mod data;
mod export;

use super::convert::now_ms;
use super::original::{self, Trained};
use crate::backend::Backend;
use crate::data::{Batch as DataBatch, ModelText};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::generate::generate_async;
use crate::model::load::{BlobFiles, open_checkpoint};
use crate::model::sample::Sampling;
use crate::svd::PlanSummary;
use crate::svd::decompose::LayerInit;
use crate::train::memory::MemoryEstimate;
use crate::train::run::{StepEvent, TrainOptions, TrainRun};
use crate::train::setup::{RunPlan, Started};
use crate::train::step::HostBatch;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

/// A session's model, data and run on backend `B`.
pub struct Work<B: Backend> {
    pub be: B,
    model: Option<Loaded<B>>,
    /// The data file's name and its examples, encoded by the page's data worker.
    data: Option<(String, crate::data::wire::Encoded)>,
}

struct Loaded<B: Backend> {
    /// The folder's name (the adapter's `base_model_name_or_path` when `config.json` names no Hub id).
    name: String,
    files: BlobFiles,
    text: ModelText,
    phase: Phase<B>,
}

enum Phase<B: Backend> {
    /// As loaded: nothing decomposed.
    Dense(Box<Model<B>>),
    Training(Box<Training<B>>),
    /// A decomposition or start failed midway; the next start reloads the weights.
    Broken,
}

struct Training<B: Backend> {
    run: TrainRun<B>,
    inits: Vec<LayerInit>,
    /// Σ₀ and the norm weights as loaded: the original model.
    original: Trained,
    /// Every example (train and eval) in batches, for the loss over the whole file.
    all: Vec<DataBatch>,
}

#[derive(Serialize)]
pub struct ModelInfo {
    pub name: String,
    /// The checkpoint's main dtype (`F32`, `BF16`, …).
    pub dtype: Option<String>,
    /// Set when the folder has no chat template and ChatML is used.
    pub template_notice: Option<String>,
    pub summary: PlanSummary,
}

#[derive(Serialize)]
pub struct StartInfo {
    pub total_steps: usize,
    pub decomposed_layers: usize,
    pub trainable_params: usize,
    pub decompose_ms: f64,
    /// Loss on the eval split before the first step (`None` without one).
    pub eval_loss: Option<f32>,
    /// What the run holds on its backend (estimated from the config and plan).
    pub memory: MemoryEstimate,
}

#[derive(Serialize)]
pub struct StepOut {
    #[serde(flatten)]
    pub event: StepEvent,
    pub ms: f64,
    pub tokens_per_s: f64,
    /// Loss on the eval split, when this step was an evaluation point (every `eval_every`
    /// steps and after the last).
    pub eval_loss: Option<f32>,
    /// A checkpoint is due (every `checkpoint_every` steps of [`Work::start`], not after the
    /// last): the worker asks for one and stores it.
    pub checkpoint_due: bool,
    pub done: bool,
}

#[derive(Serialize)]
pub struct GenOut {
    pub text: String,
    pub tokens: usize,
    pub ms: f64,
}

fn no_model() -> Error {
    Error::param("session", "no model is loaded: drop a model folder first")
}

fn not_training() -> Error {
    Error::param("session", "no training run: start training first")
}

impl<B: Backend> Work<B> {
    pub fn new(be: B) -> Self {
        Work {
            be,
            model: None,
            data: None,
        }
    }

    /// Loads a dropped model folder (config, checkpoint, tokenizer) onto the backend.
    pub fn load_model(
        &mut self,
        name: String,
        files: BlobFiles,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<ModelInfo> {
        self.model = None;
        let text = ModelText::from_model_files(&files)?;
        let dtype = open_checkpoint(&files)?
            .main_dtype()
            .map(|d| format!("{d:?}"));
        let model = Model::load(&self.be, &files, progress)?;
        let summary = PlanSummary::new(&model.cfg, 0.1, true)?;
        let info = ModelInfo {
            name: name.clone(),
            dtype,
            template_notice: text.template.notice().map(str::to_string),
            summary,
        };
        self.model = Some(Loaded {
            name,
            files,
            text,
            phase: Phase::Dense(Box::new(model)),
        });
        Ok(info)
    }

    /// The loaded folder's tokenizer and chat template files ([`crate::data::model_files::TEXT_FILES`]
    /// that it has; for a GGUF model, the ones made from it), for the page's data worker.
    pub fn text_files(&self) -> Result<Vec<(String, web_sys::Blob)>> {
        let loaded = self.model.as_ref().ok_or_else(no_model)?;
        Ok(crate::data::model_files::TEXT_FILES
            .iter()
            .filter_map(|n| Some((n.to_string(), loaded.files.get(n)?.clone())))
            .collect())
    }

    /// The plan at `rank_fraction` for the loaded model.
    pub fn plan(&self, rank_fraction: f64, freeze_norms: bool) -> Result<PlanSummary> {
        let loaded = self.model.as_ref().ok_or_else(no_model)?;
        let cfg = match &loaded.phase {
            Phase::Dense(m) => &m.cfg,
            Phase::Training(t) => &t.run.trainer.model.cfg,
            Phase::Broken => return Err(no_model()),
        };
        PlanSummary::new(cfg, rank_fraction, !freeze_norms)
    }

    /// Decomposes the model (reloading it when a run already changed it) and starts a run that
    /// has a checkpoint due every `checkpoint_every` steps (0: never).
    pub async fn start(
        &mut self,
        options: TrainOptions,
        checkpoint_every: usize,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<StartInfo> {
        let (_, ds) = self.dataset(&options)?;
        let (batches, all) = self.batches(&ds, &options)?;
        drop(ds);
        let be = &self.be;
        let loaded = self.model.as_mut().ok_or_else(no_model)?;
        let model = match std::mem::replace(&mut loaded.phase, Phase::Broken) {
            Phase::Dense(m) => *m,
            _ => Model::load(be, &loaded.files, |_, _, _| {})?,
        };
        // A run that cannot fit is refused before the decomposition; the loaded model stays.
        let setup = match RunPlan::new(be, &model.cfg, &options) {
            Ok(x) => x,
            Err(e) => {
                loaded.phase = Phase::Dense(Box::new(model));
                return Err(e);
            }
        };
        let started = now_ms();
        let Started { mut run, inits } = setup
            .start(be, model, batches, options, checkpoint_every, progress)
            .await?;
        let decompose_ms = now_ms() - started;
        let original = original::read(be, &mut run.trainer.model.weights).await?;
        let eval_loss = run.evaluate(be).await?;
        let info = StartInfo {
            total_steps: run.total_steps,
            decomposed_layers: inits.len(),
            trainable_params: setup.plan.trainable_params(),
            decompose_ms,
            eval_loss,
            memory: setup.memory,
        };
        loaded.phase = Phase::Training(Box::new(Training {
            run,
            inits,
            original,
            all,
        }));
        Ok(info)
    }

    fn training(&mut self) -> Result<(&B, &mut Training<B>)> {
        let loaded = self.model.as_mut().ok_or_else(no_model)?;
        match &mut loaded.phase {
            Phase::Training(t) => Ok((&self.be, t)),
            _ => Err(not_training()),
        }
    }

    /// One optimizer step (and an evaluation when one is due).
    pub async fn step(&mut self) -> Result<StepOut> {
        let (be, t) = self.training()?;
        let t0 = now_ms();
        let event = t.run.step(be).await?;
        let ms = now_ms() - t0;
        let eval_loss = if event.due.eval {
            t.run.evaluate(be).await?
        } else {
            None
        };
        Ok(StepOut {
            tokens_per_s: event.tokens as f64 / (ms / 1000.0).max(1e-9),
            checkpoint_due: event.due.checkpoint,
            event,
            ms,
            eval_loss,
            done: t.run.done(),
        })
    }

    /// Mean loss over the trained tokens of every example in the file (train and eval), with
    /// the current weights: the number `svdtune eval` gives for an export of them.
    pub async fn full_loss(&mut self) -> Result<f32> {
        let (be, t) = self.training()?;
        let batches: Vec<HostBatch> = t.all.iter().map(HostBatch::from).collect();
        t.run.trainer.eval(be, &batches).await
    }

    /// A greedy answer to the prompt `ids` (one user turn rendered with the model's chat
    /// template and tokenized by the page's data worker), with the current weights or, when
    /// `original`, the weights as loaded. `on_token(text, tokens, ms)` is called after each new
    /// token with the answer so far (every token decoded again, so multi-byte characters come
    /// out whole), the tokens so far and the milliseconds since the call began; when it returns
    /// a promise, generation waits for it (the worker yields to its event loop there, so each
    /// update is posted to the page as it comes).
    pub async fn generate(
        &mut self,
        ids: &[u32],
        max_new: usize,
        original: bool,
        on_token: Option<js_sys::Function>,
    ) -> Result<GenOut> {
        let be = &self.be;
        let loaded = self.model.as_mut().ok_or_else(no_model)?;
        let mut eos = loaded.text.tokenizer.eos_token_ids();
        match &loaded.phase {
            Phase::Dense(m) => eos.extend(m.cfg.eos_token_ids.iter().copied()),
            Phase::Training(t) => eos.extend(t.run.trainer.model.cfg.eos_token_ids.iter().copied()),
            Phase::Broken => return Err(no_model()),
        }
        let started = now_ms();
        let tokenizer = &loaded.text.tokenizer;
        let mut produced = 0usize;
        let mut kept: Vec<u32> = Vec::new();
        let each = async |t: u32| {
            produced += 1;
            if !eos.contains(&t) {
                kept.push(t);
            }
            let Some(f) = &on_token else { return };
            // A token that does not decode yet is shown once a later one completes it; the
            // final answer's decoding reports any real error.
            let Ok(text) = tokenizer.decode(&kept) else {
                return;
            };
            let ms = now_ms() - started;
            let args = (
                JsValue::from_str(&text),
                JsValue::from(produced as f64),
                JsValue::from(ms),
            );
            // A failing callback must not abort the generation (it only shows progress).
            if let Ok(v) = f.call3(&JsValue::NULL, &args.0, &args.1, &args.2)
                && let Ok(p) = v.dyn_into::<js_sys::Promise>()
            {
                let _ = wasm_bindgen_futures::JsFuture::from(p).await;
            }
        };
        let sampling = Sampling::default();
        let out = match &mut loaded.phase {
            Phase::Dense(m) => generate_async(be, m, ids, max_new, sampling, &eos, each).await?,
            Phase::Training(t) => {
                let m = &mut t.run.trainer.model;
                if original {
                    let current = original::read(be, &mut m.weights).await?;
                    original::write(be, &mut m.weights, &t.original)?;
                    let out = generate_async(be, m, ids, max_new, sampling, &eos, each).await;
                    original::write(be, &mut m.weights, &current)?;
                    out?
                } else {
                    generate_async(be, m, ids, max_new, sampling, &eos, each).await?
                }
            }
            Phase::Broken => return Err(no_model()),
        };
        let kept: Vec<u32> = out
            .tokens
            .iter()
            .copied()
            .filter(|t| !eos.contains(t))
            .collect();
        Ok(GenOut {
            text: loaded.text.tokenizer.decode(&kept)?,
            tokens: out.tokens.len(),
            ms: now_ms() - started,
        })
    }

    /// A checkpoint of the run (trainable tensors, optimizer state, position, options).
    pub async fn checkpoint(&mut self) -> Result<Vec<u8>> {
        let (be, t) = self.training()?;
        t.run.checkpoint(be).await
    }

    /// Continues the run from a checkpoint made with the same options; returns the step it
    /// continues after and the eval-split loss there.
    pub async fn resume(&mut self, bytes: &[u8]) -> Result<(usize, Option<f32>)> {
        let (be, t) = self.training()?;
        t.run.resume(be, "checkpoint", bytes)?;
        let eval_loss = t.run.evaluate(be).await?;
        Ok((t.run.steps_done, eval_loss))
    }
}
