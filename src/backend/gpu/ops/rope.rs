//! GPU encoders for rotary position embedding (in place, Hugging Face `rotate_half` pairing): one
//! tensor, or q and k together in one dispatch.
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

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RopeQkParams {
    n: u32,
    q_heads: u32,
    k_heads: u32,
    half: u32,
    table_rows: u32,
    inverse: u32,
}

/// [`rope`] on q `[rows, q_heads · head_dim]` and k `[rows, k_heads · head_dim]` in one dispatch
/// (`shaders/rope_qk.wgsl`); `tables` = (positions, cos, sin).
#[allow(clippy::too_many_arguments)]
pub fn rope_qk(
    rec: &Recorder,
    q: &mut GpuTensor,
    k: &mut GpuTensor,
    (positions, cos, sin): (&GpuIds, &GpuTensor, &GpuTensor),
    (q_heads, k_heads): (usize, usize),
    head_dim: usize,
    inverse: bool,
    (rows, table_rows): (usize, usize),
) -> Result<()> {
    let op = "rope_qk";
    let half = head_dim / 2;
    let heads = q_heads + k_heads;
    // Every index the shader forms stays below these products.
    u32_of(op, "element count", rows * heads * head_dim)?;
    u32_of(op, "table element count", table_rows * half)?;
    let n = rows * heads * half;
    let params = RopeQkParams {
        n: u32_of(op, "n", n)?,
        q_heads: u32_of(op, "q heads", q_heads)?,
        k_heads: u32_of(op, "k heads", k_heads)?,
        half: u32_of(op, "half", half)?,
        table_rows: u32_of(op, "table rows", table_rows)?,
        inverse: inverse as u32,
    };
    let bufs = [q.bref(), k.bref(), positions.bref(), cos.bref(), sin.bref()];
    rec.dispatch(&kernels::ROPE_QK, &[], &params, &bufs, grid_256(op, n)?)
}
