//! The SVD layer's fused GPU products against the CPU backend. `matmul_pair` (two products into
//! one output, `x Wᵀ + (h ⊙ (Σ − Σ₀)) Uᵀ` and `g W + (k ⊙ (Σ − Σ₀)) Vᵀ`; the CPU composes it from
//! `mul_cols` and two matmuls): ragged tiles, K1 not a multiple of the 16-wide K tile (the first
//! product's padding must not leak into the second), B1 f32 / f16 / bf16 / Q8_0 in both layouts,
//! B2 f32 or f16, with and without the column scale, overwrite and accumulate with alpha.
//! `matmul_multi` (one input by two or three factors: q, k, v's `x V`), f32 or f16.
//! `matmul_col_dot` (`k = g U` and dΣ's column dots by blocks of 64 rows) and `sum_blocks`: the
//! sums over blocks, partials that already hold values, more rows and blocks than needed, U f32
//! or f16. Shapes the one-dispatch kernels do not cover (up to 8 rows, split K) must give the same
//! values through the fallbacks; the dispatch counts show which path ran. Runs natively and in
//! browsers.
mod common;
use common::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::GpuTuning;
use svdtune::backend::{Backend, Format, Matmul, PairTerm};

/// `(m, n, k, q)`: `m` rows, `n` outputs, `k` the first product's depth, `q` the second's.
const SHAPES: &[(usize, usize, usize, usize)] = &[
    (9, 1, 1, 1),
    (70, 66, 130, 13),
    (64, 64, 16, 16),
    (130, 33, 17, 40),
    (17, 129, 64, 3),
    // Up to 8 rows and a split K take the composition on the GPU.
    (8, 40, 33, 5),
    (20, 30, 4096, 7),
];

/// Whether the GPU runs `shape` in one `matmul_pair` dispatch.
fn fused(&(m, n, k, _): &(usize, usize, usize, usize)) -> bool {
    m > 8 && !(n.div_ceil(64) * m.div_ceil(64) < 32 && k >= 2048)
}

/// `matmul_pair` on the 64×64 tiles, or on the 128×128 ones for every output (`wide`).
async fn pair_cases(wide: bool) {
    let g = gpu().await;
    let c = CpuBackend;
    g.set_tuning(GpuTuning {
        wide_tile_min: usize::from(wide),
        ..g.tuning()
    })
    .unwrap();
    let _ = g.take_dispatch_counts();
    for (i, &(m, n, k, q)) in SHAPES.iter().enumerate() {
        let seed = 40 * i as u64;
        let (ac, ag) = both_rand(&c, &g, &[m, k], seed + 1);
        let (a2c, a2g) = both_rand(&c, &g, &[m, q], seed + 2);
        let (sc, sg) = both_rand(&c, &g, &[q], seed + 3);
        let (tc, tg) = both_rand(&c, &g, &[q], seed + 4);
        let c0 = rand_vec(m * n, seed + 5);
        let b1_vals = rand_vec(n * k, seed + 6);
        let b2_vals = rand_vec(n * q, seed + 7);
        for trans_b in [true, false] {
            let b1_shape = if trans_b { [n, k] } else { [k, n] };
            // Q8_0 blocks run along rows of 32: only the [N, K] layout with K a multiple of 32.
            let q8 = (trans_b && k % 32 == 0).then_some(Format::Q8_0);
            let formats = [Format::F32, Format::F16, Format::Bf16]
                .into_iter()
                .chain(q8);
            for (j, b1_format) in formats.enumerate() {
                let b2_format = if j % 2 == 0 { Format::F32 } else { Format::F16 };
                let b1c = packed(&c, b1_format, &b1_vals, &b1_shape);
                let b1g = packed(&g, b1_format, &b1_vals, &b1_shape);
                let b2c = packed(&c, b2_format, &b2_vals, &[n, q]);
                let b2g = packed(&g, b2_format, &b2_vals, &[n, q]);
                let spec = Matmul {
                    trans_b,
                    ..Matmul::NN
                };
                let acc = Matmul {
                    alpha: 0.5,
                    ..spec.accumulate()
                };
                for (s, scaled) in [(spec, true), (acc, true), (acc, false)] {
                    let (scale_c, scale_g) = match scaled {
                        true => (Some((&sc, &tc)), Some((&sg, &tg))),
                        false => (None, None),
                    };
                    let second_c = PairTerm {
                        a: &a2c,
                        b: &b2c,
                        scale: scale_c,
                    };
                    let second_g = PairTerm {
                        a: &a2g,
                        b: &b2g,
                        scale: scale_g,
                    };
                    let (mut outc, mut outg) = both(&c, &g, &c0, &[m, n]);
                    let mut scratch_c = c.zeros(&[m, q]).unwrap();
                    let mut scratch_g = g.zeros(&[m, q]).unwrap();
                    c.matmul_pair(&ac, &b1c, second_c, &mut outc, s, &mut scratch_c)
                        .unwrap();
                    g.matmul_pair(&ag, &b1g, second_g, &mut outg, s, &mut scratch_g)
                        .unwrap();
                    let what = format!(
                        "matmul_pair {m}x{n}x{k}+{q} B1 {b1_format} B2 {b2_format} \
                         scaled {scaled} {s:?}"
                    );
                    let tol = 1e-4 * ((k + q) as f32).sqrt();
                    assert_same(&what, &g, &outg, &outc, tol, tol).await;
                    let counts = g.take_dispatch_counts();
                    let pair = counts
                        .iter()
                        .filter(|(name, _)| name.starts_with("matmul_pair"))
                        .map(|(_, n)| n)
                        .sum::<u64>();
                    let want = fused(&(m, n, k, q)) as u64;
                    assert_eq!(pair, want, "{what}: matmul_pair dispatches {counts:?}");
                    if want == 1 {
                        assert_eq!(counts.len(), 1, "{what}: one dispatch, got {counts:?}");
                        assert_eq!(counts[0].0.contains("_wide"), wide, "{what}: {counts:?}");
                    }
                }
            }
        }
    }
}
async fn pair_matches_cpu() {
    pair_cases(false).await;
}
gpu_test!(matmul_pair_matches_cpu, pair_matches_cpu);

async fn pair_wide_matches_cpu() {
    pair_cases(true).await;
}
gpu_test!(matmul_pair_wide_tiles_match_cpu, pair_wide_matches_cpu);

/// `vals` as a tensor of `format` (f32 when `format` is f32). Q8_0 (read only: nothing encodes
/// it) gets blocks of its own, a scale of 1/64 and 32 quants from `vals`.
fn packed<B: Backend>(be: &B, format: Format, vals: &[f32], shape: &[usize]) -> B::Tensor {
    let bytes = match format {
        Format::F32 => return be.tensor(vals, shape).unwrap(),
        Format::Q8_0 => vals
            .chunks(32)
            .flat_map(|block| {
                let quants = block.iter().map(|v| (v * 127.0) as i8 as u8);
                [0x00, 0x24].into_iter().chain(quants) // f16 0x2400 = 1/64
            })
            .collect(),
        f => f.encode(vals).unwrap(),
    };
    be.packed_tensor(format, &bytes, shape).unwrap()
}

/// `(t, q, m)`: k = g `[t, m]` · U `[m, q]`; the last two take the fallback (few rows, split K).
const COL_DOT_SHAPES: &[(usize, usize, usize)] = &[
    (9, 1, 1),
    (64, 64, 16),
    (130, 57, 70),
    (200, 19, 576),
    (8, 30, 17),
    (40, 20, 3000),
];

async fn col_dot_matches_cpu() {
    let g = gpu().await;
    let c = CpuBackend;
    let _ = g.take_dispatch_counts();
    for (i, &(t, q, m)) in COL_DOT_SHAPES.iter().enumerate() {
        let seed = 500 + 10 * i as u64;
        let (gc, gg) = both_rand(&c, &g, &[t, m], seed);
        let (hc, hg) = both_rand(&c, &g, &[t, q], seed + 1);
        let u_vals = rand_vec(m * q, seed + 2);
        // Partials with spare rows and blocks, already holding values (they accumulate).
        let (rows, blocks) = (q + 3, t.div_ceil(64) + 1);
        let p0 = rand_vec(rows * blocks, seed + 3);
        for u_format in [Format::F32, Format::F16] {
            let (uc, ug) = (
                packed(&c, u_format, &u_vals, &[m, q]),
                packed(&g, u_format, &u_vals, &[m, q]),
            );
            let (mut kc, mut kg) = (c.zeros(&[t, q]).unwrap(), g.zeros(&[t, q]).unwrap());
            let (mut pc, mut pg) = both(&c, &g, &p0, &[rows, blocks]);
            c.matmul_col_dot(&gc, &uc, &mut kc, &hc, &mut pc).unwrap();
            g.matmul_col_dot(&gg, &ug, &mut kg, &hg, &mut pg).unwrap();
            let counts = g.take_dispatch_counts();
            let what = format!("matmul_col_dot {t}x{q}x{m} U {u_format}");
            let fused = t > 8 && !(q.div_ceil(64) * t.div_ceil(64) < 32 && m >= 2048);
            let n_fused = counts
                .iter()
                .filter(|(k, _)| k.starts_with("matmul_col_dot"))
                .count();
            assert_eq!(n_fused, fused as usize, "{what}: {counts:?}");
            assert_same(&format!("{what} k"), &g, &kg, &kc, 1e-4, 1e-4).await;
            let (mut sc, mut sg) = both(&c, &g, &rand_vec(q, seed + 4), &[q]);
            c.sum_blocks(&pc, &mut sc, true).unwrap();
            g.sum_blocks(&pg, &mut sg, true).unwrap();
            let tol = 1e-4 * (t as f32).sqrt();
            assert_same(&format!("{what} Σ over blocks"), &g, &sg, &sc, tol, tol).await;
            // Rows past q are left as they were.
            let got = g.read(&pg).await.unwrap();
            assert_eq!(got[q * blocks..], p0[q * blocks..], "{what}: spare rows");
        }
    }
    let (gg, ug) = (g.zeros(&[70, 5]).unwrap(), g.zeros(&[5, 3]).unwrap());
    let (mut kg, hg) = (g.zeros(&[70, 3]).unwrap(), g.zeros(&[70, 3]).unwrap());
    let mut short = g.zeros(&[3, 1]).unwrap();
    let err = g
        .matmul_col_dot(&gg, &ug, &mut kg, &hg, &mut short)
        .unwrap_err()
        .to_string();
    assert!(err.contains("partials") && err.contains("[3, 2]"), "{err}");
}
gpu_test!(matmul_col_dot_and_sum_blocks_match_cpu, col_dot_matches_cpu);

/// `(m, k, [n_i])`: one input by one to three matrices; few rows and a split K fall back.
const MULTI_SHAPES: &[(usize, usize, &[usize])] = &[
    (9, 5, &[1, 2, 3]),
    (70, 130, &[57, 19, 19]),
    (130, 64, &[64, 64]),
    (65, 17, &[100, 3]),
    (33, 40, &[7]),
    (8, 30, &[5, 6, 7]),
    (20, 4096, &[3, 4]),
];

async fn multi_matches_cpu() {
    let g = gpu().await;
    let c = CpuBackend;
    let _ = g.take_dispatch_counts();
    for (i, &(m, k, ns)) in MULTI_SHAPES.iter().enumerate() {
        let seed = 900 + 10 * i as u64;
        let (ac, ag) = both_rand(&c, &g, &[m, k], seed);
        for format in [Format::F32, Format::F16] {
            let vals: Vec<Vec<f32>> = ns
                .iter()
                .enumerate()
                .map(|(j, &n)| rand_vec(k * n, seed + 1 + j as u64))
                .collect();
            let bc: Vec<_> = vals
                .iter()
                .zip(ns)
                .map(|(v, &n)| packed(&c, format, v, &[k, n]))
                .collect();
            let bg: Vec<_> = vals
                .iter()
                .zip(ns)
                .map(|(v, &n)| packed(&g, format, v, &[k, n]))
                .collect();
            let mut cc: Vec<_> = ns.iter().map(|&n| c.zeros(&[m, n]).unwrap()).collect();
            let mut cg: Vec<_> = ns.iter().map(|&n| g.zeros(&[m, n]).unwrap()).collect();
            c.matmul_multi(
                &ac,
                &bc.iter().collect::<Vec<_>>(),
                &mut cc.iter_mut().collect::<Vec<_>>(),
            )
            .unwrap();
            g.matmul_multi(
                &ag,
                &bg.iter().collect::<Vec<_>>(),
                &mut cg.iter_mut().collect::<Vec<_>>(),
            )
            .unwrap();
            let counts = g.take_dispatch_counts();
            let n: usize = ns.iter().sum();
            let fused =
                ns.len() > 1 && m > 8 && !(n.div_ceil(64) * m.div_ceil(64) < 32 && k >= 2048);
            let what = format!("matmul_multi {m}x{k} by {ns:?} {format}");
            let total: u64 = counts.iter().map(|(_, n)| n).sum();
            match fused {
                true => assert_eq!(counts, [("matmul_multi", 1)], "{what}"),
                false => assert!(
                    total >= ns.len() as u64 && counts.iter().all(|(k, _)| *k != "matmul_multi"),
                    "{what}: {counts:?}"
                ),
            }
            for (j, (got, want)) in cg.iter().zip(&cc).enumerate() {
                let tol = 1e-4 * (k as f32).sqrt();
                assert_same(&format!("{what} output {j}"), &g, got, want, tol, tol).await;
            }
        }
    }
    let a = g.zeros(&[9, 4]).unwrap();
    let (b1, b2) = (g.zeros(&[4, 3]).unwrap(), g.zeros(&[5, 3]).unwrap());
    let (mut c1, mut c2) = (g.zeros(&[9, 3]).unwrap(), g.zeros(&[9, 3]).unwrap());
    let err = g
        .matmul_multi(&a, &[&b1, &b2], &mut [&mut c1, &mut c2])
        .unwrap_err()
        .to_string();
    assert!(err.contains("[5, 3]"), "{err}");
}
gpu_test!(matmul_multi_matches_cpu, multi_matches_cpu);

async fn pair_rejects_bad_shapes() {
    let g = gpu().await;
    let (a, b) = (g.zeros(&[9, 4]).unwrap(), g.zeros(&[6, 4]).unwrap());
    let (a2, b2) = (g.zeros(&[9, 3]).unwrap(), g.zeros(&[5, 3]).unwrap());
    let mut out = g.zeros(&[9, 6]).unwrap();
    let mut scratch = g.zeros(&[9, 3]).unwrap();
    let second = PairTerm {
        a: &a2,
        b: &b2,
        scale: None,
    };
    let err = g
        .matmul_pair(&a, &b, second, &mut out, Matmul::NT, &mut scratch)
        .unwrap_err()
        .to_string();
    assert!(err.contains("matmul_pair") && err.contains("b2"), "{err}");
}
gpu_test!(
    matmul_pair_rejects_bad_shapes_with_a_named_error,
    pair_rejects_bad_shapes
);
