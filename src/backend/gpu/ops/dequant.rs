//! Packed tensors on the GPU as stored in their file ([`GpuBlocks`]: GGUF blocks, f16, bf16) and
//! `dequant_rows`, which turns a range of their rows into an f32 tensor with the composed kernels
//! of [`kernels::dequant_rows`] (the values are bitwise those of [`crate::gguf::dequant`]).
//!
//! The decomposition uses it to read one layer at a time in its stored precision. The byte
//! upload and the dispatch are apart ([`record`] takes any buffer holding a tensor's raw bytes),
//! so the kernel can be pointed at another holder of packed tensors.
use super::{grid_256, u32_of};
use crate::backend::TensorInfo;
use crate::backend::gpu::kernels;
use crate::backend::gpu::recorder::{BufRef, Recorder};
use crate::backend::gpu::{GpuBackend, GpuTensor};
use crate::error::{Error, Result};
use crate::gguf::GgmlType;
use bytemuck::{Pod, Zeroable};

const OP: &str = "dequant_rows";

/// A tensor `[rows, cols]` of a packed type, its bytes as stored in the file (row-major; each row
/// a whole number of blocks), in one storage buffer padded with zeros to a multiple of 4 bytes.
pub struct GpuBlocks {
    buf: wgpu::Buffer,
    id: u64,
    name: String,
    ty: GgmlType,
    rows: usize,
    cols: usize,
    dead: crate::backend::gpu::DeadList,
}

impl GpuBlocks {
    pub(crate) fn bref(&self) -> BufRef<'_> {
        BufRef::whole(self.id, &self.buf)
    }
    /// The tensor's name (as given to [`GpuBackend::upload_blocks`]).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    /// `(rows, cols)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// Bytes held on the GPU (the stored size rounded up to 4).
    pub fn bytes(&self) -> u64 {
        self.buf.size()
    }
}

impl std::fmt::Debug for GpuBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GpuBlocks({} {} [{}, {}])",
            self.name, self.ty, self.rows, self.cols
        )
    }
}

impl Drop for GpuBlocks {
    fn drop(&mut self) {
        self.dead.borrow_mut().push(self.id);
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    first: u32,
    quad: u32,
}

impl GpuBackend {
    /// Uploads the stored bytes of tensor `name` of type `ty` and shape `[rows, cols]` as they
    /// are. Refuses a type no kernel reads (`Error::Unsupported`, as
    /// [`crate::gguf::check_block_type`] words it; F32 is not packed), rows that are not whole
    /// blocks and a byte count that does not match the shape (`Error::Param`), more than 2³²
    /// elements, and a tensor larger than one storage binding (`Error::TooLarge`).
    pub fn upload_blocks(
        &self,
        name: &str,
        ty: GgmlType,
        (rows, cols): (usize, usize),
        bytes: &[u8],
    ) -> Result<GpuBlocks> {
        crate::gguf::check_block_type(name, ty)?;
        if kernels::dequant_rows(ty).is_none() {
            return Err(Error::param(
                OP,
                format!("tensor {name} is {ty}: only packed types are uploaded as blocks"),
            ));
        }
        let (Some(block), Some(size)) = (ty.block_size(), ty.type_size()) else {
            return Err(Error::param(
                OP,
                format!("tensor {name}: unknown type {ty}"),
            ));
        };
        let (block, size) = (block as usize, size as usize);
        let numel = rows.checked_mul(cols).filter(|&n| u32::try_from(n).is_ok());
        let Some(numel) = numel else {
            return Err(Error::param(
                OP,
                format!(
                    "tensor {name} [{rows}, {cols}] exceeds the 32-bit indices the shaders use"
                ),
            ));
        };
        if !cols.is_multiple_of(block) || numel / block * size != bytes.len() {
            return Err(Error::param(
                OP,
                format!(
                    "tensor {name} [{rows}, {cols}] of {ty} ({block} values per {size}-byte \
                     block, whole blocks per row) cannot be {} bytes",
                    bytes.len()
                ),
            ));
        }
        let label = format!("{name} ({ty})");
        let (id, buf) = self.rec.buffer(&label, bytes.len() as u64, None)?;
        let aligned = bytes.len() / 4 * 4;
        if aligned > 0 {
            self.rec.ctx.queue.write_buffer(&buf, 0, &bytes[..aligned]);
        }
        if aligned < bytes.len() {
            let mut tail = [0u8; 4];
            tail[..bytes.len() - aligned].copy_from_slice(&bytes[aligned..]);
            self.rec.ctx.queue.write_buffer(&buf, aligned as u64, &tail);
        }
        Ok(GpuBlocks {
            buf,
            id,
            name: name.to_string(),
            ty,
            rows,
            cols,
            dead: self.rec.dead.clone(),
        })
    }

    /// `out [rows, cols] = blocks[row0 .. row0 + rows, :]` as f32, with `rows` taken from `out`.
    /// Recorded like any op (read `out`, or `flush`, to run it). Reads 4 values per invocation
    /// (`packed_value4`) when `cols` is a multiple of 4, which every block type's is.
    pub fn dequant_rows(&self, blocks: &GpuBlocks, row0: usize, out: &mut GpuTensor) -> Result<()> {
        let quad = blocks.cols.is_multiple_of(4);
        self.dequant_rows_with(blocks, row0, out, quad)
    }

    /// As [`GpuBackend::dequant_rows`], choosing the path: `quad` reads 4 values per invocation
    /// (`cols` must then be a multiple of 4), else one (`packed_value`). The results are the
    /// same; the tests check both paths.
    pub fn dequant_rows_with(
        &self,
        blocks: &GpuBlocks,
        row0: usize,
        out: &mut GpuTensor,
        quad: bool,
    ) -> Result<()> {
        let (total, cols) = blocks.dims();
        let dims = out.shape().dims().to_vec();
        if dims.len() != 2 || dims[1] != cols {
            return Err(Error::Shape {
                op: OP,
                what: "out",
                expected: format!("[rows, {cols}]"),
                found: out.shape().to_string(),
            });
        }
        let rows = dims[0];
        if row0.checked_add(rows).is_none_or(|end| end > total) {
            return Err(Error::param(
                OP,
                format!(
                    "rows {row0}..{} out of range: {} has {total} rows",
                    row0.saturating_add(rows),
                    blocks.name
                ),
            ));
        }
        record(
            &self.rec,
            blocks.ty,
            blocks.bref(),
            (row0, rows, cols),
            out,
            quad,
        )
    }
}

/// Records `dequant_rows` for a packed tensor of type `ty` whose raw bytes are in `packed`
/// (whatever holds them): `out [rows, cols]` = its rows `row0 .. row0 + rows`. The caller has
/// checked the range; `quad` needs `cols % 4 == 0`.
pub(crate) fn record(
    rec: &Recorder,
    ty: GgmlType,
    packed: BufRef,
    (row0, rows, cols): (usize, usize, usize),
    out: &mut GpuTensor,
    quad: bool,
) -> Result<()> {
    let Some(kernel) = kernels::dequant_rows(ty) else {
        return Err(Error::param(OP, format!("no kernel reads {ty}")));
    };
    if quad && !cols.is_multiple_of(4) {
        return Err(Error::param(
            OP,
            format!("4 values at a time need a multiple of 4 columns, not {cols}"),
        ));
    }
    let n = rows * cols;
    let params = Params {
        n: u32_of(OP, "n", n)?,
        first: u32_of(OP, "first element", row0 * cols)?,
        quad: u32::from(quad),
    };
    let invocations = if quad { n / 4 } else { n };
    rec.dispatch(
        kernel,
        &[],
        &params,
        &[packed, out.bref()],
        grid_256(OP, invocations)?,
    )
}
