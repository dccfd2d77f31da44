//! GPU encoders for matmul, column dot products (two-pass) and the SVD merge.
use super::u32_of;
use crate::backend::gpu::recorder::{BufRef, Recorder, grid};
use crate::backend::gpu::{GpuTensor, kernels};
use crate::backend::{Matmul, TensorInfo};
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
    k_chunk: u32,
}

/// Split K when the output has fewer tiles than this…
const SPLIT_K_MAX_TILES: u32 = 32;
/// …and K is at least this long; each slice then covers at least this much of K.
const SPLIT_K_MIN_K: u32 = 2048;
const SPLIT_K_CHUNK: u32 = 1024;
/// Most slices of a split-K product.
const SPLIT_K_MAX_SLICES: u32 = 64;

/// Output tile edge of `shaders/matmul.wgsl` (`shaders/tile/matmul.wgsl`)…
const TILE: u32 = 64;
/// …and of its wide variant (`shaders/tile/matmul_wide.wgsl`, GPU tuning `wide_tiles`).
pub(super) const WIDE_TILE: u32 = 128;

/// Up to this many rows (untransposed A) go to `matmul_rows` instead of the 64×64 tiles.
const ROWS_KERNEL_MAX_M: usize = 8;
/// Output columns per `matmul_rows` workgroup.
const ROWS_KERNEL_COLS: usize = 32;

/// Whether [`matmul`] runs an `(m, n, k)` product in one dispatch of the 64×64 tiles (not the
/// few-rows kernel, not split K): the products the fused variants (`ops::svd`) cover.
pub(super) fn tiled(trans_a: bool, (m, n, k): (usize, usize, usize)) -> bool {
    let tiles = n.div_ceil(TILE as usize).max(1) * m.div_ceil(TILE as usize).max(1);
    let split_k = tiles < SPLIT_K_MAX_TILES as usize && k >= SPLIT_K_MIN_K as usize;
    (trans_a || m > ROWS_KERNEL_MAX_M) && !split_k
}

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
        k_chunk: 0,
    };
    if !spec.trans_a && m <= ROWS_KERNEL_MAX_M {
        let groups = grid(u32_of(op, "workgroups", n.div_ceil(ROWS_KERNEL_COLS))?);
        return rec.dispatch(
            kernels::MATMUL_ROWS_BY_B.get(b.format()),
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
    let tiles = [
        params.n.div_ceil(TILE).max(1),
        params.m.div_ceil(TILE).max(1),
    ];
    if tiles[0] * tiles[1] < SPLIT_K_MAX_TILES && params.k >= SPLIT_K_MIN_K {
        return split_k(rec, a, b, c, params, &constants, tiles);
    }
    if rec.tuning.get().wide_tiles(m, n) {
        let wide = [
            params.n.div_ceil(WIDE_TILE).max(1),
            params.m.div_ceil(WIDE_TILE).max(1),
        ];
        return rec.dispatch(
            kernels::MATMUL_WIDE_BY_B.get(b.format()),
            &constants,
            &params,
            &[a.bref(), b.bref(), c.bref()],
            [wide[0], wide[1], 1],
        );
    }
    rec.dispatch(
        kernels::MATMUL_BY_B.get(b.format()),
        &constants,
        &params,
        &[a.bref(), b.bref(), c.bref()],
        [tiles[0], tiles[1], 1],
    )
}

/// A product with few output tiles and a long K: slices of K into a scratch `[slices, M, N]`,
/// then one pass adds the slices into C (on top of C when accumulating).
fn split_k(
    rec: &Recorder,
    a: &GpuTensor,
    b: &GpuTensor,
    c: &mut GpuTensor,
    params: MatmulParams,
    constants: &[(&'static str, f64)],
    tiles: [u32; 2],
) -> Result<()> {
    let slices = params
        .k
        .div_ceil(SPLIT_K_CHUNK)
        .min(SPLIT_K_MAX_SLICES)
        .min((4 * SPLIT_K_MAX_TILES) / (tiles[0] * tiles[1]))
        .max(2);
    // Chunks are whole 16-step K tiles.
    let k_chunk = params.k.div_ceil(slices).div_ceil(16) * 16;
    let slices = params.k.div_ceil(k_chunk);
    let cols = params.m * params.n;
    let (pid, pbuf) = rec.scratch("matmul_partials", slices as u64 * cols as u64 * 4)?;
    let partial = BufRef::whole(pid, &pbuf);
    let sliced = MatmulParams {
        accumulate: 0,
        k_chunk,
        ..params
    };
    rec.dispatch(
        kernels::MATMUL_BY_B.get(b.format()),
        constants,
        &sliced,
        &[a.bref(), b.bref(), partial],
        [tiles[0], tiles[1], slices],
    )?;
    sum_partials(
        rec,
        BufRef::whole(pid, &pbuf),
        c.bref(),
        SumPartialsParams {
            cols,
            chunks: slices,
            accumulate: params.accumulate,
            sqrt_out: 0,
        },
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

/// `shaders/col_dot.wgsl`'s `Params` (the one-pass variant).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ColDotOneParams {
    rows: u32,
    cols: u32,
    has_scale: u32,
    accumulate: u32,
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

/// `out[c] (+)= Σ_t a[t, c] · b[t, c] · row_scale[t]`; a `[T, C]`, b `[T, C]`, row_scale `[T]`,
/// out `[C]`. One dispatch up to `GpuTuning::col_dot_single_pass_rows` rows, two past it.
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
    // Without a row scale, `a` stands in for the unused binding (read-only, so aliasing is fine).
    let scale = row_scale.map_or(a.bref(), |s| s.bref());
    let tuning = rec.tuning.get();
    if rows <= tuning.col_dot_single_pass_rows {
        let lanes = tuning.col_dot_lanes(cols);
        let params = ColDotOneParams {
            rows: u32_of(op, "rows", rows)?,
            cols: u32_of(op, "cols", cols)?,
            has_scale: row_scale.is_some() as u32,
            accumulate: accumulate as u32,
        };
        let per = (256 / lanes) as usize;
        let groups = [u32_of(op, "workgroups", cols.div_ceil(per).max(1))?, 1, 1];
        return rec.dispatch(
            &kernels::COL_DOT,
            &[("LANES", lanes as f64)],
            &params,
            &[a.bref(), b.bref(), scale, out.bref()],
            groups,
        );
    }
    let chunk = COL_DOT_CHUNK.max(rows.div_ceil(65535));
    let chunks = rows.div_ceil(chunk).max(1);
    let (pid, pbuf) = rec.scratch("partials", (chunks * cols * 4) as u64)?;
    let partial = BufRef::whole(pid, &pbuf);
    let params = ColDotParams {
        rows: u32_of(op, "rows", rows)?,
        cols: u32_of(op, "cols", cols)?,
        chunk: u32_of(op, "chunk", chunk)?,
        has_scale: row_scale.is_some() as u32,
    };
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
