//! Randomized truncated SVD of every planned layer (Halko, Martinsson & Tropp 2011, Alg. 4.4 and
//! 5.1; what `torch.svd_lowrank` does): `W ≈ U diag(Σ₀) Vᵀ`. The SVD layer keeps `W` itself and
//! trains `Σ` from `Σ₀` (the delta form, see [`crate::backend::svd_linear`]): no residual
//! `W − U diag(Σ₀) Vᵀ` is built.
//!
//! Per layer `W` `[m, n]`, rank `q`, the work runs on `A = W` when `m ≥ n` and on `A = Wᵀ`
//! otherwise (no copy: the products transpose), so `A` is `[big, c]` with `c = min(m, n)`:
//! 1. `Ω` `[c, k]`, seeded Gaussian, `k = min(q + oversampling, c)`; `Y = A Ω`, orthonormalized.
//! 2. `niter` power iterations: `Z = Aᵀ Q`, orthonormalized; `Y = A Z`, orthonormalized (the
//!    steps before the last `Q` only need a well-conditioned basis: one CholeskyQR pass).
//! 3. `Bᵀ = Aᵀ Q` `[c, k]` = `P R_b` (orthonormalized once more), so `A ≈ Q R_bᵀ Pᵀ`.
//! 4. Jacobi SVD of the small `R_b = X S Wᵀ` on the host (f64): `A ≈ (Q W) S (P X)ᵀ`.
//! 5. The top `q`: left vectors `Q W[:, :q]`, right vectors `P X[:, :q]` (backend products),
//!    `Σ₀ = S[:q]`.
//!
//! Every product with `W` runs on the backend; only `k × k` matrices cross to the host (see
//! [`super::orth`] for the orthonormalization and its fallback). With `q = min(m, n)` the range
//! is all of `A`'s columns and the decomposition is exact (`W ≈ U diag(Σ₀) Vᵀ`).
//!
//! A whole model's layers, side by side where the backend allows: `whole_model.rs`, whose
//! functions are re-exported here.
use super::dense;
use super::orth::{OrthMethod, OrthStrategy, Orthonormalized, basis, orthonormalize};
use crate::backend::{Backend, Format, Matmul, SvdLinear, TensorInfo, svd_linear};
use crate::error::{Error, Result};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// Settings of the randomized SVD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecomposeOptions {
    /// Extra test vectors beyond `q` (capped so that `q + oversampling ≤ min(m, n)`).
    pub oversampling: usize,
    /// Power (subspace) iterations; 2 as in `torch.svd_lowrank` and the reference library.
    pub niter: usize,
    /// Seed of the Gaussian test matrices; each layer derives its own from it and its index.
    pub seed: u64,
    /// How the tall matrices are orthonormalized.
    pub orth: OrthStrategy,
    /// How the frozen factors `U` and `V` are held: f32, or packed f16 (half their memory;
    /// they are only ever B operands of the layer's products).
    pub factor_format: Format,
}

impl Default for DecomposeOptions {
    fn default() -> Self {
        DecomposeOptions {
            oversampling: 8,
            niter: 2,
            seed: 0,
            orth: OrthStrategy::Auto,
            factor_format: Format::F32,
        }
    }
}

/// The starting point of one decomposed layer, in plan order.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInit {
    /// Module path (`model.layers.3.self_attn.q_proj`, `lm_head`).
    pub module: String,
    pub q: usize,
    /// `Σ₀`, `[q]`, descending: the values `Σ` starts from (and the merge baseline).
    pub sigma0: Vec<f32>,
}

/// How one layer's decomposition went (for benchmarks and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecomposeTrace {
    /// Intermediate bases made by one CholeskyQR pass on the backend.
    pub cholesky_qr: usize,
    /// Orthonormalizations done by CholeskyQR2 on the backend.
    pub cholesky_qr2: usize,
    /// Orthonormalizations done by Householder QR on the host.
    pub householder: usize,
    /// Sweeps of the small Jacobi SVD.
    pub jacobi_sweeps: usize,
    /// Test vectors used (`k`).
    pub k: usize,
}

/// The seed of layer `index` (0-based, plan order) under the run seed `seed`.
pub fn layer_seed(seed: u64, index: usize) -> u64 {
    splitmix64(seed ^ splitmix64(index as u64 + 1))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `rows · cols` standard normal values (Box–Muller on xoshiro256++), row-major.
pub fn gaussian(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut unit = move || ((rng.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64);
    let mut out = Vec::with_capacity(rows * cols + 1);
    while out.len() < rows * cols {
        let u1 = 1.0 - unit(); // (0, 1]: ln is finite
        let u2 = unit();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        out.push((r * theta.cos()) as f32);
        out.push((r * theta.sin()) as f32);
    }
    out.truncate(rows * cols);
    out
}

/// The top-`q` singular triplets of one weight: `W ≈ U diag(Σ₀) Vᵀ`.
pub struct Factors<T> {
    /// Left singular vectors, `[m, q]`.
    pub u: T,
    /// Right singular vectors, `[n, q]`.
    pub v: T,
    /// `Σ₀`, `[q]`, descending.
    pub sigma0: Vec<f32>,
    pub trace: DecomposeTrace,
}

impl<T> Factors<T> {
    /// The SVD layer of `w` (moved in, frozen) with these factors and `bias`; `Σ` starts at `Σ₀`.
    pub fn into_layer<B: Backend<Tensor = T>>(
        self,
        be: &B,
        w: T,
        bias: Option<T>,
    ) -> Result<SvdLinear<T>> {
        svd_linear(be, w, self.u, self.v, &self.sigma0, bias)
    }
}

/// Decomposes `w` `[m, n]` at rank `q` (`1 ≤ q ≤ min(m, n)`) with the layer seed `opts.seed`.
/// Returns the SVD layer (`w` moved in, `U` `[m, q]`, `V` `[n, q]`, `Σ = Σ₀`, and `bias`) and a
/// host copy of `Σ₀`.
pub async fn decompose_layer<B: Backend>(
    be: &B,
    w: B::Tensor,
    bias: Option<B::Tensor>,
    q: usize,
    opts: &DecomposeOptions,
) -> Result<(SvdLinear<B::Tensor>, Vec<f32>)> {
    decompose_layer_traced(be, w, bias, q, opts)
        .await
        .map(|(layer, sigma, _)| (layer, sigma))
}

/// [`decompose_layer`], also reporting how the decomposition went.
pub async fn decompose_layer_traced<B: Backend>(
    be: &B,
    w: B::Tensor,
    bias: Option<B::Tensor>,
    q: usize,
    opts: &DecomposeOptions,
) -> Result<(SvdLinear<B::Tensor>, Vec<f32>, DecomposeTrace)> {
    if let Some(b) = &bias {
        let (m, _) = w.shape().matrix("decompose", "weight")?;
        if b.shape().dims() != [m] {
            return Err(Error::Shape {
                op: "decompose",
                what: "bias",
                expected: format!("[{m}]"),
                found: b.shape().to_string(),
            });
        }
    }
    let w32 = crate::backend::unpacked(be, &w)?;
    let f = factors(be, w32.as_ref().unwrap_or(&w), q, opts).await?;
    drop(w32);
    let (sigma0, trace) = (f.sigma0.clone(), f.trace);
    Ok((f.into_layer(be, w, bias)?, sigma0, trace))
}

/// The randomized SVD of `w` `[m, n]` at rank `q` (`1 ≤ q ≤ min(m, n)`) with the layer seed
/// `opts.seed`. `w` is only read.
pub async fn factors<B: Backend>(
    be: &B,
    w: &B::Tensor,
    q: usize,
    opts: &DecomposeOptions,
) -> Result<Factors<B::Tensor>> {
    let (m, n) = w.shape().matrix("decompose", "weight")?;
    let c = m.min(n);
    if q == 0 || q > c {
        return Err(Error::param(
            "decompose",
            format!("rank {q} for a [{m}, {n}] weight: it must be between 1 and {c}"),
        ));
    }
    let a = Oriented { w, wide: m < n };
    let big = m.max(n);
    let k = (q + opts.oversampling).min(c);
    let mut trace = DecomposeTrace {
        k,
        ..DecomposeTrace::default()
    };
    // `full`: orthonormal to working precision; otherwise a well-conditioned basis suffices.
    let mut orth = async |y: B::Tensor, full: bool, what: &str| {
        let o: Orthonormalized<B::Tensor> = if full {
            orthonormalize(be, y, opts.orth, what).await?
        } else {
            basis(be, y, opts.orth, what).await?
        };
        match o.method {
            OrthMethod::CholeskyQr => trace.cholesky_qr += 1,
            OrthMethod::CholeskyQr2 => trace.cholesky_qr2 += 1,
            OrthMethod::Householder => trace.householder += 1,
        }
        Ok::<_, Error>(o)
    };

    // Range finder: Q [big, k] with orthonormal columns spanning (nearly) A's top-k range. Only
    // the last Q needs to be orthonormal; the steps before it only carry the subspace along.
    let omega = be.tensor(&gaussian(c, k, opts.seed), &[c, k])?;
    let y = a.times(be, &omega, big, k)?;
    drop(omega);
    let mut q_big = orth(y, opts.niter == 0, "W·Ω").await?.q;
    for i in 0..opts.niter {
        let z = orth(a.t_times(be, &q_big, c, k)?, false, "Wᵀ·Q").await?.q;
        let last = i + 1 == opts.niter;
        q_big = orth(a.times(be, &z, big, k)?, last, "W·Z").await?.q;
    }
    // Bᵀ = Aᵀ Q = P R_b, and the small SVD R_b = X S Wᵀ on the host.
    let b = orth(a.t_times(be, &q_big, c, k)?, true, "Bᵀ").await?;
    let small = dense::jacobi_svd(&b.r, k, k);
    trace.jacobi_sweeps = small.sweeps;
    let top = |vecs: &[f64]| -> Result<B::Tensor> {
        let cols: Vec<f32> = (0..k * q)
            .map(|i| vecs[(i / q) * k + i % q] as f32)
            .collect();
        be.tensor(&cols, &[k, q])
    };
    let mut left = be.zeros_large(&[big, q])?;
    be.matmul(&q_big, &top(&small.v)?, &mut left, Matmul::NN)?;
    drop(q_big);
    let mut right = be.zeros(&[c, q])?;
    be.matmul(&b.q, &top(&small.u)?, &mut right, Matmul::NN)?;
    drop(b);
    let (u, v) = if a.wide { (right, left) } else { (left, right) };

    let sigma0: Vec<f32> = small.s[..q].iter().map(|&s| s as f32).collect();
    Ok(Factors {
        u,
        v,
        sigma0,
        trace,
    })
}

/// `A` = `W` (tall or square) or `Wᵀ` (wide), used through transposing products.
struct Oriented<'a, T> {
    w: &'a T,
    wide: bool,
}

impl<T> Oriented<'_, T> {
    /// `A x` `[big, k]` for `x` `[c, k]`.
    fn times<B: Backend<Tensor = T>>(&self, be: &B, x: &T, big: usize, k: usize) -> Result<T> {
        let mut out = be.zeros_large(&[big, k])?;
        let spec = if self.wide { Matmul::TN } else { Matmul::NN };
        be.matmul(self.w, x, &mut out, spec)?;
        Ok(out)
    }
    /// `Aᵀ x` `[c, k]` for `x` `[big, k]`.
    fn t_times<B: Backend<Tensor = T>>(&self, be: &B, x: &T, c: usize, k: usize) -> Result<T> {
        let mut out = be.zeros(&[c, k])?;
        let spec = if self.wide { Matmul::NN } else { Matmul::TN };
        be.matmul(self.w, x, &mut out, spec)?;
        Ok(out)
    }
}

pub use super::whole_model::{
    decompose_model, decompose_model_until, layer_scratch_bytes, never_stop,
};
