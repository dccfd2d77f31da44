//! Single layers against an exact SVD, seeding, orthonormalization paths, GPU against CPU.
#[allow(unused_imports)]
use super::helpers::*;
#[allow(unused_imports)]
use super::*;

// ---- one layer ----------------------------------------------------------------------------------

/// Host copies of a decomposed layer: (W, U, Σ, V).
pub(crate) async fn host<B: Backend>(be: &B, l: &SvdLinear<B::Tensor>) -> [Vec<f64>; 4] {
    [
        f64s(&be.read(&l.w).await.unwrap()),
        f64s(&be.read(&l.u).await.unwrap()),
        f64s(&be.read(&l.sigma).await.unwrap()),
        f64s(&be.read(&l.v).await.unwrap()),
    ]
}

/// Checks one decomposition of `w` `[m, n]` at rank `q` against the exact SVD `exact`:
/// Σ₀ (relative `sigma_rtol`), orthonormal U and V, `U diag(Σ₀) Vᵀ` against the exact rank-q
/// truncation (`product_tol`·σ₁), the layer keeping `W` bit for bit and `−Σ₀` beside `Σ`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn check_layer<B: Backend>(
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
    let [w_kept, u, sigma, v] = host(be, layer).await;
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
    assert_eq!(
        w_kept,
        f64s(&f32s(w)),
        "{what}: the layer must keep W as it was"
    );
    let neg: Vec<f64> = sigma.iter().map(|s| -s).collect();
    assert_eq!(
        f64s(&be.read(&layer.neg_sigma0).await.unwrap()),
        neg,
        "{what}: −Σ₀"
    );
}

/// `max |W − U diag(Σ₀) Vᵀ|` of a decomposed CPU layer `[m, n]`, rank `q`.
fn residual(l: &SvdLinear<CpuTensor>, m: usize, n: usize, q: usize) -> f64 {
    let (w, u, s, v) = (
        f64s(&l.w.data),
        f64s(&l.u.data),
        f64s(&l.sigma.data),
        f64s(&l.v.data),
    );
    let low = reconstruct(&u, &s, &v, m, n, q, q);
    max_abs(&w.iter().zip(&low).map(|(a, b)| a - b).collect::<Vec<_>>())
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
            decompose_layer_traced(be, wt, None, q, &DecomposeOptions::default())
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
    let (layer, sigma0) = decompose_layer(&CpuBackend, wt, None, 10, &Default::default())
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
        let (layer, sigma0) = decompose_layer(&CpuBackend, wt, None, q, &Default::default())
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
        let res = residual(&layer, m, n, q);
        assert!(res < 1e-5, "{what}: max |W − U Σ₀ Vᵀ| = {res:e}");
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
        decompose_layer_traced(&CpuBackend, wt, None, 8, &Default::default())
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
    assert!(residual(&layer, m, n, 8) < 1e-5);

    let zero = CpuBackend.zeros(&[20, 30]).unwrap();
    let (layer, sigma0) = decompose_layer(&CpuBackend, zero, None, 5, &Default::default())
        .await
        .unwrap();
    assert_eq!(sigma0, vec![0.0; 5]);
    assert!(layer.w.data.iter().all(|&x| x == 0.0));
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
        let e = decompose_layer(&be, w.clone(), None, q, &opts)
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("between 1 and 8"), "{e}");
    }
    let bias = be.zeros(&[8]).unwrap();
    let e = decompose_layer(&be, w, Some(bias), 2, &opts)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("bias"), "{e}");
    let vector = be.zeros(&[12]).unwrap();
    assert!(decompose_layer(&be, vector, None, 1, &opts).await.is_err());
    let mut data = rand_vec(12 * 8, 1);
    data[17] = f32::NAN;
    let nan = be.tensor(&data, &[12, 8]).unwrap();
    let e = decompose_layer(&be, nan, None, 2, &opts)
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
        decompose_layer(&CpuBackend, wt.clone(), None, 6, &opts)
            .await
            .unwrap()
    };
    let (a, sa) = run(1).await;
    let (b, sb) = run(1).await;
    let (c, sc) = run(2).await;
    assert_eq!(sa, sb);
    assert_eq!(a.u.data, b.u.data);
    assert_eq!(a.v.data, b.v.data);
    assert_ne!(a.u.data, c.u.data, "another seed, same rounding everywhere");
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
        let (lc, sc) = decompose_layer(&CpuBackend, wc, None, q, &opts)
            .await
            .unwrap();
        let (lg, sg) = decompose_layer(&gpu, wg, None, q, &opts).await.unwrap();
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
