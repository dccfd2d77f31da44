//! Helpers of the export tests: fixture folders compiled in (so browsers see them too), a cheap
//! decomposition built here (random `U`, `V`, `Σ₀`, `W' = W − U diag(Σ₀) Vᵀ`, then
//! `Σ = Σ₀ + Δ`, so the merged weight `W + U diag(Δ) Vᵀ` is known exactly), trained norms, and
//! logits of a model.
#![allow(dead_code)]

use std::collections::BTreeMap;
use svdtune::backend::{Backend, TensorInfo, svd_linear, unpacked};
use svdtune::model::acts::{Activations, HeadActs};
use svdtune::model::forward::{Batch, forward, lm_head};
use svdtune::model::layout;
use svdtune::model::weights::Linear;
use svdtune::model::{MemoryFiles, Model};

/// Tokenizer-like files added to every fixture folder, to check they are copied through.
pub const EXTRA_FILES: &[(&str, &[u8])] = &[
    (
        "tokenizer.json",
        b"{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}\n",
    ),
    ("tokenizer_config.json", b"{\"eos_token\": \"</s>\"}"),
    ("special_tokens_map.json", b"{\"bos_token\": \"<s>\"}\r\n"),
    (
        "chat_template.jinja",
        b"{% for m in messages %}{{ m.content }}{% endfor %}",
    ),
];

/// A fixture folder as in-memory files, plus [`EXTRA_FILES`].
#[macro_export]
macro_rules! export_fixture {
    ($name:literal, [$($file:literal),*]) => {{
        let mut f = svdtune::model::MemoryFiles::new();
        $(f.insert($file, include_bytes!(concat!("fixtures/models/", $name, "/", $file)).to_vec());)*
        for (name, bytes) in export_support::EXTRA_FILES {
            f.insert(*name, bytes.to_vec());
        }
        f
    }};
    ($name:literal) => {
        export_fixture!($name, ["config.json", "generation_config.json", "model.safetensors"])
    };
}

pub use crate::common::rand_vec;

/// What the test knows about a decomposed model.
pub struct Truth {
    /// `Σ₀` per decomposed module (what the adapter export needs).
    pub sigma0: Vec<(String, Vec<f32>)>,
    /// Expected value of every tensor the export writes, by checkpoint name, computed in f64:
    /// merged weights `W + U diag(Δ) Vᵀ`, trained norms, untouched biases and embedding.
    pub expected: BTreeMap<String, Vec<f64>>,
    /// `U diag(Δ) Vᵀ` `[m, n]` per decomposed module.
    pub update: BTreeMap<String, Vec<f64>>,
    /// `(m, n, q)` per decomposed module.
    pub dims: BTreeMap<String, (usize, usize, usize)>,
}

/// `t` as f32 values, whether it is held f32 or packed (an f16/bf16 weight).
pub async fn read_f32<B: Backend>(be: &B, t: &B::Tensor) -> Vec<f32> {
    match unpacked(be, t).unwrap() {
        Some(t32) => be.read(&t32).await.unwrap(),
        None => be.read(t).await.unwrap(),
    }
}

/// Replaces every dense linear layer whose module `keep_dense` rejects by a decomposition of
/// rank `max(1, min(m, n) / 3)` with `Σ ≠ Σ₀`, and sets every RMSNorm weight to a new
/// ("trained") value.
pub async fn decompose<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    seed: u64,
    keep_dense: impl Fn(&str) -> bool,
) -> Truth {
    let cfg = model.cfg.clone();
    let specs = layout::linear_layers(&cfg);
    let mut truth = Truth {
        sigma0: Vec::new(),
        expected: BTreeMap::new(),
        update: BTreeMap::new(),
        dims: BTreeMap::new(),
    };
    let embed = read_f32(be, &model.weights.embed).await;
    truth.expected.insert(
        layout::EMBED.into(),
        embed.iter().map(|&x| f64::from(x)).collect(),
    );
    let linears = model.weights.linears_mut();
    assert_eq!(linears.len(), specs.len());
    for (i, ((_, kind, lin), spec)) in linears.into_iter().zip(&specs).enumerate() {
        assert_eq!(kind, spec.kind);
        let (m, n) = (spec.out_features, spec.in_features);
        let Linear::Dense { w, bias } = &mut *lin else {
            panic!("{} is already decomposed", spec.module)
        };
        let w_host = read_f32(be, w).await;
        if let Some(b) = bias {
            let b = be.read(b).await.unwrap();
            truth
                .expected
                .insert(spec.bias_name(), b.iter().map(|&x| f64::from(x)).collect());
        }
        if keep_dense(&spec.module) {
            truth.expected.insert(
                spec.weight_name(),
                w_host.iter().map(|&x| f64::from(x)).collect(),
            );
            continue;
        }
        let q = (m.min(n) / 3).max(1);
        let s = seed.wrapping_add(1000 * i as u64);
        let u: Vec<f32> = rand_vec(m * q, s)
            .iter()
            .map(|x| x / (m as f32).sqrt())
            .collect();
        let v: Vec<f32> = rand_vec(n * q, s + 1)
            .iter()
            .map(|x| x / (n as f32).sqrt())
            .collect();
        let sigma0: Vec<f32> = rand_vec(q, s + 2).iter().map(|x| 1.5 + x).collect();
        let delta: Vec<f32> = rand_vec(q, s + 3).iter().map(|x| 0.25 * x).collect();
        let sigma: Vec<f32> = sigma0.iter().zip(&delta).map(|(a, d)| a + d).collect();
        // Σ − Σ₀ as the export will see it (f32 arithmetic).
        let delta_f32: Vec<f64> = sigma
            .iter()
            .zip(&sigma0)
            .map(|(a, b)| f64::from(a - b))
            .collect();
        let low_rank = |diag: &dyn Fn(usize) -> f64, r: usize, c: usize| -> f64 {
            (0..q)
                .map(|k| f64::from(u[r * q + k]) * diag(k) * f64::from(v[c * q + k]))
                .sum()
        };
        let mut update = vec![0.0f64; m * n];
        let mut merged = vec![0.0f64; m * n];
        for r in 0..m {
            for c in 0..n {
                let base = f64::from(w_host[r * n + c]);
                update[r * n + c] = low_rank(&|k| delta_f32[k], r, c);
                merged[r * n + c] = base + update[r * n + c];
            }
        }
        truth.expected.insert(spec.weight_name(), merged);
        truth.update.insert(spec.module.clone(), update);
        truth.dims.insert(spec.module.clone(), (m, n, q));
        truth.sigma0.push((spec.module.clone(), sigma0.clone()));
        let bias = bias.take();
        let w = std::mem::replace(w, be.zeros(&[1]).unwrap());
        let u = be.tensor(&u, &[m, q]).unwrap();
        let v = be.tensor(&v, &[n, q]).unwrap();
        let mut layer = svd_linear(be, w, u, v, &sigma0, bias).unwrap();
        be.write(&mut layer.sigma, &sigma).unwrap();
        *lin = Linear::Svd(layer);
    }
    // "Trained" norms: every RMSNorm weight moves (registry order: per layer input,
    // post-attention, q/k norms where present; then the final norm).
    let mut k = 0u64;
    // Gemma holds `1 + w`; the export writes `w`.
    let offset = f64::from(cfg.family.norm_offset());
    for e in svdtune::model::trainables::entries_mut(&mut model.weights) {
        let svdtune::model::trainables::Part::Norm(t) = e.part else {
            continue;
        };
        let new: Vec<f32> = rand_vec(t.shape().numel(), seed + 77 + k)
            .iter()
            .map(|x| 1.0 + 0.3 * x)
            .collect();
        k += 1;
        be.write(t, &new).unwrap();
        truth.expected.insert(
            e.key.name(),
            new.iter().map(|&x| f64::from(x) - offset).collect(),
        );
    }
    truth
}

/// Logits `[B·S, V]` of `model` for `ids` `[batch, seq]`. Activations are allocated per layer
/// (`training`), since inference buffers follow layer 0's dense/decomposed pattern and a test
/// model may mix them across layers.
pub async fn logits<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    ids: &[u32],
    batch: usize,
    seq: usize,
) -> Vec<f32> {
    let rows = batch * seq;
    let cfg = model.cfg.clone();
    let input = Batch::new(be, &cfg, ids, None, None, batch, seq).unwrap();
    let mut acts = Activations::new(be, &cfg, &model.weights, rows, true).unwrap();
    forward(be, &cfg, &model.weights, &mut model.rope, &input, &mut acts).unwrap();
    let mut head = HeadActs::new(be, &cfg, &model.weights, rows).unwrap();
    let mut out = be.zeros(&[rows, cfg.vocab_size]).unwrap();
    lm_head(be, &model.weights, &acts.hidden, 0, &mut head, &mut out).unwrap();
    be.flush().unwrap();
    be.read(&out).await.unwrap()
}

/// Token ids `[2, 7]` below `vocab`.
pub fn sample_ids(vocab: usize) -> Vec<u32> {
    (0..14u32).map(|i| (i * 37 + 5) % vocab as u32).collect()
}

/// Fails unless `|got − want| ≤ atol + rtol·|want|` everywhere, with the first mismatches.
pub fn assert_close64(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let bad: Vec<String> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| {
            let e = (f64::from(**g) - **w).abs();
            e.is_nan() || e > atol + rtol * w.abs()
        })
        .take(6)
        .map(|(i, (g, w))| format!("  [{i}] got {g} want {w}"))
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: values differ (atol {atol:e}, rtol {rtol:e}):\n{}",
        bad.join("\n")
    );
}

/// A fixture's files as a map (for comparing with the export).
pub fn file_bytes(files: &MemoryFiles, name: &str) -> Vec<u8> {
    use svdtune::model::{ByteSource, ModelFiles};
    let src = files.open(name).unwrap();
    src.read_at(0, src.len() as usize).unwrap()
}
