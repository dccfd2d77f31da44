//! Where an export goes: a [`ByteSink`] receives one file's bytes in order, an [`ExportTarget`]
//! creates named files (a directory natively, a map in memory for tests and the browser, later a
//! stream the page zips). Files are written front to back, one at a time, so nothing needs to
//! hold a whole file.
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Receives the bytes of one file, in order.
pub trait ByteSink {
    /// Appends `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> Result<()>;
}

impl ByteSink for Vec<u8> {
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Creates the files of an exported folder, one at a time: `create`, write the sink, `finish`.
pub trait ExportTarget {
    type File: ByteSink;
    /// Starts the file `name` (a plain file name, checked with [`check_file_name`]).
    fn create(&mut self, name: &str) -> Result<Self::File>;
    /// Completes a file started with `create`; only finished files count as written.
    fn finish(&mut self, file: Self::File) -> Result<()>;
}

/// Refuses names that are not a plain file name (empty, `.`/`..`, a path separator, a control
/// character): names come from user files (a shard index) and must not escape the folder.
pub fn check_file_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', ':'])
        || name.chars().any(char::is_control);
    if bad {
        return Err(Error::input(
            name,
            "is not a plain file name: an export only writes files directly inside its folder",
        ));
    }
    Ok(())
}

/// Writes one whole file from memory (small files: configs, tokenizers, the shard index).
pub fn write_file<T: ExportTarget + ?Sized>(out: &mut T, name: &str, bytes: &[u8]) -> Result<()> {
    let mut file = out.create(name)?;
    file.write_all(bytes)?;
    out.finish(file)
}

/// Exported files held in memory, by name.
#[derive(Clone, Debug, Default)]
pub struct MemoryTarget {
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A file of a [`MemoryTarget`] being written.
pub struct MemoryFile {
    name: String,
    bytes: Vec<u8>,
}

impl ByteSink for MemoryFile {
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

impl MemoryTarget {
    pub fn new() -> Self {
        Self::default()
    }
    /// The finished file `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }
    /// The files as a model folder that [`crate::model::Model::load`] reads, without copying.
    pub fn into_model_files(self) -> crate::model::MemoryFiles {
        let mut files = crate::model::MemoryFiles::new();
        for (name, bytes) in self.files {
            files.insert(name, bytes);
        }
        files
    }
    /// The files as a model folder that [`crate::model::Model::load`] reads.
    pub fn to_model_files(&self) -> crate::model::MemoryFiles {
        let mut files = crate::model::MemoryFiles::new();
        for (name, bytes) in &self.files {
            files.insert(name.clone(), bytes.clone());
        }
        files
    }
}

impl ExportTarget for MemoryTarget {
    type File = MemoryFile;
    fn create(&mut self, name: &str) -> Result<MemoryFile> {
        check_file_name(name)?;
        Ok(MemoryFile {
            name: name.to_string(),
            bytes: Vec::new(),
        })
    }
    fn finish(&mut self, file: MemoryFile) -> Result<()> {
        self.files.insert(file.name, file.bytes);
        Ok(())
    }
}

/// A directory on disk. Each file is written as `NAME.partial` and renamed when finished, so a
/// failed export never leaves a complete-looking truncated file.
#[cfg(not(target_arch = "wasm32"))]
pub struct DirTarget {
    pub dir: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl DirTarget {
    /// Creates `dir` (and its parents) when missing.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::input(dir.display().to_string(), format!("cannot create: {e}")))?;
        Ok(DirTarget { dir })
    }
}

/// A file of a [`DirTarget`] being written.
#[cfg(not(target_arch = "wasm32"))]
pub struct DirFile {
    partial: std::path::PathBuf,
    path: std::path::PathBuf,
    writer: std::io::BufWriter<std::fs::File>,
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSink for DirFile {
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        std::io::Write::write_all(&mut self.writer, bytes).map_err(|e| {
            Error::input(
                self.partial.display().to_string(),
                format!("write error: {e}"),
            )
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ExportTarget for DirTarget {
    type File = DirFile;
    fn create(&mut self, name: &str) -> Result<DirFile> {
        check_file_name(name)?;
        let path = self.dir.join(name);
        let partial = self.dir.join(format!("{name}.partial"));
        let file = std::fs::File::create(&partial).map_err(|e| {
            Error::input(partial.display().to_string(), format!("cannot create: {e}"))
        })?;
        Ok(DirFile {
            partial,
            path,
            writer: std::io::BufWriter::with_capacity(1 << 20, file),
        })
    }
    fn finish(&mut self, file: DirFile) -> Result<()> {
        let DirFile {
            partial,
            path,
            writer,
        } = file;
        let name = partial.display().to_string();
        let file = writer
            .into_inner()
            .map_err(|e| Error::input(&name, format!("write error: {}", e.error())))?;
        file.sync_all()
            .map_err(|e| Error::input(&name, format!("write error: {e}")))?;
        drop(file);
        std::fs::rename(&partial, &path)
            .map_err(|e| Error::input(&name, format!("cannot rename to {}: {e}", path.display())))
    }
}
