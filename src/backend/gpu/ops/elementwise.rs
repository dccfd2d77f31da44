//! GPU encoders for elementwise and gather ops: fill, column copy, residual add, bias,
//! column scaling, embedding lookup, SwiGLU and GeGLU (gated activations: one encoder pair
//! shared by every kernel with the swiglu binding contract).
use super::{grid_256, u32_of};
use crate::backend::TensorInfo;
use crate::backend::gpu::kernels;
use crate::backend::gpu::recorder::Recorder;
use crate::backend::gpu::{GpuIds, GpuTensor};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FillParams {
    n: u32,
    value: f32,
}

/// `t[i] = value`. Zero (the gradients at the start of a step) is a buffer clear, a transfer
/// command without a pipeline or bind group; other values run `shaders/fill.wgsl`.
pub fn fill(rec: &Recorder, t: &mut GpuTensor, value: f32) -> Result<()> {
    let n = t.shape().numel();
    if value.to_bits() == 0 {
        if n > 0 {
            rec.with_encoder(|enc| enc.clear_buffer(&t.buf, t.offset(), Some(n as u64 * 4)));
        }
        return Ok(());
    }
    let params = FillParams {
        n: u32_of("fill", "n", n)?,
        value,
    };
    rec.dispatch(
        &kernels::FILL,
        &[],
        &params,
        &[t.bref()],
        grid_256("fill", n)?,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CopyColsParams {
    n: u32,
    width: u32,
    src_cols: u32,
    src_col: u32,
    dst_cols: u32,
    dst_col: u32,
}

#[allow(clippy::too_many_arguments)]
pub fn copy_cols(
    rec: &Recorder,
    src: &GpuTensor,
    src_col: usize,
    dst: &mut GpuTensor,
    dst_col: usize,
    width: usize,
    (rows, cs, cd): (usize, usize, usize),
) -> Result<()> {
    let op = "copy_cols";
    let n = rows * width;
    let params = CopyColsParams {
        n: u32_of(op, "n", n)?,
        width: u32_of(op, "width", width)?,
        src_cols: u32_of(op, "src cols", cs)?,
        src_col: u32_of(op, "src_col", src_col)?,
        dst_cols: u32_of(op, "dst cols", cd)?,
        dst_col: u32_of(op, "dst_col", dst_col)?,
    };
    rec.dispatch(
        &kernels::COPY_COLS,
        &[],
        &params,
        &[src.bref(), dst.bref()],
        grid_256(op, n)?,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RowsParams {
    n: u32,
    cols: u32,
}

pub fn add_assign(rec: &Recorder, x: &mut GpuTensor, y: &GpuTensor, n: usize) -> Result<()> {
    let params = [u32_of("add_assign", "n", n)?];
    rec.dispatch(
        &kernels::ADD_ASSIGN,
        &[],
        &params,
        &[x.bref(), y.bref()],
        grid_256("add_assign", n)?,
    )
}

pub fn add_bias(
    rec: &Recorder,
    y: &mut GpuTensor,
    b: &GpuTensor,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let n = rows * cols;
    let params = RowsParams {
        n: u32_of("add_bias", "n", n)?,
        cols: cols as u32,
    };
    rec.dispatch(
        &kernels::ADD_BIAS,
        &[],
        &params,
        &[y.bref(), b.bref()],
        grid_256("add_bias", n)?,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MulColsParams {
    n: u32,
    cols: u32,
    has_add: u32,
}

/// `dst[t, c] = src[t, c] · (s[c] (+ s_add[c]))`; src, dst `[T, C]`, s, s_add `[C]`.
pub fn mul_cols(
    rec: &Recorder,
    src: &GpuTensor,
    s: &GpuTensor,
    s_add: Option<&GpuTensor>,
    dst: &mut GpuTensor,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let n = rows * cols;
    let params = MulColsParams {
        n: u32_of("mul_cols", "n", n)?,
        cols: cols as u32,
        has_add: s_add.is_some() as u32,
    };
    // Without s_add, `s` stands in for the unused binding (read-only, so aliasing is fine).
    let add = s_add.map_or(s.bref(), |a| a.bref());
    rec.dispatch(
        &kernels::MUL_COLS,
        &[],
        &params,
        &[src.bref(), s.bref(), add, dst.bref()],
        grid_256("mul_cols", n)?,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EmbeddingParams {
    n: u32,
    cols: u32,
    vocab: u32,
    table_row0: u32,
    first_id: u32,
    zero_outside: u32,
}

/// Which rows one embedding dispatch covers when the table or the output is held in row
/// blocks (see `split.rs`): output row `t` reads id `first_id + t`; the table binding holds rows
/// `table_row0 ..` of the whole table; ids outside it give zero rows when `zero_outside`, else
/// leave the output row as it is.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingRange {
    pub first_id: usize,
    pub table_row0: usize,
    pub zero_outside: bool,
}

impl EmbeddingRange {
    /// A whole table into a whole output.
    pub const WHOLE: EmbeddingRange = EmbeddingRange {
        first_id: 0,
        table_row0: 0,
        zero_outside: true,
    };
}

/// `out[t] = table[ids[first_id + t] − table_row0]` for `rows` output rows; `vocab` table rows
/// in this binding.
pub fn embedding(
    rec: &Recorder,
    table: &GpuTensor,
    ids: &GpuIds,
    out: &mut GpuTensor,
    (rows, vocab, cols): (usize, usize, usize),
    range: EmbeddingRange,
) -> Result<()> {
    let op = "embedding";
    let n = rows * cols;
    let params = EmbeddingParams {
        n: u32_of(op, "n", n)?,
        cols: cols as u32,
        vocab: u32_of(op, "vocab", vocab)?,
        table_row0: u32_of(op, "table_row0", range.table_row0)?,
        first_id: u32_of(op, "first_id", range.first_id)?,
        zero_outside: range.zero_outside as u32,
    };
    rec.dispatch(
        kernels::EMBEDDING_BY_TABLE.get(table.format()),
        &[],
        &params,
        &[ids.bref(), table.bref(), out.bref()],
        grid_256(op, n)?,
    )
}

pub fn swiglu_forward(
    rec: &Recorder,
    gate: &GpuTensor,
    up: &GpuTensor,
    out: &mut GpuTensor,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let n = rows * cols;
    let params = [u32_of("swiglu_forward", "n", n)?];
    rec.dispatch(
        &kernels::SWIGLU_FORWARD,
        &[],
        &params,
        &[gate.bref(), up.bref(), out.bref()],
        grid_256("swiglu_forward", n)?,
    )
}

pub fn swiglu_backward(
    rec: &Recorder,
    gate: &GpuTensor,
    up: &GpuTensor,
    dout: &GpuTensor,
    dgate: &mut GpuTensor,
    dup: &mut GpuTensor,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let n = rows * cols;
    let params = [u32_of("swiglu_backward", "n", n)?];
    let bufs = [
        gate.bref(),
        up.bref(),
        dout.bref(),
        dgate.bref(),
        dup.bref(),
    ];
    rec.dispatch(
        &kernels::SWIGLU_BACKWARD,
        &[],
        &params,
        &bufs,
        grid_256("swiglu_backward", n)?,
    )
}

/// A gated activation `out = act(gate) ⊙ up` with `kernel` (GeGLU; SwiGLU has its own encoder
/// above), bindings `[gate, up, out]`.
pub fn gated(
    rec: &Recorder,
    kernel: &'static kernels::Kernel,
    gate: &GpuTensor,
    up: &GpuTensor,
    out: &mut GpuTensor,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let n = rows * cols;
    let params = [u32_of(kernel.name, "n", n)?];
    rec.dispatch(
        kernel,
        &[],
        &params,
        &[gate.bref(), up.bref(), out.bref()],
        grid_256(kernel.name, n)?,
    )
}

/// The backward of [`gated`]: bindings `[gate, up, dout, dgate, dup]`.
#[allow(clippy::too_many_arguments)]
pub fn gated_backward(
    rec: &Recorder,
    kernel: &'static kernels::Kernel,
    gate: &GpuTensor,
    up: &GpuTensor,
    dout: &GpuTensor,
    dgate: &mut GpuTensor,
    dup: &mut GpuTensor,
    (rows, cols): (usize, usize),
) -> Result<()> {
    let n = rows * cols;
    let params = [u32_of(kernel.name, "n", n)?];
    let bufs = [
        gate.bref(),
        up.bref(),
        dout.bref(),
        dgate.bref(),
        dup.bref(),
    ];
    rec.dispatch(kernel, &[], &params, &bufs, grid_256(kernel.name, n)?)
}
