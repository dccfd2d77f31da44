//! The run setup both front ends use (`train::setup`) on the tiny chat model, CPU backend
//! (natively and in the browser): the split covers every example once, a decomposition stopped
//! between layers starts no run, the run's cadence gives evaluations every `eval_every` steps and
//! at the end and checkpoints every `checkpoint_every` steps before the end, and a run set up
//! again and resumed from a checkpoint written where one was due continues with exactly the same
//! losses.
mod common;
use common::tiny_chat;
use std::ops::ControlFlow;
use svdtune::backend::cpu::CpuBackend;
use svdtune::data::{Dataset, ModelText};
use svdtune::model::Model;
use svdtune::train::run::{TrainOptions, TrainRun};
use svdtune::train::setup::{RunBatches, RunPlan, all_batches, dataset_options};

fn options() -> TrainOptions {
    TrainOptions {
        lr: 3e-2,
        epochs: 3,
        max_steps: Some(7),
        seq_len: 64,
        batch_size: 2,
        eval_fraction: 0.25,
        eval_every: 2,
        rank_fraction: 0.25,
        ..TrainOptions::default()
    }
}

/// Data, plan and decomposition as the front ends do them; `None` when `stop_after` layers
/// stopped the decomposition.
async fn set_up(stop_after: Option<usize>) -> Option<TrainRun<CpuBackend>> {
    let be = CpuBackend;
    let files = tiny_chat();
    let o = options();
    let text = ModelText::from_model_files(&files).unwrap();
    let data = include_bytes!("fixtures/tiny-chat/data.jsonl");
    let ds = Dataset::from_bytes(data, &text, &dataset_options(o.seq_len, o.all_tokens)).unwrap();
    let pad = text.tokenizer.pad_token_id();
    let batches = RunBatches::new(&ds, pad, &o).unwrap();
    assert!(batches.eval_examples > 0 && batches.train_examples > batches.eval_examples);
    assert_eq!(
        batches.train_examples + batches.eval_examples,
        ds.examples.len()
    );
    let everything = all_batches(&ds, pad, o.batch_size, o.seq_len).unwrap();
    assert_eq!(everything.len(), ds.examples.len().div_ceil(o.batch_size));

    let model = Model::load(&be, &files, |_, _, _| {}).unwrap();
    let setup = RunPlan::new(
        &be,
        &model.cfg,
        &svdtune::train::memory::StoredSizes::default(),
        &o,
    )
    .unwrap();
    let layers = setup.plan.layers.len();
    let mut seen = Vec::new();
    let progress = |done: usize, total: usize, module: &str| {
        assert_eq!(total, layers);
        seen.push(module.to_string());
        match stop_after {
            Some(n) if done == n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    };
    let started = setup
        .start_until(&be, model, batches, o, 3, progress)
        .await
        .unwrap();
    assert_eq!(seen.len(), stop_after.unwrap_or(layers), "{seen:?}");
    let started = started?;
    assert_eq!(started.inits.len(), layers);
    Some(started.run)
}

async fn stopped() {
    assert!(set_up(Some(2)).await.is_none());
}
gpu_test!(a_stopped_decomposition_starts_no_run, stopped);

async fn cadence_and_resume() {
    let be = CpuBackend;
    let mut run = set_up(None).await.unwrap();
    assert_eq!(run.total_steps, 7);
    let (mut evals, mut checkpoints, mut losses) = (Vec::new(), Vec::new(), Vec::new());
    let mut saved = None;
    while !run.done() {
        let ev = run.step(&be).await.unwrap();
        assert!(ev.applied, "step {}", ev.step);
        assert_eq!(ev.due, run.due());
        losses.push(ev.loss);
        if ev.due.eval {
            evals.push(ev.step);
            assert!(run.evaluate(&be).await.unwrap().unwrap().is_finite());
        }
        if ev.due.checkpoint {
            checkpoints.push(ev.step);
            if saved.is_none() {
                saved = Some(run.checkpoint(&be).await.unwrap());
            }
        }
    }
    assert_eq!(evals, [2, 4, 6, 7]);
    assert_eq!(checkpoints, [3, 6]);

    let mut again = set_up(None).await.unwrap();
    again.resume(&be, "checkpoint", &saved.unwrap()).unwrap();
    assert_eq!(again.steps_done, 3);
    let mut resumed = Vec::new();
    while !again.done() {
        resumed.push(again.step(&be).await.unwrap().loss);
    }
    assert_eq!(resumed, losses[3..], "the resumed run differs");
}
gpu_test!(
    the_cadence_is_the_runs_and_a_resumed_run_continues_exactly,
    cadence_and_resume
);
