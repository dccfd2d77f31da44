//! The native CPU backend's kernel (the `gemm` crate on one thread, as `src/backend/cpu/blas.rs`
//! calls it for each block) on bench.mjs's products, in GFLOP/s: the per-thread figures to set
//! beside V8's. `cargo run --release --bin native` (run.sh runs it after the wasm builds).
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use std::time::Instant;
    // [m, k, n, A stored [k, m], B stored [n, k]]: bench.mjs's list.
    let shapes = [
        (512, 576, 576, false, true),
        (512, 576, 1536, false, true),
        (512, 1536, 576, false, false),
        (576, 512, 1536, true, false),
        (512, 576, 58, false, false),
        (512, 58, 576, false, true),
        (128, 64, 128, false, true),
        (1536, 576, 66, false, false),
        (576, 1536, 66, true, false),
        (66, 1536, 66, true, false),
    ];
    println!("native kernel (gemm crate, one thread):");
    for (m, k, n, ta, tb) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut c = vec![0.5f32; m * n];
        // (column stride, row stride) of each operand, as blas.rs passes them.
        let (a_cs, a_rs) = if ta { (m as isize, 1) } else { (1, k as isize) };
        let (b_cs, b_rs) = if tb { (k as isize, 1) } else { (1, n as isize) };
        let product = |c: &mut [f32]| unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                a_cs,
                a_rs,
                b.as_ptr(),
                b_cs,
                b_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        };
        let flops = 2.0 * (m * k * n) as f64;
        let reps = ((2e9 / flops).round() as usize).max(1);
        let mut best: f64 = 0.0;
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..reps {
                product(&mut c);
            }
            best = best.max(flops * reps as f64 / t.elapsed().as_secs_f64() / 1e9);
        }
        let ta = if ta { " Aᵀ" } else { "" };
        let tb = if tb { " Bᵀ" } else { "" };
        println!("  {m}×{k}×{n}{ta}{tb}: {best:.1} GFLOP/s");
    }
}
