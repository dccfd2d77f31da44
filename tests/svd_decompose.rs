//! The randomized truncated SVD: the host linear algebra it rests on (Jacobi SVD, Householder QR,
//! Cholesky) against matrices built with a known spectrum; single layers against an exact SVD
//! (singular values, singular subspaces, orthonormal U and V, exact merge), exact at full rank,
//! rank-deficient and broken weights, seeding, both orthonormalization paths, GPU against CPU;
//! and whole tiny models whose logits must not change when every layer is decomposed.
mod common;
use common::*;
use svdtune::backend::SvdLinear;
use svdtune::backend::cpu::{CpuBackend, CpuTensor};
use svdtune::backend::{Backend, TensorInfo};
use svdtune::model::weights::Linear;
use svdtune::model::{MemoryFiles, Model};
use svdtune::svd::SvdPlan;
use svdtune::svd::decompose::{
    DecomposeOptions, decompose_layer, decompose_layer_traced, decompose_model, gaussian,
    layer_seed,
};
use svdtune::svd::dense::{
    Svd, cholesky_upper, householder_qr, identity, jacobi_svd, matmul, transpose, upper_inverse,
};
use svdtune::svd::orth::{OrthMethod, OrthStrategy, basis, orthonormalize};

// ---- host helpers ------------------------------------------------------------------------------

/// A `[rows, cols]` matrix with orthonormal columns (QR of Gaussian data), checked.
fn orthonormal(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let g: Vec<f64> = gaussian(rows, cols, seed)
        .into_iter()
        .map(f64::from)
        .collect();
    let (q, _) = householder_qr(&g, rows, cols);
    assert!(max_dev_from_identity(&q, rows, cols) < 1e-13);
    q
}

/// `max |XᵀX − I|` for `x` `[rows, cols]`.
fn max_dev_from_identity(x: &[f64], rows: usize, cols: usize) -> f64 {
    let g = matmul(&transpose(x, rows, cols), x, cols, rows, cols);
    g.iter()
        .zip(identity(cols))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// `P diag(s) Qᵀ (+ noise · N(0,1))`, `[m, n]`, with random orthonormal P, Q.
fn with_spectrum(m: usize, n: usize, s: &[f64], noise: f64, seed: u64) -> Vec<f64> {
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

fn geometric(r: usize, first: f64, ratio: f64) -> Vec<f64> {
    (0..r).map(|i| first * ratio.powi(i as i32)).collect()
}

fn f32s(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

fn max_abs(x: &[f64]) -> f64 {
    x.iter().map(|v| v.abs()).fold(0.0, f64::max)
}

/// `U diag(s) Vᵀ` from a row-major thin SVD, keeping the first `q` triplets.
fn reconstruct(
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

// ---- host linear algebra ------------------------------------------------------------------------

#[test]
fn jacobi_svd_recovers_a_known_spectrum() {
    for &(m, n) in &[(40, 25), (25, 40), (30, 30)] {
        let r = m.min(n);
        let s = geometric(r, 7.0, 0.8);
        let a = with_spectrum(m, n, &s, 0.0, 11);
        let Svd {
            u,
            s: got,
            v,
            sweeps,
        } = jacobi_svd(&a, m, n);
        assert!(sweeps < 20, "{m}x{n}: {sweeps} sweeps");
        for (i, (g, w)) in got.iter().zip(&s).enumerate() {
            assert!((g - w).abs() <= 1e-12 * w, "{m}x{n}: s[{i}] {g} vs {w}");
        }
        assert!(max_dev_from_identity(&u, m, r) < 1e-12, "{m}x{n}: U");
        assert!(max_dev_from_identity(&v, n, r) < 1e-12, "{m}x{n}: V");
        let back = reconstruct(&u, &got, &v, m, n, r, r);
        let err = max_abs(&back.iter().zip(&a).map(|(x, y)| x - y).collect::<Vec<_>>());
        assert!(
            err < 1e-12 * 7.0,
            "{m}x{n}: U S Vᵀ differs from A by {err:e}"
        );
    }
}

#[test]
fn jacobi_svd_of_rank_deficient_and_zero_matrices_keeps_orthonormal_vectors() {
    let s = [3.0, 2.0, 1.0];
    let a = with_spectrum(20, 12, &s, 0.0, 5);
    let svd = jacobi_svd(&a, 20, 12);
    assert!(
        svd.s[..3]
            .iter()
            .zip(&s)
            .all(|(g, w)| (g - w).abs() < 1e-12)
    );
    assert!(svd.s[3..].iter().all(|&x| x < 1e-13), "{:?}", svd.s);
    assert!(max_dev_from_identity(&svd.u, 20, 12) < 1e-12);
    assert!(max_dev_from_identity(&svd.v, 12, 12) < 1e-12);
    let zero = jacobi_svd(&[0.0; 6 * 4], 6, 4);
    assert_eq!(zero.s, vec![0.0; 4]);
    assert!(max_dev_from_identity(&zero.u, 6, 4) < 1e-15);
    assert!(max_dev_from_identity(&zero.v, 4, 4) < 1e-15);
}

#[test]
fn householder_qr_and_cholesky_agree() {
    let (rows, cols) = (50, 12);
    let y: Vec<f64> = f64s(&rand_vec(rows * cols, 3));
    let (q, r) = householder_qr(&y, rows, cols);
    assert!(max_dev_from_identity(&q, rows, cols) < 1e-13);
    let qr = matmul(&q, &r, rows, cols, cols);
    assert!(max_abs(&qr.iter().zip(&y).map(|(a, b)| a - b).collect::<Vec<_>>()) < 1e-13);
    for i in 0..cols {
        assert!(r[i * cols + i] >= 0.0);
        assert!(
            (0..i).all(|j| r[i * cols + j] == 0.0),
            "R not upper triangular"
        );
    }
    // The Cholesky factor of YᵀY is the same R (both with a positive diagonal).
    let g = matmul(&transpose(&y, rows, cols), &y, cols, rows, cols);
    let rc = cholesky_upper(&g, cols, 0.0).expect("YᵀY is positive definite");
    assert!(max_abs(&rc.iter().zip(&r).map(|(a, b)| a - b).collect::<Vec<_>>()) < 1e-12);
    let eye = matmul(&upper_inverse(&rc, cols), &rc, cols, cols, cols);
    assert!(max_dev_from_identity(&eye, cols, cols) < 2.0, "sanity");
    assert!(
        eye.iter()
            .zip(identity(cols))
            .all(|(a, b)| (a - b).abs() < 1e-13)
    );
    // Rank-deficient: a repeated and a zero column still give an orthonormal Q with Q R = Y.
    let mut d = y.clone();
    for i in 0..rows {
        d[i * cols + 5] = d[i * cols + 2];
        d[i * cols + 7] = 0.0;
    }
    let (q, r) = householder_qr(&d, rows, cols);
    assert!(max_dev_from_identity(&q, rows, cols) < 1e-13);
    let qr = matmul(&q, &r, rows, cols, cols);
    assert!(max_abs(&qr.iter().zip(&d).map(|(a, b)| a - b).collect::<Vec<_>>()) < 1e-13);
    let gd = matmul(&transpose(&d, rows, cols), &d, cols, rows, cols);
    assert!(
        cholesky_upper(&gd, cols, 1e-10).is_none(),
        "singular Gram accepted"
    );
}

#[test]
fn gaussian_test_matrix_is_seeded_and_standard_normal() {
    let a = gaussian(300, 100, 1);
    assert_eq!(a, gaussian(300, 100, 1));
    assert_ne!(a, gaussian(300, 100, 2));
    let mean = a.iter().map(|&x| f64::from(x)).sum::<f64>() / a.len() as f64;
    let var = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / a.len() as f64 - mean * mean;
    assert!(
        mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
        "mean {mean} var {var}"
    );
    assert_ne!(layer_seed(0, 0), layer_seed(0, 1));
    assert_ne!(layer_seed(0, 0), layer_seed(1, 0));
}

// ---- one layer ----------------------------------------------------------------------------------

/// Host copies of a decomposed layer: (W', U, Σ, V).
async fn host<B: Backend>(be: &B, l: &SvdLinear<B::Tensor>) -> [Vec<f64>; 4] {
    [
        f64s(&be.read(&l.w_res).await.unwrap()),
        f64s(&be.read(&l.u).await.unwrap()),
        f64s(&be.read(&l.sigma).await.unwrap()),
        f64s(&be.read(&l.v).await.unwrap()),
    ]
}

/// Checks one decomposition of `w` `[m, n]` at rank `q` against the exact SVD `exact`:
/// Σ₀ (relative `sigma_rtol`), orthonormal U and V, `U diag(Σ₀) Vᵀ` against the exact rank-q
/// truncation (`product_tol`·σ₁), and the merge `W' + U diag(Σ₀) Vᵀ = W` (1e-5·max|W|).
#[allow(clippy::too_many_arguments)]
async fn check_layer<B: Backend>(
    be: &B,
    what: &str,
    w: &[f64],
    (m, n): (usize, usize),
    q: usize,
    layer: &SvdLinear<B::Tensor>,
    sigma0: &[f32],
    exact: &Svd,
    sigma_rtol: f64,
    product_tol: f64,
) {
    let [w_res, u, sigma, v] = host(be, layer).await;
    assert_eq!(layer.u.shape().dims(), [m, q], "{what}: U shape");
    assert_eq!(layer.v.shape().dims(), [n, q], "{what}: V shape");
    assert_eq!(sigma, f64s(sigma0), "{what}: Σ tensor vs host copy");
    for (i, (&g, &e)) in sigma.iter().zip(&exact.s).enumerate().take(q) {
        assert!(
            (g - e).abs() <= sigma_rtol * e + 1e-6 * exact.s[0],
            "{what}: σ[{i}] = {g}, exact {e}"
        );
    }
    let du = max_dev_from_identity(&u, m, q);
    let dv = max_dev_from_identity(&v, n, q);
    assert!(
        du < 1e-5 && dv < 1e-5,
        "{what}: |UᵀU − I| {du:e}, |VᵀV − I| {dv:e}"
    );
    let r = m.min(n);
    let ours = reconstruct(&u, &sigma, &v, m, n, q, q);
    let best = reconstruct(&exact.u, &exact.s, &exact.v, m, n, r, q);
    let diff = max_abs(
        &ours
            .iter()
            .zip(&best)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
    );
    assert!(
        diff <= product_tol * exact.s[0],
        "{what}: U Σ Vᵀ differs from the exact rank-{q} truncation by {diff:e}"
    );
    let merged: Vec<f64> = w_res.iter().zip(&ours).map(|(a, b)| a + b).collect();
    let err = max_abs(&merged.iter().zip(w).map(|(a, b)| a - b).collect::<Vec<_>>());
    assert!(
        err <= 1e-5 * max_abs(w),
        "{what}: W' + U Σ Vᵀ differs from W by {err:e} (max |W| {})",
        max_abs(w)
    );
}

/// Tall and wide weights with a decaying spectrum plus noise, against the exact SVD.
async fn known_spectrum_on<B: Backend>(be: &B) {
    for &(m, n) in &[(96, 64), (64, 96)] {
        let s = geometric(48, 10.0, 0.75);
        let w = with_spectrum(m, n, &s, 1e-4, 21);
        let exact = jacobi_svd(&w, m, n);
        // The exact SVD sees the constructed spectrum (up to the noise).
        for (i, (e, c)) in exact.s.iter().zip(&s).enumerate().take(20) {
            assert!((e - c).abs() < 2e-3, "exact σ[{i}] {e} vs constructed {c}");
        }
        let wt = be.tensor(&f32s(&w), &[m, n]).unwrap();
        let q = 8;
        let (layer, sigma0, trace) =
            decompose_layer_traced(be, &wt, None, q, &DecomposeOptions::default())
                .await
                .unwrap();
        assert_eq!(trace.k, 16);
        // Y₀, Z₁, Y₁, Z₂ as bases; the last Y and Bᵀ orthonormal; no fallback needed here.
        assert_eq!(
            (trace.cholesky_qr, trace.cholesky_qr2, trace.householder),
            (4, 2, 0)
        );
        let what = format!("{} {m}x{n}", be.name());
        check_layer(
            be,
            &what,
            &w,
            (m, n),
            q,
            &layer,
            &sigma0,
            &exact,
            1e-5,
            1e-4,
        )
        .await;
    }
}

async fn known_spectrum() {
    known_spectrum_on(&CpuBackend).await;
}
gpu_test!(singular_values_match_an_exact_svd, known_spectrum);

/// A flat spectrum (no gap after q): Σ₀ is still close, the merge still exact.
async fn flat_spectrum() {
    let (m, n) = (80, 60);
    let w = f64s(&rand_vec(m * n, 9));
    let exact = jacobi_svd(&w, m, n);
    let wt = CpuBackend.tensor(&f32s(&w), &[m, n]).unwrap();
    let (layer, sigma0) = decompose_layer(&CpuBackend, &wt, None, 10, &Default::default())
        .await
        .unwrap();
    // Randomized SVD underestimates when the spectrum is flat: within a few percent here.
    check_layer(
        &CpuBackend,
        "flat",
        &w,
        (m, n),
        10,
        &layer,
        &sigma0,
        &exact,
        0.06,
        1.0,
    )
    .await;
    assert!(sigma0.windows(2).all(|p| p[0] >= p[1]), "Σ₀ not descending");
}
gpu_test!(
    flat_spectrum_gives_close_values_and_exact_merge,
    flat_spectrum
);

/// q = min(m, n): the decomposition is the whole matrix and W' vanishes.
async fn full_rank() {
    for &(m, n) in &[(24, 40), (40, 24), (16, 16)] {
        let w = f64s(&rand_vec(m * n, 4));
        let exact = jacobi_svd(&w, m, n);
        let q = m.min(n);
        let wt = CpuBackend.tensor(&f32s(&w), &[m, n]).unwrap();
        let (layer, sigma0) = decompose_layer(&CpuBackend, &wt, None, q, &Default::default())
            .await
            .unwrap();
        let what = format!("full rank {m}x{n}");
        check_layer(
            &CpuBackend,
            &what,
            &w,
            (m, n),
            q,
            &layer,
            &sigma0,
            &exact,
            1e-5,
            1e-5,
        )
        .await;
        let w_res = f64s(&layer.w_res.data);
        assert!(
            max_abs(&w_res) < 1e-5,
            "{what}: max |W'| = {:e}",
            max_abs(&w_res)
        );
    }
}
gpu_test!(full_rank_decomposition_is_exact, full_rank);

/// Rank 3 at q = 8, and an all-zero weight: orthonormal U, V, zero tail, exact merge.
async fn rank_deficient() {
    let (m, n) = (48, 32);
    let w = with_spectrum(m, n, &[5.0, 3.0, 1.0], 0.0, 8);
    let exact = jacobi_svd(&w, m, n);
    let wt = CpuBackend.tensor(&f32s(&w), &[m, n]).unwrap();
    let (layer, sigma0, trace) =
        decompose_layer_traced(&CpuBackend, &wt, None, 8, &Default::default())
            .await
            .unwrap();
    assert!(trace.householder > 0, "rank 3 at k = 16 needs the fallback");
    check_layer(
        &CpuBackend,
        "rank 3",
        &w,
        (m, n),
        8,
        &layer,
        &sigma0,
        &exact,
        1e-5,
        1e-5,
    )
    .await;
    assert!(sigma0[3..].iter().all(|&s| s < 1e-5), "{sigma0:?}");
    assert!(max_abs(&f64s(&layer.w_res.data)) < 1e-5);

    let zero = CpuBackend.zeros(&[20, 30]).unwrap();
    let (layer, sigma0) = decompose_layer(&CpuBackend, &zero, None, 5, &Default::default())
        .await
        .unwrap();
    assert_eq!(sigma0, vec![0.0; 5]);
    assert!(layer.w_res.data.iter().all(|&x| x == 0.0));
    assert!(max_dev_from_identity(&f64s(&layer.u.data), 20, 5) < 1e-6);
    assert!(max_dev_from_identity(&f64s(&layer.v.data), 30, 5) < 1e-6);
}
gpu_test!(rank_deficient_and_zero_weights_decompose, rank_deficient);

/// Bad input is an error naming the problem, never a panic.
async fn bad_input() {
    let be = CpuBackend;
    let w = be.tensor(&rand_vec(12 * 8, 1), &[12, 8]).unwrap();
    let opts = DecomposeOptions::default();
    for q in [0, 9] {
        let e = decompose_layer(&be, &w, None, q, &opts)
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("between 1 and 8"), "{e}");
    }
    let bias = be.zeros(&[8]).unwrap();
    let e = decompose_layer(&be, &w, Some(bias), 2, &opts)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("bias"), "{e}");
    let vector = be.zeros(&[12]).unwrap();
    assert!(decompose_layer(&be, &vector, None, 1, &opts).await.is_err());
    let mut data = rand_vec(12 * 8, 1);
    data[17] = f32::NAN;
    let nan = be.tensor(&data, &[12, 8]).unwrap();
    let e = decompose_layer(&be, &nan, None, 2, &opts)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("non-finite"), "{e}");
}
gpu_test!(bad_weights_and_ranks_are_errors, bad_input);

/// The same seed gives the same bits; another seed another test matrix but the same Σ₀.
async fn seeding() {
    let (m, n) = (70, 50);
    let w = with_spectrum(m, n, &geometric(50, 4.0, 0.8), 1e-4, 2);
    let wt = CpuBackend.tensor(&f32s(&w), &[m, n]).unwrap();
    let run = async |seed| {
        let opts = DecomposeOptions {
            seed,
            ..Default::default()
        };
        decompose_layer(&CpuBackend, &wt, None, 6, &opts)
            .await
            .unwrap()
    };
    let (a, sa) = run(1).await;
    let (b, sb) = run(1).await;
    let (c, sc) = run(2).await;
    assert_eq!(sa, sb);
    assert_eq!(a.u.data, b.u.data);
    assert_eq!(a.v.data, b.v.data);
    assert_eq!(a.w_res.data, b.w_res.data);
    assert_ne!(
        a.w_res.data, c.w_res.data,
        "another seed, same rounding everywhere"
    );
    assert_close("Σ₀ with another seed", &sc, &sa, 0.0, 1e-5);
}
gpu_test!(same_seed_same_bits_other_seed_same_values, seeding);

/// CholeskyQR2 for well-conditioned input, Householder when the condition number is too large;
/// both orthonormal with `Q R = Y`; the forced Householder strategy too; and the one-pass basis.
async fn orth_paths() {
    let be = CpuBackend;
    let (rows, k) = (200, 12);
    let cases = [
        (
            "well-conditioned",
            geometric(k, 1.0, 0.8),
            OrthMethod::CholeskyQr2,
        ),
        ("κ = 1e5", geometric(k, 1.0, 0.35), OrthMethod::Householder),
    ];
    for (what, s, want) in cases {
        let y = with_spectrum(rows, k, &s, 0.0, 13);
        for strategy in [OrthStrategy::Auto, OrthStrategy::Householder] {
            let t = be.tensor(&f32s(&y), &[rows, k]).unwrap();
            let o = orthonormalize(&be, t, strategy, what).await.unwrap();
            let expect = match strategy {
                OrthStrategy::Auto => want,
                OrthStrategy::Householder => OrthMethod::Householder,
            };
            assert_eq!(o.method, expect, "{what} {strategy:?}");
            let q = f64s(&o.q.data);
            assert!(
                max_dev_from_identity(&q, rows, k) < 2e-6,
                "{what} {strategy:?}"
            );
            let qr = matmul(&q, &o.r, rows, k, k);
            let err = max_abs(&qr.iter().zip(&y).map(|(a, b)| a - b).collect::<Vec<_>>());
            assert!(err < 1e-6, "{what} {strategy:?}: |QR − Y| = {err:e}");
        }
        // One pass: a basis that is orthonormal to about κ² ε, or the same fallback.
        let t = be.tensor(&f32s(&y), &[rows, k]).unwrap();
        let o = basis(&be, t, OrthStrategy::Auto, what).await.unwrap();
        let expect = match want {
            OrthMethod::CholeskyQr2 => OrthMethod::CholeskyQr,
            other => other,
        };
        assert_eq!(o.method, expect, "{what} basis");
        let q = f64s(&o.q.data);
        assert!(max_dev_from_identity(&q, rows, k) < 1e-4, "{what} basis");
        let qr = matmul(&q, &o.r, rows, k, k);
        let err = max_abs(&qr.iter().zip(&y).map(|(a, b)| a - b).collect::<Vec<_>>());
        assert!(err < 1e-6, "{what} basis: |QR − Y| = {err:e}");
    }
}
gpu_test!(orthonormalization_paths, orth_paths);

/// Both backends give the same decomposition (same seed, same test matrix).
async fn gpu_vs_cpu() {
    let gpu = gpu().await;
    known_spectrum_on(&gpu).await;
    for &(m, n, q) in &[(72, 40, 6), (40, 72, 6), (33, 20, 20)] {
        let w = with_spectrum(m, n, &geometric(m.min(n), 6.0, 0.8), 1e-4, 30);
        let (wc, wg) = both(&CpuBackend, &gpu, &f32s(&w), &[m, n]);
        let opts = DecomposeOptions::default();
        let (lc, sc) = decompose_layer(&CpuBackend, &wc, None, q, &opts)
            .await
            .unwrap();
        let (lg, sg) = decompose_layer(&gpu, &wg, None, q, &opts).await.unwrap();
        let what = format!("{m}x{n} q={q}");
        assert_close(&format!("{what}: Σ₀ gpu vs cpu"), &sg, &sc, 1e-6, 1e-5);
        let exact = jacobi_svd(&w, m, n);
        check_layer(&gpu, &what, &w, (m, n), q, &lg, &sg, &exact, 1e-5, 1e-4).await;
        let [_, u, _, v] = host(&gpu, &lg).await;
        // Singular vectors agree up to sign where the values are separated.
        for j in 0..q {
            let dot = |a: &[f64], b: &[f32], rows: usize| -> f64 {
                (0..rows)
                    .map(|i| a[i * q + j] * f64::from(b[i * q + j]))
                    .sum()
            };
            let (cu, cv) = (dot(&u, &lc.u.data, m), dot(&v, &lc.v.data, n));
            assert!(
                (cu.abs() - 1.0).abs() < 1e-3,
                "{what}: u[{j}] · u_cpu = {cu}"
            );
            assert!(
                (cu - cv).abs() < 2e-3,
                "{what}: signs of u[{j}] and v[{j}] differ"
            );
        }
    }
}
gpu_test!(gpu_decomposition_matches_cpu, gpu_vs_cpu);

// ---- whole models -------------------------------------------------------------------------------

macro_rules! fixture {
    ($name:literal) => {{
        let mut f = MemoryFiles::new();
        for (file, bytes) in [
            (
                "config.json",
                &include_bytes!(concat!("fixtures/models/", $name, "/config.json"))[..],
            ),
            (
                "model.safetensors",
                &include_bytes!(concat!("fixtures/models/", $name, "/model.safetensors"))[..],
            ),
        ] {
            f.insert(file, bytes.to_vec());
        }
        f
    }};
}

/// Logits `[B·S, V]` of the model for a fixed batch of 2 × 7 tokens.
async fn logits<B: Backend>(be: &B, model: &mut Model<B>) -> Vec<f32> {
    use svdtune::model::acts::{Activations, HeadActs};
    use svdtune::model::forward::{Batch, forward, lm_head};
    let (batch, seq) = (2, 7);
    let rows = batch * seq;
    let cfg = model.cfg.clone();
    let ids: Vec<u32> = (0..rows as u32)
        .map(|i| (i * 37 + 5) % cfg.vocab_size as u32)
        .collect();
    let input = Batch::new(be, &cfg, &ids, None, None, batch, seq).unwrap();
    let mut acts = Activations::new(be, &cfg, &model.weights, rows, false).unwrap();
    forward(be, &cfg, &model.weights, &mut model.rope, &input, &mut acts).unwrap();
    let mut head = HeadActs::new(be, &cfg, &model.weights, rows).unwrap();
    let mut out = be.zeros(&[rows, cfg.vocab_size]).unwrap();
    lm_head(be, &model.weights, &acts.hidden, 0, &mut head, &mut out).unwrap();
    be.flush().unwrap();
    be.read(&out).await.unwrap()
}

/// Decomposes every layer at two rank fractions and checks that the logits stay those of the
/// dense model (Σ = Σ₀ gives W back), the plan order, the progress reports, and the errors for
/// a second decomposition and a plan of another model.
async fn model_on<B: Backend>(be: &B, name: &str, files: &MemoryFiles, other: &MemoryFiles) {
    for fraction in [0.1, 1.0] {
        let mut model = Model::load(be, files, |_, _, _| {}).unwrap();
        let dense = logits(be, &mut model).await;
        let plan = SvdPlan::new(&model.cfg, fraction, true).unwrap();
        let mut seen = Vec::new();
        let opts = DecomposeOptions {
            seed: 7,
            ..Default::default()
        };
        let inits = decompose_model(
            be,
            &model.cfg,
            &mut model.weights,
            &plan,
            &opts,
            |d, t, m| seen.push((d, t, m.to_string())),
        )
        .await
        .unwrap();
        let what = format!("{name} on {} at {fraction}", be.name());
        assert_eq!(inits.len(), plan.layers.len(), "{what}");
        for (i, (init, p)) in inits.iter().zip(&plan.layers).enumerate() {
            assert_eq!((&init.module, init.q), (&p.module, p.q), "{what}");
            assert_eq!(init.sigma0.len(), p.q);
            assert!(
                init.sigma0.windows(2).all(|w| w[0] >= w[1]),
                "{what}: {}",
                p.module
            );
            assert!(init.sigma0.iter().all(|s| s.is_finite() && *s >= 0.0));
            assert_eq!(seen[i], (i + 1, plan.layers.len(), p.module.clone()));
        }
        for ((_, _, lin), p) in model.weights.linears_mut().into_iter().zip(&plan.layers) {
            let Linear::Svd(s) = lin else {
                panic!("{what}: a layer stayed dense")
            };
            assert_eq!(s.dims().unwrap(), (p.m, p.n, p.q), "{what}: {}", p.module);
            assert_eq!(
                s.bias.is_some(),
                p.bias,
                "{what}: {} bias moved over",
                p.module
            );
        }
        let svd = logits(be, &mut model).await;
        assert_close(&format!("{what}: logits"), &svd, &dense, 1e-4, 0.0);
        let again = decompose_model(
            be,
            &model.cfg,
            &mut model.weights,
            &plan,
            &opts,
            |_, _, _| {},
        )
        .await
        .err()
        .unwrap();
        assert!(again.to_string().contains("already decomposed"), "{again}");
    }
    let mut model = Model::load(be, files, |_, _, _| {}).unwrap();
    let other_cfg = Model::load(be, other, |_, _, _| {}).unwrap().cfg;
    let plan = SvdPlan::new(&other_cfg, 0.1, true).unwrap();
    let e = decompose_model(
        be,
        &model.cfg,
        &mut model.weights,
        &plan,
        &Default::default(),
        |_, _, _| {},
    )
    .await
    .err()
    .unwrap();
    assert!(e.to_string().contains("plan"), "{e}");
}

async fn models_cpu() {
    let (llama, qwen2) = (fixture!("llama"), fixture!("qwen2"));
    // The plan of another model: biases differ (llama, qwen2), the layer list differs (phi3).
    model_on(&CpuBackend, "llama", &llama, &qwen2).await;
    model_on(&CpuBackend, "qwen2", &qwen2, &llama).await;
    model_on(&CpuBackend, "phi3", &fixture!("phi3"), &llama).await;
}
gpu_test!(decomposed_models_keep_their_logits_cpu, models_cpu);

async fn models_gpu() {
    let gpu = gpu().await;
    let (llama, qwen2) = (fixture!("llama"), fixture!("qwen2"));
    model_on(&gpu, "llama", &llama, &qwen2).await;
    model_on(&gpu, "qwen2", &qwen2, &llama).await;
}
gpu_test!(decomposed_models_keep_their_logits_gpu, models_gpu);

/// Layer seeds: decomposing the same model twice gives the same bits; another run seed changes
/// the test matrices (and so the rounding) but not the values.
async fn model_seeds() {
    let files = fixture!("llama");
    let run = async |seed| {
        let mut model: Model<CpuBackend> = Model::load(&CpuBackend, &files, |_, _, _| {}).unwrap();
        // Full rank: the values are exact whatever the test matrix.
        let plan = SvdPlan::new(&model.cfg, 1.0, true).unwrap();
        let opts = DecomposeOptions {
            seed,
            ..Default::default()
        };
        let inits = decompose_model(
            &CpuBackend,
            &model.cfg,
            &mut model.weights,
            &plan,
            &opts,
            |_, _, _| {},
        )
        .await
        .unwrap();
        let lin = model.weights.linears_mut().pop().unwrap().2;
        let Linear::Svd(head) = lin else { panic!() };
        let u: CpuTensor = head.u.clone();
        (inits, u)
    };
    let (a, ua) = run(3).await;
    let (b, ub) = run(3).await;
    let (c, uc) = run(4).await;
    assert_eq!(a, b);
    assert_eq!(ua.data, ub.data);
    assert_ne!(ua.data, uc.data);
    for (x, y) in a.iter().zip(&c) {
        assert_close(&x.module, &y.sigma0, &x.sigma0, 1e-5, 1e-4);
    }
}
gpu_test!(model_decomposition_is_seeded, model_seeds);
