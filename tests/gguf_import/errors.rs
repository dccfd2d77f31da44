//! Broken and hostile files: each is an error that says what is wrong (never a panic, never an
//! allocation the file cannot back), and unsupported models, types and tokenizers are named
//! with what is supported.
use super::fixture;
use super::writer::{Kv, kv_f32, kv_f32_array, kv_str, kv_u32, tiny_llama, tiny_llama_with_vocab};
use svdtune::gguf::GgufModel;
use svdtune::model::MemorySource;

fn open(bytes: Vec<u8>) -> svdtune::Result<GgufModel<MemorySource>> {
    GgufModel::open(MemorySource::new("bad.gguf", bytes))
}

/// The error of importing `bytes`, which must fail.
fn error_of(bytes: Vec<u8>) -> String {
    match open(bytes) {
        Ok(_) => panic!("the import should have failed"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn assert_error(bytes: Vec<u8>, wants: &[&str]) {
    let e = error_of(bytes);
    for w in wants {
        assert!(e.contains(w), "expected {w:?} in: {e}");
    }
}

#[test]
fn the_test_writer_makes_valid_files() {
    let m = open(tiny_llama().bytes()).unwrap();
    let files = m.hf_files(|_, _, _| {}).unwrap();
    svdtune::model::Model::load(&svdtune::backend::cpu::CpuBackend, &files, |_, _, _| {}).unwrap();
    let m = open(tiny_llama_with_vocab().bytes()).unwrap();
    assert!(m.tokenizer.is_some());
}

#[test]
fn header_errors() {
    let mut g = tiny_llama();
    g.magic = *b"GGUX";
    assert_error(g.bytes(), &["bad.gguf: not a GGUF file", "\"GGUF\""]);
    assert_error(b"GG".to_vec(), &["not a GGUF file: 2 bytes"]);
    assert_error(Vec::new(), &["not a GGUF file: 0 bytes"]);
    for (version, want) in [
        (1, "GGUF version 1 is not supported (supported: [2, 3])"),
        (4, "GGUF version 4 is not supported"),
        (3u32.swap_bytes(), "big-endian"),
    ] {
        let mut g = tiny_llama();
        g.version = version;
        assert_error(g.bytes(), &[want]);
    }
}

/// `tiny_llama` bytes with the u64 at `at` replaced.
fn patch_u64(mut bytes: Vec<u8>, at: usize, v: u64) -> Vec<u8> {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    bytes
}

#[test]
fn huge_counts_are_refused_before_allocating() {
    let b = tiny_llama().bytes();
    assert_error(
        patch_u64(b.clone(), 8, u64::MAX),
        &["claims 18446744073709551615 tensors"],
    );
    assert_error(
        patch_u64(b.clone(), 16, 1 << 40),
        &["claims 1099511627776 metadata entries"],
    );
    // The first key's length.
    assert_error(
        patch_u64(b, 24, u64::MAX - 3),
        &["the key of metadata entry 0 claims 18446744073709551612 bytes"],
    );
    let mut g = tiny_llama();
    let mut arr = 4u32.to_le_bytes().to_vec();
    arr.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    g.set("test.array", Kv(9, arr));
    assert_error(g.bytes(), &["elements in `test.array`"]);
    let mut g = tiny_llama();
    g.set("test.string", Kv(8, (1u64 << 40).to_le_bytes().to_vec()));
    assert_error(
        g.bytes(),
        &["the value of `test.string` claims 1099511627776 bytes, more than"],
    );
    let mut g = tiny_llama();
    g.set("test.string", Kv(8, (1u64 << 20).to_le_bytes().to_vec()));
    assert_error(
        g.bytes(),
        &["truncated: the value of `test.string` needs 1048576 bytes"],
    );
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.attn_q.weight").dims = vec![u64::MAX, 2];
    assert_error(g.bytes(), &["`blk.0.attn_q.weight`", "too large"]);
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.attn_q.weight").dims = vec![32; 5];
    assert_error(g.bytes(), &["has 5 dimensions, expected 1 to 4"]);
    let mut g = tiny_llama();
    g.set("llama.block_count", kv_u32(4_000_000_000));
    assert_error(g.bytes(), &["llama.block_count` is 4000000000, more than"]);
    let mut g = tiny_llama();
    g.set("llama.block_count", kv_u32(1000));
    assert_error(
        g.bytes(),
        &["llama.block_count is 1000, but the file has only 11 tensors"],
    );
}

#[test]
fn malformed_metadata() {
    let mut g = tiny_llama();
    g.set(
        "test.nested",
        Kv(
            9,
            [9u32.to_le_bytes().to_vec(), 1u64.to_le_bytes().to_vec()].concat(),
        ),
    );
    assert_error(g.bytes(), &["`test.nested` is an array of arrays"]);
    let mut g = tiny_llama();
    g.set("test.x", Kv(13, vec![]));
    assert_error(g.bytes(), &["metadata `test.x` has unknown value type 13"]);
    let mut g = tiny_llama();
    g.set("test.b", Kv(7, vec![2]));
    assert_error(g.bytes(), &["`test.b` is a bool of value 2"]);
    let mut g = tiny_llama();
    g.kv.push(("llama.block_count".into(), kv_u32(1)));
    assert_error(
        g.bytes(),
        &["metadata key `llama.block_count` appears twice"],
    );
    let mut g = tiny_llama();
    g.set(
        "test.s",
        Kv(8, [2u64.to_le_bytes().to_vec(), vec![0xff, 0xfe]].concat()),
    );
    assert_error(g.bytes(), &["the value of `test.s`", "is not UTF-8"]);
    let mut g = tiny_llama();
    g.set("general.alignment", kv_u32(24));
    assert_error(g.bytes(), &["general.alignment 24 is not a power of two"]);
    let mut g = tiny_llama();
    g.set("llama.embedding_length", kv_str("32"));
    assert_error(
        g.bytes(),
        &["`llama.embedding_length` should be a non-negative integer, found a string"],
    );
    let mut g = tiny_llama();
    g.kv.retain(|(k, _)| k != "llama.attention.layer_norm_rms_epsilon");
    assert_error(
        g.bytes(),
        &["the required metadata key `llama.attention.layer_norm_rms_epsilon` is missing"],
    );
    let mut g = tiny_llama();
    g.set("llama.rope.dimension_count", kv_u32(4));
    assert_error(g.bytes(), &["partial rotary"]);
    let mut g = tiny_llama();
    g.set("llama.rope.scaling.type", kv_str("yarn"));
    assert_error(
        g.bytes(),
        &["RoPE scaling \"yarn\" is not supported", "none, linear"],
    );
}

#[test]
fn tensor_table_errors() {
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.ffn_up.weight").offset = Some(1 << 20);
    assert_error(
        g.bytes(),
        &[
            "tensor `blk.0.ffn_up.weight`",
            "runs past the end of the file",
        ],
    );
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.ffn_up.weight").offset = Some(u64::MAX - 10);
    assert_error(g.bytes(), &["runs past the end of the file"]);
    let mut g = tiny_llama();
    g.tensors[1].name = "token_embd.weight".into();
    assert_error(g.bytes(), &["tensor `token_embd.weight` is listed twice"]);
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.attn_v.weight").ty = 16;
    g.tensor_mut("blk.0.attn_v.weight").dims = vec![256, 2];
    assert_error(
        g.bytes(),
        &[
            "tensor `blk.0.attn_v.weight` has type IQ2_XXS, which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)",
        ],
    );
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.attn_v.weight").ty = 99;
    assert_error(g.bytes(), &["unknown ggml type code 99"]);
    let mut g = tiny_llama();
    let t = g.tensor_mut("blk.0.attn_v.weight");
    t.ty = 2; // Q4_0
    t.dims = vec![16, 2];
    assert_error(
        g.bytes(),
        &["rows have 16 values, not a multiple of the 32 values per Q4_0 block"],
    );
}

#[test]
fn model_errors_name_what_is_supported() {
    let mut g = tiny_llama();
    g.set("general.architecture", kv_str("gemma"));
    assert_error(
        g.bytes(),
        &["architecture \"gemma\" is not supported (supported: llama, qwen2, qwen3, gemma3, phi3)"],
    );
    let mut g = tiny_llama();
    g.tensors.retain(|t| t.name != "blk.0.ffn_down.weight");
    assert_error(
        g.bytes(),
        &[
            "the tensor `blk.0.ffn_down.weight` (shape [64, 32]) that this llama model needs is missing",
        ],
    );
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.ffn_down.weight").dims = vec![32, 64];
    assert_error(
        g.bytes(),
        &[
            "tensor `blk.0.ffn_down.weight` has dimensions [32, 64], but the metadata implies [64, 32]",
        ],
    );
    let mut g = tiny_llama();
    let extra = super::writer::Tensor {
        name: "rope_freqs.weight".into(),
        dims: vec![4],
        ty: 0,
        data: vec![0; 16],
        offset: None,
    };
    g.tensors.push(extra);
    // Zeros are no Llama 3 scaling (tiny_llama's head_dim is 8: 4 values).
    assert_error(
        g.bytes(),
        &[
            "tensor `rope_freqs.weight`: it holds 0; Llama 3 scaling divides frequencies by factors of at least 1",
        ],
    );
    let mut g = tiny_llama();
    g.tensors.push(super::writer::Tensor {
        name: "rope_freqs.weight".into(),
        dims: vec![3],
        ty: 0,
        data: 1f32.to_le_bytes().repeat(3),
        offset: None,
    });
    assert_error(
        g.bytes(),
        &["tensor `rope_freqs.weight`: it has 3 values, but head_dim / 2 = 4"],
    );
    let mut g = tiny_llama();
    g.tensor_mut("blk.0.ffn_down.weight").name = "blk.0.ffn_down_exps.weight".into();
    assert_error(
        g.bytes(),
        &["tensor `blk.0.ffn_down_exps.weight`: a llama model has no such weight"],
    );
    let mut g = tiny_llama();
    g.tensors.retain(|t| t.name != "token_embd.weight");
    assert_error(
        g.bytes(),
        &["the token embedding `token_embd.weight` is missing"],
    );
    let mut g = tiny_llama();
    g.set("llama.vocab_size", kv_u32(17));
    assert_error(
        g.bytes(),
        &["llama.vocab_size is 17, but token_embd.weight has 16 rows"],
    );
}

#[test]
fn tokenizer_errors_name_what_is_supported() {
    let mut g = tiny_llama_with_vocab();
    g.set("tokenizer.ggml.model", kv_str("t5"));
    assert_error(
        g.bytes(),
        &[
            "tokenizer.ggml.model \"t5\" is not supported (supported: gpt2 (byte-level BPE), llama (SentencePiece))",
        ],
    );
    // A SentencePiece vocabulary whose scores do not match its tokens.
    let mut g = tiny_llama_with_vocab();
    g.set("tokenizer.ggml.model", kv_str("llama"));
    g.set("tokenizer.ggml.scores", kv_f32(0.5));
    assert_error(
        g.bytes(),
        &["tokenizer.ggml.scores should be an array of numbers"],
    );
    let mut g = tiny_llama_with_vocab();
    g.set("tokenizer.ggml.model", kv_str("llama"));
    g.set("tokenizer.ggml.scores", super::writer::kv_str_array(&["a"]));
    assert_error(
        g.bytes(),
        &["tokenizer.ggml.scores should be an array of numbers"],
    );
    let mut g = tiny_llama_with_vocab();
    g.set("tokenizer.ggml.model", kv_str("llama"));
    g.set("tokenizer.ggml.scores", kv_f32_array(&[0.0; 3]));
    assert_error(
        g.bytes(),
        &["tokenizer.ggml.scores has 3 entries for 16 tokens"],
    );
    // Without scores a SentencePiece vocabulary cannot be merged as llama.cpp would.
    let mut g = tiny_llama_with_vocab();
    g.set("tokenizer.ggml.model", kv_str("llama"));
    assert_error(
        g.bytes(),
        &["tokenizer.ggml.scores is missing: a SentencePiece vocabulary"],
    );
    let mut g = tiny_llama_with_vocab();
    g.set("tokenizer.ggml.pre", kv_str("foo"));
    assert_error(
        g.bytes(),
        &[
            "tokenizer.ggml.pre \"foo\" is not supported (supported: smollm, llama-bpe, qwen2, gpt-2)",
        ],
    );
    let mut g = tiny_llama_with_vocab();
    g.kv.retain(|(k, _)| k != "tokenizer.ggml.pre");
    assert_error(g.bytes(), &["tokenizer.ggml.pre is missing"]);
    let mut g = tiny_llama_with_vocab();
    g.set(
        "tokenizer.ggml.merges",
        super::writer::kv_str_array(&["ab"]),
    );
    assert_error(
        g.bytes(),
        &["tokenizer.ggml.merges entry 0 \"ab\" is not two tokens"],
    );
    let mut g = tiny_llama_with_vocab();
    g.set(
        "tokenizer.ggml.merges",
        super::writer::kv_str_array(&["x y"]),
    );
    assert_error(g.bytes(), &["does not make a valid tokenizer"]);
    let mut g = tiny_llama_with_vocab();
    g.set("tokenizer.ggml.eos_token_id", kv_u32(99));
    assert_error(
        g.bytes(),
        &["tokenizer.ggml.eos_token_id is 99, past the 16 tokens"],
    );
    let mut g = tiny_llama_with_vocab();
    let tokens = [
        "<s>", "</s>", "a", "b", "c", "ab", "abc", "Ġ", "Ġa", "d", "e", "f", "g", "h", "i", "j",
        "k",
    ];
    g.set(
        "tokenizer.ggml.tokens",
        super::writer::kv_str_array(&tokens),
    );
    assert_error(
        g.bytes(),
        &["the vocabulary has 17 tokens, but token_embd.weight has only 16 rows"],
    );
}

#[test]
fn every_truncation_is_an_error() {
    let whole = fixture("llama_quant.gguf");
    let file = svdtune::gguf::GgufFile::read(&MemorySource::new("f", whole.clone())).unwrap();
    let data_start = file.data_offset as usize;
    // The end of the last tensor's data (the file may have padding after it).
    let end = file
        .tensors
        .iter()
        .map(|t| t.start + t.n_bytes)
        .max()
        .unwrap() as usize;
    let mut cuts: Vec<usize> = (0..data_start + 64).collect();
    cuts.extend((data_start..end).step_by(97));
    cuts.push(end - 1);
    for cut in cuts {
        let e = error_of(whole[..cut].to_vec());
        assert!(
            e.contains("truncated")
                || e.contains("runs past the end")
                || e.contains("not a GGUF file"),
            "cut at {cut}: {e}"
        );
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Deterministic byte flips over the header (metadata, tensor table) of a model and of a
    // vocabulary file; whatever parses must also convert or fail cleanly.
    let mut state = 0x9E3779B97F4A7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["llama_quant.gguf", "vocab_smollm.gguf"] {
        let whole = fixture(name);
        let header = svdtune::gguf::GgufFile::read(&MemorySource::new("f", whole.clone()))
            .unwrap()
            .data_offset as usize;
        for _ in 0..300 {
            let mut b = whole.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % header as u64) as usize;
                b[at] = match next() % 3 {
                    0 => b[at] ^ (1 << (next() % 8)),
                    1 => 0xff,
                    _ => next() as u8,
                };
            }
            let src = MemorySource::new(name, b);
            if let Ok(file) = svdtune::gguf::GgufFile::read(&src) {
                let _ = svdtune::gguf::tokenizer::tokenizer_files(&file.metadata, None);
            }
            if let Ok(m) = GgufModel::open(src) {
                let _ = m.hf_files(|_, _, _| {});
            }
        }
    }
}
