//! The CPU backend's f32 matrix product (`Real::gemm`) against an f64 reference: every layout of
//! A, B and C (row- or column-major), alpha and beta (beta 0 must not read C: it starts as NaN),
//! and shapes around the blocking of the wasm kernel (4 × 8 tiles, a last panel of 1–4 columns
//! computed 8 rows at a time, 120 rows of A, 256 of depth, 1024 columns of B per block) and the
//! pool's splits. Natively this checks the `gemm` crate's
//! path; in the browser tests (wasm-pack) the page's own simd128 kernel, on its pool of workers.
mod common;
use common::rand_vec;
use svdtune::backend::cpu::real::Real;

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 7, 5),
    (4, 256, 8),
    (5, 257, 9),
    (8, 3, 16),
    (121, 13, 300),
    (7, 20, 1030),
    (130, 600, 70),
    (130, 600, 66),
    (13, 40, 27),
    (6, 9, 3),
    (9, 0, 6),
];

/// Strides (row, column) of a `[rows, cols]` matrix stored row-major or column-major.
fn strides(rows: usize, cols: usize, col_major: bool) -> (isize, isize) {
    if col_major {
        (1, rows as isize)
    } else {
        (cols as isize, 1)
    }
}

fn at(x: &[f32], (r, c): (usize, usize), (sr, sc): (isize, isize)) -> f64 {
    x[r * sr as usize + c * sc as usize] as f64
}

gpu_test!(gemm_matches_f64_in_every_layout, gemm_in_every_layout);
async fn gemm_in_every_layout() {
    for (i, &(m, k, n)) in SHAPES.iter().enumerate() {
        let a = rand_vec(m * k, 1 + i as u64);
        let b = rand_vec(k * n, 100 + i as u64);
        let c0 = rand_vec(m * n, 200 + i as u64);
        for layout in 0..8 {
            let (ta, tb, tc) = (layout & 1 != 0, layout & 2 != 0, layout & 4 != 0);
            let (sa, sb, sc) = (strides(m, k, ta), strides(k, n, tb), strides(m, n, tc));
            for (alpha, beta) in [(1.0f32, 0.0f32), (-0.75, 1.0), (0.5, 0.5)] {
                let mut c = if beta == 0.0 {
                    vec![f32::NAN; m * n]
                } else {
                    c0.clone()
                };
                f32::gemm(m, k, n, alpha, &a, sa, &b, sb, beta, &mut c, sc);
                for r in 0..m {
                    for j in 0..n {
                        let (mut want, mut size) = (0.0f64, 0.0f64);
                        for p in 0..k {
                            let x = at(&a, (r, p), sa) * at(&b, (p, j), sb);
                            want += x;
                            size += x.abs();
                        }
                        want *= alpha as f64;
                        size *= alpha.abs() as f64;
                        if beta != 0.0 {
                            let old = at(&c0, (r, j), sc);
                            want += beta as f64 * old;
                            size += (beta as f64 * old).abs();
                        }
                        let got = at(&c, (r, j), sc);
                        assert!(
                            (got - want).abs() <= (k + 2) as f64 * 6e-8 * size + 1e-30,
                            "{m}x{k}x{n} layout {layout} alpha {alpha} beta {beta}: C[{r},{j}] = {got}, want {want}"
                        );
                    }
                }
            }
        }
    }
}
