//! An [`ExportTarget`] whose files become browser `Blob`s: bytes leave wasm memory in 8 MiB
//! parts as they are written, so a model imported from a GGUF file in the worker costs one
//! tensor of wasm memory, not the whole f32 checkpoint.
use crate::error::{Error, Result};
use crate::export::target::{ByteSink, ExportTarget, check_file_name};
use crate::model::load::BlobFiles;

const PART: usize = 8 << 20;

/// Finished files, as `Blob`s by name.
#[derive(Default)]
pub struct BlobTarget {
    files: BlobFiles,
}

/// One file being written: full parts already copied out, the rest buffered.
pub struct BlobSink {
    name: String,
    parts: js_sys::Array,
    buf: Vec<u8>,
}

impl BlobSink {
    fn spill(&mut self) {
        if !self.buf.is_empty() {
            self.parts
                .push(&js_sys::Uint8Array::from(self.buf.as_slice()));
            self.buf.clear();
        }
    }
}

impl ByteSink for BlobSink {
    fn write_all(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let take = (PART - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == PART {
                self.spill();
            }
        }
        Ok(())
    }
}

impl BlobTarget {
    /// The finished files, ready to load as a model folder.
    pub fn into_files(self) -> BlobFiles {
        self.files
    }
}

impl ExportTarget for BlobTarget {
    type File = BlobSink;
    fn create(&mut self, name: &str) -> Result<BlobSink> {
        check_file_name(name)?;
        Ok(BlobSink {
            name: name.to_string(),
            parts: js_sys::Array::new(),
            buf: Vec::with_capacity(PART.min(1 << 16)),
        })
    }
    fn finish(&mut self, mut file: BlobSink) -> Result<()> {
        file.spill();
        let blob = web_sys::Blob::new_with_u8_array_sequence(&file.parts).map_err(|e| {
            Error::input(&file.name, format!("the browser refused the file: {e:?}"))
        })?;
        self.files.insert(file.name, blob);
        Ok(())
    }
}
