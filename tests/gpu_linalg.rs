//! GPU vs CPU: matmul in all layouts, column dot products, the SVD merge and the SVD linear layer,
//! on awkward shapes (odd sizes, one to nine rows, rank 1, long K split over workgroups). Runs natively and in browsers.
mod common;
use common::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::autotune::time_tiles;
use svdtune::backend::gpu::{GpuBackend, GpuTuning};
use svdtune::backend::{
    Backend, DSigma, Matmul, SvdLinear, svd_linear_acts, svd_linear_backward, svd_linear_forward,
};

const SHAPES: &[(usize, usize, usize)] = &[
    // Up to 8 rows (untransposed A) take the few-rows kernel: one and eight rows, column counts
    // around its 32-column workgroups, K shorter and longer than its 8 lanes.
    (1, 1, 1),
    (1, 7, 5),
    (1, 100, 300),
    (8, 33, 7),
    (5, 64, 129),
    (9, 31, 17),
    // Few output tiles and a long K take the split-K path (K not a multiple of its slices).
    (65, 65, 5000),
    (9, 70, 2500),
    (130, 3, 4099),
    (67, 132, 45),
    (3, 65, 129),
    (64, 64, 16),
    (130, 1, 70),
];

/// Every layout of every shape, overwriting and accumulating with alpha, against the CPU.
async fn layouts_match_cpu(
    g: &GpuBackend,
    shapes: &[(usize, usize, usize)],
    seed: u64,
    what: &str,
) {
    let c = CpuBackend;
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        for spec in [Matmul::NN, Matmul::NT, Matmul::TN, Matmul::TT] {
            let a_shape = if spec.trans_a { [k, m] } else { [m, k] };
            let b_shape = if spec.trans_b { [n, k] } else { [k, n] };
            let (ac, ag) = both_rand(&c, g, &a_shape, seed + 10 + i as u64);
            let (bc, bg) = both_rand(&c, g, &b_shape, seed + 20 + i as u64);
            let (mut cc, mut cg) = both_rand(&c, g, &[m, n], seed + 30 + i as u64);
            let acc = Matmul {
                alpha: 0.5,
                ..spec.accumulate()
            };
            for s in [spec, acc] {
                c.matmul(&ac, &bc, &mut cc, s).unwrap();
                g.matmul(&ag, &bg, &mut cg, s).unwrap();
                let name = format!("{what} {m}x{n}x{k} {s:?}");
                assert_same(&name, g, &cg, &cc, 1e-4, 1e-4).await;
            }
        }
    }
}

async fn matmul_all_layouts() {
    layouts_match_cpu(&gpu().await, SHAPES, 0, "matmul").await;
}
gpu_test!(matmul_all_layouts_match_cpu, matmul_all_layouts);

/// The tiled product from a module with wgpu's runtime checks and from one without them (the
/// native default, `unchecked_tiles`) gives the same bits on every edge shape and layout; in
/// browsers both settings run checked modules.
async fn matmul_unchecked_equals_checked() {
    let g = gpu().await;
    assert_eq!(
        g.tuning().unchecked_tiles,
        !cfg!(target_arch = "wasm32"),
        "natively the tiles run unchecked by default"
    );
    for (i, &(m, n, k)) in SHAPES.iter().enumerate() {
        for spec in [Matmul::NN, Matmul::NT, Matmul::TN, Matmul::TT] {
            let a_shape = if spec.trans_a { [k, m] } else { [m, k] };
            let b_shape = if spec.trans_b { [n, k] } else { [k, n] };
            let a = g.tensor(&rand_vec(m * k, 40 + i as u64), &a_shape).unwrap();
            let b = g.tensor(&rand_vec(k * n, 50 + i as u64), &b_shape).unwrap();
            let mut out = Vec::new();
            for unchecked in [false, true] {
                g.set_tuning(GpuTuning {
                    unchecked_tiles: unchecked,
                    ..GpuTuning::default()
                })
                .unwrap();
                let mut cg = g.zeros(&[m, n]).unwrap();
                g.matmul(&a, &b, &mut cg, spec).unwrap();
                out.push(g.read(&cg).await.unwrap());
            }
            assert_eq!(out[0], out[1], "matmul {m}x{n}x{k} {spec:?}");
        }
    }
    g.set_tuning(GpuTuning::default()).unwrap();
}
gpu_test!(
    matmul_unchecked_matches_checked,
    matmul_unchecked_equals_checked
);

/// Every tiled product on the 128×128 tiles (`wide_tiles=1`): ragged outputs smaller than one
/// wide tile, one that fills it, and ones that spill past it in rows, columns or both, in every
/// layout.
async fn matmul_wide_tiles() {
    let g = gpu().await;
    g.set_tuning(GpuTuning::parse("wide_tiles=1").unwrap())
        .unwrap();
    let _ = g.take_dispatch_counts();
    let shapes = [
        (9, 31, 17),
        (67, 132, 45),
        (130, 1, 70),
        (128, 128, 40),
        (200, 130, 70),
        (129, 257, 33),
    ];
    layouts_match_cpu(&g, &shapes, 50, "wide matmul").await;
    let counts = g.take_dispatch_counts();
    let wide = counts.iter().find(|(name, _)| *name == "matmul_wide");
    assert!(
        wide.is_some_and(|w| w.1 >= 40),
        "wide tiles ran: {counts:?}"
    );
    g.set_tuning(GpuTuning::default()).unwrap();
}
gpu_test!(matmul_wide_tiles_match_cpu, matmul_wide_tiles);

async fn matmul_rejects_bad_shapes() {
    let g = gpu().await;
    let a = g.zeros(&[3, 4]).unwrap();
    let b = g.zeros(&[5, 6]).unwrap();
    let mut out = g.zeros(&[3, 6]).unwrap();
    let err = g
        .matmul(&a, &b, &mut out, Matmul::NN)
        .unwrap_err()
        .to_string();
    assert!(err.contains("matmul") && err.contains("[5, 6]"), "{err}");
}
gpu_test!(
    matmul_rejects_bad_shapes_with_a_named_error,
    matmul_rejects_bad_shapes
);

async fn col_dot_and_merge() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &(rows, cols)) in [(1, 1), (1, 300), (129, 3), (200, 257)].iter().enumerate() {
        let s = i as u64 * 7;
        let (ac, ag) = both_rand(&c, &g, &[rows, cols], s);
        let (bc, bg) = both_rand(&c, &g, &[rows, cols], s + 1);
        let (sc, sg) = both_rand(&c, &g, &[rows], s + 2);
        let (mut oc, mut og) = both_rand(&c, &g, &[cols], s + 3);
        c.col_dot(&ac, &bc, None, &mut oc, true).unwrap();
        g.col_dot(&ag, &bg, None, &mut og, true).unwrap();
        assert_same("col_dot accumulate", &g, &og, &oc, 1e-4, 1e-4).await;
        c.col_dot(&ac, &bc, Some(&sc), &mut oc, false).unwrap();
        g.col_dot(&ag, &bg, Some(&sg), &mut og, false).unwrap();
        assert_same("col_dot row_scale", &g, &og, &oc, 1e-4, 1e-4).await;
    }
    for (i, &(m, n, q)) in [(1, 1, 1), (5, 3, 1), (33, 17, 9), (70, 40, 40)]
        .iter()
        .enumerate()
    {
        let s = 100 + i as u64 * 5;
        let (wc, wg) = both_rand(&c, &g, &[m, n], s);
        let (uc, ug) = both_rand(&c, &g, &[m, q], s + 1);
        let (sc, sg) = both_rand(&c, &g, &[q], s + 2);
        let (vc, vg) = both_rand(&c, &g, &[n, q], s + 3);
        let (mut oc, mut og) = both_rand(&c, &g, &[m, n], s + 4);
        c.svd_merge(&wc, &uc, &sc, &vc, &mut oc).unwrap();
        g.svd_merge(&wg, &ug, &sg, &vg, &mut og).unwrap();
        assert_same(
            &format!("svd_merge {m}x{n} q={q}"),
            &g,
            &og,
            &oc,
            1e-5,
            1e-5,
        )
        .await;
    }
}
gpu_test!(col_dot_and_merge_match_cpu, col_dot_and_merge);

/// Both `col_dot` variants (one pass, and partials + sum) and several lane counts, at the edges:
/// one row, one column, columns that do not fill a workgroup, rows that do not divide by the
/// lanes, more columns than one workgroup covers.
async fn col_dot_variants() {
    let g = gpu().await;
    let c = CpuBackend;
    let tunings = [
        "",
        "col_dot_rows=0",
        "col_dot_lanes=1",
        "col_dot_lanes=64",
        "col_dot_rows=100",
    ];
    let shapes = [
        (1, 1),
        (7, 1),
        (3, 19),
        (130, 57),
        (513, 64),
        (65, 65),
        (200, 576),
    ];
    for (ti, text) in tunings.iter().enumerate() {
        g.set_tuning(GpuTuning::parse(text).unwrap()).unwrap();
        for (i, &(rows, cols)) in shapes.iter().enumerate() {
            let s = 1000 + 50 * ti as u64 + 5 * i as u64;
            let (ac, ag) = both_rand(&c, &g, &[rows, cols], s);
            let (bc, bg) = both_rand(&c, &g, &[rows, cols], s + 1);
            let (sc, sg) = both_rand(&c, &g, &[rows], s + 2);
            let (mut oc, mut og) = both_rand(&c, &g, &[cols], s + 3);
            let what = format!("col_dot [{rows}, {cols}] tuning \"{text}\"");
            c.col_dot(&ac, &bc, Some(&sc), &mut oc, true).unwrap();
            g.col_dot(&ag, &bg, Some(&sg), &mut og, true).unwrap();
            assert_same(&format!("{what} accumulate"), &g, &og, &oc, 1e-4, 1e-4).await;
            c.col_dot(&ac, &bc, None, &mut oc, false).unwrap();
            g.col_dot(&ag, &bg, None, &mut og, false).unwrap();
            assert_same(&what, &g, &og, &oc, 1e-4, 1e-4).await;
        }
    }
    // One pass is one dispatch; past the row threshold it is two.
    g.set_tuning(GpuTuning::parse("col_dot_rows=10").unwrap())
        .unwrap();
    let (a, _) = both_rand(&c, &g, &[11, 4], 7);
    let a = g.tensor(&a.data, &[11, 4]).unwrap();
    let mut o = g.zeros(&[4]).unwrap();
    g.take_dispatch_counts();
    g.col_dot(&a, &a, None, &mut o, false).unwrap();
    assert_eq!(g.take_dispatch_counts().iter().map(|d| d.1).sum::<u64>(), 2);
    let a1 = g.tensor(&[1.0; 40], &[10, 4]).unwrap();
    g.col_dot(&a1, &a1, None, &mut o, false).unwrap();
    assert_eq!(g.take_dispatch_counts(), [("col_dot", 1)]);
    assert_eq!(g.read(&o).await.unwrap(), [10.0; 4]);
}
gpu_test!(col_dot_variants_match_cpu, col_dot_variants);

async fn svd_linear_layer() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &(t, m, n, q, bias)) in [
        (1, 3, 2, 1, false),
        (5, 17, 9, 3, true),
        (70, 66, 130, 13, true),
    ]
    .iter()
    .enumerate()
    {
        let s = 200 + i as u64 * 10;
        let data = |shape: &[usize], k: u64| rand_vec(shape.iter().product(), s + k);
        let layer_c = SvdLinear {
            w: c.tensor(&data(&[m, n], 1), &[m, n]).unwrap(),
            u: c.tensor(&data(&[m, q], 2), &[m, q]).unwrap(),
            v: c.tensor(&data(&[n, q], 3), &[n, q]).unwrap(),
            sigma: c.tensor(&data(&[q], 4), &[q]).unwrap(),
            neg_sigma0: c.tensor(&data(&[q], 10), &[q]).unwrap(),
            bias: bias.then(|| c.tensor(&data(&[m], 5), &[m]).unwrap()),
        };
        let layer_g = SvdLinear {
            w: g.tensor(&data(&[m, n], 1), &[m, n]).unwrap(),
            u: g.tensor(&data(&[m, q], 2), &[m, q]).unwrap(),
            v: g.tensor(&data(&[n, q], 3), &[n, q]).unwrap(),
            sigma: g.tensor(&data(&[q], 4), &[q]).unwrap(),
            neg_sigma0: g.tensor(&data(&[q], 10), &[q]).unwrap(),
            bias: bias.then(|| g.tensor(&data(&[m], 5), &[m]).unwrap()),
        };
        let (xc, xg) = both_rand(&c, &g, &[t, n], s + 6);
        let (gc, gg) = both_rand(&c, &g, &[t, m], s + 7);
        let (mut yc, mut yg) = (c.zeros(&[t, m]).unwrap(), g.zeros(&[t, m]).unwrap());
        let mut acts_c = svd_linear_acts(&c, t, q).unwrap();
        let mut acts_g = svd_linear_acts(&g, t, q).unwrap();
        svd_linear_forward(&c, &layer_c, &xc, &mut acts_c, &mut yc).unwrap();
        svd_linear_forward(&g, &layer_g, &xg, &mut acts_g, &mut yg).unwrap();
        assert_same("svd_linear y", &g, &yg, &yc, 1e-4, 1e-4).await;
        let (mut dxc, mut dxg) = both_rand(&c, &g, &[t, n], s + 8);
        let (mut dsc, mut dsg) = both_rand(&c, &g, &[q], s + 9);
        let sum_c = DSigma::Sum(&mut dsc);
        svd_linear_backward(&c, &layer_c, &gc, &mut acts_c, &mut dxc, true, sum_c).unwrap();
        let sum_g = DSigma::Sum(&mut dsg);
        svd_linear_backward(&g, &layer_g, &gg, &mut acts_g, &mut dxg, true, sum_g).unwrap();
        assert_same("svd_linear dx", &g, &dxg, &dxc, 1e-4, 1e-4).await;
        assert_same("svd_linear dsigma", &g, &dsg, &dsc, 1e-4, 1e-4).await;
        // The same dΣ through row-block partial sums (a training step's path), added up after.
        let blocks = t.div_ceil(64);
        let (mut pc, mut pg) = both(&c, &g, &vec![0.0; (q + 5) * blocks], &[q + 5, blocks]);
        let (mut dx2c, mut dx2g) = both_rand(&c, &g, &[t, n], s + 8);
        let (mut ds2c, mut ds2g) = both_rand(&c, &g, &[q], s + 9);
        let blocks_c = DSigma::Blocks(&mut pc);
        svd_linear_backward(&c, &layer_c, &gc, &mut acts_c, &mut dx2c, true, blocks_c).unwrap();
        let blocks_g = DSigma::Blocks(&mut pg);
        svd_linear_backward(&g, &layer_g, &gg, &mut acts_g, &mut dx2g, true, blocks_g).unwrap();
        c.sum_blocks(&pc, &mut ds2c, true).unwrap();
        g.sum_blocks(&pg, &mut ds2g, true).unwrap();
        assert_same("svd_linear dx (blocks)", &g, &dx2g, &dxc, 1e-4, 1e-4).await;
        assert_same("svd_linear dsigma (blocks)", &g, &ds2g, &dsc, 1e-4, 1e-4).await;
        assert_close(
            "dsigma (blocks) on the CPU",
            &ds2c.data,
            &dsc.data,
            1e-5,
            1e-5,
        );
    }
}
gpu_test!(svd_linear_layer_matches_cpu, svd_linear_layer);

async fn bind_groups_are_reused() {
    let g = gpu().await;
    let a = g.tensor(&rand_vec(12, 1), &[3, 4]).unwrap();
    let b = g.tensor(&rand_vec(20, 2), &[4, 5]).unwrap();
    let mut out = g.zeros(&[3, 5]).unwrap();
    g.matmul(&a, &b, &mut out, Matmul::NN).unwrap();
    g.flush().unwrap();
    let after_first = g.cached_bind_groups();
    for _ in 0..5 {
        g.matmul(&a, &b, &mut out, Matmul::NN).unwrap();
    }
    g.flush().unwrap();
    assert_eq!(
        g.cached_bind_groups(),
        after_first,
        "repeating a call must not create bind groups"
    );
    drop(out);
    g.flush().unwrap();
    assert_eq!(
        g.cached_bind_groups(),
        after_first - 1,
        "a dropped tensor's bind groups are purged"
    );
}
gpu_test!(bind_groups_are_cached_and_purged, bind_groups_are_reused);

async fn oversized_tensor() {
    let g = gpu().await;
    let limit = g.context().max_binding_bytes();
    // One element more than a binding may hold: refused before any allocation, naming the tensor.
    let elements = (limit / 4 + 1) as usize;
    let err = g
        .zeros(&[elements])
        .err()
        .expect("an oversized tensor must be refused");
    let msg = err.to_string();
    assert!(matches!(err, svdtune::Error::TooLarge { .. }), "{msg}");
    assert!(
        msg.contains(&format!("[{elements}]")) && msg.contains(&limit.to_string()),
        "{msg}"
    );
}
gpu_test!(
    oversized_tensor_is_refused_with_the_device_limit,
    oversized_tensor
);

/// The tiled products with f16 workgroup tiles (`f16_tiles=1`) against the CPU, within f16's
/// rounding of the inputs (products still sum in f32), on both tile sizes; where the device has
/// no `shader-f16` the setting is refused, naming it.
async fn matmul_f16_tiles() {
    let g = gpu().await;
    let c = CpuBackend;
    let f16 = GpuTuning::parse("f16_tiles=1").unwrap();
    if !g.context().has_shader_f16() {
        let err = g.set_tuning(f16).unwrap_err().to_string();
        assert!(err.contains("shader-f16"), "{err}");
        return;
    }
    let shapes = [(9, 31, 17), (67, 132, 45), (130, 70, 300), (65, 65, 5000)];
    for wide in [0, 1] {
        g.set_tuning(GpuTuning {
            wide_tile_min: wide,
            ..f16
        })
        .unwrap();
        let _ = g.take_dispatch_counts();
        for (i, &(m, n, k)) in shapes.iter().enumerate() {
            for spec in [Matmul::NN, Matmul::NT, Matmul::TN, Matmul::TT] {
                let a_shape = if spec.trans_a { [k, m] } else { [m, k] };
                let b_shape = if spec.trans_b { [n, k] } else { [k, n] };
                let (ac, ag) = both_rand(&c, &g, &a_shape, 90 + i as u64);
                let (bc, bg) = both_rand(&c, &g, &b_shape, 95 + i as u64);
                let (mut cc, mut cg) = both(&c, &g, &vec![0.0; m * n], &[m, n]);
                c.matmul(&ac, &bc, &mut cc, spec).unwrap();
                g.matmul(&ag, &bg, &mut cg, spec).unwrap();
                // Each input rounds to f16 (relative 2⁻¹¹); the errors add up like a random walk.
                let tol = 2e-3 * (k as f32).sqrt();
                let what = format!("f16 tiles, wide {wide}: {m}x{n}x{k} {spec:?}");
                assert_same(&what, &g, &cg, &cc, tol, 1e-2).await;
                // And the tiles did round: f32 tiles give another result.
                let rounded = g.read(&cg).await.unwrap();
                g.set_tuning(GpuTuning {
                    f16_tiles: false,
                    ..g.tuning()
                })
                .unwrap();
                g.matmul(&ag, &bg, &mut cg, spec).unwrap();
                assert_ne!(
                    rounded,
                    g.read(&cg).await.unwrap(),
                    "{what}: f32 tiles differ"
                );
                g.set_tuning(GpuTuning {
                    f16_tiles: true,
                    ..g.tuning()
                })
                .unwrap();
            }
        }
    }
    g.set_tuning(GpuTuning::default()).unwrap();
}
gpu_test!(matmul_f16_tiles_match_cpu_within_f16, matmul_f16_tiles);

/// The start-up measurement of the tile sizes runs both on every shape and leaves the backend's
/// tuning as it was (a counting clock: the timings' values are the caller's business).
async fn tile_timing() {
    let g = gpu().await;
    let before = GpuTuning::parse("wide_tiles=4096").unwrap();
    g.set_tuning(before).unwrap();
    let _ = g.take_dispatch_counts();
    let ticks = std::cell::Cell::new(0.0);
    let now = || {
        ticks.set(ticks.get() + 1.0);
        ticks.get()
    };
    let shapes = [(70, 130, 40), (9, 200, 16)];
    let timings = time_tiles(&g, &shapes, (2, 1), &now).await.unwrap();
    assert_eq!(timings.len(), 2);
    for (t, &(m, n, k)) in timings.iter().zip(&shapes) {
        assert_eq!((t.m, t.n, t.k), (m, n, k));
        assert!(t.narrow_ms == 1.0 && t.wide_ms == 1.0, "{t:?}");
    }
    assert_eq!(g.tuning(), before);
    let counts = g.take_dispatch_counts();
    let ran = |name: &str| counts.iter().find(|c| c.0 == name).map_or(0, |c| c.1);
    // Per shape and tile size: one untimed product, then 2 timed.
    assert_eq!((ran("matmul"), ran("matmul_wide")), (6, 6), "{counts:?}");
}
gpu_test!(tile_timing_runs_both_tile_sizes, tile_timing);
