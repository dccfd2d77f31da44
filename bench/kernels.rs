//! Kernel throughput on the CPU backend and the GPU backend (whatever adapter wgpu finds):
//! matmul in the four layouts and the SVD linear layer forward + backward, in GFLOP/s.
//! `cargo bench --bench kernels [-- --quick]`
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    bench::run(std::env::args().any(|a| a == "--quick"));
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use std::time::Instant;
    use svdtune::backend::cpu::CpuBackend;
    use svdtune::backend::gpu::GpuBackend;
    use svdtune::backend::{
        Backend, DSigma, Matmul, SvdLinear, svd_linear_acts, svd_linear_backward,
        svd_linear_forward,
    };

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Seconds per call of `f`, after one warm-up call; `sync` waits for the backend.
    fn time<B: Backend>(be: &B, iters: usize, mut f: impl FnMut(), sync: &B::Tensor) -> f64 {
        f();
        pollster::block_on(be.read(sync)).expect("sync");
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        pollster::block_on(be.read(sync)).expect("sync");
        t.elapsed().as_secs_f64() / iters as f64
    }

    fn matmuls<B: Backend>(be: &B, sizes: &[usize], iters: usize) {
        let sync = be.zeros(&[1]).unwrap();
        for &s in sizes {
            let a = be.tensor(&data(s * s, 1), &[s, s]).unwrap();
            let b = be.tensor(&data(s * s, 2), &[s, s]).unwrap();
            let mut c = be.zeros(&[s, s]).unwrap();
            for (name, spec) in [
                ("NN", Matmul::NN),
                ("NT", Matmul::NT),
                ("TN", Matmul::TN),
                ("TT", Matmul::TT),
            ] {
                let secs = time(
                    be,
                    iters,
                    || be.matmul(&a, &b, &mut c, spec).unwrap(),
                    &sync,
                );
                let gflops = 2.0 * (s as f64).powi(3) / secs / 1e9;
                println!(
                    "  matmul {name} {s}x{s}x{s}: {:8.2} ms  {gflops:7.2} GFLOP/s",
                    secs * 1e3
                );
            }
        }
    }

    fn svd_layers<B: Backend>(be: &B, shapes: &[(usize, usize, usize, usize)], iters: usize) {
        let sync = be.zeros(&[1]).unwrap();
        for &(t, m, n, q) in shapes {
            let layer = SvdLinear {
                w: be.tensor(&data(m * n, 3), &[m, n]).unwrap(),
                u: be.tensor(&data(m * q, 4), &[m, q]).unwrap(),
                v: be.tensor(&data(n * q, 5), &[n, q]).unwrap(),
                sigma: be.tensor(&data(q, 6), &[q]).unwrap(),
                neg_sigma0: be.tensor(&data(q, 9), &[q]).unwrap(),
                bias: None,
            };
            let x = be.tensor(&data(t * n, 7), &[t, n]).unwrap();
            let g = be.tensor(&data(t * m, 8), &[t, m]).unwrap();
            let mut y = be.zeros(&[t, m]).unwrap();
            let mut dx = be.zeros(&[t, n]).unwrap();
            let mut ds = be.zeros(&[q]).unwrap();
            let mut blocks = be.zeros(&[q, t.div_ceil(64)]).unwrap();
            let mut acts = svd_linear_acts(be, t, q).unwrap();
            let secs = time(
                be,
                iters,
                || {
                    svd_linear_forward(be, &layer, &x, &mut acts, &mut y).unwrap();
                    // dΣ as a training step gets it: row-block partials, then their sum.
                    let partials = DSigma::Blocks(&mut blocks);
                    svd_linear_backward(be, &layer, &g, &mut acts, &mut dx, false, partials)
                        .unwrap();
                    be.sum_blocks(&blocks, &mut ds, true).unwrap();
                },
                &sync,
            );
            let (t, m, n, q) = (t as f64, m as f64, n as f64, q as f64);
            let flops = 2.0 * t * (m * n + n * q + q * m) + 2.0 * t * (m * n + m * q + q * n + q);
            println!(
                "  svd_linear fwd+bwd T={t} m={m} n={n} q={q}: {:8.2} ms  {:7.2} GFLOP/s",
                secs * 1e3,
                flops / secs / 1e9
            );
        }
    }

    pub fn run(quick: bool) {
        let (sizes, iters): (&[usize], usize) = if quick {
            (&[128, 256], 2)
        } else {
            (&[256, 512, 1024], 3)
        };
        // SmolLM2-135M shapes at 512 tokens and rank fraction 0.1: attention (576×576) and MLP (1536×576).
        let layers: &[(usize, usize, usize, usize)] = if quick {
            &[(64, 96, 64, 6)]
        } else {
            &[(512, 576, 576, 57), (512, 1536, 576, 57)]
        };
        println!(
            "cpu backend ({} threads available)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        matmuls(&CpuBackend, sizes, iters);
        svd_layers(&CpuBackend, layers, iters);
        match pollster::block_on(GpuBackend::new()) {
            Ok(gpu) => {
                println!("gpu backend: {}", gpu.name());
                matmuls(&gpu, sizes, iters);
                svd_layers(&gpu, layers, iters);
            }
            Err(e) => println!("gpu backend: unavailable ({e})"),
        }
    }
}
