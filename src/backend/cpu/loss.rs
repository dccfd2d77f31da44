//! Masked cross-entropy (loss and dlogits in one pass) and sums on the host.
use super::Real;
use super::parallel::blocks2;
use super::vector;

/// For each row `i` of logits `[rows, vocab]` (overwritten with dlogits):
/// `loss[i] = w[i]·scale·(lse − z[target])`, `dz = (softmax(z) − onehot(target))·w[i]·scale`.
/// A target ≥ vocab counts as masked (zero loss and gradient).
pub fn cross_entropy<F: Real>(
    logits: &mut [F],
    vocab: usize,
    targets: &[u32],
    weights: &[F],
    scale: F,
    losses: &mut [F],
) {
    let row_loss = |i: usize, row: &mut [F]| {
        let target = targets[i] as usize;
        let w = if target < vocab {
            weights[i] * scale
        } else {
            F::zero()
        };
        if w == F::zero() {
            // A masked row contributes nothing: no softmax to compute.
            row.fill(F::zero());
            return F::zero();
        }
        let max = vector::max(row);
        let z_target = row[target];
        let sum = vector::exp_shifted(row, max);
        let lse = max + sum.ln();
        let loss = w * (lse - z_target);
        let k = w / sum;
        for z in row.iter_mut() {
            *z = *z * k;
        }
        row[target] = row[target] - w;
        loss
    };
    // One row per block: rows run in parallel natively.
    blocks2(logits, vocab, losses, 1, |i, row, loss| {
        loss[0] = row_loss(i, row)
    });
}

/// Σ x, accumulated in f64.
pub fn sum(x: &[f32]) -> f32 {
    x.iter().map(|&v| v as f64).sum::<f64>() as f32
}
