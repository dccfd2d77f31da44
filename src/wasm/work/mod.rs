//! What a page session does, on one backend (generic, so WebGPU and the CPU fallback share it):
//! load a dropped model folder, read the dropped dataset, decompose and train step by step,
//! evaluate, generate with the original or the current weights, export, checkpoint and resume.
//! The run is set up as `svdtune train` sets it up ([`crate::train::setup`]) and its cadence
//! (evaluations, checkpoints due) is the run's own; this is the page's side of it, one call per
//! step. The decomposition stops between layers when the page's progress callback says so (the
//! loaded model is then reloaded as it was). Evaluations and the loss over the whole file are
//! loss passes of one batch per call ([`Work::begin_pass`], [`Work::pass_batch`]), so that the
//! page shows their progress, runs a Generate between two batches and can stop them. Before a
//! run, [`Work::estimate`] says how long it will take. The dataset side is in [`data`], the
//! exports in [`export`].
mod data;
mod export;

use super::convert::now_ms;
use super::original::{self, Trained};
use super::page_files::PageFiles;
use crate::backend::Backend;
use crate::data::{Batch as DataBatch, ModelText};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::generate::generate_async;
use crate::model::load::open_checkpoint;
use crate::model::sample::Sampling;
use crate::svd::PlanSummary;
use crate::svd::SvdPlan;
use crate::svd::decompose::LayerInit;
use crate::train::estimate::{Calibration, RunEstimate, RunShape, calibrate, estimate};
use crate::train::memory::{MemoryEstimate, StoredSizes};
use crate::train::pass::{LossPass, PassProgress, file_sample};
use crate::train::run::{StepEvent, TrainOptions, TrainRun, evals_after_steps, planned_steps};
use crate::train::setup::{RunPlan, Started};
use serde::Serialize;
use std::ops::ControlFlow;
use wasm_bindgen::{JsCast, JsValue};

/// A session's model, data and run on backend `B`.
pub struct Work<B: Backend> {
    pub be: B,
    model: Option<Loaded<B>>,
    /// The data file's name and its examples, encoded by the page's data worker.
    data: Option<(String, crate::data::wire::Encoded)>,
    /// What [`Work::estimate`] measured on the loaded model (kept until another is loaded).
    calibration: Option<Calibration>,
}

struct Loaded<B: Backend> {
    /// The folder's name (the adapter's `base_model_name_or_path` when `config.json` names no Hub id).
    name: String,
    files: PageFiles,
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
    /// Examples in `all` and in the eval split.
    all_examples: usize,
    eval_examples: usize,
    /// The loss pass under way, if any.
    pass: Option<(PassKind, LossPass)>,
}

/// What a loss pass covers.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PassKind {
    /// The eval split.
    Eval,
    /// The whole data file (or a sample of it).
    File,
}

/// A loss pass as [`Work::begin_pass`] set it up.
#[derive(Serialize)]
pub struct PassInfo {
    pub batches: usize,
    /// Examples it covers, of `of` in its set (the eval split or the file).
    pub examples: usize,
    pub of: usize,
}

/// One batch of a loss pass ([`Work::pass_batch`]).
#[derive(Serialize)]
pub struct PassOut {
    #[serde(flatten)]
    pub progress: PassProgress,
    pub ms: f64,
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
    /// From the decomposition's start to its last layer (not the run's buffers made after it).
    pub decompose_ms: f64,
    /// Batches of one evaluation (0 without an eval split) and of the whole file, examples
    /// of the file, rows per batch: what the page counts its progress and time left in.
    pub eval_batches: usize,
    pub file_batches: usize,
    pub file_examples: usize,
    pub batch_size: usize,
    /// What the run holds on its backend (estimated from the config and plan).
    pub memory: MemoryEstimate,
}

#[derive(Serialize)]
pub struct StepOut {
    #[serde(flatten)]
    pub event: StepEvent,
    pub ms: f64,
    pub tokens_per_s: f64,
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
            calibration: None,
        }
    }

    /// Loads a dropped model folder (config, checkpoint, tokenizer) onto the backend.
    pub fn load_model(
        &mut self,
        name: String,
        files: PageFiles,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<ModelInfo> {
        self.model = None;
        self.calibration = None;
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
    /// has a checkpoint due every `checkpoint_every` steps (0: never). `progress` after each
    /// layer; its `Break` stops the decomposition there: `None`, and the model is reloaded as
    /// it was loaded (usable for Generate and the next Train). The run's first evaluation is a
    /// loss pass of its own ([`Work::begin_pass`]).
    pub async fn start(
        &mut self,
        options: TrainOptions,
        checkpoint_every: usize,
        progress: impl FnMut(usize, usize, &str) -> ControlFlow<()>,
    ) -> Result<Option<StartInfo>> {
        let (_, ds) = self.dataset(&options)?;
        let (batches, all) = self.batches(&ds, &options)?;
        let all_examples = ds.examples.len();
        drop(ds);
        let eval_examples = batches.eval_examples;
        let eval_batches = batches.eval.len();
        let batch_size = options.batch_size;
        let be = &self.be;
        let loaded = self.model.as_mut().ok_or_else(no_model)?;
        let model = match std::mem::replace(&mut loaded.phase, Phase::Broken) {
            Phase::Dense(m) => *m,
            _ => Model::load(be, &loaded.files, |_, _, _| {})?,
        };
        // A run that cannot fit is refused before the decomposition; the loaded model stays.
        let setup = StoredSizes::from_files(&loaded.files)
            .and_then(|stored| RunPlan::new(be, &model.cfg, &stored, &options));
        let setup = match setup {
            Ok(x) => x,
            Err(e) => {
                loaded.phase = Phase::Dense(Box::new(model));
                return Err(e);
            }
        };
        // The decomposition ends at its last layer's progress report (the run's buffers are
        // made after it).
        let started = now_ms();
        let last_layer_done = std::cell::Cell::new(started);
        let mut progress = progress;
        let timed = |done, total, module: &str| {
            last_layer_done.set(now_ms());
            progress(done, total, module)
        };
        let until = setup.start_until(be, model, batches, options, checkpoint_every, timed);
        let Some(Started { mut run, inits }) = until.await? else {
            // Stopped: the partly decomposed model is gone; the one loaded stays usable.
            let model = Model::load(be, &loaded.files, |_, _, _| {})?;
            loaded.phase = Phase::Dense(Box::new(model));
            return Ok(None);
        };
        let decompose_ms = last_layer_done.get() - started;
        let original = original::read(be, &mut run.trainer.model.weights).await?;
        let info = StartInfo {
            total_steps: run.total_steps,
            decomposed_layers: inits.len(),
            trainable_params: setup.plan.trainable_params(),
            decompose_ms,
            eval_batches,
            file_batches: all.len(),
            file_examples: all_examples,
            batch_size,
            memory: setup.memory,
        };
        loaded.phase = Phase::Training(Box::new(Training {
            run,
            inits,
            original,
            all,
            all_examples,
            eval_examples,
            pass: None,
        }));
        Ok(Some(info))
    }

    fn training(&mut self) -> Result<(&B, &mut Training<B>)> {
        let loaded = self.model.as_mut().ok_or_else(no_model)?;
        match &mut loaded.phase {
            Phase::Training(t) => Ok((&self.be, t)),
            _ => Err(not_training()),
        }
    }

    /// One optimizer step (an evaluation due after it, `due.eval`, is the caller's loss pass).
    pub async fn step(&mut self) -> Result<StepOut> {
        let (be, t) = self.training()?;
        t.pass = None;
        let t0 = now_ms();
        let event = t.run.step(be).await?;
        let ms = now_ms() - t0;
        Ok(StepOut {
            tokens_per_s: event.tokens as f64 / (ms / 1000.0).max(1e-9),
            checkpoint_due: event.due.checkpoint,
            event,
            ms,
            done: t.run.done(),
        })
    }

    /// Sets up a loss pass with the current weights: over the eval split, or over the whole
    /// file (every example, the number `svdtune eval` gives for an export of the weights) or
    /// an evenly spread sample of about `examples` of them ([`file_sample`]). Replaces a pass
    /// under way. [`Work::pass_batch`] runs it.
    pub fn begin_pass(&mut self, kind: PassKind, examples: Option<usize>) -> Result<PassInfo> {
        let (_, t) = self.training()?;
        let (order, info) = match kind {
            PassKind::Eval => {
                let (_, eval) = t.run.eval_parts();
                let info = PassInfo {
                    batches: eval.len(),
                    examples: t.eval_examples,
                    of: t.eval_examples,
                };
                ((0..eval.len()).collect(), info)
            }
            PassKind::File => {
                let b = t.run.options.batch_size;
                let (order, covered) = file_sample(t.all.len(), b, t.all_examples, examples);
                let info = PassInfo {
                    batches: order.len(),
                    examples: covered,
                    of: t.all_examples,
                };
                (order, info)
            }
        };
        t.pass = (info.batches > 0).then(|| (kind, LossPass::new(order)));
        Ok(info)
    }

    /// The next batch of the pass set up by [`Work::begin_pass`]; its mean loss with the last.
    pub async fn pass_batch(&mut self) -> Result<PassOut> {
        let (be, t) = self.training()?;
        let Some((kind, pass)) = t.pass.as_mut() else {
            return Err(Error::param("eval", "no loss pass is under way"));
        };
        let t0 = now_ms();
        let progress = match kind {
            PassKind::Eval => {
                let (trainer, eval) = t.run.eval_parts();
                pass.next(be, trainer, eval).await
            }
            PassKind::File => pass.next(be, &mut t.run.trainer, &t.all).await,
        };
        if progress.is_err() || pass.finished() {
            t.pass = None;
        }
        Ok(PassOut {
            progress: progress?,
            ms: now_ms() - t0,
        })
    }

    /// How long a run with options `o` will take, and a loss pass after it over about
    /// `final_examples` examples of the file (all when `None`, no pass when 0). The first call
    /// after a model is loaded calibrates on it ([`calibrate`]: a forward pass of one row of
    /// up to 128 tokens and one layer's SVD), later calls reuse that.
    pub async fn estimate(
        &mut self,
        o: &TrainOptions,
        final_examples: Option<usize>,
    ) -> Result<RunEstimate> {
        let (_, ds) = self.dataset(o)?;
        let (batches, all) = self.batches(&ds, o)?;
        let all_examples = ds.examples.len();
        drop(ds);
        let be = &self.be;
        let loaded = self.model.as_mut().ok_or_else(no_model)?;
        let cfg = match &loaded.phase {
            Phase::Dense(m) => m.cfg.clone(),
            Phase::Training(t) => t.run.trainer.model.cfg.clone(),
            Phase::Broken => return Err(no_model()),
        };
        let plan = SvdPlan::new(&cfg, o.rank_fraction, !o.freeze_norms)?;
        let cal = match (self.calibration, &mut loaded.phase) {
            (Some(c), _) => c,
            (None, Phase::Dense(m)) => {
                let c = calibrate(be, m, &plan, o.seq_len.min(128), now_ms).await?;
                self.calibration = Some(c);
                c
            }
            (None, _) => {
                return Err(Error::param(
                    "estimate",
                    "the model is decomposed: load it again for an estimate",
                ));
            }
        };
        let steps = planned_steps(batches.train.len(), o);
        let has_eval = !batches.eval.is_empty();
        let (final_order, _) = file_sample(all.len(), o.batch_size, all_examples, final_examples);
        // Batches are as wide as their longest row: count the widths the run will see.
        let mean_tokens = |b: &[DataBatch]| match b.len() {
            0 => o.batch_size * o.seq_len,
            n => b
                .iter()
                .map(|x| x.batch * x.seq_len)
                .sum::<usize>()
                .div_ceil(n),
        };
        let shape = RunShape {
            steps,
            step_tokens: o.grad_accum * mean_tokens(&batches.train),
            batch_tokens: mean_tokens(if has_eval {
                &batches.eval
            } else {
                &batches.train
            }),
            evals: if has_eval {
                1 + evals_after_steps(steps, o.eval_every)
            } else {
                0
            },
            eval_batches: batches.eval.len(),
            final_batches: final_order.len(),
        };
        Ok(estimate(&cal, &plan, &shape))
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
    /// continues after (the eval-split loss there is a loss pass of its own).
    pub fn resume(&mut self, bytes: &[u8]) -> Result<usize> {
        let (be, t) = self.training()?;
        t.pass = None;
        t.run.resume(be, "checkpoint", bytes)?;
        Ok(t.run.steps_done)
    }
}
