//! GPU dequantization of packed tensors (`GpuBackend::upload_blocks` + `dequant_rows`, the
//! `shaders/packed/` snippets) against the CPU dequantization, bit for bit: every packed type,
//! random blocks (random quant and scale bytes with finite f16 scales) and real-looking ones
//! (small positive scales, negative mins), several row ranges; and the errors for the other types
//! (`gguf::check_block_type`) and for bad shapes. Runs natively and in browsers.
mod common;
use common::*;
use svdtune::backend::Backend;
use svdtune::backend::gpu::GpuBackend;
use svdtune::gguf::dequant::dequantize;
use svdtune::gguf::{GgmlType, check_block_type};

/// The packed types, each with the byte offsets of its f16 fields in a block.
const TYPES: &[(GgmlType, &[usize])] = &[
    (GgmlType::F16, &[0]),
    (GgmlType::BF16, &[]),
    (GgmlType::Q8_0, &[0]),
    (GgmlType::Q4_0, &[0]),
    (GgmlType::Q4_1, &[0, 2]),
    (GgmlType::Q5_0, &[0]),
    (GgmlType::Q5_1, &[0, 2]),
    (GgmlType::Q4_K, &[0, 2]),
    (GgmlType::Q5_K, &[0, 2]),
    (GgmlType::Q6_K, &[208]),
];

/// Deterministic bytes (64-bit LCG).
fn rand_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
        .collect()
}

fn put_f16(b: &mut [u8], v: f32) {
    b[..2].copy_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes());
}

/// `rows × cols` values of `ty`: random bytes, with every f16 field made finite (zeros and
/// subnormals stay) and every BF16 value finite; `real` puts scales and mins of real files there
/// instead (d ~ 1e-3 > 0, min ≤ 0, a few subnormal scales).
fn blocks(
    ty: GgmlType,
    halves: &[usize],
    (rows, cols): (usize, usize),
    seed: u64,
    real: bool,
) -> Vec<u8> {
    let (block, size) = (
        ty.block_size().unwrap() as usize,
        ty.type_size().unwrap() as usize,
    );
    let mut bytes = rand_bytes(rows * cols / block * size, seed);
    let scales = rand_range(bytes.len() / size * 2, seed + 1, 0.0, 1.0);
    for (k, b) in bytes.chunks_exact_mut(size).enumerate() {
        for (j, &o) in halves.iter().enumerate() {
            if real {
                let r = scales[2 * k + j];
                let v = if k % 17 == 3 {
                    r * 5e-6
                } else {
                    1e-4 + r * 3e-3
                };
                // The second f16 of Q4_1 / Q5_1 is an offset `m` (negative); of the K-quants a
                // `dmin` (positive, subtracted).
                let neg = j == 1 && block == 32;
                put_f16(&mut b[o..], if neg { -v * 8.0 } else { v });
            } else if b[o + 1] & 0x7C == 0x7C {
                b[o + 1] &= !0x40; // exponent 31 (Inf / NaN) → 15
            }
        }
        if ty == GgmlType::BF16 && b[1] & 0x7F == 0x7F && b[0] & 0x80 != 0 {
            b[1] &= !0x01; // exponent 255 (Inf / NaN) → 254
        }
    }
    bytes
}

async fn check(
    g: &GpuBackend,
    ty: GgmlType,
    halves: &[usize],
    dims: (usize, usize),
    seed: u64,
    real: bool,
) {
    let (rows, cols) = dims;
    let bytes = blocks(ty, halves, dims, seed, real);
    let want = dequantize(ty, &bytes, rows * cols).unwrap();
    let packed = g
        .upload_blocks("blk.0.ffn_up.weight", ty, dims, &bytes)
        .unwrap();
    // All rows, the second half, the last row (distinct ones only: each is a readback).
    let mut ranges = vec![(0, rows), (rows / 2, rows - rows / 2), (rows - 1, 1)];
    ranges.dedup();
    for (row0, n) in ranges {
        let want = &want[row0 * cols..(row0 + n) * cols];
        for quad in [false, true] {
            if quad && cols % 4 != 0 {
                continue;
            }
            let mut out = g.zeros(&[n, cols]).unwrap();
            g.dequant_rows_with(&packed, row0, &mut out, quad).unwrap();
            let got = g.read(&out).await.unwrap();
            let bad: Vec<String> = got
                .iter()
                .zip(want)
                .enumerate()
                .filter(|(_, (a, b))| a.to_bits() != b.to_bits())
                .take(6)
                .map(|(i, (a, b))| {
                    format!("[{}, {}] got {a:e} want {b:e}", row0 + i / cols, i % cols)
                })
                .collect();
            assert!(
                bad.is_empty(),
                "{ty} {dims:?} rows {row0}..{} (real {real}, quad {quad}): {}",
                row0 + n,
                bad.join("; ")
            );
        }
    }
}

async fn every_type_matches_the_cpu_bitwise() {
    let g = gpu().await;
    for (t, &(ty, halves)) in TYPES.iter().enumerate() {
        let block = ty.block_size().unwrap() as usize;
        let wide = if block == 1 { 96 } else { 3 * block };
        // One block per row (the byte count padded to 4; F16 and BF16 3 wide), a few rows, and more
        // than one workgroup.
        let shapes = [(3, block.max(3)), (5, wide), (37, 2 * block.max(64))];
        for (s, &dims) in shapes.iter().enumerate() {
            let seed = 100 * t as u64 + 10 * s as u64;
            check(&g, ty, halves, dims, seed, false).await;
            if s < 2 {
                check(&g, ty, halves, dims, seed + 5, true).await;
            }
        }
    }
}
gpu_test!(
    every_type_matches_the_cpu_bitwise_on_the_gpu,
    every_type_matches_the_cpu_bitwise
);

async fn bad_uploads_and_ranges() {
    let g = gpu().await;
    let name = "blk.3.attn_q.weight";
    // A type the importer converts but no kernel reads, and one nothing reads.
    let q3 = vec![0u8; 110];
    let err = g
        .upload_blocks(name, GgmlType::Q3_K, (1, 256), &q3)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(name) && err.contains("Q3_K") && err.contains("svdtune import-gguf"),
        "{err}"
    );
    let err = g
        .upload_blocks(name, GgmlType(20), (1, 32), &q3[..18])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(name) && err.contains("IQ4_NL") && err.contains("cannot read"),
        "{err}"
    );
    // Wrong byte count; rows that are not whole blocks; F32 (nothing to unpack).
    let q8 = rand_bytes(2 * 34, 1);
    let err = g
        .upload_blocks(name, GgmlType::Q8_0, (1, 64), &q8[..67])
        .unwrap_err()
        .to_string();
    assert!(err.contains(name) && err.contains("67 bytes"), "{err}");
    let err = g
        .upload_blocks(name, GgmlType::Q8_0, (4, 16), &q8)
        .unwrap_err()
        .to_string();
    assert!(err.contains("whole blocks per row"), "{err}");
    let err = g
        .upload_blocks(name, GgmlType::F32, (1, 1), &[0; 4])
        .unwrap_err()
        .to_string();
    assert!(err.contains("F32"), "{err}");
    // Rows past the end, and an output of the wrong width.
    let packed = g.upload_blocks(name, GgmlType::Q8_0, (2, 32), &q8).unwrap();
    let mut out = g.zeros(&[2, 32]).unwrap();
    let err = g
        .dequant_rows(&packed, 1, &mut out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rows 1..3 out of range") && err.contains(name),
        "{err}"
    );
    let mut out = g.zeros(&[1, 33]).unwrap();
    let err = g
        .dequant_rows(&packed, 0, &mut out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dequant_rows") && err.contains("[rows, 32]"),
        "{err}"
    );
}
gpu_test!(bad_uploads_and_ranges_are_refused, bad_uploads_and_ranges);

async fn check_block_type_messages() {
    for code in 0..64 {
        let ty = GgmlType(code);
        let res = check_block_type("output.weight", ty);
        let stored = TYPES.iter().any(|(t, _)| *t == ty) || ty == GgmlType::F32;
        assert_eq!(res.is_ok(), stored, "{ty}");
        if let Err(e) = res {
            let msg = e.to_string();
            assert!(
                msg.contains("output.weight") && msg.contains(&ty.name()),
                "{msg}"
            );
            assert!(msg.contains("svdtune import-gguf"), "{msg}");
            let converts = [GgmlType::Q2_K, GgmlType::Q3_K].contains(&ty);
            assert_eq!(msg.contains("convert the file"), converts, "{msg}");
        }
    }
}
gpu_test!(
    check_block_type_names_the_tensor_and_the_way_out,
    check_block_type_messages
);

/// Every packed matrix of a GGUF file, dequantized on the GPU (all rows, then the last half in
/// slices of at most 4096 rows), equals the CPU dequantization bitwise. Returns the element count
/// and the types seen.
async fn check_file(
    g: &GpuBackend,
    src: &impl svdtune::model::ByteSource,
) -> (usize, Vec<GgmlType>) {
    let file = svdtune::gguf::GgufFile::read(src).unwrap();
    let (mut numel, mut types) = (0, Vec::new());
    for t in &file.tensors {
        let shape = t.shape();
        if shape.len() != 2 || svdtune::backend::gpu::kernels::dequant_rows(t.ggml_type).is_none() {
            continue;
        }
        let (rows, cols) = (shape[0], shape[1]);
        let bytes = src.read_at(t.start, t.n_bytes as usize).unwrap();
        let want = file.read_f32(src, t).unwrap();
        let packed = g
            .upload_blocks(&t.name, t.ggml_type, (rows, cols), &bytes)
            .unwrap();
        let mut ranges = vec![(0, rows)];
        ranges.extend(
            (rows / 2..rows)
                .step_by(4096)
                .map(|r| (r, 4096.min(rows - r))),
        );
        for (row0, n) in ranges {
            let mut out = g.zeros(&[n, cols]).unwrap();
            g.dequant_rows(&packed, row0, &mut out).unwrap();
            let got = g.read(&out).await.unwrap();
            let want = &want[row0 * cols..(row0 + n) * cols];
            let first_bad = got
                .iter()
                .zip(want)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(
                first_bad.is_none(),
                "{} ({}) rows {row0}..{}: element {first_bad:?} differs",
                t.name,
                t.ggml_type,
                row0 + n
            );
        }
        numel += rows * cols;
        if !types.contains(&t.ggml_type) {
            types.push(t.ggml_type);
        }
    }
    (numel, types)
}

/// The tiny llama quantized by gguf-py (real Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16, BF16 matrices).
async fn quantized_fixture() {
    let g = gpu().await;
    let bytes = include_bytes!("fixtures/gguf/llama_quant.gguf").to_vec();
    let src = svdtune::model::MemorySource::new("llama_quant.gguf", bytes);
    let (_, mut types) = check_file(&g, &src).await;
    types.sort();
    let want = [
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::BF16,
    ];
    assert_eq!(types, want, "the fixture's matrix types");
}
gpu_test!(quantized_fixture_matches_the_cpu_bitwise, quantized_fixture);

/// Opt-in: every packed matrix of a real GGUF file (`SVDTUNE_GGUF=FILE.gguf`, e.g.
/// SmolLM2-135M-Instruct.Q4_1.gguf), with the time it took.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn real_gguf_file_matches_the_cpu_bitwise() {
    let Some(path) = std::env::var_os("SVDTUNE_GGUF") else {
        eprintln!("SVDTUNE_GGUF not set: skipped");
        return;
    };
    use svdtune::model::ByteSource;
    let src = svdtune::model::source::FileSource::open(std::path::Path::new(&path)).unwrap();
    let g = pollster::block_on(gpu());
    let start = std::time::Instant::now();
    let (numel, types) = pollster::block_on(check_file(&g, &src));
    let names: Vec<String> = types.iter().map(|t| t.name()).collect();
    eprintln!(
        "{numel} values ({}) bitwise equal in {:.1} s",
        names.join(", "),
        start.elapsed().as_secs_f64()
    );
    assert!(numel > 0, "no packed matrix in {path:?}");
    // Kernel time on the largest matrix, both paths: 6 dispatches minus 1 (the readback cancels).
    let file = svdtune::gguf::GgufFile::read(&src).unwrap();
    let t = file
        .tensors
        .iter()
        .filter(|t| t.shape().len() == 2)
        .max_by_key(|t| t.n_bytes)
        .unwrap();
    let (rows, cols) = (t.shape()[0], t.shape()[1]);
    let bytes = src.read_at(t.start, t.n_bytes as usize).unwrap();
    let packed = g
        .upload_blocks(&t.name, t.ggml_type, (rows, cols), &bytes)
        .unwrap();
    let mut out = g.zeros(&[rows, cols]).unwrap();
    for quad in [false, true] {
        let mut run = |k: usize| {
            let start = std::time::Instant::now();
            for _ in 0..k {
                g.dequant_rows_with(&packed, 0, &mut out, quad).unwrap();
            }
            pollster::block_on(g.read(&out)).unwrap();
            start.elapsed().as_secs_f64()
        };
        run(1);
        let per = (run(6) - run(1)) / 5.0;
        eprintln!(
            "{} ({}, [{rows}, {cols}]), 4 values per invocation {quad}: {:.1} ms, {:.2} G values/s",
            t.name,
            t.ggml_type,
            per * 1e3,
            (rows * cols) as f64 / per / 1e9
        );
    }
}
