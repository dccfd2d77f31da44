//! A loss pass one batch at a time: the eval split's loss and the loss over the whole file,
//! computed in separate calls so that the page can show "batch 3 of 8", run a Generate between
//! two batches and stop the pass. The mean is the one [`Trainer::eval`] gives over all the batches
//! at once (each batch's mean loss weighted by its trained tokens, summed in f64), to float
//! rounding. [`spread`] picks an evenly spread sample of batches for a sampled pass.
use super::step::{HostBatch, Trainer};
use crate::backend::Backend;
use crate::data::Batch;
use crate::error::{Error, Result};
use serde::Serialize;

/// `k` of the indices `0 .. n`, evenly spread and ascending (all of them when `k ≥ n`).
pub fn spread(n: usize, k: usize) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    (0..k).map(|i| i * n / k).collect()
}

/// Where a pass stands after a batch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PassProgress {
    /// Batches done of `total`.
    pub done: usize,
    pub total: usize,
    /// The mean loss, once the last batch is done.
    pub loss: Option<f32>,
}

/// A pass over some of a list of batches (`order`: their indices), one batch per
/// [`LossPass::next`].
#[derive(Clone, Debug)]
pub struct LossPass {
    order: Vec<usize>,
    done: usize,
    /// Σ over done batches of (mean loss × trained tokens), and Σ trained tokens.
    sum: f64,
    weight: f64,
}

impl LossPass {
    /// A pass over the batches `order` (indices into the list given to [`LossPass::next`]).
    pub fn new(order: Vec<usize>) -> Self {
        LossPass {
            order,
            done: 0,
            sum: 0.0,
            weight: 0.0,
        }
    }

    pub fn total(&self) -> usize {
        self.order.len()
    }

    pub fn finished(&self) -> bool {
        self.done >= self.order.len()
    }

    /// Evaluates the next batch of the pass with `trainer`'s current weights (a batch without
    /// trained tokens counts as done and adds nothing). After the last batch, the mean loss;
    /// an error when none of the batches had a trained token, or when the pass is over.
    pub async fn next<B: Backend>(
        &mut self,
        be: &B,
        trainer: &mut Trainer<B>,
        batches: &[Batch],
    ) -> Result<PassProgress> {
        let i = *self
            .order
            .get(self.done)
            .ok_or_else(|| Error::param("eval", "the loss pass is already complete"))?;
        let batch = batches
            .get(i)
            .ok_or_else(|| Error::param("eval", format!("no batch {i} to evaluate")))?;
        let weight: f64 = batch.loss_weights.iter().map(|&w| w as f64).sum();
        if weight > 0.0 {
            let mean = trainer.eval(be, &[HostBatch::from(batch)]).await?;
            self.sum += mean as f64 * weight;
            self.weight += weight;
        }
        self.done += 1;
        let loss = if self.finished() {
            if self.weight <= 0.0 {
                return Err(Error::param("eval", "no trained tokens to evaluate"));
            }
            Some((self.sum / self.weight) as f32)
        } else {
            None
        };
        Ok(PassProgress {
            done: self.done,
            total: self.order.len(),
            loss,
        })
    }
}

/// Which batches of the whole file a pass over about `limit` examples covers (all of them when
/// `limit` is `None`, none when it is 0), for a file of `examples` examples in `batches` batches
/// of `batch_size` rows (one example per row, the last batch partly padding). Returns the batch
/// indices ([`spread`] over the file) and how many examples they hold.
pub fn file_sample(
    batches: usize,
    batch_size: usize,
    examples: usize,
    limit: Option<usize>,
) -> (Vec<usize>, usize) {
    let b = batch_size.max(1);
    let k = limit.map_or(batches, |n| n.div_ceil(b));
    let order = spread(batches, k);
    let covered = order
        .iter()
        .map(|&i| examples.saturating_sub(i * b).min(b))
        .sum();
    (order, covered)
}
