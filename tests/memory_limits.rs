//! Memory limits, checked before work starts: the estimate of a training run (from config.json
//! and the SVD plan alone) against the GPU backend's own count of the bytes it holds, with and
//! without activation recomputation on every family, and the stored-precision weight sizes
//! against a bf16 checkpoint's own tensor bytes; `auto` recomputation chosen only when the run
//! with stored activations does not fit the budget; a GPU
//! budget (`?max-memory=` on the page) that refuses a model's weights, a run's estimate and a
//! single buffer as out of memory, each naming what it was for and the sizes, never an
//! allocation failure or a panic.
#![cfg(not(target_arch = "wasm32"))]
use svdtune::Error;
use svdtune::backend::gpu::{DeviceCaps, GpuBackend};
use svdtune::backend::{Backend, Format};
use svdtune::model::load::open_checkpoint;
use svdtune::model::{MemoryFiles, Model};
use svdtune::svd::decompose::{DecomposeOptions, decompose_model};
use svdtune::svd::plan::SvdPlan;
use svdtune::train::memory::{
    MemoryOptions, Recompute, StoredSizes, WeightStorage, estimate, estimate_with, plan_memory,
};
use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
use svdtune::train::run::TrainOptions;
use svdtune::train::setup::RunPlan;
use svdtune::train::step::Trainer;

const ALL_FAMILIES: [(&str, &[u8], &[u8]); 6] = [
    (
        "llama",
        include_bytes!("fixtures/models/llama/config.json"),
        include_bytes!("fixtures/models/llama/model.safetensors"),
    ),
    (
        "mistral",
        include_bytes!("fixtures/models/mistral/config.json"),
        include_bytes!("fixtures/models/mistral/model.safetensors"),
    ),
    FAMILIES[0],
    FAMILIES[1],
    FAMILIES[2],
    FAMILIES[3],
];

const FAMILIES: [(&str, &[u8], &[u8]); 4] = [
    (
        "qwen2",
        include_bytes!("fixtures/models/qwen2/config.json"),
        include_bytes!("fixtures/models/qwen2/model.safetensors"),
    ),
    (
        "phi3",
        include_bytes!("fixtures/models/phi3/config.json"),
        include_bytes!("fixtures/models/phi3/model.safetensors"),
    ),
    (
        "qwen3",
        include_bytes!("fixtures/models/qwen3/config.json"),
        include_bytes!("fixtures/models/qwen3/model.safetensors"),
    ),
    (
        "gemma3",
        include_bytes!("fixtures/models/gemma3/config.json"),
        include_bytes!("fixtures/models/gemma3/model.safetensors"),
    ),
];

fn files(config: &[u8], weights: &[u8]) -> MemoryFiles {
    let mut files = MemoryFiles::new();
    files.insert("config.json", config.to_vec());
    files.insert("model.safetensors", weights.to_vec());
    files
}

async fn gpu(memory: Option<u64>) -> GpuBackend {
    GpuBackend::with_caps(DeviceCaps {
        binding: None,
        memory,
    })
    .await
    .unwrap_or_else(|e| panic!("GPU test needs an adapter: {e}"))
}

fn schedule() -> Schedule {
    Schedule {
        peak_lr: 1e-2,
        warmup_steps: 0,
        total_steps: 10,
        decay: Decay::Constant,
    }
}

#[test]
fn the_estimate_matches_what_the_gpu_backend_allocates() {
    pollster::block_on(async {
        for (name, config, weights) in FAMILIES {
            let be = gpu(None).await;
            let mut model = Model::load(&be, &files(config, weights), |_, _, _| {}).unwrap();
            let plan = SvdPlan::new(&model.cfg, 0.25, true).unwrap();
            let cfg = model.cfg.clone();
            let opts = DecomposeOptions::default();
            decompose_model(&be, &cfg, &mut model.weights, &plan, &opts, |_, _, _| {})
                .await
                .unwrap();
            let (batch, seq) = (3, 16);
            let est = estimate(&cfg, &plan, batch, seq, be.logit_chunk_elements());
            let after_decomposition = be.memory().live_bytes;
            // The load and decomposition's peak: the estimate of that phase covers it.
            let decomposition_peak = be.memory().peak_bytes;
            let over = est.decomposition_peak() as f64 / decomposition_peak as f64;
            println!(
                "{name}: decomposition estimate {} bytes, peak {decomposition_peak}: {over:.3}",
                est.decomposition_peak()
            );
            assert!(
                (1.0..=1.6).contains(&over),
                "{name}: decomposition estimate/peak = {over}"
            );
            let trainer = Trainer::new(
                &be,
                model,
                batch,
                seq,
                true,
                schedule(),
                AdamWConfig::default(),
            )
            .unwrap();
            let held = be.memory().live_bytes;
            let ratio = est.training() as f64 / held as f64;
            println!(
                "{name}: estimate {} bytes (weights {}, optimizer {}, activations {}), \
                 held {held} bytes ({after_decomposition} after decomposition): {ratio:.3}",
                est.training(),
                est.weights,
                est.optimizer,
                est.activations
            );
            assert!(
                (0.9..=1.1).contains(&ratio),
                "{name}: estimate/held = {ratio}"
            );
            drop(trainer);
        }
    });
}

#[test]
fn a_memory_budget_refuses_weights_runs_and_buffers_by_name() {
    pollster::block_on(async {
        let (_, config, weights) = FAMILIES[0];
        // The model's weights alone exceed the budget: refused before any upload.
        let be = gpu(Some(10_000)).await;
        let err = match Model::load(&be, &files(config, weights), |_, _, _| {}) {
            Ok(_) => panic!("a 10 kB budget still loaded the model"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                Error::OutOfMemory {
                    limit: Some(10_000),
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.contains("not enough GPU memory for the model's")
                && msg.contains("of at most 10.0 kB available"),
            "{msg}"
        );
        assert_eq!(be.memory().live_bytes, 0, "nothing was uploaded");

        // The weights fit but the run does not: the estimate refuses it before decomposition.
        let be = gpu(None).await;
        let model = Model::load(&be, &files(config, weights), |_, _, _| {}).unwrap();
        let weights_bytes = be.memory().live_bytes;
        let plan = SvdPlan::new(&model.cfg, 0.25, true).unwrap();
        let est = estimate(&model.cfg, &plan, 64, 64, be.logit_chunk_elements());
        let budget = weights_bytes * 2;
        let capped = gpu(Some(budget)).await;
        let err = est.check(&capped, "batches of 64 × 64").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("training batches of 64 × 64 (weights "),
            "{msg}"
        );
        assert!(
            msg.contains("activations") && msg.contains("available"),
            "{msg}"
        );
        assert!(
            est.check(&be, "batches of 64 × 64").is_ok(),
            "no budget, no refusal"
        );
        // The run setup makes the same check, with the same message (stored activations).
        let options = TrainOptions {
            rank_fraction: 0.25,
            batch_size: 64,
            seq_len: 64,
            recompute: Recompute::Off,
            ..TrainOptions::default()
        };
        match RunPlan::new(
            &capped,
            &model.cfg,
            &svdtune::train::memory::StoredSizes::default(),
            &options,
        ) {
            Ok(_) => panic!("the run setup accepted a run the estimate refused"),
            Err(e) => assert_eq!(e.to_string(), msg),
        }
        assert!(
            RunPlan::new(
                &be,
                &model.cfg,
                &svdtune::train::memory::StoredSizes::default(),
                &options
            )
            .is_ok()
        );

        // A budget met half-way through the training buffers: the buffer and its purpose named.
        let model = Model::load(&capped, &files(config, weights), |_, _, _| {}).unwrap();
        let err = match Trainer::new(
            &capped,
            model,
            64,
            64,
            true,
            schedule(),
            AdamWConfig::default(),
        ) {
            Ok(_) => panic!("the training buffers fit a budget the estimate refused"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(
            msg.contains(
                "not enough GPU memory for the training buffers for batches of 64 × 64 (tensor ["
            ) && msg.contains("already in use"),
            "{msg}"
        );
        assert!(capped.memory().peak_bytes <= budget);
    });
}

#[test]
fn the_estimate_matches_the_gpu_backend_with_and_without_recomputation() {
    pollster::block_on(async {
        for (name, config, weights) in ALL_FAMILIES {
            for recompute in [false, true] {
                let be = gpu(None).await;
                let mut model = Model::load(&be, &files(config, weights), |_, _, _| {}).unwrap();
                let plan = SvdPlan::new(&model.cfg, 0.25, true).unwrap();
                let cfg = model.cfg.clone();
                let opts = DecomposeOptions::default();
                decompose_model(&be, &cfg, &mut model.weights, &plan, &opts, |_, _, _| {})
                    .await
                    .unwrap();
                let decomposed = be.memory().live_bytes;
                let (batch, seq) = (4, 32);
                let mo = MemoryOptions {
                    recompute,
                    ..MemoryOptions::new(batch, seq, be.logit_chunk_elements())
                };
                let est = estimate_with(&cfg, &plan, &mo);
                let trainer = Trainer::with_recompute(
                    &be,
                    model,
                    batch,
                    seq,
                    true,
                    recompute,
                    schedule(),
                    AdamWConfig::default(),
                )
                .unwrap();
                let held = be.memory().live_bytes;
                let ratio = est.training() as f64 / held as f64;
                let model_ratio = (est.weights + est.factors) as f64 / decomposed as f64;
                println!(
                    "{name}, recompute {recompute}: estimate {} bytes ({est:?}), held {held} \
                     ({decomposed} after decomposition): {ratio:.4}, model {model_ratio:.4}",
                    est.training()
                );
                assert!(
                    (0.95..=1.05).contains(&ratio),
                    "{name}: estimate/held = {ratio}"
                );
                assert!(
                    (0.95..=1.05).contains(&model_ratio),
                    "{name}: model estimate/held = {model_ratio}"
                );
                drop(trainer);
            }
        }
    });
}

#[test]
fn stored_weights_count_the_checkpoint_bytes_and_auto_recomputes_only_when_needed() {
    pollster::block_on(async {
        let mut f = MemoryFiles::new();
        f.insert(
            "config.json",
            include_bytes!("fixtures/models/llama_bf16/config.json").to_vec(),
        );
        f.insert(
            "model.safetensors",
            include_bytes!("fixtures/models/llama_bf16/model.safetensors").to_vec(),
        );
        let cfg = svdtune::model::load::read_config(&f).unwrap();
        let ck = open_checkpoint(&f).unwrap();
        let sizes = StoredSizes::from_checkpoint(&ck);
        let plan = SvdPlan::new(&cfg, 0.25, true).unwrap();
        let upcast = MemoryOptions::new(2, 16, 1 << 20);
        let stored = MemoryOptions {
            storage: WeightStorage::Stored,
            stored: Some(&sizes),
            ..upcast.clone()
        };
        let (a, b) = (
            estimate_with(&cfg, &plan, &upcast),
            estimate_with(&cfg, &plan, &stored),
        );
        // Every tensor of the file as stored (bf16), norms held as f32, and the tied lm_head's
        // copy of the embedding in the embedding's dtype.
        let file_bytes: u64 = ck
            .names()
            .map(|n| {
                let (e, _) = ck.entry(n).unwrap();
                if n.ends_with("norm.weight") {
                    4 * e.numel() as u64
                } else {
                    e.end - e.start
                }
            })
            .sum();
        let (embed, _) = ck.entry("model.embed_tokens.weight").unwrap();
        let want = file_bytes + (embed.end - embed.start);
        assert!(cfg.tie_word_embeddings);
        assert_eq!(b.weights, want, "stored {b:?}, upcast {a:?}");
        assert!(b.weights < a.weights * 6 / 10, "bf16 is about half of f32");
        assert_eq!(
            (a.factors, a.optimizer, a.activations),
            (b.factors, b.optimizer, b.activations)
        );
        let f16 = MemoryOptions {
            factor_dtype: svdtune::train::memory::FactorDtype::F16,
            ..upcast.clone()
        };
        let c = estimate_with(&cfg, &plan, &f16);
        assert!(
            c.factors < a.factors && c.factors * 2 > a.factors,
            "{c:?} vs {a:?}"
        );

        // auto: stored activations while they fit, recomputation when only that fits, and the
        // recomputing estimate's numbers when nothing fits.
        let (off, on) = (
            estimate_with(
                &cfg,
                &plan,
                &MemoryOptions {
                    recompute: false,
                    ..upcast.clone()
                },
            ),
            estimate_with(
                &cfg,
                &plan,
                &MemoryOptions {
                    recompute: true,
                    ..upcast.clone()
                },
            ),
        );
        assert!(on.total() < off.total(), "{on:?} vs {off:?}");
        let roomy = gpu(Some(off.total())).await;
        let tight = gpu(Some(on.total())).await;
        let tiny = gpu(Some(on.total() - 1)).await;
        let pick = |be: &GpuBackend, r| plan_memory(be, &cfg, &plan, r, &upcast);
        assert!(!pick(&roomy, Recompute::Auto).unwrap().recompute);
        assert!(pick(&tight, Recompute::Auto).unwrap().recompute);
        assert!(pick(&roomy, Recompute::On).unwrap().recompute);
        assert!(pick(&tight, Recompute::Off).is_err());
        let msg = pick(&tiny, Recompute::Auto).unwrap_err().to_string();
        assert!(
            msg.contains("factors") && msg.contains("recomputed"),
            "{msg}"
        );
    });
}

/// The f32 llama fixture with every tensor rounded to bf16 (as tests/stored_precision.rs makes it).
fn bf16_checkpoint(weights: &[u8]) -> Vec<u8> {
    use safetensors::{Dtype, tensor::TensorView};
    let st = safetensors::SafeTensors::deserialize(weights).unwrap();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (
                name,
                view.shape().to_vec(),
                Format::Bf16.encode(&values).unwrap(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::BF16, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn the_run_estimate_matches_the_gpu_backend_for_a_bf16_checkpoint() {
    pollster::block_on(async {
        let (config, weights) = (ALL_FAMILIES[0].1, ALL_FAMILIES[0].2);
        let mut f = MemoryFiles::new();
        f.insert("config.json", config.to_vec());
        f.insert("model.safetensors", bf16_checkpoint(weights));
        let stored = StoredSizes::from_files(&f).unwrap();
        for (recompute, factor_format) in [
            (Recompute::Off, Format::F32),
            (Recompute::On, Format::F32),
            (Recompute::Off, Format::F16),
            (Recompute::On, Format::F16),
        ] {
            let be = gpu(None).await;
            let mut model = Model::load(&be, &f, |_, _, _| {}).unwrap();
            let o = TrainOptions {
                rank_fraction: 0.25,
                batch_size: 4,
                seq_len: 32,
                recompute,
                factor_format,
                ..TrainOptions::default()
            };
            // What the run setup estimates and checks (weights as loading keeps them).
            let setup = RunPlan::new(&be, &model.cfg, &stored, &o).unwrap();
            let est = setup.memory;
            let upcast = estimate_with(
                &model.cfg,
                &setup.plan,
                &MemoryOptions {
                    storage: WeightStorage::UpcastF32,
                    ..MemoryOptions::for_run(&o, be.logit_chunk_elements(), &stored)
                },
            );
            assert!(
                est.weights < upcast.weights * 6 / 10,
                "{est:?} vs {upcast:?}"
            );
            let cfg = model.cfg.clone();
            let dopts = DecomposeOptions {
                factor_format,
                ..DecomposeOptions::default()
            };
            decompose_model(
                &be,
                &cfg,
                &mut model.weights,
                &setup.plan,
                &dopts,
                |_, _, _| {},
            )
            .await
            .unwrap();
            // The model alone (bf16 weights, factors in their dtype) against what it holds.
            let decomposed = be.memory().live_bytes;
            let model_ratio = (est.weights + est.factors) as f64 / decomposed as f64;
            assert!(
                (0.95..=1.05).contains(&model_ratio),
                "{recompute:?}, {factor_format}: model estimate/held = {model_ratio}"
            );
            let trainer = Trainer::with_recompute(
                &be,
                model,
                o.batch_size,
                o.seq_len,
                true,
                est.recompute,
                schedule(),
                AdamWConfig::default(),
            )
            .unwrap();
            let held = be.memory().live_bytes;
            let ratio = est.training() as f64 / held as f64;
            println!(
                "bf16 llama, {recompute:?}, {factor_format} factors: estimate {} bytes \
                 ({est:?}), held {held}: {ratio:.4}, model {model_ratio:.4}",
                est.training()
            );
            assert!(
                (0.95..=1.05).contains(&ratio),
                "{recompute:?}, {factor_format}: estimate/held = {ratio}"
            );
            drop(trainer);
        }
    });
}
