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

/// `shaders/reduce_partial.wgsl`'s `Params`: up to 7 tensors per dispatch.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    offset: u32,
    square: u32,
    blocks: u32,
    slots: u32,
    n: [u32; 8],
    start: [u32; 8],
}

/// Elements reduced to one partial by a workgroup of `shaders/reduce_partial.wgsl` (256 × 8).
const REDUCE_BLOCK: usize = 2048;

/// Tensors one `reduce_partial` dispatch binds at most (7 inputs and the partials: 8 buffers).
const REDUCE_SLOTS: usize = 7;

/// `out[0] = Σ_i Σ x_i` (or `sqrt(Σ_i Σ x_i²)` with `square`): `reduce_partial` dispatches over
/// groups of up to `GpuTuning::reduce_tensors_per_dispatch` tensors into a shared partial
/// buffer, then `sum_partials` over all partials. No tensors, or only empty ones, give 0.
pub(crate) fn reduce_total(
    rec: &Recorder,
    op: &'static str,
    xs: &[&GpuTensor],
    out: &mut GpuTensor,
    square: bool,
) -> Result<()> {
    let nonempty: Vec<(&GpuTensor, usize)> = xs
        .iter()
        .map(|x| (*x, x.shape().numel().div_ceil(REDUCE_BLOCK)))
        .filter(|(_, nb)| *nb > 0)
        .collect();
    let total: usize = nonempty.iter().map(|(_, nb)| nb).sum();
    let chunks = u32_of(op, "partial count", total)?;
    let (pid, pbuf) = rec.scratch("reduce_partials", total.max(1) as u64 * 4)?;
    let partial = BufRef::whole(pid, &pbuf);
    let per = rec
        .tuning
        .get()
        .reduce_tensors_per_dispatch
        .clamp(1, REDUCE_SLOTS);
    let mut offset = 0;
    for group in nonempty.chunks(per) {
        let mut params = ReduceParams {
            offset: offset as u32,
            square: square as u32,
            blocks: 0,
            slots: group.len() as u32,
            n: [0; 8],
            start: [u32::MAX; 8],
        };
        let mut bufs = Vec::with_capacity(REDUCE_SLOTS + 1);
        for (s, (x, nb)) in group.iter().enumerate() {
            params.n[s] = u32_of(op, "element count", x.shape().numel())?;
            params.start[s] = params.blocks;
            params.blocks += *nb as u32;
            bufs.push(x.bref());
        }
        // Unused slots bind the first tensor again (read-only; never read).
        while bufs.len() < REDUCE_SLOTS {
            bufs.push(group[0].0.bref());
        }
        bufs.push(partial);
        rec.dispatch(
            &kernels::REDUCE_PARTIAL,
            &[],
            &params,
            &bufs,
            grid(params.blocks),
        )?;
        offset += params.blocks as usize;
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
