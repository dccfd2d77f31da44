//! Products with a packed frozen weight on the host (see [`Format`]): B is converted to f32 a
//! block of its stored rows at a time into a small scratch, and each block goes through the
//! same f32 GEMM as every other product, so the weight never exists in f32 as a whole.
//! For `NT` (`x · Wᵀ`, B stored `[N, K]`) a block of rows is a block of output columns; for
//! `NN` (`g · W`, B stored `[K, N]`) it is a block of K, accumulated into C. GGUF block formats
//! convert through the host dequantization ([`Format::decode`] → `gguf::dequant`): rows are whole
//! blocks, and every converted range starts on a row (or on a multiple of
//! `parallel::ELEMENTS`, itself a multiple of every block size), so no block is split.
use super::{Real, parallel};
use crate::backend::{Format, Matmul};

/// A packed tensor's storage: the file's little-endian bytes in `format`.
#[derive(Clone, Debug)]
pub struct Packed {
    pub format: Format,
    pub bytes: Vec<u8>,
}

/// Elements of B converted at once (4 MiB of f32 scratch): large enough that each block is a
/// full-speed GEMM, small next to any weight worth packing.
const BLOCK_ELEMENTS: usize = 1 << 20;

/// `c = alpha · op(a) · op(b) (+ c)` with `b` packed; shapes as in [`super::linalg::matmul`]
/// (a `[m, k]` or `[k, m]`, b `[k, n]` or `[n, k]`, c `[m, n]`), checked by the caller.
#[allow(clippy::too_many_arguments)]
pub fn matmul(a: &[f32], b: &Packed, c: &mut [f32], m: usize, n: usize, k: usize, spec: Matmul) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !spec.accumulate {
            c.fill(0.0);
        }
        return;
    }
    // B's stored rows and their width.
    let (rows, width) = if spec.trans_b { (n, k) } else { (k, n) };
    let block = (BLOCK_ELEMENTS / width).clamp(1, rows);
    let mut scratch = vec![0.0f32; block * width];
    let a_strides = if spec.trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let alpha = spec.alpha;
    for r0 in (0..rows).step_by(block) {
        let r1 = (r0 + block).min(rows);
        let bs = &mut scratch[..(r1 - r0) * width];
        // Converted on the pool natively (a whole head is tens of millions of values).
        let first = r0 * width;
        parallel::blocks(bs, parallel::ELEMENTS, |i, x| {
            b.format.decode(&b.bytes, first + i * parallel::ELEMENTS, x)
        });
        if spec.trans_b {
            // Output columns r0..r1: C[:, r0..r1] = A · B[r0..r1, :]ᵀ.
            let beta = if spec.accumulate { 1.0 } else { 0.0 };
            f32::gemm(
                m,
                k,
                r1 - r0,
                alpha,
                a,
                a_strides,
                bs,
                (1, k as isize),
                beta,
                &mut c[r0..],
                (n as isize, 1),
            );
        } else {
            // K range r0..r1: C (+)= A[:, r0..r1] · B[r0..r1, :].
            let beta = if spec.accumulate || r0 > 0 { 1.0 } else { 0.0 };
            let a_block = if spec.trans_a { &a[r0 * m..] } else { &a[r0..] };
            f32::gemm(
                m,
                r1 - r0,
                n,
                alpha,
                a_block,
                a_strides,
                bs,
                (n as isize, 1),
                beta,
                c,
                (n as isize, 1),
            );
        }
    }
}

/// `out[t, :] = table[ids[t], :]` from a packed table `[vocab, cols]`; an id ≥ vocab gives a
/// zero row.
pub fn embedding(table: &Packed, vocab: usize, cols: usize, ids: &[u32], out: &mut [f32]) {
    for (row, &id) in out.chunks_mut(cols).zip(ids) {
        let id = id as usize;
        if id < vocab {
            table.format.decode(&table.bytes, id * cols, row);
        } else {
            row.fill(0.0);
        }
    }
}
