//! The f32 `model.safetensors` of a GGUF import as a [`ByteSource`] computed on demand: the
//! header is laid out once, and each byte range is made by dequantizing the tensors it covers
//! (a tensor read in part is kept for the next read; one read whole, as the loader reads, is
//! not, so no tensor outlives its read). The same bytes [`GgufModel::write_to`] writes, without
//! ever holding the whole f32 file: the command line trains a `.gguf` this way. Matrices of the
//! block types the backends read (and F16/BF16) are also offered as stored
//! ([`ByteSource::stored_format`]), and the loader keeps them packed.
use super::import::{GgufModel, WEIGHTS};
use crate::error::{Error, Result};
use crate::export::safetensors_writer::SafetensorsWriter;
use crate::model::ByteSource;
use std::cell::RefCell;
use std::rc::Rc;

/// One tensor's bytes in the file: `[start, end)` and its Hugging Face name.
struct Span {
    start: u64,
    end: u64,
    name: String,
}

/// `model.safetensors` of `model`, read by ranges.
pub struct ImportedWeights<S: ByteSource> {
    model: Rc<GgufModel<S>>,
    name: String,
    /// 8-byte length + padded JSON.
    header: Vec<u8>,
    /// In file order.
    spans: Vec<Span>,
    len: u64,
    /// The last tensor read in part: its index in `spans` and its values.
    last: RefCell<Option<(usize, Rc<Vec<f32>>)>>,
}

impl<S: ByteSource> ImportedWeights<S> {
    /// Lays out the file (no tensor is read yet).
    pub fn new(model: Rc<GgufModel<S>>) -> Result<Self> {
        let mut writer = SafetensorsWriter::new(WEIGHTS, model.headers())?;
        let mut header = Vec::new();
        writer.write_header(&mut header)?;
        let mut spans = Vec::with_capacity(writer.order().len());
        let mut at = header.len() as u64;
        for t in writer.order() {
            let end = at + t.byte_len();
            spans.push(Span {
                start: at,
                end,
                name: t.name.clone(),
            });
            at = end;
        }
        let name = format!("{WEIGHTS} (imported from {})", model.file.file);
        Ok(ImportedWeights {
            model,
            name,
            header,
            spans,
            len: writer.file_len(),
            last: RefCell::new(None),
        })
    }

    /// The values of tensor `i`, from the cache or dequantized now (and cached unless
    /// `whole`: the read takes all of it).
    fn values(&self, i: usize, whole: bool) -> Result<Rc<Vec<f32>>> {
        if let Some((j, values)) = &*self.last.borrow()
            && *j == i
        {
            return Ok(values.clone());
        }
        let values = Rc::new(self.model.tensor_f32(&self.spans[i].name)?);
        *self.last.borrow_mut() = (!whole).then(|| (i, values.clone()));
        Ok(values)
    }
}

impl<S: ByteSource> ByteSource for ImportedWeights<S> {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> u64 {
        self.len
    }
    /// The GGUF tensor's own blocks, when the backends read its type (see
    /// [`GgufModel::stored_format`]): a weight is then never dequantized to load it.
    fn stored_format(&self, tensor: &str) -> Option<crate::backend::Format> {
        self.model.stored_format(tensor)
    }
    fn read_stored(&self, tensor: &str) -> Result<Vec<u8>> {
        self.model.tensor_stored(tensor)
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                Error::input(
                    &self.name,
                    format!(
                        "reading {len} bytes at offset {offset} runs past the end ({} bytes)",
                        self.len
                    ),
                )
            })?;
        let mut out = Vec::with_capacity(len);
        let hlen = self.header.len() as u64;
        if offset < hlen {
            out.extend_from_slice(&self.header[offset as usize..end.min(hlen) as usize]);
        }
        let first = self.spans.partition_point(|s| s.end <= offset);
        for (i, s) in self.spans.iter().enumerate().skip(first) {
            if s.start >= end {
                break;
            }
            let (a, b) = (offset.max(s.start) - s.start, end.min(s.end) - s.start);
            let values = self.values(i, a == 0 && b == s.end - s.start)?;
            extend_le_bytes(&mut out, &values, a as usize, b as usize);
        }
        Ok(out)
    }
}

/// Appends bytes `a..b` of `values` as little-endian f32s.
fn extend_le_bytes(out: &mut Vec<u8>, values: &[f32], a: usize, b: usize) {
    let (first, last) = (a / 4, b.div_ceil(4));
    for (k, v) in values[first..last].iter().enumerate() {
        let at = (first + k) * 4;
        let bytes = v.to_le_bytes();
        let (from, to) = (a.saturating_sub(at).min(4), (b - at).min(4));
        out.extend_from_slice(&bytes[from..to]);
    }
}
