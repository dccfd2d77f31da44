//! Frozen tensors packed in their stored precision (f16, bf16, and the GGUF block types Q8_0 …
//! Q6_K): matmul with a packed B (every layout, the few-rows kernel, split-K, odd element counts,
//! several conversion blocks on the CPU) and the embedding gather from a packed table give what
//! the f32 path gives on the same rounded (or dequantized) values, on the CPU backend and on the
//! GPU; every other op refuses a packed tensor, and rows that are not whole blocks are refused.
mod common;
use common::*;
use svdtune::Error;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::{Backend, Format, Matmul, TensorInfo};

const FORMATS: [Format; 2] = [Format::F16, Format::Bf16];

/// `(m, n, k)`: one row, up to 8 rows (the GPU's few-rows kernel), odd sizes (an odd element
/// count leaves half a u32), tiles with ragged edges, and a long K (GPU split-K; on the CPU
/// more than one conversion block of B in every layout).
const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 7, 5),
    (3, 5, 7),
    (8, 33, 9),
    (9, 31, 17),
    (67, 70, 45),
    (9, 300, 4000),
];

async fn matmul_matches_f32<B: Backend>(be: &B, name: &str, atol: f32) {
    for (i, &(m, n, k)) in SHAPES.iter().enumerate() {
        for spec in [Matmul::NN, Matmul::NT, Matmul::TN, Matmul::TT] {
            let a_shape = if spec.trans_a { [k, m] } else { [m, k] };
            let b_shape = if spec.trans_b { [n, k] } else { [k, n] };
            let a = be
                .tensor(&rand_vec(m * k, 10 + i as u64), &a_shape)
                .unwrap();
            let b_vals = rand_vec(n * k, 20 + i as u64);
            let c0 = rand_vec(m * n, 30 + i as u64);
            for format in FORMATS {
                let b_f32 = be
                    .tensor(&format.round(&b_vals).unwrap(), &b_shape)
                    .unwrap();
                let b_packed = be
                    .packed_tensor(format, &format.encode(&b_vals).unwrap(), &b_shape)
                    .unwrap();
                assert_eq!(b_packed.shape().dims(), b_shape);
                let acc = Matmul {
                    alpha: 0.5,
                    ..spec.accumulate()
                };
                for s in [spec, acc] {
                    let mut want = be.tensor(&c0, &[m, n]).unwrap();
                    let mut got = be.tensor(&c0, &[m, n]).unwrap();
                    be.matmul(&a, &b_f32, &mut want, s).unwrap();
                    be.matmul(&a, &b_packed, &mut got, s).unwrap();
                    let what = format!("{name} matmul {m}x{n}x{k} {format} {s:?}");
                    let (got, want) = (be.read(&got).await.unwrap(), be.read(&want).await.unwrap());
                    // Blocks of B change the summation order a little on the CPU.
                    let tol = atol * (k as f32).sqrt();
                    assert_close(&what, &got, &want, tol, tol);
                }
            }
        }
    }
}

async fn embedding_matches_f32<B: Backend>(be: &B, name: &str) {
    for &(vocab, cols) in &[(1, 1), (37, 5), (50, 64)] {
        let mut table = rand_vec(vocab * cols, 7);
        // f16 subnormals and signed zero convert exactly too.
        for (t, v) in table.iter_mut().zip([6e-8, -3e-6, -0.0, 1e-5]) {
            *t = v;
        }
        // The last id is past the table: a zero row.
        let ids: Vec<u32> = (0..9)
            .map(|i| (i * 7 % vocab) as u32)
            .chain([vocab as u32])
            .collect();
        let ids = be.ids(&ids).unwrap();
        for format in FORMATS {
            let f32_table = be
                .tensor(&format.round(&table).unwrap(), &[vocab, cols])
                .unwrap();
            let packed = be
                .packed_tensor(format, &format.encode(&table).unwrap(), &[vocab, cols])
                .unwrap();
            let mut want = be.zeros(&[10, cols]).unwrap();
            let mut got = be.tensor(&vec![9.0; 10 * cols], &[10, cols]).unwrap();
            be.embedding(&f32_table, &ids, &mut want).unwrap();
            be.embedding(&packed, &ids, &mut got).unwrap();
            let (got, want) = (be.read(&got).await.unwrap(), be.read(&want).await.unwrap());
            assert_eq!(got, want, "{name} embedding {vocab}x{cols} {format}");
            assert!(want[9 * cols..].iter().all(|&v| v == 0.0));
        }
    }
}

/// The GGUF block formats.
const BLOCKS: [Format; 8] = [
    Format::Q8_0,
    Format::Q4_0,
    Format::Q4_1,
    Format::Q5_0,
    Format::Q5_1,
    Format::Q4_K,
    Format::Q5_K,
    Format::Q6_K,
];

/// Random blocks of `format` holding `numel` values, with f16 scales (and mins) chosen so the
/// values stay within a few units: quantized bits are random, every f16 field is finite.
fn rand_blocks(format: Format, numel: usize, seed: u64) -> Vec<u8> {
    let (qk, size) = format.block();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    // (byte offset of each f16 field, its magnitude)
    let fields: &[(usize, f32)] = match format {
        Format::Q8_0 => &[(0, 0.01)],
        Format::Q4_0 => &[(0, 0.1)],
        Format::Q5_0 => &[(0, 0.05)],
        Format::Q4_1 => &[(0, 0.1), (2, 0.5)],
        Format::Q5_1 => &[(0, 0.05), (2, 0.5)],
        Format::Q4_K => &[(0, 0.002), (2, 0.002)],
        Format::Q5_K => &[(0, 0.001), (2, 0.001)],
        Format::Q6_K => &[(208, 0.0005)],
        _ => &[],
    };
    let mut bytes = Vec::with_capacity(numel / qk * size);
    for _ in 0..numel / qk {
        let mut block: Vec<u8> = (0..size).map(|_| next() as u8).collect();
        for &(at, mag) in fields {
            let r = (next() % 2001) as f32 / 1000.0 - 1.0;
            let h = half::f16::from_f32(r * mag).to_le_bytes();
            block[at..at + 2].copy_from_slice(&h);
        }
        bytes.extend_from_slice(&block);
    }
    bytes
}

/// The f32 values of packed `bytes` (the host's dequantization).
fn values_of(format: Format, bytes: &[u8], numel: usize) -> Vec<f32> {
    let mut v = vec![0.0; numel];
    format.decode(bytes, 0, &mut v);
    v
}

/// Block shapes `(m, n, k)`, n and k whole super-blocks: the few-rows kernel (m ≤ 8) and the
/// tiled one; `cpu_blocks` adds a B of 2 Mi values (two conversion blocks on the CPU).
async fn block_matmul_matches_f32<B: Backend>(
    be: &B,
    name: &str,
    shapes: &[(usize, usize, usize)],
) {
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        for spec in [Matmul::NN, Matmul::NT, Matmul::TN] {
            let a_shape = if spec.trans_a { [k, m] } else { [m, k] };
            let b_shape = if spec.trans_b { [n, k] } else { [k, n] };
            let a = be
                .tensor(&rand_vec(m * k, 40 + i as u64), &a_shape)
                .unwrap();
            let c0 = rand_vec(m * n, 50 + i as u64);
            for (j, format) in BLOCKS.into_iter().enumerate() {
                let bytes = rand_blocks(format, n * k, 60 + (i * 8 + j) as u64);
                let vals = values_of(format, &bytes, n * k);
                assert!(vals.iter().all(|v| v.is_finite() && v.abs() < 16.0));
                let b_f32 = be.tensor(&vals, &b_shape).unwrap();
                let b_packed = be.packed_tensor(format, &bytes, &b_shape).unwrap();
                for s in [
                    spec,
                    Matmul {
                        alpha: 0.5,
                        ..spec.accumulate()
                    },
                ] {
                    let mut want = be.tensor(&c0, &[m, n]).unwrap();
                    let mut got = be.tensor(&c0, &[m, n]).unwrap();
                    be.matmul(&a, &b_f32, &mut want, s).unwrap();
                    be.matmul(&a, &b_packed, &mut got, s).unwrap();
                    let what = format!("{name} matmul {m}x{n}x{k} {format} {s:?}");
                    let (got, want) = (be.read(&got).await.unwrap(), be.read(&want).await.unwrap());
                    let tol = 1e-5 * (k as f32).sqrt();
                    assert_close(&what, &got, &want, tol, tol);
                }
            }
        }
    }
}

async fn block_embedding_matches_f32<B: Backend>(be: &B, name: &str) {
    let (vocab, cols) = (37, 512);
    let ids: Vec<u32> = (0..9)
        .map(|i| (i * 7 % vocab) as u32)
        .chain([vocab as u32])
        .collect();
    let ids = be.ids(&ids).unwrap();
    for (j, format) in BLOCKS.into_iter().enumerate() {
        let bytes = rand_blocks(format, vocab * cols, 90 + j as u64);
        let f32_table = be
            .tensor(&values_of(format, &bytes, vocab * cols), &[vocab, cols])
            .unwrap();
        let packed = be.packed_tensor(format, &bytes, &[vocab, cols]).unwrap();
        let mut want = be.zeros(&[10, cols]).unwrap();
        let mut got = be.tensor(&vec![9.0; 10 * cols], &[10, cols]).unwrap();
        be.embedding(&f32_table, &ids, &mut want).unwrap();
        be.embedding(&packed, &ids, &mut got).unwrap();
        let (got, want) = (be.read(&got).await.unwrap(), be.read(&want).await.unwrap());
        assert_eq!(got, want, "{name} embedding {vocab}x{cols} {format}");
        assert!(want[9 * cols..].iter().all(|&v| v == 0.0));
    }
    // Rows that are not whole blocks, and block formats cannot be written.
    let err = be
        .packed_tensor(Format::Q4_K, &[0; 144], &[2, 128])
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("whole blocks"), "{err}");
    assert!(Format::Q8_0.encode(&[1.0; 32]).is_err());
}

/// Shapes for the block tests on every backend.
const BLOCK_SHAPES: &[(usize, usize, usize)] = &[(1, 256, 256), (5, 256, 512), (9, 512, 256)];

async fn cpu_block_matmul_body() {
    let mut shapes = BLOCK_SHAPES.to_vec();
    shapes.push((2, 1024, 2048));
    block_matmul_matches_f32(&CpuBackend, "cpu", &shapes).await;
}
gpu_test!(cpu_block_matmul_matches_f32, cpu_block_matmul_body);

async fn cpu_block_embedding_body() {
    block_embedding_matches_f32(&CpuBackend, "cpu").await;
}
gpu_test!(cpu_block_embedding_matches_f32, cpu_block_embedding_body);

async fn gpu_block_matmul() {
    block_matmul_matches_f32(&gpu().await, "gpu", BLOCK_SHAPES).await;
}
gpu_test!(gpu_block_matmul_matches_f32, gpu_block_matmul);

async fn gpu_block_embedding() {
    block_embedding_matches_f32(&gpu().await, "gpu").await;
}
gpu_test!(gpu_block_embedding_matches_f32, gpu_block_embedding);

fn packed_error<T: std::fmt::Debug>(r: svdtune::Result<T>, op: &str, what: &str) {
    match r {
        Err(Error::Packed { op: o, what: w, .. }) if o == op && w == what => {}
        other => panic!("{op}: expected a packed-tensor error on {what}, got {other:?}"),
    }
}

async fn other_ops_refuse_packed<B: Backend>(be: &B) {
    let p = be
        .packed_tensor(
            Format::Bf16,
            &Format::Bf16.encode(&[1.0; 6]).unwrap(),
            &[2, 3],
        )
        .unwrap();
    let mut p2 = be
        .packed_tensor(
            Format::F16,
            &Format::F16.encode(&[1.0; 6]).unwrap(),
            &[2, 3],
        )
        .unwrap();
    let mut x = be.zeros(&[2, 3]).unwrap();
    let mut c = be.zeros(&[2, 2]).unwrap();
    let w = be.zeros(&[3]).unwrap();
    let mut rstd = be.zeros(&[2]).unwrap();
    packed_error(be.read(&p).await, "read", "t");
    packed_error(be.fill(&mut p2, 0.0), "fill", "t");
    packed_error(be.write(&mut p2, &[0.0; 6]), "write", "t");
    packed_error(be.add_assign(&mut x, &p), "add_assign", "y");
    packed_error(be.add_assign(&mut p2, &x), "add_assign", "x");
    packed_error(be.matmul(&p, &x, &mut c, Matmul::NT), "matmul", "a");
    let mut y = be.zeros(&[2, 3]).unwrap();
    packed_error(
        be.rmsnorm_forward(&p, &w, 1e-5, &mut y, &mut rstd),
        "rmsnorm_forward",
        "x",
    );
    let (u, s, v) = (
        be.zeros(&[2, 1]).unwrap(),
        be.zeros(&[1]).unwrap(),
        be.zeros(&[3, 1]).unwrap(),
    );
    packed_error(be.svd_merge(&p, &u, &s, &v, &mut y), "svd_merge", "w_res");
    packed_error(be.copy_rows(&p, 0, &mut y, 0, 1), "copy_rows", "src");
    let ids = be.ids(&[0, 1]).unwrap();
    packed_error(be.embedding(&x, &ids, &mut p2), "embedding", "out");
    // A byte count that does not fit the shape is a shape error.
    let err = be
        .packed_tensor(Format::Bf16, &[0; 5], &[2, 3])
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

async fn cpu_packed_matmul_matches_f32_body() {
    matmul_matches_f32(&CpuBackend, "cpu", 1e-5).await;
}
gpu_test!(
    cpu_packed_matmul_matches_f32,
    cpu_packed_matmul_matches_f32_body
);

async fn cpu_packed_embedding_matches_f32_body() {
    embedding_matches_f32(&CpuBackend, "cpu").await;
}
gpu_test!(
    cpu_packed_embedding_matches_f32,
    cpu_packed_embedding_matches_f32_body
);

async fn cpu_other_ops_refuse_packed_body() {
    other_ops_refuse_packed(&CpuBackend).await;
}
gpu_test!(
    cpu_other_ops_refuse_packed,
    cpu_other_ops_refuse_packed_body
);

async fn gpu_matmul() {
    // The same kernel on the same values: equal to rounding of the accumulation order only.
    matmul_matches_f32(&gpu().await, "gpu", 1e-6).await;
}
gpu_test!(gpu_packed_matmul_matches_f32, gpu_matmul);

async fn gpu_embedding() {
    embedding_matches_f32(&gpu().await, "gpu").await;
}
gpu_test!(gpu_packed_embedding_matches_f32, gpu_embedding);

async fn gpu_refuse() {
    other_ops_refuse_packed(&gpu().await).await;
}
gpu_test!(gpu_other_ops_refuse_packed, gpu_refuse);
