//! Decomposition of every planned layer of a real model on the CPU backend: total time of
//! `decompose_model` (the figure compared with `torch.svd_lowrank`, see
//! `bench/pytorch/torch_svd_lowrank.py`), the same with Householder-only orthonormalization, how
//! often CholeskyQR2 fell back, Jacobi sweeps, and the rank-q approximation error of a few layers.
//! `cargo bench --bench svd_decompose -- MODEL_DIR [--rank-fraction F] [--repeats N]`
//!
//! With `--synthetic cpu|gpu`, only the folder's `config.json` is read: every planned layer gets
//! random N(0, 0.02²) weights of its shape on that backend and the time of `decompose_layer` over
//! all of them is printed (upload excluded), e.g. to time a GPU without the checkpoint.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    // The folder: the first argument that is neither a flag nor a flag's value (cargo bench
    // also passes `--bench`).
    let takes_value = ["--rank-fraction", "--repeats", "--synthetic"];
    let dir = args.iter().enumerate().find(|(i, a)| {
        !a.starts_with("--") && (*i == 0 || !takes_value.contains(&args[i - 1].as_str()))
    });
    let Some((_, dir)) = dir else {
        eprintln!(
            "usage: cargo bench --bench svd_decompose -- MODEL_DIR [--rank-fraction F] \
             [--repeats N] [--synthetic cpu|gpu]"
        );
        return;
    };
    let fraction = flag("--rank-fraction").unwrap_or(0.1);
    let repeats = flag("--repeats").unwrap_or(3.0) as usize;
    let synthetic = args
        .iter()
        .position(|a| a == "--synthetic")
        .and_then(|i| args.get(i + 1));
    match synthetic.map(String::as_str) {
        None => bench::run(dir, fraction, repeats),
        Some("cpu") => bench::synthetic(&svdtune::backend::cpu::CpuBackend, dir, fraction, repeats),
        Some("gpu") => {
            let gpu = pollster::block_on(svdtune::backend::gpu::GpuBackend::new()).expect("GPU");
            bench::synthetic(&gpu, dir, fraction, repeats)
        }
        Some(other) => eprintln!("--synthetic takes cpu or gpu, not {other}"),
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use std::time::Instant;
    use svdtune::backend::cpu::{CpuBackend, CpuTensor};
    use svdtune::backend::{Backend, Matmul};
    use svdtune::model::load::DirFiles;
    use svdtune::model::weights::Linear;
    use svdtune::model::{Model, ModelConfig};
    use svdtune::svd::SvdPlan;
    use svdtune::svd::decompose::{
        DecomposeOptions, DecomposeTrace, decompose_layer_traced, decompose_model, factors,
        gaussian, layer_seed,
    };
    use svdtune::svd::orth::OrthStrategy;

    /// The layers whose approximation error is printed (as in `torch_svd_lowrank.py`).
    const QUALITY_LAYERS: [&str; 5] = [
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.self_attn.k_proj",
        "model.layers.14.mlp.down_proj",
        "model.layers.29.mlp.up_proj",
        "lm_head",
    ];

    fn load(dir: &str) -> Model<CpuBackend> {
        let files = DirFiles::new(dir).expect("model folder");
        Model::load(&CpuBackend, &files, |_, _, _| {}).expect("model loads")
    }

    /// Seconds of one `decompose_model` over a freshly loaded model.
    fn time_model(dir: &str, fraction: f64, opts: &DecomposeOptions) -> f64 {
        let mut model = load(dir);
        let plan = SvdPlan::new(&model.cfg, fraction, true).unwrap();
        let t = Instant::now();
        let inits = pollster::block_on(decompose_model(
            &CpuBackend,
            &model.cfg,
            &mut model.weights,
            &plan,
            opts,
            |_, _, _| {},
        ))
        .expect("decomposition");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(inits.len(), plan.layers.len());
        secs
    }

    pub fn run(dir: &str, fraction: f64, repeats: usize) {
        let model = load(dir);
        let plan = SvdPlan::new(&model.cfg, fraction, true).unwrap();
        println!(
            "{} layers, rank fraction {fraction}, cpu backend",
            plan.layers.len()
        );
        drop(model);
        for (label, orth) in [
            ("CholeskyQR2 (auto)", OrthStrategy::Auto),
            ("Householder only", OrthStrategy::Householder),
        ] {
            let opts = DecomposeOptions {
                orth,
                ..Default::default()
            };
            let runs: Vec<f64> = (0..repeats.max(1))
                .map(|_| time_model(dir, fraction, &opts))
                .collect();
            let best = runs.iter().cloned().fold(f64::INFINITY, f64::min);
            let all: Vec<String> = runs.iter().map(|s| format!("{s:.3}")).collect();
            println!(
                "decompose_model, {label:18}: min {best:.3} s, runs {}",
                all.join(", ")
            );
        }
        traced(dir, fraction);
    }

    /// Every layer again through `decompose_layer_traced`: fallbacks, sweeps, and the error of
    /// the rank-q approximation `‖W − U diag(Σ₀) Vᵀ‖ / ‖W‖ = ‖W'‖ / ‖W‖` of a few layers.
    fn traced(dir: &str, fraction: f64) {
        let mut model = load(dir);
        let plan = SvdPlan::new(&model.cfg, fraction, true).unwrap();
        let mut sum = DecomposeTrace::default();
        let mut max_sweeps = 0;
        let mut quality = Vec::new();
        let opts = DecomposeOptions::default();
        for (i, ((_, _, lin), p)) in model
            .weights
            .linears_mut()
            .into_iter()
            .zip(&plan.layers)
            .enumerate()
        {
            let Linear::Dense { w, .. } = lin else {
                unreachable!()
            };
            let layer_opts = DecomposeOptions {
                seed: layer_seed(opts.seed, i),
                ..opts
            };
            let f = pollster::block_on(factors(&CpuBackend, w, p.q, &layer_opts)).unwrap();
            let t = f.trace;
            sum.cholesky_qr += t.cholesky_qr;
            sum.cholesky_qr2 += t.cholesky_qr2;
            sum.householder += t.householder;
            sum.jacobi_sweeps += t.jacobi_sweeps;
            max_sweeps = max_sweeps.max(t.jacobi_sweeps);
            if QUALITY_LAYERS.contains(&p.module.as_str()) {
                // The residual W − U diag(Σ₀) Vᵀ (built here only to measure it).
                let neg: Vec<f32> = f.sigma0.iter().map(|s| -s).collect();
                let mut w_res = CpuBackend.zeros(&[p.m, p.n]).unwrap();
                let neg = CpuBackend.tensor(&neg, &[p.q]).unwrap();
                CpuBackend
                    .svd_merge(w, &f.u, &neg, &f.v, &mut w_res)
                    .unwrap();
                let spectral = spectral_norm(&w_res) / spectral_norm(w);
                let frob = frobenius(&w_res) / frobenius(w);
                quality.push(format!(
                    "  {} [{}x{}] q={}: {spectral:.5} / {frob:.5}",
                    p.module, p.m, p.n, p.q
                ));
            }
        }
        println!(
            "orthonormalizations: {} CholeskyQR (intermediate bases), {} CholeskyQR2, {} Householder fallbacks; Jacobi sweeps mean {:.1}, max {max_sweeps}",
            sum.cholesky_qr,
            sum.cholesky_qr2,
            sum.householder,
            sum.jacobi_sweeps as f64 / plan.layers.len() as f64
        );
        println!("quality: relative error of the rank-q approximation, spectral / Frobenius");
        for line in quality {
            println!("{line}");
        }
    }

    /// Random weights of every planned layer's shape (config.json only), decomposed one at a time.
    pub fn synthetic<B: Backend>(be: &B, dir: &str, fraction: f64, repeats: usize) {
        let path = std::path::Path::new(dir).join("config.json");
        let text = std::fs::read_to_string(&path).expect("config.json");
        let cfg = ModelConfig::from_json("config.json", &text).expect("config");
        let plan = SvdPlan::new(&cfg, fraction, true).unwrap();
        println!(
            "{} layers of random weights, rank fraction {fraction}, backend {}",
            plan.layers.len(),
            be.name()
        );
        let opts = DecomposeOptions::default();
        for _ in 0..repeats.max(1) {
            let (mut secs, mut sum) = (0.0, DecomposeTrace::default());
            // Seconds and layer count per module kind (`q_proj`, …, `lm_head`), in plan order.
            let mut by_kind: Vec<(&str, f64, usize)> = Vec::new();
            for (i, p) in plan.layers.iter().enumerate() {
                let data: Vec<f32> = gaussian(p.m, p.n, 1000 + i as u64)
                    .into_iter()
                    .map(|x| 0.02 * x)
                    .collect();
                let w = be.tensor(&data, &[p.m, p.n]).unwrap();
                drop(data);
                pollster::block_on(be.read(&w)).unwrap();
                let layer_opts = DecomposeOptions {
                    seed: layer_seed(opts.seed, i),
                    ..opts
                };
                let t = Instant::now();
                let (svd, _, tr) =
                    pollster::block_on(decompose_layer_traced(be, w, None, p.q, &layer_opts))
                        .unwrap();
                pollster::block_on(be.read(&svd.sigma)).unwrap();
                let dt = t.elapsed().as_secs_f64();
                secs += dt;
                let kind = p.kind.module();
                match by_kind.iter_mut().find(|(k, _, _)| *k == kind) {
                    Some(entry) => {
                        entry.1 += dt;
                        entry.2 += 1;
                    }
                    None => by_kind.push((kind, dt, 1)),
                }
                sum.cholesky_qr += tr.cholesky_qr;
                sum.cholesky_qr2 += tr.cholesky_qr2;
                sum.householder += tr.householder;
            }
            println!(
                "decompose_layer over all layers: {secs:.3} s ({} CholeskyQR, {} CholeskyQR2, {} Householder)",
                sum.cholesky_qr, sum.cholesky_qr2, sum.householder
            );
            let parts: Vec<String> = by_kind
                .iter()
                .map(|(k, t, n)| format!("{k} {:.1} ms", 1e3 * t / *n as f64))
                .collect();
            println!("  per layer: {}", parts.join(", "));
        }
    }

    fn frobenius(t: &CpuTensor) -> f64 {
        t.data
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt()
    }

    /// Largest singular value: power iteration on the `[c, c]` Gram matrix (`c` the smaller side).
    fn spectral_norm(t: &CpuTensor) -> f64 {
        let (m, n) = (t.shape.0[0], t.shape.0[1]);
        let c = m.min(n);
        let mut g = CpuBackend.zeros(&[c, c]).unwrap();
        let spec = if m >= n { Matmul::TN } else { Matmul::NT };
        CpuBackend.matmul(t, t, &mut g, spec).unwrap();
        let g: Vec<f64> = g.data.iter().map(|&x| f64::from(x)).collect();
        let mut x = vec![1.0 / (c as f64).sqrt(); c];
        let mut lambda = 0.0;
        for _ in 0..3000 {
            let y: Vec<f64> = (0..c)
                .map(|i| (0..c).map(|j| g[i * c + j] * x[j]).sum())
                .collect();
            lambda = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>();
            let norm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm == 0.0 {
                return 0.0;
            }
            x = y.into_iter().map(|v| v / norm).collect();
        }
        lambda.max(0.0).sqrt()
    }
}
