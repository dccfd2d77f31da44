//! Host helpers: matrices with a known spectrum and comparisons.
#[allow(unused_imports)]
use super::*;

// ---- host helpers ------------------------------------------------------------------------------

/// A `[rows, cols]` matrix with orthonormal columns (QR of Gaussian data), checked.
pub(crate) fn orthonormal(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let g: Vec<f64> = gaussian(rows, cols, seed)
        .into_iter()
        .map(f64::from)
        .collect();
    let (q, _) = householder_qr(&g, rows, cols);
    assert!(max_dev_from_identity(&q, rows, cols) < 1e-13);
    q
}

/// `max |XᵀX − I|` for `x` `[rows, cols]`.
pub(crate) fn max_dev_from_identity(x: &[f64], rows: usize, cols: usize) -> f64 {
    let g = matmul(&transpose(x, rows, cols), x, cols, rows, cols);
    g.iter()
        .zip(identity(cols))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// `P diag(s) Qᵀ (+ noise · N(0,1))`, `[m, n]`, with random orthonormal P, Q.
pub(crate) fn with_spectrum(m: usize, n: usize, s: &[f64], noise: f64, seed: u64) -> Vec<f64> {
    let r = s.len();
    let p = orthonormal(m, r, seed);
    let q = orthonormal(n, r, seed + 1);
    let ps: Vec<f64> = (0..m * r).map(|i| p[i] * s[i % r]).collect();
    let mut w = matmul(&ps, &transpose(&q, n, r), m, r, n);
    for (x, e) in w.iter_mut().zip(gaussian(m, n, seed + 2)) {
        *x += noise * f64::from(e);
    }
    w
}

pub(crate) fn geometric(r: usize, first: f64, ratio: f64) -> Vec<f64> {
    (0..r).map(|i| first * ratio.powi(i as i32)).collect()
}

pub(crate) fn f32s(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

pub(crate) fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

pub(crate) fn max_abs(x: &[f64]) -> f64 {
    x.iter().map(|v| v.abs()).fold(0.0, f64::max)
}

/// `U diag(s) Vᵀ` from a row-major thin SVD, keeping the first `q` triplets.
pub(crate) fn reconstruct(
    u: &[f64],
    s: &[f64],
    v: &[f64],
    m: usize,
    n: usize,
    r: usize,
    q: usize,
) -> Vec<f64> {
    let us: Vec<f64> = (0..m * q)
        .map(|i| u[(i / q) * r + i % q] * s[i % q])
        .collect();
    let vq: Vec<f64> = (0..n * q).map(|i| v[(i / q) * r + i % q]).collect();
    matmul(&us, &transpose(&vq, n, q), m, q, n)
}
