//! GPU tuning `subgroup_reduce`: the row reductions (RMSNorm forward and backward, cross-entropy,
//! the gradient norm's first pass) over subgroup operations equal the CPU and the reductions in
//! workgroup memory within float summation order, on rows shorter than, equal to and longer than
//! a workgroup. Natively the adapter must offer subgroups (lavapipe does); in browsers the setting
//! is refused with a clear error. Runs natively and in browsers.
mod common;
use common::*;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::{GpuBackend, GpuTuning};

/// `[rows, cols]` of the RMSNorm rows, and `[rows, vocab]` of the cross-entropy chunks.
const SHAPES: &[(usize, usize)] = &[(1, 7), (3, 256), (5, 300), (2, 1000), (9, 2049)];

/// Every reduction's outputs on `b`: y, rstd, dx of RMSNorm; losses and dlogits; a global norm.
async fn outputs<B: Backend>(b: &B, rows: usize, cols: usize, seed: u64) -> Vec<Vec<f32>> {
    let t = |shape: &[usize], s: u64| {
        b.tensor(&rand_vec(shape.iter().product(), s), shape)
            .unwrap()
    };
    let (x, w, dy) = (
        t(&[rows, cols], seed),
        t(&[cols], seed + 1),
        t(&[rows, cols], seed + 2),
    );
    let mut y = b.zeros(&[rows, cols]).unwrap();
    let mut rstd = b.zeros(&[rows]).unwrap();
    b.rmsnorm_forward(&x, &w, 1e-5, &mut y, &mut rstd).unwrap();
    let mut dx = b.zeros(&[rows, cols]).unwrap();
    b.rmsnorm_backward(&x, &w, &rstd, &dy, &mut dx, false, None)
        .unwrap();
    let mut logits = t(&[rows, cols], seed + 3);
    // One masked row (target past the vocabulary).
    let targets: Vec<u32> = (0..rows)
        .map(|r| {
            if r == 1 {
                cols as u32
            } else {
                ((r * 7919) % cols) as u32
            }
        })
        .collect();
    let ids = b.ids(&targets).unwrap();
    let weights = b.tensor(&vec![1.0; rows], &[rows]).unwrap();
    let mut losses = b.zeros(&[rows]).unwrap();
    b.cross_entropy(&mut logits, &ids, &weights, 0, 0.5, &mut losses)
        .unwrap();
    let mut norm = b.zeros(&[1]).unwrap();
    b.global_norm(&[&x, &dy], &mut norm).unwrap();
    let mut out = Vec::new();
    for t in [&y, &rstd, &dx, &losses, &logits, &norm] {
        out.push(b.read(t).await.unwrap());
    }
    out
}

fn assert_close(what: &str, got: &[Vec<f32>], want: &[Vec<f32>]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what} output {i}");
        for (j, (a, b)) in g.iter().zip(w).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 + 1e-4 * b.abs(),
                "{what} output {i}[{j}]: {a} vs {b}"
            );
        }
    }
}

async fn subgroup_reduce() {
    let g: GpuBackend = gpu().await;
    let on = GpuTuning::parse("subgroup_reduce=1").unwrap();
    if cfg!(target_arch = "wasm32") {
        let e = g.set_tuning(on).unwrap_err().to_string();
        assert!(
            e.contains("subgroup_reduce=1 needs subgroup operations"),
            "{e}"
        );
        return;
    }
    g.set_tuning(on)
        .expect("the native adapter offers subgroups");
    let c = CpuBackend;
    let before = g.cache_stats().pipelines_created;
    let mut differs = false;
    for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
        let seed = 100 + 10 * i as u64;
        g.set_tuning(GpuTuning::default()).unwrap();
        let tree = outputs(&g, rows, cols, seed).await;
        g.set_tuning(on).unwrap();
        let sub = outputs(&g, rows, cols, seed).await;
        let cpu = outputs(&c, rows, cols, seed).await;
        let what = format!("[{rows}, {cols}]");
        assert_close(&format!("{what} subgroups vs CPU"), &sub, &cpu);
        assert_close(
            &format!("{what} subgroups vs workgroup memory"),
            &sub,
            &tree,
        );
        assert_close(&format!("{what} workgroup memory vs CPU"), &tree, &cpu);
        differs |= sub != tree;
    }
    // The variant has pipelines of its own (four kernels), and sums in another order.
    assert!(g.cache_stats().pipelines_created >= before + 4);
    assert!(
        differs,
        "the subgroup reductions gave the same bits everywhere"
    );
    g.set_tuning(GpuTuning::default()).unwrap();
}
gpu_test!(subgroup_reduce_matches_cpu, subgroup_reduce);
