//! Matrices larger than one storage binding: the embedding and `lm_head` of 128 k–152 k
//! vocabularies in bf16 or f32 (272–788 MB, where many adapters bind at most 128–256 MB), and
//! their f32 copies for the decomposition and the merge. Such a matrix is held in row blocks,
//! each its own buffer within the device's binding limit (`GpuTensor::parts`). The embedding
//! gather, the matrix products, the merge and reads take them block by block; every other
//! kernel refuses them (the recorder's binding check), so a split matrix is never read wrongly.
//!
//! Blocks have [`block_rows`] rows whatever the format (the f32 size decides), so a packed weight
//! and its f32 copy are cut at the same rows and can be walked together.
use super::ops;
use super::{GpuBackend, GpuIds, GpuTensor};
use crate::backend::{Backend, Format, Matmul, Shape};
use crate::error::{Error, Result};

/// Rows per block of a `[rows, cols]` matrix under a binding limit of `cap` bytes: the most
/// whole pairs of rows whose f32 values fit (pairs keep every packed block 4-byte aligned).
pub(super) fn block_rows(cols: usize, cap: u64) -> Result<usize> {
    let row = cols as u64 * 4;
    let rows = (cap / row.max(1)) / 2 * 2;
    if rows == 0 {
        return Err(Error::TooLarge {
            what: format!("two rows of a matrix {cols} columns wide (f32)"),
            bytes: 2 * row,
            limit: cap,
            kind: "storage binding",
        });
    }
    Ok(usize::try_from(rows).unwrap_or(usize::MAX))
}

/// `(first row, block)` of every row block of `t`; a whole tensor is its own single block.
pub(super) fn blocks(t: &GpuTensor) -> Vec<(usize, &GpuTensor)> {
    if t.parts.is_empty() {
        return vec![(0, t)];
    }
    let mut row = 0;
    t.parts
        .iter()
        .map(|p| {
            let r = row;
            row += p.shape.rows();
            (r, p)
        })
        .collect()
}

/// As [`blocks`], for writing.
fn blocks_mut(t: &mut GpuTensor) -> Vec<(usize, &mut GpuTensor)> {
    if t.parts.is_empty() {
        return vec![(0, t)];
    }
    let mut row = 0;
    t.parts
        .iter_mut()
        .map(|p| {
            let r = row;
            row += p.shape.rows();
            (r, p)
        })
        .collect()
}

impl GpuBackend {
    /// Whether a tensor of `shape` taking `bytes` must be held in row blocks: a matrix larger
    /// than one binding.
    fn needs_blocks(&self, shape: &[usize], bytes: u64) -> bool {
        shape.len() == 2 && bytes > self.rec.ctx.max_binding_bytes()
    }

    /// The tensor that stands for `parts`: the shape and format of the whole, a 4-byte buffer
    /// no kernel binds.
    fn holder(&self, shape: &[usize], format: Format, parts: Vec<GpuTensor>) -> Result<GpuTensor> {
        let (id, buf) = self.rec.buffer("row-blocked matrix", 4, None)?;
        Ok(GpuTensor {
            buf,
            id,
            range: None,
            shape: Shape::new(shape),
            format,
            dead: self.rec.dead.clone(),
            parts,
        })
    }

    /// A frozen weight in `format` (f32 included) from its stored bytes, in row blocks when it
    /// is larger than one binding.
    pub(super) fn frozen_blocks(
        &self,
        format: Format,
        bytes: &[u8],
        shape: &[usize],
    ) -> Result<GpuTensor> {
        if !self.needs_blocks(shape, bytes.len() as u64) {
            return self.packed_tensor(format, bytes, shape);
        }
        let (rows, cols) = (shape[0], shape[1]);
        let step = block_rows(cols, self.rec.ctx.max_binding_bytes())?;
        let mut parts = Vec::with_capacity(rows.div_ceil(step));
        for r0 in (0..rows).step_by(step) {
            let n = step.min(rows - r0);
            let (start, len) = (format.bytes_for(r0 * cols), format.bytes_for(n * cols));
            parts.push(self.packed_tensor(format, &bytes[start..start + len], &[n, cols])?);
        }
        self.holder(shape, format, parts)
    }

    /// A zero-filled f32 matrix, in row blocks when it is larger than one binding.
    pub(super) fn zeros_blocks(&self, shape: &[usize]) -> Result<GpuTensor> {
        let bytes = shape.iter().product::<usize>() as u64 * 4;
        if !self.needs_blocks(shape, bytes) {
            return self.zeros(shape);
        }
        let (rows, cols) = (shape[0], shape[1]);
        let step = block_rows(cols, self.rec.ctx.max_binding_bytes())?;
        let parts = (0..rows)
            .step_by(step)
            .map(|r0| self.zeros(&[step.min(rows - r0), cols]))
            .collect::<Result<Vec<_>>>()?;
        self.holder(shape, Format::F32, parts)
    }

    /// Every block's values, in order.
    pub(super) async fn read_blocks(&self, t: &GpuTensor) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(t.shape.numel());
        for p in &t.parts {
            let bytes = self
                .rec
                .read_bytes(&p.buf, p.offset(), p.shape.numel() as u64 * 4)
                .await?;
            out.extend(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes));
        }
        Ok(out)
    }

    /// Overwrites every block with its rows of `data`.
    pub(super) fn write_blocks(&self, t: &mut GpuTensor, data: &[f32]) -> Result<()> {
        let cols = t.shape.row_width();
        for (r0, p) in blocks_mut(t) {
            let n = p.shape.numel();
            self.write(p, &data[r0 * cols..r0 * cols + n])?;
        }
        Ok(())
    }

    /// The embedding gather when the table or the output is in row blocks: for each output
    /// block, the first table block writes every row (zero where the id is not among its rows),
    /// the others only their own rows.
    pub(super) fn embedding_blocks(
        &self,
        table: &GpuTensor,
        ids: &GpuIds,
        out: &mut GpuTensor,
        cols: usize,
    ) -> Result<()> {
        let tables = blocks(table);
        for (o_row0, o) in blocks_mut(out) {
            for (i, &(t_row0, t)) in tables.iter().enumerate() {
                let range = ops::elementwise::EmbeddingRange {
                    first_id: o_row0,
                    table_row0: t_row0,
                    zero_outside: i == 0,
                };
                let dims = (o.shape.rows(), t.shape.rows(), cols);
                ops::elementwise::embedding(&self.rec, t, ids, o, dims, range)?;
            }
        }
        Ok(())
    }

    /// `out = w_res + U diag(σ) Vᵀ` block by block: `w_res` and `out` cut at the same rows.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn svd_merge_blocks(
        &self,
        w_res: &GpuTensor,
        u: &GpuTensor,
        sigma: &GpuTensor,
        v: &GpuTensor,
        out: &mut GpuTensor,
        (_, n, q): (usize, usize, usize),
    ) -> Result<()> {
        let ws = blocks(w_res);
        let outs = blocks_mut(out);
        let same = ws.len() == outs.len()
            && ws
                .iter()
                .zip(&outs)
                .all(|((a, x), (b, y))| a == b && x.shape == y.shape);
        if !same {
            return Err(Error::param(
                "svd_merge",
                "w_res and out are not cut into the same row blocks",
            ));
        }
        for ((r0, w), (_, o)) in ws.into_iter().zip(outs) {
            let dims = (w.shape.rows(), n, q);
            ops::linalg::svd_merge(&self.rec, w, u, sigma, v, o, dims, r0)?;
        }
        Ok(())
    }

    /// `C = alpha · op(A) · op(B) (+ C)` when one operand is in row blocks, as products of
    /// whole tensors: a block of rows of `op(A)` or of `C` goes through a scratch tensor; a
    /// block of `K` adds its product into `C`. Only the rows or columns a block touches are
    /// copied (`M × block` or `block × N` values, within one binding like the block itself).
    pub(super) fn matmul_blocks(
        &self,
        a: &GpuTensor,
        b: &GpuTensor,
        c: &mut GpuTensor,
        spec: Matmul,
        (m, n, k): (usize, usize, usize),
    ) -> Result<()> {
        let after_first = |i: usize| spec.accumulate_if(spec.accumulate || i > 0);
        if c.is_split() {
            // Rows of C: the matching rows of op(A) (A cut at the same rows, or copied).
            let a_split = a.is_split();
            let a_blocks = blocks(a);
            for (i, (r0, ci)) in blocks_mut(c).into_iter().enumerate() {
                let rows = ci.shape.rows();
                if a_split && !spec.trans_a {
                    match a_blocks.get(i) {
                        Some(&(ar0, ai)) if ar0 == r0 && ai.shape.rows() == rows => {
                            self.matmul(ai, b, ci, spec)?;
                            continue;
                        }
                        _ => {
                            return Err(Error::param(
                                "matmul",
                                "A and C are not cut into the same row blocks",
                            ));
                        }
                    }
                }
                let ai = if spec.trans_a {
                    let mut s = self.zeros(&[k, rows])?;
                    self.copy_cols(a, r0, &mut s, 0, rows)?;
                    s
                } else {
                    let mut s = self.zeros(&[rows, k])?;
                    self.copy_rows(a, r0, &mut s, 0, rows)?;
                    s
                };
                self.matmul(&ai, b, ci, spec)?;
            }
            return Ok(());
        }
        if a.is_split() {
            for (i, (r0, ai)) in blocks(a).into_iter().enumerate() {
                let rows = ai.shape.rows();
                if spec.trans_a {
                    // A `[K, M]`: a block of K; the matching K rows (or columns) of B.
                    let bi = if spec.trans_b {
                        let mut s = self.zeros(&[n, rows])?;
                        self.copy_cols(b, r0, &mut s, 0, rows)?;
                        s
                    } else {
                        let mut s = self.zeros(&[rows, n])?;
                        self.copy_rows(b, r0, &mut s, 0, rows)?;
                        s
                    };
                    self.matmul(ai, &bi, c, after_first(i))?;
                } else {
                    // A `[M, K]`: a block of C's rows.
                    let mut ci = self.zeros(&[rows, n])?;
                    if spec.accumulate {
                        self.copy_rows(c, r0, &mut ci, 0, rows)?;
                    }
                    self.matmul(ai, b, &mut ci, spec)?;
                    self.copy_rows(&ci, 0, c, r0, rows)?;
                }
            }
            return Ok(());
        }
        for (i, (r0, bi)) in blocks(b).into_iter().enumerate() {
            let rows = bi.shape.rows();
            if spec.trans_b {
                // B `[N, K]`: a block of C's columns.
                let mut ci = self.zeros(&[m, rows])?;
                if spec.accumulate {
                    self.copy_cols(c, r0, &mut ci, 0, rows)?;
                }
                self.matmul(a, bi, &mut ci, spec)?;
                self.copy_cols(&ci, 0, c, r0, rows)?;
            } else {
                // B `[K, N]`: a block of K; the matching K columns (or rows) of A.
                let ai = if spec.trans_a {
                    let mut s = self.zeros(&[rows, m])?;
                    self.copy_rows(a, r0, &mut s, 0, rows)?;
                    s
                } else {
                    let mut s = self.zeros(&[m, rows])?;
                    self.copy_cols(a, r0, &mut s, 0, rows)?;
                    s
                };
                self.matmul(&ai, bi, c, after_first(i))?;
            }
        }
        Ok(())
    }
}
