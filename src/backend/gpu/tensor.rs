//! The GPU backend's tensors and id vectors: a storage buffer (or a byte range of a shared one,
//! see `group_kernel`) with the id the caches and the ledger know it by.
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
}

impl GpuTensor {
    pub(crate) fn bref(&self) -> BufRef<'_> {
        BufRef {
            id: self.id,
            buf: &self.buf,
            range: self.range,
        }
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
        BufRef {
            id: self.id,
            buf: &self.buf,
            range: None,
        }
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
