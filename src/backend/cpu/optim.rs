//! Global gradient norm and AdamW on the host.
use crate::backend::AdamW;

/// `sqrt(Σ_i Σ x_i²)`, accumulated in f64.
pub fn global_norm(xs: &[&[f32]]) -> f32 {
    xs.iter()
        .flat_map(|x| x.iter())
        .map(|&v| (v as f64) * (v as f64))
        .sum::<f64>()
        .sqrt() as f32
}

/// Gradient multiplier for clipping to `max_norm` (as torch's `clip_grad_norm_`); a non-finite
/// `max_norm` means no clipping.
pub fn clip_coefficient(grad_norm: f32, max_norm: f32) -> f32 {
    if !max_norm.is_finite() {
        return 1.0;
    }
    (max_norm / (grad_norm + 1e-6)).min(1.0)
}

/// One decoupled-weight-decay Adam step (torch.optim.AdamW semantics); skipped entirely when
/// `grad_norm` is not finite.
pub fn adamw(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    grad_norm: f32,
    hp: &AdamW,
) {
    if !grad_norm.is_finite() {
        return;
    }
    let clip = clip_coefficient(grad_norm, hp.max_grad_norm);
    let bc1 = 1.0 - hp.beta1.powi(hp.step as i32);
    let bc2 = 1.0 - hp.beta2.powi(hp.step as i32);
    let step_size = hp.lr / bc1;
    for i in 0..param.len() {
        let g = grad[i] * clip;
        m[i] = hp.beta1 * m[i] + (1.0 - hp.beta1) * g;
        v[i] = hp.beta2 * v[i] + (1.0 - hp.beta2) * g * g;
        param[i] *= 1.0 - hp.lr * hp.weight_decay;
        let denom = (v[i] / bc2).sqrt() + hp.eps;
        param[i] -= step_size * m[i] / denom;
    }
}
