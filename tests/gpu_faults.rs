//! GPU faults a user can meet: a device that cannot bind even two rows of a matrix (the error names
//! the tensor, its size and the device's limit, before anything is trained), and a device lost
//! mid-run (every later call fails with `Error::DeviceLost`, never a panic, and the run goes on
//! from its checkpoint on a new device to the same losses as an uninterrupted one), and a
//! sequence length beyond the model's positions (refused before training).
#![cfg(not(target_arch = "wasm32"))]
mod common;
use common::factors::{GoldenBatch, qwen2_trainer};
use svdtune::Error;
use svdtune::backend::gpu::GpuBackend;
use svdtune::model::{MemoryFiles, Model};
use svdtune::train::checkpoint::{RunState, load, save};
use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
use svdtune::train::step::Trainer;

const CONFIG: &[u8] = include_bytes!("fixtures/models/qwen2/config.json");
const WEIGHTS: &[u8] = include_bytes!("fixtures/models/qwen2/model.safetensors");
const GOLDEN: &[u8] = include_bytes!("fixtures/train/qwen2/golden.safetensors");

fn files() -> MemoryFiles {
    let mut files = MemoryFiles::new();
    files.insert("config.json", CONFIG.to_vec());
    files.insert("model.safetensors", WEIGHTS.to_vec());
    files
}

async fn gpu(cap: Option<u64>) -> GpuBackend {
    GpuBackend::with_binding_cap(cap)
        .await
        .unwrap_or_else(|e| panic!("GPU test needs an adapter: {e}"))
}

async fn trainer(be: &GpuBackend) -> Trainer<GpuBackend> {
    qwen2_trainer(be, |_| true)
}

#[test]
fn a_matrix_whose_rows_exceed_a_binding_is_named_with_both_sizes() {
    pollster::block_on(async {
        // Matrices larger than a binding are held in blocks of rows (tests/gpu_row_blocks.rs);
        // at 128 bytes not even two rows of a 32-wide matrix fit.
        let be = gpu(Some(128)).await;
        let err = match Model::load(&be, &files(), |_, _, _| {}) {
            Ok(_) => panic!("a 128-byte binding cap still loaded the model"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(matches!(err, Error::TooLarge { limit: 128, .. }), "{msg}");
        assert!(
            msg.contains("model.") && msg.contains("two of its rows") && msg.contains("128"),
            "{msg}"
        );
    });
}

#[test]
fn a_lost_device_fails_cleanly_and_the_run_resumes_on_a_new_one() {
    pollster::block_on(async {
        let golden = GoldenBatch::new(GOLDEN);
        let batch = golden.host();
        let state = RunState {
            step: 0,
            steps_done: 3,
            epoch: 0,
            batch_in_epoch: 3,
            seed: 1,
            options: serde_json::json!({}),
            model: String::new(),
        };

        // Uninterrupted: six steps.
        let be = gpu(None).await;
        let mut straight = trainer(&be).await;
        let mut want = Vec::new();
        for _ in 0..6 {
            want.push(straight.step(&be, &[batch]).await.unwrap().loss);
        }

        // Three steps, a checkpoint, then the device goes.
        let lost = gpu(None).await;
        let mut a = trainer(&lost).await;
        for _ in 0..3 {
            a.step(&lost, &[batch]).await.unwrap();
        }
        let bytes = save(&lost, &mut a, &state).await.unwrap();
        lost.context().lose();
        for attempt in 0..2 {
            match a.step(&lost, &[batch]).await {
                Err(Error::DeviceLost(why)) => assert!(why.contains("destroyed"), "{why}"),
                Err(e) => panic!("attempt {attempt}: expected DeviceLost, got {e}"),
                Ok(_) => panic!("attempt {attempt}: a step on a lost device succeeded"),
            }
        }

        // A new device continues from the checkpoint.
        let fresh = gpu(None).await;
        let mut b = trainer(&fresh).await;
        load(&fresh, &mut b, "checkpoint", &bytes).unwrap();
        for (i, want) in want[3..].iter().enumerate() {
            let got = b.step(&fresh, &[batch]).await.unwrap().loss;
            assert!(
                (got - want).abs() <= 1e-6,
                "step {}: {got} vs {want}",
                i + 4
            );
        }
    });
}

#[test]
fn a_batch_too_wide_for_a_binding_is_refused_before_training() {
    pollster::block_on(async {
        // The weights fit in 16 KiB bindings; a batch of 8 × 64 tokens' activations does not.
        let be = gpu(Some(16 << 10)).await;
        let model = Model::load(&be, &files(), |_, _, _| {}).unwrap();
        let schedule = Schedule {
            peak_lr: 1e-2,
            warmup_steps: 0,
            total_steps: 1,
            decay: Decay::Constant,
        };
        let err = match Trainer::new(&be, model, 8, 64, true, schedule, AdamWConfig::default()) {
            Ok(_) => panic!("a batch too wide for the device was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("8 × 64 tokens") && err.contains("16384"),
            "{err}"
        );
    });
}

#[test]
fn a_sequence_longer_than_the_model_positions_is_refused() {
    let be = svdtune::backend::cpu::CpuBackend;
    let model = Model::load(&be, &files(), |_, _, _| {}).unwrap();
    let max = model.cfg.max_position_embeddings;
    let schedule = Schedule {
        peak_lr: 1e-2,
        warmup_steps: 0,
        total_steps: 1,
        decay: Decay::Constant,
    };
    let err = match Trainer::new(
        &be,
        model,
        1,
        max + 1,
        true,
        schedule,
        AdamWConfig::default(),
    ) {
        Ok(_) => panic!("a sequence past the model's positions was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("beyond the model's {max} positions")),
        "{err}"
    );
}
