//! Whole tiny models keep their logits when every layer is decomposed.
#[allow(unused_imports)]
use super::helpers::*;
#[allow(unused_imports)]
use super::layer::*;
#[allow(unused_imports)]
use super::*;

// ---- whole models -------------------------------------------------------------------------------

macro_rules! fixture {
    ($name:literal) => {{
        let mut f = MemoryFiles::new();
        for (file, bytes) in [
            (
                "config.json",
                &include_bytes!(concat!("../fixtures/models/", $name, "/config.json"))[..],
            ),
            (
                "model.safetensors",
                &include_bytes!(concat!("../fixtures/models/", $name, "/model.safetensors"))[..],
            ),
        ] {
            f.insert(file, bytes.to_vec());
        }
        f
    }};
}

/// Logits `[B·S, V]` of the model for a fixed batch of 2 × 7 tokens.
async fn logits<B: Backend>(be: &B, model: &mut Model<B>) -> Vec<f32> {
    use svdtune::model::acts::{Activations, HeadActs};
    use svdtune::model::forward::{Batch, forward, lm_head};
    let (batch, seq) = (2, 7);
    let rows = batch * seq;
    let cfg = model.cfg.clone();
    let ids: Vec<u32> = (0..rows as u32)
        .map(|i| (i * 37 + 5) % cfg.vocab_size as u32)
        .collect();
    let input = Batch::new(be, &cfg, &ids, None, None, batch, seq).unwrap();
    let mut acts = Activations::new(be, &cfg, &model.weights, rows, false).unwrap();
    forward(be, &cfg, &model.weights, &mut model.rope, &input, &mut acts).unwrap();
    let mut head = HeadActs::new(be, &cfg, &model.weights, rows).unwrap();
    let mut out = be.zeros(&[rows, cfg.vocab_size]).unwrap();
    lm_head(be, &model.weights, &acts.hidden, 0, &mut head, &mut out).unwrap();
    be.flush().unwrap();
    be.read(&out).await.unwrap()
}

/// Decomposes every layer at two rank fractions and checks that the logits stay those of the
/// dense model (Σ = Σ₀ gives W back), the plan order, the progress reports, and the errors for
/// a second decomposition and a plan of another model.
async fn model_on<B: Backend>(be: &B, name: &str, files: &MemoryFiles, other: &MemoryFiles) {
    for fraction in [0.1, 1.0] {
        let mut model = Model::load(be, files, |_, _, _| {}).unwrap();
        let dense = logits(be, &mut model).await;
        let plan = SvdPlan::new(&model.cfg, fraction, true).unwrap();
        let mut seen = Vec::new();
        let opts = DecomposeOptions {
            seed: 7,
            ..Default::default()
        };
        let inits = decompose_model(
            be,
            &model.cfg,
            &mut model.weights,
            &plan,
            &opts,
            |d, t, m| seen.push((d, t, m.to_string())),
        )
        .await
        .unwrap();
        let what = format!("{name} on {} at {fraction}", be.name());
        assert_eq!(inits.len(), plan.layers.len(), "{what}");
        for (i, (init, p)) in inits.iter().zip(&plan.layers).enumerate() {
            assert_eq!((&init.module, init.q), (&p.module, p.q), "{what}");
            assert_eq!(init.sigma0.len(), p.q);
            assert!(
                init.sigma0.windows(2).all(|w| w[0] >= w[1]),
                "{what}: {}",
                p.module
            );
            assert!(init.sigma0.iter().all(|s| s.is_finite() && *s >= 0.0));
            assert_eq!(seen[i], (i + 1, plan.layers.len(), p.module.clone()));
        }
        for ((_, _, lin), p) in model.weights.linears_mut().into_iter().zip(&plan.layers) {
            let Linear::Svd(s) = lin else {
                panic!("{what}: a layer stayed dense")
            };
            assert_eq!(s.dims().unwrap(), (p.m, p.n, p.q), "{what}: {}", p.module);
            assert_eq!(
                s.bias.is_some(),
                p.bias,
                "{what}: {} bias moved over",
                p.module
            );
        }
        let svd = logits(be, &mut model).await;
        assert_close(&format!("{what}: logits"), &svd, &dense, 1e-4, 0.0);
        let again = decompose_model(
            be,
            &model.cfg,
            &mut model.weights,
            &plan,
            &opts,
            |_, _, _| {},
        )
        .await
        .err()
        .unwrap();
        assert!(again.to_string().contains("already decomposed"), "{again}");
    }
    let mut model = Model::load(be, files, |_, _, _| {}).unwrap();
    let other_cfg = Model::load(be, other, |_, _, _| {}).unwrap().cfg;
    let plan = SvdPlan::new(&other_cfg, 0.1, true).unwrap();
    let e = decompose_model(
        be,
        &model.cfg,
        &mut model.weights,
        &plan,
        &Default::default(),
        |_, _, _| {},
    )
    .await
    .err()
    .unwrap();
    assert!(e.to_string().contains("plan"), "{e}");
}

async fn models_cpu() {
    let (llama, qwen2) = (fixture!("llama"), fixture!("qwen2"));
    // The plan of another model: biases differ (llama, qwen2), the layer list differs (phi3).
    model_on(&CpuBackend, "llama", &llama, &qwen2).await;
    model_on(&CpuBackend, "qwen2", &qwen2, &llama).await;
    model_on(&CpuBackend, "phi3", &fixture!("phi3"), &llama).await;
}
gpu_test!(decomposed_models_keep_their_logits_cpu, models_cpu);

async fn models_gpu() {
    let gpu = gpu().await;
    let (llama, qwen2) = (fixture!("llama"), fixture!("qwen2"));
    model_on(&gpu, "llama", &llama, &qwen2).await;
    model_on(&gpu, "qwen2", &qwen2, &llama).await;
}
gpu_test!(decomposed_models_keep_their_logits_gpu, models_gpu);

/// Layer seeds: decomposing the same model twice gives the same bits; another run seed changes
/// the test matrices (and so the rounding) but not the values.
async fn model_seeds() {
    let files = fixture!("llama");
    let run = async |seed| {
        let mut model: Model<CpuBackend> = Model::load(&CpuBackend, &files, |_, _, _| {}).unwrap();
        // Full rank: the values are exact whatever the test matrix.
        let plan = SvdPlan::new(&model.cfg, 1.0, true).unwrap();
        let opts = DecomposeOptions {
            seed,
            ..Default::default()
        };
        let inits = decompose_model(
            &CpuBackend,
            &model.cfg,
            &mut model.weights,
            &plan,
            &opts,
            |_, _, _| {},
        )
        .await
        .unwrap();
        let lin = model.weights.linears_mut().pop().unwrap().2;
        let Linear::Svd(head) = lin else { panic!() };
        let u: CpuTensor = head.u.clone();
        (inits, u)
    };
    let (a, ua) = run(3).await;
    let (b, ub) = run(3).await;
    let (c, uc) = run(4).await;
    assert_eq!(a, b);
    assert_eq!(ua.data, ub.data);
    assert_ne!(ua.data, uc.data);
    for (x, y) in a.iter().zip(&c) {
        assert_close(&x.module, &y.sigma0, &x.sigma0, 1e-5, 1e-4);
    }
}
gpu_test!(model_decomposition_is_seeded, model_seeds);

/// Layers decomposed side by side (the CPU backend runs as many at once as its pool has
/// threads) give the bits of each layer decomposed alone on the calling thread, and report
/// progress in plan order; f16 factors are those f32 ones rounded.
async fn side_by_side() {
    use svdtune::backend::Format;
    use svdtune::svd::decompose::factors;
    let files = fixture!("qwen2");
    let be = CpuBackend;
    let loaded: Model<CpuBackend> = Model::load(&be, &files, |_, _, _| {}).unwrap();
    let plan = SvdPlan::new(&loaded.cfg, 0.25, true).unwrap();
    let opts = DecomposeOptions {
        seed: 11,
        ..Default::default()
    };
    let mut alone = Vec::new();
    for (i, (_, _, lin)) in Model::load(&be, &files, |_, _, _| {})
        .unwrap()
        .weights
        .linears_mut()
        .into_iter()
        .enumerate()
    {
        let Linear::Dense { w, .. } = lin else {
            panic!()
        };
        let o = DecomposeOptions {
            seed: layer_seed(opts.seed, i),
            ..opts
        };
        alone.push(factors(&be, w, plan.layers[i].q, &o).await.unwrap());
    }
    for format in [Format::F32, Format::F16] {
        let mut model: Model<CpuBackend> = Model::load(&be, &files, |_, _, _| {}).unwrap();
        let mut seen = Vec::new();
        let o = DecomposeOptions {
            factor_format: format,
            ..opts
        };
        let cfg = model.cfg.clone();
        let inits = decompose_model(&be, &cfg, &mut model.weights, &plan, &o, |d, _, _| {
            seen.push(d)
        })
        .await
        .unwrap();
        assert_eq!(seen, (1..=plan.layers.len()).collect::<Vec<_>>());
        let lins = model.weights.linears_mut();
        for ((init, (_, _, lin)), f) in inits.iter().zip(lins).zip(&alone) {
            let Linear::Svd(s) = lin else { panic!() };
            assert_eq!(init.sigma0, f.sigma0, "{}", init.module);
            for (got, want) in [(&s.u, &f.u), (&s.v, &f.v)] {
                let want = format.round(&want.data).unwrap();
                let got = svdtune::backend::read_f32(&be, got).await.unwrap();
                assert_eq!(got, want, "{} {format}", init.module);
            }
        }
    }
}
gpu_test!(
    layers_side_by_side_give_the_bits_of_each_alone,
    side_by_side
);
