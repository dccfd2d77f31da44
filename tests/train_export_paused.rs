//! Downloads between steps (what the page offers while a run is paused) leave the run as it
//! was: a run that exports the merged model and the adapter after step 2 continues with exactly
//! the losses of a run that does not, on the CPU backend and the GPU backend (lavapipe natively).
mod common;
use common::{gpu, tiny_chat};
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::data::{Dataset, ModelText};
use svdtune::export::{AdapterOptions, MemoryTarget, export_adapter, export_merged};
use svdtune::model::Model;
use svdtune::model::load::open_checkpoint;
use svdtune::train::run::TrainOptions;
use svdtune::train::setup::{RunBatches, RunPlan, dataset_options};

/// The losses of a 5-step run, exporting after step `export_after` when given.
async fn losses<B: Backend>(be: &B, export_after: Option<usize>) -> Vec<f32> {
    let files = tiny_chat();
    let o = TrainOptions {
        lr: 3e-2,
        max_steps: Some(5),
        epochs: 3,
        seq_len: 64,
        batch_size: 2,
        rank_fraction: 0.25,
        ..TrainOptions::default()
    };
    let text = ModelText::from_model_files(&files).unwrap();
    let data = include_bytes!("fixtures/tiny-chat/data.jsonl");
    let ds = Dataset::from_bytes(data, &text, &dataset_options(o.seq_len, false)).unwrap();
    let rb = RunBatches::new(&ds, text.tokenizer.pad_token_id(), &o).unwrap();
    let model = Model::load(be, &files, |_, _, _| {}).unwrap();
    let plan = RunPlan::new(
        be,
        &model.cfg,
        &svdtune::train::memory::StoredSizes::default(),
        &o,
    )
    .unwrap();
    let started = plan.start(be, model, rb, o, 0, |_, _, _| {}).await.unwrap();
    let (mut run, inits) = (started.run, started.inits);
    let sigma0: Vec<(String, Vec<f32>)> = inits.into_iter().map(|l| (l.module, l.sigma0)).collect();
    let mut out = Vec::new();
    while !run.done() {
        out.push(run.step(be).await.unwrap().loss);
        if Some(out.len()) == export_after {
            let m = &run.trainer.model;
            let source = open_checkpoint(&files).unwrap();
            let mut merged = MemoryTarget::new();
            export_merged(
                be,
                &m.cfg,
                &m.weights,
                &source,
                &files,
                &mut merged,
                |_, _, _| {},
            )
            .await
            .unwrap();
            assert!(merged.get("model.safetensors").is_some());
            let opts = AdapterOptions {
                base_model: "tiny-chat".into(),
                include_norms: true,
            };
            let mut adapter = MemoryTarget::new();
            export_adapter(be, &m.cfg, &m.weights, &sigma0, &opts, &mut adapter)
                .await
                .unwrap();
        }
    }
    out
}

async fn compare<B: Backend>(be: &B) {
    let plain = losses(be, None).await;
    let exported = losses(be, Some(2)).await;
    assert_eq!(plain.len(), 5);
    assert_eq!(exported, plain, "exporting between steps changed the run");
}

async fn on_cpu() {
    compare(&CpuBackend).await;
}
gpu_test!(exporting_between_steps_leaves_the_run_on_the_cpu, on_cpu);

async fn on_gpu() {
    compare(&gpu().await).await;
}
gpu_test!(exporting_between_steps_leaves_the_run_on_the_gpu, on_gpu);
