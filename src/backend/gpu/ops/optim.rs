//! GPU encoders for the global gradient norm and AdamW.
use super::{grid_256, u32_of};
use crate::backend::AdamW;
use crate::backend::gpu::recorder::Recorder;
use crate::backend::gpu::{GpuTensor, kernels};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// `out[0] = sqrt(Σ_i Σ x_i²)`, two-pass (see [`super::loss::reduce_total`]).
pub fn global_norm(rec: &Recorder, xs: &[&GpuTensor], out: &mut GpuTensor) -> Result<()> {
    super::loss::reduce_total(rec, "global_norm", xs, out, true)
}

/// The fixed part of `shaders/adamw.wgsl`'s `Params` (the same for every step of a run).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdamWParams {
    n: u32,
    clip: u32,
    max_norm: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
}

/// The values of one step, after [`AdamWParams`] in the uniform: they change with the step
/// number and the learning-rate schedule, so they are rewritten in place, not cached by value.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdamWStep {
    decay: f32,
    step_size: f32,
    bc2: f32,
}

/// One AdamW step; the clipping coefficient and the non-finite guard are evaluated in the kernel
/// from `grad_norm[0]`, so nothing is read back. The bias corrections are computed here in f32
/// exactly as `cpu::optim::adamw` does, so both backends agree closely.
#[allow(clippy::too_many_arguments)]
pub fn adamw(
    rec: &Recorder,
    param: &mut GpuTensor,
    grad: &GpuTensor,
    m: &mut GpuTensor,
    v: &mut GpuTensor,
    grad_norm: &GpuTensor,
    hp: &AdamW,
    n: usize,
) -> Result<()> {
    let op = "adamw";
    if n == 0 {
        return Ok(());
    }
    let bc1 = 1.0 - hp.beta1.powi(hp.step as i32);
    let bc2 = 1.0 - hp.beta2.powi(hp.step as i32);
    let params = AdamWParams {
        n: u32_of(op, "n", n)?,
        // A non-finite threshold (∞: no clipping) gives a coefficient of 1, as on the CPU.
        clip: hp.max_grad_norm.is_finite() as u32,
        max_norm: hp.max_grad_norm,
        beta1: hp.beta1,
        beta2: hp.beta2,
        one_minus_beta1: 1.0 - hp.beta1,
        one_minus_beta2: 1.0 - hp.beta2,
        eps: hp.eps,
    };
    let step = AdamWStep {
        decay: 1.0 - hp.lr * hp.weight_decay,
        step_size: hp.lr / bc1,
        bc2,
    };
    let bufs = [
        param.bref(),
        grad.bref(),
        m.bref(),
        v.bref(),
        grad_norm.bref(),
    ];
    let groups = grid_256(op, n)?;
    rec.dispatch_stepped(&kernels::ADAMW, &[], &params, &step, &bufs, groups)
}
