//! GPU encoders for causal grouped-query attention, forward and backward.
//!
//! Forward: one workgroup per tile of (row, query head) pairs that share a kv head walks the keys
//! in blocks with an online softmax. Backward (as in FlashAttention, recomputing the
//! probabilities from the saved lse): `attention_backward_delta` packs `(lse, Δ = Σ dout·out)` per
//! (row, head) into a scratch buffer; `attention_backward_dq` (tiles of (row, head) pairs, like
//! the forward) writes dq; `attention_backward_dkv` (tiles of key rows of one kv head) writes dk
//! and dv. Every output element is owned by one workgroup: no atomics, no zeroing.
use super::{grid_256, u32_of};
use crate::backend::AttentionDims;
use crate::backend::gpu::recorder::{BufRef, Recorder, grid};
use crate::backend::gpu::{GpuIds, GpuTensor, kernels};
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};

/// The largest head dim the shaders support (64 invocations × 4 dims each).
const MAX_HEAD_DIM: usize = 256;
/// Invocations per workgroup of the forward, dq and dk/dv shaders (`WG` there); each owns the
/// head dims `lid + 64·s`, `s < SLOTS`.
const WG: usize = 64;
/// `BQ · SLOTS` bound of the forward and dq shaders (their register and workgroup arrays).
const PAIR_TILE_SLOTS: usize = 16;
/// `BK · SLOTS` bound of the dk/dv shader.
const KEY_TILE_SLOTS: usize = 12;

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

/// Geometry after range checks: the uniform, the tile sizes and the dispatch grids.
struct Plan {
    params: AttentionParams,
    slots: usize,
    /// (row, head) pairs per forward / dq workgroup.
    pair_tile: usize,
    /// Key rows per dk/dv workgroup.
    key_tile: usize,
}

impl Plan {
    /// `None` when there are no rows (nothing to do).
    fn new(op: &'static str, dims: &AttentionDims) -> Result<Option<Plan>> {
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
        if rows == 0 {
            return Ok(None);
        }
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
        let slots = dims.head_dim.div_ceil(WG);
        Ok(Some(Plan {
            params,
            slots,
            pair_tile: PAIR_TILE_SLOTS / slots,
            key_tile: KEY_TILE_SLOTS / slots,
        }))
    }

    /// Workgroups of the forward and dq shaders: per sequence and kv head, the `seq · group`
    /// (row, head) pairs in tiles.
    fn pair_grid(&self, op: &'static str, dims: &AttentionDims) -> Result<[u32; 3]> {
        let tiles = (dims.seq * (dims.n_heads / dims.n_kv_heads)).div_ceil(self.pair_tile);
        Ok(grid(u32_of(
            op,
            "workgroups",
            dims.batch * dims.n_kv_heads * tiles,
        )?))
    }

    /// Workgroups of the dk/dv shader: per sequence and kv head, the key rows in tiles.
    fn key_grid(&self, op: &'static str, dims: &AttentionDims) -> Result<[u32; 3]> {
        let tiles = dims.seq.div_ceil(self.key_tile);
        Ok(grid(u32_of(
            op,
            "workgroups",
            dims.batch * dims.n_kv_heads * tiles,
        )?))
    }

    fn pair_constants(&self) -> [(&'static str, f64); 2] {
        [("SLOTS", self.slots as f64), ("BQ", self.pair_tile as f64)]
    }

    fn key_constants(&self) -> [(&'static str, f64); 2] {
        [("SLOTS", self.slots as f64), ("BK", self.key_tile as f64)]
    }
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
    let Some(plan) = Plan::new(op, dims)? else {
        return Ok(());
    };
    let bufs = [
        q.bref(),
        k.bref(),
        v.bref(),
        window_start.bref(),
        out.bref(),
        lse.bref(),
    ];
    let kernel = &kernels::ATTENTION_FORWARD;
    rec.dispatch(
        kernel,
        &plan.pair_constants(),
        &plan.params,
        &bufs,
        plan.pair_grid(op, dims)?,
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
    let Some(plan) = Plan::new(op, dims)? else {
        return Ok(());
    };
    let row_heads = dims.batch * dims.seq * dims.n_heads;
    let (sid, sbuf) = rec.scratch("attention_stats", (row_heads * 2 * 4) as u64)?;
    let stats = BufRef::whole(sid, &sbuf);
    let bufs = [out.bref(), dout.bref(), lse.bref(), stats];
    rec.dispatch(
        &kernels::ATTENTION_BACKWARD_DELTA,
        &[],
        &plan.params,
        &bufs,
        grid_256(op, row_heads)?,
    )?;
    let bufs = [
        q.bref(),
        k.bref(),
        v.bref(),
        window_start.bref(),
        stats,
        dout.bref(),
        dq.bref(),
    ];
    let kernel = &kernels::ATTENTION_BACKWARD_DQ;
    rec.dispatch(
        kernel,
        &plan.pair_constants(),
        &plan.params,
        &bufs,
        plan.pair_grid(op, dims)?,
    )?;
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
    let kernel = &kernels::ATTENTION_BACKWARD_DKV;
    rec.dispatch(
        kernel,
        &plan.key_constants(),
        &plan.params,
        &bufs,
        plan.key_grid(op, dims)?,
    )
}
