//! How a training run is set up, once for `svdtune train` and the page's engine (the front ends
//! only read their inputs and show the outcome): the chat data read for the run's sequence length
//! and loss mode ([`dataset_options`]), split into train and eval examples and cut into batches
//! ([`RunBatches`]), the SVD plan with the memory check that refuses a run which cannot fit before
//! any weight changes and decides whether activations are recomputed ([`RunPlan::new`]), then the decomposition, layer by layer with a progress
//! callback that can stop between layers, and the [`TrainRun`] with its checkpoint cadence
//! ([`RunPlan::start`]). Stepping, evaluating and checkpointing are in [`super::run`].
use super::memory::{MemoryEstimate, MemoryOptions, Recompute, StoredSizes, plan_memory_within};
use super::run::{TrainOptions, TrainRun};
use crate::backend::Backend;
use crate::data::{Batch, Dataset, DatasetOptions, LossMode};
use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig};
use crate::svd::SvdPlan;
use crate::svd::decompose::{DecomposeOptions, LayerInit, decompose_model_until, never_stop};
use std::ops::ControlFlow;

/// How chat data is read for sequences of `seq_len` tokens (longer examples are cut), the loss
/// on every token (`all_tokens`) or on the assistant's.
pub fn dataset_options(seq_len: usize, all_tokens: bool) -> DatasetOptions {
    DatasetOptions {
        max_tokens: Some(seq_len),
        loss: if all_tokens {
            LossMode::All
        } else {
            LossMode::Assistant
        },
        ..DatasetOptions::default()
    }
}

/// Every example of `ds`, one per row, in batches of `batch × seq_len` (the loss over a whole
/// file, as `svdtune eval` computes it).
pub fn all_batches(ds: &Dataset, pad_id: u32, batch: usize, seq_len: usize) -> Result<Vec<Batch>> {
    let all: Vec<usize> = (0..ds.examples.len()).collect();
    ds.batches(&all, batch, seq_len, false, pad_id)
}

/// The batches of a run: the examples split by `eval_fraction` and `seed`, each split in
/// batches of `batch_size × seq_len` (packed when `pack`), padded with `pad_id`.
pub struct RunBatches {
    pub train: Vec<Batch>,
    pub eval: Vec<Batch>,
    pub train_examples: usize,
    pub eval_examples: usize,
}

impl RunBatches {
    pub fn new(ds: &Dataset, pad_id: u32, o: &TrainOptions) -> Result<Self> {
        let split = ds.split(o.eval_fraction, o.seed);
        let (b, sl) = (o.batch_size, o.seq_len);
        Ok(RunBatches {
            train: ds.batches(&split.train, b, sl, o.pack, pad_id)?,
            eval: ds.batches(&split.eval, b, sl, o.pack, pad_id)?,
            train_examples: split.train.len(),
            eval_examples: split.eval.len(),
        })
    }
}

/// The most memory a run with `o` may hold on a backend whose own limit is `backend`: the
/// smaller of that and `o.memory_limit` (none when neither is set).
pub fn run_limit(backend: Option<u64>, o: &TrainOptions) -> Option<u64> {
    match (backend, o.memory_limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The SVD plan of a run and the memory it needs, which the backend can hold.
pub struct RunPlan {
    pub plan: SvdPlan,
    pub memory: MemoryEstimate,
}

/// A decomposed model and its run, ready for the first step.
pub struct Started<B: Backend> {
    pub run: TrainRun<B>,
    /// `Σ₀` of every decomposed layer, in plan order (the adapter export needs them).
    pub inits: Vec<LayerInit>,
}

impl RunPlan {
    /// The plan at `o.rank_fraction` for `cfg`, and the memory estimate for batches of
    /// `o.batch_size × o.seq_len`, with activation recomputation as `o.recompute` asks (`auto`:
    /// only when the run with stored activations does not fit), factors in `o.factor_format`
    /// and frozen weights as `stored` lists them ([`StoredSizes::from_files`]: what loading
    /// keeps); `Error::OutOfMemory` when `be` (or `o.memory_limit`) cannot hold the run (checked from the config and
    /// the checkpoint's header alone, before the decomposition).
    pub fn new<B: Backend>(
        be: &B,
        cfg: &ModelConfig,
        stored: &StoredSizes,
        o: &TrainOptions,
    ) -> Result<Self> {
        let plan = SvdPlan::new(cfg, o.rank_fraction, !o.freeze_norms)?;
        let mo = MemoryOptions::for_run(o, be.logit_chunk_elements(), stored);
        let limit = run_limit(be.memory_limit(), o);
        let memory = plan_memory_within(cfg, &plan, o.recompute, &mo, limit, be.memory_kind())?;
        Ok(RunPlan { plan, memory })
    }

    /// Whether the run recomputes activations, as decided by [`RunPlan::new`].
    pub fn recompute(&self) -> Recompute {
        if self.memory.recompute {
            Recompute::On
        } else {
            Recompute::Off
        }
    }

    /// Decomposes every planned layer of `model` (seeded from `o.seed`) and starts a run over
    /// `batches` that has a checkpoint due every `checkpoint_every` steps (0: never before the
    /// end). `progress(done, total, module)` after each layer.
    pub async fn start<B: Backend>(
        &self,
        be: &B,
        model: Model<B>,
        batches: RunBatches,
        o: TrainOptions,
        checkpoint_every: usize,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<Started<B>> {
        let each = never_stop(progress);
        let started = self.start_until(be, model, batches, o, checkpoint_every, each);
        started
            .await?
            .ok_or_else(|| Error::param("decompose", "stopped before the last layer"))
    }

    /// [`RunPlan::start`] where `progress` returning `Break` stops after that layer and gives
    /// `None` (the model, partly decomposed, is dropped). The run recomputes activations as
    /// [`RunPlan::new`] decided, whatever `o.recompute` says.
    pub async fn start_until<B: Backend>(
        &self,
        be: &B,
        mut model: Model<B>,
        batches: RunBatches,
        mut o: TrainOptions,
        checkpoint_every: usize,
        progress: impl FnMut(usize, usize, &str) -> ControlFlow<()>,
    ) -> Result<Option<Started<B>>> {
        o.recompute = self.recompute();
        let dopts = DecomposeOptions {
            seed: o.seed,
            factor_format: o.factor_format,
            ..DecomposeOptions::default()
        };
        let cfg = model.cfg.clone();
        let inits =
            decompose_model_until(be, &cfg, &mut model.weights, &self.plan, &dopts, progress)
                .await?;
        if inits.len() < self.plan.layers.len() {
            return Ok(None);
        }
        let mut run = TrainRun::new(be, model, batches.train, batches.eval, o)?;
        run.checkpoint_every = checkpoint_every;
        Ok(Some(Started { run, inits }))
    }
}
