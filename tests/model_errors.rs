//! Broken model files get a clear error naming the file, the tensor and what was expected:
//! truncated safetensors, a header length past the end, a header that is not JSON, unknown and
//! unsupported dtypes, missing, extra and mis-shaped tensors, a missing shard, and configs with an
//! unsupported model_type or option. Runs natively and in browsers.
mod common;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::{MemoryFiles, Model, ModelConfig};

const CONFIG: &str = include_str!("fixtures/models/llama/config.json");
const WEIGHTS: &[u8] = include_bytes!("fixtures/models/llama/model.safetensors");

fn files(config: &str, weights: &[u8]) -> MemoryFiles {
    let mut f = MemoryFiles::new();
    f.insert("config.json", config.as_bytes().to_vec());
    f.insert("model.safetensors", weights.to_vec());
    f
}

/// The error loading these files gives (loading must fail).
fn load_error(files: &MemoryFiles) -> String {
    match Model::load(&CpuBackend, files, |_, _, _| {}) {
        Ok(_) => panic!("loading succeeded"),
        Err(e) => e.to_string(),
    }
}

fn assert_has(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "error {err:?} lacks {p:?}");
    }
}

/// Header length and header text of a safetensors file.
fn header(bytes: &[u8]) -> (usize, String) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (n, String::from_utf8(bytes[8..8 + n].to_vec()).unwrap())
}

/// `bytes` with its header text replaced (same length, so offsets stay valid).
fn with_header(bytes: &[u8], text: &str) -> Vec<u8> {
    let (n, _) = header(bytes);
    assert_eq!(text.len(), n);
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// The fixture's tensors re-serialized with `edit` applied to the list of (name, dtype, shape, data).
fn reserialize(
    edit: impl FnOnce(&mut Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>),
) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(WEIGHTS).unwrap();
    let mut list: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    edit(&mut list);
    let views: Vec<(String, safetensors::tensor::TensorView)> = list
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

async fn truncated_file() {
    let cut = &WEIGHTS[..WEIGHTS.len() - 100];
    let err = load_error(&files(CONFIG, cut));
    assert_has(&err, &["model.safetensors", "truncated", "file has"]);
    let err = load_error(&files(CONFIG, &WEIGHTS[..5]));
    assert_has(&err, &["model.safetensors", "truncated: 5 bytes"]);
}
gpu_test!(truncated_safetensors_is_named, truncated_file);

async fn header_past_end() {
    let mut bytes = WEIGHTS.to_vec();
    bytes[..8].copy_from_slice(&(WEIGHTS.len() as u64 * 2).to_le_bytes());
    let err = load_error(&files(CONFIG, &bytes));
    assert_has(
        &err,
        &["model.safetensors", "header length", "runs past the end"],
    );
}
gpu_test!(header_length_past_end_is_named, header_past_end);

async fn bad_json_header() {
    let (_, text) = header(WEIGHTS);
    let broken = text.replacen('{', "[", 1);
    let err = load_error(&files(CONFIG, &with_header(WEIGHTS, &broken)));
    assert_has(&err, &["model.safetensors", "not valid JSON"]);
}
gpu_test!(bad_json_header_is_named, bad_json_header);

async fn dtypes() {
    let (_, text) = header(WEIGHTS);
    let unknown = text.replacen("\"F32\"", "\"Q9X\"", 1);
    let err = load_error(&files(CONFIG, &with_header(WEIGHTS, &unknown)));
    assert_has(&err, &["model.safetensors", "unknown dtype \"Q9X\""]);
    let unsupported = text.replacen("\"F32\"", "\"I32\"", 1);
    let err = load_error(&files(CONFIG, &with_header(WEIGHTS, &unsupported)));
    assert_has(&err, &["dtype I32 is not supported", "F32, F16, BF16"]);
}
gpu_test!(unknown_and_unsupported_dtypes_are_named, dtypes);

async fn shape_mismatch() {
    let config = CONFIG.replace("\"intermediate_size\": 64", "\"intermediate_size\": 48");
    assert_ne!(config, CONFIG);
    let err = load_error(&files(&config, WEIGHTS));
    assert_has(
        &err,
        &[
            "model.safetensors",
            ".mlp.",
            "has shape [",
            "but config.json implies",
        ],
    );
    let err = load_error(&files(&config, WEIGHTS));
    assert!(err.contains("48"), "{err}");
}
gpu_test!(shape_mismatch_names_tensor_and_shapes, shape_mismatch);

async fn missing_and_extra() {
    let name = "model.layers.1.self_attn.v_proj.weight";
    let without = reserialize(|l| l.retain(|t| t.0 != name));
    let err = load_error(&files(CONFIG, &without));
    assert_has(&err, &[name, "is missing", "[16, 32]"]);
    let with_extra = reserialize(|l| {
        l.push((
            "model.layers.0.mlp.extra.weight".into(),
            safetensors::Dtype::F32,
            vec![2],
            vec![0; 8],
        ))
    });
    let err = load_error(&files(CONFIG, &with_extra));
    assert_has(
        &err,
        &["unexpected tensor `model.layers.0.mlp.extra.weight`"],
    );
}
gpu_test!(missing_and_extra_tensors_are_named, missing_and_extra);

async fn missing_shard() {
    let mut f = MemoryFiles::new();
    f.insert(
        "config.json",
        include_bytes!("fixtures/models/llama_sharded/config.json").to_vec(),
    );
    f.insert(
        "model.safetensors.index.json",
        include_bytes!("fixtures/models/llama_sharded/model.safetensors.index.json").to_vec(),
    );
    f.insert(
        "model-00001-of-00003.safetensors",
        include_bytes!("fixtures/models/llama_sharded/model-00001-of-00003.safetensors").to_vec(),
    );
    f.insert(
        "model-00003-of-00003.safetensors",
        include_bytes!("fixtures/models/llama_sharded/model-00003-of-00003.safetensors").to_vec(),
    );
    let err = load_error(&f);
    assert_has(
        &err,
        &[
            "model.safetensors.index.json",
            "model-00002-of-00003.safetensors",
            "cannot be opened",
        ],
    );
}
gpu_test!(missing_shard_is_named, missing_shard);

async fn no_weights_at_all() {
    let mut f = MemoryFiles::new();
    f.insert("config.json", CONFIG.as_bytes().to_vec());
    let err = load_error(&f);
    assert_has(
        &err,
        &[
            "model.safetensors",
            "model.safetensors.index.json",
            "missing",
        ],
    );
}
gpu_test!(missing_weights_file_is_named, no_weights_at_all);

fn config_error(edit: impl Fn(&mut serde_json::Map<String, serde_json::Value>)) -> String {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(CONFIG).unwrap();
    edit(&mut v);
    let text = serde_json::to_string(&v).unwrap();
    ModelConfig::from_json("config.json", &text)
        .unwrap_err()
        .to_string()
}

async fn config_errors() {
    use serde_json::json;
    // Sizes beyond what one tensor can hold, or overflowing a product, are refused by name.
    let err = config_error(|c| {
        c.insert("vocab_size".into(), json!(3_000_000_000u64));
    });
    assert_has(
        &err,
        &[
            "config.json",
            "model.embed_tokens.weight (vocab_size × hidden_size)",
            "at most 2147483647",
        ],
    );
    // Sizes that overflow u64 products fit only a 64-bit usize (in wasm32 they are refused as
    // integers too large when read).
    if cfg!(target_pointer_width = "64") {
        let err = config_error(|c| {
            c.insert("intermediate_size".into(), json!(u64::MAX / 2));
        });
        assert_has(&err, &["the MLP projections", "more than 2⁶⁴ elements"]);
        let err = config_error(|c| {
            c.insert("num_attention_heads".into(), json!(1u64 << 40));
            c.insert("num_key_value_heads".into(), json!(1u64 << 40));
            c.insert("head_dim".into(), json!(1u64 << 40));
        });
        assert_has(&err, &["num_attention_heads × head_dim", "more than 2⁶⁴"]);
    } else {
        let err = config_error(|c| {
            c.insert("intermediate_size".into(), json!(u64::MAX / 2));
        });
        assert_has(&err, &["intermediate_size", "non-negative integer"]);
    }
    let err = config_error(|c| {
        c.insert("num_hidden_layers".into(), json!(1_000_000_000u64));
    });
    assert_has(
        &err,
        &["num_hidden_layers is 1000000000", "more than the 4096"],
    );
    let err = config_error(|c| {
        c.insert("model_type".into(), json!("gpt2"));
    });
    assert_has(
        &err,
        &[
            "config.json",
            "\"gpt2\" is not supported",
            "llama, mistral, qwen2, qwen3, phi3",
        ],
    );
    let err = config_error(|c| {
        c.remove("model_type");
    });
    assert_has(&err, &["config.json", "`model_type` is missing"]);
    let err = config_error(|c| {
        c.insert("hidden_act".into(), json!("gelu"));
    });
    assert_has(&err, &["hidden_act \"gelu\" is not supported"]);
    let err = config_error(|c| {
        c.insert(
            "rope_scaling".into(),
            json!({"rope_type": "yarn", "factor": 4.0}),
        );
    });
    assert_has(
        &err,
        &[
            "config.json",
            "\"yarn\" is not supported",
            "llama3",
            "longrope",
        ],
    );
    let err = config_error(|c| {
        c.insert("partial_rotary_factor".into(), json!(0.5));
    });
    assert_has(&err, &["partial_rotary_factor 0.5 is not supported"]);
    let err = config_error(|c| {
        c.insert("num_key_value_heads".into(), json!(3));
    });
    assert_has(
        &err,
        &["num_attention_heads (4) must be a multiple of num_key_value_heads (3)"],
    );
    let err = config_error(|c| {
        c.insert("hidden_size".into(), json!("big"));
    });
    assert_has(
        &err,
        &["`hidden_size` should be a non-negative integer, found \"big\""],
    );
    let err = ModelConfig::from_json("config.json", "{ not json")
        .unwrap_err()
        .to_string();
    assert_has(&err, &["config.json", "not valid JSON"]);
}
gpu_test!(config_errors_name_the_option, config_errors);

/// The CPU engine in the page (wasm32) holds at most 4 GiB: a run that needs more is refused by
/// its estimate with the three parts named, and a tensor the heap cannot hold is an error, not an
/// abort that would end the engine. Natively the CPU backend leaves limits to the system.
async fn host_memory_limits() {
    use serde_json::json;
    use svdtune::backend::Backend;
    use svdtune::svd::plan::SvdPlan;
    use svdtune::train::memory::estimate;
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(CONFIG).unwrap();
    // Llama 3 8B's shapes.
    for (key, value) in [
        ("vocab_size", 128256),
        ("hidden_size", 4096),
        ("intermediate_size", 14336),
        ("num_hidden_layers", 32),
        ("num_attention_heads", 32),
        ("num_key_value_heads", 8),
        ("head_dim", 128),
    ] {
        v.insert(key.into(), json!(value));
    }
    let cfg = ModelConfig::from_json("config.json", &serde_json::to_string(&v).unwrap()).unwrap();
    let plan = SvdPlan::new(&cfg, 0.1, true).unwrap();
    let be = CpuBackend;
    let est = estimate(&cfg, &plan, 4, 512, be.logit_chunk_elements());
    assert!(est.weights > 30_000_000_000, "{est:?}");
    let checked = est.check(&be, "batches of 4 × 512");
    if cfg!(target_arch = "wasm32") {
        let msg = checked.unwrap_err().to_string();
        assert!(
            msg.contains("not enough host memory for training batches of 4 × 512 (weights")
                && msg.contains("of at most 4.29 GB available"),
            "{msg}"
        );
        let msg = be.zeros(&[1 << 30, 2]).unwrap_err().to_string();
        assert!(
            msg.contains("not enough host memory for tensor [1073741824, 2]: it needs 8.59 GB"),
            "{msg}"
        );
    } else {
        assert!(checked.is_ok(), "no host limit natively");
    }
}
gpu_test!(host_memory_is_checked_in_wasm, host_memory_limits);
