//! GPU encoder for rotary position embedding (in place, Hugging Face `rotate_half` pairing).
use super::{grid_256, u32_of};
use crate::backend::gpu::recorder::Recorder;
use crate::backend::gpu::{GpuIds, GpuTensor, kernels};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RopeParams {
    n: u32,
    n_heads: u32,
    half: u32,
    table_rows: u32,
    inverse: u32,
}

/// Rotates x `[rows, n_heads · head_dim]` in place by the angles of cos/sin `[table_rows, head_dim/2]`
/// at `positions[t]` (negated when `inverse`); rows whose position is past the table are left alone.
#[allow(clippy::too_many_arguments)]
pub fn rope(
    rec: &Recorder,
    x: &mut GpuTensor,
    positions: &GpuIds,
    cos: &GpuTensor,
    sin: &GpuTensor,
    n_heads: usize,
    head_dim: usize,
    inverse: bool,
    (rows, table_rows): (usize, usize),
) -> Result<()> {
    let op = "rope";
    let half = head_dim / 2;
    // Every index the shader forms stays below these two products.
    u32_of(op, "x element count", rows * n_heads * head_dim)?;
    u32_of(op, "table element count", table_rows * half)?;
    let n = rows * n_heads * half;
    let params = RopeParams {
        n: u32_of(op, "n", n)?,
        n_heads: u32_of(op, "n_heads", n_heads)?,
        half: u32_of(op, "half", half)?,
        table_rows: u32_of(op, "table rows", table_rows)?,
        inverse: inverse as u32,
    };
    let bufs = [x.bref(), positions.bref(), cos.bref(), sin.bref()];
    rec.dispatch(&kernels::ROPE, &[], &params, &bufs, grid_256(op, n)?)
}
