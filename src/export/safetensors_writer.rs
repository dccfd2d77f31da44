//! Writing safetensors files as a stream, one tensor at a time (the write-side counterpart of
//! [`crate::model::safetensors`]): host memory stays near the size of one tensor.
//!
//! The bytes are those the reference writer (`safetensors.serialize`) produces for the same
//! tensors: tensors ordered by descending dtype alignment, then by name; a header of
//! `{"__metadata__": {"format": "pt"}, name: {dtype, shape, data_offsets}, …}` padded with spaces
//! to a multiple of 8 bytes; then each tensor's little-endian data. f32 values are stored in the
//! tensor's dtype with round-to-nearest-even (F16, BF16), as `torch.Tensor.to` does.
use super::target::ByteSink;
use crate::error::{Error, Result};
use safetensors::Dtype;
use safetensors::tensor::{Metadata, TensorInfo};
use std::collections::HashMap;

/// The dtypes an export writes.
pub const WRITABLE_DTYPES: &[Dtype] = &[Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F64];

/// Values converted per chunk (bounds the scratch buffer, not the tensor size).
const CHUNK: usize = 1 << 16;

/// A tensor as the header describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorHeader {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl TensorHeader {
    pub fn new(name: impl Into<String>, dtype: Dtype, shape: &[usize]) -> Self {
        TensorHeader {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
        }
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// Bytes of data.
    pub fn byte_len(&self) -> u64 {
        self.numel() as u64 * (self.dtype.bitsize() / 8) as u64
    }
}

/// A safetensors file being written: the header is fixed up front, then each tensor's values
/// are pushed in [`SafetensorsWriter::order`].
pub struct SafetensorsWriter {
    file: String,
    order: Vec<TensorHeader>,
    /// 8-byte length + padded JSON.
    header: Vec<u8>,
    data_len: u64,
    /// Index into `order` of the next tensor to write; `None` before the header.
    next: Option<usize>,
    scratch: Vec<u8>,
}

impl SafetensorsWriter {
    /// Lays out `tensors` (names unique, dtypes in [`WRITABLE_DTYPES`]) for the file `file`
    /// (named in errors).
    pub fn new(file: &str, mut tensors: Vec<TensorHeader>) -> Result<Self> {
        let bad = |m: String| Error::input(file, m);
        tensors.sort_by(|a, b| b.dtype.cmp(&a.dtype).then_with(|| a.name.cmp(&b.name)));
        for pair in tensors.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(bad(format!("tensor `{}` is listed twice", pair[0].name)));
            }
        }
        let mut infos = Vec::with_capacity(tensors.len());
        let mut offset = 0usize;
        for t in &tensors {
            if !WRITABLE_DTYPES.contains(&t.dtype) {
                return Err(bad(format!(
                    "tensor `{}`: cannot write dtype {:?} (writable: {WRITABLE_DTYPES:?})",
                    t.name, t.dtype
                )));
            }
            let len = usize::try_from(t.byte_len())
                .map_err(|_| bad(format!("tensor `{}` is too large", t.name)))?;
            infos.push((
                t.name.clone(),
                TensorInfo {
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    data_offsets: (offset, offset + len),
                },
            ));
            offset += len;
        }
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        let metadata = Metadata::new(Some(meta), infos)
            .map_err(|e| bad(format!("invalid tensor layout: {e}")))?;
        let mut json = serde_json::to_vec(&metadata)
            .map_err(|e| bad(format!("cannot encode the header: {e}")))?;
        json.resize(json.len().next_multiple_of(8), b' ');
        let mut header = (json.len() as u64).to_le_bytes().to_vec();
        header.extend_from_slice(&json);
        Ok(SafetensorsWriter {
            file: file.to_string(),
            order: tensors,
            header,
            data_len: offset as u64,
            next: None,
            scratch: Vec::new(),
        })
    }

    /// The tensors in the order their data must be written.
    pub fn order(&self) -> &[TensorHeader] {
        &self.order
    }

    /// Bytes of tensor data (the shard index's `total_size` adds these up).
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Size of the whole file.
    pub fn file_len(&self) -> u64 {
        self.header.len() as u64 + self.data_len
    }

    /// The tensor whose values [`SafetensorsWriter::write_f32`] expects next.
    pub fn next_tensor(&self) -> Option<&TensorHeader> {
        self.order.get(self.next.unwrap_or(0))
    }

    /// Writes the header; must come first.
    pub fn write_header(&mut self, sink: &mut impl ByteSink) -> Result<()> {
        if self.next.is_some() {
            return Err(Error::input(&self.file, "the header was already written"));
        }
        sink.write_all(&self.header)?;
        self.next = Some(0);
        Ok(())
    }

    /// Writes the values of the next tensor (`name` must be [`SafetensorsWriter::next_tensor`]),
    /// converted to its dtype. A value that is not finite, or that the dtype cannot hold, is
    /// refused with an error naming the tensor and the index.
    pub fn write_f32(&mut self, sink: &mut impl ByteSink, name: &str, data: &[f32]) -> Result<()> {
        let i = self
            .next
            .ok_or_else(|| Error::input(&self.file, "write the header before tensor data"))?;
        let t = self.order.get(i).ok_or_else(|| {
            Error::input(
                &self.file,
                format!("tensor `{name}` was written after every listed tensor"),
            )
        })?;
        if t.name != name {
            return Err(Error::input(
                &self.file,
                format!(
                    "tensor `{name}` was written where `{}` comes next in the file",
                    t.name
                ),
            ));
        }
        if data.len() != t.numel() {
            return Err(Error::input(
                &self.file,
                format!(
                    "tensor `{name}` has {} values, but its shape {:?} needs {}",
                    data.len(),
                    t.shape,
                    t.numel()
                ),
            ));
        }
        for (c, chunk) in data.chunks(CHUNK).enumerate() {
            encode(t.dtype, chunk, &mut self.scratch).map_err(|(j, v)| {
                Error::input(
                    &self.file,
                    format!(
                        "tensor `{name}`: value {v} at index {} cannot be exported as {:?}{}",
                        c * CHUNK + j,
                        t.dtype,
                        if v.is_finite() {
                            " (out of range)"
                        } else {
                            " (not finite: training diverged?)"
                        }
                    ),
                )
            })?;
            sink.write_all(&self.scratch)?;
        }
        self.next = Some(i + 1);
        Ok(())
    }

    /// Checks that every tensor was written.
    pub fn finish(self) -> Result<()> {
        let done = self.next.unwrap_or(0);
        match self.order.get(done) {
            None if self.next.is_some() => Ok(()),
            None => Err(Error::input(&self.file, "the header was never written")),
            Some(t) => Err(Error::input(
                &self.file,
                format!(
                    "incomplete: tensor `{}` and {} more were never written",
                    t.name,
                    self.order.len() - done - 1
                ),
            )),
        }
    }
}

/// Writes a whole safetensors file to `sink`, asking `pull` for each tensor's values in file
/// order (so only one tensor is held at a time).
pub fn write_safetensors(
    file: &str,
    sink: &mut impl ByteSink,
    tensors: Vec<TensorHeader>,
    mut pull: impl FnMut(&TensorHeader) -> Result<Vec<f32>>,
) -> Result<()> {
    let mut w = SafetensorsWriter::new(file, tensors)?;
    w.write_header(sink)?;
    for i in 0..w.order().len() {
        let t = w.order()[i].clone();
        let data = pull(&t)?;
        w.write_f32(sink, &t.name, &data)?;
    }
    w.finish()
}

/// `values` as little-endian `dtype` bytes (one of [`WRITABLE_DTYPES`]) into `out` (cleared
/// first). On a value that is not finite, or finite but beyond the dtype's range, returns its
/// index and value.
fn encode(
    dtype: Dtype,
    values: &[f32],
    out: &mut Vec<u8>,
) -> std::result::Result<(), (usize, f32)> {
    out.clear();
    let bad = values.iter().position(|v| !v.is_finite());
    if let Some(j) = bad {
        return Err((j, values[j]));
    }
    match dtype {
        Dtype::F16 => {
            for (j, &v) in values.iter().enumerate() {
                let h = half::f16::from_f32(v);
                if h.is_infinite() {
                    return Err((j, v));
                }
                out.extend_from_slice(&h.to_le_bytes());
            }
        }
        Dtype::BF16 => {
            for (j, &v) in values.iter().enumerate() {
                let h = half::bf16::from_f32(v);
                if h.is_infinite() {
                    return Err((j, v));
                }
                out.extend_from_slice(&h.to_le_bytes());
            }
        }
        Dtype::F64 => values
            .iter()
            .for_each(|&v| out.extend_from_slice(&f64::from(v).to_le_bytes())),
        _ => values
            .iter()
            .for_each(|&v| out.extend_from_slice(&v.to_le_bytes())),
    }
    Ok(())
}
