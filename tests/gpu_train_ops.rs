//! GPU vs CPU: masked cross-entropy (loss and dlogits), the total sum, the global gradient norm
//! and AdamW (clipping, weight decay, the non-finite guard), on awkward shapes. Runs natively and
//! in browsers.
mod common;
use common::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::GpuTuning;
use svdtune::backend::{AdamW, Backend};

/// Targets in `0..vocab` with some masked rows (≥ vocab), and weights in `[0, 2)` with zeros.
fn targets_and_weights(total: usize, vocab: usize, seed: u64) -> (Vec<u32>, Vec<f32>) {
    let r = rand_range(total, seed, 0.0, 1.0);
    let targets = r
        .iter()
        .enumerate()
        .map(|(i, &u)| match i % 7 {
            3 => vocab as u32 + 3, // masked
            5 => u32::MAX,         // masked
            _ => ((u * vocab as f32) as u32).min(vocab as u32 - 1),
        })
        .collect();
    let weights = rand_range(total, seed + 1, 0.0, 2.0)
        .into_iter()
        .enumerate()
        .map(|(i, w)| if i % 4 == 1 { 0.0 } else { w })
        .collect();
    (targets, weights)
}

async fn cross_entropy_case(
    rows: usize,
    vocab: usize,
    row_offset: usize,
    logit_scale: f32,
    seed: u64,
) {
    let g = gpu().await;
    let c = CpuBackend;
    let total = row_offset + rows + 2; // the chunk is followed by rows it must not touch
    let (targets, weights) = targets_and_weights(total, vocab, seed);
    let logits: Vec<f32> = rand_vec(rows * vocab, seed + 2)
        .iter()
        .map(|z| z * logit_scale)
        .collect();
    let scale = 1.0 / weights.iter().sum::<f32>().max(1.0);
    let (mut lc, mut lg) = both(&c, &g, &logits, &[rows, vocab]);
    let (wc, wg) = both(&c, &g, &weights, &[total]);
    let (mut oc, mut og) = both_rand(&c, &g, &[total], seed + 3);
    let (tc, tg) = (c.ids(&targets).unwrap(), g.ids(&targets).unwrap());
    c.cross_entropy(&mut lc, &tc, &wc, row_offset, scale, &mut oc)
        .unwrap();
    g.cross_entropy(&mut lg, &tg, &wg, row_offset, scale, &mut og)
        .unwrap();
    let what =
        format!("cross_entropy rows {rows} vocab {vocab} offset {row_offset} ×{logit_scale}");
    // Losses reach w·scale·(lse − z) ≈ 100·w·scale for ×50 logits; GPU exp/log differ from the
    // host's by a few ulp of arguments up to 100, hence the relative tolerance.
    assert_same(&format!("{what}: losses"), &g, &og, &oc, 1e-5, 1e-4).await;
    assert_same(&format!("{what}: dlogits"), &g, &lg, &lc, 1e-6, 1e-4).await;
    // Masked rows and zero-weight rows: a loss of exactly 0 and an exactly zero gradient row.
    let losses = g.read(&og).await.unwrap();
    let dlogits = g.read(&lg).await.unwrap();
    for i in 0..rows {
        let r = row_offset + i;
        if targets[r] as usize >= vocab || weights[r] == 0.0 {
            assert_eq!(losses[r], 0.0, "{what}: loss of masked/zero-weight row {r}");
            assert!(
                dlogits[i * vocab..(i + 1) * vocab]
                    .iter()
                    .all(|&d| d == 0.0),
                "{what}: gradient of masked/zero-weight row {r}"
            );
        }
    }
}

async fn cross_entropy_matches_cpu() {
    let mut seed = 1000;
    for vocab in [1, 7, 300, 5000] {
        for rows in [1, 3, 17] {
            for row_offset in [0, 5] {
                for logit_scale in [1.0, 50.0] {
                    seed += 10;
                    cross_entropy_case(rows, vocab, row_offset, logit_scale, seed).await;
                }
            }
        }
    }
}
gpu_test!(
    cross_entropy_matches_cpu_on_chunks,
    cross_entropy_matches_cpu
);

/// More than 65535 rows: the workgroups of one dispatch span a 2-D grid.
async fn cross_entropy_many_rows() {
    cross_entropy_case(65_540, 3, 2, 5.0, 77).await;
}
gpu_test!(
    cross_entropy_handles_more_rows_than_one_grid_dimension,
    cross_entropy_many_rows
);

async fn cross_entropy_rejects_rows_past_the_targets() {
    let g = gpu().await;
    let mut logits = g.zeros(&[4, 5]).unwrap();
    let targets = g.ids(&[0; 6]).unwrap();
    let weights = g.zeros(&[6]).unwrap();
    let mut losses = g.zeros(&[6]).unwrap();
    let err = g
        .cross_entropy(&mut logits, &targets, &weights, 3, 1.0, &mut losses)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cross_entropy"), "{err}");
}
gpu_test!(
    cross_entropy_rejects_a_chunk_past_the_targets,
    cross_entropy_rejects_rows_past_the_targets
);

async fn sum_matches_cpu() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &n) in [1usize, 1000, 2048, 2049, 100_001].iter().enumerate() {
        for (j, (lo, hi)) in [(-1.0, 1.0), (0.0, 1.0)].into_iter().enumerate() {
            let data = rand_range(n, 300 + 2 * i as u64 + j as u64, lo, hi);
            let (xc, xg) = both(&c, &g, &data, &[n]);
            let (mut oc, mut og) = both(&c, &g, &[7.0], &[1]);
            c.sum(&xc, &mut oc).unwrap();
            g.sum(&xg, &mut og).unwrap();
            // f32 partial sums against the host's f64 sum: the rounding error grows with the
            // magnitude of the terms (Σ|x| ≤ n), not with the (possibly cancelling) result;
            // observed 3e-5 at n = 100 001 (the bound here is 1e-3).
            let atol = 1e-8 * n as f32;
            assert_same(
                &format!("sum n {n} in [{lo}, {hi})"),
                &g,
                &og,
                &oc,
                atol,
                1e-6,
            )
            .await;
        }
    }
    // A two-dimensional tensor is summed over all its elements.
    let (xc, xg) = both_rand(&c, &g, &[37, 29], 310);
    let (mut oc, mut og) = both(&c, &g, &[0.0], &[1]);
    c.sum(&xc, &mut oc).unwrap();
    g.sum(&xg, &mut og).unwrap();
    assert_same("sum [37, 29]", &g, &og, &oc, 1e-5, 1e-6).await;
}
gpu_test!(sum_matches_cpu_on_odd_sizes, sum_matches_cpu);

async fn global_norm_matches_cpu() {
    let g = gpu().await;
    let c = CpuBackend;
    let cases: &[&[usize]] = &[&[1], &[5000], &[3, 2049, 100_001], &[17, 1, 4097], &[0, 33]];
    for (i, sizes) in cases.iter().enumerate() {
        let ts: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(j, &n)| both_rand(&c, &g, &[n], 400 + 10 * i as u64 + j as u64))
            .collect();
        let xc: Vec<_> = ts.iter().map(|t| &t.0).collect();
        let xg: Vec<_> = ts.iter().map(|t| &t.1).collect();
        let (mut oc, mut og) = both(&c, &g, &[-3.0], &[1]);
        c.global_norm(&xc, &mut oc).unwrap();
        g.global_norm(&xg, &mut og).unwrap();
        // Squares are all positive, so the f32 partial sums are accurate relative to the result.
        assert_same(&format!("global_norm {sizes:?}"), &g, &og, &oc, 1e-6, 1e-5).await;
    }
    // No tensors: a norm of 0 (the output is overwritten, not accumulated).
    let (mut oc, mut og) = both(&c, &g, &[5.0], &[1]);
    c.global_norm(&[], &mut oc).unwrap();
    g.global_norm(&[], &mut og).unwrap();
    assert_eq!(oc.data, [0.0]);
    assert_eq!(g.read(&og).await.unwrap(), [0.0]);
}
gpu_test!(
    global_norm_matches_cpu_over_several_tensors,
    global_norm_matches_cpu
);

/// The norm over more tensors than one dispatch binds (empty ones among them), with every
/// grouping from one tensor per dispatch to seven; seven per dispatch takes ceil(n / 7) + 1.
async fn global_norm_groups() {
    let g = gpu().await;
    let c = CpuBackend;
    let sizes = [3, 0, 2048, 2049, 1, 0, 57, 5000, 19, 576, 0, 1, 4097, 64, 9];
    let ts: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(j, &n)| both_rand(&c, &g, &[n], 900 + j as u64))
        .collect();
    let xc: Vec<_> = ts.iter().map(|t| &t.0).collect();
    let xg: Vec<_> = ts.iter().map(|t| &t.1).collect();
    let (mut oc, mut og) = both(&c, &g, &[-3.0], &[1]);
    c.global_norm(&xc, &mut oc).unwrap();
    for per in 1..=7 {
        g.set_tuning(GpuTuning {
            reduce_tensors_per_dispatch: per,
            ..GpuTuning::default()
        })
        .unwrap();
        g.take_dispatch_counts();
        g.global_norm(&xg, &mut og).unwrap();
        let nonempty = sizes.iter().filter(|&&n| n > 0).count() as u64;
        let counts = g.take_dispatch_counts();
        let reduce = counts.iter().find(|d| d.0 == "reduce_partial").unwrap().1;
        assert_eq!(reduce, nonempty.div_ceil(per as u64), "{per} per dispatch");
        assert_same(
            &format!("global_norm, {per} per dispatch"),
            &g,
            &og,
            &oc,
            1e-6,
            1e-5,
        )
        .await;
    }
    let bad = GpuTuning {
        reduce_tensors_per_dispatch: 8,
        ..GpuTuning::default()
    };
    assert!(g.set_tuning(bad).is_err());
}
gpu_test!(global_norm_over_groups_of_tensors, global_norm_groups);

/// A norm and a sum recorded back to back share the partial scratch buffer; the second must see
/// the first finished, and a smaller second call must not read stale partials.
async fn reductions_in_one_submission() {
    let g = gpu().await;
    let c = CpuBackend;
    let (ac, ag) = both_rand(&c, &g, &[30_000], 501);
    let (bc, bg) = both_rand(&c, &g, &[4_100], 502);
    let (mut nc, mut ng) = both(&c, &g, &[0.0], &[1]);
    let (mut sc, mut sg) = both(&c, &g, &[0.0], &[1]);
    c.global_norm(&[&ac, &bc], &mut nc).unwrap();
    c.sum(&bc, &mut sc).unwrap();
    g.global_norm(&[&ag, &bg], &mut ng).unwrap();
    g.sum(&bg, &mut sg).unwrap();
    assert_same("norm before sum", &g, &ng, &nc, 1e-6, 1e-5).await;
    assert_same("sum after norm", &g, &sg, &sc, 1e-4, 1e-6).await;
}
gpu_test!(
    reductions_recorded_together_share_scratch_safely,
    reductions_in_one_submission
);

const HP: AdamW = AdamW {
    lr: 1e-2,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.1,
    step: 1,
    max_grad_norm: f32::INFINITY,
};

async fn adamw_matches_cpu() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &n) in [1usize, 255, 1000, 70_001].iter().enumerate() {
        // max_norm ∞ (no clipping), above the gradient norm (no effect), well below it (clips).
        for (j, max_grad_norm) in [f32::INFINITY, 1e6, 0.05].into_iter().enumerate() {
            for weight_decay in [0.0, 0.1] {
                let s = 600 + 20 * i as u64 + 5 * j as u64;
                let (mut pc, mut pg) = both_rand(&c, &g, &[n], s);
                let (mut mc, mut mg) = both(&c, &g, &vec![0.0; n], &[n]);
                let (mut vc, mut vg) = both(&c, &g, &vec![0.0; n], &[n]);
                for step in 1..=5u32 {
                    let hp = AdamW {
                        step,
                        max_grad_norm,
                        weight_decay,
                        ..HP
                    };
                    let (gc, gg) = both(
                        &c,
                        &g,
                        &rand_range(n, s + 100 + step as u64, -0.5, 0.5),
                        &[n],
                    );
                    // The same norm on both sides, so the update itself is what is compared.
                    let (mut nc, _) = both(&c, &g, &[0.0], &[1]);
                    c.global_norm(&[&gc], &mut nc).unwrap();
                    let ng = g.tensor(&nc.data, &[1]).unwrap();
                    c.adamw(&mut pc, &gc, &mut mc, &mut vc, &nc, hp).unwrap();
                    g.adamw(&mut pg, &gg, &mut mg, &mut vg, &ng, hp).unwrap();
                    let what = format!(
                        "adamw n {n} max_norm {max_grad_norm} wd {weight_decay} step {step}"
                    );
                    assert_same(&format!("{what}: m"), &g, &mg, &mc, 1e-7, 1e-5).await;
                    assert_same(&format!("{what}: v"), &g, &vg, &vc, 1e-9, 1e-5).await;
                    assert_same(&format!("{what}: param"), &g, &pg, &pc, 1e-6, 1e-5).await;
                }
            }
        }
    }
}
gpu_test!(
    adamw_matches_cpu_over_steps_with_and_without_clipping,
    adamw_matches_cpu
);

/// The whole optimizer step on the GPU: norm from `global_norm`, clipping inside `adamw`.
async fn adamw_after_gpu_global_norm() {
    let g = gpu().await;
    let c = CpuBackend;
    let n = 3001;
    let (mut pc, mut pg) = both_rand(&c, &g, &[n], 700);
    let (mut mc, mut mg) = both(&c, &g, &vec![0.0; n], &[n]);
    let (mut vc, mut vg) = both(&c, &g, &vec![0.0; n], &[n]);
    let (mut nc, mut ng) = both(&c, &g, &[0.0], &[1]);
    for step in 1..=3u32 {
        let hp = AdamW {
            step,
            max_grad_norm: 1.0,
            ..HP
        };
        let (gc, gg) = both(&c, &g, &rand_range(n, 710 + step as u64, -1.0, 1.0), &[n]);
        c.global_norm(&[&gc], &mut nc).unwrap();
        g.global_norm(&[&gg], &mut ng).unwrap();
        c.adamw(&mut pc, &gc, &mut mc, &mut vc, &nc, hp).unwrap();
        g.adamw(&mut pg, &gg, &mut mg, &mut vg, &ng, hp).unwrap();
    }
    // The GPU norm differs from the host's f64 one in the last bits; that carries into the
    // clipped gradient, still well inside these tolerances.
    assert_same("fused step: param", &g, &pg, &pc, 1e-6, 1e-5).await;
    assert_same("fused step: m", &g, &mg, &mc, 1e-7, 1e-5).await;
    assert_same("fused step: v", &g, &vg, &vc, 1e-9, 1e-5).await;
}
gpu_test!(
    adamw_clips_by_the_gpu_global_norm,
    adamw_after_gpu_global_norm
);

async fn adamw_skips_non_finite_norms() {
    let g = gpu().await;
    let c = CpuBackend;
    let n = 777;
    let p0 = rand_vec(n, 800);
    let m0 = rand_range(n, 801, -0.1, 0.1);
    let v0 = rand_range(n, 802, 0.0, 0.01);
    let grad = rand_vec(n, 803);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for max_grad_norm in [f32::INFINITY, 1.0] {
            let hp = AdamW {
                step: 3,
                max_grad_norm,
                ..HP
            };
            let (mut pc, mut pg) = both(&c, &g, &p0, &[n]);
            let (mut mc, mut mg) = both(&c, &g, &m0, &[n]);
            let (mut vc, mut vg) = both(&c, &g, &v0, &[n]);
            let (gc, gg) = both(&c, &g, &grad, &[n]);
            let (nc, ng) = both(&c, &g, &[bad], &[1]);
            c.adamw(&mut pc, &gc, &mut mc, &mut vc, &nc, hp).unwrap();
            g.adamw(&mut pg, &gg, &mut mg, &mut vg, &ng, hp).unwrap();
            for (what, cpu, gpu_t, before) in [
                ("param", &pc, &pg, &p0),
                ("m", &mc, &mg, &m0),
                ("v", &vc, &vg, &v0),
            ] {
                assert_eq!(&cpu.data, before, "cpu {what} changed with grad norm {bad}");
                assert_eq!(
                    &g.read(gpu_t).await.unwrap(),
                    before,
                    "gpu {what} changed with grad norm {bad}"
                );
            }
        }
    }
    // The guard is per call: a finite norm afterwards updates as usual.
    let (mut pg, mut mg, mut vg) = (
        g.tensor(&p0, &[n]).unwrap(),
        g.tensor(&m0, &[n]).unwrap(),
        g.tensor(&v0, &[n]).unwrap(),
    );
    let gg = g.tensor(&grad, &[n]).unwrap();
    g.adamw(
        &mut pg,
        &gg,
        &mut mg,
        &mut vg,
        &g.tensor(&[2.0], &[1]).unwrap(),
        HP,
    )
    .unwrap();
    assert_ne!(
        g.read(&pg).await.unwrap(),
        p0,
        "a finite grad norm must update the parameters"
    );
}
gpu_test!(
    adamw_skips_the_step_when_the_grad_norm_is_not_finite,
    adamw_skips_non_finite_norms
);
