//! A `.gguf` file as `--model` (imported into memory, never written as a folder) on the tiny chat
//! model's GGUF (`tests/fixtures/gguf/tiny_chat.gguf`, Q8_0): the weights made on demand by
//! `ImportedWeights` are, over any byte range, the `model.safetensors` that the import writes; `train` gives per-step losses and a
//! merged model equal to importing it with `import-gguf` first and training that folder, `eval`
//! and `generate` print the same; a truncated file or an unsupported tensor type gives the
//! importer's error naming the file. `inspect --memory` prints `MemoryEstimate`'s figures from the
//! config alone: on a folder holding only `config.json` and on a `.gguf` cut off after its header.
#![cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};
use std::process::Command;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::ModelConfig;
use svdtune::svd::SvdPlan;
use svdtune::train::memory::{FactorDtype, MemoryOptions, estimate_with};

const GGUF: &str = "tests/fixtures/gguf/tiny_chat.gguf";
const DATA: &str = "tests/fixtures/tiny-chat/data.jsonl";

fn svdtune(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("svdtune runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = svdtune(args);
    assert!(ok, "svdtune {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn err(args: &[&str]) -> String {
    let (ok, stdout, stderr) = svdtune(args);
    assert!(!ok, "svdtune {args:?} should fail:\n{stdout}\n{stderr}");
    stderr
}

fn tmp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("svdtune-gguf-direct-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The `loss` of every step line of a `--log` file.
fn step_losses(log: &Path) -> Vec<f64> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v.get("loss").and_then(|l| l.as_f64()))
        .collect()
}

fn train(model: &str, out: &Path) -> Vec<f64> {
    train_with(model, out, &[])
}

fn train_with(model: &str, out: &Path, extra: &[&str]) -> Vec<f64> {
    let log = out.join("log.jsonl");
    let args = [
        "train",
        "--model",
        model,
        "--data",
        DATA,
        "--out",
        s(out),
        "--seq-len",
        "64",
        "--batch-size",
        "4",
        "--max-steps",
        "3",
        "--lr",
        "3e-2",
        "--eval-split",
        "0.2",
        "--rank-fraction",
        "0.5",
        "--backend",
        "cpu",
        "--log",
        s(&log),
    ];
    ok(&[&args[..], extra].concat());
    step_losses(&log)
}

#[test]
fn imported_weights_read_by_ranges_are_the_written_file() {
    use svdtune::gguf::{GgufModel, ImportedWeights};
    use svdtune::model::{ByteSource, MemorySource};
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(GGUF)).unwrap();
    let model = GgufModel::open(MemorySource::new(GGUF, bytes)).unwrap();
    let mut target = svdtune::export::MemoryTarget::new();
    model.write_to(&mut target, |_, _, _| {}).unwrap();
    let want = target.get("model.safetensors").unwrap().to_vec();
    let lazy = ImportedWeights::new(std::rc::Rc::new(model)).unwrap();
    assert_eq!(lazy.len(), want.len() as u64);
    assert!(
        lazy.read_at(0, want.len()).unwrap() == want,
        "the whole file"
    );
    // Ranges of every length class at every kind of boundary, read in a scattered order.
    let n = want.len();
    let mut state = 12345u64;
    for _ in 0..400 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let start = (state >> 33) as usize % n;
        let len = [0, 1, 3, 8, 100, 5000, n][(state >> 20) as usize % 7].min(n - start);
        let got = lazy.read_at(start as u64, len).unwrap();
        assert!(got == want[start..start + len], "{len} bytes at {start}");
    }
    assert!(lazy.read_at(n as u64 - 2, 3).is_err());
}

#[test]
fn a_phi3_gguf_with_a_sentencepiece_vocabulary_trains_as_its_import() {
    // Phi-3 as llama.cpp writes it: fused projections, Q8_0, a SentencePiece vocabulary and
    // Phi-3's chat template.
    const PHI3: &str = "tests/fixtures/gguf/tiny_phi3_chat.gguf";
    let dir = tmp("phi3");
    let folder = dir.join("imported");
    let summary = ok(&["import-gguf", PHI3, "--out", s(&folder)]);
    assert!(summary.contains("llama / default: 426 tokens"), "{summary}");
    let want = train(s(&folder), &dir.join("from-folder"));
    let got = train(PHI3, &dir.join("from-gguf"));
    assert_eq!(want.len(), 3, "{want:?}");
    assert!(want.iter().all(|l| l.is_finite()), "{want:?}");
    assert_eq!(
        got, want,
        "per-step losses from the .gguf and from its import"
    );
    // The chat template renders Phi-3's turns, the vocabulary keeps them whole (<|user|> 421,
    // <|assistant|> 422, <|end|> 423), and the trained positions follow the last <|assistant|>.
    let dump = dir.join("examples.jsonl");
    ok(&["data", "--model", PHI3, "--data", DATA, "--dump", s(&dump)]);
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(text.lines().count() >= 20);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ids: Vec<u64> = v["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let mask: Vec<bool> = v["loss_mask"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_bool().unwrap_or_else(|| x.as_u64() == Some(1)))
            .collect();
        assert!(ids.contains(&421) && ids.contains(&422), "{line}");
        let first = mask.iter().position(|&m| m).expect("a trained position");
        assert!(
            ids[..first].contains(&422),
            "trained after <|assistant|>: {line}"
        );
        // The turn's <|end|> is trained, and the template's closing <|endoftext|> (420).
        assert!(ids[first..].contains(&423), "{line}");
        assert_eq!(mask.last(), Some(&true), "{line}");
        assert_eq!(ids.last(), Some(&420), "{line}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_gguf_trains_evaluates_and_generates_as_its_import() {
    let dir = tmp("train");
    let folder = dir.join("imported");
    ok(&["import-gguf", GGUF, "--out", s(&folder)]);
    let (a, b) = (dir.join("from-folder"), dir.join("from-gguf"));
    let want = train(s(&folder), &a);
    let got = train(GGUF, &b);
    assert_eq!(want.len(), 3, "{want:?}");
    assert_eq!(
        got, want,
        "per-step losses from the .gguf and from its import"
    );
    for f in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between the two runs");
    }
    // `--merged-dtype bf16`: the same run's merged tensors, each rounded to bf16, and the
    // config says so.
    let c = dir.join("from-gguf-bf16");
    assert_eq!(train_with(GGUF, &c, &["--merged-dtype", "bf16"]), want);
    let (f32s, bf16s) = (
        std::fs::read(b.join("model.safetensors")).unwrap(),
        std::fs::read(c.join("model.safetensors")).unwrap(),
    );
    let (f32s, bf16s) = (
        safetensors::SafeTensors::deserialize(&f32s).unwrap(),
        safetensors::SafeTensors::deserialize(&bf16s).unwrap(),
    );
    assert_eq!(f32s.len(), bf16s.len());
    for (name, view) in f32s.tensors() {
        let half = bf16s.tensor(&name).unwrap();
        assert_eq!(half.dtype(), safetensors::Dtype::BF16, "{name}");
        assert_eq!(half.shape(), view.shape(), "{name}");
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let rounded = svdtune::backend::Format::Bf16.round(&values).unwrap();
        let got: Vec<f32> = half
            .data()
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
            .collect();
        assert!(
            got == rounded,
            "{name}: bf16 values are the f32 ones rounded"
        );
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["torch_dtype"], "bfloat16", "{config}");
    let adapter: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("adapter/adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(
        adapter["base_model_name_or_path"], "tiny tiny-chat",
        "{adapter}"
    );

    let eval = |m: &str| {
        ok(&[
            "eval",
            "--model",
            m,
            "--data",
            DATA,
            "--seq-len",
            "64",
            "--backend",
            "cpu",
        ])
    };
    let e = eval(GGUF);
    assert!(e.contains("mean loss"), "{e}");
    assert_eq!(e, eval(s(&folder)));
    let generate = |m: &str| {
        ok(&[
            "generate",
            "--model",
            m,
            "--prompt",
            "hello",
            "--max-new-tokens",
            "8",
            "--backend",
            "cpu",
        ])
    };
    assert_eq!(generate(GGUF), generate(s(&folder)));
    let data = |m: &str| ok(&["data", "--model", m, "--data", DATA]);
    assert_eq!(data(GGUF), data(s(&folder)));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The byte offset of tensor `name`'s type field in a GGUF file's table.
fn type_field(bytes: &[u8], name: &str, dims: &[u64]) -> usize {
    let mut pattern = (name.len() as u64).to_le_bytes().to_vec();
    pattern.extend_from_slice(name.as_bytes());
    pattern.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        pattern.extend_from_slice(&d.to_le_bytes());
    }
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern)
        .expect("the tensor's table entry");
    at + pattern.len()
}

#[test]
fn bad_gguf_files_give_the_importers_errors() {
    let dir = tmp("bad");
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(GGUF)).unwrap();
    let cut = dir.join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let out = dir.join("out");
    let e = err(&[
        "train",
        "--model",
        s(&cut),
        "--data",
        DATA,
        "--out",
        s(&out),
        "--backend",
        "cpu",
    ]);
    assert!(e.contains(&format!("error: {}: tensor `", s(&cut))), "{e}");
    assert!(e.contains("truncated download?"), "{e}");
    assert!(!out.exists(), "nothing is written for a bad model");

    // An F32 norm weight relabelled Q8_1 (its data still fits the file), a type not supported.
    let file =
        svdtune::gguf::GgufFile::read(&svdtune::model::MemorySource::new(GGUF, bytes.clone()))
            .unwrap();
    let t = file.tensor("blk.0.attn_norm.weight").unwrap();
    assert_eq!(t.ggml_type, svdtune::gguf::GgmlType(0));
    let at = type_field(&bytes, &t.name, &t.dims);
    let mut patched = bytes.clone();
    patched[at..at + 4].copy_from_slice(&9u32.to_le_bytes());
    let q81 = dir.join("q8_1.gguf");
    std::fs::write(&q81, &patched).unwrap();
    for cmd in ["eval", "inspect"] {
        let e = if cmd == "eval" {
            err(&[
                "eval",
                "--model",
                s(&q81),
                "--data",
                DATA,
                "--backend",
                "cpu",
            ])
        } else {
            err(&["inspect", s(&q81), "--memory"])
        };
        assert!(
            e.contains(&format!(
                "error: {}: tensor `blk.0.attn_norm.weight` has type Q8_1, which is not supported",
                s(&q81)
            )),
            "{cmd}: {e}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `inspect --memory --json` output.
fn memory_json(model: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect", model, "--memory", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&args)).unwrap()
}

#[test]
fn inspect_memory_prints_the_estimate_from_the_config_alone() {
    let dir = tmp("memory");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        std::fs::read_to_string(root.join("tests/fixtures/tiny-chat/config.json")).unwrap();
    std::fs::write(dir.join("config.json"), &config).unwrap();
    let cfg = ModelConfig::from_json("config.json", &config).unwrap();
    // As `train` runs by default: f16 factors.
    let want = |b: usize, t: usize, r: f64, norms: bool| {
        let plan = SvdPlan::new(&cfg, r, norms).unwrap();
        let o = MemoryOptions {
            factor_dtype: FactorDtype::F16,
            ..MemoryOptions::new(b, t, CpuBackend.logit_chunk_elements())
        };
        estimate_with(&cfg, &plan, &o)
    };
    let check = |got: &serde_json::Value, b: usize, t: usize, r: f64, norms: bool| {
        let e = want(b, t, r, norms);
        assert_eq!(got["weights"], e.weights, "{got}");
        assert_eq!(got["optimizer"], e.optimizer, "{got}");
        assert_eq!(got["activations"], e.activations, "{got}");
        assert_eq!(got["total"], e.total(), "{got}");
        assert_eq!(got["fits_wasm32_cpu"], true, "{got}");
        e
    };
    // Defaults as `svdtune train`'s: 4 × 512 at rank fraction 0.1.
    let folder = s(&dir);
    let base = check(&memory_json(folder, &[]), 4, 512, 0.1, true);
    let b2 = check(
        &memory_json(folder, &["--batch-size", "2"]),
        2,
        512,
        0.1,
        true,
    );
    let t64 = check(&memory_json(folder, &["--seq-len", "64"]), 4, 64, 0.1, true);
    assert!(b2.activations < base.activations && t64.activations < base.activations);
    let frozen = check(
        &memory_json(folder, &["--rank-fraction", "0.5", "--freeze-norms"]),
        4,
        512,
        0.5,
        false,
    );
    assert_ne!(frozen.optimizer, base.optimizer);

    let text = ok(&[
        "inspect",
        folder,
        "--memory",
        "--batch-size",
        "2",
        "--seq-len",
        "64",
    ]);
    let e = want(2, 64, 0.1, true);
    for line in [
        "batches of 2 × 64".to_string(),
        format!("total {:>18} bytes", thousands(e.total())),
        format!("weights {:>18} bytes", thousands(e.weights)),
        "the page's CPU engine (wasm32, 4 GiB): fits".to_string(),
    ] {
        let squeezed = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            squeezed(&text).contains(&squeezed(&line)),
            "missing {line:?} in:\n{text}"
        );
    }

    // A .gguf cut off right after its header: the metadata gives the same config.
    let bytes = std::fs::read(root.join(GGUF)).unwrap();
    let file =
        svdtune::gguf::GgufFile::read(&svdtune::model::MemorySource::new(GGUF, bytes.clone()))
            .unwrap();
    let cut = dir.join("header-only.gguf");
    std::fs::write(&cut, &bytes[..file.data_offset as usize + 8]).unwrap();
    let shape = ["--batch-size", "2", "--seq-len", "64"];
    let from_gguf = memory_json(s(&cut), &shape);
    let imported = tmp("memory-imported");
    ok(&["import-gguf", GGUF, "--out", s(&imported)]);
    let from_import = memory_json(s(&imported), &shape);
    // Its Q8_0 matrices count as the blocks training holds; as f32 it is the f32 import.
    let upcast = memory_json(s(&cut), &[&shape[..], &["--weights", "f32"]].concat());
    for field in ["weights", "total"] {
        assert_eq!(upcast[field], from_import[field], "{field}");
    }
    let (blocks, f32s) = (&from_gguf["weights"], &from_import["weights"]);
    assert!(
        blocks.as_u64().unwrap() < f32s.as_u64().unwrap() / 3,
        "{blocks} vs {f32s}"
    );
    for field in ["factors", "optimizer", "activations"] {
        assert_eq!(from_gguf[field], from_import[field], "{field}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&imported).unwrap();
}

/// `1234567` → `1,234,567`, as the command prints bytes.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
