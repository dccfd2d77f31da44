//! Tiny models: the F32 GGUFs give back the fixtures' exact Hugging Face weights (names, q/k
//! permutation undone, tied head) and transformers' logits; the quantized GGUF equals what
//! transformers loads from it; the `import-gguf` command writes a folder that loads.
use super::{assert_bitwise, fixture, safetensors_f32, source};
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::export::MemoryTarget;
use svdtune::gguf::GgufModel;
use svdtune::model::acts::{Activations, HeadActs};
use svdtune::model::forward::{Batch, forward, lm_head};
use svdtune::model::load::open_checkpoint;
use svdtune::model::{Model, ModelConfig, ModelFiles};

fn models_fixture(model: &str, file: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/models/{model}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Logits `[B·S, V]` for `ids` `[B, S]` (as tests/model_goldens.rs computes them).
fn logits(model: &mut Model<CpuBackend>, ids: &[u32], batch: usize, seq: usize) -> Vec<f32> {
    let be = CpuBackend;
    let rows = batch * seq;
    let cfg = model.cfg.clone();
    let input = Batch::new(&be, &cfg, ids, None, None, batch, seq).unwrap();
    let mut acts = Activations::new(&be, &cfg, &model.weights, rows, false).unwrap();
    forward(
        &be,
        &cfg,
        &model.weights,
        &mut model.rope,
        &input,
        &mut acts,
    )
    .unwrap();
    let mut head = HeadActs::new(&be, &cfg, &model.weights, rows).unwrap();
    let mut out = be.zeros(&[rows, cfg.vocab_size]).unwrap();
    lm_head(&be, &model.weights, &acts.hidden, 0, &mut head, &mut out).unwrap();
    be.flush().unwrap();
    pollster::block_on(be.read(&out)).unwrap()
}

/// Imports `gguf`, checks every weight bitwise against the fixture `model`'s checkpoint, the
/// config against the fixture's config.json, and the logits against its transformers golden.
fn round_trip(gguf: &str, model: &str) {
    let imported = GgufModel::open(source(gguf)).unwrap();
    let mut progress = Vec::new();
    let files = imported
        .hf_files(|done, total, name| progress.push((done, total, name.to_string())))
        .unwrap();
    let n = imported.tensor_names().len();
    assert_eq!(progress.len(), n);
    assert_eq!(progress.last().map(|p| (p.0, p.1)), Some((n, n)));
    for f in ["config.json", "generation_config.json", "model.safetensors"] {
        assert!(files.has(f), "{gguf}: {f} written");
    }
    assert!(!files.has("tokenizer.json"), "{gguf} holds no tokenizer");

    let want = safetensors_f32(&models_fixture(model, "model.safetensors"));
    let got_bytes = files.open("model.safetensors").unwrap();
    let got = safetensors_f32(
        &svdtune::model::ByteSource::read_at(
            &got_bytes,
            0,
            svdtune::model::ByteSource::len(&got_bytes) as usize,
        )
        .unwrap(),
    );
    let names =
        |v: &[(String, Vec<usize>, Vec<f32>)]| v.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "{gguf}: tensor names");
    for ((name, gshape, g), (_, wshape, w)) in got.iter().zip(&want) {
        assert_eq!(gshape, wshape, "{gguf}: {name} shape");
        assert_bitwise(&format!("{gguf}: {name}"), g, w);
    }

    let ours =
        ModelConfig::from_json("imported", &files.read_text("config.json").unwrap()).unwrap();
    let theirs = ModelConfig::from_json(
        "fixture",
        std::str::from_utf8(&models_fixture(model, "config.json")).unwrap(),
    )
    .unwrap();
    // Everything the engine reads is equal; only the raw JSON (other keys) may differ.
    let ours = ModelConfig {
        raw: theirs.raw.clone(),
        torch_dtype: theirs.torch_dtype.clone(),
        ..ours
    };
    assert_eq!(ours, theirs, "{gguf}: config");

    let gold = models_fixture(model, "golden.safetensors");
    logits_match(
        &files,
        &gold,
        &format!("{gguf}: logits against transformers"),
    );
}

/// The logits of the model `files` for the golden's `input_ids` equal its `logits` (1e-4).
fn logits_match(files: &svdtune::model::MemoryFiles, golden: &[u8], what: &str) {
    let st = safetensors::SafeTensors::deserialize(golden).unwrap();
    let ids_t = st.tensor("input_ids").unwrap();
    let ids: Vec<u32> = ids_t
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect();
    let (batch, seq) = (ids_t.shape()[0], ids_t.shape()[1]);
    let want_logits: Vec<f32> = st
        .tensor("logits")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let mut m = Model::load(&CpuBackend, files, |_, _, _| {}).unwrap();
    let got_logits = logits(&mut m, &ids, batch, seq);
    crate::common::assert_close(what, &got_logits, &want_logits, 1e-4, 0.0);
}

#[test]
fn llama_f32_gives_back_the_exact_weights_and_logits() {
    round_trip("llama_f32.gguf", "llama");
}

#[test]
fn qwen2_f32_gives_back_the_exact_weights_and_logits() {
    round_trip("qwen2_f32.gguf", "qwen2");
}

#[test]
fn qwen3_f32_gives_back_the_exact_weights_and_logits() {
    round_trip("qwen3_f32.gguf", "qwen3");
}

#[test]
fn llama3_f32_gives_back_the_exact_weights_config_and_logits() {
    // Llama 3 RoPE scaling found back from the rope_freqs tensor alone (factor 8, original 16,
    // one smoothed frequency).
    round_trip("llama3_f32.gguf", "llama3");
}

#[test]
fn phi3_f32_gives_back_the_exact_weights_config_and_logits() {
    // Fused attn_qkv and gate/up ffn_up, longrope read back from the rope_factors tensors.
    round_trip("phi3_f32.gguf", "phi3");
}

#[test]
fn quantized_llama_equals_what_transformers_loads() {
    let imported = GgufModel::open(source("llama_quant.gguf")).unwrap();
    let s = imported.summary().unwrap();
    let types: Vec<&str> = s.tensor_types.iter().map(|(t, _)| t.as_str()).collect();
    for t in ["F32", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "F16", "BF16"] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let want = safetensors_f32(&fixture("llama_quant_expected.safetensors"));
    let mut names = imported.tensor_names();
    names.sort();
    assert_eq!(names, want.iter().map(|t| t.0.as_str()).collect::<Vec<_>>());
    for (name, _, w) in &want {
        assert_bitwise(name, &imported.tensor_f32(name).unwrap(), w);
    }
    let files = imported.hf_files(|_, _, _| {}).unwrap();
    let ckpt = open_checkpoint(&files).unwrap();
    assert_eq!(ckpt.main_dtype(), Some(safetensors::Dtype::F32));
    Model::load(&CpuBackend, &files, |_, _, _| {}).unwrap();
}

#[test]
fn write_to_streams_the_same_files_as_hf_files() {
    let imported = GgufModel::open(source("qwen2_f32.gguf")).unwrap();
    let mut target = MemoryTarget::new();
    imported.write_to(&mut target, |_, _, _| {}).unwrap();
    let s = imported.summary().unwrap();
    assert_eq!(target.files.keys().cloned().collect::<Vec<_>>(), {
        let mut f = s.files.clone();
        f.sort();
        f
    });
    assert_eq!(
        target.get("model.safetensors").unwrap().len() as u64,
        s.weights_bytes
    );
    assert_eq!(s.architecture, "qwen2");
    assert_eq!(
        (s.layers, s.hidden_size, s.heads, s.kv_heads),
        (2, 32, 4, 2)
    );
    assert_eq!(s.tensor_types, vec![("F32".to_string(), 26)]);
    assert!(s.tied_embeddings);
    let cfg: serde_json::Value = serde_json::from_str(imported.config_json()).unwrap();
    assert_eq!(cfg["model_type"], "qwen2");
    assert_eq!(cfg["architectures"][0], "Qwen2ForCausalLM");
}

#[test]
fn import_gguf_command_writes_a_loadable_folder() {
    let out = std::env::temp_dir().join(format!("svdtune-import-gguf-{}", std::process::id()));
    let gguf = format!(
        "{}/tests/fixtures/gguf/llama_quant.gguf",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args(["import-gguf", &gguf, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for want in [
        "llama (tiny llama): 2 layers, hidden 32, 4 heads / 2 KV heads, vocab 128, context 64, tied embeddings",
        "tensor types: F32 × 5, ",
        "Q4_0 × 2",
        "BF16 × 2",
        "tokenizer: none in the file",
        "wrote config.json, generation_config.json, model.safetensors to",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    let files = svdtune::model::load::DirFiles::new(&out).unwrap();
    Model::load(&CpuBackend, &files, |_, _, _| {}).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&out).unwrap();

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args(["import-gguf", "Cargo.toml", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("error: Cargo.toml: not a GGUF file"), "{err}");
}

#[test]
fn tiny_phi3_chat_logits_equal_what_transformers_computes_from_the_gguf() {
    // Q8_0 matrices, fused projections and a 426-token SentencePiece vocabulary; the expected
    // logits are transformers' own forward pass of the same file.
    let imported = GgufModel::open(source("tiny_phi3_chat.gguf")).unwrap();
    assert_eq!(imported.cfg.vocab_size, 426);
    let files = imported.hf_files(|_, _, _| {}).unwrap();
    assert!(files.has("tokenizer.json"));
    let want = crate::fixture("tiny_phi3_chat_expected.safetensors");
    logits_match(
        &files,
        &want,
        "tiny_phi3_chat.gguf: logits against transformers",
    );
}
