//! GPU encoders for masked cross-entropy and the total sum.
use super::linalg::{SumPartialsParams, sum_partials};
use super::u32_of;
use crate::backend::TensorInfo;
use crate::backend::gpu::kernels;
use crate::backend::gpu::recorder::{BufRef, Recorder, grid};
use crate::backend::gpu::{GpuIds, GpuTensor};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// The fixed part of `shaders/cross_entropy.wgsl`'s `Params`; the batch's `scale` follows it in
/// the uniform as a per-step value (rewritten in place, not cached by value).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CrossEntropyParams {
    rows: u32,
    vocab: u32,
    row_offset: u32,
}

/// One workgroup per row of the chunk (`shaders/cross_entropy.wgsl`), on a 2-D grid when the
/// chunk has more than 65535 rows.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy(
    rec: &Recorder,
    logits: &mut GpuTensor,
    targets: &GpuIds,
    weights: &GpuTensor,
    row_offset: usize,
    scale: f32,
    losses: &mut GpuTensor,
    (n, vocab, total): (usize, usize, usize),
) -> Result<()> {
    let op = "cross_entropy";
    if n == 0 {
        return Ok(());
    }
    u32_of(op, "logits element count", n * vocab)?;
    u32_of(op, "total rows", total)?;
    let params = CrossEntropyParams {
        rows: u32_of(op, "rows", n)?,
        vocab: u32_of(op, "vocab", vocab)?,
        row_offset: u32_of(op, "row_offset", row_offset)?,
    };
    let bufs = [logits.bref(), targets.bref(), weights.bref(), losses.bref()];
    let groups = grid(params.rows);
    rec.dispatch_stepped(&kernels::CROSS_ENTROPY, &[], &params, &scale, &bufs, groups)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    n: u32,
    offset: u32,
    square: u32,
    blocks: u32,
}

/// Elements reduced to one partial by a workgroup of `shaders/reduce_partial.wgsl` (256 × 8).
const REDUCE_BLOCK: usize = 2048;

/// `out[0] = Σ_i Σ x_i` (or `sqrt(Σ_i Σ x_i²)` with `square`): one `reduce_partial` dispatch per
/// tensor into a shared partial buffer, then `sum_partials` over all partials. No tensors, or
/// only empty ones, give 0.
pub(crate) fn reduce_total(
    rec: &Recorder,
    op: &'static str,
    xs: &[&GpuTensor],
    out: &mut GpuTensor,
    square: bool,
) -> Result<()> {
    let blocks: Vec<usize> = xs
        .iter()
        .map(|x| x.shape().numel().div_ceil(REDUCE_BLOCK))
        .collect();
    let total: usize = blocks.iter().sum();
    let chunks = u32_of(op, "partial count", total)?;
    let (pid, pbuf) = rec.scratch("reduce_partials", total.max(1) as u64 * 4)?;
    let partial = BufRef {
        id: pid,
        buf: &pbuf,
    };
    let mut offset = 0;
    for (x, &nb) in xs.iter().zip(&blocks) {
        if nb == 0 {
            continue;
        }
        let params = ReduceParams {
            n: u32_of(op, "element count", x.shape().numel())?,
            offset: offset as u32,
            square: square as u32,
            blocks: nb as u32,
        };
        rec.dispatch(
            &kernels::REDUCE_PARTIAL,
            &[],
            &params,
            &[x.bref(), partial],
            grid(params.blocks),
        )?;
        offset += nb;
    }
    let sum = SumPartialsParams {
        cols: 1,
        chunks,
        accumulate: 0,
        sqrt_out: square as u32,
    };
    sum_partials(rec, partial, out.bref(), sum)
}

pub fn sum(rec: &Recorder, x: &GpuTensor, out: &mut GpuTensor) -> Result<()> {
    reduce_total(rec, "sum", &[x], out, false)
}
