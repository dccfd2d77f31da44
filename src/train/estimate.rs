//! How long a run will take, before it starts: a quick calibration on the loaded (dense) model
//! ([`calibrate`]: one forward pass of a short row, and the randomized SVD of one representative
//! layer) scaled by the run's shapes ([`estimate`]: the plan's layers, the steps, the evaluations
//! and the final loss pass). The page shows it next to Train and refines it from the measured
//! steps once the run goes. Scaling rules: a forward pass costs in proportion to its tokens; a
//! training step costs [`STEP_OVER_FORWARD`] forward passes of its tokens (the backward pass
//! computes `dx` and `dΣ`, never a weight gradient); an eval batch costs one forward pass of its
//! tokens; a layer's randomized SVD costs in proportion to [`svd_cost`].
use super::step::{HostBatch, eval_loss};
use crate::backend::Backend;
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::weights::Linear;
use crate::svd::SvdPlan;
use crate::svd::decompose::{DecomposeOptions, factors};
use serde::Serialize;

/// A training step's time over a forward pass of the same tokens.
pub const STEP_OVER_FORWARD: f64 = 2.5;

/// What [`calibrate`] measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// A forward pass (with the loss) over one row of `forward_tokens` tokens, in ms.
    pub forward_ms: f64,
    pub forward_tokens: usize,
    /// The randomized SVD of one `[svd_m, svd_n]` layer at rank `svd_q`, in ms.
    pub svd_ms: f64,
    pub svd_m: usize,
    pub svd_n: usize,
    pub svd_q: usize,
}

/// The shape of a run, as far as its duration goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunShape {
    pub steps: usize,
    /// Tokens of one step: `grad_accum ×` the mean `batch_size × width` of the train batches
    /// (a batch is as wide as its longest row).
    pub step_tokens: usize,
    /// Tokens of one eval (or final-pass) batch: the mean `batch_size × width` of the eval batches.
    pub batch_tokens: usize,
    /// Evaluations, the one before the first step included (0 without an eval split).
    pub evals: usize,
    /// Batches of one evaluation.
    pub eval_batches: usize,
    /// Batches of the loss pass after training (0 when it is off).
    pub final_batches: usize,
}

/// How long a run will take, in ms, by phase.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RunEstimate {
    pub decompose_ms: f64,
    pub step_ms: f64,
    pub steps: usize,
    pub eval_batch_ms: f64,
    pub evals: usize,
    pub eval_batches: usize,
    /// All evaluations together.
    pub eval_ms: f64,
    pub final_batches: usize,
    pub final_ms: f64,
    pub total_ms: f64,
}

/// The relative cost of the randomized SVD of an `[m, n]` layer at rank `q`: `2·niter + 2`
/// products with the `[m, n]` weight over `k = q + oversampling` columns, and the
/// orthonormalizations of `[m, k]` and `[n, k]` blocks.
pub fn svd_cost(m: usize, n: usize, q: usize, o: &DecomposeOptions) -> f64 {
    let k = (q + o.oversampling).min(m.min(n)) as f64;
    let (m, n) = (m as f64, n as f64);
    (2 * o.niter + 2) as f64 * m * n * k + (o.niter + 1) as f64 * (m + n) * k * k
}

/// Scales a calibration to a run of `plan` with `shape`.
pub fn estimate(cal: &Calibration, plan: &SvdPlan, shape: &RunShape) -> RunEstimate {
    let o = DecomposeOptions::default();
    let unit = svd_cost(cal.svd_m, cal.svd_n, cal.svd_q, &o).max(1.0);
    let all: f64 = plan
        .layers
        .iter()
        .map(|l| svd_cost(l.m, l.n, l.q, &o))
        .sum();
    let decompose_ms = cal.svd_ms * all / unit;
    let per_token = cal.forward_ms / cal.forward_tokens.max(1) as f64;
    let step_ms = per_token * shape.step_tokens as f64 * STEP_OVER_FORWARD;
    let eval_batch_ms = per_token * shape.batch_tokens as f64;
    let eval_ms = eval_batch_ms * (shape.evals * shape.eval_batches) as f64;
    let final_ms = eval_batch_ms * shape.final_batches as f64;
    RunEstimate {
        decompose_ms,
        step_ms,
        steps: shape.steps,
        eval_batch_ms,
        evals: shape.evals,
        eval_batches: shape.eval_batches,
        eval_ms,
        final_batches: shape.final_batches,
        final_ms,
        total_ms: decompose_ms + step_ms * shape.steps as f64 + eval_ms + final_ms,
    }
}

/// One row of `tokens` made-up tokens, every target trained (for timing only).
fn timing_batch(tokens: usize, vocab: usize) -> Batch {
    let ids: Vec<u32> = (0..tokens)
        .map(|i| ((i * 7919 + 1) % vocab.max(1)) as u32)
        .collect();
    let mut target_ids = ids[1..].to_vec();
    target_ids.push(ids[0]);
    Batch {
        batch: 1,
        seq_len: tokens,
        input_ids: ids,
        target_ids,
        loss_weights: vec![1.0; tokens],
        position_ids: (0..tokens as u32).collect(),
        window_start: vec![0; tokens],
        trained_tokens: tokens,
        real_tokens: tokens,
        rows: 1,
    }
}

/// Measures `model` (dense, as loaded) on `be`: a forward pass with the loss over one row of
/// `tokens` tokens, and the randomized SVD at `plan`'s rank of the largest planned layer of the
/// first decoder block (the model is left as it was). `now()` gives milliseconds.
pub async fn calibrate<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    plan: &SvdPlan,
    tokens: usize,
    now: impl Fn() -> f64,
) -> Result<Calibration> {
    let tokens = tokens.max(2);
    let batch = timing_batch(tokens, model.cfg.vocab_size);
    let t0 = now();
    eval_loss(be, model, &[HostBatch::from(&batch)], 1, tokens).await?;
    let forward_ms = now() - t0;
    let linears = model.weights.linears();
    let (i, p) = plan
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.layer == Some(0))
        .max_by_key(|(_, l)| l.m * l.n)
        .or_else(|| plan.layers.iter().enumerate().next())
        .ok_or_else(|| Error::param("estimate", "the plan has no layer"))?;
    let Some((_, _, Linear::Dense { w, .. })) = linears.get(i) else {
        return Err(Error::param(
            "estimate",
            format!("{} is not a dense layer (already decomposed)", p.module),
        ));
    };
    let t1 = now();
    factors(be, w, p.q, &DecomposeOptions::default()).await?;
    let svd_ms = now() - t1;
    Ok(Calibration {
        forward_ms,
        forward_tokens: tokens,
        svd_ms,
        svd_m: p.m,
        svd_n: p.n,
        svd_q: p.q,
    })
}
