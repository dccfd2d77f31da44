//! The SVD linear layer in its delta form, composed once from backend ops so both backends
//! share it.
//!
//! The original `W` stays frozen and what trains is the difference along its top singular
//! directions: `W_now = W + U diag(Σ − Σ₀) Vᵀ`, with `U`, `V`, `Σ₀` (and the bias) frozen and
//! `Σ` trained. In real arithmetic this is the residual form `W' + U diag(Σ) Vᵀ` with
//! `W' = W − U diag(Σ₀) Vᵀ`, but no residual is built or held, and at `Σ = Σ₀` the layer is
//! exactly the original one (`d = 0`), however rough `U` and `V` are.
//! Forward (factored; the `[m, n]` product is never rebuilt): `h = x V`,
//! `y = x Wᵀ + (h ⊙ d) Uᵀ + b` with `d = Σ − Σ₀`.
//! Backward with `g = dL/dy`: `k = g U`, `dΣ += Σ_t h_t ⊙ k_t`, `dx (+)= g W + (k ⊙ d) Vᵀ`.
//! Each layer's two products into one output are one [`Backend::matmul_pair`] (one dispatch on
//! the GPU, the column scale `⊙ (Σ − Σ₀)` applied as it loads): forward `x V`, then the pair;
//! backward `g U` with dΣ's column dots ([`Backend::matmul_col_dot`], partial sums by blocks of
//! rows that a training step adds up for all layers at once), then the pair.
//!
//! The layer holds `Σ₀` negated, and `d` is formed inside the column scaling
//! (`mul_cols(h, Σ, −Σ₀)`: `h · (Σ + (−Σ₀))`, exactly `Σ − Σ₀` in f32), so the training step
//! spends no dispatch and no buffer on it; [`svd_linear_delta`] (the export, tests) makes it
//! from a copy of `Σ`, then `+= −Σ₀`, to the same bits.
use super::{Backend, Matmul, PairTerm, TensorInfo, shape};
use crate::error::Result;

/// Frozen and trained tensors of one decomposed linear layer (`W` was `[m, n]`, rank `q`).
pub struct SvdLinear<T> {
    /// The original weight `W`, `[m, n]`, frozen.
    pub w: T,
    /// Left singular vectors, `[m, q]`, frozen.
    pub u: T,
    /// Right singular vectors, `[n, q]`, frozen.
    pub v: T,
    /// Singular values, `[q]`, trained; they start at `Σ₀`.
    pub sigma: T,
    /// `−Σ₀`, `[q]`, frozen: the decomposition's singular values, negated (see the module docs).
    pub neg_sigma0: T,
    /// Bias, `[m]`, frozen (q/k/v in Qwen2).
    pub bias: Option<T>,
}

/// Per-layer activations for a fixed number of token rows `T`.
pub struct SvdLinearActs<T> {
    /// `h = x V`, `[T, q]`, saved by forward for dΣ.
    pub h: T,
    /// Scratch `[T, q]`: `h ⊙ d` in forward where the pair is composed (not one dispatch),
    /// `k = g U` in backward.
    pub scratch: T,
    /// Scratch `[T, q]`: `k ⊙ d` in backward where the pair is composed.
    pub scratch2: T,
}

impl<T: TensorInfo> SvdLinear<T> {
    /// `(m, n, q)`: output features, input features, rank.
    pub fn dims(&self) -> Result<(usize, usize, usize)> {
        let (m, n) = self.w.shape().matrix("svd_linear", "w")?;
        let q = self.sigma.shape().numel();
        shape::expect("svd_linear", "sigma", self.sigma.shape(), &[q])?;
        shape::expect("svd_linear", "neg_sigma0", self.neg_sigma0.shape(), &[q])?;
        shape::expect("svd_linear", "u", self.u.shape(), &[m, q])?;
        shape::expect("svd_linear", "v", self.v.shape(), &[n, q])?;
        if let Some(b) = &self.bias {
            shape::expect("svd_linear", "bias", b.shape(), &[m])?;
        }
        Ok((m, n, q))
    }
}

impl<T: TensorInfo> SvdLinearActs<T> {
    fn check(&self, rows: usize, q: usize) -> Result<()> {
        shape::expect("svd_linear", "acts.h", self.h.shape(), &[rows, q])?;
        shape::expect(
            "svd_linear",
            "acts.scratch",
            self.scratch.shape(),
            &[rows, q],
        )?;
        shape::expect(
            "svd_linear",
            "acts.scratch2",
            self.scratch2.shape(),
            &[rows, q],
        )
    }
}

/// Allocates the activations of one layer for `rows` token rows.
pub fn svd_linear_acts<B: Backend>(
    be: &B,
    rows: usize,
    q: usize,
) -> Result<SvdLinearActs<B::Tensor>> {
    Ok(SvdLinearActs {
        h: be.zeros(&[rows, q])?,
        scratch: be.zeros(&[rows, q])?,
        scratch2: be.zeros(&[rows, q])?,
    })
}

/// An SVD layer from its parts: the original `w` `[m, n]`, `u` `[m, q]`, `v` `[n, q]`, the
/// decomposition's singular values `sigma0` `[q]` (host), and `bias` `[m]`. `Σ` starts at
/// `Σ₀`.
pub fn svd_linear<B: Backend>(
    be: &B,
    w: B::Tensor,
    u: B::Tensor,
    v: B::Tensor,
    sigma0: &[f32],
    bias: Option<B::Tensor>,
) -> Result<SvdLinear<B::Tensor>> {
    let (sigma, neg_sigma0) = sigma_tensors(be, sigma0)?;
    let layer = SvdLinear {
        w,
        u,
        v,
        sigma,
        neg_sigma0,
        bias,
    };
    layer.dims()?;
    Ok(layer)
}

/// `(Σ, −Σ₀)` `[q]` of a new SVD layer whose singular values are `sigma0` (host).
pub fn sigma_tensors<B: Backend>(be: &B, sigma0: &[f32]) -> Result<(B::Tensor, B::Tensor)> {
    let q = sigma0.len();
    let neg: Vec<f32> = sigma0.iter().map(|s| -s).collect();
    Ok((be.tensor(sigma0, &[q])?, be.tensor(&neg, &[q])?))
}

/// `d = Σ − Σ₀` `[q]` of `layer` into `d` (a copy of `Σ`, then `+= −Σ₀`).
pub fn svd_linear_delta<B: Backend>(
    be: &B,
    layer: &SvdLinear<B::Tensor>,
    d: &mut B::Tensor,
) -> Result<()> {
    let (_, _, q) = layer.dims()?;
    be.copy_rows(&layer.sigma, 0, d, 0, q)?;
    be.add_assign(d, &layer.neg_sigma0)
}

/// Forward: `y = x Wᵀ + ((x V) ⊙ (Σ − Σ₀)) Uᵀ + b`. x `[T, n]`, y `[T, m]`; saves `h = x V`
/// in `acts`.
pub fn svd_linear_forward<B: Backend>(
    be: &B,
    layer: &SvdLinear<B::Tensor>,
    x: &B::Tensor,
    acts: &mut SvdLinearActs<B::Tensor>,
    y: &mut B::Tensor,
) -> Result<()> {
    svd_linear_forward_into(be, layer, x, acts, y, false)
}

/// [`svd_linear_forward`], added to what `y` holds when `accumulate` (a residual stream: no
/// separate output and no add).
pub fn svd_linear_forward_into<B: Backend>(
    be: &B,
    layer: &SvdLinear<B::Tensor>,
    x: &B::Tensor,
    acts: &mut SvdLinearActs<B::Tensor>,
    y: &mut B::Tensor,
    accumulate: bool,
) -> Result<()> {
    be.matmul(x, &layer.v, &mut acts.h, Matmul::NN)?;
    svd_linear_output(be, layer, x, acts, y, accumulate)
}

/// The rest of [`svd_linear_forward_into`] once `acts.h` holds `x V` (several layers that read the
/// same `x` project it in one [`Backend::matmul_multi`]): `y (+)= x Wᵀ + (h ⊙ (Σ − Σ₀)) Uᵀ + b`.
pub fn svd_linear_output<B: Backend>(
    be: &B,
    layer: &SvdLinear<B::Tensor>,
    x: &B::Tensor,
    acts: &mut SvdLinearActs<B::Tensor>,
    y: &mut B::Tensor,
    accumulate: bool,
) -> Result<()> {
    let (m, n, q) = layer.dims()?;
    let rows = x.shape().rows();
    shape::expect("svd_linear_forward", "x", x.shape(), &[rows, n])?;
    shape::expect("svd_linear_forward", "y", y.shape(), &[rows, m])?;
    acts.check(rows, q)?;
    let second = PairTerm {
        a: &acts.h,
        b: &layer.u,
        scale: Some((&layer.sigma, &layer.neg_sigma0)),
    };
    let spec = Matmul::NT.accumulate_if(accumulate);
    be.matmul_pair(x, &layer.w, second, y, spec, &mut acts.scratch)?;
    if let Some(b) = &layer.bias {
        be.add_bias(y, b)?;
    }
    Ok(())
}

/// Where an SVD layer's backward puts `Σ_t h ⊙ (g U)`.
pub enum DSigma<'a, T> {
    /// Added to dΣ `[q]` at once.
    Sum(&'a mut T),
    /// Added to row-block partial sums `[q_p ≥ q, R]` ([`Backend::matmul_col_dot`]); the caller
    /// adds them to dΣ later with [`Backend::sum_blocks`] (for many layers in one dispatch).
    Blocks(&'a mut T),
}

/// Backward: `Σ_t h ⊙ (g U)` into `dsigma` and `dx (+)= g W + ((g U) ⊙ (Σ − Σ₀)) Vᵀ`.
/// g `[T, m]`, dx `[T, n]`. Needs `acts.h` from the matching forward (Σ must not change in
/// between).
pub fn svd_linear_backward<B: Backend>(
    be: &B,
    layer: &SvdLinear<B::Tensor>,
    g: &B::Tensor,
    acts: &mut SvdLinearActs<B::Tensor>,
    dx: &mut B::Tensor,
    accumulate_dx: bool,
    dsigma: DSigma<'_, B::Tensor>,
) -> Result<()> {
    let (m, n, q) = layer.dims()?;
    let rows = g.shape().rows();
    shape::expect("svd_linear_backward", "g", g.shape(), &[rows, m])?;
    shape::expect("svd_linear_backward", "dx", dx.shape(), &[rows, n])?;
    acts.check(rows, q)?;
    let k = &mut acts.scratch;
    match dsigma {
        DSigma::Sum(ds) => {
            shape::expect("svd_linear_backward", "dsigma", ds.shape(), &[q])?;
            be.matmul(g, &layer.u, k, Matmul::NN)?;
            be.col_dot(&acts.h, k, None, ds, true)?;
        }
        DSigma::Blocks(partials) => be.matmul_col_dot(g, &layer.u, k, &acts.h, partials)?,
    }
    let first = Matmul::NN.accumulate_if(accumulate_dx);
    let second = PairTerm {
        a: &acts.scratch,
        b: &layer.v,
        scale: Some((&layer.sigma, &layer.neg_sigma0)),
    };
    be.matmul_pair(g, &layer.w, second, dx, first, &mut acts.scratch2)
}
