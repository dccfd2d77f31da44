//! GPU encoders for causal grouped-query attention, forward and backward.
//!
//! Forward: one workgroup per (row, query head) walks its keys in blocks with an online softmax.
//! Backward (as in FlashAttention, recomputing the probabilities from the saved lse):
//! `attention_backward_delta` packs `(lse, Δ = Σ dout·out)` per (row, head) into a scratch buffer;
//! `attention_backward_dq` (one workgroup per (row, query head)) writes dq;
//! `attention_backward_dkv` (one workgroup per (key row, kv head)) writes dk and dv.
//! Every output element is owned by one workgroup, so no atomics and no zeroing are needed.
use super::{grid_256, u32_of};
use crate::backend::AttentionDims;
use crate::backend::gpu::recorder::{BufRef, Recorder, grid};
use crate::backend::gpu::{GpuIds, GpuTensor, kernels};
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};

/// The largest head dim the shaders hold in workgroup memory (64 invocations × 4 dims each).
const MAX_HEAD_DIM: usize = 256;
/// Invocations per workgroup of the forward, dq and dk/dv shaders (`WG` there).
const WG: usize = 64;

/// Shared by all four attention shaders.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AttentionParams {
    rows: u32,
    seq: u32,
    heads: u32,
    kv_heads: u32,
    group: u32,
    head_dim: u32,
    scale: f32,
}

/// Override constants of the forward, dq and dk/dv shaders: `SLOTS` = head dims per invocation.
type Constants = [(&'static str, f64); 1];

/// Params, the override constants and the row count, after range checks.
fn setup(op: &'static str, dims: &AttentionDims) -> Result<(AttentionParams, Constants, usize)> {
    if dims.head_dim > MAX_HEAD_DIM {
        return Err(Error::param(
            op,
            format!(
                "head_dim {} exceeds the {MAX_HEAD_DIM} the GPU shaders support",
                dims.head_dim
            ),
        ));
    }
    let rows = dims.batch * dims.seq;
    // Every flat index the shaders form (element offsets, stats entries) must fit a u32.
    u32_of(op, "q elements", rows * dims.n_heads * dims.head_dim)?;
    u32_of(op, "stats entries", rows * dims.n_heads * 2)?;
    let params = AttentionParams {
        rows: u32_of(op, "rows", rows)?,
        seq: u32_of(op, "seq", dims.seq)?,
        heads: u32_of(op, "n_heads", dims.n_heads)?,
        kv_heads: u32_of(op, "n_kv_heads", dims.n_kv_heads)?,
        group: u32_of(op, "group", dims.n_heads / dims.n_kv_heads)?,
        head_dim: u32_of(op, "head_dim", dims.head_dim)?,
        scale: dims.scale,
    };
    let slots = dims.head_dim.div_ceil(WG) as f64;
    Ok((params, [("SLOTS", slots)], rows))
}

#[allow(clippy::too_many_arguments)]
pub fn forward(
    rec: &Recorder,
    q: &GpuTensor,
    k: &GpuTensor,
    v: &GpuTensor,
    window_start: &GpuIds,
    dims: &AttentionDims,
    out: &mut GpuTensor,
    lse: &mut GpuTensor,
) -> Result<()> {
    let op = "attention_forward";
    let (params, constants, rows) = setup(op, dims)?;
    let groups = grid(u32_of(op, "rows × heads", rows * dims.n_heads)?);
    let bufs = [
        q.bref(),
        k.bref(),
        v.bref(),
        window_start.bref(),
        out.bref(),
        lse.bref(),
    ];
    rec.dispatch(
        &kernels::ATTENTION_FORWARD,
        &constants,
        &params,
        &bufs,
        groups,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn backward(
    rec: &Recorder,
    q: &GpuTensor,
    k: &GpuTensor,
    v: &GpuTensor,
    window_start: &GpuIds,
    dims: &AttentionDims,
    out: &GpuTensor,
    lse: &GpuTensor,
    dout: &GpuTensor,
    dq: &mut GpuTensor,
    dk: &mut GpuTensor,
    dv: &mut GpuTensor,
) -> Result<()> {
    let op = "attention_backward";
    let (params, constants, rows) = setup(op, dims)?;
    let row_heads = rows * dims.n_heads;
    let (sid, sbuf) = rec.scratch("attention_stats", (row_heads * 2 * 4) as u64)?;
    let stats = BufRef {
        id: sid,
        buf: &sbuf,
    };
    rec.dispatch(
        &kernels::ATTENTION_BACKWARD_DELTA,
        &[],
        &params,
        &[out.bref(), dout.bref(), lse.bref(), stats],
        grid_256(op, row_heads)?,
    )?;
    let groups = grid(u32_of(op, "rows × heads", row_heads)?);
    let bufs = [
        q.bref(),
        k.bref(),
        v.bref(),
        window_start.bref(),
        stats,
        dout.bref(),
        dq.bref(),
    ];
    rec.dispatch(
        &kernels::ATTENTION_BACKWARD_DQ,
        &constants,
        &params,
        &bufs,
        groups,
    )?;
    let groups = grid(u32_of(op, "rows × kv heads", rows * dims.n_kv_heads)?);
    let bufs = [
        q.bref(),
        k.bref(),
        v.bref(),
        window_start.bref(),
        stats,
        dout.bref(),
        dk.bref(),
        dv.bref(),
    ];
    rec.dispatch(
        &kernels::ATTENTION_BACKWARD_DKV,
        &constants,
        &params,
        &bufs,
        groups,
    )
}
