//! Masked cross-entropy (loss and dlogits in one pass) and sums on the host.
use super::Real;

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
    for (i, row) in logits.chunks_mut(vocab).enumerate() {
        let target = targets[i] as usize;
        let w = if target < vocab {
            weights[i] * scale
        } else {
            F::zero()
        };
        let max = row.iter().fold(F::neg_infinity(), |a, &b| a.max(b));
        let sum: F = row.iter().map(|&z| (z - max).exp()).sum();
        let lse = max + sum.ln();
        losses[i] = if w == F::zero() {
            F::zero()
        } else {
            w * (lse - row[target])
        };
        for z in row.iter_mut() {
            *z = (*z - lse).exp() * w;
        }
        if target < vocab {
            row[target] = row[target] - w;
        }
    }
}

/// Σ x, accumulated in f64.
pub fn sum(x: &[f32]) -> f32 {
    x.iter().map(|&v| v as f64).sum::<f64>() as f32
}
