//! GPU vs CPU: RMSNorm forward and backward (with and without dx accumulation and dw) and
//! rotary embedding (tables from `svdtune::model::rope` for the default, Llama 3 and longrope variants,
//! both directions, a position past the table), on awkward shapes. Runs natively and in browsers.
mod common;
use common::*;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::rope::{RopeConfig, RopeScaling, tables};

const ROWS: &[usize] = &[1, 7, 64];
const COLS: &[usize] = &[1, 5, 64, 300, 1000];

async fn rmsnorm_forward_case() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &rows) in ROWS.iter().enumerate() {
        for (j, &cols) in COLS.iter().enumerate() {
            let s = (i * 10 + j) as u64 * 5;
            let (xc, xg) = both_rand(&c, &g, &[rows, cols], s);
            let (wc, wg) = both(&c, &g, &rand_range(cols, s + 1, 0.5, 1.5), &[cols]);
            // Outputs start as garbage: the op must overwrite them.
            let (mut yc, mut yg) = both_rand(&c, &g, &[rows, cols], s + 2);
            let (mut rc, mut rg) = both_rand(&c, &g, &[rows], s + 3);
            c.rmsnorm_forward(&xc, &wc, 1e-5, &mut yc, &mut rc).unwrap();
            g.rmsnorm_forward(&xg, &wg, 1e-5, &mut yg, &mut rg).unwrap();
            assert_same(
                &format!("rmsnorm rstd {rows}x{cols}"),
                &g,
                &rg,
                &rc,
                1e-5,
                1e-5,
            )
            .await;
            assert_same(
                &format!("rmsnorm y {rows}x{cols}"),
                &g,
                &yg,
                &yc,
                1e-5,
                1e-5,
            )
            .await;
        }
    }
}
gpu_test!(rmsnorm_forward_matches_cpu, rmsnorm_forward_case);

async fn rmsnorm_forward_many_rows() {
    // More rows than one grid dimension holds (65535): the 2-D workgroup grid must cover them all.
    let g = gpu().await;
    let c = CpuBackend;
    let (rows, cols) = (65537, 3);
    let (xc, xg) = both_rand(&c, &g, &[rows, cols], 77);
    let (wc, wg) = both_rand(&c, &g, &[cols], 78);
    let (mut yc, mut yg) = (
        c.zeros(&[rows, cols]).unwrap(),
        g.zeros(&[rows, cols]).unwrap(),
    );
    let (mut rc, mut rg) = (c.zeros(&[rows]).unwrap(), g.zeros(&[rows]).unwrap());
    c.rmsnorm_forward(&xc, &wc, 1e-6, &mut yc, &mut rc).unwrap();
    g.rmsnorm_forward(&xg, &wg, 1e-6, &mut yg, &mut rg).unwrap();
    // rstd = 1/sqrt(mean(x²)) grows large for rows of small values: relative tolerance.
    assert_same("rmsnorm rstd, 65537 rows", &g, &rg, &rc, 1e-5, 1e-5).await;
    assert_same("rmsnorm y, 65537 rows", &g, &yg, &yc, 1e-5, 1e-5).await;
}
gpu_test!(
    rmsnorm_forward_covers_more_rows_than_one_grid_dimension,
    rmsnorm_forward_many_rows
);

async fn rmsnorm_backward_case() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &rows) in ROWS.iter().enumerate() {
        for (j, &cols) in COLS.iter().enumerate() {
            let s = 1000 + (i * 10 + j) as u64 * 7;
            let x = rand_vec(rows * cols, s);
            let w = rand_range(cols, s + 1, 0.5, 1.5);
            // The same saved rstd on both backends, from the CPU forward.
            let xc = c.tensor(&x, &[rows, cols]).unwrap();
            let wc = c.tensor(&w, &[cols]).unwrap();
            let mut y = c.zeros(&[rows, cols]).unwrap();
            let mut rc = c.zeros(&[rows]).unwrap();
            c.rmsnorm_forward(&xc, &wc, 1e-5, &mut y, &mut rc).unwrap();
            let xg = g.tensor(&x, &[rows, cols]).unwrap();
            let wg = g.tensor(&w, &[cols]).unwrap();
            let rg = g.tensor(&rc.data, &[rows]).unwrap();
            let (dyc, dyg) = both_rand(&c, &g, &[rows, cols], s + 2);
            for accumulate_dx in [false, true] {
                for with_dw in [false, true] {
                    let what = format!("{rows}x{cols} accumulate_dx={accumulate_dx} dw={with_dw}");
                    let (mut dxc, mut dxg) = both_rand(&c, &g, &[rows, cols], s + 3);
                    let (mut dwc, mut dwg) = both_rand(&c, &g, &[cols], s + 4);
                    let dw_before = dwc.data.clone();
                    c.rmsnorm_backward(
                        &xc,
                        &wc,
                        &rc,
                        &dyc,
                        &mut dxc,
                        accumulate_dx,
                        with_dw.then_some(&mut dwc),
                    )
                    .unwrap();
                    g.rmsnorm_backward(
                        &xg,
                        &wg,
                        &rg,
                        &dyg,
                        &mut dxg,
                        accumulate_dx,
                        with_dw.then_some(&mut dwg),
                    )
                    .unwrap();
                    assert_same(&format!("rmsnorm dx {what}"), &g, &dxg, &dxc, 1e-5, 1e-5).await;
                    // dw sums up to 64 rows of O(1) terms (the CPU sums in another order).
                    assert_same(&format!("rmsnorm dw {what}"), &g, &dwg, &dwc, 1e-4, 1e-5).await;
                    if !with_dw {
                        assert_eq!(
                            g.read(&dwg).await.unwrap(),
                            dw_before,
                            "dw must be untouched when not asked for"
                        );
                    }
                }
            }
        }
    }
}
gpu_test!(rmsnorm_backward_matches_cpu, rmsnorm_backward_case);

/// Table rows of every rope test; positions ≥ this are past the table.
const TABLE_ROWS: usize = 12;

fn rope_configs(head_dim: usize) -> Vec<(&'static str, RopeConfig)> {
    let half = head_dim / 2;
    let base = RopeConfig {
        head_dim,
        theta: 10000.0,
        max_position_embeddings: 64,
        scaling: RopeScaling::None,
    };
    // Llama 3 bands scaled down so that a small head has components in all three bands.
    let llama3 = RopeScaling::Llama3 {
        factor: 8.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 64,
    };
    // original 4 < TABLE_ROWS: the long factors are used; 64 / 4 = 16 gives mscale ≠ 1.
    let longrope = RopeScaling::LongRope {
        short_factor: (0..half).map(|i| 1.0 + 0.1 * i as f64).collect(),
        long_factor: (0..half).map(|i| 1.0 + 0.7 * i as f64).collect(),
        original_max_position_embeddings: 4,
        factor: None,
        attention_factor: None,
    };
    vec![
        ("default", base.clone()),
        (
            "llama3",
            RopeConfig {
                scaling: llama3,
                ..base.clone()
            },
        ),
        (
            "longrope",
            RopeConfig {
                scaling: longrope,
                ..base
            },
        ),
    ]
}

async fn rope_case() {
    let g = gpu().await;
    let c = CpuBackend;
    // 9 rows; positions out of order, repeated, one equal to the table size and one far past it.
    let positions: Vec<u32> = vec![0, 3, 11, 12, 5, 5, 1, 1000, 7];
    let rows = positions.len();
    let (pc, pg) = (c.ids(&positions).unwrap(), g.ids(&positions).unwrap());
    for (hi, &n_heads) in [1usize, 3].iter().enumerate() {
        for (di, &head_dim) in [2usize, 8, 64].iter().enumerate() {
            for (name, cfg) in rope_configs(head_dim) {
                let t = tables(&cfg, TABLE_ROWS).unwrap();
                let half = head_dim / 2;
                let (cc, cg) = both(&c, &g, &t.cos, &[TABLE_ROWS, half]);
                let (sc, sg) = both(&c, &g, &t.sin, &[TABLE_ROWS, half]);
                for inverse in [false, true] {
                    let what = format!(
                        "rope {name} heads={n_heads} head_dim={head_dim} inverse={inverse}"
                    );
                    let s = (hi * 100 + di * 10) as u64 + inverse as u64;
                    let x = rand_vec(rows * n_heads * head_dim, s);
                    let (mut xc, mut xg) = both(&c, &g, &x, &[rows, n_heads * head_dim]);
                    c.rope(&mut xc, &pc, &cc, &sc, n_heads, head_dim, inverse)
                        .unwrap();
                    g.rope(&mut xg, &pg, &cg, &sg, n_heads, head_dim, inverse)
                        .unwrap();
                    assert_same(&what, &g, &xg, &xc, 1e-5, 1e-5).await;
                    let got = g.read(&xg).await.unwrap();
                    let width = n_heads * head_dim;
                    for (r, &p) in positions.iter().enumerate() {
                        let (before, after) = (
                            &x[r * width..(r + 1) * width],
                            &got[r * width..(r + 1) * width],
                        );
                        if p as usize >= TABLE_ROWS || p == 0 && name != "longrope" {
                            assert_eq!(
                                after, before,
                                "{what}: row {r} (position {p}) must be unchanged"
                            );
                        } else if p >= 3 {
                            let moved = before
                                .iter()
                                .zip(after)
                                .map(|(a, b)| (a - b).abs())
                                .fold(0.0f32, f32::max);
                            assert!(
                                moved > 1e-3,
                                "{what}: row {r} (position {p}) was not rotated"
                            );
                        }
                    }
                }
            }
        }
    }
}
gpu_test!(rope_matches_cpu, rope_case);

/// q and k rotated in one dispatch equal the CPU's rope of each (grouped-query head counts,
/// positions past the table, both directions).
async fn rope_qk_case() {
    let g = gpu().await;
    let c = CpuBackend;
    let positions: Vec<u32> = vec![0, 3, 11, 12, 5, 1000, 7];
    let rows = positions.len();
    let (pc, pg) = (c.ids(&positions).unwrap(), g.ids(&positions).unwrap());
    for (i, &(hq, hk, head_dim)) in [(1, 1, 2), (3, 1, 8), (9, 3, 64), (4, 4, 6)]
        .iter()
        .enumerate()
    {
        let cfg = &rope_configs(head_dim)[0].1;
        let t = tables(cfg, TABLE_ROWS).unwrap();
        let half = head_dim / 2;
        let (cc, cg) = both(&c, &g, &t.cos, &[TABLE_ROWS, half]);
        let (sc, sg) = both(&c, &g, &t.sin, &[TABLE_ROWS, half]);
        for inverse in [false, true] {
            let s = 500 + 10 * i as u64 + inverse as u64;
            let q = rand_vec(rows * hq * head_dim, s);
            let k = rand_vec(rows * hk * head_dim, s + 5);
            let (mut qc, mut qg) = both(&c, &g, &q, &[rows, hq * head_dim]);
            let (mut kc, mut kg) = both(&c, &g, &k, &[rows, hk * head_dim]);
            c.rope(&mut qc, &pc, &cc, &sc, hq, head_dim, inverse)
                .unwrap();
            c.rope(&mut kc, &pc, &cc, &sc, hk, head_dim, inverse)
                .unwrap();
            g.take_dispatch_counts();
            g.rope_qk(&mut qg, &mut kg, &pg, &cg, &sg, (hq, hk), head_dim, inverse)
                .unwrap();
            assert_eq!(g.take_dispatch_counts(), [("rope_qk", 1)]);
            let what = format!("rope_qk H={hq} Hkv={hk} head_dim={head_dim} inverse={inverse}");
            assert_same(&format!("{what} q"), &g, &qg, &qc, 1e-5, 1e-5).await;
            assert_same(&format!("{what} k"), &g, &kg, &kc, 1e-5, 1e-5).await;
        }
    }
    // k with the wrong width is refused by name.
    let (cg, sg) = (
        g.zeros(&[TABLE_ROWS, 4]).unwrap(),
        g.zeros(&[TABLE_ROWS, 4]).unwrap(),
    );
    let mut q = g.zeros(&[rows, 16]).unwrap();
    let mut k = g.zeros(&[rows, 12]).unwrap();
    let err = g
        .rope_qk(&mut q, &mut k, &pg, &cg, &sg, (2, 1), 8, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("rope") && err.contains("x"), "{err}");
}
gpu_test!(rope_qk_matches_cpu, rope_qk_case);

async fn rope_inverse_round_trip() {
    let g = gpu().await;
    let positions: Vec<u32> = vec![11, 0, 4, 9, 2, 30];
    let pg = g.ids(&positions).unwrap();
    for (n_heads, head_dim) in [(1usize, 2usize), (3, 8), (2, 64)] {
        let cfg = RopeConfig {
            head_dim,
            theta: 10000.0,
            max_position_embeddings: 64,
            scaling: RopeScaling::None,
        };
        let t = tables(&cfg, TABLE_ROWS).unwrap();
        let cg = g.tensor(&t.cos, &[TABLE_ROWS, head_dim / 2]).unwrap();
        let sg = g.tensor(&t.sin, &[TABLE_ROWS, head_dim / 2]).unwrap();
        let x = rand_vec(positions.len() * n_heads * head_dim, 500 + head_dim as u64);
        let mut xg = g
            .tensor(&x, &[positions.len(), n_heads * head_dim])
            .unwrap();
        g.rope(&mut xg, &pg, &cg, &sg, n_heads, head_dim, false)
            .unwrap();
        let rotated = g.read(&xg).await.unwrap();
        let moved = x
            .iter()
            .zip(&rotated)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            moved > 1e-2,
            "heads={n_heads} head_dim={head_dim}: rope left x unchanged"
        );
        g.rope(&mut xg, &pg, &cg, &sg, n_heads, head_dim, true)
            .unwrap();
        let back = g.read(&xg).await.unwrap();
        // A rotation and its inverse: x back up to f32 rounding of cos² + sin² = 1.
        assert_close(
            &format!("rope round trip heads={n_heads} head_dim={head_dim}"),
            &back,
            &x,
            1e-6,
            1e-6,
        );
    }
}
gpu_test!(rope_then_inverse_rope_gives_back_x, rope_inverse_round_trip);

async fn rope_and_rmsnorm_reject_bad_shapes() {
    let g = gpu().await;
    let pos = g.ids(&[0, 1]).unwrap();
    let cos = g.zeros(&[4, 3]).unwrap();
    let sin = g.zeros(&[4, 3]).unwrap();
    let mut x = g.zeros(&[2, 12]).unwrap();
    let err = g
        .rope(&mut x, &pos, &cos, &sin, 2, 5, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("head_dim"), "{err}");
    let short = g.zeros(&[4, 2]).unwrap();
    let err = g
        .rope(&mut x, &pos, &short, &sin, 2, 6, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("rope") && err.contains("cos"), "{err}");
    let xs = g.zeros(&[3, 5]).unwrap();
    let w = g.zeros(&[4]).unwrap();
    let (mut y, mut r) = (g.zeros(&[3, 5]).unwrap(), g.zeros(&[3]).unwrap());
    let err = g
        .rmsnorm_forward(&xs, &w, 1e-5, &mut y, &mut r)
        .unwrap_err()
        .to_string();
    assert!(err.contains("rmsnorm") && err.contains("w"), "{err}");
}
gpu_test!(
    rope_and_rmsnorm_reject_bad_shapes_with_named_errors,
    rope_and_rmsnorm_reject_bad_shapes
);
