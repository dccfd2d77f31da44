//! Random-access byte sources that weights are streamed from: a native file, a buffer in memory,
//! or (in a browser worker) a `File`/`Blob` read slice by slice with `FileReaderSync`.
//! Reading one tensor at a time keeps host memory near the size of the largest tensor.
use crate::error::{Error, Result};

/// A file-like source of bytes, read by ranges.
pub trait ByteSource {
    /// Name for error messages (the file name).
    fn name(&self) -> &str;
    /// Total size in bytes.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Exactly `len` bytes from `offset`; a range past the end is an error naming the file.
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>>;
    /// For a source that makes a safetensors file from another file (a GGUF import,
    /// [`crate::gguf::ImportedWeights`]): the packed format tensor `tensor` is stored in there,
    /// when the backends can hold it as stored (GGUF blocks, f16, bf16). `None` otherwise: read
    /// the tensor through the safetensors bytes.
    fn stored_format(&self, _tensor: &str) -> Option<crate::backend::Format> {
        None
    }
    /// The stored bytes of a tensor [`ByteSource::stored_format`] names (row-major, each row
    /// whole blocks, in Hugging Face row order).
    fn read_stored(&self, tensor: &str) -> Result<Vec<u8>> {
        Err(Error::input(
            self.name(),
            format!("tensor `{tensor}` has no stored form besides its safetensors bytes"),
        ))
    }
}

/// Checks that `offset .. offset + len` lies within a source of `size` bytes.
fn check_range(name: &str, size: u64, offset: u64, len: usize) -> Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::input(
            name,
            format!(
                "truncated: reading {len} bytes at offset {offset} runs past the end of the file ({size} bytes)"
            ),
        )),
    }
}

/// A boxed source (a model whose files come from different places: a folder, or a GGUF file
/// imported into memory).
impl ByteSource for Box<dyn ByteSource> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        (**self).read_at(offset, len)
    }
    fn stored_format(&self, tensor: &str) -> Option<crate::backend::Format> {
        (**self).stored_format(tensor)
    }
    fn read_stored(&self, tensor: &str) -> Result<Vec<u8>> {
        (**self).read_stored(tensor)
    }
}

/// Bytes held in memory (tests, small files, a browser `ArrayBuffer` already read, a GGUF
/// imported on the command line), shared rather than copied when opened again.
pub struct MemorySource {
    name: String,
    bytes: std::sync::Arc<Vec<u8>>,
}

impl MemorySource {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self::shared(name, std::sync::Arc::new(bytes))
    }
    /// A source over bytes that others hold too (no copy).
    pub fn shared(name: impl Into<String>, bytes: std::sync::Arc<Vec<u8>>) -> Self {
        MemorySource {
            name: name.into(),
            bytes,
        }
    }
}

impl ByteSource for MemorySource {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        check_range(&self.name, self.len(), offset, len)?;
        let start = offset as usize;
        Ok(self.bytes[start..start + len].to_vec())
    }
}

/// A native file, read with positioned reads.
#[cfg(not(target_arch = "wasm32"))]
pub struct FileSource {
    name: String,
    file: std::cell::RefCell<std::fs::File>,
    size: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource {
    /// Opens `path`; errors name it.
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::input(&name, format!("cannot open: {e}")))?;
        let size = file
            .metadata()
            .map_err(|e| Error::input(&name, format!("cannot read its size: {e}")))?
            .len();
        Ok(FileSource {
            name,
            file: std::cell::RefCell::new(file),
            size,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        check_range(&self.name, self.size, offset, len)?;
        let mut file = self.file.borrow_mut();
        let mut buf = vec![0u8; len];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| Error::input(&self.name, format!("read error at offset {offset}: {e}")))?;
        Ok(buf)
    }
}

/// A browser `Blob` (a dropped `File`), read synchronously slice by slice with `FileReaderSync`
/// (available in dedicated workers, where the engine runs).
#[cfg(target_arch = "wasm32")]
pub struct BlobSource {
    name: String,
    blob: web_sys::Blob,
    reader: web_sys::FileReaderSync,
}

#[cfg(target_arch = "wasm32")]
impl BlobSource {
    pub fn new(name: impl Into<String>, blob: web_sys::Blob) -> Result<Self> {
        let name = name.into();
        let reader = web_sys::FileReaderSync::new().map_err(|e| {
            Error::input(
                &name,
                format!("cannot read files here (FileReaderSync needs a worker): {e:?}"),
            )
        })?;
        Ok(BlobSource { name, blob, reader })
    }
}

#[cfg(target_arch = "wasm32")]
impl ByteSource for BlobSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> u64 {
        self.blob.size() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        check_range(&self.name, self.len(), offset, len)?;
        let end = offset + len as u64;
        let read = || -> std::result::Result<Vec<u8>, wasm_bindgen::JsValue> {
            let slice = self
                .blob
                .slice_with_f64_and_f64(offset as f64, end as f64)?;
            let buf = self.reader.read_as_array_buffer(&slice)?;
            Ok(js_sys::Uint8Array::new(&buf).to_vec())
        };
        let bytes = read().map_err(|e| {
            Error::input(&self.name, format!("read error at offset {offset}: {e:?}"))
        })?;
        if bytes.len() != len {
            return Err(Error::input(
                &self.name,
                format!(
                    "read {} bytes at offset {offset}, expected {len}",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }
}
