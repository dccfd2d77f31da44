//! Matrix products and reductions on the host: matmul in all four layouts, column dot products
//! (dΣ, RMSNorm dweight), and the rank-q update `W + U diag(s) Vᵀ` (the SVD merge).
use super::Real;
use crate::backend::Matmul;

/// `c = alpha · op(a) · op(b) (+ c)`; a is `[m, k]` (`[k, m]` if trans_a), b is `[k, n]`
/// (`[n, k]` if trans_b), c is `[m, n]`. Shapes are checked by the caller.
#[allow(clippy::too_many_arguments)]
pub fn matmul<F: Real>(a: &[F], b: &[F], c: &mut [F], m: usize, n: usize, k: usize, spec: Matmul) {
    let a_strides = if spec.trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let b_strides = if spec.trans_b {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    let beta = if spec.accumulate { F::one() } else { F::zero() };
    if k == 0 {
        if !spec.accumulate {
            c.fill(F::zero());
        }
        return;
    }
    if !spec.trans_a && m <= FEW_ROWS {
        return few_rows(a, b, c, m, n, k, spec);
    }
    F::gemm(
        m,
        k,
        n,
        F::from_f32(spec.alpha),
        a,
        a_strides,
        b,
        b_strides,
        beta,
        c,
        (n as isize, 1),
    );
}

/// Up to this many rows (untransposed A) skip the packing GEMM: generation steps multiply one
/// row by whole weight matrices, where packing the weights would cost more than the product.
const FEW_ROWS: usize = 4;

/// `x · y` with eight partial sums, so the compiler can keep them in vector lanes.
fn dot<F: Real>(x: &[F], y: &[F]) -> F {
    let mut acc = [F::zero(); 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: F = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(&p, &q)| p * q)
        .sum();
    for (p, q) in xc.zip(yc) {
        for i in 0..8 {
            acc[i] = acc[i] + p[i] * q[i];
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// `matmul` for `m ≤ FEW_ROWS` rows of an untransposed A: dot products with B's rows (`NT`) or
/// scaled row sums of B (`NN`).
fn few_rows<F: Real>(a: &[F], b: &[F], c: &mut [F], m: usize, n: usize, k: usize, spec: Matmul) {
    let alpha = F::from_f32(spec.alpha);
    for r in 0..m {
        let ar = &a[r * k..(r + 1) * k];
        let cr = &mut c[r * n..(r + 1) * n];
        if spec.trans_b {
            for (j, cj) in cr.iter_mut().enumerate() {
                let v = alpha * dot(ar, &b[j * k..(j + 1) * k]);
                *cj = if spec.accumulate { *cj + v } else { v };
            }
        } else {
            if !spec.accumulate {
                cr.fill(F::zero());
            }
            for (kk, &x) in ar.iter().enumerate() {
                let s = alpha * x;
                for (cj, &bv) in cr.iter_mut().zip(&b[kk * n..(kk + 1) * n]) {
                    *cj = *cj + s * bv;
                }
            }
        }
    }
}

/// `out[c] (+)= Σ_t a[t, c] · b[t, c] · row_scale[t]`. a, b `[rows, cols]`.
pub fn col_dot<F: Real>(
    a: &[F],
    b: &[F],
    row_scale: Option<&[F]>,
    rows: usize,
    cols: usize,
    out: &mut [F],
    accumulate: bool,
) {
    if !accumulate {
        out.fill(F::zero());
    }
    for t in 0..rows {
        let s = row_scale.map_or(F::one(), |r| r[t]);
        let (ar, br) = (&a[t * cols..(t + 1) * cols], &b[t * cols..(t + 1) * cols]);
        for c in 0..cols {
            out[c] = out[c] + ar[c] * br[c] * s;
        }
    }
}

/// `out = w_res + u diag(sigma) vᵀ`. w_res, out `[m, n]`, u `[m, q]`, v `[n, q]`.
#[allow(clippy::too_many_arguments)]
pub fn svd_merge<F: Real>(
    w_res: &[F],
    u: &[F],
    sigma: &[F],
    v: &[F],
    m: usize,
    n: usize,
    q: usize,
    out: &mut [F],
) {
    let us: Vec<F> = (0..m * q).map(|i| u[i] * sigma[i % q]).collect();
    out.copy_from_slice(w_res);
    matmul(&us, v, out, m, n, q, Matmul::NT.accumulate());
}
