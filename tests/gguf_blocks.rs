//! A `.gguf` trains with its matrices held as the file's blocks: the tiny chat model's GGUF
//! (Q8_0), the same model re-quantized to Q4_1 here (`requantize`), and a wider tiny chat model
//! (hidden size 256, random weights written here, exported with `export-gguf`) re-quantized to
//! Q4_K, train with per-step losses within 1e-4 of their f32 import (`import-gguf`, then train the folder), on the CPU
//! backend and on the GPU (lavapipe); loaded through `ImportedWeights`, the embedding and every
//! linear weight are packed in the file's type and the backend holds the file's bytes for them
//! (norms f32), against four bytes per value when loaded as f32.
#![cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::{Format, TensorInfo};
use svdtune::gguf::{GgufFile, GgufModel, ImportedWeights};
use svdtune::model::weights::{WeightPrecision, load_weights_with};
use svdtune::model::{Checkpoint, MemorySource};
use svdtune::svd::SvdPlan;
use svdtune::train::memory::{MemoryOptions, StoredSizes, estimate_with};

const GGUF: &str = "tests/fixtures/gguf/tiny_chat.gguf";
const DATA: &str = "tests/fixtures/tiny-chat/data.jsonl";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("svdtune-gguf-blocks-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args(args)
        .current_dir(root())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("svdtune runs");
    assert!(
        out.status.success(),
        "svdtune {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Per-step losses of a short training run of `model` on `backend`.
fn train(model: &Path, out: &Path, backend: &str) -> Vec<f64> {
    let log = out.join("log.jsonl");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let args = [
        "train",
        "--model",
        &s(model),
        "--data",
        DATA,
        "--out",
        &s(out),
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
        backend,
        "--log",
        &s(&log),
    ];
    ok(&args);
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v.get("loss").and_then(|l| l.as_f64()))
        .collect()
}

/// ggml's Q4_1 of one block of 32 values: f16 `d = (max − min) / 15`, f16 `m = min`, nibbles
/// `round((x − min) / d)` (value j in the low nibble of byte j, value j + 16 in its high one).
fn q4_1_block(x: &[f32], out: &mut Vec<u8>) {
    let min = x.iter().copied().fold(f32::INFINITY, f32::min);
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
    out.extend_from_slice(&half::f16::from_f32(min).to_le_bytes());
    let q = |v: f32| (((v - min) * id).round() as i32).clamp(0, 15) as u8;
    for j in 0..16 {
        out.push(q(x[j]) | (q(x[j + 16]) << 4));
    }
}

/// ggml's Q4_K layout for one super-block of 256 values (a plain quantizer, not llama.cpp's
/// search): per sub-block of 32 `scale = (max + mn) / 15`, `mn = max(0, −min)`; six-bit scales
/// and mins against f16 `d`, `dmin`; `x ≈ d·sc·q − dmin·m`.
fn q4_k_block(x: &[f32], out: &mut Vec<u8>) {
    let mut scale = [0f32; 8];
    let mut mn = [0f32; 8];
    for j in 0..8 {
        let sub = &x[32 * j..32 * j + 32];
        let lo = sub.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = sub.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        mn[j] = (-lo).max(0.0);
        scale[j] = (hi + mn[j]) / 15.0;
    }
    let d = half::f16::from_f32(scale.iter().copied().fold(0.0, f32::max) / 63.0);
    let dmin = half::f16::from_f32(mn.iter().copied().fold(0.0, f32::max) / 63.0);
    let inv = |v: f32, s: f32| {
        if s > 0.0 {
            (v / s).round().clamp(0.0, 63.0) as u8
        } else {
            0
        }
    };
    let sc: Vec<u8> = scale.iter().map(|&v| inv(v, d.to_f32())).collect();
    let m: Vec<u8> = mn.iter().map(|&v| inv(v, dmin.to_f32())).collect();
    out.extend_from_slice(&d.to_le_bytes());
    out.extend_from_slice(&dmin.to_le_bytes());
    let mut s = [0u8; 12];
    for k in 0..4 {
        s[k] = (sc[k] & 63) | ((sc[k + 4] >> 4) << 6);
        s[k + 4] = (m[k] & 63) | ((m[k + 4] >> 4) << 6);
        s[k + 8] = (sc[k + 4] & 0xF) | ((m[k + 4] & 0xF) << 4);
    }
    out.extend_from_slice(&s);
    let q = |f: usize| {
        let (dl, ml) = (
            d.to_f32() * f32::from(sc[f / 32]),
            dmin.to_f32() * f32::from(m[f / 32]),
        );
        let v = if dl > 0.0 {
            ((x[f] + ml) / dl).round()
        } else {
            0.0
        };
        v.clamp(0.0, 15.0) as u8
    };
    for c in 0..4 {
        for l in 0..32 {
            out.push(q(64 * c + l) | (q(64 * c + 32 + l) << 4));
        }
    }
}

/// `src` (a GGUF file) with every 2-D tensor whose rows are whole blocks of `format` (Q4_1 or
/// Q4_K) re-quantized to it, the others f32: the header up to the tensor table is kept; the
/// table and the data are written anew.
fn requantize(src: &[u8], format: Format) -> Vec<u8> {
    let ms = MemorySource::new("src.gguf", src.to_vec());
    let file = GgufFile::read(&ms).unwrap();
    // The table starts with the first tensor's length-prefixed name.
    let first = &file.tensors[0].name;
    let mut key = (first.len() as u64).to_le_bytes().to_vec();
    key.extend_from_slice(first.as_bytes());
    let table = (0..file.data_offset as usize)
        .rev()
        .find(|&p| src[p..].starts_with(&key))
        .expect("tensor table");
    let align = file.alignment as usize;
    let mut out = src[..table].to_vec();
    let mut data: Vec<u8> = Vec::new();
    for t in &file.tensors {
        let values = file.read_f32(&ms, t).unwrap();
        let qk = format.block().0;
        let (ty, bytes) = if t.dims.len() == 2 && (t.dims[0] as usize).is_multiple_of(qk) {
            let mut b = Vec::new();
            match format {
                Format::Q4_1 => values.chunks_exact(32).for_each(|x| q4_1_block(x, &mut b)),
                _ => values.chunks_exact(256).for_each(|x| q4_k_block(x, &mut b)),
            }
            (format.ggml_type().0, b)
        } else {
            (0u32, values.iter().flat_map(|v| v.to_le_bytes()).collect())
        };
        out.extend_from_slice(&(t.name.len() as u64).to_le_bytes());
        out.extend_from_slice(t.name.as_bytes());
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        t.dims
            .iter()
            .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        data.extend_from_slice(&bytes);
        data.resize(data.len().next_multiple_of(align), 0);
    }
    out.resize(out.len().next_multiple_of(align), 0);
    out.extend_from_slice(&data);
    out
}

/// A tiny chat model 256 wide (every matrix row whole Q4_K super-blocks) with random weights
/// as a Q8_0 GGUF at `dir/wide.gguf`: the tiny chat tokenizer, config widened, exported.
fn wide_gguf(dir: &Path) -> PathBuf {
    let folder = dir.join("wide");
    std::fs::create_dir_all(&folder).unwrap();
    let tiny = root().join("tests/fixtures/tiny-chat");
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        std::fs::copy(tiny.join(f), folder.join(f)).unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tiny.join("config.json")).unwrap()).unwrap();
    cfg["hidden_size"] = 256.into();
    cfg["intermediate_size"] = 256.into();
    cfg["head_dim"] = 64.into();
    let text = cfg.to_string();
    std::fs::write(folder.join("config.json"), &text).unwrap();
    let mc = svdtune::model::ModelConfig::from_json("config.json", &text).unwrap();
    let mut state = 99u64;
    let mut tensors = Vec::new();
    for (name, shape) in svdtune::model::layout::expected_tensors(&mc) {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = if shape.len() == 1 {
            vec![1.0; n]
        } else {
            (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
                })
                .collect()
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name, shape, bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, s, b)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
            (n.clone(), v.unwrap())
        })
        .collect();
    safetensors::serialize_to_file(views, None, &folder.join("model.safetensors")).unwrap();
    let out = dir.join("wide.gguf");
    ok(&[
        "export-gguf",
        "--model",
        folder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--type",
        "q8_0",
    ]);
    out
}

/// The tiny chat GGUF (Q8_0), its Q4_1 re-quantization and the wide model's Q4_K one, written
/// to `dir`.
fn fixtures(dir: &Path) -> Vec<(Format, PathBuf)> {
    let q8 = std::fs::read(root().join(GGUF)).unwrap();
    let q4_1 = dir.join("tiny_chat_q4_1.gguf");
    std::fs::write(&q4_1, requantize(&q8, Format::Q4_1)).unwrap();
    let wide = std::fs::read(wide_gguf(dir)).unwrap();
    let q4_k = dir.join("wide_q4_k.gguf");
    std::fs::write(&q4_k, requantize(&wide, Format::Q4_K)).unwrap();
    vec![
        (Format::Q8_0, root().join(GGUF)),
        (Format::Q4_1, q4_1),
        (Format::Q4_K, q4_k),
    ]
}

fn trains_as_its_f32_import(backend: &str) {
    let dir = tmp(backend);
    for (format, gguf) in fixtures(&dir) {
        let folder = dir.join(format!("{format}-imported"));
        ok(&[
            "import-gguf",
            gguf.to_str().unwrap(),
            "--out",
            folder.to_str().unwrap(),
        ]);
        let want = train(&folder, &dir.join(format!("{format}-f32")), backend);
        let got = train(&gguf, &dir.join(format!("{format}-blocks")), backend);
        assert_eq!(want.len(), 3, "{want:?}");
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4,
                "{backend} {format} step {i}: loss {g} as blocks vs {w} from the f32 import\n\
                 {got:?}\n{want:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_block_gguf_trains_as_its_f32_import_cpu() {
    trains_as_its_f32_import("cpu");
}

#[test]
fn a_block_gguf_trains_as_its_f32_import_gpu() {
    trains_as_its_f32_import("gpu");
}

#[test]
fn block_weights_are_held_as_the_files_bytes() {
    let dir = tmp("bytes");
    for (format, path) in fixtures(&dir) {
        let bytes = std::fs::read(&path).unwrap();
        let file = GgufFile::read(&MemorySource::new("x.gguf", bytes.clone())).unwrap();
        let model = Rc::new(GgufModel::open(MemorySource::new("x.gguf", bytes)).unwrap());
        let cfg = model.cfg.clone();
        let ckpt = Checkpoint::single(ImportedWeights::new(model).unwrap()).unwrap();
        let load = |p| load_weights_with(&CpuBackend, &cfg, &ckpt, p, |_, _, _| {}).unwrap();
        let (blocks, f32s) = (load(WeightPrecision::Stored), load(WeightPrecision::F32));
        assert_eq!(blocks.embed.format(), format);
        for (_, kind, lin) in blocks.linears() {
            let svdtune::model::weights::Linear::Dense { w, .. } = lin else {
                panic!("dense as loaded")
            };
            assert_eq!(w.format(), format, "{kind:?}");
        }
        // The file's bytes for matrices (the tied head a second time), f32 for the rest.
        let embed = file
            .tensors
            .iter()
            .find(|t| t.name == "token_embd.weight")
            .unwrap();
        let tied = if cfg.tie_word_embeddings { 1 } else { 0 };
        let want_blocks: u64 = file
            .tensors
            .iter()
            .map(|t| {
                if t.dims.len() == 2 {
                    t.n_bytes
                } else {
                    4 * t.numel() as u64
                }
            })
            .sum::<u64>()
            + tied * embed.n_bytes;
        let numel: u64 = file.tensors.iter().map(|t| t.numel() as u64).sum::<u64>()
            + tied * embed.numel() as u64;
        assert_eq!(blocks.held_bytes(), want_blocks, "{format}");
        // The memory estimate counts, from the headers alone, what loading holds (each tensor
        // rounded up to whole u32 words, as a GPU buffer holds it).
        let plan = SvdPlan::new(&cfg, 0.1, true).unwrap();
        let sizes = StoredSizes::from_checkpoint(&ckpt);
        let mut o = MemoryOptions::new(1, 8, CpuBackend.logit_chunk_elements());
        o.stored = Some(&sizes);
        let words = |n: u64| n.div_ceil(4) * 4;
        let want_words: u64 = file
            .tensors
            .iter()
            .map(|t| {
                words(if t.dims.len() == 2 {
                    t.n_bytes
                } else {
                    4 * t.numel() as u64
                })
            })
            .sum::<u64>()
            + tied * words(embed.n_bytes);
        assert_eq!(
            estimate_with(&cfg, &plan, &o).weights,
            want_words,
            "{format}"
        );
        assert_eq!(f32s.held_bytes(), 4 * numel, "{format}");
        eprintln!(
            "{format}: weights held {} bytes as blocks, {} bytes as f32",
            want_blocks,
            4 * numel
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Opt-in, with a real GGUF file (`SVDTUNE_SMOLLM2_GGUF=FILE cargo test --test gguf_blocks
/// real_gguf -- --ignored --nocapture`): the CPU backend's weight bytes and the process's peak RSS
/// loading it as blocks, then as f32.
#[test]
#[ignore]
fn real_gguf_weight_bytes() {
    let path = std::env::var("SVDTUNE_SMOLLM2_GGUF").expect("SVDTUNE_SMOLLM2_GGUF=FILE.gguf");
    let src = || svdtune::model::source::FileSource::open(Path::new(&path)).unwrap();
    let model = Rc::new(GgufModel::open(src()).unwrap());
    let cfg = model.cfg.clone();
    let ckpt = Checkpoint::single(ImportedWeights::new(model).unwrap()).unwrap();
    for p in [WeightPrecision::Stored, WeightPrecision::F32] {
        let w = load_weights_with(&CpuBackend, &cfg, &ckpt, p, |_, _, _| {}).unwrap();
        eprintln!(
            "{p:?}: weights held {} bytes, peak RSS so far {} bytes",
            w.held_bytes(),
            peak_rss()
        );
    }
}
