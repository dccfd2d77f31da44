//! Batches padded to their longest row ([`Width::Longest`], what the CLI and the page train on)
//! give the same losses as batches padded to the sequence length ([`Width::Full`]): padding is
//! masked, so only the work changes. On the tiny chat model, one example per row and packed,
//! per-step training losses and the eval loss agree within float tolerance on the CPU backend
//! and the GPU backend (lavapipe natively), and the narrow batches are really narrower (widths
//! are multiples of `WIDTH_STEP`, below the sequence length) with the same trained and real
//! tokens.
mod common;
use common::{gpu, tiny_chat};
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::data::{Dataset, ModelText, WIDTH_STEP, Width};
use svdtune::train::run::TrainOptions;
use svdtune::train::setup::{RunBatches, RunPlan, dataset_options};
use svdtune::{model::Model, train::step::eval_loss};

const SEQ: usize = 192;

fn options(pack: bool) -> TrainOptions {
    TrainOptions {
        lr: 3e-2,
        epochs: 3,
        max_steps: Some(5),
        seq_len: SEQ,
        batch_size: 3,
        eval_fraction: 0.25,
        rank_fraction: 0.25,
        pack,
        ..TrainOptions::default()
    }
}

fn dataset(text: &ModelText) -> Dataset {
    let data = include_bytes!("fixtures/tiny-chat/data.jsonl");
    Dataset::from_bytes(data, text, &dataset_options(SEQ, false)).unwrap()
}

/// The run's batches at `width` (what `RunBatches::new` does, with the width chosen).
fn batches(ds: &Dataset, pad: u32, o: &TrainOptions, width: Width) -> RunBatches {
    let split = ds.split(o.eval_fraction, o.seed);
    let (b, s) = (o.batch_size, o.seq_len);
    RunBatches {
        train: ds
            .batches_as(&split.train, b, s, o.pack, pad, width)
            .unwrap(),
        eval: ds
            .batches_as(&split.eval, b, s, o.pack, pad, width)
            .unwrap(),
        train_examples: split.train.len(),
        eval_examples: split.eval.len(),
    }
}

/// Per-step losses and the final eval loss of a run over batches of `width`.
async fn losses<B: Backend>(be: &B, pack: bool, width: Width) -> (Vec<f32>, f32, Vec<usize>) {
    let files = tiny_chat();
    let o = options(pack);
    let text = ModelText::from_model_files(&files).unwrap();
    let ds = dataset(&text);
    let rb = batches(&ds, text.tokenizer.pad_token_id(), &o, width);
    let widths = rb.train.iter().map(|b| b.seq_len).collect();
    let model = Model::load(be, &files, |_, _, _| {}).unwrap();
    let plan = RunPlan::new(
        be,
        &model.cfg,
        &svdtune::train::memory::StoredSizes::default(),
        &o,
    )
    .unwrap();
    let mut run = plan
        .start(be, model, rb, o, 0, |_, _, _| {})
        .await
        .unwrap()
        .run;
    let mut out = Vec::new();
    while !run.done() {
        let ev = run.step(be).await.unwrap();
        assert!(ev.applied);
        out.push(ev.loss);
    }
    let eval = run.evaluate(be).await.unwrap().unwrap();
    (out, eval, widths)
}

async fn compare<B: Backend>(be: &B) {
    for pack in [false, true] {
        let (full, full_eval, full_w) = losses(be, pack, Width::Full).await;
        let (narrow, narrow_eval, narrow_w) = losses(be, pack, Width::Longest).await;
        assert!(full_w.iter().all(|&w| w == SEQ), "{full_w:?}");
        assert!(
            narrow_w.iter().all(|&w| w % WIDTH_STEP == 0 && w <= SEQ),
            "{narrow_w:?}"
        );
        if !pack {
            assert!(narrow_w.iter().all(|&w| w < SEQ), "{narrow_w:?}");
        }
        assert_eq!((full.len(), narrow.len()), (5, 5));
        common::assert_close("step losses", &narrow, &full, 2e-5, 2e-5);
        common::assert_close("eval loss", &[narrow_eval], &[full_eval], 2e-5, 2e-5);
    }
}

async fn on_cpu() {
    compare(&CpuBackend).await;
}
gpu_test!(narrow_batches_train_like_full_ones_on_the_cpu, on_cpu);

async fn on_gpu() {
    compare(&gpu().await).await;
}
gpu_test!(narrow_batches_train_like_full_ones_on_the_gpu, on_gpu);

async fn whole_file() {
    let be = CpuBackend;
    let files = tiny_chat();
    let text = ModelText::from_model_files(&files).unwrap();
    let ds = dataset(&text);
    let pad = text.tokenizer.pad_token_id();
    let all: Vec<usize> = (0..ds.examples.len()).collect();
    let mut loss = Vec::new();
    for width in [Width::Full, Width::Longest] {
        let bs = ds.batches_as(&all, 4, SEQ, false, pad, width).unwrap();
        let full: Vec<_> = ds
            .batches_as(&all, 4, SEQ, false, pad, Width::Full)
            .unwrap();
        for (a, b) in bs.iter().zip(&full) {
            assert_eq!(a.trained_tokens, b.trained_tokens);
            assert_eq!(a.real_tokens, b.real_tokens);
            assert!(a.real_tokens > a.trained_tokens);
        }
        let host: Vec<_> = bs.iter().map(Into::into).collect();
        let mut model = Model::load(&be, &files, |_, _, _| {}).unwrap();
        loss.push(eval_loss(&be, &mut model, &host, 4, SEQ).await.unwrap());
    }
    common::assert_close("whole-file loss", &loss[1..], &loss[..1], 2e-5, 2e-5);
}
gpu_test!(the_whole_file_loss_is_the_same_at_either_width, whole_file);
