//! GPU encoders of the SVD layer's fused products: `matmul_pair` (two products into one
//! output), `matmul_col_dot` (`k = g U` with dΣ's row-block column dots), `col_dot_blocks` (the
//! same dots from a `k` in memory) and `sum_blocks` (the blocks added into the gradients).
use super::linalg::{WIDE_TILE, tiled};
use super::{grid_256, u32_of};
use crate::backend::gpu::recorder::{BufRef, Recorder};
use crate::backend::gpu::{GpuTensor, kernels};
use crate::backend::{DSIGMA_BLOCK_ROWS, Format, Matmul, PairTerm, TensorInfo};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// Output tile edge of `shaders/tile/matmul.wgsl` (and row block of `tile/col_dots.wgsl`).
const TILE: usize = 64;
const _: () = assert!(TILE == DSIGMA_BLOCK_ROWS);

/// `shaders/matmul_pair.wgsl`'s `Params`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulPairParams {
    m: u32,
    n: u32,
    k: u32,
    accumulate: u32,
    alpha: f32,
    k2: u32,
    k1_pad: u32,
    has_scale: u32,
}

/// [`crate::backend::Backend::matmul_pair`] in one dispatch of `matmul_pair` where the 64×64
/// tiles of [`matmul`] would run its first product (more than 8 rows, no split K) and the second
/// B is f32 or f16; `Ok(false)` (nothing recorded) elsewhere, for the caller to compose it.
pub fn matmul_pair(
    rec: &Recorder,
    a: &GpuTensor,
    b: &GpuTensor,
    second: PairTerm<'_, GpuTensor>,
    c: &mut GpuTensor,
    spec: Matmul,
    (m, n, k, q): (usize, usize, usize, usize),
) -> Result<bool> {
    let op = "matmul_pair";
    let factor_f16 = match second.b.format() {
        Format::F32 => false,
        Format::F16 => true,
        _ => return Ok(false),
    };
    if spec.trans_a || !tiled(false, (m, n, k)) {
        return Ok(false);
    }
    let wide = rec.tuning.get().wide_tiles(m, n);
    let tile = if wide { WIDE_TILE as usize } else { TILE };
    let tiles = [n.div_ceil(tile), m.div_ceil(tile)];
    let k1_pad = k.div_ceil(16) * 16;
    u32_of(op, "K", k1_pad + q)?;
    let params = MatmulPairParams {
        m: u32_of(op, "m", m)?,
        n: u32_of(op, "n", n)?,
        k: u32_of(op, "k", k)?,
        accumulate: spec.accumulate as u32,
        alpha: spec.alpha,
        k2: u32_of(op, "q", q)?,
        k1_pad: u32_of(op, "K", k1_pad)?,
        has_scale: second.scale.is_some() as u32,
    };
    // Without a scale, a2 stands in for the unused bindings (read-only, so aliasing is fine).
    let (s, s_add) = second
        .scale
        .map_or((second.a.bref(), second.a.bref()), |(s, t)| {
            (s.bref(), t.bref())
        });
    let bufs = [
        a.bref(),
        b.bref(),
        c.bref(),
        second.a.bref(),
        second.b.bref(),
        s,
        s_add,
    ];
    let constants = [
        ("TRANS_B", spec.trans_b as u32 as f64),
        ("FACTOR_F16", factor_f16 as u32 as f64),
    ];
    let groups = [
        u32_of(op, "workgroups", tiles[0])?,
        u32_of(op, "workgroups", tiles[1])?,
        1,
    ];
    let kernels = if wide {
        kernels::MATMUL_PAIR_WIDE_BY_B
    } else {
        kernels::MATMUL_PAIR_BY_B
    };
    rec.dispatch(kernels.get(b.format()), &constants, &params, &bufs, groups)?;
    Ok(true)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulMultiParams {
    m: u32,
    n: u32,
    k: u32,
    n1: u32,
    n2: u32,
}

/// `crate::backend::Backend::matmul_multi` in one `matmul_multi` dispatch for two or three
/// products whose B share one format, f32 or f16, where the 64×64 tiles run the joined product;
/// `Ok(false)` (nothing recorded) elsewhere, for the caller to run one matmul each.
pub fn matmul_multi(
    rec: &Recorder,
    a: &GpuTensor,
    bs: &[&GpuTensor],
    cs: &mut [&mut GpuTensor],
    (m, k): (usize, usize),
) -> Result<bool> {
    let op = "matmul_multi";
    let format = bs[0].format();
    let same = bs.iter().all(|b| b.format() == format);
    if bs.len() < 2 || !same || !matches!(format, Format::F32 | Format::F16) {
        return Ok(false);
    }
    let ns: Vec<usize> = cs.iter().map(|c| c.shape().numel() / m.max(1)).collect();
    let n: usize = ns.iter().sum();
    if !tiled(false, (m, n, k)) {
        return Ok(false);
    }
    let params = MatmulMultiParams {
        m: u32_of(op, "m", m)?,
        n: u32_of(op, "n", n)?,
        k: u32_of(op, "k", k)?,
        n1: u32_of(op, "n", ns[0])?,
        n2: u32_of(op, "n", ns[1])?,
    };
    // With two products, the third B is the first again (read-only) and the third C a scratch
    // buffer nothing reads.
    let (unused_id, unused) = rec.scratch("matmul_multi_unused", 4)?;
    let unused = BufRef::whole(unused_id, &unused);
    let b3 = bs.get(2).unwrap_or(&bs[0]).bref();
    let c3 = cs.get(2).map_or(unused, |c| c.bref());
    let bufs = [
        a.bref(),
        bs[0].bref(),
        bs[1].bref(),
        b3,
        cs[0].bref(),
        cs[1].bref(),
        c3,
    ];
    let groups = [
        u32_of(op, "workgroups", n.div_ceil(TILE))?,
        u32_of(op, "workgroups", m.div_ceil(TILE))?,
        1,
    ];
    let constants = [("FACTOR_F16", (format == Format::F16) as u32 as f64)];
    rec.dispatch(&kernels::MATMUL_MULTI, &constants, &params, &bufs, groups)?;
    Ok(true)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulColDotParams {
    m: u32,
    n: u32,
    k: u32,
    accumulate: u32,
    alpha: f32,
    blocks: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ColDotBlocksParams {
    m: u32,
    n: u32,
    blocks: u32,
}

/// `crate::backend::Backend::matmul_col_dot`: one `matmul_col_dot` dispatch where the 64×64
/// tiles run `g · u` and `u` is f32 or f16, else `matmul` then `col_dot_blocks`.
pub fn matmul_col_dot(
    rec: &Recorder,
    [g, u, h]: [&GpuTensor; 3],
    k: &mut GpuTensor,
    partials: &mut GpuTensor,
    (t, q, m, blocks): (usize, usize, usize, usize),
) -> Result<()> {
    let op = "matmul_col_dot";
    u32_of(op, "partials", partials.shape().numel())?;
    if !tiled(false, (t, q, m)) || !matches!(u.format(), Format::F32 | Format::F16) {
        super::linalg::matmul(rec, g, u, k, Matmul::NN, (t, q, m))?;
        return col_dot_blocks(rec, k, h, partials, (t, q, m, blocks));
    }
    let params = MatmulColDotParams {
        m: u32_of(op, "rows", t)?,
        n: u32_of(op, "q", q)?,
        k: u32_of(op, "m", m)?,
        accumulate: 0,
        alpha: 1.0,
        blocks: u32_of(op, "blocks", blocks)?,
    };
    let groups = [
        u32_of(op, "workgroups", q.div_ceil(TILE))?,
        u32_of(op, "workgroups", t.div_ceil(TILE))?,
        1,
    ];
    let bufs = [g.bref(), u.bref(), k.bref(), h.bref(), partials.bref()];
    rec.dispatch(
        kernels::MATMUL_COL_DOT_BY_B.get(u.format()),
        &[],
        &params,
        &bufs,
        groups,
    )
}

/// The second half of [`matmul_col_dot`]'s fallback: dΣ's row-block partials from `k = g u`
/// (already computed) and `h`.
pub fn col_dot_blocks(
    rec: &Recorder,
    k: &GpuTensor,
    h: &GpuTensor,
    partials: &mut GpuTensor,
    (t, q, _, blocks): (usize, usize, usize, usize),
) -> Result<()> {
    let op = "matmul_col_dot";
    let params = ColDotBlocksParams {
        m: u32_of(op, "rows", t)?,
        n: u32_of(op, "q", q)?,
        blocks: u32_of(op, "blocks", blocks)?,
    };
    let groups = [
        u32_of(op, "workgroups", q.div_ceil(TILE))?,
        u32_of(op, "workgroups", t.div_ceil(TILE))?,
        1,
    ];
    let bufs = [k.bref(), h.bref(), partials.bref()];
    rec.dispatch(&kernels::COL_DOT_BLOCKS, &[], &params, &bufs, groups)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SumBlocksParams {
    n: u32,
    blocks: u32,
    accumulate: u32,
}

/// `crate::backend::Backend::sum_blocks`: `out[i] (+)= Σ_r partials[i, r]`, one dispatch.
pub fn sum_blocks(
    rec: &Recorder,
    partials: &GpuTensor,
    out: &mut GpuTensor,
    accumulate: bool,
    (n, blocks): (usize, usize),
) -> Result<()> {
    let op = "sum_blocks";
    u32_of(op, "partials", partials.shape().numel())?;
    let params = SumBlocksParams {
        n: u32_of(op, "n", n)?,
        blocks: u32_of(op, "blocks", blocks)?,
        accumulate: accumulate as u32,
    };
    let bufs = [partials.bref(), out.bref()];
    rec.dispatch(&kernels::SUM_BLOCKS, &[], &params, &bufs, grid_256(op, n)?)
}
