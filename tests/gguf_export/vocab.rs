//! Tokenizer keys: the vocabulary GGUFs gguf-py wrote give, through our importer and exporter,
//! the same `tokenizer.*` metadata; the tiny chat model's tokenizer survives export and import
//! (same ids, same chat template); `tiny_chat.gguf` imported and exported again has the same
//! metadata and the same tensor bytes; SentencePiece vocabularies export to keys that import back
//! to llama.cpp's ids.
use super::{export, fixture_dir};
use svdtune::data::ModelText;
use svdtune::export::GgufOutType;
use svdtune::export::gguf_vocab::vocab_metadata;
use svdtune::gguf::metadata::Value;
use svdtune::gguf::tokenizer::tokenizer_files;
use svdtune::gguf::{GgufFile, GgufModel};
use svdtune::model::{MemoryFiles, MemorySource, ModelConfig};

fn gguf_fixture(name: &str) -> MemorySource {
    let path = format!("{}/tests/fixtures/gguf/{name}", env!("CARGO_MANIFEST_DIR"));
    MemorySource::new(name, std::fs::read(path).unwrap())
}

fn tokenizer_keys(values: impl IntoIterator<Item = (String, Value)>) -> Vec<(String, Value)> {
    let mut v: Vec<_> = values
        .into_iter()
        .filter(|(k, _)| k.starts_with("tokenizer."))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The vocabulary fixture `file`, its tokenizer as an imported folder, and a tiny config with
/// one embedding row per token.
fn imported_tokenizer(file: &str) -> (GgufFile, MemoryFiles, ModelConfig) {
    let src = GgufFile::read(&gguf_fixture(file)).unwrap();
    let t = tokenizer_files(&src.metadata, None).unwrap().unwrap();
    let mut folder = MemoryFiles::new();
    folder.insert("tokenizer.json", t.tokenizer_json.as_bytes());
    folder.insert("tokenizer_config.json", t.tokenizer_config_json.as_bytes());
    let cfg = ModelConfig::from_json(
        "config.json",
        &format!(
            r#"{{"model_type": "llama", "vocab_size": {}, "hidden_size": 8, "intermediate_size": 16,
            "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 64}}"#,
            t.n_tokens
        ),
    )
    .unwrap();
    (src, folder, cfg)
}

#[test]
fn vocabulary_fixtures_give_back_their_tokenizer_keys() {
    for file in [
        "vocab_smollm.gguf",
        "vocab_llama_bpe.gguf",
        "vocab_qwen2.gguf",
    ] {
        let (src, folder, cfg) = imported_tokenizer(file);
        let got = tokenizer_keys(vocab_metadata(&folder, &cfg).unwrap());
        let want = tokenizer_keys(src.metadata.values.clone());
        let keys = |v: &[(String, Value)]| v.iter().map(|p| p.0.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&got), keys(&want), "{file}: keys");
        for ((k, g), (_, w)) in got.iter().zip(&want) {
            assert_eq!(g, w, "{file}: {k}");
        }
    }
}

#[test]
fn tiny_chat_tokenizer_and_template_survive_export_and_import() {
    let folder = fixture_dir("tiny-chat");
    let src = ModelText::from_model_files(&folder).unwrap();
    let imported = GgufModel::open(export(&folder, GgufOutType::F16)).unwrap();
    let files = imported.hf_files(|_, _, _| {}).unwrap();
    let back = ModelText::from_model_files(&files).unwrap();
    for s in [
        "Hello world",
        "  two  spaces\nand 12345 digits!",
        "<|im_start|>user\nhé<|im_end|>",
    ] {
        assert_eq!(
            back.tokenizer.encode_with_special(s).unwrap(),
            src.tokenizer.encode_with_special(s).unwrap(),
            "{s:?}"
        );
    }
    let tc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/tests/fixtures/tiny-chat/tokenizer_config.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let t = imported.tokenizer.as_ref().unwrap();
    let back_tc: serde_json::Value = serde_json::from_str(&t.tokenizer_config_json).unwrap();
    assert_eq!(back_tc["chat_template"], tc["chat_template"]);
    assert_eq!(back_tc["eos_token"], "<|im_end|>");
    assert_eq!(back_tc["pad_token"], "<|endoftext|>");
}

#[test]
fn tiny_chat_gguf_round_trips() {
    let fixture = gguf_fixture("tiny_chat.gguf");
    let orig = GgufFile::read(&fixture).unwrap();
    let imported = GgufModel::open(gguf_fixture("tiny_chat.gguf")).unwrap();
    let files = imported.hf_files(|_, _, _| {}).unwrap();
    let again = export(&files, GgufOutType::Q8_0);
    let out = GgufFile::read(&again).unwrap();
    for (k, v) in &orig.metadata.values {
        if k == "general.name" {
            continue;
        }
        assert_eq!(out.metadata.get(k), Some(v), "metadata `{k}`");
    }
    assert_eq!(out.tensors.len(), orig.tensors.len());
    for t in &orig.tensors {
        let o = out.tensor(&t.name).unwrap();
        assert_eq!((&o.dims, o.ggml_type), (&t.dims, t.ggml_type), "{}", t.name);
        let a = svdtune::model::ByteSource::read_at(&fixture, t.start, t.n_bytes as usize).unwrap();
        let b = svdtune::model::ByteSource::read_at(&again, o.start, o.n_bytes as usize).unwrap();
        assert!(a == b, "{}: bytes differ", t.name);
    }
}

#[test]
fn sentencepiece_vocabularies_export_to_what_llama_cpp_tokenizes_the_same() {
    // Each SentencePiece fixture → tokenizer.json (import) → GGUF keys (export): the same pieces
    // and types, scores that keep the merge order, and, imported again, llama.cpp's ids.
    let path = format!(
        "{}/tests/fixtures/gguf/tokenizer_spm_expected.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for (file, arch) in [
        ("vocab_spm_phi3.gguf", "phi3"),
        ("vocab_spm_llama.gguf", "llama"),
        ("vocab_spm_gemma3.gguf", "gemma3"),
    ] {
        let (src, folder, cfg) = imported_tokenizer(file);
        let got = vocab_metadata(&folder, &cfg).unwrap();
        let get = |k: &str| got.iter().find(|p| p.0 == k).map(|p| p.1.clone());
        let want = |k: &str| src.metadata.values.get(k).cloned();
        assert_eq!(
            get("tokenizer.ggml.model"),
            Some(Value::String("llama".into()))
        );
        for k in [
            "tokenizer.ggml.tokens",
            "tokenizer.ggml.token_type",
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.unknown_token_id",
            "tokenizer.chat_template",
        ] {
            assert_eq!(get(k), want(k), "{file}: {k}");
        }
        let prefix = want("tokenizer.ggml.add_space_prefix").unwrap_or(Value::Bool(true));
        assert_eq!(
            get("tokenizer.ggml.add_space_prefix"),
            Some(prefix),
            "{file}"
        );
        assert!(get("tokenizer.ggml.merges").is_none(), "{file}: no merges");

        let mut meta = src.metadata.clone();
        meta.values.retain(|k, _| !k.starts_with("tokenizer."));
        meta.values.extend(got);
        meta.values.insert(
            "general.architecture".into(),
            Value::String(arch.to_string()),
        );
        let back = tokenizer_files(&meta, None).unwrap().unwrap();
        let text = ModelText::from_files(back.tokenizer_json.as_bytes(), None, None, None).unwrap();
        let case = &expected[file];
        for (s, ids) in case["texts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["ids"].as_array().unwrap())
        {
            let want: Vec<u32> = ids
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let s = s.as_str().unwrap();
            assert_eq!(text.tokenizer.encode(s).unwrap(), want, "{file}: {s:?}");
        }
    }
}

#[test]
fn a_sentencepiece_tokenizer_llama_cpp_would_not_reproduce_is_refused() {
    let src = GgufFile::read(&gguf_fixture("vocab_spm_llama.gguf")).unwrap();
    let t = tokenizer_files(&src.metadata, None).unwrap().unwrap();
    let cfg = ModelConfig::from_json(
        "config.json",
        r#"{"model_type": "llama", "vocab_size": 426, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 64}"#,
    )
    .unwrap();
    let with = |normalizer: serde_json::Value, pre: serde_json::Value| {
        let mut tok: serde_json::Value = serde_json::from_str(&t.tokenizer_json).unwrap();
        tok["normalizer"] = normalizer;
        tok["pre_tokenizer"] = pre;
        let mut folder = MemoryFiles::new();
        folder.insert("tokenizer.json", tok.to_string().as_bytes());
        vocab_metadata(&folder, &cfg)
    };
    // Raw spaces: llama.cpp would turn them into ▁.
    let e = with(serde_json::Value::Null, serde_json::Value::Null).unwrap_err();
    assert!(
        e.to_string().contains("spaces are not turned into ▁"),
        "{e}"
    );
    // A normalizer llama.cpp does not have.
    let e = with(serde_json::json!({"type": "NFKC"}), serde_json::Value::Null).unwrap_err();
    assert!(e.to_string().contains("normalizer"), "{e}");
    // Metaspace that splits words apart.
    let e = with(
        serde_json::Value::Null,
        serde_json::json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("pre_tokenizer"), "{e}");
    // Llama 2's newer form (Metaspace, no normalizer) is exported, with the space prefix.
    let ok = with(
        serde_json::Value::Null,
        serde_json::json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}),
    )
    .unwrap();
    assert!(
        ok.iter()
            .any(|(k, v)| k == "tokenizer.ggml.add_space_prefix" && *v == Value::Bool(true))
    );
}
