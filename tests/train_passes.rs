//! Loss passes one batch at a time and the run estimate (`train::pass`, `train::estimate`) on the
//! tiny chat model, CPU backend (natively and in the browser): a pass over the eval split gives
//! the loss one `evaluate` gives, a pass over every batch of the file the loss `svdtune eval`
//! computes, a sampled pass covers the batches `file_sample` names; the evaluations a run makes
//! are counted as its cadence makes them; the calibration leaves the model dense and the
//! estimate adds up its phases and scales with the run.
mod common;
use common::tiny_chat;
use svdtune::backend::cpu::CpuBackend;
use svdtune::data::{Dataset, ModelText};
use svdtune::model::Model;
use svdtune::model::weights::Linear;
use svdtune::svd::SvdPlan;
use svdtune::train::estimate::{RunShape, calibrate, estimate};
use svdtune::train::pass::{LossPass, file_sample, spread};
use svdtune::train::run::{Due, TrainOptions, TrainRun, evals_after_steps, planned_steps};
use svdtune::train::setup::{RunBatches, RunPlan, all_batches, dataset_options};
use svdtune::train::step::HostBatch;

fn options() -> TrainOptions {
    TrainOptions {
        lr: 3e-2,
        epochs: 2,
        seq_len: 64,
        batch_size: 2,
        eval_fraction: 0.25,
        eval_every: 3,
        rank_fraction: 0.25,
        ..TrainOptions::default()
    }
}

fn dataset(o: &TrainOptions) -> (Dataset, u32) {
    let text = ModelText::from_model_files(&tiny_chat()).unwrap();
    let data = include_bytes!("fixtures/tiny-chat/data.jsonl");
    let ds = Dataset::from_bytes(data, &text, &dataset_options(o.seq_len, o.all_tokens)).unwrap();
    (ds, text.tokenizer.pad_token_id())
}

async fn run_of(o: &TrainOptions) -> TrainRun<CpuBackend> {
    let be = CpuBackend;
    let (ds, pad) = dataset(o);
    let batches = RunBatches::new(&ds, pad, o).unwrap();
    let model = Model::load(&be, &tiny_chat(), |_, _, _| {}).unwrap();
    let setup = RunPlan::new(
        &be,
        &model.cfg,
        &svdtune::train::memory::StoredSizes::default(),
        o,
    )
    .unwrap();
    let started = setup.start(&be, model, batches, o.clone(), 0, |_, _, _| {});
    started.await.unwrap().run
}

async fn passes_match_one_call() {
    let be = CpuBackend;
    let o = options();
    let mut run = run_of(&o).await;
    for _ in 0..2 {
        run.step(&be).await.unwrap();
    }
    let whole = run.evaluate(&be).await.unwrap().unwrap();
    let (trainer, eval) = run.eval_parts();
    let eval = eval.to_vec();
    assert!(eval.len() >= 2, "the eval split has {} batches", eval.len());
    let mut pass = LossPass::new((0..eval.len()).collect());
    let mut seen = Vec::new();
    let loss = loop {
        let p = pass.next(&be, trainer, &eval).await.unwrap();
        seen.push(p.done);
        assert_eq!(p.total, eval.len());
        if let Some(l) = p.loss {
            break l;
        }
    };
    assert_eq!(seen, (1..=eval.len()).collect::<Vec<_>>());
    assert!(pass.finished() && pass.next(&be, trainer, &eval).await.is_err());
    assert!(
        (loss - whole).abs() < 1e-5,
        "pass {loss} vs one call {whole}"
    );

    let (ds, pad) = dataset(&o);
    let all = all_batches(&ds, pad, o.batch_size, o.seq_len).unwrap();
    let hosts: Vec<HostBatch> = all.iter().map(HostBatch::from).collect();
    let file = trainer.eval(&be, &hosts).await.unwrap();
    let (order, covered) = file_sample(all.len(), o.batch_size, ds.examples.len(), None);
    assert_eq!((order.len(), covered), (all.len(), ds.examples.len()));
    let mut pass = LossPass::new(order);
    let mut out = None;
    while out.is_none() {
        out = pass.next(&be, trainer, &all).await.unwrap().loss;
    }
    let out = out.unwrap();
    assert!(
        (out - file).abs() < 1e-5,
        "file pass {out} vs one call {file}"
    );

    // A sample of 5 examples: 3 batches of 2 rows, spread over the file.
    let (order, covered) = file_sample(all.len(), 2, ds.examples.len(), Some(5));
    assert_eq!(order, spread(all.len(), 3));
    assert_eq!(covered, 6);
    let mut pass = LossPass::new(order.clone());
    let mut sampled = None;
    while sampled.is_none() {
        sampled = pass.next(&be, trainer, &all).await.unwrap().loss;
    }
    let picked: Vec<HostBatch> = order.iter().map(|&i| HostBatch::from(&all[i])).collect();
    let direct = trainer.eval(&be, &picked).await.unwrap();
    assert!((sampled.unwrap() - direct).abs() < 1e-5);
}
gpu_test!(
    a_loss_pass_batch_by_batch_gives_the_one_call_loss,
    passes_match_one_call
);

#[test]
fn samples_and_counts() {
    assert_eq!(spread(10, 3), [0, 3, 6]);
    assert_eq!(spread(4, 9), [0, 1, 2, 3]);
    assert!(spread(7, 0).is_empty());
    // 11 examples in 3 batches of 4: the last batch holds 3.
    assert_eq!(file_sample(3, 4, 11, None), (vec![0, 1, 2], 11));
    assert_eq!(file_sample(3, 4, 11, Some(0)), (vec![], 0));
    assert_eq!(file_sample(3, 4, 11, Some(5)), (vec![0, 1], 8));
    for every in 0..6 {
        for total in 0..14 {
            let due = (1..=total)
                .filter(|&s| Due::after(s, total, every, 0).eval)
                .count();
            assert_eq!(
                evals_after_steps(total, every),
                due,
                "{total} steps, every {every}"
            );
        }
    }
    let o = TrainOptions {
        grad_accum: 2,
        epochs: 3,
        ..TrainOptions::default()
    };
    assert_eq!(planned_steps(5, &o), 9);
    let capped = TrainOptions {
        max_steps: Some(4),
        ..o.clone()
    };
    assert_eq!(planned_steps(5, &capped), 4);
}

async fn calibration() {
    let be = CpuBackend;
    let o = options();
    let mut model = Model::load(&be, &tiny_chat(), |_, _, _| {}).unwrap();
    let plan = SvdPlan::new(&model.cfg, o.rank_fraction, true).unwrap();
    let clock = std::cell::Cell::new(0.0);
    // A clock that advances 5 ms per reading: every measurement is 5 ms.
    let now = || {
        clock.set(clock.get() + 5.0);
        clock.get()
    };
    let cal = calibrate(&be, &mut model, &plan, 16, now).await.unwrap();
    assert_eq!(
        (cal.forward_ms, cal.svd_ms, cal.forward_tokens),
        (5.0, 5.0, 16)
    );
    let biggest = plan.layers.iter().filter(|l| l.layer == Some(0));
    let biggest = biggest.map(|l| l.m * l.n).max().unwrap();
    assert_eq!(cal.svd_m * cal.svd_n, biggest);
    let dense = model.weights.linears();
    assert!(
        dense
            .iter()
            .all(|(_, _, l)| matches!(l, Linear::Dense { .. }))
    );

    let shape = RunShape {
        steps: 10,
        step_tokens: 128,
        batch_tokens: 128,
        evals: 4,
        eval_batches: 3,
        final_batches: 6,
    };
    let e = estimate(&cal, &plan, &shape);
    // 128 tokens cost 8 forward passes of 16: 40 ms; a step 2.5 of those.
    assert!((e.eval_batch_ms - 40.0).abs() < 1e-9 && (e.step_ms - 100.0).abs() < 1e-9);
    assert!((e.eval_ms - 12.0 * 40.0).abs() < 1e-9 && (e.final_ms - 6.0 * 40.0).abs() < 1e-9);
    // Every layer's SVD, scaled from the measured one: more than one layer's 5 ms.
    assert!(e.decompose_ms > 5.0 * 2.0, "{}", e.decompose_ms);
    let sum = e.decompose_ms + 10.0 * e.step_ms + e.eval_ms + e.final_ms;
    assert!((e.total_ms - sum).abs() < 1e-6);
    let longer = estimate(&cal, &plan, &RunShape { steps: 20, ..shape });
    assert!((longer.total_ms - e.total_ms - 10.0 * e.step_ms).abs() < 1e-6);
}
gpu_test!(
    the_calibration_leaves_the_model_and_the_estimate_adds_up,
    calibration
);
