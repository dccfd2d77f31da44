//! An export of one file streamed into any `std::io::Write` ([`StreamTarget`]): the GGUF the
//! page downloads goes through it to the worker in chunks, so the file is never held whole.
//! A second file is refused (a GGUF export writes exactly one).
use super::target::{ByteSink, ExportTarget, check_file_name};
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// One file written to `W`; [`StreamTarget::into_inner`] returns `W` and the bytes sent.
pub struct StreamTarget<W: Write> {
    out: Rc<RefCell<(W, u64)>>,
    /// The file's name once created.
    name: Option<String>,
    finished: bool,
}

/// The file of a [`StreamTarget`] being written.
pub struct StreamFile<W: Write> {
    name: String,
    out: Rc<RefCell<(W, u64)>>,
}

impl<W: Write> StreamTarget<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: Rc::new(RefCell::new((out, 0))),
            name: None,
            finished: false,
        }
    }

    /// `W` and the number of bytes written to it; an error when the file was not finished.
    pub fn into_inner(self) -> Result<(W, u64)> {
        let name = self.name.unwrap_or_default();
        if !self.finished {
            return Err(Error::input(
                name,
                "the export ended before its file was finished",
            ));
        }
        let cell = Rc::try_unwrap(self.out)
            .map_err(|_| Error::input(name, "the file is still being written"))?;
        Ok(cell.into_inner())
    }
}

impl<W: Write> ByteSink for StreamFile<W> {
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let mut out = self.out.borrow_mut();
        out.0
            .write_all(bytes)
            .map_err(|e| Error::input(self.name.as_str(), format!("write error: {e}")))?;
        out.1 += bytes.len() as u64;
        Ok(())
    }
}

impl<W: Write> ExportTarget for StreamTarget<W> {
    type File = StreamFile<W>;

    fn create(&mut self, name: &str) -> Result<StreamFile<W>> {
        check_file_name(name)?;
        if let Some(first) = &self.name {
            return Err(Error::input(
                name,
                format!("a streamed export holds one file ({first} is written)"),
            ));
        }
        self.name = Some(name.to_string());
        Ok(StreamFile {
            name: name.to_string(),
            out: Rc::clone(&self.out),
        })
    }

    fn finish(&mut self, file: StreamFile<W>) -> Result<()> {
        self.out
            .borrow_mut()
            .0
            .flush()
            .map_err(|e| Error::input(file.name.as_str(), format!("write error: {e}")))?;
        self.finished = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_streams_and_a_second_is_refused() {
        let mut t = StreamTarget::new(Vec::new());
        let mut f = t.create("m.gguf").unwrap();
        f.write_all(b"GGUF").unwrap();
        f.write_all(&[3, 0]).unwrap();
        assert!(t.create("other.gguf").is_err());
        t.finish(f).unwrap();
        let (bytes, n) = t.into_inner().unwrap();
        assert_eq!((bytes, n), (b"GGUF\x03\x00".to_vec(), 6));
    }

    #[test]
    fn an_unfinished_file_is_an_error() {
        let mut t = StreamTarget::new(Vec::new());
        let mut f = t.create("m.gguf").unwrap();
        f.write_all(b"GG").unwrap();
        drop(f);
        assert!(t.into_inner().is_err());
        assert!(StreamTarget::new(Vec::new()).create("../x").is_err());
    }
}
