//! Training checkpoints by name: a checkpoint keys every tensor by what it holds
//! (`sigma:<module>`, `norm:<weight>`, `m:…`, `v:…`); a checkpoint in the earlier positional
//! layout (`param.NNNNN`, built here by hand in the order that format's writer used) still loads
//! and continues exactly; a missing, misnamed or mis-shaped tensor is refused with an error that
//! names it, and changes nothing. Runs on the CPU backend, natively and in browsers.
mod common;
use common::factors::{GoldenBatch, qwen2_trainer};
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::layout;
use svdtune::model::weights::Linear;
use svdtune::train::checkpoint::{RunState, load, save};
use svdtune::train::step::Trainer;

const GOLDEN: &[u8] = include_bytes!("fixtures/train/qwen2/golden.safetensors");
/// Left dense: the positional layout skips it, so positions after it shift.
const DENSE: &str = "model.layers.0.self_attn.k_proj";

type Tensors = Vec<(String, Vec<usize>, Vec<u8>)>;

async fn trainer(be: &CpuBackend) -> Trainer<CpuBackend> {
    qwen2_trainer(be, |m| m != DENSE)
}

/// `n` steps on the golden batch; the losses.
async fn steps(be: &CpuBackend, t: &mut Trainer<CpuBackend>, n: usize) -> Vec<f32> {
    let golden = GoldenBatch::new(GOLDEN);
    let batch = golden.host();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(t.step(be, &[batch]).await.unwrap().loss);
    }
    out
}

fn state() -> RunState {
    RunState {
        step: 0,
        steps_done: 2,
        epoch: 0,
        batch_in_epoch: 2,
        seed: 7,
        options: serde_json::json!({}),
        model: String::new(),
    }
}

/// The tensors and metadata of a checkpoint.
fn unpack(bytes: &[u8]) -> (Tensors, std::collections::HashMap<String, String>) {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut tensors: Tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    (tensors, meta.metadata().clone().unwrap())
}

/// A checkpoint file of `format` holding `tensors`, with a valid checksum (CRC-32 of names and
/// bytes in name order, as the writer makes it).
fn pack(mut tensors: Tensors, format: &str, state: &str) -> Vec<u8> {
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = crc32fast::Hasher::new();
    for (n, _, b) in &tensors {
        h.update(n.as_bytes());
        h.update(b);
    }
    let meta = [
        ("format".to_string(), format.to_string()),
        ("checksum".to_string(), format!("{:08x}", h.finalize())),
        ("state".to_string(), state.to_string()),
    ]
    .into_iter()
    .collect();
    let views = tensors.iter().map(|(n, s, b)| {
        let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
        (n.clone(), v.unwrap())
    });
    safetensors::serialize(views, Some(meta)).unwrap()
}

/// The trained tensors in the order format 1 wrote them, written out independently of the
/// library: per layer Σ of q, k, v, o, gate, up, down (decomposed ones), the input and
/// post-attention norms; then the final norm and Σ of lm_head.
fn positional_order(t: &Trainer<CpuBackend>) -> Vec<String> {
    let cfg = &t.model.cfg;
    let specs = layout::linear_layers(cfg);
    let decomposed = |module: &str| module != DENSE;
    let mut out = Vec::new();
    for l in 0..cfg.num_layers {
        for s in specs.iter().filter(|s| s.layer == Some(l)) {
            if decomposed(&s.module) {
                out.push(format!("sigma:{}", s.module));
            }
        }
        for n in layout::layer_norms(l) {
            out.push(format!("norm:{n}"));
        }
    }
    out.push(format!("norm:{}", layout::FINAL_NORM));
    out.push("sigma:lm_head".to_string());
    out
}

fn lm_head_sigma(t: &Trainer<CpuBackend>) -> &[f32] {
    match &t.model.weights.lm_head {
        Linear::Svd(s) => &s.sigma.data,
        Linear::Dense { .. } => panic!("lm_head is not decomposed"),
    }
}

async fn named_and_positional() {
    let be = CpuBackend;
    let mut a = trainer(&be).await;
    steps(&be, &mut a, 2).await;
    let bytes = save(&be, &mut a, &state()).await.unwrap();
    let continued = steps(&be, &mut a, 3).await;
    let (tensors, meta) = unpack(&bytes);
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    let order = positional_order(&a);
    // Layer 0: 6 Σ (k_proj dense) + 2 norms; layer 1: 7 Σ + 2 norms; final norm, lm_head.
    assert_eq!(order.len(), (6 + 2) + (7 + 2) + 2);
    assert_eq!(names.len(), 3 * order.len(), "{names:?}");
    for name in &order {
        for key in [name.clone(), format!("m:{name}"), format!("v:{name}")] {
            assert!(names.contains(&key.as_str()), "{key} not in {names:?}");
        }
    }
    assert!(!names.iter().any(|n| n.contains(DENSE)), "{names:?}");

    // The same values in the positional layout of format 1 load and continue exactly.
    let by_name = |n: &str| tensors.iter().find(|t| t.0 == n).unwrap().clone();
    let mut old: Tensors = Vec::new();
    for (i, name) in order.iter().enumerate() {
        for (prefix, stored) in [("", "param"), ("m:", "m"), ("v:", "v")] {
            let (_, shape, data) = by_name(&format!("{prefix}{name}"));
            old.push((format!("{stored}.{i:05}"), shape, data));
        }
    }
    let old = pack(old, "svdtune-checkpoint-1", &meta["state"]);
    let mut b = trainer(&be).await;
    let restored = load(&be, &mut b, "old.safetensors", &old).unwrap();
    assert_eq!((restored.steps_done, restored.seed, b.opt.step), (2, 7, 2));
    assert_eq!(
        steps(&be, &mut b, 3).await,
        continued,
        "format 1 resumes exactly"
    );

    // And the named file itself.
    let mut c = trainer(&be).await;
    load(&be, &mut c, "new.safetensors", &bytes).unwrap();
    assert_eq!(
        steps(&be, &mut c, 3).await,
        continued,
        "format 2 resumes exactly"
    );
}
gpu_test!(
    named_and_positional_checkpoints_resume_exactly,
    named_and_positional
);

/// Loads `tensors` (edited from a good checkpoint) into a fresh trainer; the error, after
/// checking that the refused load changed nothing.
async fn refused(tensors: Tensors, format: &str, state: &str) -> String {
    let be = CpuBackend;
    let mut t = trainer(&be).await;
    let before = lm_head_sigma(&t).to_vec();
    let file = pack(tensors, format, state);
    let err = load(&be, &mut t, "run.ckpt", &file)
        .unwrap_err()
        .to_string();
    assert_eq!(before, lm_head_sigma(&t), "a refused load changed Σ: {err}");
    assert!(err.contains("run.ckpt"), "{err}");
    err
}

async fn bad_tensors() {
    let be = CpuBackend;
    let mut a = trainer(&be).await;
    steps(&be, &mut a, 1).await;
    let bytes = save(&be, &mut a, &state()).await.unwrap();
    let (tensors, meta) = unpack(&bytes);
    let st = meta["state"].as_str();
    let f2 = "svdtune-checkpoint-2";
    let down = "sigma:model.layers.1.mlp.down_proj";

    let missing: Tensors = tensors.iter().filter(|t| t.0 != down).cloned().collect();
    let err = refused(missing, f2, st).await;
    assert!(err.contains(down) && err.contains("missing"), "{err}");

    let mut misnamed = tensors.clone();
    let at = misnamed.iter().position(|t| t.0 == down).unwrap();
    misnamed[at].0 = "sigma:model.layers.1.mlp.dwn_proj".into();
    let err = refused(misnamed, f2, st).await;
    assert!(err.contains("sigma:model.layers.1.mlp.dwn_proj"), "{err}");

    let moment = "m:sigma:model.layers.0.self_attn.q_proj";
    let mut misshaped = tensors.clone();
    let at = misshaped.iter().position(|t| t.0 == moment).unwrap();
    let q = misshaped[at].1[0];
    misshaped[at].1 = vec![q + 1];
    misshaped[at].2.extend([0u8; 4]);
    let err = refused(misshaped, f2, st).await;
    assert!(
        err.contains(moment) && err.contains(&format!("[{}]", q + 1)),
        "{err}"
    );

    // Format 1: a mis-shaped position is named by position and by what it holds.
    let mut old: Tensors = Vec::new();
    for (i, name) in positional_order(&a).iter().enumerate() {
        for (prefix, stored) in [("", "param"), ("m:", "m"), ("v:", "v")] {
            let key = format!("{prefix}{name}");
            let (_, shape, data) = tensors.iter().find(|t| t.0 == key).unwrap().clone();
            old.push((format!("{stored}.{i:05}"), shape, data));
        }
    }
    let at = old.iter().position(|t| t.0 == "v.00001").unwrap();
    old[at].1.push(1);
    let err = refused(old, "svdtune-checkpoint-1", st).await;
    assert!(
        err.contains("v.00001") && err.contains("v:sigma:model.layers.0.self_attn.v_proj"),
        "{err}"
    );
}
gpu_test!(missing_misnamed_or_misshaped_tensors_are_named, bad_tensors);
