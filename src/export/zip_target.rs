//! An export written straight into a zip archive ([`ZipTarget`]), streamed: each file's bytes go
//! through the zip writer into any `std::io::Write` as they are produced (the browser forwards
//! them to the page in chunks), so no exported file is ever held whole. Entries are stored
//! (safetensors do not compress), sizes and CRCs follow each entry in a data descriptor, and
//! `.safetensors` entries carry zip64 sizes so shards over 4 GiB work. Entries are dated when the
//! archive is made (UTC, the clock of the machine or browser; zip's own default is 1980-01-01).
use super::target::{ByteSink, ExportTarget, check_file_name};
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

type Shared<W> = Rc<RefCell<Option<ZipWriter<StreamWriter<W>>>>>;

/// A zip archive being written to `W`; [`ZipTarget::finish_archive`] writes the central
/// directory and returns `W`.
pub struct ZipTarget<W: Write> {
    /// The archive's name in error messages.
    name: String,
    zip: Shared<W>,
    /// The file started and not yet finished, if any.
    open: Option<String>,
    files: Vec<String>,
    /// The date of every entry.
    modified: zip::DateTime,
}

/// `unix` seconds (UTC) as a zip date; 1980-01-01 (zip's earliest) before 1980 or past 2107.
pub fn zip_date(unix: i64) -> zip::DateTime {
    let (y, m, d) = crate::data::strftime::civil(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    u16::try_from(y)
        .ok()
        .and_then(|y| {
            zip::DateTime::from_date_and_time(y, m as u8, d as u8, h as u8, mi as u8, s as u8).ok()
        })
        .unwrap_or_default()
}

/// One entry of a [`ZipTarget`] being written.
pub struct ZipFile<W: Write> {
    archive: String,
    entry: String,
    zip: Shared<W>,
}

fn zip_error(archive: &str, entry: &str, e: impl std::fmt::Display) -> Error {
    if entry.is_empty() {
        Error::input(archive, format!("zip write error: {e}"))
    } else {
        Error::input(archive, format!("zip write error in {entry}: {e}"))
    }
}

impl<W: Write> ZipTarget<W> {
    /// A new archive called `name` (in errors) written to `out`.
    pub fn new(name: impl Into<String>, out: W) -> Self {
        ZipTarget {
            name: name.into(),
            zip: Rc::new(RefCell::new(Some(ZipWriter::new_stream(out)))),
            open: None,
            files: Vec::new(),
            modified: zip_date(crate::data::strftime::unix_now()),
        }
    }

    /// Dates every entry at `unix` seconds (UTC) instead of now.
    pub fn dated(mut self, unix: i64) -> Self {
        self.modified = zip_date(unix);
        self
    }

    /// Entry names, in the order they were finished.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Writes the central directory and hands back the writer (flushed).
    pub fn finish_archive(self) -> Result<W> {
        if let Some(open) = &self.open {
            return Err(zip_error(&self.name, open, "the entry was never finished"));
        }
        let zip = self
            .zip
            .borrow_mut()
            .take()
            .ok_or_else(|| zip_error(&self.name, "", "the archive was already finished"))?;
        let mut out = zip
            .finish()
            .map_err(|e| zip_error(&self.name, "", e))?
            .into_inner();
        out.flush().map_err(|e| zip_error(&self.name, "", e))?;
        Ok(out)
    }
}

impl<W: Write> ByteSink for ZipFile<W> {
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let mut zip = self.zip.borrow_mut();
        let zip = zip
            .as_mut()
            .ok_or_else(|| zip_error(&self.archive, &self.entry, "the archive is finished"))?;
        zip.write_all(bytes)
            .map_err(|e| zip_error(&self.archive, &self.entry, e))
    }
}

impl<W: Write> ExportTarget for ZipTarget<W> {
    type File = ZipFile<W>;
    fn create(&mut self, name: &str) -> Result<ZipFile<W>> {
        check_file_name(name)?;
        if let Some(open) = &self.open {
            return Err(zip_error(
                &self.name,
                name,
                format!("{open} is still being written"),
            ));
        }
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(name.ends_with(".safetensors"))
            .unix_permissions(0o644)
            .last_modified_time(self.modified);
        let mut zip = self.zip.borrow_mut();
        zip.as_mut()
            .ok_or_else(|| zip_error(&self.name, name, "the archive is finished"))?
            .start_file(name, options)
            .map_err(|e| zip_error(&self.name, name, e))?;
        self.open = Some(name.to_string());
        Ok(ZipFile {
            archive: self.name.clone(),
            entry: name.to_string(),
            zip: self.zip.clone(),
        })
    }
    fn finish(&mut self, file: ZipFile<W>) -> Result<()> {
        if self.open.as_deref() != Some(file.entry.as_str()) {
            return Err(zip_error(&self.name, &file.entry, "is not the open entry"));
        }
        self.open = None;
        self.files.push(file.entry);
        Ok(())
    }
}
