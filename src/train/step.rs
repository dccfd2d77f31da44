//! One optimizer step over micro-batches (gradient accumulation), and evaluation, on preallocated
//! buffers for batches of `B` rows. A batch is as wide as its longest row (see `data::batch`), at
//! most the run's `S`: the gradients and the optimizer are allocated once, the buffers shaped by
//! the width (inputs, activations, backward scratch, loss head) are allocated for `[B, S]` first
//! (so a run that cannot fit fails before it starts) and reallocated when a batch of another width
//! comes (the old ones are dropped first, so `[B, S]` stays the peak). With recomputation the
//! activations keep only each layer's input and backward recomputes the layers one at a time. A step whose micro-batches
//! all have one width is recorded as one stream of GPU work; the host reads back only the loss
//! and the gradient norm.
use super::backward::{LossHead, backward, loss_and_head_backward, loss_chunk};
use super::grads::{BackScratch, Grads};
use super::optim::{AdamWConfig, Optimizer, Schedule};
use crate::backend::{Backend, Kernels};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::acts::{Activations, Keep};
use crate::model::forward::{Batch, forward};
use crate::model::trainables::trained_mut;

/// Host arrays of one batch, row-major `[B, S]` (see `data::batch` for how they are made).
#[derive(Clone, Copy, Debug)]
pub struct HostBatch<'a> {
    pub input_ids: &'a [u32],
    /// Next token of each row (anything where the weight is 0).
    pub target_ids: &'a [u32],
    pub loss_weights: &'a [f32],
    pub position_ids: &'a [u32],
    /// Row (within its sequence) where each row's conversation starts.
    pub window_start: &'a [u32],
}

impl<'a> From<&'a crate::data::Batch> for HostBatch<'a> {
    fn from(b: &'a crate::data::Batch) -> Self {
        HostBatch {
            input_ids: &b.input_ids,
            target_ids: &b.target_ids,
            loss_weights: &b.loss_weights,
            position_ids: &b.position_ids,
            window_start: &b.window_start,
        }
    }
}

impl HostBatch<'_> {
    fn weight(&self) -> f64 {
        self.loss_weights.iter().map(|&w| w as f64).sum()
    }

    /// The width of this batch of `batch` rows (its arrays hold `batch × width` entries).
    fn width(&self, batch: usize) -> Result<usize> {
        let n = self.input_ids.len();
        if batch == 0 || n == 0 || !n.is_multiple_of(batch) {
            return Err(Error::param(
                "train",
                format!("{n} token ids do not make {batch} rows of equal width"),
            ));
        }
        Ok(n / batch)
    }
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Mean loss over the trained tokens of all micro-batches.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
    pub lr: f32,
    /// False when the loss or gradient was not finite: nothing was changed.
    pub applied: bool,
    /// Trained (weighted) tokens in the step.
    pub trained_tokens: f64,
}

/// A batch's inputs on the device: ids and attention geometry, targets and loss weights.
pub struct LossInputs<B: Backend> {
    pub batch: Batch<B::Ids>,
    /// `[B·S]`.
    pub targets: B::Ids,
    /// `[B·S]`.
    pub weights: B::Tensor,
}

impl<B: Backend> LossInputs<B> {
    pub fn new(be: &B, model: &Model<B>, batch: usize, seq: usize) -> Result<Self> {
        let rows = batch * seq;
        let zeros = vec![0u32; rows];
        Ok(LossInputs {
            batch: Batch::new(be, &model.cfg, &zeros, None, None, batch, seq)?,
            targets: be.ids(&zeros)?,
            weights: be.zeros(&[rows])?,
        })
    }

    /// Overwrites the inputs with `hb` (same shape).
    pub fn upload(&mut self, be: &B, model: &Model<B>, hb: &HostBatch) -> Result<()> {
        let rows = self.batch.batch * self.batch.seq;
        if hb.target_ids.len() != rows || hb.loss_weights.len() != rows {
            return Err(Error::param(
                "train",
                format!("a batch of {rows} rows needs {rows} targets and weights"),
            ));
        }
        self.batch.write(
            be,
            &model.cfg,
            hb.input_ids,
            Some(hb.position_ids),
            Some(hb.window_start),
        )?;
        be.write_ids(&mut self.targets, hb.target_ids)?;
        be.write(&mut self.weights, hb.loss_weights)
    }
}

/// Forward pass and loss of one uploaded batch (`head.total` = `scale · Σ w · CE`); with
/// `backward`, also the gradient through `lm_head` into the given buffers.
pub fn forward_loss<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    inputs: &LossInputs<B>,
    acts: &mut Activations<B::Tensor>,
    head: &mut LossHead<B::Tensor>,
    scale: f32,
    backward: Option<(&mut Grads<B::Tensor>, &mut B::Tensor)>,
) -> Result<()> {
    let cfg = model.cfg.clone();
    forward(
        be,
        &cfg,
        &model.weights,
        &mut model.rope,
        &inputs.batch,
        acts,
    )?;
    loss_and_head_backward(
        be,
        &model.weights,
        acts,
        head,
        &inputs.targets,
        &inputs.weights,
        scale,
        backward,
    )
}

/// The buffers shaped by the batch width: `[batch · seq]` rows.
pub struct ShapedBuffers<B: Backend> {
    pub inputs: LossInputs<B>,
    pub acts: Activations<B::Tensor>,
    pub back: BackScratch<B::Tensor>,
    pub head: LossHead<B::Tensor>,
}

impl<B: Backend> ShapedBuffers<B> {
    fn new(be: &B, model: &Model<B>, batch: usize, seq: usize, recompute: bool) -> Result<Self> {
        let (cfg, w, rows) = (&model.cfg, &model.weights, batch * seq);
        let keep = if recompute { Keep::Inputs } else { Keep::Every };
        let allocate = || -> Result<Self> {
            Ok(ShapedBuffers {
                inputs: LossInputs::new(be, model, batch, seq)?,
                acts: Activations::keeping(be, cfg, w, rows, keep)?,
                back: BackScratch::new(be, cfg, w, rows)?,
                head: LossHead::new(
                    be,
                    cfg,
                    w,
                    rows,
                    loss_chunk(rows, cfg.vocab_size, be.logit_chunk_elements()),
                )?,
            })
        };
        allocate().map_err(|e| {
            e.allocating(|| format!("the training buffers for batches of {batch} × {seq}"))
        })
    }
}

/// [`StepBuffers::fit`]'s answer: the shaped buffers, the gradients and the loss sum `[1]`.
pub type Fitted<'a, B> = (
    &'a mut ShapedBuffers<B>,
    &'a mut Grads<<B as Kernels>::Tensor>,
    &'a mut <B as Kernels>::Tensor,
);

/// Inference buffers of one batch width: inputs, activations, loss head.
type EvalBuffers<B> = (
    LossInputs<B>,
    Activations<<B as Kernels>::Tensor>,
    LossHead<<B as Kernels>::Tensor>,
);

/// Buffers for batches of `batch` rows of at most `max_seq` tokens.
pub struct StepBuffers<B: Backend> {
    /// For the width of the last batch (`None` only while being reallocated).
    shaped: Option<ShapedBuffers<B>>,
    pub grads: Grads<B::Tensor>,
    /// `[1]`: loss summed over the step's micro-batches.
    pub loss: B::Tensor,
    pub batch: usize,
    pub max_seq: usize,
    /// Whether the activations are recomputed in backward (each layer's input kept only).
    pub recompute: bool,
}

/// Refuses, before any buffer is made, a batch whose widest activation (`[batch·seq, width]`
/// for the MLP, attention and hidden widths) is larger than one binding of the device; the
/// error names the activation, the batch shape and the device's limit.
fn check_activation_bindings<B: Backend>(
    be: &B,
    cfg: &crate::model::config::ModelConfig,
    w_fused_gate_up: bool,
    batch: usize,
    seq: usize,
) -> Result<()> {
    let Some(limit) = be.max_binding_bytes() else {
        return Ok(());
    };
    let gate_up = if w_fused_gate_up { 2 } else { 1 } * cfg.intermediate_size;
    let widths = [
        ("MLP activation", gate_up),
        (
            "attention projection",
            (cfg.num_heads + 2 * cfg.num_kv_heads) * cfg.head_dim,
        ),
        ("hidden state", cfg.hidden_size),
    ];
    let logits_row = cfg.vocab_size as u64 * 4;
    if logits_row > limit {
        return Err(Error::TooLarge {
            what: format!(
                "one row of logits ([1, {}] f32, the loss's smallest chunk)",
                cfg.vocab_size
            ),
            bytes: logits_row,
            limit,
            kind: "storage binding",
        });
    }
    let rows = (batch * seq) as u64;
    for (what, width) in widths {
        let bytes = rows * width as u64 * 4;
        if bytes > limit {
            return Err(Error::TooLarge {
                what: format!(
                    "the {what} of a batch of {batch} × {seq} tokens ([{rows}, {width}] f32; \
                     a smaller batch size or sequence length fits)"
                ),
                bytes,
                limit,
                kind: "storage binding",
            });
        }
    }
    Ok(())
}

impl<B: Backend> StepBuffers<B> {
    /// Buffers for batches of `batch × seq` rows; `recompute` keeps only each layer's input
    /// and recomputes the layer's activations in backward.
    pub fn new(
        be: &B,
        model: &Model<B>,
        batch: usize,
        seq: usize,
        train_norms: bool,
        recompute: bool,
    ) -> Result<Self> {
        let cfg = &model.cfg;
        let w = &model.weights;
        if seq > cfg.max_position_embeddings {
            return Err(Error::param(
                "train",
                format!(
                    "a sequence length of {seq} is beyond the model's {} positions \
                     (max_position_embeddings in config.json); choose at most that",
                    cfg.max_position_embeddings
                ),
            ));
        }
        check_activation_bindings(be, cfg, w.fused_gate_up(), batch, seq)?;
        let shaped = ShapedBuffers::new(be, model, batch, seq, recompute)?;
        let grads = Grads::new(be, w, train_norms, batch * seq).map_err(|e| {
            e.allocating(|| format!("the training buffers for batches of {batch} × {seq}"))
        })?;
        Ok(StepBuffers {
            shaped: Some(shaped),
            grads,
            loss: be.zeros(&[1])?,
            batch,
            max_seq: seq,
            recompute,
        })
    }

    /// The width of the buffers now.
    pub fn seq(&self) -> usize {
        self.shaped.as_ref().map_or(0, |s| s.inputs.batch.seq)
    }

    /// The shaped buffers for `hb`, reallocated first when its width differs from the last
    /// batch's (work recorded so far is submitted and the old buffers dropped before the new
    /// ones are made).
    /// Gives the shaped buffers, the gradients and the loss sum.
    pub fn fit(&mut self, be: &B, model: &Model<B>, hb: &HostBatch) -> Result<Fitted<'_, B>> {
        let seq = hb.width(self.batch)?;
        if seq > self.max_seq {
            return Err(Error::param(
                "train",
                format!(
                    "a batch {seq} tokens wide is wider than the {} the run was set up for",
                    self.max_seq
                ),
            ));
        }
        if self.seq() != seq {
            be.flush()?;
            self.shaped = None;
            self.shaped = Some(ShapedBuffers::new(
                be,
                model,
                self.batch,
                seq,
                self.recompute,
            )?);
        }
        let shaped = self
            .shaped
            .as_mut()
            .ok_or_else(|| Error::param("train", "the training buffers were not allocated"))?;
        Ok((shaped, &mut self.grads, &mut self.loss))
    }
}

/// The model, its step buffers and optimizer.
pub struct Trainer<B: Backend> {
    pub model: Model<B>,
    pub bufs: StepBuffers<B>,
    pub opt: Optimizer<B::Tensor>,
    pub schedule: Schedule,
    pub train_norms: bool,
}

impl<B: Backend> Trainer<B> {
    /// A trainer for batches of `batch × seq` rows; the model's layers must be decomposed.
    pub fn new(
        be: &B,
        model: Model<B>,
        batch: usize,
        seq: usize,
        train_norms: bool,
        schedule: Schedule,
        adamw: AdamWConfig,
    ) -> Result<Self> {
        Self::with_recompute(be, model, batch, seq, train_norms, false, schedule, adamw)
    }

    /// [`Trainer::new`], with `recompute`: the forward keeps only each decoder layer's input
    /// and backward recomputes the layer from it (one layer's activations held at a time).
    #[allow(clippy::too_many_arguments)]
    pub fn with_recompute(
        be: &B,
        model: Model<B>,
        batch: usize,
        seq: usize,
        train_norms: bool,
        recompute: bool,
        schedule: Schedule,
        adamw: AdamWConfig,
    ) -> Result<Self> {
        let mut model = model;
        let mut bufs = StepBuffers::new(be, &model, batch, seq, train_norms, recompute)?;
        let mut opt = Optimizer::new(be, &bufs.grads, adamw)
            .map_err(|e| e.allocating(|| "the optimizer's moments".to_string()))?;
        let params = trained_mut(&mut model.weights, train_norms);
        opt.group(be, params, &mut bufs.grads)
            .map_err(|e| e.allocating(|| "the trained tensors in one buffer".to_string()))?;
        Ok(Trainer {
            model,
            bufs,
            opt,
            schedule,
            train_norms,
        })
    }

    /// One optimizer step over `micro` batches (gradients accumulate; the loss is the mean over
    /// all their trained tokens). A step whose loss or gradient is not finite changes nothing.
    pub async fn step(&mut self, be: &B, micro: &[HostBatch<'_>]) -> Result<StepReport> {
        let total: f64 = micro.iter().map(HostBatch::weight).sum();
        if micro.is_empty() || total <= 0.0 {
            return Err(Error::param(
                "train",
                "a step needs at least one trained token",
            ));
        }
        let scale = (1.0 / total) as f32;
        self.bufs.grads.zero(be)?;
        be.fill(&mut self.bufs.loss, 0.0)?;
        let cfg = self.model.cfg.clone();
        for hb in micro {
            let (sb, grads, loss) = self.bufs.fit(be, &self.model, hb)?;
            sb.inputs.upload(be, &self.model, hb)?;
            forward_loss(
                be,
                &mut self.model,
                &sb.inputs,
                &mut sb.acts,
                &mut sb.head,
                scale,
                Some((&mut *grads, &mut sb.back.dxn)),
            )?;
            let w = &self.model.weights;
            backward(
                be,
                &cfg,
                w,
                &mut self.model.rope,
                &sb.inputs.batch,
                &mut sb.acts,
                &mut sb.back,
                grads,
            )?;
            be.add_assign(loss, &sb.head.total)?;
        }
        let lr = self.schedule.lr(self.opt.step as usize);
        let params = trained_mut(&mut self.model.weights, self.train_norms);
        self.opt.update(be, params, &self.bufs.grads, lr)?;
        be.flush()?;
        let loss = be.read(&self.bufs.loss).await?[0];
        let grad_norm = be.read(&self.opt.grad_norm).await?[0];
        let applied = grad_norm.is_finite() && loss.is_finite();
        if applied {
            self.opt.applied();
        }
        Ok(StepReport {
            loss,
            grad_norm,
            lr,
            applied,
            trained_tokens: total,
        })
    }

    /// Mean loss over the trained tokens of `batches` (no gradients).
    pub async fn eval(&mut self, be: &B, batches: &[HostBatch<'_>]) -> Result<f32> {
        let total: f64 = batches.iter().map(HostBatch::weight).sum();
        if total <= 0.0 {
            return Err(Error::param("eval", "no trained tokens to evaluate"));
        }
        be.fill(&mut self.bufs.loss, 0.0)?;
        let scale = (1.0 / total) as f32;
        for hb in batches {
            let (sb, _, loss) = self.bufs.fit(be, &self.model, hb)?;
            sb.inputs.upload(be, &self.model, hb)?;
            forward_loss(
                be,
                &mut self.model,
                &sb.inputs,
                &mut sb.acts,
                &mut sb.head,
                scale,
                None,
            )?;
            be.add_assign(loss, &sb.head.total)?;
        }
        be.flush()?;
        Ok(be.read(&self.bufs.loss).await?[0])
    }
}

/// Mean loss of `model` as it stands (dense or decomposed) over the trained tokens of
/// `batches` of `batch` rows each, at most `seq` wide, with inference buffers (no gradients),
/// reallocated when the width changes.
pub async fn eval_loss<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    batches: &[HostBatch<'_>],
    batch: usize,
    seq: usize,
) -> Result<f32> {
    let total: f64 = batches.iter().map(HostBatch::weight).sum();
    if total <= 0.0 {
        return Err(Error::param("eval", "no trained tokens to evaluate"));
    }
    let cfg = model.cfg.clone();
    let mut sum = be.zeros(&[1])?;
    let scale = (1.0 / total) as f32;
    let mut bufs: Option<EvalBuffers<B>> = None;
    for hb in batches {
        let width = hb.width(batch)?;
        if width > seq {
            return Err(Error::param(
                "eval",
                format!("a batch {width} tokens wide is wider than the sequence length {seq}"),
            ));
        }
        if bufs.as_ref().map(|b| b.0.batch.seq) != Some(width) {
            drop(bufs.take());
            let rows = batch * width;
            let chunk = loss_chunk(rows, cfg.vocab_size, be.logit_chunk_elements());
            bufs = Some((
                LossInputs::new(be, model, batch, width)?,
                Activations::new(be, &cfg, &model.weights, rows, false)?,
                LossHead::new(be, &cfg, &model.weights, rows, chunk)?,
            ));
        }
        let Some((inputs, acts, head)) = bufs.as_mut() else {
            return Err(Error::param("eval", "the eval buffers were not allocated"));
        };
        inputs.upload(be, model, hb)?;
        forward_loss(be, model, inputs, acts, head, scale, None)?;
        be.add_assign(&mut sum, &head.total)?;
        // Each batch is submitted before the next one overwrites the inputs' staging.
        be.flush()?;
    }
    Ok(be.read(&sum).await?[0])
}
