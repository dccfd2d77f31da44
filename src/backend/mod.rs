//! The op set every backend implements, once for the CPU (reference and fallback) and once for
//! the GPU (wgpu + WGSL). Model, trainer and tests are written against this trait only.
//!
//! Conventions:
//! - Tensors are row-major f32; shapes are given as `[rows, cols]` etc. in each doc comment.
//!   `T` is the number of token rows (batch × sequence), `C` a channel width. A frozen weight
//!   may instead be packed in its stored precision ([`Format`]: f16, bf16), made with
//!   [`Backend::packed_tensor`]; it is accepted only as the B operand of `matmul` and as the
//!   `embedding` table, and every other op refuses it with `Error::Packed`.
//! - Outputs are `&mut` parameters and are preallocated by the caller; ops never allocate
//!   tensors the caller keeps. Gradients accumulate where a flag says so; zeroing is explicit.
//! - GPU ops only record work; `flush` submits it and `read` waits for it. CPU ops run at once.
//! - Every op checks shapes at entry and returns `Error::Shape` rather than panicking: the ops
//!   are provided methods that run the check (`checks.rs`) and then call the backend's kernel
//!   ([`Kernels`]), so no backend can skip a check.

pub mod cpu;
pub mod gpu;
mod kernels;
mod own_threads;
pub mod selfcheck;
mod shape;
pub mod svd_linear;
mod unpack;

pub use kernels::Kernels;
pub use own_threads::OwnThreads;
pub use shape::Shape;
pub use svd_linear::{
    DSigma, SvdLinear, SvdLinearActs, svd_linear, svd_linear_acts, svd_linear_backward,
    svd_linear_delta, svd_linear_forward, svd_linear_forward_into,
};
pub use unpack::{read_f32, unpacked};
mod checks;
pub(crate) mod float_bytes;
#[macro_use]
mod format;
pub use format::{ALL_FORMATS, Format};
mod params;
pub use params::{AdamW, AttentionDims, CachedAttentionDims, DSIGMA_BLOCK_ROWS, Matmul, PairTerm};

use crate::error::Result;

/// Shape access for backend tensors.
pub trait TensorInfo {
    fn shape(&self) -> &Shape;
    /// Replaces the shape metadata (same element count; see [`Backend::reshape`], the checked
    /// way to call it). The data is not touched.
    fn set_shape(&mut self, shape: Shape);
    /// How the elements are stored: f32, or packed (a frozen weight; see [`Format`]).
    fn format(&self) -> Format;
}

/// Length access for backend id vectors.
pub trait IdsInfo {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The op set. See the module docs for conventions.
///
/// A backend implements [`Kernels`] (each op after its shape check) and the required methods
/// here (memory, flush, read, fill). The ops are provided: each runs its check from `checks.rs`
/// and hands the dimensions it returned to the kernel. Backends do not override them.
#[allow(async_fn_in_trait)]
pub trait Backend: Kernels + OwnThreads {
    /// Human-readable description (`"cpu"`, or the adapter name and backend).
    fn name(&self) -> String;

    /// The largest tensor, in bytes, one kernel may bind (`None`: no limit but host memory).
    fn max_binding_bytes(&self) -> Option<u64> {
        None
    }

    /// Most bytes of tensors this backend can hold at once, when known: a GPU budget set by the
    /// user (browsers do not report GPU memory), wasm32's 4 GiB for the CPU engine in the page.
    fn memory_limit(&self) -> Option<u64> {
        None
    }

    /// Where this backend's tensors live, as error messages name it: "GPU" or "host".
    fn memory_kind(&self) -> &'static str {
        "host"
    }

    /// Logit elements the chunked loss computes at once (`chunk rows × vocabulary`): 4 Mi
    /// (16 MiB) by default, within every GPU's binding limit.
    fn logit_chunk_elements(&self) -> usize {
        1 << 22
    }

    // ---- memory ---------------------------------------------------------------------------

    /// A tensor of `shape` holding `data` (row-major, `data.len()` = product of `shape`).
    fn tensor(&self, data: &[f32], shape: &[usize]) -> Result<Self::Tensor> {
        checks::data_len("tensor", data.len(), shape.iter().product())?;
        self.tensor_kernel(data, shape)
    }
    /// A frozen tensor of `shape` kept in `format` (the checkpoint's own bytes, little-endian,
    /// row-major: `bytes.len()` = `format.bytes_for(numel)`). An f32 one is an ordinary tensor;
    /// a packed one is accepted only as the B operand of [`Backend::matmul`] and as the
    /// [`Backend::embedding`] table (see [`Format`]).
    fn packed_tensor(&self, format: Format, bytes: &[u8], shape: &[usize]) -> Result<Self::Tensor> {
        let numel: usize = shape.iter().product();
        format.check_row("packed_tensor", shape.last().copied().unwrap_or(1))?;
        checks::data_len("packed_tensor", bytes.len(), format.bytes_for(numel))?;
        if !format.is_packed() {
            let mut data = vec![0.0; numel];
            format.decode(bytes, 0, &mut data);
            return self.tensor_kernel(&data, shape);
        }
        self.packed_tensor_kernel(format, bytes, shape)
    }
    /// A frozen weight `[rows, cols]` from its stored bytes, as [`Backend::packed_tensor`]
    /// (f32 included); a backend with a storage-binding limit holds a matrix larger than one
    /// binding in row blocks (the embedding and `lm_head` of large vocabularies). Such a matrix
    /// is taken by [`Backend::embedding`], [`Backend::matmul`] (and the ops composed from it),
    /// [`Backend::svd_merge`] and [`Backend::read`]; other ops refuse it with an error.
    fn frozen_tensor(&self, format: Format, bytes: &[u8], shape: &[usize]) -> Result<Self::Tensor> {
        self.packed_tensor(format, bytes, shape)
    }
    /// A zero-filled tensor of `shape`.
    fn zeros(&self, shape: &[usize]) -> Result<Self::Tensor>;
    /// A zero-filled f32 matrix that may be larger than one binding (held as
    /// [`Backend::frozen_tensor`] holds one): the f32 copy of a frozen weight, a merged weight.
    fn zeros_large(&self, shape: &[usize]) -> Result<Self::Tensor> {
        self.zeros(shape)
    }
    /// A u32 vector holding `data`.
    fn ids(&self, data: &[u32]) -> Result<Self::Ids>;
    /// Overwrite all of `t` with `data` (ordered after all work recorded so far).
    fn write(&self, t: &mut Self::Tensor, data: &[f32]) -> Result<()> {
        f32_only!("write"; t)?;
        checks::data_len("write", data.len(), t.shape().numel())?;
        self.write_kernel(t, data)
    }
    /// Overwrite all of `ids` with `data`; the length must match.
    fn write_ids(&self, ids: &mut Self::Ids, data: &[u32]) -> Result<()> {
        checks::data_len("write_ids", data.len(), ids.len())?;
        self.write_ids_kernel(ids, data)
    }
    /// Views `t` with new dimensions of the same element count (row-major data unchanged, no
    /// copy, no kernel): e.g. queries `[T, H·D]` as `[T·H, D]` so that RMSNorm normalises each
    /// head (Qwen3's and Gemma 3's q/k norms).
    fn reshape(&self, t: &mut Self::Tensor, dims: &[usize]) -> Result<()> {
        let shape = Shape::new(dims);
        checks::data_len("reshape", shape.numel(), t.shape().numel())?;
        t.set_shape(shape);
        Ok(())
    }
    /// Submit recorded work (no-op on the CPU).
    fn flush(&self) -> Result<()>;
    /// Copy `t` back to the host, after all work recorded so far (f32 tensors only).
    async fn read(&self, t: &Self::Tensor) -> Result<Vec<f32>> {
        f32_only!("read"; t)?;
        self.read_kernel(t).await
    }

    // ---- elementwise and copies -----------------------------------------------------------

    /// Every element of `t` = `value`.
    fn fill(&self, t: &mut Self::Tensor, value: f32) -> Result<()> {
        f32_only!("fill"; t)?;
        self.fill_kernel(t, value)
    }
    /// `dst[dst_row + i, :] = src[src_row + i, :]` for `i < rows`; both tensors have the same
    /// row width (elements after the first dimension).
    fn copy_rows(
        &self,
        src: &Self::Tensor,
        src_row: usize,
        dst: &mut Self::Tensor,
        dst_row: usize,
        rows: usize,
    ) -> Result<()> {
        f32_only!("copy_rows"; src, dst)?;
        let width = checks::copy_rows(src.shape(), src_row, dst.shape(), dst_row, rows)?;
        self.copy_rows_kernel(src, src_row, dst, dst_row, rows, width)
    }
    /// `dst[t, dst_col + j] = src[t, src_col + j]` for `j < width`, every row `t`.
    /// src `[T, Cs]`, dst `[T, Cd]`. Splits and joins fused projections (qkv, gate_up).
    fn copy_cols(
        &self,
        src: &Self::Tensor,
        src_col: usize,
        dst: &mut Self::Tensor,
        dst_col: usize,
        width: usize,
    ) -> Result<()> {
        f32_only!("copy_cols"; src, dst)?;
        let dims = checks::copy_cols(src.shape(), src_col, dst.shape(), dst_col, width)?;
        self.copy_cols_kernel(src, src_col, dst, dst_col, width, dims)
    }
    /// `x += y` elementwise (residual add, gradient accumulation). Same shapes.
    fn add_assign(&self, x: &mut Self::Tensor, y: &Self::Tensor) -> Result<()> {
        f32_only!("add_assign"; x, y)?;
        let n = checks::same("add_assign", x.shape(), y.shape())?;
        self.add_assign_kernel(x, y, n)
    }
    /// `y[t, :] += b` for every row. y `[T, C]`, b `[C]`.
    fn add_bias(&self, y: &mut Self::Tensor, b: &Self::Tensor) -> Result<()> {
        f32_only!("add_bias"; y, b)?;
        let dims = checks::row_broadcast("add_bias", y.shape(), b.shape())?;
        self.add_bias_kernel(y, b, dims)
    }
    /// `dst[t, c] = src[t, c] · (s[c] + s_add[c])` (the sum in f32, as an `add_assign` would
    /// form it), or `src[t, c] · s[c]` without `s_add`. src, dst `[T, C]`, s, s_add `[C]`.
    fn mul_cols(
        &self,
        src: &Self::Tensor,
        s: &Self::Tensor,
        s_add: Option<&Self::Tensor>,
        dst: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("mul_cols"; src, s, dst)?;
        if let Some(s_add) = s_add {
            f32_only!("mul_cols"; s_add)?;
        }
        let dims = checks::mul_cols(
            src.shape(),
            s.shape(),
            s_add.map(|a| a.shape()),
            dst.shape(),
        )?;
        self.mul_cols_kernel(src, s, s_add, dst, dims)
    }

    // ---- linear algebra -------------------------------------------------------------------

    /// `c = alpha · op(a) · op(b) (+ c)`; see [`Matmul`] for the layouts. `b` may be packed
    /// (a frozen weight in its stored precision, any layout); `a` and `c` are f32.
    fn matmul(
        &self,
        a: &Self::Tensor,
        b: &Self::Tensor,
        c: &mut Self::Tensor,
        spec: Matmul,
    ) -> Result<()> {
        f32_only!("matmul"; a, c)?;
        let dims = checks::matmul(a.shape(), b.shape(), c.shape(), spec)?;
        self.matmul_kernel(a, b, c, spec, dims)
    }
    /// Places `tensors` side by side in one buffer (each keeps its values and shape and stays
    /// usable as before) and returns one f32 tensor `[n]` over the whole buffer, zero between
    /// them; `None` when the backend keeps tensors apart (the CPU). An elementwise op on the
    /// returned tensor acts on all of them at once: AdamW and the gradient norm over every
    /// trained tensor in one dispatch each. A grouped tensor must be written in place
    /// ([`Backend::write`], ops), never replaced by another tensor object.
    fn group(&self, tensors: &mut [&mut Self::Tensor]) -> Result<Option<Self::Tensor>> {
        for t in tensors.iter() {
            f32_only!("group"; t)?;
        }
        self.group_kernel(tensors)
    }
    /// One input by up to three matrices: `cs[i] = a · bs[i]` (the SVD layers that read the same
    /// input project it on their factors in one GPU dispatch). a `[M, K]`, bs[i] `[K, N_i]` (f32
    /// or packed), cs[i] `[M, N_i]`; one to three of them.
    fn matmul_multi(
        &self,
        a: &Self::Tensor,
        bs: &[&Self::Tensor],
        cs: &mut [&mut Self::Tensor],
    ) -> Result<()> {
        f32_only!("matmul_multi"; a)?;
        for c in cs.iter() {
            f32_only!("matmul_multi"; c)?;
        }
        let b_shapes: Vec<&Shape> = bs.iter().map(|b| b.shape()).collect();
        let c_shapes: Vec<&Shape> = cs.iter().map(|c| c.shape()).collect();
        let (m, k) = checks::matmul_multi(a.shape(), &b_shapes, &c_shapes)?;
        self.matmul_multi_kernel(a, bs, cs, (m, k))
    }
    /// Two products into one output: `c = alpha · (a · op(b) + (a2 ⊙ s) · b2ᵀ) (+ c)` with
    /// `second = (a2, b2, s)` ([`PairTerm`]): the SVD layer's `x Wᵀ + (h ⊙ (Σ − Σ₀)) Uᵀ` and
    /// `g W + (k ⊙ (Σ − Σ₀)) Vᵀ`. `spec` lays out the first product (`a` untransposed);
    /// a `[M, K]`, op(b) `[K, N]`, c `[M, N]`, a2 and `scratch` `[M, Q]`, b2 `[N, Q]`. One
    /// dispatch on the GPU where its tiles apply; elsewhere [`Backend::mul_cols`] into `scratch`
    /// and two [`Backend::matmul`]s, with the same values.
    fn matmul_pair(
        &self,
        a: &Self::Tensor,
        b: &Self::Tensor,
        second: PairTerm<'_, Self::Tensor>,
        c: &mut Self::Tensor,
        spec: Matmul,
        scratch: &mut Self::Tensor,
    ) -> Result<()> {
        let PairTerm { a: a2, .. } = second;
        f32_only!("matmul_pair"; a, a2, c, scratch)?;
        if let Some((s, s_add)) = second.scale {
            f32_only!("matmul_pair"; s, s_add)?;
        }
        let scale = second.scale.map(|(s, s_add)| (s.shape(), s_add.shape()));
        let dims = checks::matmul_pair(
            [a.shape(), b.shape(), c.shape()],
            [a2.shape(), second.b.shape(), scratch.shape()],
            scale,
            spec,
        )?;
        self.matmul_pair_kernel(a, b, second, c, spec, scratch, dims)
    }
    /// The SVD layer's backward `k = g · u` and dΣ's column dot products of `h` and `k`, added
    /// into `partials` by blocks of [`DSIGMA_BLOCK_ROWS`] rows: `Σ_r partials[j, r]` grows by
    /// `Σ_t h[t, j] · k[t, j]` (how it spreads over `r` is the backend's); [`Backend::sum_blocks`]
    /// adds the blocks up, for every layer at once when their partials share one buffer. g
    /// `[T, m]`, u `[m, q]` (f32 or packed), k and h `[T, q]`, partials `[q_p ≥ q, R ≥ ⌈T / 64⌉]`.
    fn matmul_col_dot(
        &self,
        g: &Self::Tensor,
        u: &Self::Tensor,
        k: &mut Self::Tensor,
        h: &Self::Tensor,
        partials: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("matmul_col_dot"; g, k, h, partials)?;
        let dims = checks::matmul_col_dot(
            [g.shape(), u.shape(), k.shape()],
            h.shape(),
            partials.shape(),
        )?;
        self.matmul_col_dot_kernel(g, u, k, h, partials, dims)
    }
    /// `out[i] (+)= Σ_r partials[i, r]` for every `i` of `out`: partials `[n_p ≥ n, R]`, out `[n]`.
    fn sum_blocks(
        &self,
        partials: &Self::Tensor,
        out: &mut Self::Tensor,
        accumulate: bool,
    ) -> Result<()> {
        f32_only!("sum_blocks"; partials, out)?;
        let dims = checks::sum_blocks(partials.shape(), out.shape())?;
        self.sum_blocks_kernel(partials, out, accumulate, dims)
    }
    /// Column dot products: `out[c] (+)= Σ_t a[t, c] · b[t, c] · row_scale[t]`.
    /// a, b `[T, C]`, row_scale `[T]` (absent = 1), out `[C]`. Two-pass reduction on the GPU
    /// (per-chunk partials, then a sum): WGSL has no float atomics. Gives dΣ and RMSNorm dweight.
    fn col_dot(
        &self,
        a: &Self::Tensor,
        b: &Self::Tensor,
        row_scale: Option<&Self::Tensor>,
        out: &mut Self::Tensor,
        accumulate: bool,
    ) -> Result<()> {
        f32_only!("col_dot"; a, b, out)?;
        if let Some(row_scale) = row_scale {
            f32_only!("col_dot"; row_scale)?;
        }
        let scale = row_scale.map(|s| s.shape());
        let dims = checks::col_dot(a.shape(), b.shape(), scale, out.shape())?;
        self.col_dot_kernel(a, b, row_scale, out, accumulate, dims)
    }
    /// A rank-q update of a weight: `out = W + U diag(s) Vᵀ` (the SVD layer's merge passes its
    /// original `W` and `s = Σ − Σ₀`).
    /// w_res (the `W` added to), out `[m, n]`, u `[m, q]`, sigma (`s`) `[q]`, v `[n, q]`.
    fn svd_merge(
        &self,
        w_res: &Self::Tensor,
        u: &Self::Tensor,
        sigma: &Self::Tensor,
        v: &Self::Tensor,
        out: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("svd_merge"; w_res, u, sigma, v, out)?;
        let (w, o) = (w_res.shape(), out.shape());
        let dims = checks::svd_merge(w, u.shape(), sigma.shape(), v.shape(), o)?;
        self.svd_merge_kernel(w_res, u, sigma, v, out, dims)
    }

    // ---- transformer ops ------------------------------------------------------------------

    /// `out[t, :] = table[ids[t], :]`. table `[V, C]`, ids `[T]`, out `[T, C]`.
    /// An id ≥ V gives a zero row (ids are validated on the host before they get here).
    /// `table` may be packed (a frozen embedding in its stored precision).
    fn embedding(
        &self,
        table: &Self::Tensor,
        ids: &Self::Ids,
        out: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("embedding"; out)?;
        let dims = checks::embedding(table.shape(), ids.len(), out.shape())?;
        self.embedding_kernel(table, ids, out, dims)
    }
    /// RMSNorm: `y = x · rstd · w`, `rstd[t] = 1 / sqrt(mean_c(x²) + eps)`.
    /// x, y `[T, C]`, w `[C]`, rstd `[T]` (saved for backward).
    fn rmsnorm_forward(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        eps: f32,
        y: &mut Self::Tensor,
        rstd: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("rmsnorm_forward"; x, w, y, rstd)?;
        let dims = checks::rmsnorm(x.shape(), w.shape(), rstd.shape(), &[("y", y.shape())])?;
        self.rmsnorm_forward_kernel(x, w, eps, y, rstd, dims)
    }
    /// RMSNorm backward: `dx (+)= rstd · (w⊙dy − x̂ · mean_c(x̂ ⊙ w⊙dy))` with `x̂ = x · rstd`,
    /// and `dw += Σ_t dy ⊙ x̂` when `dw` is given. Shapes as in forward; dw `[C]`.
    #[allow(clippy::too_many_arguments)]
    fn rmsnorm_backward(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        rstd: &Self::Tensor,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
        accumulate_dx: bool,
        dw: Option<&mut Self::Tensor>,
    ) -> Result<()> {
        f32_only!("rmsnorm_backward"; x, w, rstd, dy, dx)?;
        if let Some(dw) = &dw {
            f32_only!("rmsnorm_backward"; dw)?;
        }
        let grads = [("dy", dy.shape()), ("dx", dx.shape())];
        let dw_shape = dw.as_ref().map(|t| t.shape());
        let dims = checks::rmsnorm_backward(x.shape(), w.shape(), rstd.shape(), grads, dw_shape)?;
        self.rmsnorm_backward_kernel(x, w, rstd, dy, dx, accumulate_dx, dw, dims)
    }
    /// Rotary position embedding in place, Hugging Face `rotate_half` pairing (element `i` with
    /// `i + head_dim/2`): `x' = x·cos + rotate_half(x)·sin` with the tables at `positions[t]`.
    /// With `inverse`, rotates by the negative angle (the backward pass: `dx = Rᵀ dy`).
    /// x `[T, H·head_dim]`, positions `[T]`, cos/sin `[P, head_dim/2]` (see [`crate::model::rope`]).
    #[allow(clippy::too_many_arguments)]
    fn rope(
        &self,
        x: &mut Self::Tensor,
        positions: &Self::Ids,
        cos: &Self::Tensor,
        sin: &Self::Tensor,
        n_heads: usize,
        head_dim: usize,
        inverse: bool,
    ) -> Result<()> {
        f32_only!("rope"; x, cos, sin)?;
        let (xs, p) = (x.shape(), positions.len());
        let dims = checks::rope(xs, p, cos.shape(), sin.shape(), n_heads, head_dim)?;
        self.rope_kernel(x, positions, cos, sin, n_heads, head_dim, inverse, dims)
    }
    /// [`Backend::rope`] on q `[T, H·head_dim]` and k `[T, Hkv·head_dim]` (same rows, one
    /// dispatch on the GPU).
    #[allow(clippy::too_many_arguments)]
    fn rope_qk(
        &self,
        q: &mut Self::Tensor,
        k: &mut Self::Tensor,
        positions: &Self::Ids,
        cos: &Self::Tensor,
        sin: &Self::Tensor,
        (q_heads, k_heads): (usize, usize),
        head_dim: usize,
        inverse: bool,
    ) -> Result<()> {
        let p = positions.len();
        let dims = checks::rope(q.shape(), p, cos.shape(), sin.shape(), q_heads, head_dim)?;
        checks::rope(k.shape(), p, cos.shape(), sin.shape(), k_heads, head_dim)?;
        let heads = (q_heads, k_heads);
        self.rope_qk_kernel(q, k, positions, cos, sin, heads, head_dim, inverse, dims)
    }
    /// Causal grouped-query attention. Query row `t` of sequence `b` attends to keys
    /// `window_start[b·seq + t] ..= t` of the same sequence (`window_start` = 0 for plain causal
    /// attention; packed sequences use it to keep attention inside each conversation).
    /// q, out `[B·S, H·D]`; k, v `[B·S, Hkv·D]`; window_start `[B·S]`; lse `[B·S, H]`
    /// (log-sum-exp of the scaled scores, saved for backward).
    #[allow(clippy::too_many_arguments)]
    fn attention_forward(
        &self,
        q: &Self::Tensor,
        k: &Self::Tensor,
        v: &Self::Tensor,
        window_start: &Self::Ids,
        dims: AttentionDims,
        out: &mut Self::Tensor,
        lse: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("attention_forward"; q, k, v, out, lse)?;
        let (qs, ks, vs, ws) = (q.shape(), k.shape(), v.shape(), window_start.len());
        checks::attention(qs, ks, vs, ws, &dims, out.shape(), lse.shape())?;
        self.attention_forward_kernel(q, k, v, window_start, dims, out, lse)
    }
    /// Attention backward: writes (overwrites) dq, dk, dv from dout, recomputing the probabilities
    /// from q, k and the saved lse. Shapes as in forward.
    #[allow(clippy::too_many_arguments)]
    fn attention_backward(
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
    ) -> Result<()> {
        let (qs, ks, vs, ws) = (q.shape(), k.shape(), v.shape(), window_start.len());
        f32_only!("attention_backward"; q, k, v, out, lse, dout, dq, dk, dv)?;
        let grads = [dq.shape(), dk.shape(), dv.shape(), dout.shape()];
        checks::attention_backward(qs, ks, vs, ws, &dims, out.shape(), lse.shape(), grads)?;
        self.attention_backward_kernel(q, k, v, window_start, dims, out, lse, dout, dq, dk, dv)
    }
    /// Attention of new query rows against a key/value cache (generation with a KV cache).
    /// Query row `i` sits at position `p = q_offset + i` and attends cache rows
    /// `max(0, p + 1 − window) ..= p` (all of `0 ..= p` when `window` is 0) of its kv head.
    /// q, out `[rows, H·D]`; k_cache, v_cache `[L, Hkv·D]` with `L ≥ q_offset + rows`.
    fn attention_cached(
        &self,
        q: &Self::Tensor,
        k_cache: &Self::Tensor,
        v_cache: &Self::Tensor,
        dims: CachedAttentionDims,
        out: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("attention_cached"; q, k_cache, v_cache, out)?;
        let (ks, vs) = (k_cache.shape(), v_cache.shape());
        checks::attention_cached(q.shape(), ks, vs, &dims, out.shape())?;
        self.attention_cached_kernel(q, k_cache, v_cache, dims, out)
    }
    /// SwiGLU: `out = silu(gate) ⊙ up`. All `[T, I]`.
    fn swiglu_forward(
        &self,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        out: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("swiglu_forward"; gate, up, out)?;
        let dims = checks::swiglu(gate.shape(), &[("up", up.shape()), ("out", out.shape())])?;
        self.swiglu_forward_kernel(gate, up, out, dims)
    }
    /// SwiGLU backward: `dgate = dout ⊙ up ⊙ silu'(gate)`, `dup = dout ⊙ silu(gate)` (overwrite).
    fn swiglu_backward(
        &self,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        dout: &Self::Tensor,
        dgate: &mut Self::Tensor,
        dup: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("swiglu_backward"; gate, up, dout, dgate, dup)?;
        let others = [
            ("up", up.shape()),
            ("dout", dout.shape()),
            ("dgate", dgate.shape()),
            ("dup", dup.shape()),
        ];
        let dims = checks::swiglu(gate.shape(), &others)?;
        self.swiglu_backward_kernel(gate, up, dout, dgate, dup, dims)
    }
    /// GeGLU (Gemma): `out = gelu_tanh(gate) ⊙ up`, `gelu_tanh(x) = 0.5 · x · (1 + tanh(√(2/π) ·
    /// (x + 0.044715 · x³)))` (transformers' `gelu_pytorch_tanh`). All `[T, I]`.
    fn geglu_forward(
        &self,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        out: &mut Self::Tensor,
    ) -> Result<()> {
        let dims = checks::swiglu(gate.shape(), &[("up", up.shape()), ("out", out.shape())])?;
        self.geglu_forward_kernel(gate, up, out, dims)
    }
    /// GeGLU backward: `dgate = dout ⊙ up ⊙ gelu_tanh'(gate)`, `dup = dout ⊙ gelu_tanh(gate)`
    /// (overwrite).
    fn geglu_backward(
        &self,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        dout: &Self::Tensor,
        dgate: &mut Self::Tensor,
        dup: &mut Self::Tensor,
    ) -> Result<()> {
        let others = [
            ("up", up.shape()),
            ("dout", dout.shape()),
            ("dgate", dgate.shape()),
            ("dup", dup.shape()),
        ];
        let dims = checks::swiglu(gate.shape(), &others)?;
        self.geglu_backward_kernel(gate, up, dout, dgate, dup, dims)
    }
    /// Masked cross-entropy over a chunk of rows, loss and gradient in one pass.
    /// `logits` `[N, V]` holds rows `row_offset .. row_offset + N` of the full batch; it is
    /// overwritten with dlogits = `(softmax − onehot(target)) · weight · scale`.
    /// `losses[row_offset + i] = weight · scale · (logsumexp − logit[target])`.
    /// targets `[T_total]`, weights `[T_total]` (the loss mask, 0/1 or any ≥ 0), losses `[T_total]`.
    /// `scale` is usually `1 / Σ weights` so that `Σ losses` is the mean loss.
    #[allow(clippy::too_many_arguments)]
    fn cross_entropy(
        &self,
        logits: &mut Self::Tensor,
        targets: &Self::Ids,
        weights: &Self::Tensor,
        row_offset: usize,
        scale: f32,
        losses: &mut Self::Tensor,
    ) -> Result<()> {
        f32_only!("cross_entropy"; logits, weights, losses)?;
        let (ls, ts, ws) = (logits.shape(), targets.len(), weights.shape());
        let dims = checks::cross_entropy(ls, ts, ws, row_offset, losses.shape())?;
        self.cross_entropy_kernel(logits, targets, weights, row_offset, scale, losses, dims)
    }
    /// `out[0] = Σ x` over all elements (two-pass on the GPU). out `[1]`.
    fn sum(&self, x: &Self::Tensor, out: &mut Self::Tensor) -> Result<()> {
        f32_only!("sum"; x, out)?;
        checks::scalar("sum", out.shape())?;
        self.sum_kernel(x, out)
    }
    /// Global L2 norm over several tensors: `out[0] = sqrt(Σ_i Σ x_i²)`. out `[1]`.
    fn global_norm(&self, xs: &[&Self::Tensor], out: &mut Self::Tensor) -> Result<()> {
        f32_only!("global_norm"; out)?;
        for xs in xs {
            f32_only!("global_norm"; xs)?;
        }
        checks::scalar("global_norm", out.shape())?;
        self.global_norm_kernel(xs, out)
    }
    /// One AdamW step on `param` with gradient `grad`, moments `m`, `v` (all the same shape),
    /// clipping by `grad_norm[0]` (from [`Backend::global_norm`]) to `hp.max_grad_norm`.
    /// If `grad_norm[0]` is not finite, nothing is changed (the step is skipped): a non-finite
    /// gradient never reaches the weights. grad_norm `[1]`.
    fn adamw(
        &self,
        param: &mut Self::Tensor,
        grad: &Self::Tensor,
        m: &mut Self::Tensor,
        v: &mut Self::Tensor,
        grad_norm: &Self::Tensor,
        hp: AdamW,
    ) -> Result<()> {
        f32_only!("adamw"; param, grad, m, v, grad_norm)?;
        let (ps, gs, ns) = (param.shape(), grad.shape(), grad_norm.shape());
        let n = checks::adamw(ps, gs, m.shape(), v.shape(), ns)?;
        self.adamw_kernel(param, grad, m, v, grad_norm, hp, n)
    }
}

/// `Error::OutOfMemory` naming `what` when `bytes` exceed what `be` can hold at once (see
/// [`Backend::memory_limit`]); checked before anything is allocated.
pub fn check_budget<B: Backend>(be: &B, bytes: u64, what: impl FnOnce() -> String) -> Result<()> {
    match be.memory_limit() {
        Some(limit) if bytes > limit => Err(crate::error::Error::OutOfMemory {
            device: be.memory_kind(),
            what: what(),
            bytes: Some(bytes),
            held: 0,
            limit: Some(limit),
        }),
        _ => Ok(()),
    }
}
