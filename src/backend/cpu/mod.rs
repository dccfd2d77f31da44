//! The CPU backend: a straightforward f32 reference for every op (the oracle in tests) and the
//! fallback where no GPU adapter exists. The math lives in per-op modules as functions generic
//! over the float type, so tests can also run them in f64 for finite-difference checks.
//! The shape checks run in [`Backend`]'s provided ops before any kernel here.
pub mod attention;
pub mod blas;
pub mod elementwise;
pub mod linalg;
pub mod loss;
pub mod norm;
pub mod optim;
pub mod packed;
pub mod parallel;
mod pool_work;
pub mod real;
pub mod rope;
pub mod simd128;
pub mod vector;

use super::{
    AdamW, AttentionDims, Backend, CachedAttentionDims, Format, IdsInfo, Kernels, Matmul,
    OwnThreads, Shape, TensorInfo,
};
use crate::error::Result;
pub use real::Real;

/// The most memory a wasm32 instance can address.
pub const WASM32_MEMORY: u64 = 4 << 30;

/// A vector with room for `shape`'s elements holding `len` zeros; running out of host memory is
/// an error naming the tensor rather than an abort (which would end the wasm instance).
fn zeroed(shape: &Shape, len: usize) -> Result<Vec<f32>> {
    let n = shape.numel();
    if len == n && !cfg!(target_arch = "wasm32") {
        // Natively a zeroed allocation maps fresh pages lazily (no writes, no resident memory
        // until used); the system's overcommit decides failures there.
        return Ok(vec![0.0; n]);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| crate::error::Error::OutOfMemory {
            device: "host",
            what: format!("tensor {shape}"),
            bytes: Some(n as u64 * 4),
            held: host_memory_in_use(),
            limit: cfg!(target_arch = "wasm32").then_some(WASM32_MEMORY),
        })?;
    v.resize(len, 0.0);
    Ok(v)
}

/// Bytes of wasm memory grown so far (0 natively, where the system decides).
fn host_memory_in_use() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) as u64 * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    0
}

/// A host tensor: f32 elements in `data`, or (a frozen weight) packed bytes in `packed` with
/// `data` empty.
#[derive(Clone, Debug)]
pub struct CpuTensor {
    pub data: Vec<f32>,
    pub shape: Shape,
    pub packed: Option<packed::Packed>,
}

impl TensorInfo for CpuTensor {
    fn shape(&self) -> &Shape {
        &self.shape
    }
    fn set_shape(&mut self, shape: Shape) {
        self.shape = shape;
    }
    fn format(&self) -> Format {
        self.packed.as_ref().map_or(Format::F32, |p| p.format)
    }
}

/// A host u32 vector.
#[derive(Clone, Debug)]
pub struct CpuIds(pub Vec<u32>);

impl IdsInfo for CpuIds {
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The CPU backend (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    /// 32 Mi (128 MiB): one chunk per batch of common sizes, so the head's weights are packed
    /// for the product once per pass rather than once per few dozen rows.
    fn logit_chunk_elements(&self) -> usize {
        1 << 25
    }

    fn memory_limit(&self) -> Option<u64> {
        // wasm32 addresses at most 4 GiB, shared with everything else the page holds.
        cfg!(target_arch = "wasm32").then_some(WASM32_MEMORY)
    }

    fn zeros(&self, shape: &[usize]) -> Result<CpuTensor> {
        let shape = Shape::new(shape);
        let n = shape.numel();
        Ok(CpuTensor {
            data: zeroed(&shape, n)?,
            shape,
            packed: None,
        })
    }
    fn ids(&self, data: &[u32]) -> Result<CpuIds> {
        Ok(CpuIds(data.to_vec()))
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// The CPU kernels: the per-op modules' math on the tensors' host vectors, with the dimensions
/// from the shape checks of [`Backend`]'s ops.
/// Pieces of work on rayon's pool, several side by side.
impl OwnThreads for CpuBackend {
    /// On a thread of rayon's pool (see `pool_work.rs`).
    async unsafe fn on_own_threads<F: std::future::Future>(&self, work: F) -> F::Output {
        // Safety: the caller's, as for the trait method.
        unsafe { pool_work::on_pool(work) }.await
    }

    fn concurrent_works(&self) -> usize {
        rayon::current_num_threads()
    }

    /// Side by side on rayon's pool (see `pool_work.rs`).
    async unsafe fn on_own_threads_each<F: std::future::Future>(
        &self,
        works: Vec<F>,
    ) -> Vec<F::Output> {
        // Safety: the caller's, as for the trait method.
        unsafe { pool_work::on_pool_each(works) }.await
    }
}

impl Kernels for CpuBackend {
    type Tensor = CpuTensor;
    type Ids = CpuIds;

    fn tensor_kernel(&self, data: &[f32], shape: &[usize]) -> Result<CpuTensor> {
        let shape = Shape::new(shape);
        let mut v = zeroed(&shape, 0)?;
        v.extend_from_slice(data);
        Ok(CpuTensor {
            data: v,
            shape,
            packed: None,
        })
    }
    fn packed_tensor_kernel(
        &self,
        format: Format,
        bytes: &[u8],
        shape: &[usize],
    ) -> Result<CpuTensor> {
        let shape = Shape::new(shape);
        let mut v = Vec::new();
        v.try_reserve_exact(bytes.len())
            .map_err(|_| crate::error::Error::OutOfMemory {
                device: "host",
                what: format!("{format} tensor {shape}"),
                bytes: Some(bytes.len() as u64),
                held: host_memory_in_use(),
                limit: cfg!(target_arch = "wasm32").then_some(WASM32_MEMORY),
            })?;
        v.extend_from_slice(bytes);
        Ok(CpuTensor {
            data: Vec::new(),
            shape,
            packed: Some(packed::Packed { format, bytes: v }),
        })
    }
    async fn read_kernel(&self, t: &CpuTensor) -> Result<Vec<f32>> {
        Ok(t.data.clone())
    }
    fn fill_kernel(&self, t: &mut CpuTensor, value: f32) -> Result<()> {
        t.data.fill(value);
        Ok(())
    }
    fn write_kernel(&self, t: &mut CpuTensor, data: &[f32]) -> Result<()> {
        t.data.copy_from_slice(data);
        Ok(())
    }
    fn write_ids_kernel(&self, ids: &mut CpuIds, data: &[u32]) -> Result<()> {
        ids.0.copy_from_slice(data);
        Ok(())
    }

    fn copy_rows_kernel(
        &self,
        src: &CpuTensor,
        src_row: usize,
        dst: &mut CpuTensor,
        dst_row: usize,
        rows: usize,
        w: usize,
    ) -> Result<()> {
        dst.data[dst_row * w..(dst_row + rows) * w]
            .copy_from_slice(&src.data[src_row * w..(src_row + rows) * w]);
        Ok(())
    }
    fn copy_cols_kernel(
        &self,
        src: &CpuTensor,
        src_col: usize,
        dst: &mut CpuTensor,
        dst_col: usize,
        width: usize,
        (rows, cs, cd): (usize, usize, usize),
    ) -> Result<()> {
        for t in 0..rows {
            dst.data[t * cd + dst_col..t * cd + dst_col + width]
                .copy_from_slice(&src.data[t * cs + src_col..t * cs + src_col + width]);
        }
        Ok(())
    }
    fn add_assign_kernel(&self, x: &mut CpuTensor, y: &CpuTensor, _n: usize) -> Result<()> {
        elementwise::add_assign(&mut x.data, &y.data);
        Ok(())
    }
    fn add_bias_kernel(
        &self,
        y: &mut CpuTensor,
        b: &CpuTensor,
        (_, cols): (usize, usize),
    ) -> Result<()> {
        elementwise::add_bias(&mut y.data, &b.data, cols);
        Ok(())
    }
    fn mul_cols_kernel(
        &self,
        src: &CpuTensor,
        s: &CpuTensor,
        s_add: Option<&CpuTensor>,
        dst: &mut CpuTensor,
        (_, cols): (usize, usize),
    ) -> Result<()> {
        match s_add {
            None => elementwise::mul_cols(&src.data, &s.data, cols, &mut dst.data),
            Some(a) => {
                let sum: Vec<f32> = s.data.iter().zip(&a.data).map(|(x, y)| x + y).collect();
                elementwise::mul_cols(&src.data, &sum, cols, &mut dst.data);
            }
        }
        Ok(())
    }

    fn matmul_kernel(
        &self,
        a: &CpuTensor,
        b: &CpuTensor,
        c: &mut CpuTensor,
        spec: Matmul,
        (m, n, k): (usize, usize, usize),
    ) -> Result<()> {
        match &b.packed {
            Some(p) => packed::matmul(&a.data, p, &mut c.data, m, n, k, spec),
            None => linalg::matmul(&a.data, &b.data, &mut c.data, m, n, k, spec),
        }
        Ok(())
    }
    fn col_dot_kernel(
        &self,
        a: &CpuTensor,
        b: &CpuTensor,
        row_scale: Option<&CpuTensor>,
        out: &mut CpuTensor,
        accumulate: bool,
        (rows, cols): (usize, usize),
    ) -> Result<()> {
        linalg::col_dot(
            &a.data,
            &b.data,
            row_scale.map(|s| s.data.as_slice()),
            rows,
            cols,
            &mut out.data,
            accumulate,
        );
        Ok(())
    }
    fn matmul_col_dot_kernel(
        &self,
        g: &CpuTensor,
        u: &CpuTensor,
        k: &mut CpuTensor,
        h: &CpuTensor,
        partials: &mut CpuTensor,
        (t, q, m, blocks): (usize, usize, usize, usize),
    ) -> Result<()> {
        self.matmul_kernel(g, u, k, Matmul::NN, (t, q, m))?;
        // The whole column dot goes to block 0 (the sum over blocks is what counts).
        let mut dots = vec![0.0; q];
        linalg::col_dot(&h.data, &k.data, None, t, q, &mut dots, false);
        for (j, d) in dots.into_iter().enumerate() {
            partials.data[j * blocks] += d;
        }
        Ok(())
    }
    fn sum_blocks_kernel(
        &self,
        partials: &CpuTensor,
        out: &mut CpuTensor,
        accumulate: bool,
        (n, blocks): (usize, usize),
    ) -> Result<()> {
        for (i, o) in out.data[..n].iter_mut().enumerate() {
            let sum: f32 = partials.data[i * blocks..(i + 1) * blocks].iter().sum();
            *o = if accumulate { *o + sum } else { sum };
        }
        Ok(())
    }
    fn svd_merge_kernel(
        &self,
        w_res: &CpuTensor,
        u: &CpuTensor,
        sigma: &CpuTensor,
        v: &CpuTensor,
        out: &mut CpuTensor,
        (m, n, q): (usize, usize, usize),
    ) -> Result<()> {
        linalg::svd_merge(
            &w_res.data,
            &u.data,
            &sigma.data,
            &v.data,
            m,
            n,
            q,
            &mut out.data,
        );
        Ok(())
    }

    fn embedding_kernel(
        &self,
        table: &CpuTensor,
        ids: &CpuIds,
        out: &mut CpuTensor,
        (_, vocab, cols): (usize, usize, usize),
    ) -> Result<()> {
        match &table.packed {
            Some(p) => packed::embedding(p, vocab, cols, &ids.0, &mut out.data),
            None => elementwise::embedding(&table.data, vocab, cols, &ids.0, &mut out.data),
        }
        Ok(())
    }
    fn rmsnorm_forward_kernel(
        &self,
        x: &CpuTensor,
        w: &CpuTensor,
        eps: f32,
        y: &mut CpuTensor,
        rstd: &mut CpuTensor,
        (rows, cols): (usize, usize),
    ) -> Result<()> {
        norm::rmsnorm_forward(
            &x.data,
            &w.data,
            rows,
            cols,
            eps,
            &mut y.data,
            &mut rstd.data,
        );
        Ok(())
    }
    fn rmsnorm_backward_kernel(
        &self,
        x: &CpuTensor,
        w: &CpuTensor,
        rstd: &CpuTensor,
        dy: &CpuTensor,
        dx: &mut CpuTensor,
        accumulate_dx: bool,
        dw: Option<&mut CpuTensor>,
        (rows, cols): (usize, usize),
    ) -> Result<()> {
        norm::rmsnorm_backward(
            &x.data,
            &w.data,
            &rstd.data,
            &dy.data,
            rows,
            cols,
            &mut dx.data,
            accumulate_dx,
            dw.map(|t| t.data.as_mut_slice()),
        );
        Ok(())
    }
    fn rope_kernel(
        &self,
        x: &mut CpuTensor,
        positions: &CpuIds,
        cos: &CpuTensor,
        sin: &CpuTensor,
        n_heads: usize,
        head_dim: usize,
        inverse: bool,
        (_, table_rows): (usize, usize),
    ) -> Result<()> {
        rope::rope(
            &mut x.data,
            &positions.0,
            &cos.data,
            &sin.data,
            table_rows,
            n_heads,
            head_dim,
            inverse,
        );
        Ok(())
    }
    fn attention_forward_kernel(
        &self,
        q: &CpuTensor,
        k: &CpuTensor,
        v: &CpuTensor,
        window_start: &CpuIds,
        dims: AttentionDims,
        out: &mut CpuTensor,
        lse: &mut CpuTensor,
    ) -> Result<()> {
        attention::forward(
            &q.data,
            &k.data,
            &v.data,
            &window_start.0,
            &dims,
            &mut out.data,
            &mut lse.data,
        );
        Ok(())
    }
    fn attention_backward_kernel(
        &self,
        q: &CpuTensor,
        k: &CpuTensor,
        v: &CpuTensor,
        window_start: &CpuIds,
        dims: AttentionDims,
        out: &CpuTensor,
        lse: &CpuTensor,
        dout: &CpuTensor,
        dq: &mut CpuTensor,
        dk: &mut CpuTensor,
        dv: &mut CpuTensor,
    ) -> Result<()> {
        attention::backward(
            &q.data,
            &k.data,
            &v.data,
            &window_start.0,
            &dims,
            &out.data,
            &lse.data,
            &dout.data,
            &mut dq.data,
            &mut dk.data,
            &mut dv.data,
        );
        Ok(())
    }
    fn attention_cached_kernel(
        &self,
        q: &CpuTensor,
        k_cache: &CpuTensor,
        v_cache: &CpuTensor,
        dims: CachedAttentionDims,
        out: &mut CpuTensor,
    ) -> Result<()> {
        attention::cached(&q.data, &k_cache.data, &v_cache.data, &dims, &mut out.data);
        Ok(())
    }
    fn swiglu_forward_kernel(
        &self,
        gate: &CpuTensor,
        up: &CpuTensor,
        out: &mut CpuTensor,
        _dims: (usize, usize),
    ) -> Result<()> {
        elementwise::swiglu_forward(&gate.data, &up.data, &mut out.data);
        Ok(())
    }
    fn geglu_forward_kernel(
        &self,
        gate: &CpuTensor,
        up: &CpuTensor,
        out: &mut CpuTensor,
        _dims: (usize, usize),
    ) -> Result<()> {
        elementwise::geglu_forward(&gate.data, &up.data, &mut out.data);
        Ok(())
    }
    fn geglu_backward_kernel(
        &self,
        gate: &CpuTensor,
        up: &CpuTensor,
        dout: &CpuTensor,
        dgate: &mut CpuTensor,
        dup: &mut CpuTensor,
        _dims: (usize, usize),
    ) -> Result<()> {
        elementwise::geglu_backward(
            &gate.data,
            &up.data,
            &dout.data,
            &mut dgate.data,
            &mut dup.data,
        );
        Ok(())
    }
    fn swiglu_backward_kernel(
        &self,
        gate: &CpuTensor,
        up: &CpuTensor,
        dout: &CpuTensor,
        dgate: &mut CpuTensor,
        dup: &mut CpuTensor,
        _dims: (usize, usize),
    ) -> Result<()> {
        elementwise::swiglu_backward(
            &gate.data,
            &up.data,
            &dout.data,
            &mut dgate.data,
            &mut dup.data,
        );
        Ok(())
    }
    fn cross_entropy_kernel(
        &self,
        logits: &mut CpuTensor,
        targets: &CpuIds,
        weights: &CpuTensor,
        row_offset: usize,
        scale: f32,
        losses: &mut CpuTensor,
        (n, vocab, _): (usize, usize, usize),
    ) -> Result<()> {
        let rows = row_offset..row_offset + n;
        loss::cross_entropy(
            &mut logits.data,
            vocab,
            &targets.0[rows.clone()],
            &weights.data[rows.clone()],
            scale,
            &mut losses.data[rows],
        );
        Ok(())
    }
    fn sum_kernel(&self, x: &CpuTensor, out: &mut CpuTensor) -> Result<()> {
        out.data[0] = loss::sum(&x.data);
        Ok(())
    }
    fn global_norm_kernel(&self, xs: &[&CpuTensor], out: &mut CpuTensor) -> Result<()> {
        let slices: Vec<&[f32]> = xs.iter().map(|t| t.data.as_slice()).collect();
        out.data[0] = optim::global_norm(&slices);
        Ok(())
    }
    fn adamw_kernel(
        &self,
        param: &mut CpuTensor,
        grad: &CpuTensor,
        m: &mut CpuTensor,
        v: &mut CpuTensor,
        grad_norm: &CpuTensor,
        hp: AdamW,
        _n: usize,
    ) -> Result<()> {
        optim::adamw(
            &mut param.data,
            &grad.data,
            &mut m.data,
            &mut v.data,
            grad_norm.data[0],
            &hp,
        );
        Ok(())
    }
}
