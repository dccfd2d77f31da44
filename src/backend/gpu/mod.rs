//! The GPU backend: wgpu + the WGSL kernels in `shaders/`. Ops record dispatches into one
//! command encoder (see [`recorder`]); `flush` submits them, `read` waits and copies back.
//!
//! Shapes are checked once, in [`Backend`]'s provided ops, before any kernel here records work.
//! The only checks left in this backend are limits of its own, not shapes: indices past 32 bits
//! (`ops::u32_of`), a head dim past the attention shaders' bound (`ops/attention.rs`), a buffer
//! or binding past the device's limits and one tensor bound twice with one side written
//! ([`recorder`]). They return `Error::Param` or `Error::TooLarge`.
pub mod autotune;
pub mod context;
pub mod kernels;
mod ledger;
mod ops;
mod pipelines;
mod probes;
mod profile;
mod readback;
pub mod recorder;
pub mod software;
pub mod tuning;

use super::{
    AdamW, AttentionDims, Backend, CachedAttentionDims, Format, Kernels, Matmul, OwnThreads,
    PairTerm, Shape,
};
use crate::backend::kernels::{compose_matmul_multi, compose_matmul_pair};
use crate::error::Result;
pub use context::{DeviceCaps, GpuContext, LossHandle};
use ledger::DeadList;
pub use ops::dequant::GpuBlocks;
pub use profile::{KernelClock, KernelTime};
pub use readback::KEEP_STAGING_BYTES;
use recorder::Recorder;
pub use recorder::{GpuCacheStats, GpuMemory};
pub use tuning::GpuTuning;

mod split;
mod tensor;
pub use tensor::{GpuIds, GpuTensor};

/// The GPU backend. Single-threaded (one per worker or engine).
pub struct GpuBackend {
    pub(crate) rec: Recorder,
}

impl GpuBackend {
    /// Opens the default adapter; `Error::NoAdapter` lets the caller fall back to the CPU.
    pub async fn new() -> Result<Self> {
        Ok(Self::from_context(GpuContext::new().await?))
    }
    /// As [`GpuBackend::new`] with the largest storage binding capped at `cap` bytes (see
    /// [`GpuContext::with_binding_cap`]).
    pub async fn with_binding_cap(cap: Option<u64>) -> Result<Self> {
        Ok(Self::from_context(GpuContext::with_binding_cap(cap).await?))
    }
    /// A backend on a device with lower limits than its own (see [`GpuContext::with_caps`]).
    pub async fn with_caps(caps: context::DeviceCaps) -> Result<Self> {
        Ok(Self::from_context(GpuContext::with_caps(caps).await?))
    }
    pub fn from_context(ctx: GpuContext) -> Self {
        let tuning = GpuTuning::for_adapter(ctx.software_reason().is_some());
        let rec = Recorder::new(ctx);
        rec.tuning.set(tuning);
        GpuBackend { rec }
    }
    pub fn context(&self) -> &GpuContext {
        &self.rec.ctx
    }
    fn new_tensor(&self, shape: &[usize], contents: Option<&[f32]>) -> Result<GpuTensor> {
        let shape = Shape::new(shape);
        let label = format!("tensor {shape}");
        let (id, buf) = self.rec.buffer(
            &label,
            shape.numel() as u64 * 4,
            contents.map(bytemuck::cast_slice),
        )?;
        Ok(GpuTensor {
            buf,
            id,
            range: None,
            shape,
            format: Format::F32,
            dead: self.rec.dead.clone(),
            parts: Vec::new(),
        })
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        self.rec.ctx.describe()
    }

    fn max_binding_bytes(&self) -> Option<u64> {
        Some(self.rec.ctx.max_binding_bytes())
    }
    fn memory_limit(&self) -> Option<u64> {
        self.rec.ctx.memory_cap()
    }
    fn memory_kind(&self) -> &'static str {
        "GPU"
    }

    fn zeros(&self, shape: &[usize]) -> Result<GpuTensor> {
        // New buffers are zero-initialised by WebGPU and wgpu.
        self.new_tensor(shape, None)
    }
    fn frozen_tensor(&self, format: Format, bytes: &[u8], shape: &[usize]) -> Result<GpuTensor> {
        self.frozen_blocks(format, bytes, shape)
    }
    fn zeros_large(&self, shape: &[usize]) -> Result<GpuTensor> {
        self.zeros_blocks(shape)
    }
    fn reshape(&self, t: &mut GpuTensor, dims: &[usize]) -> Result<()> {
        split::refuse_blocks("reshape", &[&*t])?;
        let shape = Shape::new(dims);
        crate::backend::checks::data_len("reshape", shape.numel(), t.shape.numel())?;
        t.shape = shape;
        Ok(())
    }
    fn logit_chunk_elements(&self) -> usize {
        // Within one binding: the logits of a chunk are one tensor.
        let binding = usize::try_from(self.rec.ctx.max_binding_bytes() / 4).unwrap_or(usize::MAX);
        (1 << 22).min(binding)
    }
    fn ids(&self, data: &[u32]) -> Result<GpuIds> {
        let (id, buf) = self.rec.buffer(
            "ids",
            data.len() as u64 * 4,
            Some(bytemuck::cast_slice(data)),
        )?;
        Ok(GpuIds {
            buf,
            id,
            len: data.len(),
            dead: self.rec.dead.clone(),
        })
    }
    fn flush(&self) -> Result<()> {
        self.rec.flush()
    }
}

/// The GPU kernels: each records its dispatches (see `ops/`) with the dimensions from the shape
/// checks of [`Backend`]'s ops.
/// One piece of work at a time, where it is called: the queue orders the GPU's work.
impl OwnThreads for GpuBackend {}

impl Kernels for GpuBackend {
    type Tensor = GpuTensor;
    type Ids = GpuIds;

    fn tensor_kernel(&self, data: &[f32], shape: &[usize]) -> Result<GpuTensor> {
        self.new_tensor(shape, Some(data))
    }
    fn packed_tensor_kernel(
        &self,
        format: Format,
        bytes: &[u8],
        shape: &[usize],
    ) -> Result<GpuTensor> {
        let shape = Shape::new(shape);
        let label = format!("{format} tensor {shape}");
        // The buffer is rounded up to whole u32 words; a last odd half stays zero.
        let mut padded;
        let contents = if bytes.len().is_multiple_of(4) {
            bytes
        } else {
            padded = Vec::with_capacity(bytes.len().next_multiple_of(4));
            padded.extend_from_slice(bytes);
            padded.resize(bytes.len().next_multiple_of(4), 0);
            &padded
        };
        let (id, buf) = self
            .rec
            .buffer(&label, contents.len() as u64, Some(contents))?;
        Ok(GpuTensor {
            buf,
            id,
            range: None,
            shape,
            format,
            dead: self.rec.dead.clone(),
            parts: Vec::new(),
        })
    }
    async fn read_kernel(&self, t: &GpuTensor) -> Result<Vec<f32>> {
        if t.is_split() {
            return self.read_blocks(t).await;
        }
        let bytes = self
            .rec
            .read_bytes(&t.buf, t.offset(), t.shape.numel() as u64 * 4)
            .await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
    fn fill_kernel(&self, t: &mut GpuTensor, value: f32) -> Result<()> {
        for block in t.parts.iter_mut() {
            ops::elementwise::fill(&self.rec, block, value)?;
        }
        if t.is_split() {
            return Ok(());
        }
        ops::elementwise::fill(&self.rec, t, value)
    }
    fn write_kernel(&self, t: &mut GpuTensor, data: &[f32]) -> Result<()> {
        if t.is_split() {
            return self.write_blocks(t, data);
        }
        self.rec.flush()?;
        self.rec
            .ctx
            .queue
            .write_buffer(&t.buf, t.offset(), bytemuck::cast_slice(data));
        Ok(())
    }
    fn write_ids_kernel(&self, ids: &mut GpuIds, data: &[u32]) -> Result<()> {
        self.rec.flush()?;
        self.rec
            .ctx
            .queue
            .write_buffer(&ids.buf, 0, bytemuck::cast_slice(data));
        Ok(())
    }

    fn copy_rows_kernel(
        &self,
        src: &GpuTensor,
        src_row: usize,
        dst: &mut GpuTensor,
        dst_row: usize,
        rows: usize,
        width: usize,
    ) -> Result<()> {
        split::refuse_blocks("copy_rows", &[src, &*dst])?;
        let w = width as u64 * 4;
        self.rec.with_encoder(|enc| {
            enc.copy_buffer_to_buffer(
                &src.buf,
                src.offset() + src_row as u64 * w,
                &dst.buf,
                dst.offset() + dst_row as u64 * w,
                rows as u64 * w,
            )
        });
        Ok(())
    }
    fn copy_cols_kernel(
        &self,
        src: &GpuTensor,
        src_col: usize,
        dst: &mut GpuTensor,
        dst_col: usize,
        width: usize,
        dims: (usize, usize, usize),
    ) -> Result<()> {
        ops::elementwise::copy_cols(&self.rec, src, src_col, dst, dst_col, width, dims)
    }
    fn add_assign_kernel(&self, x: &mut GpuTensor, y: &GpuTensor, n: usize) -> Result<()> {
        ops::elementwise::add_assign(&self.rec, x, y, n)
    }
    fn add_bias_kernel(
        &self,
        y: &mut GpuTensor,
        b: &GpuTensor,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::elementwise::add_bias(&self.rec, y, b, dims)
    }
    fn mul_cols_kernel(
        &self,
        src: &GpuTensor,
        s: &GpuTensor,
        s_add: Option<&GpuTensor>,
        dst: &mut GpuTensor,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::elementwise::mul_cols(&self.rec, src, s, s_add, dst, dims)
    }

    fn matmul_kernel(
        &self,
        a: &GpuTensor,
        b: &GpuTensor,
        c: &mut GpuTensor,
        spec: Matmul,
        dims: (usize, usize, usize),
    ) -> Result<()> {
        if a.is_split() || b.is_split() || c.is_split() {
            return self.matmul_blocks(a, b, c, spec, dims);
        }
        ops::linalg::matmul(&self.rec, a, b, c, spec, dims)
    }
    fn group_kernel(&self, tensors: &mut [&mut GpuTensor]) -> Result<Option<GpuTensor>> {
        self.group_tensors(tensors)
    }
    fn matmul_multi_kernel(
        &self,
        a: &GpuTensor,
        bs: &[&GpuTensor],
        cs: &mut [&mut GpuTensor],
        dims: (usize, usize),
    ) -> Result<()> {
        let whole = !(a.is_split() || bs.iter().any(|b| b.is_split()));
        if whole && ops::svd::matmul_multi(&self.rec, a, bs, cs, dims)? {
            return Ok(());
        }
        compose_matmul_multi(self, a, bs, cs, dims)
    }
    fn matmul_pair_kernel(
        &self,
        a: &GpuTensor,
        b: &GpuTensor,
        second: PairTerm<'_, GpuTensor>,
        c: &mut GpuTensor,
        spec: Matmul,
        scratch: &mut GpuTensor,
        dims: (usize, usize, usize, usize),
    ) -> Result<()> {
        let blocked = [a, b, second.a, second.b, c].iter().any(|t| t.is_split());
        let whole = !blocked;
        if whole && ops::svd::matmul_pair(&self.rec, a, b, second, c, spec, dims)? {
            return Ok(());
        }
        compose_matmul_pair(self, a, b, second, c, spec, scratch, dims)
    }
    fn col_dot_kernel(
        &self,
        a: &GpuTensor,
        b: &GpuTensor,
        row_scale: Option<&GpuTensor>,
        out: &mut GpuTensor,
        accumulate: bool,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::linalg::col_dot(&self.rec, a, b, row_scale, out, accumulate, dims)
    }
    fn matmul_col_dot_kernel(
        &self,
        g: &GpuTensor,
        u: &GpuTensor,
        k: &mut GpuTensor,
        h: &GpuTensor,
        partials: &mut GpuTensor,
        dims: (usize, usize, usize, usize),
    ) -> Result<()> {
        if u.is_split() {
            // U in row blocks (a large vocabulary's head): the product through the blocks,
            // then the column dots.
            self.matmul(g, u, k, Matmul::NN)?;
            return ops::svd::col_dot_blocks(&self.rec, k, h, partials, dims);
        }
        ops::svd::matmul_col_dot(&self.rec, [g, u, h], k, partials, dims)
    }
    fn sum_blocks_kernel(
        &self,
        partials: &GpuTensor,
        out: &mut GpuTensor,
        accumulate: bool,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::svd::sum_blocks(&self.rec, partials, out, accumulate, dims)
    }
    fn svd_merge_kernel(
        &self,
        w_res: &GpuTensor,
        u: &GpuTensor,
        sigma: &GpuTensor,
        v: &GpuTensor,
        out: &mut GpuTensor,
        dims: (usize, usize, usize),
    ) -> Result<()> {
        if [w_res, u, v, out].iter().any(|t| t.is_split()) {
            return self.svd_merge_blocks(w_res, u, sigma, v, out, dims);
        }
        ops::linalg::svd_merge(&self.rec, w_res, u, sigma, v, out, dims)
    }

    fn embedding_kernel(
        &self,
        table: &GpuTensor,
        ids: &GpuIds,
        out: &mut GpuTensor,
        dims: (usize, usize, usize),
    ) -> Result<()> {
        if table.is_split() || out.is_split() {
            return self.embedding_blocks(table, ids, out, dims.2);
        }
        let range = ops::elementwise::EmbeddingRange::WHOLE;
        ops::elementwise::embedding(&self.rec, table, ids, out, dims, range)
    }
    fn rmsnorm_forward_kernel(
        &self,
        x: &GpuTensor,
        w: &GpuTensor,
        eps: f32,
        y: &mut GpuTensor,
        rstd: &mut GpuTensor,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::norm::rmsnorm_forward(&self.rec, x, w, eps, y, rstd, dims)
    }
    fn rmsnorm_backward_kernel(
        &self,
        x: &GpuTensor,
        w: &GpuTensor,
        rstd: &GpuTensor,
        dy: &GpuTensor,
        dx: &mut GpuTensor,
        accumulate_dx: bool,
        dw: Option<&mut GpuTensor>,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::norm::rmsnorm_backward(&self.rec, x, w, rstd, dy, dx, accumulate_dx, dw, dims)
    }
    fn rope_qk_kernel(
        &self,
        q: &mut GpuTensor,
        k: &mut GpuTensor,
        positions: &GpuIds,
        cos: &GpuTensor,
        sin: &GpuTensor,
        heads: (usize, usize),
        head_dim: usize,
        inverse: bool,
        dims: (usize, usize),
    ) -> Result<()> {
        let tables = (positions, cos, sin);
        ops::rope::rope_qk(&self.rec, q, k, tables, heads, head_dim, inverse, dims)
    }
    fn rope_kernel(
        &self,
        x: &mut GpuTensor,
        positions: &GpuIds,
        cos: &GpuTensor,
        sin: &GpuTensor,
        n_heads: usize,
        head_dim: usize,
        inverse: bool,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::rope::rope(
            &self.rec, x, positions, cos, sin, n_heads, head_dim, inverse, dims,
        )
    }
    fn attention_forward_kernel(
        &self,
        q: &GpuTensor,
        k: &GpuTensor,
        v: &GpuTensor,
        window_start: &GpuIds,
        dims: AttentionDims,
        out: &mut GpuTensor,
        lse: &mut GpuTensor,
    ) -> Result<()> {
        ops::attention::forward(&self.rec, q, k, v, window_start, &dims, out, lse)
    }
    fn attention_backward_kernel(
        &self,
        q: &GpuTensor,
        k: &GpuTensor,
        v: &GpuTensor,
        window_start: &GpuIds,
        dims: AttentionDims,
        out: &GpuTensor,
        lse: &GpuTensor,
        dout: &GpuTensor,
        dq: &mut GpuTensor,
        dk: &mut GpuTensor,
        dv: &mut GpuTensor,
    ) -> Result<()> {
        ops::attention::backward(
            &self.rec,
            q,
            k,
            v,
            window_start,
            &dims,
            out,
            lse,
            dout,
            dq,
            dk,
            dv,
        )
    }
    fn attention_cached_kernel(
        &self,
        q: &GpuTensor,
        k_cache: &GpuTensor,
        v_cache: &GpuTensor,
        dims: CachedAttentionDims,
        out: &mut GpuTensor,
    ) -> Result<()> {
        ops::attention_cached::cached(&self.rec, q, k_cache, v_cache, &dims, out)
    }
    fn swiglu_forward_kernel(
        &self,
        gate: &GpuTensor,
        up: &GpuTensor,
        out: &mut GpuTensor,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::elementwise::swiglu_forward(&self.rec, gate, up, out, dims)
    }
    fn geglu_forward_kernel(
        &self,
        gate: &GpuTensor,
        up: &GpuTensor,
        out: &mut GpuTensor,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::elementwise::gated(&self.rec, &kernels::GEGLU_FORWARD, gate, up, out, dims)
    }
    fn geglu_backward_kernel(
        &self,
        gate: &GpuTensor,
        up: &GpuTensor,
        dout: &GpuTensor,
        dgate: &mut GpuTensor,
        dup: &mut GpuTensor,
        dims: (usize, usize),
    ) -> Result<()> {
        let k = &kernels::GEGLU_BACKWARD;
        ops::elementwise::gated_backward(&self.rec, k, gate, up, dout, dgate, dup, dims)
    }
    fn swiglu_backward_kernel(
        &self,
        gate: &GpuTensor,
        up: &GpuTensor,
        dout: &GpuTensor,
        dgate: &mut GpuTensor,
        dup: &mut GpuTensor,
        dims: (usize, usize),
    ) -> Result<()> {
        ops::elementwise::swiglu_backward(&self.rec, gate, up, dout, dgate, dup, dims)
    }
    fn cross_entropy_kernel(
        &self,
        logits: &mut GpuTensor,
        targets: &GpuIds,
        weights: &GpuTensor,
        row_offset: usize,
        scale: f32,
        losses: &mut GpuTensor,
        dims: (usize, usize, usize),
    ) -> Result<()> {
        ops::loss::cross_entropy(
            &self.rec, logits, targets, weights, row_offset, scale, losses, dims,
        )
    }
    fn sum_kernel(&self, x: &GpuTensor, out: &mut GpuTensor) -> Result<()> {
        ops::loss::sum(&self.rec, x, out)
    }
    fn global_norm_kernel(&self, xs: &[&GpuTensor], out: &mut GpuTensor) -> Result<()> {
        ops::optim::global_norm(&self.rec, xs, out)
    }
    fn adamw_kernel(
        &self,
        param: &mut GpuTensor,
        grad: &GpuTensor,
        m: &mut GpuTensor,
        v: &mut GpuTensor,
        grad_norm: &GpuTensor,
        hp: AdamW,
        n: usize,
    ) -> Result<()> {
        ops::optim::adamw(&self.rec, param, grad, m, v, grad_norm, &hp, n)
    }
}
