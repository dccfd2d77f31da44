//! The GPU backend's tensors and id vectors: a storage buffer (or a byte range of a shared one,
//! see `group_kernel`, or row blocks over several buffers, see `split.rs`) with the id the
//! caches and the ledger know it by.
use super::ledger::DeadList;
use super::recorder::BufRef;
use crate::backend::{Format, IdsInfo, Shape, TensorInfo};

/// A tensor in a GPU storage buffer: f32, or a frozen weight packed in its stored format (two
/// f16/bf16 values per u32, unpacked by the kernels that accept it).
pub struct GpuTensor {
    pub(super) buf: wgpu::Buffer,
    pub(super) id: u64,
    /// `(offset, size)` in bytes when the tensor is a range of a shared buffer (see
    /// `group_kernel`); `None`: the whole buffer.
    pub(super) range: Option<(u64, u64)>,
    pub(super) shape: Shape,
    pub(super) format: Format,
    pub(super) dead: DeadList,
    /// Row blocks `[rows_i, cols]` in order, each in its own buffer, when the matrix is larger
    /// than one storage binding (see `split.rs`); `buf` is then a 4-byte placeholder that no
    /// kernel binds. Empty: the tensor is `buf` itself.
    pub(super) parts: Vec<GpuTensor>,
}

impl GpuTensor {
    pub(crate) fn bref(&self) -> BufRef<'_> {
        BufRef {
            id: self.id,
            buf: &self.buf,
            range: self.range,
            split: !self.parts.is_empty(),
        }
    }
    /// Whether the tensor is held in row blocks over several buffers.
    pub(crate) fn is_split(&self) -> bool {
        !self.parts.is_empty()
    }
    /// Byte offset of the tensor in its buffer.
    pub(crate) fn offset(&self) -> u64 {
        self.range.map_or(0, |(o, _)| o)
    }
}

impl TensorInfo for GpuTensor {
    fn shape(&self) -> &Shape {
        &self.shape
    }
    fn set_shape(&mut self, shape: Shape) {
        self.shape = shape;
    }
    fn format(&self) -> Format {
        self.format
    }
}

impl Drop for GpuTensor {
    fn drop(&mut self) {
        self.dead.borrow_mut().push(self.id);
    }
}

/// A u32 vector in a GPU storage buffer.
pub struct GpuIds {
    pub(super) buf: wgpu::Buffer,
    pub(super) id: u64,
    pub(super) len: usize,
    pub(super) dead: DeadList,
}

impl GpuIds {
    pub(crate) fn bref(&self) -> BufRef<'_> {
        BufRef::whole(self.id, &self.buf)
    }
}

impl IdsInfo for GpuIds {
    fn len(&self) -> usize {
        self.len
    }
}

impl Drop for GpuIds {
    fn drop(&mut self) {
        self.dead.borrow_mut().push(self.id);
    }
}
