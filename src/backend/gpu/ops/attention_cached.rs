//! GPU encoder for attention against a key/value cache (generation): one workgroup per
//! (query row, head); the scores go through a backend scratch buffer `[rows·H, q_offset + rows]`.
use super::u32_of;
use crate::backend::CachedAttentionDims;
use crate::backend::gpu::recorder::{BufRef, Recorder, grid};
use crate::backend::gpu::{GpuTensor, kernels};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    q_offset: u32,
    heads: u32,
    group: u32,
    head_dim: u32,
    kv_width: u32,
    window: u32,
    scale: f32,
}

pub fn cached(
    rec: &Recorder,
    q: &GpuTensor,
    k_cache: &GpuTensor,
    v_cache: &GpuTensor,
    dims: &CachedAttentionDims,
    out: &mut GpuTensor,
) -> Result<()> {
    let op = "attention_cached";
    if dims.rows == 0 {
        return Ok(());
    }
    let pairs = dims.rows * dims.n_heads;
    let span = dims.q_offset + dims.rows;
    let score_count = u32_of(op, "score entries", pairs * span)?;
    u32_of(op, "cache elements", span * dims.n_kv_heads * dims.head_dim)?;
    u32_of(op, "q elements", pairs * dims.head_dim)?;
    let params = Params {
        rows: u32_of(op, "rows", dims.rows)?,
        q_offset: u32_of(op, "q_offset", dims.q_offset)?,
        heads: u32_of(op, "n_heads", dims.n_heads)?,
        group: u32_of(op, "group", dims.n_heads / dims.n_kv_heads)?,
        head_dim: u32_of(op, "head_dim", dims.head_dim)?,
        kv_width: u32_of(op, "kv width", dims.n_kv_heads * dims.head_dim)?,
        window: u32_of(op, "window", dims.window)?,
        scale: dims.scale,
    };
    let (sid, sbuf) = rec.scratch("attention_cached_scores", score_count as u64 * 4)?;
    let scores = BufRef::whole(sid, &sbuf);
    let bufs = [q.bref(), k_cache.bref(), v_cache.bref(), scores, out.bref()];
    rec.dispatch(
        &kernels::ATTENTION_CACHED,
        &[],
        &params,
        &bufs,
        grid(u32_of(op, "workgroups", pairs)?),
    )
}
