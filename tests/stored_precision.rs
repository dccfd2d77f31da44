//! A bf16 (and f16) checkpoint trained with its frozen weights kept packed in their stored
//! precision gives, step by step, the losses of the same checkpoint upcast to f32 at load (the
//! path every earlier version took): the tiny models of every family, made bf16 here from their
//! f32 fixtures, decomposed and trained 10 steps both ways, on the CPU backend and on the GPU.
//! The merged export keeps the checkpoint's dtype: untrained, it gives back the bf16 tensors
//! byte for byte; trained, it equals the upcast model's export.
// Native only: ten steps of four models both ways is more than a browser test should hold the
// page's main thread for (see DESIGN.md 6b).
#![cfg(not(target_arch = "wasm32"))]
mod common;
use common::*;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::{Backend, Format, TensorInfo};
use svdtune::export::export_merged;
use svdtune::export::target::MemoryTarget;
use svdtune::model::load::open_checkpoint;
use svdtune::model::weights::{Linear, WeightPrecision};
use svdtune::model::{MemoryFiles, Model};
use svdtune::svd::decompose::{DecomposeOptions, decompose_model};
use svdtune::svd::plan::SvdPlan;
use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
use svdtune::train::step::{HostBatch, Trainer};

const FAMILIES: &[(&str, &[u8], &[u8])] = &[
    (
        "llama",
        include_bytes!("fixtures/models/llama/config.json"),
        include_bytes!("fixtures/models/llama/model.safetensors"),
    ),
    (
        "mistral",
        include_bytes!("fixtures/models/mistral/config.json"),
        include_bytes!("fixtures/models/mistral/model.safetensors"),
    ),
    (
        "phi3",
        include_bytes!("fixtures/models/phi3/config.json"),
        include_bytes!("fixtures/models/phi3/model.safetensors"),
    ),
    (
        "qwen2",
        include_bytes!("fixtures/models/qwen2/config.json"),
        include_bytes!("fixtures/models/qwen2/model.safetensors"),
    ),
    (
        "qwen3",
        include_bytes!("fixtures/models/qwen3/config.json"),
        include_bytes!("fixtures/models/qwen3/model.safetensors"),
    ),
    (
        "gemma3",
        include_bytes!("fixtures/models/gemma3/config.json"),
        include_bytes!("fixtures/models/gemma3/model.safetensors"),
    ),
];

const STEPS: usize = 10;
const BATCH: usize = 2;
const SEQ: usize = 12;

/// The f32 checkpoint with every tensor rounded to `dtype` (F16 or BF16).
fn convert(weights: &[u8], dtype: Dtype) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(weights).unwrap();
    let format = if dtype == Dtype::F16 {
        Format::F16
    } else {
        Format::Bf16
    };
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, view.shape().to_vec(), format.encode(&values).unwrap())
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, b)| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn files(config: &[u8], weights: Vec<u8>) -> MemoryFiles {
    let mut files = MemoryFiles::new();
    files.insert("config.json", config.to_vec());
    files.insert("model.safetensors", weights);
    files
}

/// A decomposed model (rank fraction 0.25, norms trained) ready to train `[BATCH, SEQ]`.
async fn trainer<B: Backend>(be: &B, f: &MemoryFiles, precision: WeightPrecision) -> Trainer<B> {
    trainer_with(be, f, precision, Format::F32).await
}

/// [`trainer`] with the factors U, V held in `factors`.
async fn trainer_with<B: Backend>(
    be: &B,
    f: &MemoryFiles,
    precision: WeightPrecision,
    factors: Format,
) -> Trainer<B> {
    let mut model = Model::load_with(be, f, precision, |_, _, _| {}).unwrap();
    let plan = SvdPlan::new(&model.cfg, 0.25, true).unwrap();
    let opts = DecomposeOptions {
        factor_format: factors,
        ..DecomposeOptions::default()
    };
    decompose_model(
        be,
        &model.cfg,
        &mut model.weights,
        &plan,
        &opts,
        |_, _, _| {},
    )
    .await
    .unwrap();
    let schedule = Schedule {
        peak_lr: 1e-2,
        warmup_steps: 0,
        total_steps: 100,
        decay: Decay::Constant,
    };
    Trainer::new(
        be,
        model,
        BATCH,
        SEQ,
        true,
        schedule,
        AdamWConfig::default(),
    )
    .unwrap()
}

/// The formats of the embedding and of every linear weight.
fn formats<B: Backend>(t: &Trainer<B>) -> Vec<Format> {
    let w = &t.model.weights;
    let mut out = vec![w.embed.format()];
    for (_, _, lin) in w.linears() {
        out.push(match lin {
            Linear::Dense { w, .. } => w.format(),
            Linear::Svd(s) => s.w.format(),
        });
    }
    out
}

async fn losses<B: Backend>(be: &B, t: &mut Trainer<B>, vocab: usize) -> Vec<f32> {
    let rows = BATCH * SEQ;
    let ids: Vec<u32> = (0..rows).map(|i| ((i * 7 + 3) % vocab) as u32).collect();
    let targets: Vec<u32> = (0..rows).map(|i| ((i * 5 + 1) % vocab) as u32).collect();
    let weights = vec![1.0; rows];
    let positions: Vec<u32> = (0..rows).map(|r| (r % SEQ) as u32).collect();
    let starts = vec![0; rows];
    let hb = HostBatch {
        input_ids: &ids,
        target_ids: &targets,
        loss_weights: &weights,
        position_ids: &positions,
        window_start: &starts,
    };
    let mut out = Vec::new();
    for _ in 0..STEPS {
        let r = t.step(be, std::slice::from_ref(&hb)).await.unwrap();
        assert!(r.applied);
        out.push(r.loss);
    }
    out
}

/// Every family: bf16 (and f16 for llama) packed vs upcast, 10 steps, losses within 1e-4.
async fn packed_trains_like_upcast<B: Backend>(be: &B, name: &str) {
    for &(family, config, weights) in FAMILIES {
        let dtypes: &[Dtype] = if family == "llama" {
            &[Dtype::BF16, Dtype::F16]
        } else {
            &[Dtype::BF16]
        };
        for &dtype in dtypes {
            let f = files(config, convert(weights, dtype));
            let mut packed = trainer(be, &f, WeightPrecision::Stored).await;
            let mut upcast = trainer(be, &f, WeightPrecision::F32).await;
            let want = if dtype == Dtype::F16 {
                Format::F16
            } else {
                Format::Bf16
            };
            assert!(formats(&packed).iter().all(|&f| f == want), "{family}");
            assert!(
                formats(&upcast).iter().all(|&f| f == Format::F32),
                "{family}"
            );
            let vocab = packed.model.cfg.vocab_size;
            let got = losses(be, &mut packed, vocab).await;
            let expected = losses(be, &mut upcast, vocab).await;
            assert!(expected[STEPS - 1] < expected[0], "{family}: {expected:?}");
            let what = format!("{name} {family} {dtype:?}: loss per step, packed vs upcast");
            assert_close(&what, &got, &expected, 1e-4, 0.0);
        }
    }
}

/// The merged folder of `t`'s model as `(name, dtype, bytes)` per tensor.
async fn export<B: Backend>(
    be: &B,
    t: &Trainer<B>,
    f: &MemoryFiles,
) -> Vec<(String, Dtype, Vec<u8>)> {
    let ckpt = open_checkpoint(f).unwrap();
    let mut out = MemoryTarget::new();
    let m = &t.model;
    export_merged(be, &m.cfg, &m.weights, &ckpt, f, &mut out, |_, _, _| {})
        .await
        .unwrap();
    let bytes = out.get("model.safetensors").unwrap();
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut tensors: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.data().to_vec()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// bf16 in, bf16 out: at Σ = Σ₀ the merged folder holds the checkpoint's own bytes (and an
/// explicit head, the embedding's, when tied); after training it equals the upcast model's.
async fn export_keeps_bf16<B: Backend>(be: &B, name: &str) {
    for &(family, config, weights) in FAMILIES {
        let source = convert(weights, Dtype::BF16);
        let f = files(config, source.clone());
        let mut packed = trainer(be, &f, WeightPrecision::Stored).await;
        let src = safetensors::SafeTensors::deserialize(&source).unwrap();
        for (tensor, dtype, bytes) in export(be, &packed, &f).await {
            let from = if tensor == "lm_head.weight" && src.tensor(&tensor).is_err() {
                "model.embed_tokens.weight"
            } else {
                &tensor
            };
            assert_eq!(dtype, Dtype::BF16, "{name} {family} {tensor}");
            let want = src.tensor(from).unwrap();
            assert!(
                bytes == want.data(),
                "{name} {family}: {tensor} changed at Σ = Σ₀"
            );
        }
        let mut upcast = trainer(be, &f, WeightPrecision::F32).await;
        let vocab = packed.model.cfg.vocab_size;
        losses(be, &mut packed, vocab).await;
        losses(be, &mut upcast, vocab).await;
        let (got, want) = (export(be, &packed, &f).await, export(be, &upcast, &f).await);
        assert_eq!(got.len(), want.len());
        let mut changed = 0;
        for ((tensor, dtype, g), (_, _, w)) in got.iter().zip(&want) {
            assert_eq!(*dtype, Dtype::BF16);
            let decode = |b: &[u8]| {
                let mut v = vec![0.0; b.len() / 2];
                Format::Bf16.decode(b, 0, &mut v);
                v
            };
            let what = format!("{name} {family} {tensor}: trained export, packed vs upcast");
            // One bf16 step apart at most, where a value sits on a rounding boundary.
            assert_close(&what, &decode(g), &decode(w), 1e-6, 8e-3);
            changed += usize::from(src.tensor(tensor).is_ok_and(|s| s.data() != g.as_slice()));
        }
        assert!(
            changed > 0,
            "{name} {family}: training changed no exported tensor"
        );
    }
}

async fn cpu_export_keeps_bf16_body() {
    export_keeps_bf16(&CpuBackend, "cpu").await;
}
gpu_test!(cpu_export_keeps_bf16, cpu_export_keeps_bf16_body);

async fn gpu_export() {
    export_keeps_bf16(&gpu().await, "gpu").await;
}
gpu_test!(gpu_export_keeps_bf16, gpu_export);

async fn cpu_packed_trains_like_upcast_body() {
    packed_trains_like_upcast(&CpuBackend, "cpu").await;
}
gpu_test!(
    cpu_packed_trains_like_upcast,
    cpu_packed_trains_like_upcast_body
);

async fn gpu_packed() {
    packed_trains_like_upcast(&gpu().await, "gpu").await;
}
gpu_test!(gpu_packed_trains_like_upcast, gpu_packed);

/// U and V in f16: the first step (Σ = Σ₀, where the factors do not enter the output) has the
/// loss of f32 factors, later steps stay close, and the merged export at Σ₀ gives the
/// checkpoint back.
async fn f16_factors<B: Backend>(be: &B, name: &str) {
    for &(family, config, weights) in FAMILIES {
        let source = convert(weights, Dtype::BF16);
        let f = files(config, source.clone());
        let mut half = trainer_with(be, &f, WeightPrecision::Stored, Format::F16).await;
        for (_, _, lin) in half.model.weights.linears() {
            let Linear::Svd(s) = lin else {
                panic!("{family}: a dense layer")
            };
            assert_eq!((s.u.format(), s.v.format()), (Format::F16, Format::F16));
        }
        let src = safetensors::SafeTensors::deserialize(&source).unwrap();
        for (tensor, _, bytes) in export(be, &half, &f).await {
            if let Ok(want) = src.tensor(&tensor) {
                assert!(
                    bytes == want.data(),
                    "{name} {family}: {tensor} changed at Σ = Σ₀"
                );
            }
        }
        let mut full = trainer(be, &f, WeightPrecision::Stored).await;
        let vocab = half.model.cfg.vocab_size;
        let got = losses(be, &mut half, vocab).await;
        let want = losses(be, &mut full, vocab).await;
        let what = format!("{name} {family}: first loss, f16 vs f32 factors");
        assert_close(&what, &got[..1], &want[..1], 1e-6, 1e-6);
        let what = format!("{name} {family}: losses, f16 vs f32 factors");
        assert_close(&what, &got, &want, 1e-2, 1e-2);
    }
}

async fn cpu_f16_factors_body() {
    f16_factors(&CpuBackend, "cpu").await;
}
gpu_test!(cpu_f16_factors, cpu_f16_factors_body);

async fn gpu_f16_factors_body() {
    f16_factors(&gpu().await, "gpu").await;
}
gpu_test!(gpu_f16_factors, gpu_f16_factors_body);

/// Opt-in (`SVDTUNE_STORED_F32_DIR` and `SVDTUNE_STORED_BF16_DIR`: a model folder and its bf16
/// copy, e.g. SmolLM2-135M and `bench/to_bf16.py`'s output): the backend's own count of weight
/// bytes, f32 checkpoint vs bf16 checkpoint, on the CPU (tensor bytes) and the GPU (buffer
/// bytes), printed for bench/README.md. The bf16 weights must take at most 55 % of the f32's.
#[test]
fn weight_bytes_f32_vs_bf16() {
    let (Ok(f32_dir), Ok(bf16_dir)) = (
        std::env::var("SVDTUNE_STORED_F32_DIR"),
        std::env::var("SVDTUNE_STORED_BF16_DIR"),
    ) else {
        eprintln!("SVDTUNE_STORED_F32_DIR / SVDTUNE_STORED_BF16_DIR not set: not run (opt-in)");
        return;
    };
    let cpu_bytes = |dir: &str| {
        let files = svdtune::model::load::DirFiles::new(dir).unwrap();
        let m = Model::load(&CpuBackend, &files, |_, _, _| {}).unwrap();
        let w = &m.weights;
        let size = |t: &svdtune::backend::cpu::CpuTensor| {
            t.data.len() * 4 + t.packed.as_ref().map_or(0, |p| p.bytes.len())
        };
        let mut total = size(&w.embed) + size(&w.final_norm);
        for l in &w.layers {
            total += size(&l.input_norm) + size(&l.post_attention_norm);
        }
        for (_, _, lin) in w.linears() {
            if let Linear::Dense { w, bias } = lin {
                total += size(w) + bias.as_ref().map_or(0, size);
            }
        }
        total as u64
    };
    let gpu_bytes = |dir: &str| {
        let g = pollster::block_on(gpu());
        let files = svdtune::model::load::DirFiles::new(dir).unwrap();
        let m = Model::load(&g, &files, |_, _, _| {}).unwrap();
        let live = g.memory().live_bytes;
        drop(m);
        live
    };
    let (c32, c16) = (cpu_bytes(&f32_dir), cpu_bytes(&bf16_dir));
    let (g32, g16) = (gpu_bytes(&f32_dir), gpu_bytes(&bf16_dir));
    println!("weights, CPU backend: f32 {c32} bytes, bf16 {c16} bytes");
    println!("weights, GPU backend: f32 {g32} bytes, bf16 {g16} bytes");
    assert!(c16 * 100 <= c32 * 55 && g16 * 100 <= g32 * 55);
}

/// Opt-in (`SVDTUNE_STORED_TIMING=1`): milliseconds of SmolLM2-sized products on the GPU with
/// an f32 and a bf16 weight as B (`x Wᵀ` and `g W`, W `[1536, 576]`, 512 rows), for
/// bench/README.md; the median of 5 after one warm-up.
#[test]
fn gpu_matmul_time_f32_vs_bf16() {
    if std::env::var("SVDTUNE_STORED_TIMING").is_err() {
        eprintln!("SVDTUNE_STORED_TIMING not set: not run (opt-in)");
        return;
    }
    use svdtune::backend::Matmul;
    let g = pollster::block_on(gpu());
    let (t, m, n) = (512, 1536, 576);
    let w = rand_vec(m * n, 3);
    let w32 = g.tensor(&Format::Bf16.round(&w).unwrap(), &[m, n]).unwrap();
    let w16 = g
        .packed_tensor(Format::Bf16, &Format::Bf16.encode(&w).unwrap(), &[m, n])
        .unwrap();
    let x = g.tensor(&rand_vec(t * n, 4), &[t, n]).unwrap();
    let gy = g.tensor(&rand_vec(t * m, 5), &[t, m]).unwrap();
    let mut y = g.zeros(&[t, m]).unwrap();
    let mut dx = g.zeros(&[t, n]).unwrap();
    for (name, b) in [("f32", &w32), ("bf16", &w16)] {
        let mut times = [Vec::new(), Vec::new()];
        for rep in 0..6 {
            for (i, times) in times.iter_mut().enumerate() {
                let start = std::time::Instant::now();
                if i == 0 {
                    g.matmul(&x, b, &mut y, Matmul::NT).unwrap();
                    pollster::block_on(g.read(&y)).unwrap();
                } else {
                    g.matmul(&gy, b, &mut dx, Matmul::NN).unwrap();
                    pollster::block_on(g.read(&dx)).unwrap();
                }
                if rep > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        for t in &mut times {
            t.sort_by(f64::total_cmp);
        }
        println!(
            "{}: B {name}: x·Wᵀ {:.1} ms, g·W {:.1} ms",
            g.name(),
            times[0][2],
            times[1][2]
        );
    }
}
