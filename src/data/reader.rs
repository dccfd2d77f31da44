//! Records out of a data file, read incrementally: JSON Lines (one object per line) or one JSON
//! array of objects, told apart by the first non-blank byte (`[` = array). Never holds more than
//! one record (at most `max_record_bytes`) plus one read chunk in memory, so files of any size
//! stream through. Every record carries the 1-based line it starts on. Blank lines are ignored;
//! invalid UTF-8, invalid JSON, non-object records and oversized records become `Err(reason)`
//! records, so one bad line never stops the file. A file that is not text at all (a NUL byte in
//! its first [`SNIFF_BYTES`], or a first byte that is not UTF-8: an image, an archive,
//! UTF-16) is one error, "not a text file", rather than a record per line.
use std::collections::VecDeque;
use std::io::Read;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// Default cap on one record's size: larger lines are skipped without being held in memory.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 8 << 20;
const CHUNK: usize = 64 << 10;
/// How much of a file's start is looked at to tell text from binary content.
pub const SNIFF_BYTES: usize = 8 << 10;

/// Why `start` (a file's first bytes) is not text: a NUL byte, or a first byte that is not
/// UTF-8. `None` for text (invalid UTF-8 later on is one bad record, not a binary file).
pub fn binary_reason(start: &[u8]) -> Option<String> {
    let start = &start[..start.len().min(SNIFF_BYTES)];
    if let Some(at) = start.iter().position(|&b| b == 0) {
        return Some(format!("byte {at} is a NUL byte"));
    }
    match std::str::from_utf8(start) {
        Err(e) if e.valid_up_to() == 0 && e.error_len().is_some() => {
            Some(format!("byte 0, 0x{:02x}, is not UTF-8", start[0]))
        }
        _ => None,
    }
}

/// How the file holds its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    JsonLines,
    JsonArray,
}

impl Container {
    pub fn name(self) -> &'static str {
        match self {
            Container::JsonLines => "JSON Lines",
            Container::JsonArray => "JSON array",
        }
    }
}

/// One record: its starting line and either the JSON object or why it is unusable.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub line: usize,
    pub value: std::result::Result<Map<String, Value>, String>,
}

/// Streams [`RawRecord`]s out of any reader (a file natively, `&[u8]` in wasm).
pub struct RecordReader<R> {
    src: R,
    scan: Scanner,
    out: VecDeque<RawRecord>,
    done: bool,
    buf: Vec<u8>,
    /// The file's first bytes until [`SNIFF_BYTES`] were seen (then checked and dropped).
    head: Option<Vec<u8>>,
}

impl<R: Read> RecordReader<R> {
    pub fn new(src: R, max_record_bytes: usize) -> Self {
        RecordReader {
            src,
            scan: Scanner::new(max_record_bytes.max(1)),
            out: VecDeque::new(),
            done: false,
            buf: vec![0; CHUNK],
            head: Some(Vec::new()),
        }
    }

    /// The container, known once the first non-blank byte was read (`None` for an empty file).
    pub fn container(&self) -> Option<Container> {
        self.scan.container
    }
}

impl<R> RecordReader<R> {
    /// Collects the file's first bytes; once [`SNIFF_BYTES`] (or the end, `end`) are there,
    /// an error when they are not text, which ends the file.
    fn sniff(&mut self, chunk: &[u8], end: bool) -> Option<Error> {
        let head = self.head.as_mut()?;
        head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES - head.len())]);
        if head.len() < SNIFF_BYTES && !end {
            return None;
        }
        let reason = binary_reason(head);
        self.head = None;
        let reason = reason?;
        self.done = true;
        self.out.clear();
        Some(Error::param(
            "dataset",
            format!(
                "not a text file ({reason}); a chat data file is UTF-8 text: JSON Lines or a JSON array"
            ),
        ))
    }
}

impl<'a> RecordReader<&'a [u8]> {
    /// Reads records from bytes already in memory (the browser path).
    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        Self::new(bytes, DEFAULT_MAX_RECORD_BYTES)
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<RawRecord>;

    fn next(&mut self) -> Option<Result<RawRecord>> {
        loop {
            if let Some(r) = self.out.pop_front() {
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            match self.src.read(&mut self.buf) {
                Ok(0) => {
                    if let Some(e) = self.sniff(&[], true) {
                        return Some(Err(e));
                    }
                    self.done = true;
                    self.scan.finish(&mut self.out);
                }
                Ok(n) => {
                    let chunk = std::mem::take(&mut self.buf);
                    let bad = self.sniff(&chunk[..n], false);
                    self.scan.feed(&chunk[..n], &mut self.out);
                    self.buf = chunk;
                    if let Some(e) = bad {
                        return Some(Err(e));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(Error::param("dataset", format!("read error: {e}"))));
                }
            }
        }
    }
}

/// Byte-level push scanner shared by both containers.
struct Scanner {
    max: usize,
    container: Option<Container>,
    /// Line of the next byte (1-based).
    line: usize,
    /// Bytes of the record being collected, and whether it outgrew `max`.
    cur: Vec<u8>,
    cur_len: usize,
    cur_line: usize,
    in_record: bool,
    // JSON-array state.
    depth: usize,
    in_string: bool,
    escape: bool,
    scalar: bool,
    array_closed: bool,
    broken: bool,
    at_start: usize,
}

impl Scanner {
    fn new(max: usize) -> Self {
        Scanner {
            max,
            container: None,
            line: 1,
            cur: Vec::new(),
            cur_len: 0,
            cur_line: 1,
            in_record: false,
            depth: 0,
            in_string: false,
            escape: false,
            scalar: false,
            array_closed: false,
            broken: false,
            at_start: 0,
        }
    }

    fn push(&mut self, b: u8) {
        if self.cur_len < self.max {
            self.cur.push(b);
        }
        self.cur_len += 1;
    }

    fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<RawRecord>) {
        for &b in chunk {
            match self.container {
                None => self.sniff(b, out),
                Some(Container::JsonLines) => self.lines_byte(b, out),
                Some(Container::JsonArray) => self.array_byte(b, out),
            }
            if b == b'\n' {
                self.line += 1;
            }
        }
    }

    /// Decides the container at the first byte that is not whitespace or a UTF-8 BOM.
    fn sniff(&mut self, b: u8, out: &mut VecDeque<RawRecord>) {
        const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
        if self.at_start < 3 && b == BOM[self.at_start] {
            self.at_start += 1;
            return;
        }
        self.at_start = 3;
        if b.is_ascii_whitespace() {
            return;
        }
        if b == b'[' {
            self.container = Some(Container::JsonArray);
        } else {
            self.container = Some(Container::JsonLines);
            self.lines_byte(b, out);
        }
    }

    fn lines_byte(&mut self, b: u8, out: &mut VecDeque<RawRecord>) {
        if b == b'\n' {
            self.end_line(out);
            return;
        }
        if !self.in_record {
            self.in_record = true;
            self.cur_line = self.line;
        }
        self.push(b);
    }

    fn end_line(&mut self, out: &mut VecDeque<RawRecord>) {
        if !self.in_record {
            return;
        }
        self.in_record = false;
        let mut bytes = std::mem::take(&mut self.cur);
        let len = std::mem::replace(&mut self.cur_len, 0);
        if len > self.max {
            out.push_back(RawRecord {
                line: self.cur_line,
                value: Err(too_long(len, self.max)),
            });
            return;
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        out.push_back(RawRecord {
            line: self.cur_line,
            value: parse_object(&bytes),
        });
    }

    fn array_byte(&mut self, b: u8, out: &mut VecDeque<RawRecord>) {
        if self.broken {
            return;
        }
        if self.array_closed {
            if !b.is_ascii_whitespace() {
                self.broken = true;
                out.push_back(RawRecord {
                    line: self.line,
                    value: Err("unexpected data after the end of the JSON array".into()),
                });
            }
            return;
        }
        if !self.in_record {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => {}
                b']' => self.array_closed = true,
                b'}' => {
                    self.broken = true;
                    out.push_back(RawRecord {
                        line: self.line,
                        value: Err(
                            "unbalanced '}' in the JSON array; the rest of the file is ignored"
                                .into(),
                        ),
                    });
                }
                _ => {
                    self.in_record = true;
                    self.cur_line = self.line;
                    self.depth = 0;
                    self.in_string = false;
                    self.escape = false;
                    self.scalar = !matches!(b, b'{' | b'[' | b'"');
                    self.array_record_byte(b, out);
                }
            }
            return;
        }
        self.array_record_byte(b, out);
    }

    fn array_record_byte(&mut self, b: u8, out: &mut VecDeque<RawRecord>) {
        if self.scalar {
            if matches!(b, b',' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                self.end_array_record(out);
                if b == b']' {
                    self.array_closed = true;
                }
                return;
            }
            self.push(b);
            return;
        }
        self.push(b);
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    self.end_array_record(out);
                }
            }
            return;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    self.end_array_record(out);
                }
            }
            _ => {}
        }
    }

    fn end_array_record(&mut self, out: &mut VecDeque<RawRecord>) {
        self.in_record = false;
        let bytes = std::mem::take(&mut self.cur);
        let len = std::mem::replace(&mut self.cur_len, 0);
        let value = if len > self.max {
            Err(too_long(len, self.max))
        } else {
            parse_object(&bytes)
        };
        out.push_back(RawRecord {
            line: self.cur_line,
            value,
        });
    }

    fn finish(&mut self, out: &mut VecDeque<RawRecord>) {
        match self.container {
            Some(Container::JsonLines) => self.end_line(out),
            Some(Container::JsonArray) if !self.broken && !self.array_closed => {
                if self.in_record && self.scalar {
                    self.end_array_record(out);
                } else if self.in_record {
                    self.in_record = false;
                    out.push_back(RawRecord {
                        line: self.cur_line,
                        value: Err("record is not terminated: the file ends inside it".into()),
                    });
                }
                out.push_back(RawRecord {
                    line: self.line,
                    value: Err(
                        "the JSON array is not closed with ']' at the end of the file".into(),
                    ),
                });
            }
            _ => {}
        }
    }
}

fn too_long(len: usize, max: usize) -> String {
    format!("record is {len} bytes, more than the limit of {max} bytes")
}

/// UTF-8 check, JSON parse, object check, with reasons that say where it went wrong.
fn parse_object(bytes: &[u8]) -> std::result::Result<Map<String, Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "invalid UTF-8 at byte {} of the record",
            e.valid_up_to() + 1
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "a record must be a JSON object, found {}",
            kind_name(&other)
        )),
        Err(e) => Err(format!(
            "invalid JSON: {} (column {})",
            strip_position(&e.to_string()),
            e.column()
        )),
    }
}

/// serde_json appends " at line L column C"; the record's own line is reported instead.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// "an array", "a string", … for messages.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
