//! Vocabulary-only GGUFs (a small byte-level BPE with the SmolLM2, Llama 3 and Qwen2.5 text
//! splitting): the tokenizer built from each gives the ids of the reference `tokenizers` tokenizer,
//! and tokenizer_config.json carries the special tokens, add_bos_token and the chat template.
//! SentencePiece vocabularies (a small BPE trained by the sentencepiece library, as Phi-3, Llama 2
//! and Gemma 3 files hold them): the ids llama.cpp gives, which transformers' GGUF tokenizer gives
//! too for phi3 and gemma3 (checked by the fixture script).
use super::{fixture, source};
use serde_json::Value;
use svdtune::data::{Message, ModelText};
use svdtune::gguf::GgufFile;
use svdtune::gguf::tokenizer::{TokenizerFiles, tokenizer_files};

fn files(name: &str) -> TokenizerFiles {
    let file = GgufFile::read(&source(name)).unwrap();
    tokenizer_files(&file.metadata, Some(64)).unwrap().unwrap()
}

#[test]
fn ids_equal_the_reference_tokenizers() {
    let expected: Value = serde_json::from_slice(&fixture("tokenizer_expected.json")).unwrap();
    for (pre, file) in [
        ("smollm", "vocab_smollm.gguf"),
        ("llama-bpe", "vocab_llama_bpe.gguf"),
        ("qwen2", "vocab_qwen2.gguf"),
    ] {
        let t = files(file);
        assert_eq!(t.pre, pre);
        assert_eq!(t.n_tokens, 401, "{pre}: tokens");
        assert_eq!(t.n_added, 4, "{pre}: 3 control + 1 user-defined");
        let text = ModelText::from_files(
            t.tokenizer_json.as_bytes(),
            Some(&t.tokenizer_config_json),
            None,
            None,
        )
        .unwrap();
        let case = &expected[pre];
        let texts = case["texts"].as_array().unwrap();
        let ids = case["ids"].as_array().unwrap();
        assert!(texts.len() >= 6);
        for (s, want) in texts.iter().zip(ids) {
            let s = s.as_str().unwrap();
            let got = text.tokenizer.encode(s).unwrap();
            assert_eq!(got, self::ids(want), "{pre}: ids of {s:?}");
        }
    }
}

#[test]
fn the_texts_tell_the_splittings_apart() {
    // With another family's splitting, each vocabulary gives other ids for some text: the texts
    // exercise what differs (digit grouping, NFC, contractions, spaces), so the test above would
    // catch a wrong pre-tokenizer.
    let expected: Value = serde_json::from_slice(&fixture("tokenizer_expected.json")).unwrap();
    let cases = [
        ("smollm", "vocab_smollm.gguf"),
        ("llama-bpe", "vocab_llama_bpe.gguf"),
        ("qwen2", "vocab_qwen2.gguf"),
    ];
    for (pre, file) in cases {
        for (other, _) in cases.iter().filter(|c| c.0 != pre) {
            let mut f = GgufFile::read(&source(file)).unwrap();
            f.metadata.values.insert(
                "tokenizer.ggml.pre".into(),
                svdtune::gguf::metadata::Value::String(other.to_string()),
            );
            let t = tokenizer_files(&f.metadata, None).unwrap().unwrap();
            let text =
                ModelText::from_files(t.tokenizer_json.as_bytes(), None, None, None).unwrap();
            let differs = expected[pre]["texts"]
                .as_array()
                .unwrap()
                .iter()
                .zip(expected[pre]["ids"].as_array().unwrap())
                .any(|(s, want)| {
                    let got = text.tokenizer.encode(s.as_str().unwrap()).unwrap();
                    let want: Vec<u32> = want
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_u64().unwrap() as u32)
                        .collect();
                    got != want
                });
            assert!(
                differs,
                "{pre} vocabulary split as {other} gives the same ids"
            );
        }
    }
}

#[test]
fn tokenizer_config_has_specials_and_template() {
    for (file, add_bos) in [
        ("vocab_smollm.gguf", false),
        ("vocab_llama_bpe.gguf", true),
        ("vocab_qwen2.gguf", false),
    ] {
        let t = files(file);
        let cfg: Value = serde_json::from_str(&t.tokenizer_config_json).unwrap();
        assert_eq!(cfg["bos_token"], "<|im_start|>", "{file}");
        assert_eq!(cfg["eos_token"], "<|im_end|>", "{file}");
        assert_eq!(cfg["pad_token"], "<|endoftext|>", "{file}");
        assert_eq!(cfg["add_bos_token"], add_bos, "{file}");
        assert_eq!(cfg["model_max_length"], 64, "{file}");
        let text = ModelText::from_files(
            t.tokenizer_json.as_bytes(),
            Some(&t.tokenizer_config_json),
            None,
            None,
        )
        .unwrap();
        let rendered = text
            .template
            .render(&[Message::user("hi"), Message::assistant("yo")], false)
            .unwrap();
        assert_eq!(
            rendered,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n"
        );
        assert_eq!(text.tokenizer.eos_token(), Some("<|im_end|>"));
        // add_bos_token decides whether plain text gets a BOS.
        let plain = text.tokenizer.encode_with_special("hi").unwrap();
        assert_eq!(plain.first() == Some(&1), add_bos, "{file}: {plain:?}");
        let json: Value = serde_json::from_str(&t.tokenizer_json).unwrap();
        let added = json["added_tokens"].as_array().unwrap();
        let tool = added.iter().find(|a| a["content"] == "<tool>").unwrap();
        assert_eq!(
            tool["special"], false,
            "user-defined tokens are not special"
        );
        assert!(added.iter().filter(|a| a["special"] == true).count() == 3);
    }
}

#[test]
fn files_without_a_tokenizer_give_none() {
    let file = GgufFile::read(&source("llama_f32.gguf")).unwrap();
    assert!(tokenizer_files(&file.metadata, None).unwrap().is_none());
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn sentencepiece_ids_equal_llama_cpp() {
    let expected: Value = serde_json::from_slice(&fixture("tokenizer_spm_expected.json")).unwrap();
    for file in [
        "vocab_spm_phi3.gguf",
        "vocab_spm_llama.gguf",
        "vocab_spm_gemma3.gguf",
    ] {
        let t = files(file);
        assert_eq!((t.model.as_str(), t.pre.as_str()), ("llama", "default"));
        assert_eq!(t.n_tokens, 426, "{file}: 420 pieces + 6 added");
        // <unk> (unknown), <s>, </s>, 5 control tokens, 1 user-defined.
        assert_eq!(t.n_added, 9, "{file}: added tokens");
        let text = ModelText::from_files(
            t.tokenizer_json.as_bytes(),
            Some(&t.tokenizer_config_json),
            None,
            None,
        )
        .unwrap();
        let case = &expected[file];
        let texts = case["texts"].as_array().unwrap();
        assert!(texts.len() >= 7);
        for (s, want) in texts.iter().zip(case["ids"].as_array().unwrap()) {
            let s = s.as_str().unwrap();
            let got = text.tokenizer.encode(s).unwrap();
            assert_eq!(got, ids(want), "{file}: ids of {s:?}");
            // Byte fallback and the prefix space decode back to the text.
            if !s.contains("<|") && !s.contains("<tool>") {
                let back = text.tokenizer.decode(&got).unwrap();
                assert_eq!(back, s, "{file}: decode of {s:?}");
            }
        }
    }
}

#[test]
fn sentencepiece_config_follows_llama_cpp_defaults() {
    // The llama-architecture file sets neither add_bos_token nor add_space_prefix: BOS is added
    // (llama.cpp's default for SentencePiece) and a space is prepended.
    let t = files("vocab_spm_llama.gguf");
    let cfg: Value = serde_json::from_str(&t.tokenizer_config_json).unwrap();
    assert_eq!(cfg["add_bos_token"], true);
    assert_eq!(cfg["bos_token"], "<s>");
    assert_eq!(cfg["unk_token"], "<unk>");
    let tok: Value = serde_json::from_str(&t.tokenizer_json).unwrap();
    assert_eq!(tok["model"]["byte_fallback"], true);
    assert_eq!(tok["model"]["unk_token"], "<unk>");
    assert_eq!(tok["normalizer"]["normalizers"][0]["type"], "Prepend");
    // Phi-3's file says add_bos_token false; Gemma's says no space prefix.
    let phi: Value =
        serde_json::from_str(&files("vocab_spm_phi3.gguf").tokenizer_config_json).unwrap();
    assert_eq!(phi["add_bos_token"], false);
    let gemma: Value =
        serde_json::from_str(&files("vocab_spm_gemma3.gguf").tokenizer_json).unwrap();
    assert_eq!(gemma["normalizer"]["type"], "Replace");
}

#[test]
fn only_phi3_sentencepiece_or_phi3_names_strip_after_added_tokens() {
    use svdtune::gguf::metadata::Value as Meta;
    let rstrips = |f: &GgufFile| -> Vec<(String, bool)> {
        let t = tokenizer_files(&f.metadata, None).unwrap().unwrap();
        let tok: Value = serde_json::from_str(&t.tokenizer_json).unwrap();
        tok["added_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["content"].as_str().unwrap().to_string(),
                    a["rstrip"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    // A byte-level vocabulary of the phi3 architecture (as Phi-4's): nothing stripped.
    let mut f = GgufFile::read(&source("vocab_smollm.gguf")).unwrap();
    f.metadata
        .values
        .insert("general.architecture".into(), Meta::String("phi3".into()));
    assert!(rstrips(&f).iter().all(|(_, r)| !r), "{:?}", rstrips(&f));
    // Named as llama.cpp's rule wants it: every added token strips but <|endoftext|>.
    f.metadata
        .values
        .insert("general.name".into(), Meta::String("My Phi-3 tune".into()));
    for (t, r) in rstrips(&f) {
        assert_eq!(r, t != "<|endoftext|>", "{t}");
    }
    // The SentencePiece phi3 file strips by its architecture.
    let mut f = GgufFile::read(&source("vocab_spm_phi3.gguf")).unwrap();
    f.metadata.values.remove("general.name");
    for (t, r) in rstrips(&f) {
        assert_eq!(
            r,
            !["<unk>", "<s>", "<|endoftext|>"].contains(&t.as_str()),
            "{t}"
        );
    }
}
