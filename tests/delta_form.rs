//! What the delta form of the SVD layer buys: with `Σ = Σ₀` the decomposed model IS the loaded
//! model, whatever the precision of `U` and `V` (`y = x Wᵀ + ((x V) ⊙ 0) Uᵀ + b`). On the CPU its
//! logits equal the dense model's bit for bit (the factored term adds exact zeros), on the GPU
//! within 1e-5; under the old residual form `W' + U diag(Σ) Vᵀ` they differed by the rounding
//! of `W'`. Every family (biases, fused projections, sliding windows), a rank fraction well
//! below full, both backends. Once Σ moves, the logits move.
mod common;
mod export_support;
use common::*;
use export_support::{logits, sample_ids};
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::weights::Linear;
use svdtune::model::{MemoryFiles, Model};
use svdtune::svd::SvdPlan;
use svdtune::svd::decompose::{DecomposeOptions, decompose_model};

fn files(config: &[u8], weights: &[u8]) -> MemoryFiles {
    let mut f = MemoryFiles::new();
    f.insert("config.json", config.to_vec());
    f.insert("model.safetensors", weights.to_vec());
    f
}

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            files(
                include_bytes!(concat!("fixtures/models/", $name, "/config.json")),
                include_bytes!(concat!("fixtures/models/", $name, "/model.safetensors")),
            ),
        )
    };
}

/// Largest `|a − b|`, and the largest `|b|`.
fn max_diff(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let d = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    (d, b.iter().fold(0.0f32, |m, y| m.max(y.abs())))
}

/// Dense logits, then the decomposed model's at `Σ = Σ₀` (`exact`: bit for bit, else within
/// `atol`), then with every Σ moved by 5 %.
async fn on<B: Backend>(be: &B, exact: bool, atol: f32) {
    for (name, files) in [
        fixture!("llama"),
        fixture!("qwen2"),
        fixture!("phi3"),
        fixture!("mistral_swa"),
    ] {
        let mut model = Model::load(be, &files, |_, _, _| {}).unwrap();
        let cfg = model.cfg.clone();
        let (batch, seq) = (2, 7);
        let ids = sample_ids(cfg.vocab_size);
        let dense = logits(be, &mut model, &ids, batch, seq).await;
        let plan = SvdPlan::new(&cfg, 0.25, true).unwrap();
        decompose_model(
            be,
            &cfg,
            &mut model.weights,
            &plan,
            &DecomposeOptions::default(),
            |_, _, _| {},
        )
        .await
        .unwrap();
        let svd = logits(be, &mut model, &ids, batch, seq).await;
        let (diff, scale) = max_diff(&svd, &dense);
        eprintln!(
            "{name} on {}: Σ = Σ₀ logits differ from the dense model's by {diff:e} (max |logit| \
             {scale})",
            be.name()
        );
        if exact {
            assert!(svd == dense, "{name}: logits differ by up to {diff:e}");
        } else {
            assert!(diff <= atol, "{name}: logits differ by {diff:e} > {atol:e}");
        }

        for (_, _, lin) in model.weights.linears_mut() {
            let Linear::Svd(s) = lin else {
                panic!("{name}: a layer was not decomposed")
            };
            let moved: Vec<f32> = be
                .read(&s.sigma)
                .await
                .unwrap()
                .iter()
                .map(|x| 1.05 * x)
                .collect();
            be.write(&mut s.sigma, &moved).unwrap();
        }
        let trained = logits(be, &mut model, &ids, batch, seq).await;
        let (moved, _) = max_diff(&trained, &dense);
        assert!(
            moved > 100.0 * atol.max(1e-6),
            "{name}: moving Σ moved the logits by only {moved:e}"
        );
    }
}

async fn at_sigma0() {
    on(&CpuBackend, true, 0.0).await;
    on(&gpu().await, false, 1e-5).await;
}
gpu_test!(
    at_sigma0_the_decomposed_model_is_the_loaded_model,
    at_sigma0
);
