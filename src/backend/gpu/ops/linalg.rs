//! GPU encoders for matmul, column dot products (two-pass) and the SVD merge.
use super::u32_of;
use crate::backend::Matmul;
use crate::backend::gpu::recorder::{BufRef, Recorder, grid};
use crate::backend::gpu::{GpuTensor, kernels};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    accumulate: u32,
    alpha: f32,
}

/// Output tile edge of `shaders/matmul.wgsl`.
const TILE: u32 = 64;

/// Up to this many rows (untransposed A) go to `matmul_rows` instead of the 64×64 tiles.
const ROWS_KERNEL_MAX_M: usize = 8;
/// Output columns per `matmul_rows` workgroup.
const ROWS_KERNEL_COLS: usize = 32;

pub fn matmul(
    rec: &Recorder,
    a: &GpuTensor,
    b: &GpuTensor,
    c: &mut GpuTensor,
    spec: Matmul,
    (m, n, k): (usize, usize, usize),
) -> Result<()> {
    let op = "matmul";
    let params = MatmulParams {
        m: u32_of(op, "m", m)?,
        n: u32_of(op, "n", n)?,
        k: u32_of(op, "k", k)?,
        accumulate: spec.accumulate as u32,
        alpha: spec.alpha,
    };
    if !spec.trans_a && m <= ROWS_KERNEL_MAX_M {
        let groups = grid(u32_of(op, "workgroups", n.div_ceil(ROWS_KERNEL_COLS))?);
        return rec.dispatch(
            &kernels::MATMUL_ROWS,
            &[("TRANS_B", spec.trans_b as u32 as f64)],
            &params,
            &[a.bref(), b.bref(), c.bref()],
            groups,
        );
    }
    let constants = [
        ("TRANS_A", spec.trans_a as u32 as f64),
        ("TRANS_B", spec.trans_b as u32 as f64),
    ];
    let groups = [
        params.n.div_ceil(TILE).max(1),
        params.m.div_ceil(TILE).max(1),
        1,
    ];
    rec.dispatch(
        &kernels::MATMUL,
        &constants,
        &params,
        &[a.bref(), b.bref(), c.bref()],
        groups,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ColDotParams {
    rows: u32,
    cols: u32,
    chunk: u32,
    has_scale: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct SumPartialsParams {
    pub cols: u32,
    pub chunks: u32,
    pub accumulate: u32,
    pub sqrt_out: u32,
}

/// Rows summed by one partial of `col_dot` (more when the rows would need over 65535 chunks).
const COL_DOT_CHUNK: usize = 64;

/// Second pass shared by the reductions: `out[c] (+)= Σ_i partial[i, c]` (then `sqrt`).
pub(crate) fn sum_partials(
    rec: &Recorder,
    partial: BufRef,
    out: BufRef,
    params: SumPartialsParams,
) -> Result<()> {
    let groups = [params.cols.div_ceil(256).max(1), 1, 1];
    rec.dispatch(
        &kernels::SUM_PARTIALS,
        &[],
        &params,
        &[partial, out],
        groups,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn col_dot(
    rec: &Recorder,
    a: &GpuTensor,
    b: &GpuTensor,
    row_scale: Option<&GpuTensor>,
    out: &mut GpuTensor,
    accumulate: bool,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let op = "col_dot";
    let chunk = COL_DOT_CHUNK.max(rows.div_ceil(65535));
    let chunks = rows.div_ceil(chunk).max(1);
    let (pid, pbuf) = rec.scratch("partials", (chunks * cols * 4) as u64)?;
    let partial = BufRef {
        id: pid,
        buf: &pbuf,
    };
    let params = ColDotParams {
        rows: u32_of(op, "rows", rows)?,
        cols: u32_of(op, "cols", cols)?,
        chunk: u32_of(op, "chunk", chunk)?,
        has_scale: row_scale.is_some() as u32,
    };
    // Without a row scale, `a` stands in for the unused binding (read-only, so aliasing is fine).
    let scale = row_scale.map_or(a.bref(), |s| s.bref());
    let groups = [
        params.cols.div_ceil(256).max(1),
        u32_of(op, "chunks", chunks)?,
        1,
    ];
    rec.dispatch(
        &kernels::COL_DOT_PARTIAL,
        &[],
        &params,
        &[a.bref(), b.bref(), scale, partial],
        groups,
    )?;
    let sum = SumPartialsParams {
        cols: params.cols,
        chunks: chunks as u32,
        accumulate: accumulate as u32,
        sqrt_out: 0,
    };
    sum_partials(rec, partial, out.bref(), sum)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MergeParams {
    m: u32,
    n: u32,
    q: u32,
}

#[allow(clippy::too_many_arguments)]
pub fn svd_merge(
    rec: &Recorder,
    w_res: &GpuTensor,
    u: &GpuTensor,
    sigma: &GpuTensor,
    v: &GpuTensor,
    out: &mut GpuTensor,
    (m, n, q): (usize, usize, usize),
) -> Result<()> {
    let op = "svd_merge";
    let params = MergeParams {
        m: u32_of(op, "m", m)?,
        n: u32_of(op, "n", n)?,
        q: u32_of(op, "q", q)?,
    };
    let groups = [
        params.n.div_ceil(16).max(1),
        params.m.div_ceil(16).max(1),
        1,
    ];
    let bufs = [w_res.bref(), u.bref(), sigma.bref(), v.bref(), out.bref()];
    rec.dispatch(&kernels::SVD_MERGE, &[], &params, &bufs, groups)
}
