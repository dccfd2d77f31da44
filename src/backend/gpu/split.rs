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
use std::ops::{Deref, Range};

/// Rows per block of a `[rows, cols]` matrix under a binding limit of `cap` bytes: the largest
/// power of two (at least 2, keeping every packed block 4-byte aligned) whose rows fit as f32.
/// Powers of two nest: where a product meets two matrices of different widths, the wider one's
/// blocks are the cuts, each inside one block of the narrower one.
pub(super) fn block_rows(cols: usize, cap: u64) -> Result<usize> {
    let row = cols as u64 * 4;
    let fit = cap / row.max(1);
    let rows = if fit < 2 { 0 } else { 1u64 << fit.ilog2() };
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

/// Refuses, naming `op`, any of `tensors` held in row blocks (for the ops that do not take
/// them and do not go through the recorder's binding check).
pub(super) fn refuse_blocks(op: &str, tensors: &[&GpuTensor]) -> Result<()> {
    if tensors.iter().any(|t| t.is_split()) {
        return Err(Error::Unsupported(format!(
            "{op} cannot take a matrix held in row blocks over several storage bindings"
        )));
    }
    Ok(())
}

/// A piece of an operand: a tensor or block used in place, or a scratch copy.
enum Piece<'a> {
    Same(&'a GpuTensor),
    Copy(GpuTensor),
}

impl Deref for Piece<'_> {
    type Target = GpuTensor;
    fn deref(&self) -> &GpuTensor {
        match self {
            Piece::Same(t) => t,
            Piece::Copy(t) => t,
        }
    }
}

/// `0 .. len` cut at every block boundary of the given tensors (those stored along this
/// dimension); one range when none is in blocks.
fn cuts(len: usize, along: &[Option<&GpuTensor>]) -> Vec<Range<usize>> {
    let mut starts: Vec<usize> = along
        .iter()
        .flatten()
        .flat_map(|t| blocks(t).into_iter().map(|(r0, _)| r0))
        .filter(|&r| r < len)
        .collect();
    starts.push(0);
    starts.sort_unstable();
    starts.dedup();
    let mut out: Vec<Range<usize>> = starts.windows(2).map(|w| w[0]..w[1]).collect();
    out.push(starts[starts.len() - 1]..len);
    out
}

/// The block (and its first row) that holds all of `rows`.
fn containing<T: std::ops::Deref<Target = GpuTensor>>(
    blocks: Vec<(usize, T)>,
    rows: &Range<usize>,
) -> Result<(usize, T)> {
    blocks
        .into_iter()
        .find(|(b0, b)| rows.start >= *b0 && rows.end <= b0 + b.shape.rows())
        .ok_or_else(|| Error::param("row blocks", "a piece of rows crosses a block boundary"))
}

/// The first row of each block.
fn block_starts(parts: &[GpuTensor]) -> Vec<usize> {
    let mut row = 0;
    parts
        .iter()
        .map(|p| {
            let start = row;
            row += p.shape.rows();
            start
        })
        .collect()
}

/// `(first row, block)` of every row block of `t`; a whole tensor is its own single block.
pub(super) fn blocks(t: &GpuTensor) -> Vec<(usize, &GpuTensor)> {
    if t.parts.is_empty() {
        return vec![(0, t)];
    }
    block_starts(&t.parts).into_iter().zip(&t.parts).collect()
}

/// As [`blocks`], for writing.
fn blocks_mut(t: &mut GpuTensor) -> Vec<(usize, &mut GpuTensor)> {
    if t.parts.is_empty() {
        return vec![(0, t)];
    }
    let starts = block_starts(&t.parts);
    starts.into_iter().zip(t.parts.iter_mut()).collect()
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
        let numel: usize = shape.iter().product();
        if !self.needs_blocks(shape, format.bytes_for(numel) as u64) {
            return self.packed_tensor(format, bytes, shape);
        }
        let (rows, cols) = (shape[0], shape[1]);
        format.check_row("frozen_tensor", cols)?;
        crate::backend::checks::data_len("frozen_tensor", bytes.len(), format.bytes_for(numel))?;
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

    /// `out = w_res + U diag(σ) Vᵀ` block by block: `w_res` and `out` cut at the same rows, U's
    /// rows of each block taken as a piece (U is narrower, so its blocks hold whole ones). With
    /// V in blocks (a wide layer), `out = w_res` then `out += (U ⊙ σ) Vᵀ` through the blocks.
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
        if v.is_split() {
            for ((_, w), (_, o)) in blocks(w_res).into_iter().zip(blocks_mut(out)) {
                let rows = w.shape.rows();
                self.copy_rows(w, 0, o, 0, rows)?;
            }
            let mut us = self.zeros(u.shape.dims())?;
            self.mul_cols(u, sigma, None, &mut us)?;
            return self.matmul(&us, v, out, Matmul::NT.accumulate());
        }
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
            let rows = w.shape.rows();
            let u_rows = self.piece(u, r0..r0 + rows, 0..q)?;
            ops::linalg::svd_merge(&self.rec, w, &u_rows, sigma, v, o, (rows, n, q))?;
        }
        Ok(())
    }

    /// `C = alpha · op(A) · op(B) (+ C)` when an operand is in row blocks, as products of whole
    /// tensors over pieces of M, N and K: each dimension is cut where any operand stored along
    /// it has a block boundary, so a piece lies in one block of every operand. A piece that is
    /// a whole block (or a whole tensor) is used in place; a part of one goes through a scratch
    /// copy (rows with `copy_rows`, columns with `copy_cols`). K pieces add into C.
    pub(super) fn matmul_blocks(
        &self,
        a: &GpuTensor,
        b: &GpuTensor,
        c: &mut GpuTensor,
        spec: Matmul,
        (m, n, k): (usize, usize, usize),
    ) -> Result<()> {
        // Which stored rows run along M, N and K.
        let (a_m, a_k) = if spec.trans_a {
            (None, Some(a))
        } else {
            (Some(a), None)
        };
        let (b_k, b_n) = if spec.trans_b {
            (None, Some(b))
        } else {
            (Some(b), None)
        };
        let m_cuts = cuts(m, &[a_m, Some(&*c)]);
        let k_cuts = cuts(k, &[a_k, b_k]);
        let n_cuts = cuts(n, &[b_n]);
        let pieces = m_cuts.len() * n_cuts.len() * k_cuts.len();
        for mr in &m_cuts {
            for nr in &n_cuts {
                self.with_piece_mut(c, mr.clone(), nr.clone(), spec.accumulate, |be, cp| {
                    for (i, kr) in k_cuts.iter().enumerate() {
                        let ap = if spec.trans_a {
                            be.piece(a, kr.clone(), mr.clone())?
                        } else {
                            be.piece(a, mr.clone(), kr.clone())?
                        };
                        let bp = if spec.trans_b {
                            be.piece(b, nr.clone(), kr.clone())?
                        } else {
                            be.piece(b, kr.clone(), nr.clone())?
                        };
                        let acc = spec.accumulate || i > 0;
                        be.matmul(&ap, &bp, cp, spec.accumulate_if(acc))?;
                    }
                    Ok(())
                })?;
            }
        }
        if pieces > 1 {
            // The pieces' scratch copies are dropped; submitting lets them go before the next
            // product makes its own (a loss loop over chunks would otherwise hold one copy of
            // the whole blocked matrix until its end).
            self.flush()?;
        }
        Ok(())
    }

    /// Rows `rows` and columns `cols` of `t`: the tensor or one of its blocks when they are
    /// exactly that, else a scratch copy (the rows lie in one block).
    fn piece<'a>(
        &self,
        t: &'a GpuTensor,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Piece<'a>> {
        let width = t.shape.row_width();
        let (b0, block) = containing(blocks(t), &rows)?;
        let n = rows.len();
        let in_rows = if rows.start == b0 && n == block.shape.rows() {
            Piece::Same(block)
        } else {
            let mut s = self.zeros(&[n, width])?;
            self.copy_rows(block, rows.start - b0, &mut s, 0, n)?;
            Piece::Copy(s)
        };
        if cols.start == 0 && cols.end == width {
            return Ok(in_rows);
        }
        let mut s = self.zeros(&[n, cols.len()])?;
        self.copy_cols(&in_rows, cols.start, &mut s, 0, cols.len())?;
        Ok(Piece::Copy(s))
    }

    /// Runs `f` on rows `rows`, columns `cols` of `c` (holding C's values first when `load`),
    /// in place when they are a whole block or tensor, else on a scratch copied back after.
    fn with_piece_mut(
        &self,
        c: &mut GpuTensor,
        rows: Range<usize>,
        cols: Range<usize>,
        load: bool,
        f: impl FnOnce(&Self, &mut GpuTensor) -> Result<()>,
    ) -> Result<()> {
        let width = c.shape.row_width();
        let all_cols = cols.start == 0 && cols.end == width;
        let (b0, block) = containing(blocks_mut(c), &rows)?;
        let n = rows.len();
        // The rows: the block itself, or a copy of them written back at the end.
        let whole_rows = rows.start == b0 && n == block.shape.rows();
        let mut rows_copy = None;
        if !whole_rows {
            let mut s = self.zeros(&[n, width])?;
            if load || !all_cols {
                self.copy_rows(block, rows.start - b0, &mut s, 0, n)?;
            }
            rows_copy = Some(s);
        }
        {
            let target: &mut GpuTensor = match rows_copy.as_mut() {
                Some(s) => s,
                None => &mut *block,
            };
            if all_cols {
                f(self, target)?;
            } else {
                let mut s = self.zeros(&[n, cols.len()])?;
                if load {
                    self.copy_cols(target, cols.start, &mut s, 0, cols.len())?;
                }
                f(self, &mut s)?;
                self.copy_cols(&s, 0, target, cols.start, cols.len())?;
            }
        }
        if let Some(s) = rows_copy {
            self.copy_rows(&s, 0, block, rows.start - b0, n)?;
        }
        Ok(())
    }
}
