//! The SVD linear layer, composed once from backend ops so both backends share it.
//!
//! `W ≈ W' + U diag(Σ) Vᵀ` with `W'`, `U`, `V` (and the bias) frozen and `Σ` trained.
//! Forward (factored; the `[m, n]` product is never rebuilt): `h = x V`, `y = x W'ᵀ + (h ⊙ Σ) Uᵀ + b`.
//! Backward with `g = dL/dy`: `k = g U`, `dΣ += Σ_t h_t ⊙ k_t`, `dx (+)= g W' + (k ⊙ Σ) Vᵀ`.
use super::{Backend, Matmul, TensorInfo, shape};
use crate::error::Result;

/// Frozen and trained tensors of one decomposed linear layer (`W` was `[m, n]`, rank `q`).
pub struct SvdLinear<T> {
    /// Residual `W' = W − U diag(s) Vᵀ`, `[m, n]`, frozen.
    pub w_res: T,
    /// Left singular vectors, `[m, q]`, frozen.
    pub u: T,
    /// Right singular vectors, `[n, q]`, frozen.
    pub v: T,
    /// Singular values, `[q]`, trained.
    pub sigma: T,
    /// Bias, `[m]`, frozen (q/k/v in Qwen2).
    pub bias: Option<T>,
}

/// Per-layer activations for a fixed number of token rows `T`.
pub struct SvdLinearActs<T> {
    /// `h = x V`, `[T, q]`, saved by forward for dΣ.
    pub h: T,
    /// Scratch `[T, q]`: `h ⊙ Σ` in forward, `k = g U` in backward.
    pub scratch: T,
    /// Scratch `[T, q]`: `k ⊙ Σ` in backward.
    pub scratch2: T,
}

impl<T: TensorInfo> SvdLinear<T> {
    /// `(m, n, q)`: output features, input features, rank.
    pub fn dims(&self) -> Result<(usize, usize, usize)> {
        let (m, n) = self.w_res.shape().matrix("svd_linear", "w_res")?;
        let q = self.sigma.shape().numel();
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

/// Forward: `y = x W'ᵀ + ((x V) ⊙ Σ) Uᵀ + b`. x `[T, n]`, y `[T, m]`; saves `h` in `acts`.
pub fn svd_linear_forward<B: Backend>(
    be: &B,
    layer: &SvdLinear<B::Tensor>,
    x: &B::Tensor,
    acts: &mut SvdLinearActs<B::Tensor>,
    y: &mut B::Tensor,
) -> Result<()> {
    let (m, n, q) = layer.dims()?;
    let rows = x.shape().rows();
    shape::expect("svd_linear_forward", "x", x.shape(), &[rows, n])?;
    shape::expect("svd_linear_forward", "y", y.shape(), &[rows, m])?;
    acts.check(rows, q)?;
    be.matmul(x, &layer.w_res, y, Matmul::NT)?;
    be.matmul(x, &layer.v, &mut acts.h, Matmul::NN)?;
    be.mul_cols(&acts.h, &layer.sigma, &mut acts.scratch)?;
    be.matmul(&acts.scratch, &layer.u, y, Matmul::NT.accumulate())?;
    if let Some(b) = &layer.bias {
        be.add_bias(y, b)?;
    }
    Ok(())
}

/// Backward: `dsigma += Σ_t h ⊙ (g U)` and `dx (+)= g W' + ((g U) ⊙ Σ) Vᵀ`.
/// g `[T, m]`, dx `[T, n]`, dsigma `[q]`. Needs `acts.h` from the matching forward.
pub fn svd_linear_backward<B: Backend>(
    be: &B,
    layer: &SvdLinear<B::Tensor>,
    g: &B::Tensor,
    acts: &mut SvdLinearActs<B::Tensor>,
    dx: &mut B::Tensor,
    accumulate_dx: bool,
    dsigma: &mut B::Tensor,
) -> Result<()> {
    let (m, n, q) = layer.dims()?;
    let rows = g.shape().rows();
    shape::expect("svd_linear_backward", "g", g.shape(), &[rows, m])?;
    shape::expect("svd_linear_backward", "dx", dx.shape(), &[rows, n])?;
    shape::expect("svd_linear_backward", "dsigma", dsigma.shape(), &[q])?;
    acts.check(rows, q)?;
    let k = &mut acts.scratch;
    be.matmul(g, &layer.u, k, Matmul::NN)?;
    be.col_dot(&acts.h, k, None, dsigma, true)?;
    let first = if accumulate_dx {
        Matmul::NN.accumulate()
    } else {
        Matmul::NN
    };
    be.matmul(g, &layer.w_res, dx, first)?;
    be.mul_cols(k, &layer.sigma, &mut acts.scratch2)?;
    be.matmul(&acts.scratch2, &layer.v, dx, Matmul::NT.accumulate())?;
    Ok(())
}
