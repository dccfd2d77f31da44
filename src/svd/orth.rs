//! Orthonormalization of a tall backend matrix `Y` `[rows, k]` (`rows ≥ k`, `k` small), the step
//! the randomized range finder repeats after every product with `W`.
//!
//! CholeskyQR2 keeps the tall matrix on the backend: the Gram matrix `Yᵀ Y` (`[k, k]`, one
//! backend product) is read back, factored on the host in f64 (`Yᵀ Y = Rᵀ R`), and `Q = Y R⁻¹`
//! is one more backend product; a second pass on `Q` restores orthogonality to working precision.
//! Only `k × k` values cross to the host, which suits WebGPU, where each read-back is a round trip.
//! CholeskyQR squares the condition number, so an ill-conditioned or rank-deficient `Y` (a
//! rank-deficient weight, a spectrum that falls off within `k`) falls back to Householder QR on
//! the host in f64, which is orthonormal whatever `Y` is. Intermediate power-iteration steps need
//! only a well-conditioned basis of the range, and [`basis`] stops after one Cholesky pass.
use super::dense;
use crate::backend::{Backend, Matmul, TensorInfo};
use crate::error::{Error, Result};

/// How one orthonormalization was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrthMethod {
    /// One Cholesky pass on the backend ([`basis`] only).
    CholeskyQr,
    /// Two Cholesky passes on the backend.
    CholeskyQr2,
    /// Householder QR on the host (read back, f64, uploaded).
    Householder,
}

/// What callers may ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrthStrategy {
    /// CholeskyQR2, falling back to Householder when `Y` is too ill-conditioned for it.
    #[default]
    Auto,
    /// Always Householder on the host.
    Householder,
}

/// `Y = Q R`: `q` `[rows, k]` with orthonormal columns on the backend, `r` `[k, k]` upper
/// triangular on the host (row-major, f64).
pub struct Orthonormalized<T> {
    pub q: T,
    pub r: Vec<f64>,
    pub method: OrthMethod,
}

/// First pass: a pivot below this share of the largest Gram diagonal means `κ(Y)` is in the
/// hundreds or more, where the f32 Gram matrix no longer determines `R` well enough.
const FIRST_PASS_TOL: f64 = 1e-5;
/// Second pass: the Gram matrix of the first pass's `Q` must be this close to the identity
/// (max abs entry of `QᵀQ − I`); otherwise the first pass lost too much and Householder redoes it.
const SECOND_PASS_MAX_DEVIATION: f64 = 0.25;

/// Orthonormalizes `y` `[rows, k]` (`rows ≥ k ≥ 1`). Errors when `y` holds non-finite values
/// (`what` names the matrix in the message).
pub async fn orthonormalize<B: Backend>(
    be: &B,
    y: B::Tensor,
    strategy: OrthStrategy,
    what: &str,
) -> Result<Orthonormalized<B::Tensor>> {
    factor(be, y, strategy, 2, what).await
}

/// A well-conditioned basis of `y`'s range, for the intermediate power-iteration steps, where
/// only the span matters: one CholeskyQR pass (`QᵀQ = I` up to about `κ(Y)² · ε`, which the
/// first-pass check keeps small), with the same Householder fallback.
pub async fn basis<B: Backend>(
    be: &B,
    y: B::Tensor,
    strategy: OrthStrategy,
    what: &str,
) -> Result<Orthonormalized<B::Tensor>> {
    factor(be, y, strategy, 1, what).await
}

/// CholeskyQR with `passes` (1 or 2) passes, or Householder.
async fn factor<B: Backend>(
    be: &B,
    y: B::Tensor,
    strategy: OrthStrategy,
    passes: usize,
    what: &str,
) -> Result<Orthonormalized<B::Tensor>> {
    let (rows, k) = y.shape().matrix("orthonormalize", "y")?;
    if k == 0 || rows < k {
        return Err(Error::param(
            "orthonormalize",
            format!("{what}: needs rows ≥ columns ≥ 1, got [{rows}, {k}]"),
        ));
    }
    if strategy == OrthStrategy::Auto {
        let g1 = gram(be, &y, what).await?;
        if let Some(r1) = dense::cholesky_upper(&g1, k, FIRST_PASS_TOL) {
            let q1 = times_inverse(be, &y, &r1, rows, k)?;
            if passes == 1 {
                return Ok(Orthonormalized {
                    q: q1,
                    r: r1,
                    method: OrthMethod::CholeskyQr,
                });
            }
            let g2 = gram(be, &q1, what).await?;
            let deviation = g2
                .iter()
                .enumerate()
                .map(|(i, x)| (x - if i / k == i % k { 1.0 } else { 0.0 }).abs())
                .fold(0.0, f64::max);
            if deviation <= SECOND_PASS_MAX_DEVIATION
                && let Some(r2) = dense::cholesky_upper(&g2, k, 0.0)
            {
                let q = times_inverse(be, &q1, &r2, rows, k)?;
                return Ok(Orthonormalized {
                    q,
                    r: dense::matmul(&r2, &r1, k, k, k),
                    method: OrthMethod::CholeskyQr2,
                });
            }
        }
    }
    householder(be, &y, rows, k, what).await
}

/// `Yᵀ Y` `[k, k]` on the backend, read back as f64 and symmetrized.
async fn gram<B: Backend>(be: &B, y: &B::Tensor, what: &str) -> Result<Vec<f64>> {
    let k = y.shape().row_width();
    let mut g = be.zeros(&[k, k])?;
    be.matmul(y, y, &mut g, Matmul::TN)?;
    let g = be.read(&g).await?;
    if g.iter().any(|x| !x.is_finite()) {
        return Err(non_finite(what));
    }
    let mut out = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            out[i * k + j] = 0.5 * (f64::from(g[i * k + j]) + f64::from(g[j * k + i]));
        }
    }
    Ok(out)
}

/// `Y R⁻¹` on the backend.
fn times_inverse<B: Backend>(
    be: &B,
    y: &B::Tensor,
    r: &[f64],
    rows: usize,
    k: usize,
) -> Result<B::Tensor> {
    let inv: Vec<f32> = dense::upper_inverse(r, k)
        .iter()
        .map(|&x| x as f32)
        .collect();
    let inv = be.tensor(&inv, &[k, k])?;
    let mut q = be.zeros_large(&[rows, k])?;
    be.matmul(y, &inv, &mut q, Matmul::NN)?;
    Ok(q)
}

/// Householder QR on the host: read `y` back, factor in f64, upload `Q`.
async fn householder<B: Backend>(
    be: &B,
    y: &B::Tensor,
    rows: usize,
    k: usize,
    what: &str,
) -> Result<Orthonormalized<B::Tensor>> {
    let host = be.read(y).await?;
    if host.iter().any(|x| !x.is_finite()) {
        return Err(non_finite(what));
    }
    let host: Vec<f64> = host.into_iter().map(f64::from).collect();
    let (q, r) = dense::householder_qr(&host, rows, k);
    let q: Vec<f32> = q.into_iter().map(|x| x as f32).collect();
    let mut q_t = be.zeros_large(&[rows, k])?;
    be.write(&mut q_t, &q)?;
    Ok(Orthonormalized {
        q: q_t,
        r,
        method: OrthMethod::Householder,
    })
}

fn non_finite(what: &str) -> Error {
    Error::param(
        "decompose",
        format!("{what} has non-finite values (the weight holds NaN or infinity)"),
    )
}
