//! `svdtune inspect MODEL --memory` with the run's choices: by default (`--weights stored`) each
//! tensor counts as loading keeps it (a bf16 folder's safetensors headers; a Q8_0 `.gguf`'s
//! matrices as the blocks they load as), `--weights f32` upcasts all, `--factor-dtype f16` (the default) halves U and V against f32, `--recompute on` keeps one layer's activations,
//! and `auto` recomputes only when the stored-activation run does not fit `--gpu-memory`; the
//! JSON figures equal `estimate_with` for the same options.
#![cfg(not(target_arch = "wasm32"))]
use std::process::Command;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::load::{DirFiles, open_checkpoint, read_config};
use svdtune::svd::SvdPlan;
use svdtune::train::memory::{
    FactorDtype, MemoryOptions, StoredSizes, WeightStorage, estimate_with,
};

fn memory(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args([
            "inspect",
            "--memory",
            "--json",
            "--batch-size",
            "2",
            "--seq-len",
            "32",
        ])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("svdtune runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap()
}

fn check(got: &serde_json::Value, want: &svdtune::train::memory::MemoryEstimate) {
    for (k, v) in [
        ("weights", want.weights),
        ("factors", want.factors),
        ("optimizer", want.optimizer),
        ("activations", want.activations),
        ("total", want.total()),
    ] {
        assert_eq!(got[k], v, "{k}: {got}");
    }
    assert_eq!(got["recompute"], want.recompute, "{got}");
}

#[test]
fn inspect_memory_takes_stored_sizes_factor_dtype_and_recomputation() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let gguf = root.join("tests/fixtures/gguf/tiny_chat.gguf");
    // A GGUF's matrices load as its Q8_0 blocks, the rest as f32.
    let sizes = {
        let src = svdtune::model::source::FileSource::open(&gguf).unwrap();
        let model = svdtune::gguf::GgufModel::open_header(src).unwrap();
        let weights = svdtune::gguf::ImportedWeights::new(std::rc::Rc::new(model)).unwrap();
        StoredSizes::from_checkpoint(&svdtune::model::Checkpoint::single(weights).unwrap())
    };
    let folder = root.join("tests/fixtures/models/llama_bf16");
    let bf16_sizes =
        StoredSizes::from_checkpoint(&open_checkpoint(&DirFiles::new(&folder).unwrap()).unwrap());
    let cfg_of = |m: &std::path::Path| {
        if m.extension().is_some_and(|e| e == "gguf") {
            let src = svdtune::model::source::FileSource::open(m).unwrap();
            let model = svdtune::gguf::GgufModel::open_header(src).unwrap();
            read_config(&model.header_files()).unwrap()
        } else {
            read_config(&DirFiles::new(m).unwrap()).unwrap()
        }
    };
    for (model, sizes) in [(gguf.as_path(), &sizes), (folder.as_path(), &bf16_sizes)] {
        let cfg = cfg_of(model);
        let plan = SvdPlan::new(&cfg, 0.1, true).unwrap();
        // The command's defaults: weights as stored, f16 factors (as `train`'s).
        let base = MemoryOptions {
            stored: Some(sizes),
            factor_dtype: FactorDtype::F16,
            ..MemoryOptions::new(2, 32, CpuBackend.logit_chunk_elements())
        };
        let est = |o: MemoryOptions| estimate_with(&cfg, &plan, &o);
        let m = model.to_str().unwrap();
        let f32_run = est(MemoryOptions {
            storage: WeightStorage::UpcastF32,
            ..base.clone()
        });
        check(&memory(&[m, "--weights", "f32"]), &f32_run);
        // By default the weights count as loading keeps them: bf16 as bf16, a GGUF's Q8_0
        // matrices as blocks (34 bytes per 32 values).
        let stored = est(base.clone());
        check(&memory(&[m]), &stored);
        check(&memory(&[m, "--weights", "stored"]), &stored);
        let share = if model == gguf.as_path() { 4 } else { 6 };
        assert!(
            stored.weights < f32_run.weights * share / 10,
            "{stored:?} vs {f32_run:?}"
        );
        check(&memory(&[m, "--factor-dtype", "f16"]), &stored);
        let f32_factors = est(MemoryOptions {
            factor_dtype: FactorDtype::F32,
            ..base.clone()
        });
        check(&memory(&[m, "--factor-dtype", "f32"]), &f32_factors);
        assert!(stored.factors < f32_factors.factors);
        let on = est(MemoryOptions {
            recompute: true,
            ..base.clone()
        });
        check(&memory(&[m, "--recompute", "on"]), &on);
        assert!(on.activations < f32_run.activations);
        // auto: stored activations while they fit the GPU memory, recomputed when they do not.
        let fits = format!("{}", (stored.total() + 1000) as f64 / 1e9);
        check(&memory(&[m, "--gpu-memory", &fits]), &stored);
        let tight = format!("{}", (stored.total() + on.total()) as f64 / 2e9);
        let got = memory(&[m, "--gpu-memory", &tight]);
        check(&got, &on);
        assert_eq!(got["fits_gpu_memory"], true, "{got}");
    }
}
