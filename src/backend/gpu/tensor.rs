//! The GPU backend's tensors and id vectors: a storage buffer (or a byte range of a shared one,
//! see `group_kernel`, or row blocks over several buffers, see `split.rs`) with the id the
//! caches and the ledger know it by.
use super::ledger::DeadList;
use super::recorder::BufRef;
use crate::backend::{Format, IdsInfo, Shape, TensorInfo};
use crate::error::Result;

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

impl super::GpuBackend {
    /// `Backend::group` on the GPU: the tensors become 256-byte-aligned ranges of one new
    /// buffer (returned), their values copied over.
    pub(super) fn group_tensors(
        &self,
        tensors: &mut [&mut GpuTensor],
    ) -> Result<Option<GpuTensor>> {
        super::split::refuse_blocks("group", &tensors.iter().map(|t| &**t).collect::<Vec<_>>())?;
        // Each tensor starts at a multiple of 256 bytes: the largest storage-binding offset
        // alignment WebGPU allows, so every adapter's, and the same layout on every adapter.
        let limits = self.rec.ctx.device.limits();
        let align = u64::from(limits.min_storage_buffer_offset_alignment).max(256);
        let mut offsets = Vec::with_capacity(tensors.len());
        let mut end = 0u64;
        for t in tensors.iter() {
            let start = end.next_multiple_of(align);
            offsets.push(start);
            end = start + t.shape.numel() as u64 * 4;
        }
        let elements = usize::try_from(end.next_multiple_of(align) / 4).map_err(|_| {
            crate::error::Error::param("group", "the tensors do not fit one buffer")
        })?;
        let flat = self.new_tensor(&[elements], None)?;
        self.rec.with_encoder(|enc| {
            for (t, &o) in tensors.iter().zip(&offsets) {
                let bytes = t.shape.numel() as u64 * 4;
                if bytes > 0 {
                    enc.copy_buffer_to_buffer(&t.buf, t.offset(), &flat.buf, o, bytes);
                }
            }
        });
        for (t, o) in tensors.iter_mut().zip(offsets) {
            let bytes = t.shape.numel() as u64 * 4;
            if bytes == 0 {
                continue; // an empty binding is invalid: it stays on its own
            }
            **t = GpuTensor {
                buf: flat.buf.clone(),
                id: self.rec.ledger.next_id(),
                range: Some((o, bytes)),
                shape: t.shape.clone(),
                format: Format::F32,
                dead: self.rec.dead.clone(),
                parts: Vec::new(),
            };
        }
        Ok(Some(flat))
    }
}
