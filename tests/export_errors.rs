//! Exports that must be refused, with the tensor named: a NaN Σ or an infinite norm weight
//! (before any file is started), a merged weight that is not finite, an f16 checkpoint whose
//! merged weight overflows f16, weights from another checkpoint, and a shard index that names a
//! file outside the folder. Natively, the export to a directory reloads from disk. Runs natively
//! and in browsers (the directory test natively only).
mod common;
mod export_support;
use export_support::*;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::export::{MemoryTarget, export_merged};
use svdtune::model::load::open_checkpoint;
use svdtune::model::weights::Linear;
use svdtune::model::{MemoryFiles, Model};

/// Loads and decomposes `files`, lets `edit` break something, exports; returns the error and
/// the files the target holds.
async fn export_error(
    files: &MemoryFiles,
    source: &MemoryFiles,
    edit: impl FnOnce(&mut Model<CpuBackend>),
) -> (String, MemoryTarget) {
    let be = CpuBackend;
    let mut model = Model::load(&be, files, |_, _, _| {}).unwrap();
    decompose(&be, &mut model, 5, |_| false).await;
    edit(&mut model);
    let ckpt = open_checkpoint(source).unwrap();
    let mut out = MemoryTarget::new();
    let r = export_merged(
        &be,
        &model.cfg,
        &model.weights,
        &ckpt,
        source,
        &mut out,
        |_, _, _| {},
    )
    .await;
    match r {
        Ok(_) => panic!("the export succeeded"),
        Err(e) => (e.to_string(), out),
    }
}

fn assert_has(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "error {e:?} lacks {p:?}");
    }
}

fn svd(
    lin: &mut Linear<svdtune::backend::cpu::CpuTensor>,
) -> &mut svdtune::backend::SvdLinear<svdtune::backend::cpu::CpuTensor> {
    match lin {
        Linear::Svd(s) => s,
        Linear::Dense { .. } => panic!("not decomposed"),
    }
}

async fn non_finite() {
    let files = export_fixture!("llama");
    let (e, out) = export_error(&files, &files, |m| {
        svd(&mut m.weights.layers[1].o).sigma.data[2] = f32::NAN;
    })
    .await;
    assert_has(
        &e,
        &[
            "refusing to export",
            "Σ of `model.layers.1.self_attn.o_proj`",
            "NaN",
            "index 2",
        ],
    );
    assert!(
        out.files.is_empty(),
        "nothing written: {:?}",
        out.files.keys()
    );

    let (e, out) = export_error(&files, &files, |m| {
        m.weights.final_norm.data[0] = f32::INFINITY;
    })
    .await;
    assert_has(&e, &["`model.norm.weight`", "inf"]);
    assert!(out.files.is_empty());

    let (e, _) = export_error(&files, &files, |m| {
        svd(&mut m.weights.layers[1].down).w.data[40] = f32::NAN;
    })
    .await;
    assert_has(
        &e,
        &[
            "`model.layers.1.mlp.down_proj.weight`",
            "NaN",
            "index 40",
            "not finite",
        ],
    );
}
gpu_test!(
    non_finite_weights_are_refused_with_the_tensor_named,
    non_finite
);

async fn f16_overflow() {
    let files = export_fixture!("llama_f16");
    let (e, _) = export_error(&files, &files, |m| {
        let s = svd(&mut m.weights.layers[0].o);
        s.sigma.data.iter_mut().for_each(|x| *x = 1e9);
    })
    .await;
    assert_has(
        &e,
        &[
            "`model.layers.0.self_attn.o_proj.weight`",
            "F16",
            "out of range",
        ],
    );
}
gpu_test!(f16_overflow_is_refused, f16_overflow);

async fn other_checkpoint() {
    let files = export_fixture!("llama");
    let (e, _) = export_error(&files, &export_fixture!("phi3"), |_| {}).await;
    assert_has(&e, &["`model.layers.0.self_attn.q_proj.weight`", "missing"]);
    let (e, _) = export_error(&files, &export_fixture!("qwen2"), |_| {}).await;
    assert_has(&e, &["unexpected tensor", ".bias"]);
    let (e, _) = export_error(&files, &files, |m| {
        m.weights.final_norm = CpuBackend.zeros(&[31]).unwrap();
    })
    .await;
    assert_has(&e, &["`model.norm.weight`", "[32]", "[31]"]);
}
gpu_test!(
    weights_from_another_checkpoint_are_refused,
    other_checkpoint
);

async fn escaping_shard() {
    let mut files = export_fixture!(
        "llama_sharded",
        [
            "config.json",
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors"
        ]
    );
    let index = include_str!("fixtures/models/llama_sharded/model.safetensors.index.json")
        .replace("model-00003-of-00003", "../model-00003-of-00003");
    files.insert("model.safetensors.index.json", index.into_bytes());
    files.insert(
        "../model-00003-of-00003.safetensors",
        include_bytes!("fixtures/models/llama_sharded/model-00003-of-00003.safetensors").to_vec(),
    );
    let (e, _) = export_error(&files, &files, |_| {}).await;
    assert_has(
        &e,
        &[
            "../model-00003-of-00003.safetensors",
            "not a plain file name",
        ],
    );
}
gpu_test!(shard_names_outside_the_folder_are_refused, escaping_shard);

/// Natively: export to a directory, reload it from disk, same bytes as in memory.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn directory_export_reloads_from_disk() {
    use svdtune::export::DirTarget;
    use svdtune::model::load::DirFiles;
    pollster::block_on(async {
        let be = CpuBackend;
        let files = export_fixture!("llama");
        let mut model = Model::load(&be, &files, |_, _, _| {}).unwrap();
        decompose(&be, &mut model, 9, |_| false).await;
        let ckpt = open_checkpoint(&files).unwrap();
        let dir = std::env::temp_dir().join(format!("svdtune-export-{}", std::process::id()));
        let mut disk = DirTarget::new(dir.join("out")).unwrap();
        let mut mem = MemoryTarget::new();
        let (cfg, w) = (&model.cfg, &model.weights);
        export_merged(&be, cfg, w, &ckpt, &files, &mut disk, |_, _, _| {})
            .await
            .unwrap();
        export_merged(&be, cfg, w, &ckpt, &files, &mut mem, |_, _, _| {})
            .await
            .unwrap();
        let mut on_disk: Vec<String> = std::fs::read_dir(dir.join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        assert_eq!(
            on_disk,
            mem.files.keys().cloned().collect::<Vec<_>>(),
            "no .partial left"
        );
        for (name, bytes) in &mem.files {
            assert_eq!(
                &std::fs::read(dir.join("out").join(name)).unwrap(),
                bytes,
                "{name}"
            );
        }
        let reloaded = Model::load(&be, &DirFiles::new(dir.join("out")).unwrap(), |_, _, _| {});
        assert!(reloaded.is_ok());
        let want = be.read(&model.weights.layers[0].input_norm).await.unwrap();
        let got = be
            .read(&reloaded.unwrap().weights.layers[0].input_norm)
            .await
            .unwrap();
        assert_eq!(got, want);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
