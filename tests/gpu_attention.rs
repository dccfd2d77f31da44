//! GPU vs CPU: causal grouped-query attention, forward (out, lse) and backward (dq, dk, dv), for
//! batch 1 and 2, sequences of 1 to 150 rows (several 64-key and 64-pair blocks), plain and
//! grouped heads (groups of 1 to 7), head dims 2 to 256 (every tile size the shaders pick, and
//! partial tiles), plain causal, packed and irregular attention windows, and large scores.
//! Runs natively and in browsers.
mod common;
use common::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::{AttentionDims, Backend};

/// How `window_start` is filled for each sequence.
#[derive(Clone, Copy, Debug)]
enum Window {
    /// All 0: plain causal attention.
    Causal,
    /// Packed conversations: starts at 0, 13 and 40 (rows attend only inside their conversation).
    Packed,
    /// Pseudo-random starts in `0 ..= t + 3`, some past `t` (clamped to `t`: the row sees only
    /// itself); the rows that see a key are then not contiguous.
    Irregular,
}

fn window_starts(batch: usize, seq: usize, kind: Window, seed: u64) -> Vec<u32> {
    let r = rand_range(batch * seq, seed, 0.0, 1.0);
    (0..batch * seq)
        .map(|i| {
            let t = i % seq;
            match kind {
                Window::Causal => 0,
                Window::Packed => [0, 13, 40].into_iter().filter(|&s| s <= t).max().unwrap() as u32,
                Window::Irregular => (r[i] * (t + 4) as f32) as u32,
            }
        })
        .collect()
}

/// (batch, seq, heads, kv heads, head dim)
type Geometry = (usize, usize, usize, usize, usize);

/// Runs forward and backward on both backends and compares all five outputs. q and k are scaled
/// by `magnitude` (large scores test the softmax's max subtraction). Outputs start as random
/// data: forward and backward must overwrite them.
async fn check(geometry: Geometry, window: Window, magnitude: f32, seed: u64) {
    let (batch, seq, heads, kv_heads, head_dim) = geometry;
    let g = gpu().await;
    let c = CpuBackend;
    let rows = batch * seq;
    let dims = AttentionDims {
        batch,
        seq,
        n_heads: heads,
        n_kv_heads: kv_heads,
        head_dim,
        scale: 1.0 / (head_dim as f32).sqrt(),
    };
    let what = format!("attention {geometry:?} {window:?} ×{magnitude}");
    let (qw, kw) = (heads * head_dim, kv_heads * head_dim);
    let scaled = |n: usize, s: u64| -> Vec<f32> {
        rand_vec(n, s).into_iter().map(|x| x * magnitude).collect()
    };
    let (qc, qg) = both(&c, &g, &scaled(rows * qw, seed), &[rows, qw]);
    let (kc, kg) = both(&c, &g, &scaled(rows * kw, seed + 1), &[rows, kw]);
    let (vc, vg) = both_rand(&c, &g, &[rows, kw], seed + 2);
    let starts = window_starts(batch, seq, window, seed + 3);
    let (wc, wg) = (c.ids(&starts).unwrap(), g.ids(&starts).unwrap());

    let (mut oc, mut og) = both_rand(&c, &g, &[rows, qw], seed + 4);
    let (mut lc, mut lg) = both_rand(&c, &g, &[rows, heads], seed + 5);
    c.attention_forward(&qc, &kc, &vc, &wc, dims, &mut oc, &mut lc)
        .unwrap();
    g.attention_forward(&qg, &kg, &vg, &wg, dims, &mut og, &mut lg)
        .unwrap();
    // lse grows with the scores (|lse| up to ~40 at ×8), so it also gets a relative tolerance.
    assert_same(&format!("{what}: lse"), &g, &lg, &lc, 1e-4, 1e-5).await;
    assert_same(&format!("{what}: out"), &g, &og, &oc, 1e-4, 1e-4).await;

    let (doc, dog) = both_rand(&c, &g, &[rows, qw], seed + 6);
    let (mut dqc, mut dqg) = both_rand(&c, &g, &[rows, qw], seed + 7);
    let (mut dkc, mut dkg) = both_rand(&c, &g, &[rows, kw], seed + 8);
    let (mut dvc, mut dvg) = both_rand(&c, &g, &[rows, kw], seed + 9);
    c.attention_backward(
        &qc, &kc, &vc, &wc, dims, &oc, &lc, &doc, &mut dqc, &mut dkc, &mut dvc,
    )
    .unwrap();
    g.attention_backward(
        &qg, &kg, &vg, &wg, dims, &og, &lg, &dog, &mut dqg, &mut dkg, &mut dvg,
    )
    .unwrap();
    // dq and dk carry a factor `magnitude` (they are sums of k resp. q rows), so their absolute
    // tolerance scales with it; dv does not.
    let tol = 1e-4 * magnitude.max(1.0);
    assert_same(&format!("{what}: dq"), &g, &dqg, &dqc, tol, 1e-4).await;
    assert_same(&format!("{what}: dk"), &g, &dkg, &dkc, tol, 1e-4).await;
    assert_same(&format!("{what}: dv"), &g, &dvg, &dvc, 1e-4, 1e-4).await;
}

async fn small_geometries() {
    let cases: &[(Geometry, Window)] = &[
        ((1, 1, 1, 1, 2), Window::Causal),
        ((2, 1, 4, 2, 8), Window::Causal),
        ((1, 5, 1, 1, 8), Window::Causal),
        ((2, 5, 4, 2, 2), Window::Irregular),
        ((2, 5, 6, 3, 64), Window::Causal),
        ((1, 33, 2, 2, 8), Window::Packed),
        ((2, 33, 4, 2, 64), Window::Causal),
        ((1, 33, 6, 3, 96), Window::Packed),
        ((2, 33, 6, 3, 8), Window::Irregular),
        ((2, 33, 2, 2, 96), Window::Irregular),
        // 7 query heads per kv head (Qwen2-0.5B's 14 / 2): tiles of (row, head) pairs end
        // mid-row.
        ((1, 20, 14, 2, 64), Window::Packed),
    ];
    for (i, &(geometry, window)) in cases.iter().enumerate() {
        check(geometry, window, 1.0, 100 + 10 * i as u64).await;
    }
}
gpu_test!(attention_small_geometries_match_cpu, small_geometries);

/// Sequences longer than one 64-key block: the online softmax merges blocks, and the dk/dv
/// kernel walks several blocks of (query row, head) pairs.
async fn long_sequences() {
    check((1, 150, 2, 1, 8), Window::Causal, 1.0, 300).await;
    check((2, 70, 4, 2, 64), Window::Packed, 1.0, 310).await;
    check((1, 129, 3, 3, 2), Window::Irregular, 1.0, 320).await;
}
gpu_test!(attention_long_sequences_match_cpu, long_sequences);

/// The largest supported head dim (every invocation owns 4 dims) and odd head dims in between.
async fn wide_heads() {
    check((1, 9, 2, 1, 256), Window::Causal, 1.0, 400).await;
    check((2, 7, 3, 1, 200), Window::Irregular, 1.0, 410).await;
    check((1, 20, 2, 2, 129), Window::Packed, 1.0, 420).await;
}
gpu_test!(attention_wide_heads_match_cpu, wide_heads);

/// q and k ×8 (scores of tens) and ×20 (scores of hundreds: exp overflows f32 past 88, so this
/// fails without the max subtraction).
async fn large_scores() {
    check((2, 33, 6, 3, 64), Window::Causal, 8.0, 500).await;
    check((1, 100, 4, 2, 96), Window::Packed, 8.0, 510).await;
    check((2, 33, 4, 2, 64), Window::Irregular, 20.0, 520).await;
}
gpu_test!(attention_large_scores_stay_stable, large_scores);

/// Head dims past what the shaders hold are a named error, not a panic or garbage.
async fn rejects_huge_head_dim() {
    let g = gpu().await;
    let (rows, d) = (3, 257);
    let dims = AttentionDims {
        batch: 1,
        seq: rows,
        n_heads: 1,
        n_kv_heads: 1,
        head_dim: d,
        scale: 1.0,
    };
    let q = g.zeros(&[rows, d]).unwrap();
    let k = g.zeros(&[rows, d]).unwrap();
    let v = g.zeros(&[rows, d]).unwrap();
    let w = g.ids(&[0; 3]).unwrap();
    let mut out = g.zeros(&[rows, d]).unwrap();
    let mut lse = g.zeros(&[rows, 1]).unwrap();
    let err = g
        .attention_forward(&q, &k, &v, &w, dims, &mut out, &mut lse)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("attention") && err.contains("head_dim"),
        "{err}"
    );
}
gpu_test!(attention_rejects_head_dim_over_256, rejects_huge_head_dim);
