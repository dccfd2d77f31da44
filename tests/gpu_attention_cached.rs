//! Attention against a key/value cache (generation): the CPU version agrees with the training
//! attention (prefill of a whole sequence, then one row at a time, with and without a sliding
//! window), and the GPU agrees with the CPU for prefill and decode geometries, caches larger than
//! the rows in use, grouped heads and head dims up to 256. Runs natively and in browsers.
mod common;
use common::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::{AttentionDims, Backend, CachedAttentionDims};

/// (rows, q_offset, heads, kv heads, head dim, window, cache rows)
type Case = (usize, usize, usize, usize, usize, usize, usize);

fn dims(case: Case) -> CachedAttentionDims {
    let (rows, q_offset, heads, kv_heads, head_dim, window, _) = case;
    CachedAttentionDims {
        rows,
        q_offset,
        n_heads: heads,
        n_kv_heads: kv_heads,
        head_dim,
        window,
        scale: 1.0 / (head_dim as f32).sqrt(),
    }
}

/// Training attention over one sequence of `seq` rows vs the cached version: the prefill (all
/// rows at once) and every single-row decode step give the same rows.
async fn cpu_matches_training_attention() {
    let c = CpuBackend;
    for &(seq, heads, kv_heads, d, window) in &[(9, 4, 2, 8, 0), (17, 3, 1, 16, 5), (6, 2, 2, 4, 1)]
    {
        let (qw, kw) = (heads * d, kv_heads * d);
        let q = c.tensor(&rand_vec(seq * qw, 1), &[seq, qw]).unwrap();
        let k = c.tensor(&rand_vec(seq * kw, 2), &[seq, kw]).unwrap();
        let v = c.tensor(&rand_vec(seq * kw, 3), &[seq, kw]).unwrap();
        let starts: Vec<u32> = (0..seq)
            .map(|t| {
                if window == 0 {
                    0
                } else {
                    (t + 1).saturating_sub(window) as u32
                }
            })
            .collect();
        let full = AttentionDims {
            batch: 1,
            seq,
            n_heads: heads,
            n_kv_heads: kv_heads,
            head_dim: d,
            scale: 1.0 / (d as f32).sqrt(),
        };
        let mut want = c.zeros(&[seq, qw]).unwrap();
        let mut lse = c.zeros(&[seq, heads]).unwrap();
        c.attention_forward(
            &q,
            &k,
            &v,
            &c.ids(&starts).unwrap(),
            full,
            &mut want,
            &mut lse,
        )
        .unwrap();
        let what = format!("seq {seq} heads {heads}/{kv_heads} d {d} window {window}");

        let mut prefill = c.zeros(&[seq, qw]).unwrap();
        let all = dims((seq, 0, heads, kv_heads, d, window, seq));
        c.attention_cached(&q, &k, &v, all, &mut prefill).unwrap();
        assert_close(
            &format!("{what}: prefill"),
            &prefill.data,
            &want.data,
            1e-6,
            1e-5,
        );

        for t in 0..seq {
            let row = c.tensor(&q.data[t * qw..(t + 1) * qw], &[1, qw]).unwrap();
            let mut out = c.zeros(&[1, qw]).unwrap();
            let step = dims((1, t, heads, kv_heads, d, window, seq));
            c.attention_cached(&row, &k, &v, step, &mut out).unwrap();
            let want_row = &want.data[t * qw..(t + 1) * qw];
            assert_close(
                &format!("{what}: decode row {t}"),
                &out.data,
                want_row,
                1e-6,
                1e-5,
            );
        }
    }
}
gpu_test!(
    cached_attention_cpu_matches_training_attention,
    cpu_matches_training_attention
);

async fn check(case: Case, seed: u64) {
    let (rows, _, heads, kv_heads, d, _, cap) = case;
    let g = gpu().await;
    let c = CpuBackend;
    let (qw, kw) = (heads * d, kv_heads * d);
    let (qc, qg) = both_rand(&c, &g, &[rows, qw], seed);
    let (kc, kg) = both_rand(&c, &g, &[cap, kw], seed + 1);
    let (vc, vg) = both_rand(&c, &g, &[cap, kw], seed + 2);
    let (mut oc, mut og) = both_rand(&c, &g, &[rows, qw], seed + 3);
    c.attention_cached(&qc, &kc, &vc, dims(case), &mut oc)
        .unwrap();
    g.attention_cached(&qg, &kg, &vg, dims(case), &mut og)
        .unwrap();
    assert_same(
        &format!("attention_cached {case:?}"),
        &g,
        &og,
        &oc,
        1e-5,
        1e-4,
    )
    .await;
}

async fn gpu_matches_cpu() {
    check((12, 0, 4, 2, 8, 0, 12), 10).await; // prefill
    check((1, 11, 4, 2, 8, 0, 32), 20).await; // decode, cache larger than in use
    check((1, 200, 9, 3, 64, 0, 256), 30).await; // SmolLM2 geometry, several key blocks
    check((5, 70, 3, 1, 256, 0, 80), 40).await; // widest heads, rows after a prefix
    check((7, 30, 4, 4, 24, 9, 40), 50).await; // sliding window
    check((1, 0, 2, 1, 96, 0, 1), 60).await; // first token
}
gpu_test!(cached_attention_gpu_matches_cpu, gpu_matches_cpu);

/// A query past the end of the cache is a named error.
async fn rejects_overrun() {
    let c = CpuBackend;
    let q = c.zeros(&[2, 8]).unwrap();
    let kv = c.zeros(&[4, 8]).unwrap();
    let mut out = c.zeros(&[2, 8]).unwrap();
    let err = c
        .attention_cached(&q, &kv, &kv, dims((2, 3, 2, 2, 4, 0, 4)), &mut out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("past the 4 rows"), "{err}");
}
gpu_test!(cached_attention_rejects_overrun, rejects_overrun);
