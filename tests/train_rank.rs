//! The method's promises on a real run of the tiny chat model: decomposing and merging with
//! untouched Σ gives back every original weight exactly (the delta form's merge
//! `W + U diag(Σ − Σ₀) Vᵀ` adds zeros); after training, that merge equals the residual form's
//! `W' + U diag(Σ) Vᵀ` with `W' = W − U diag(Σ₀) Vᵀ` (≤ 1e-5 relative, max error reported), and
//! `W_new − W = U diag(Σ − Σ₀) Vᵀ` has numerical rank ≤ q for every layer. Both backends.
mod common;
use common::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::{Backend, svd_linear_delta};
use svdtune::data::{Dataset, DatasetOptions, ModelText};
use svdtune::model::weights::Linear;
use svdtune::model::{Model, layout};
use svdtune::svd::SvdPlan;
use svdtune::svd::decompose::{DecomposeOptions, decompose_model};
use svdtune::svd::dense::jacobi_svd;
use svdtune::train::run::{TrainOptions, TrainRun};

/// Merged weights `W + U diag(Σ − Σ₀) Vᵀ` of every layer, in plan order.
async fn merged<B: Backend>(be: &B, model: &mut Model<B>) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for (_, _, lin) in model.weights.linears_mut() {
        let Linear::Svd(s) = lin else {
            panic!("layer not decomposed")
        };
        let (m, n, q) = s.dims().unwrap();
        let mut d = be.zeros(&[q]).unwrap();
        svd_linear_delta(be, s, &mut d).unwrap();
        let mut w = be.zeros(&[m, n]).unwrap();
        be.svd_merge(&s.w, &s.u, &d, &s.v, &mut w).unwrap();
        out.push(be.read(&w).await.unwrap());
    }
    out
}

/// The residual form's merge of every layer, in plan order: `W' = W + U diag(−Σ₀) Vᵀ`, then
/// `W' + U diag(Σ) Vᵀ` (what the merge was before the delta form).
async fn residual_merged<B: Backend>(be: &B, model: &mut Model<B>) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for (_, _, lin) in model.weights.linears_mut() {
        let Linear::Svd(s) = lin else {
            panic!("layer not decomposed")
        };
        let (m, n, _) = s.dims().unwrap();
        let mut w_res = be.zeros(&[m, n]).unwrap();
        be.svd_merge(&s.w, &s.u, &s.neg_sigma0, &s.v, &mut w_res)
            .unwrap();
        let mut w = be.zeros(&[m, n]).unwrap();
        be.svd_merge(&w_res, &s.u, &s.sigma, &s.v, &mut w).unwrap();
        out.push(be.read(&w).await.unwrap());
    }
    out
}

async fn check_on<B: Backend>(be: &B) {
    let files = tiny_chat();
    let mut model = Model::load(be, &files, |_, _, _| {}).unwrap();
    let originals = {
        let mut v = Vec::new();
        for (_, _, lin) in model.weights.linears_mut() {
            let Linear::Dense { w, .. } = lin else {
                unreachable!()
            };
            v.push(be.read(w).await.unwrap());
        }
        v
    };
    let cfg = model.cfg.clone();
    let plan = SvdPlan::new(&cfg, 0.25, true).unwrap();
    let opts = DecomposeOptions::default();
    decompose_model(be, &cfg, &mut model.weights, &plan, &opts, |_, _, _| {})
        .await
        .unwrap();

    let specs = layout::linear_layers(&cfg);
    let untouched = merged(be, &mut model).await;
    for ((w0, w1), spec) in originals.iter().zip(&untouched).zip(&specs) {
        assert!(w0 == w1, "{}: merge with Σ₀ is not W", spec.module);
    }

    let text = ModelText::from_model_files(&files).unwrap();
    let data = include_bytes!("fixtures/tiny-chat/data.jsonl");
    let ds = Dataset::from_bytes(
        data,
        &text,
        &DatasetOptions {
            max_tokens: Some(64),
            ..DatasetOptions::default()
        },
    )
    .unwrap();
    let all: Vec<usize> = (0..ds.examples.len()).collect();
    let batches = ds
        .batches(&all, 4, 64, false, text.tokenizer.pad_token_id())
        .unwrap();
    let options = TrainOptions {
        lr: 3e-2,
        epochs: 2,
        seq_len: 64,
        batch_size: 4,
        eval_fraction: 0.0,
        rank_fraction: 0.25,
        ..TrainOptions::default()
    };
    let mut run = TrainRun::new(be, model, batches, Vec::new(), options).unwrap();
    while !run.done() {
        assert!(run.step(be).await.unwrap().applied);
    }
    let trained = merged(be, &mut run.trainer.model).await;
    let residual = residual_merged(be, &mut run.trainer.model).await;
    let mut worst = 0.0f32;
    for ((w0, (w1, w2)), spec) in originals
        .iter()
        .zip(trained.iter().zip(&residual))
        .zip(&specs)
    {
        let scale = w0.iter().fold(0.0f32, |a, x| a.max(x.abs()));
        let err = w1
            .iter()
            .zip(w2)
            .fold(0.0f32, |a, (x, y)| a.max((x - y).abs()));
        assert!(
            err <= 1e-5 * scale,
            "{}: delta and residual merges differ by {err} (scale {scale})",
            spec.module
        );
        worst = worst.max(err / scale);
    }
    eprintln!(
        "{}: trained merge W + U diag(Σ − Σ₀) Vᵀ equals W' + U diag(Σ) Vᵀ within {worst:.1e} \
         relative",
        be.name()
    );
    for ((w0, w1), (spec, layer)) in originals
        .iter()
        .zip(&trained)
        .zip(specs.iter().zip(&plan.layers))
    {
        let (m, n) = (spec.out_features, spec.in_features);
        let diff: Vec<f64> = w1.iter().zip(w0).map(|(a, b)| (a - b) as f64).collect();
        let s = jacobi_svd(&diff, m, n).s;
        assert!(s[0] > 0.0, "{}: the layer did not change", spec.module);
        // f32 merge rounding leaves singular values near 1e-7 · ‖W‖; the update's are far above.
        let tol = 1e-4 * s[0];
        let rank = s.iter().filter(|&&x| x > tol).count();
        assert!(
            rank <= layer.q,
            "{}: update rank {rank} > q = {}: {:?}",
            spec.module,
            layer.q,
            &s[..rank.min(12)]
        );
    }
}

async fn rank_bound() {
    check_on(&CpuBackend).await;
    check_on(&gpu().await).await;
}
gpu_test!(
    merge_is_exact_and_trained_update_has_rank_at_most_q,
    rank_bound
);
