//! The unchecked half of the op set: what each backend implements for the ops of
//! [`Backend`]. Every op there is a provided method that runs its shape check (`checks.rs`, the
//! one place the checks live) and then calls the kernel here with the dimensions the check
//! returned, so no backend can skip a check or has to repeat one. Kernels may still refuse what
//! only their own hardware cannot do (the GPU's 32-bit indices and head-dim bound), never a shape.
//!
//! Callers use the [`Backend`] ops; a kernel is called only by its op, after the check passed.
//! Shapes are documented once, on the op.
#[cfg(doc)]
use super::Backend;
use super::{
    AdamW, AttentionDims, CachedAttentionDims, Format, IdsInfo, Matmul, PairTerm, TensorInfo,
};
use crate::error::Result;

/// The checked kernels of a backend (see the module docs); [`Backend`] builds on it.
#[allow(async_fn_in_trait)]
pub trait Kernels {
    /// An f32 tensor living on this backend.
    type Tensor: TensorInfo;
    /// A u32 vector (token ids, positions, targets, attention window starts).
    type Ids: IdsInfo;

    /// Called after the length check of [`Backend::tensor`]: `data` has `shape`'s element count.
    fn tensor_kernel(&self, data: &[f32], shape: &[usize]) -> Result<Self::Tensor>;
    /// Called by [`Backend::packed_tensor`] for a packed `format` (not f32), after the length
    /// check: `bytes` holds `shape`'s elements.
    fn packed_tensor_kernel(
        &self,
        format: Format,
        bytes: &[u8],
        shape: &[usize],
    ) -> Result<Self::Tensor>;
    /// Called by [`Backend::read`] for an f32 tensor.
    async fn read_kernel(&self, t: &Self::Tensor) -> Result<Vec<f32>>;
    /// Called by [`Backend::fill`] for an f32 tensor.
    fn fill_kernel(&self, t: &mut Self::Tensor, value: f32) -> Result<()>;
    /// Called after the length check of [`Backend::write`].
    fn write_kernel(&self, t: &mut Self::Tensor, data: &[f32]) -> Result<()>;
    /// Called after the length check of [`Backend::write_ids`].
    fn write_ids_kernel(&self, ids: &mut Self::Ids, data: &[u32]) -> Result<()>;

    /// Called after the shape check of [`Backend::copy_rows`]; `width` is the row width in
    /// elements, the row ranges are in bounds.
    fn copy_rows_kernel(
        &self,
        src: &Self::Tensor,
        src_row: usize,
        dst: &mut Self::Tensor,
        dst_row: usize,
        rows: usize,
        width: usize,
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::copy_cols`]; `dims` = `(rows, src_cols,
    /// dst_cols)`, the column windows are in bounds.
    #[allow(clippy::too_many_arguments)]
    fn copy_cols_kernel(
        &self,
        src: &Self::Tensor,
        src_col: usize,
        dst: &mut Self::Tensor,
        dst_col: usize,
        width: usize,
        dims: (usize, usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::add_assign`]; `n` elements each.
    fn add_assign_kernel(&self, x: &mut Self::Tensor, y: &Self::Tensor, n: usize) -> Result<()>;
    /// Called after the shape check of [`Backend::add_bias`]; `dims` = `(rows, cols)`.
    fn add_bias_kernel(
        &self,
        y: &mut Self::Tensor,
        b: &Self::Tensor,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::mul_cols`]; `dims` = `(rows, cols)`.
    fn mul_cols_kernel(
        &self,
        src: &Self::Tensor,
        s: &Self::Tensor,
        s_add: Option<&Self::Tensor>,
        dst: &mut Self::Tensor,
        dims: (usize, usize),
    ) -> Result<()>;

    /// Called after the shape check of [`Backend::matmul`]; `dims` = `(m, n, k)`. `b` may be
    /// packed (any [`Format`]); `a` and `c` are f32.
    fn matmul_kernel(
        &self,
        a: &Self::Tensor,
        b: &Self::Tensor,
        c: &mut Self::Tensor,
        spec: Matmul,
        dims: (usize, usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::matmul_multi`]; `dims` = `(m, k)`. The
    /// provided kernel is one [`Kernels::matmul_kernel`] per product.
    fn matmul_multi_kernel(
        &self,
        a: &Self::Tensor,
        bs: &[&Self::Tensor],
        cs: &mut [&mut Self::Tensor],
        dims: (usize, usize),
    ) -> Result<()> {
        compose_matmul_multi(self, a, bs, cs, dims)
    }
    /// Called by [`Backend::group`] for f32 tensors. The provided kernel keeps tensors apart
    /// (`None`); a backend whose ops pay per call may place them in one buffer.
    fn group_kernel(&self, tensors: &mut [&mut Self::Tensor]) -> Result<Option<Self::Tensor>> {
        let _ = tensors;
        Ok(None)
    }
    /// Called after the shape check of [`Backend::matmul_pair`]; `dims` = `(m, n, k, q)`. The
    /// provided kernel is the ops it stands for ([`compose_matmul_pair`]); a backend may fuse them.
    #[allow(clippy::too_many_arguments)]
    fn matmul_pair_kernel(
        &self,
        a: &Self::Tensor,
        b: &Self::Tensor,
        second: PairTerm<'_, Self::Tensor>,
        c: &mut Self::Tensor,
        spec: Matmul,
        scratch: &mut Self::Tensor,
        dims: (usize, usize, usize, usize),
    ) -> Result<()> {
        compose_matmul_pair(self, a, b, second, c, spec, scratch, dims)
    }
    /// Called after the shape check of [`Backend::col_dot`]; `dims` = `(rows, cols)`.
    fn col_dot_kernel(
        &self,
        a: &Self::Tensor,
        b: &Self::Tensor,
        row_scale: Option<&Self::Tensor>,
        out: &mut Self::Tensor,
        accumulate: bool,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::matmul_col_dot`]; `dims` = `(t, q, m, blocks)`.
    fn matmul_col_dot_kernel(
        &self,
        g: &Self::Tensor,
        u: &Self::Tensor,
        k: &mut Self::Tensor,
        h: &Self::Tensor,
        partials: &mut Self::Tensor,
        dims: (usize, usize, usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::sum_blocks`]; `dims` = `(n, blocks)`.
    fn sum_blocks_kernel(
        &self,
        partials: &Self::Tensor,
        out: &mut Self::Tensor,
        accumulate: bool,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::svd_merge`]; `dims` = `(m, n, q)`.
    fn svd_merge_kernel(
        &self,
        w_res: &Self::Tensor,
        u: &Self::Tensor,
        sigma: &Self::Tensor,
        v: &Self::Tensor,
        out: &mut Self::Tensor,
        dims: (usize, usize, usize),
    ) -> Result<()>;

    /// Called after the shape check of [`Backend::embedding`]; `dims` = `(rows, vocab, cols)`.
    /// `table` may be packed (any [`Format`]).
    fn embedding_kernel(
        &self,
        table: &Self::Tensor,
        ids: &Self::Ids,
        out: &mut Self::Tensor,
        dims: (usize, usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::rmsnorm_forward`]; `dims` = `(rows, cols)`.
    fn rmsnorm_forward_kernel(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        eps: f32,
        y: &mut Self::Tensor,
        rstd: &mut Self::Tensor,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::rmsnorm_backward`] (`dw` included);
    /// `dims` = `(rows, cols)`.
    #[allow(clippy::too_many_arguments)]
    fn rmsnorm_backward_kernel(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        rstd: &Self::Tensor,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
        accumulate_dx: bool,
        dw: Option<&mut Self::Tensor>,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::rope`] (`head_dim` even and > 0);
    /// `dims` = `(rows, table_positions)`.
    #[allow(clippy::too_many_arguments)]
    fn rope_kernel(
        &self,
        x: &mut Self::Tensor,
        positions: &Self::Ids,
        cos: &Self::Tensor,
        sin: &Self::Tensor,
        n_heads: usize,
        head_dim: usize,
        inverse: bool,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape checks of [`Backend::rope_qk`] (both tensors pass `rope`'s). The
    /// provided kernel rotates q, then k; a backend may do both in one dispatch.
    #[allow(clippy::too_many_arguments)]
    fn rope_qk_kernel(
        &self,
        q: &mut Self::Tensor,
        k: &mut Self::Tensor,
        positions: &Self::Ids,
        cos: &Self::Tensor,
        sin: &Self::Tensor,
        (q_heads, k_heads): (usize, usize),
        head_dim: usize,
        inverse: bool,
        dims: (usize, usize),
    ) -> Result<()> {
        self.rope_kernel(q, positions, cos, sin, q_heads, head_dim, inverse, dims)?;
        self.rope_kernel(k, positions, cos, sin, k_heads, head_dim, inverse, dims)
    }
    /// Called after the shape check of [`Backend::attention_forward`] (the heads divide and
    /// every tensor fits `dims`).
    #[allow(clippy::too_many_arguments)]
    fn attention_forward_kernel(
        &self,
        q: &Self::Tensor,
        k: &Self::Tensor,
        v: &Self::Tensor,
        window_start: &Self::Ids,
        dims: AttentionDims,
        out: &mut Self::Tensor,
        lse: &mut Self::Tensor,
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::attention_backward`].
    #[allow(clippy::too_many_arguments)]
    fn attention_backward_kernel(
        &self,
        q: &Self::Tensor,
        k: &Self::Tensor,
        v: &Self::Tensor,
        window_start: &Self::Ids,
        dims: AttentionDims,
        out: &Self::Tensor,
        lse: &Self::Tensor,
        dout: &Self::Tensor,
        dq: &mut Self::Tensor,
        dk: &mut Self::Tensor,
        dv: &mut Self::Tensor,
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::attention_cached`] (the query rows end within
    /// the cache).
    fn attention_cached_kernel(
        &self,
        q: &Self::Tensor,
        k_cache: &Self::Tensor,
        v_cache: &Self::Tensor,
        dims: CachedAttentionDims,
        out: &mut Self::Tensor,
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::swiglu_forward`]; `dims` = `(rows, cols)`.
    fn swiglu_forward_kernel(
        &self,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        out: &mut Self::Tensor,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::geglu_forward`]; `dims` = `(rows, cols)`.
    fn geglu_forward_kernel(
        &self,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        out: &mut Self::Tensor,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::geglu_backward`]; `dims` = `(rows, cols)`.
    fn geglu_backward_kernel(
        &self,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        dout: &Self::Tensor,
        dgate: &mut Self::Tensor,
        dup: &mut Self::Tensor,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::swiglu_backward`]; `dims` = `(rows, cols)`.
    fn swiglu_backward_kernel(
        &self,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        dout: &Self::Tensor,
        dgate: &mut Self::Tensor,
        dup: &mut Self::Tensor,
        dims: (usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::cross_entropy`] (the chunk's rows are within
    /// the targets); `dims` = `(chunk_rows, vocab, total_rows)`.
    #[allow(clippy::too_many_arguments)]
    fn cross_entropy_kernel(
        &self,
        logits: &mut Self::Tensor,
        targets: &Self::Ids,
        weights: &Self::Tensor,
        row_offset: usize,
        scale: f32,
        losses: &mut Self::Tensor,
        dims: (usize, usize, usize),
    ) -> Result<()>;
    /// Called after the shape check of [`Backend::sum`] (`out` has one element).
    fn sum_kernel(&self, x: &Self::Tensor, out: &mut Self::Tensor) -> Result<()>;
    /// Called after the shape check of [`Backend::global_norm`] (`out` has one element).
    fn global_norm_kernel(&self, xs: &[&Self::Tensor], out: &mut Self::Tensor) -> Result<()>;
    /// Called after the shape check of [`Backend::adamw`]; `n` elements in each of param, grad,
    /// m and v.
    #[allow(clippy::too_many_arguments)]
    fn adamw_kernel(
        &self,
        param: &mut Self::Tensor,
        grad: &Self::Tensor,
        m: &mut Self::Tensor,
        v: &mut Self::Tensor,
        grad_norm: &Self::Tensor,
        hp: AdamW,
        n: usize,
    ) -> Result<()>;
}

/// [`Backend::matmul_pair`] as the ops it stands for: `c (+)= alpha · a · op(b)`, then
/// `scratch = a2 ⊙ (scale + scale_add)` (without a scale, `a2` itself) and
/// `c += alpha · scratch · b2ᵀ`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compose_matmul_pair<K: Kernels + ?Sized>(
    k: &K,
    a: &K::Tensor,
    b: &K::Tensor,
    second: PairTerm<'_, K::Tensor>,
    c: &mut K::Tensor,
    spec: Matmul,
    scratch: &mut K::Tensor,
    (m, n, kk, q): (usize, usize, usize, usize),
) -> Result<()> {
    k.matmul_kernel(a, b, c, spec, (m, n, kk))?;
    let a2 = match second.scale {
        Some((s, s_add)) => {
            k.mul_cols_kernel(second.a, s, Some(s_add), scratch, (m, q))?;
            &*scratch
        }
        None => second.a,
    };
    let then = Matmul {
        trans_b: true,
        ..spec.accumulate()
    };
    k.matmul_kernel(a2, second.b, c, then, (m, n, q))
}

/// [`Backend::matmul_multi`] as one [`Kernels::matmul_kernel`] per product.
pub(crate) fn compose_matmul_multi<K: Kernels + ?Sized>(
    k: &K,
    a: &K::Tensor,
    bs: &[&K::Tensor],
    cs: &mut [&mut K::Tensor],
    (m, kk): (usize, usize),
) -> Result<()> {
    for (b, c) in bs.iter().zip(cs.iter_mut()) {
        let n = c.shape().numel() / m.max(1);
        k.matmul_kernel(a, b, c, Matmul::NN, (m, n, kk))?;
    }
    Ok(())
}
