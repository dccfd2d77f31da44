//! GPU encoders for RMSNorm forward and backward: one workgroup per row; the weight gradient of
//! the backward pass reuses the two-pass column dot product of [`super::linalg::col_dot`].
use super::u32_of;
use crate::backend::gpu::recorder::{Recorder, grid};
use crate::backend::gpu::{GpuTensor, kernels};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ForwardParams {
    rows: u32,
    cols: u32,
    eps: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BackwardParams {
    rows: u32,
    cols: u32,
    accumulate_dx: u32,
}

/// `y = x · rstd · w`, `rstd[t] = 1 / sqrt(mean(x[t]²) + eps)`. x, y `[rows, cols]`.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_forward(
    rec: &Recorder,
    x: &GpuTensor,
    w: &GpuTensor,
    eps: f32,
    y: &mut GpuTensor,
    rstd: &mut GpuTensor,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let op = "rmsnorm_forward";
    u32_of(op, "element count", rows * cols)?;
    let params = ForwardParams {
        rows: u32_of(op, "rows", rows)?,
        cols: u32_of(op, "cols", cols)?,
        eps,
    };
    let bufs = [x.bref(), w.bref(), y.bref(), rstd.bref()];
    rec.dispatch(
        &kernels::RMSNORM_FORWARD,
        &[],
        &params,
        &bufs,
        grid(params.rows),
    )
}

/// `dx (+)= rstd · (w⊙dy − x̂ · mean(x̂ ⊙ w⊙dy))`, `x̂ = x · rstd`; `dw += Σ_t dy ⊙ x̂` when given.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_backward(
    rec: &Recorder,
    x: &GpuTensor,
    w: &GpuTensor,
    rstd: &GpuTensor,
    dy: &GpuTensor,
    dx: &mut GpuTensor,
    accumulate_dx: bool,
    dw: Option<&mut GpuTensor>,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let op = "rmsnorm_backward";
    u32_of(op, "element count", rows * cols)?;
    let params = BackwardParams {
        rows: u32_of(op, "rows", rows)?,
        cols: u32_of(op, "cols", cols)?,
        accumulate_dx: accumulate_dx as u32,
    };
    let bufs = [x.bref(), w.bref(), rstd.bref(), dy.bref(), dx.bref()];
    rec.dispatch(
        &kernels::RMSNORM_BACKWARD,
        &[],
        &params,
        &bufs,
        grid(params.rows),
    )?;
    if let Some(dw) = dw {
        // dw[c] += Σ_t dy[t, c] · x[t, c] · rstd[t]
        super::linalg::col_dot(rec, dy, x, Some(rstd), dw, true, (rows, cols))?;
    }
    Ok(())
}
