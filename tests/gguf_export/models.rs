//! Tiny models exported and imported back: every tensor equals the source converted to the
//! file's type and back (the q/k permutation undone again), the config is the same.
use super::{export, fixture_dir};
use svdtune::export::GgufOutType;
use svdtune::export::gguf_writer::quantize_q8_0;
use svdtune::gguf::dequant::dequantize;
use svdtune::gguf::metadata::Value;
use svdtune::gguf::{GgmlType, GgufFile, GgufModel};
use svdtune::model::load::{open_checkpoint, read_config};

/// What the importer should read for `values` stored as `ty`.
fn through(ty: GgmlType, values: &[f32]) -> Vec<f32> {
    match ty {
        GgmlType::F16 => values
            .iter()
            .map(|&v| half::f16::from_f32(v).to_f32())
            .collect(),
        GgmlType::BF16 => values
            .iter()
            .map(|&v| half::bf16::from_f32(v).to_f32())
            .collect(),
        GgmlType::Q8_0 => dequantize(ty, &quantize_q8_0(values), values.len()).unwrap(),
        _ => values.to_vec(),
    }
}

fn bitwise(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!("{what}: index {i} is {}, expected {}", got[i], want[i]);
    }
}

#[test]
fn llama_llama3_mistral_qwen2_qwen3_phi3_read_back_bit_for_bit() {
    for model in [
        "llama",
        "llama3",
        "mistral",
        "qwen2",
        "qwen3",
        "phi3",
        "llama_bf16",
    ] {
        let files = fixture_dir(&format!("models/{model}"));
        let src_cfg = read_config(&files).unwrap();
        let ckpt = open_checkpoint(&files).unwrap();
        for ty in [GgufOutType::F16, GgufOutType::Bf16, GgufOutType::Q8_0] {
            let what = format!("{model} {ty:?}");
            let bytes = export(&files, ty);
            let file = GgufFile::read(&bytes).unwrap();
            assert_eq!(file.version, 3);
            assert_eq!(file.alignment, 32);
            let arch = match model {
                "qwen2" | "qwen3" | "phi3" => model,
                _ => "llama",
            };
            assert_eq!(
                file.metadata.get("general.architecture"),
                Some(&Value::String(arch.into()))
            );
            let imported = GgufModel::open(bytes).unwrap();
            let c = &imported.cfg;
            assert_eq!(
                (
                    c.num_layers,
                    c.hidden_size,
                    c.intermediate_size,
                    c.vocab_size
                ),
                (
                    src_cfg.num_layers,
                    src_cfg.hidden_size,
                    src_cfg.intermediate_size,
                    src_cfg.vocab_size
                ),
                "{what}"
            );
            assert_eq!(
                (c.num_heads, c.num_kv_heads, c.head_dim),
                (src_cfg.num_heads, src_cfg.num_kv_heads, src_cfg.head_dim)
            );
            assert_eq!(c.rms_norm_eps, src_cfg.rms_norm_eps, "{what}");
            assert_eq!(c.rope, src_cfg.rope, "{what}");
            assert_eq!(c.max_position_embeddings, src_cfg.max_position_embeddings);
            assert_eq!(c.tie_word_embeddings, src_cfg.tie_word_embeddings, "{what}");
            assert_eq!(c.biases, src_cfg.biases, "{what}");
            assert_eq!(c.sliding_window, src_cfg.sliding_window, "{what}");
            let names = imported.tensor_names();
            assert!(!names.is_empty());
            for name in names {
                let t = file
                    .tensor(&svdtune::gguf::names::gguf_name(name).unwrap())
                    .unwrap();
                let want_ty = if t.dims.len() == 1 {
                    GgmlType::F32
                } else {
                    ty_of(ty)
                };
                assert_eq!(t.ggml_type, want_ty, "{what} {name}");
                let want = through(want_ty, &ckpt.read_f32(name).unwrap());
                bitwise(
                    &format!("{what} {name}"),
                    &imported.tensor_f32(name).unwrap(),
                    &want,
                );
            }
        }
    }
}

fn ty_of(t: GgufOutType) -> GgmlType {
    t.ggml()
}

#[test]
fn q8_0_blocks_are_amax_over_127() {
    let mut v: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.37).collect();
    v[40] = -30.0;
    let q = quantize_q8_0(&v);
    assert_eq!(q.len(), 68);
    let d = v[0].abs() / 127.0;
    let d0 = half::f16::from_le_bytes([q[0], q[1]]).to_f32();
    assert_eq!(d0, half::f16::from_f32(d).to_f32());
    assert_eq!(q[2] as i8, -127);
    assert_eq!(q[2 + 31] as i8, (v[31] * (1.0 / d)).round() as i8);
    assert_eq!(q[2 + 31] as i8, 70); // 11 / 20 · 127 = 69.85
    assert_eq!(q[34 + 2 + 8] as i8, -127);
    // An all-zero block has scale 0 and zero values.
    assert!(quantize_q8_0(&[0.0; 32]).iter().all(|&b| b == 0));
}

#[test]
fn phi3_writes_fused_tensors_and_longrope() {
    let files = fixture_dir("models/phi3");
    let ckpt = open_checkpoint(&files).unwrap();
    let bytes = export(&files, GgufOutType::F16);
    let file = GgufFile::read(&bytes).unwrap();
    let m = &file.metadata;
    assert_eq!(m.str("general.architecture").unwrap(), Some("phi3"));
    assert_eq!(
        m.usize("phi3.rope.scaling.original_context_length")
            .unwrap(),
        Some(16)
    );
    assert_eq!(m.usize("phi3.attention.sliding_window").unwrap(), Some(0));
    // sqrt(1 + ln(64/16) / ln(16))
    let a = m.f64("phi3.rope.scaling.attn_factor").unwrap().unwrap();
    assert_eq!(a as f32, (1.0f64 + 4f64.ln() / 16f64.ln()).sqrt() as f32);
    let long = file.tensor("rope_factors_long.weight").unwrap();
    assert_eq!(
        file.read_f32(&bytes, long).unwrap(),
        vec![1.0, 2.0, 3.0, 4.0]
    );
    let short = file.tensor("rope_factors_short.weight").unwrap();
    assert_eq!(
        file.read_f32(&bytes, short).unwrap(),
        vec![1.0, 1.15, 1.3, 1.5]
    );
    for (gg, hf, dims) in [
        (
            "blk.1.attn_qkv.weight",
            "model.layers.1.self_attn.qkv_proj.weight",
            vec![32, 64],
        ),
        (
            "blk.0.ffn_up.weight",
            "model.layers.0.mlp.gate_up_proj.weight",
            vec![32, 128],
        ),
        ("output.weight", "lm_head.weight", vec![32, 128]),
    ] {
        let t = file.tensor(gg).unwrap();
        assert_eq!(t.dims, dims, "{gg}");
        assert_eq!(t.ggml_type, GgmlType::F16);
        // Not permuted: phi3 uses NeoX RoPE in llama.cpp.
        let want = through(GgmlType::F16, &ckpt.read_f32(hf).unwrap());
        bitwise(gg, &file.read_f32(&bytes, t).unwrap(), &want);
    }
    assert!(file.tensor("blk.0.ffn_gate.weight").is_none());
    assert_eq!(file.tensors.len(), 2 + 1 + 2 * 6 + 2);
}

#[test]
fn llama_q_and_k_rows_are_permuted_as_llama_cpp_does() {
    // GGUF row h·D + 2j + s holds Hugging Face row h·D + s·D/2 + j (D = 8).
    let files = fixture_dir("models/llama");
    let ckpt = open_checkpoint(&files).unwrap();
    let bytes = export(&files, GgufOutType::Bf16);
    let file = GgufFile::read(&bytes).unwrap();
    let t = file.tensor("blk.0.attn_k.weight").unwrap();
    let got = file.read_f32(&bytes, t).unwrap();
    let hf = through(
        GgmlType::BF16,
        &ckpt
            .read_f32("model.layers.0.self_attn.k_proj.weight")
            .unwrap(),
    );
    let row = |v: &[f32], r: usize| v[r * 32..(r + 1) * 32].to_vec();
    for (gg, h) in [(0, 0), (1, 4), (2, 1), (7, 7), (8 + 3, 8 + 5)] {
        assert_eq!(row(&got, gg), row(&hf, h), "GGUF row {gg}");
    }
}

/// Gemma 3 as llama.cpp's converter writes it: architecture `gemma3`, the sliding window in the
/// metadata, Gemma's norms under llama.cpp's names (`post_attention_norm`, `ffn_norm` for the
/// MLP's input norm, `post_ffw_norm`) and stored as `1 + w`; the import gives back the config
/// and `w` (through `1 + w` in f32), the matrices as F16 bit for bit.
#[test]
fn gemma3_exports_shifted_norms_and_imports_back() {
    let files = fixture_dir("tiny-chat-gemma3");
    let src_cfg = read_config(&files).unwrap();
    let ckpt = open_checkpoint(&files).unwrap();
    let src = export(&files, GgufOutType::F16);
    let file = GgufFile::read(&src).unwrap();
    let m = &file.metadata;
    assert_eq!(m.str("general.architecture").unwrap(), Some("gemma3"));
    assert_eq!(m.usize("gemma3.attention.sliding_window").unwrap(), Some(4));
    assert_eq!(m.usize("gemma3.attention.key_length").unwrap(), Some(8));
    let w = ckpt
        .read_f32("model.layers.1.pre_feedforward_layernorm.weight")
        .unwrap();
    let t = file.tensor("blk.1.ffn_norm.weight").unwrap();
    let stored = file.read_f32(&src, t).unwrap();
    let shifted: Vec<f32> = w.iter().map(|x| x + 1.0).collect();
    bitwise("blk.1.ffn_norm (1 + w)", &stored, &shifted);
    for name in [
        "blk.0.post_attention_norm.weight",
        "blk.0.post_ffw_norm.weight",
    ] {
        assert!(file.tensor(name).is_some(), "{name}");
    }

    let imported = GgufModel::open(src).unwrap();
    let c = &imported.cfg;
    assert_eq!(c.family, src_cfg.family);
    assert_eq!(c.local_attention, src_cfg.local_attention);
    assert_eq!(c.query_pre_attn_scalar, src_cfg.query_pre_attn_scalar);
    assert_eq!(c.activation, src_cfg.activation);
    assert_eq!(
        (c.head_dim, c.rope.theta),
        (src_cfg.head_dim, src_cfg.rope.theta)
    );
    assert_eq!(c.tie_word_embeddings, src_cfg.tie_word_embeddings);
    let mut names = imported.tensor_names();
    names.sort();
    let mut want_names: Vec<String> = ckpt.names().map(String::from).collect();
    want_names.sort();
    assert_eq!(
        names,
        want_names.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for name in names {
        let v = ckpt.read_f32(name).unwrap();
        let want: Vec<f32> = if name.ends_with("norm.weight") {
            v.iter().map(|x| (x + 1.0) - 1.0).collect()
        } else if v.len() == ckpt.entry(name).unwrap().0.shape[0] {
            v
        } else {
            through(GgmlType::F16, &v)
        };
        bitwise(name, &imported.tensor_f32(name).unwrap(), &want);
    }
}

/// What llama.cpp's gemma3 fixes (every 6th layer global, local RoPE base 10000, scale by
/// head_dim) is refused when the model differs: the gemma3 fixture has a global layer 1 and
/// `query_pre_attn_scalar` 24.
#[test]
fn gemma3_that_llama_cpp_would_compute_differently_is_refused() {
    let files = fixture_dir("models/gemma3");
    let mut out = svdtune::export::MemoryTarget::new();
    let e = svdtune::export::export_gguf(
        &files,
        &mut out,
        "m.gguf",
        "m",
        GgufOutType::F16,
        |_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("layer pattern") && e.contains("llama.cpp"),
        "{e}"
    );
}

#[test]
fn llama3_scaling_is_written_as_the_converters_rope_freqs() {
    // The fixture script computed rope_freqs.weight with convert_hf_to_gguf.py's own code.
    let files = fixture_dir("models/llama3");
    let bytes = export(&files, GgufOutType::F16);
    let file = GgufFile::read(&bytes).unwrap();
    let got = file
        .read_f32(&bytes, file.tensor("rope_freqs.weight").unwrap())
        .unwrap();
    let path = format!(
        "{}/tests/fixtures/gguf/llama3_f32.gguf",
        env!("CARGO_MANIFEST_DIR")
    );
    let theirs = svdtune::model::MemorySource::new(&path, std::fs::read(&path).unwrap());
    let their_file = GgufFile::read(&theirs).unwrap();
    let want = their_file
        .read_f32(&theirs, their_file.tensor("rope_freqs.weight").unwrap())
        .unwrap();
    assert_eq!(got.len(), 8);
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 2.0 * f32::EPSILON * w.abs(),
            "{got:?} vs {want:?}"
        );
    }
    assert!(file.metadata.get("llama.rope.scaling.type").is_none());
}
