//! The host linear algebra: Jacobi SVD, Householder QR, Cholesky, the Gaussian test matrix.
#[allow(unused_imports)]
use super::helpers::*;
#[allow(unused_imports)]
use super::layer::*;
#[allow(unused_imports)]
use super::*;

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
