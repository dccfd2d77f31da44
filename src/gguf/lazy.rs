//! The f32 `model.safetensors` of a GGUF import as a [`ByteSource`] computed on demand: the
//! header is laid out once, and each byte range is made by dequantizing the tensors it covers
//! (the last one kept for the next read). The same bytes [`GgufModel::write_to`] writes, without
//! ever holding the whole f32 file: the command line trains a `.gguf` this way.
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
    /// The last tensor made: its index in `spans` and its little-endian f32 bytes.
    last: RefCell<Option<(usize, Rc<Vec<u8>>)>>,
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

    /// The bytes of tensor `i`, from the cache or dequantized now.
    fn tensor_bytes(&self, i: usize) -> Result<Rc<Vec<u8>>> {
        if let Some((j, bytes)) = &*self.last.borrow()
            && *j == i
        {
            return Ok(bytes.clone());
        }
        let values = self.model.tensor_f32(&self.spans[i].name)?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = Rc::new(bytes);
        *self.last.borrow_mut() = Some((i, bytes.clone()));
        Ok(bytes)
    }
}

impl<S: ByteSource> ByteSource for ImportedWeights<S> {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> u64 {
        self.len
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
            let bytes = self.tensor_bytes(i)?;
            let (a, b) = (offset.max(s.start) - s.start, end.min(s.end) - s.start);
            out.extend_from_slice(&bytes[a as usize..b as usize]);
        }
        Ok(out)
    }
}
