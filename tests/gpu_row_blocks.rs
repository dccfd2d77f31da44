//! Matrices larger than one storage binding, held in row blocks on the GPU (`GpuTensor`'s parts,
//! `src/backend/gpu/split.rs`): a small binding cap (`GpuBackend::with_binding_cap`) forces the
//! splits that a 152 k vocabulary forces on a real adapter.
//! - Ops: every matmul layout with A, B or C in blocks (ragged last block, accumulate, alpha),
//!   the embedding gather from a blocked f32 / bf16 / Q8_0 table and into a blocked output, the
//!   merge, read and write, against the CPU; other kernels refuse a blocked matrix by name.
//! - Models: the tiny llama (tied head, f32 and bf16) and llama3 (own head) decomposed and
//!   trained with the embedding, `lm_head` and MLP weights in blocks give the losses of the same
//!   model on the same GPU without a cap; greedy generation and the merged export agree too.
mod common;
use common::*;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::{GpuBackend, GpuTensor};
use svdtune::backend::{Backend, Format, Matmul};

/// Bytes per binding in the op tests: a `[100, 16]` f32 matrix (6,400 bytes) is two blocks of
/// 64 and 36 rows (blocks are a power of two rows), a `[100, 24]` one four of 32, 32, 32, 4.
const OP_CAP: u64 = 4096;

async fn capped(cap: u64) -> GpuBackend {
    GpuBackend::with_binding_cap(Some(cap))
        .await
        .unwrap_or_else(|e| panic!("GPU test needs an adapter: {e}"))
}

/// `data` `[rows, cols]` as a frozen f32 matrix (in blocks when larger than a binding).
fn frozen(g: &GpuBackend, data: &[f32], shape: &[usize]) -> GpuTensor {
    g.frozen_tensor(Format::F32, bytemuck::cast_slice(data), shape)
        .unwrap()
}

async fn matmul_with_blocked_operands() {
    let g = capped(OP_CAP).await;
    let cpu = CpuBackend;
    let (big, m, k) = (100, 7, 16);
    for spec in [Matmul::NN, Matmul::NT, Matmul::TN, Matmul::TT] {
        for acc in [false, true] {
            let spec = Matmul {
                alpha: 0.5,
                ..spec.accumulate_if(acc)
            };
            // B blocked, stored [big, k]: with trans_b its rows are C's columns (N = big),
            // without, they are K (K = big).
            let (b_shape, a_shape, c_shape) = if spec.trans_b {
                (
                    [big, k],
                    if spec.trans_a { [k, m] } else { [m, k] },
                    [m, big],
                )
            } else {
                (
                    [big, k],
                    if spec.trans_a { [big, m] } else { [m, big] },
                    [m, k],
                )
            };
            let b = rand_vec(big * k, 1);
            let a = rand_vec(a_shape[0] * a_shape[1], 2);
            let c0 = rand_vec(c_shape[0] * c_shape[1], 3);
            let gb = frozen(&g, &b, &b_shape);
            let ga = g.tensor(&a, &a_shape).unwrap();
            let mut gc = g.tensor(&c0, &c_shape).unwrap();
            g.matmul(&ga, &gb, &mut gc, spec).unwrap();
            let (cb, ca) = (
                cpu.tensor(&b, &b_shape).unwrap(),
                cpu.tensor(&a, &a_shape).unwrap(),
            );
            let mut cc = cpu.tensor(&c0, &c_shape).unwrap();
            cpu.matmul(&ca, &cb, &mut cc, spec).unwrap();
            assert_same(&format!("B blocked {spec:?}"), &g, &gc, &cc, 1e-5, 1e-5).await;

            // A blocked: A stored [big, k]; op(A) is [big, k] (rows of C) or, with trans_a,
            // [k, big] (big is K).
            let a_shape = [big, k];
            let (b_shape, c_shape) = match (spec.trans_a, spec.trans_b) {
                (false, false) => ([k, m], [big, m]),
                (false, true) => ([m, k], [big, m]),
                (true, false) => ([big, m], [k, m]),
                (true, true) => ([m, big], [k, m]),
            };
            let a = rand_vec(big * k, 4);
            let b = rand_vec(b_shape[0] * b_shape[1], 5);
            let c0 = rand_vec(c_shape[0] * c_shape[1], 6);
            let ga = frozen(&g, &a, &a_shape);
            let gb = g.tensor(&b, &b_shape).unwrap();
            let mut gc = g.tensor(&c0, &c_shape).unwrap();
            g.matmul(&ga, &gb, &mut gc, spec).unwrap();
            let (ca, cb) = (
                cpu.tensor(&a, &a_shape).unwrap(),
                cpu.tensor(&b, &b_shape).unwrap(),
            );
            let mut cc = cpu.tensor(&c0, &c_shape).unwrap();
            cpu.matmul(&ca, &cb, &mut cc, spec).unwrap();
            assert_same(&format!("A blocked {spec:?}"), &g, &gc, &cc, 1e-5, 1e-5).await;
        }
    }
    // C blocked (a product as large as the blocked matrix, like the decomposition's f32 copy):
    // A blocked at the same rows, and A whole.
    let (a, b) = (rand_vec(big * 8, 7), rand_vec(8 * k, 8));
    let want = {
        let (ca, cb) = (
            cpu.tensor(&a, &[big, 8]).unwrap(),
            cpu.tensor(&b, &[8, k]).unwrap(),
        );
        let mut cc = cpu.zeros(&[big, k]).unwrap();
        cpu.matmul(&ca, &cb, &mut cc, Matmul::NN).unwrap();
        cc
    };
    let gb = g.tensor(&b, &[8, k]).unwrap();
    let ga = g.tensor(&a, &[big, 8]).unwrap();
    let mut gc = g.zeros_large(&[big, k]).unwrap();
    g.matmul(&ga, &gb, &mut gc, Matmul::NN).unwrap();
    assert_same("C blocked, A whole", &g, &gc, &want, 1e-5, 1e-5).await;

    // Two blocked operands of different widths (the decomposition's products): [100, 16] is
    // cut every 64 rows, [100, 24] every 32, so pieces are parts of the wider-cut blocks.
    let (narrow, wide) = (rand_vec(big * 16, 20), rand_vec(big * 24, 21));
    let (gn, gw) = (
        frozen(&g, &narrow, &[big, 16]),
        frozen(&g, &wide, &[big, 24]),
    );
    let (cn, cw) = (
        cpu.tensor(&narrow, &[big, 16]).unwrap(),
        cpu.tensor(&wide, &[big, 24]).unwrap(),
    );
    // Gram-like: C = Aᵀ B over K = 100, and Aᵀ A with one tensor on both sides.
    let mut gc = g.zeros(&[16, 24]).unwrap();
    let mut cc = cpu.zeros(&[16, 24]).unwrap();
    g.matmul(&gn, &gw, &mut gc, Matmul::TN).unwrap();
    cpu.matmul(&cn, &cw, &mut cc, Matmul::TN).unwrap();
    assert_same("Aᵀ B, both blocked", &g, &gc, &cc, 1e-5, 1e-5).await;
    let mut gc = g.zeros(&[24, 24]).unwrap();
    let mut cc = cpu.zeros(&[24, 24]).unwrap();
    g.matmul(&gw, &gw, &mut gc, Matmul::TN).unwrap();
    cpu.matmul(&cw, &cw, &mut cc, Matmul::TN).unwrap();
    assert_same("Aᵀ A, blocked", &g, &gc, &cc, 1e-5, 1e-5).await;
    // Rows of a blocked A into a blocked C of another width, both ways round.
    for (ga, ca, from, to) in [(&gn, &cn, 16, 24), (&gw, &cw, 24, 16)] {
        let x = rand_vec(from * to, 22);
        let (gx, cx) = (
            g.tensor(&x, &[from, to]).unwrap(),
            cpu.tensor(&x, &[from, to]).unwrap(),
        );
        let mut gc = g.zeros_large(&[big, to]).unwrap();
        let mut cc = cpu.zeros(&[big, to]).unwrap();
        g.matmul(ga, &gx, &mut gc, Matmul::NN).unwrap();
        cpu.matmul(ca, &cx, &mut cc, Matmul::NN).unwrap();
        assert_same(
            &format!("[{big}, {from}] · [{from}, {to}] into blocks"),
            &g,
            &gc,
            &cc,
            1e-5,
            1e-5,
        )
        .await;
    }
}
gpu_test!(
    matmul_takes_a_blocked_operand_in_every_layout,
    matmul_with_blocked_operands
);

async fn embedding_from_blocks() {
    let g = capped(OP_CAP).await;
    let cpu = CpuBackend;
    // 200 × 32: blocks of 32 rows in every format (Q8_0's 6,800 bytes are split too).
    let (vocab, cols) = (200, 32);
    let table = rand_vec(vocab * cols, 9);
    // Ids in every block, out of order, repeated, and one past the table (a zero row).
    let ids: Vec<u32> = vec![0, 199, 31, 32, 1, 199, 250, 100, 170, 64];
    for format in [Format::F32, Format::Bf16, Format::Q8_0] {
        let bytes = match format {
            Format::Q8_0 => q8_0(&table),
            _ => format.encode(&table).unwrap(),
        };
        let gt = g.frozen_tensor(format, &bytes, &[vocab, cols]).unwrap();
        let ct = cpu.packed_tensor(format, &bytes, &[vocab, cols]).unwrap();
        let (gi, ci) = (g.ids(&ids).unwrap(), cpu.ids(&ids).unwrap());
        // A whole output that already holds values: every row is written.
        let mut go = g
            .tensor(&vec![7.0; ids.len() * cols], &[ids.len(), cols])
            .unwrap();
        let mut co = cpu.zeros(&[ids.len(), cols]).unwrap();
        g.embedding(&gt, &gi, &mut go).unwrap();
        cpu.embedding(&ct, &ci, &mut co).unwrap();
        assert_same(&format!("{format} gather"), &g, &go, &co, 0.0, 0.0).await;

        // The whole table unpacked into a blocked f32 copy (what the decomposition does).
        let all: Vec<u32> = (0..vocab as u32).collect();
        let (ga, ca) = (g.ids(&all).unwrap(), cpu.ids(&all).unwrap());
        let mut gcopy = g.zeros_large(&[vocab, cols]).unwrap();
        let mut ccopy = cpu.zeros(&[vocab, cols]).unwrap();
        g.embedding(&gt, &ga, &mut gcopy).unwrap();
        cpu.embedding(&ct, &ca, &mut ccopy).unwrap();
        assert_same(&format!("{format} copy"), &g, &gcopy, &ccopy, 0.0, 0.0).await;
    }
}
gpu_test!(
    embedding_gathers_from_and_into_blocks,
    embedding_from_blocks
);

/// GGUF Q8_0 blocks of `values` (32 values: an f16 scale, then 32 signed bytes).
fn q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    for block in values.chunks(32) {
        let d = block.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
        out.extend(Format::F16.encode(&[d]).unwrap());
        out.extend(block.iter().map(|x| (x / d).round() as i8 as u8));
    }
    out
}

async fn merge_read_write_and_refusals() {
    let g = capped(OP_CAP).await;
    let cpu = CpuBackend;
    let (m, n, q) = (100, 16, 4);
    let (w, u, s, v) = (
        rand_vec(m * n, 10),
        rand_vec(m * q, 11),
        rand_vec(q, 12),
        rand_vec(n * q, 13),
    );
    let gw = frozen(&g, &w, &[m, n]);
    assert_eq!(g.read(&gw).await.unwrap(), w, "read of a blocked matrix");
    let mut gout = g.zeros_large(&[m, n]).unwrap();
    let (gu, gs, gv) = (
        g.tensor(&u, &[m, q]).unwrap(),
        g.tensor(&s, &[q]).unwrap(),
        g.tensor(&v, &[n, q]).unwrap(),
    );
    g.svd_merge(&gw, &gu, &gs, &gv, &mut gout).unwrap();
    let (cw, cu, cs, cv) = (
        cpu.tensor(&w, &[m, n]).unwrap(),
        cpu.tensor(&u, &[m, q]).unwrap(),
        cpu.tensor(&s, &[q]).unwrap(),
        cpu.tensor(&v, &[n, q]).unwrap(),
    );
    let mut cout = cpu.zeros(&[m, n]).unwrap();
    cpu.svd_merge(&cw, &cu, &cs, &cv, &mut cout).unwrap();
    assert_same("merge in blocks", &g, &gout, &cout, 1e-6, 1e-6).await;

    // A wide layer: W [16, 100] in two blocks of 8 rows, V [100, 12] in two of 64.
    let (m2, n2, q2) = (16, 100, 12);
    let (w, u, s, v) = (
        rand_vec(m2 * n2, 15),
        rand_vec(m2 * q2, 16),
        rand_vec(q2, 17),
        rand_vec(n2 * q2, 18),
    );
    let (gw2, gv2) = (frozen(&g, &w, &[m2, n2]), frozen(&g, &v, &[n2, q2]));
    let (gu2, gs2) = (
        g.tensor(&u, &[m2, q2]).unwrap(),
        g.tensor(&s, &[q2]).unwrap(),
    );
    let mut gout2 = g.zeros_large(&[m2, n2]).unwrap();
    g.svd_merge(&gw2, &gu2, &gs2, &gv2, &mut gout2).unwrap();
    let mut cout2 = cpu.zeros(&[m2, n2]).unwrap();
    let c = |d: &[f32], s: &[usize]| cpu.tensor(d, s).unwrap();
    cpu.svd_merge(
        &c(&w, &[m2, n2]),
        &c(&u, &[m2, q2]),
        &c(&s, &[q2]),
        &c(&v, &[n2, q2]),
        &mut cout2,
    )
    .unwrap();
    assert_same("merge with V in blocks", &g, &gout2, &cout2, 1e-5, 1e-5).await;

    let fresh = rand_vec(m * n, 14);
    g.write(&mut gout, &fresh).unwrap();
    assert_eq!(
        g.read(&gout).await.unwrap(),
        fresh,
        "write of a blocked matrix"
    );
    for value in [0.0, 2.5] {
        g.fill(&mut gout, value).unwrap();
        let all = g.read(&gout).await.unwrap();
        assert!(
            all.iter().all(|&x| x == value),
            "fill({value}) of a blocked matrix"
        );
    }

    // A kernel that does not take blocks refuses them by name, and so does a row copy.
    let other = g.zeros(&[2, n]).unwrap();
    let err = g.add_assign(&mut gout, &gw).unwrap_err().to_string();
    assert!(
        err.contains("add_assign") && err.contains("row blocks"),
        "{err}"
    );
    let mut dst = g.zeros(&[2, n]).unwrap();
    let err = g.copy_rows(&gw, 0, &mut dst, 0, 2).unwrap_err().to_string();
    assert!(err.contains("row blocks"), "{err}");
    let err = match g.group(&mut [&mut gout]) {
        Ok(_) => panic!("group took a blocked matrix"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("group") && err.contains("row blocks"), "{err}");
    let err = g.reshape(&mut gout, &[n, m]).unwrap_err().to_string();
    assert!(
        err.contains("reshape") && err.contains("row blocks"),
        "{err}"
    );
    // Bytes that do not match the shape: an error, not a panic.
    let short = vec![0u8; 100];
    let err = match g.frozen_tensor(Format::F32, &short, &[m, n]) {
        Ok(_) => panic!("frozen_tensor took 100 bytes for a [{m}, {n}] matrix"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("frozen_tensor"), "{err}");
    drop(other);
}
gpu_test!(
    merge_read_and_write_take_blocks_other_kernels_refuse_them,
    merge_read_write_and_refusals
);

/// Model-level checks: native only (four trainings of the tiny models on lavapipe).
#[cfg(not(target_arch = "wasm32"))]
mod models {
    use super::*;
    use svdtune::backend::TensorInfo;
    use svdtune::export::export_merged;
    use svdtune::export::target::MemoryTarget;
    use svdtune::model::generate::generate;
    use svdtune::model::load::open_checkpoint;
    use svdtune::model::sample::Sampling;
    use svdtune::model::weights::Linear;
    use svdtune::model::{MemoryFiles, Model};
    use svdtune::svd::decompose::{DecomposeOptions, decompose_model};
    use svdtune::svd::plan::SvdPlan;
    use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
    use svdtune::train::step::{HostBatch, Trainer};

    /// 6 KiB bindings: the tiny models' `[128, 32]` embedding and head (16 KiB in f32) are four
    /// blocks of 32 rows, the decomposition's `[128, 24]` products two of 64, the `[64, 32]` and
    /// `[32, 64]` MLP weights two each;
    /// one row of 12 tokens keeps every activation within one binding.
    const MODEL_CAP: u64 = 6144;
    const BATCH: usize = 1;
    const SEQ: usize = 12;

    fn files(config: &[u8], weights: &[u8]) -> MemoryFiles {
        let mut f = MemoryFiles::new();
        f.insert("config.json", config.to_vec());
        f.insert("model.safetensors", weights.to_vec());
        f
    }

    async fn trainer(be: &GpuBackend, f: &MemoryFiles) -> Trainer<GpuBackend> {
        let mut model = Model::load(be, f, |_, _, _| {}).unwrap();
        // Rank fraction 0.5: the head's U `[128, 16]` (8 KiB) is in blocks too.
        let plan = SvdPlan::new(&model.cfg, 0.5, true).unwrap();
        decompose_model(
            be,
            &model.cfg,
            &mut model.weights,
            &plan,
            // k = q + 8 = 24 test vectors: the `[128, k]` tall products (12 KiB) are in blocks
            // too.
            &DecomposeOptions::default(),
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

    async fn losses(be: &GpuBackend, t: &mut Trainer<GpuBackend>) -> Vec<f32> {
        let vocab = t.model.cfg.vocab_size;
        let rows = BATCH * SEQ;
        // Ids spread over every block of the embedding.
        let ids: Vec<u32> = (0..rows).map(|i| ((i * 37 + 3) % vocab) as u32).collect();
        let targets: Vec<u32> = (0..rows).map(|i| ((i * 53 + 1) % vocab) as u32).collect();
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
        for _ in 0..4 {
            out.push(t.step(be, std::slice::from_ref(&hb)).await.unwrap().loss);
        }
        out
    }

    async fn merged(be: &GpuBackend, t: &Trainer<GpuBackend>, f: &MemoryFiles) -> Vec<f32> {
        let ckpt = open_checkpoint(f).unwrap();
        let mut out = MemoryTarget::new();
        let m = &t.model;
        export_merged(be, &m.cfg, &m.weights, &ckpt, f, &mut out, |_, _, _| {})
            .await
            .unwrap();
        let st =
            safetensors::SafeTensors::deserialize(out.get("model.safetensors").unwrap()).unwrap();
        let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
        names.sort();
        let mut values = Vec::new();
        for name in names {
            let v = st.tensor(&name).unwrap();
            let format = match v.dtype() {
                safetensors::Dtype::BF16 => Format::Bf16,
                _ => Format::F32,
            };
            let n = v.shape().iter().product();
            let mut vals = vec![0.0; n];
            format.decode(v.data(), 0, &mut vals);
            values.extend(vals);
        }
        values
    }

    /// Whether `t` is larger than one binding (in f32): on the capped GPU such a tensor can
    /// only exist in row blocks.
    fn blocked(t: &GpuTensor) -> bool {
        t.shape().numel() as u64 * 4 > MODEL_CAP
    }

    #[test]
    fn models_train_generate_and_export_with_blocked_matrices() {
        pollster::block_on(async {
            let cases: [(&str, &[u8], &[u8]); 3] = [
                (
                    "llama",
                    include_bytes!("fixtures/models/llama/config.json"),
                    include_bytes!("fixtures/models/llama/model.safetensors"),
                ),
                (
                    "llama_bf16",
                    include_bytes!("fixtures/models/llama_bf16/config.json"),
                    include_bytes!("fixtures/models/llama_bf16/model.safetensors"),
                ),
                (
                    "llama3",
                    include_bytes!("fixtures/models/llama3/config.json"),
                    include_bytes!("fixtures/models/llama3/model.safetensors"),
                ),
            ];
            let whole = gpu().await;
            let split = capped(MODEL_CAP).await;
            for (name, config, weights) in cases {
                let f = files(config, weights);
                let mut a = trainer(&split, &f).await;
                let mut b = trainer(&whole, &f).await;
                let w = &a.model.weights;
                assert!(blocked(&w.embed), "{name}: embedding not blocked");
                let Linear::Svd(head) = &w.lm_head else {
                    panic!("{name}: lm_head not decomposed")
                };
                assert!(blocked(&head.w), "{name}: lm_head not blocked");

                // Generation before training: the same greedy tokens.
                let prompt = [1u32, 17, 90, 5];
                let sampling = Sampling::default();
                let ga = generate(&split, &mut a.model, &prompt, 8, sampling, &[], |_| {})
                    .await
                    .unwrap();
                let gb = generate(&whole, &mut b.model, &prompt, 8, sampling, &[], |_| {})
                    .await
                    .unwrap();
                assert_eq!(ga.tokens, gb.tokens, "{name}: greedy tokens");

                let (la, lb) = (losses(&split, &mut a).await, losses(&whole, &mut b).await);
                assert!(lb[3] < lb[0], "{name}: {lb:?}");
                assert_close(
                    &format!("{name}: losses, blocked vs whole"),
                    &la,
                    &lb,
                    1e-4,
                    0.0,
                );

                let (ma, mb) = (merged(&split, &a, &f).await, merged(&whole, &b, &f).await);
                let tol = if name == "llama_bf16" { 1e-2 } else { 1e-4 };
                assert_close(&format!("{name}: merged export"), &ma, &mb, tol, 1e-2);
            }
        });
    }
}
