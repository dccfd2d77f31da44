//! A training run over a dataset, step by step, shared by the CLI and the page's worker: batches
//! made once, their order reshuffled per epoch from the seed, gradient accumulation, the cadence
//! (which steps evaluate and which write a checkpoint: [`Due`], decided here for both front
//! ends), the non-finite guard (a bad step is skipped and reported; repeated failures stop the
//! run), and checkpoints that resume the run exactly. How a run is set up (data, plan, memory
//! check, decomposition) is in [`super::setup`].
use super::checkpoint::{self, RunState};
use super::memory::Recompute;
use super::optim::{AdamWConfig, Decay, Schedule};
use super::step::{HostBatch, StepReport, Trainer};
use crate::backend::Backend;
use crate::data::Batch as DataBatch;
use crate::error::{Error, Result};
use crate::model::Model;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Everything a run is configured with (defaults follow the method: rank fraction 0.1, lr 1e-2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub rank_fraction: f64,
    pub lr: f32,
    pub epochs: usize,
    /// Stop after this many optimizer steps (before the epochs end).
    pub max_steps: Option<usize>,
    pub batch_size: usize,
    pub seq_len: usize,
    pub grad_accum: usize,
    pub eval_fraction: f64,
    /// Evaluate every this many steps (0: only before the first and after the last).
    pub eval_every: usize,
    pub freeze_norms: bool,
    pub seed: u64,
    pub schedule: Decay,
    /// Fraction of the steps spent warming up linearly from 0.
    pub warmup_ratio: f64,
    pub pack: bool,
    /// Train on every token, not only the assistant's.
    pub all_tokens: bool,
    pub max_grad_norm: f32,
    pub weight_decay: f32,
    /// Stop after this many non-finite steps in a row.
    pub max_bad_steps: usize,
    /// Recompute each layer's activations in backward from its saved input; `auto` (the
    /// default) does when the run with stored activations does not fit the memory limit
    /// (decided by [`super::setup::RunPlan::new`]; [`TrainRun::new`] takes `auto` as `off`).
    #[serde(default)]
    pub recompute: Recompute,
    /// How the frozen factors U and V are held: f32, or packed f16 (`--factor-dtype`).
    #[serde(default)]
    pub factor_format: crate::backend::Format,
    /// The most memory the run may hold, in bytes, below the backend's own limit: the page's
    /// "GPU memory" setting (browsers report no GPU memory size). `auto` recomputation and the
    /// refusal of a run that cannot fit use the smaller of the two.
    #[serde(default)]
    pub memory_limit: Option<u64>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            rank_fraction: 0.1,
            lr: 1e-2,
            epochs: 1,
            max_steps: None,
            batch_size: 4,
            seq_len: 512,
            grad_accum: 1,
            eval_fraction: 0.05,
            eval_every: 50,
            freeze_norms: false,
            seed: 0,
            schedule: Decay::Cosine,
            warmup_ratio: 0.05,
            pack: false,
            all_tokens: false,
            max_grad_norm: 1.0,
            weight_decay: 0.0,
            max_bad_steps: 3,
            recompute: Recompute::Auto,
            factor_format: crate::backend::Format::F32,
            memory_limit: None,
        }
    }
}

impl TrainOptions {
    /// Range checks with messages naming the option.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::param("options", m));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if self.batch_size == 0 || self.seq_len < 2 || self.grad_accum == 0 {
            return bad("batch size and gradient accumulation must be ≥ 1, seq len ≥ 2".into());
        }
        if self.epochs == 0 && self.max_steps.is_none() {
            return bad("epochs must be ≥ 1".into());
        }
        if !(0.0..1.0).contains(&self.eval_fraction) {
            return bad(format!(
                "eval fraction must be in [0, 1), got {}",
                self.eval_fraction
            ));
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return bad(format!(
                "warmup ratio must be in [0, 1], got {}",
                self.warmup_ratio
            ));
        }
        crate::svd::plan::check_rank_fraction(self.rank_fraction).map(|_| ())
    }
}

/// What happened in one call of [`TrainRun::step`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepEvent {
    /// 1-based count of steps attempted.
    pub step: usize,
    pub total_steps: usize,
    pub epoch: usize,
    pub loss: f32,
    pub grad_norm: f32,
    pub lr: f32,
    pub applied: bool,
    /// Tokens of the examples processed in this step (padding excluded) and trained tokens.
    pub tokens: usize,
    pub trained_tokens: f64,
    /// What is due after this step: an evaluation, a checkpoint.
    pub due: Due,
}

/// What a front end does after a step ([`TrainRun::due`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Due {
    /// Evaluate on the eval split: every `eval_every` steps and after the last step.
    pub eval: bool,
    /// Write a checkpoint: every `checkpoint_every` steps before the last (the end of the run
    /// is [`TrainRun::done`]; the CLI writes one there too, the page does not).
    pub checkpoint: bool,
}

impl Due {
    /// What is due after `step` of `total` steps (nothing at step 0).
    pub fn after(step: usize, total: usize, eval_every: usize, checkpoint_every: usize) -> Due {
        let at = |every: usize| step > 0 && every > 0 && step.is_multiple_of(every);
        let last = step > 0 && step >= total;
        Due {
            eval: last || at(eval_every),
            checkpoint: !last && at(checkpoint_every),
        }
    }
}

/// The steps of a run over `train_batches` batches with options `o` (epochs, `max_steps`,
/// `grad_accum`).
pub fn planned_steps(train_batches: usize, o: &TrainOptions) -> usize {
    let per_epoch = train_batches.div_ceil(o.grad_accum.max(1));
    match o.max_steps {
        Some(m) if o.epochs == 0 => m,
        Some(m) => m.min(per_epoch * o.epochs),
        None => per_epoch * o.epochs,
    }
}

/// How many evaluations a run of `total` steps makes after its steps (every `eval_every` steps
/// and after the last; see [`Due::after`]), not counting the one before the first step.
pub fn evals_after_steps(total: usize, eval_every: usize) -> usize {
    if total == 0 {
        return 0;
    }
    let periodic = total.checked_div(eval_every).unwrap_or(0);
    let last_extra = usize::from(eval_every == 0 || !total.is_multiple_of(eval_every));
    periodic + last_extra
}

/// A run in progress.
pub struct TrainRun<B: Backend> {
    pub trainer: Trainer<B>,
    pub options: TrainOptions,
    train: Vec<DataBatch>,
    eval: Vec<DataBatch>,
    order: Vec<usize>,
    pub epoch: usize,
    pub batch_in_epoch: usize,
    pub steps_done: usize,
    pub total_steps: usize,
    /// Write a checkpoint every this many steps (0: never before the end). Not one of the
    /// [`TrainOptions`]: a run resumes from a checkpoint whatever its cadence.
    pub checkpoint_every: usize,
    bad_in_a_row: usize,
}

/// Batch order of `epoch`: a seeded shuffle of `0 .. n`.
fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(epoch as u64 + 1)),
    );
    for i in (1..n).rev() {
        idx.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    idx
}

impl<B: Backend> TrainRun<B> {
    /// A run of `model` (already decomposed) over `train` batches, evaluated on `eval`.
    pub fn new(
        be: &B,
        model: Model<B>,
        train: Vec<DataBatch>,
        eval: Vec<DataBatch>,
        options: TrainOptions,
    ) -> Result<Self> {
        options.check()?;
        if train.iter().all(|b| b.trained_tokens == 0) {
            return Err(Error::param(
                "train",
                "no training batch has a trained token",
            ));
        }
        if options.weight_decay != 0.0
            && !options.freeze_norms
            && model.cfg.family.norm_offset() != 0.0
        {
            // The engine trains Gemma's norm weights as `1 + w`; decay would pull them to 0
            // instead of pulling `w` to 0 as PyTorch's AdamW does.
            return Err(Error::param(
                "train",
                format!(
                    "weight decay with trained norms is not supported for {} (its norm weights are held as 1 + w): set weight decay 0 or freeze the norms",
                    model.cfg.family.model_type()
                ),
            ));
        }
        let total_steps = planned_steps(train.len(), &options);
        let schedule = Schedule {
            peak_lr: options.lr,
            warmup_steps: (total_steps as f64 * options.warmup_ratio).round() as usize,
            total_steps,
            decay: options.schedule,
        };
        let adamw = AdamWConfig {
            max_grad_norm: options.max_grad_norm,
            weight_decay: options.weight_decay,
            ..AdamWConfig::default()
        };
        let trainer = Trainer::with_recompute(
            be,
            model,
            options.batch_size,
            options.seq_len,
            !options.freeze_norms,
            options.recompute == Recompute::On,
            schedule,
            adamw,
        )?;
        Ok(TrainRun {
            trainer,
            order: epoch_order(train.len(), options.seed, 0),
            train,
            eval,
            options,
            epoch: 0,
            batch_in_epoch: 0,
            steps_done: 0,
            total_steps,
            checkpoint_every: 0,
            bad_in_a_row: 0,
        })
    }

    pub fn done(&self) -> bool {
        self.steps_done >= self.total_steps
    }

    /// What is due after the step just done (nothing before the first step).
    pub fn due(&self) -> Due {
        Due::after(
            self.steps_done,
            self.total_steps,
            self.options.eval_every,
            self.checkpoint_every,
        )
    }

    pub fn has_eval(&self) -> bool {
        !self.eval.is_empty()
    }

    /// The trainer and the eval batches, for a loss pass one batch at a time
    /// ([`super::pass::LossPass`]).
    pub fn eval_parts(&mut self) -> (&mut Trainer<B>, &[DataBatch]) {
        (&mut self.trainer, &self.eval)
    }

    /// Mean loss over the eval batches (`None` without an eval split).
    pub async fn evaluate(&mut self, be: &B) -> Result<Option<f32>> {
        if self.eval.is_empty() {
            return Ok(None);
        }
        let batches: Vec<HostBatch> = self.eval.iter().map(HostBatch::from).collect();
        // Safety: a loss pass holds the backend, the trainer's tensors and host batches.
        unsafe { be.on_own_threads(self.trainer.eval(be, &batches)) }
            .await
            .map(Some)
    }

    /// One optimizer step over the next `grad_accum` batches (wrapping into the next epoch).
    pub async fn step(&mut self, be: &B) -> Result<StepEvent> {
        if self.done() {
            return Err(Error::param("train", "the run is complete"));
        }
        let mut picked = Vec::with_capacity(self.options.grad_accum);
        while picked.len() < self.options.grad_accum {
            if self.batch_in_epoch >= self.order.len() {
                if !picked.is_empty() {
                    break;
                }
                self.epoch += 1;
                self.batch_in_epoch = 0;
                self.order = epoch_order(self.train.len(), self.options.seed, self.epoch);
            }
            picked.push(self.order[self.batch_in_epoch]);
            self.batch_in_epoch += 1;
        }
        let batches: Vec<HostBatch> = picked
            .iter()
            .map(|&i| HostBatch::from(&self.train[i]))
            .collect();
        let tokens = picked.iter().map(|&i| self.train[i].real_tokens).sum();
        let r: StepReport = if batches
            .iter()
            .all(|b| b.loss_weights.iter().all(|&w| w == 0.0))
        {
            StepReport {
                loss: 0.0,
                grad_norm: 0.0,
                lr: 0.0,
                applied: false,
                trained_tokens: 0.0,
            }
        } else {
            // Safety: a step holds the backend, the trainer's tensors and host batches.
            unsafe { be.on_own_threads(self.trainer.step(be, &batches)) }.await?
        };
        self.steps_done += 1;
        if r.applied || r.trained_tokens == 0.0 {
            self.bad_in_a_row = 0;
        } else {
            self.bad_in_a_row += 1;
            if self.bad_in_a_row >= self.options.max_bad_steps {
                return Err(Error::param(
                    "train",
                    format!(
                        "{} steps in a row had a non-finite loss or gradient (last loss {}); training stopped with the last good weights. Try a lower learning rate.",
                        self.bad_in_a_row, r.loss
                    ),
                ));
            }
        }
        Ok(StepEvent {
            step: self.steps_done,
            total_steps: self.total_steps,
            epoch: self.epoch,
            loss: r.loss,
            grad_norm: r.grad_norm,
            lr: r.lr,
            applied: r.applied,
            tokens,
            trained_tokens: r.trained_tokens,
            due: self.due(),
        })
    }

    /// A checkpoint of the run as it stands.
    pub async fn checkpoint(&mut self, be: &B) -> Result<Vec<u8>> {
        let state = RunState {
            step: 0,
            steps_done: self.steps_done,
            epoch: self.epoch,
            batch_in_epoch: self.batch_in_epoch,
            seed: self.options.seed,
            options: serde_json::to_value(&self.options)
                .map_err(|e| Error::param("checkpoint", e.to_string()))?,
            model: String::new(),
        };
        checkpoint::save(be, &mut self.trainer, &state).await
    }

    /// Continues from a checkpoint of a run with the same options (`name` names it in errors).
    pub fn resume(&mut self, be: &B, name: &str, bytes: &[u8]) -> Result<()> {
        let state = checkpoint::read_state(name, bytes)?;
        let theirs: Option<TrainOptions> = serde_json::from_value(state.options.clone()).ok();
        if theirs.as_ref() != Some(&self.options) {
            return Err(Error::input(
                name,
                format!(
                    "was made with other options ({}); resume with the same ones",
                    state.options
                ),
            ));
        }
        let state = checkpoint::load(be, &mut self.trainer, name, bytes)?;
        self.steps_done = state.steps_done;
        self.epoch = state.epoch;
        self.batch_in_epoch = state.batch_in_epoch;
        self.order = epoch_order(self.train.len(), self.options.seed, self.epoch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Due;

    /// Steps (of 10) where an evaluation and a checkpoint are due.
    fn points(eval_every: usize, checkpoint_every: usize) -> (Vec<usize>, Vec<usize>) {
        let due: Vec<Due> = (0..=10)
            .map(|s| Due::after(s, 10, eval_every, checkpoint_every))
            .collect();
        let at = |f: fn(&Due) -> bool| (0..=10).filter(|&s| f(&due[s])).collect();
        (at(|d| d.eval), at(|d| d.checkpoint))
    }

    #[test]
    fn cadence_every_n_steps_and_at_the_end() {
        assert_eq!(points(4, 3), (vec![4, 8, 10], vec![3, 6, 9]));
        // The last step evaluates once and writes no periodic checkpoint.
        assert_eq!(points(5, 5), (vec![5, 10], vec![5]));
        assert_eq!(points(0, 0), (vec![10], vec![]));
    }
}
