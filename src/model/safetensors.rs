//! Reading safetensors checkpoints by byte ranges: one file (`model.safetensors`) or a sharded set
//! (`model.safetensors.index.json` + shards). Only headers are read up front; each tensor is read
//! and converted to f32 (from F32, F16, BF16 or F64) when asked for.
//!
//! File layout: an 8-byte little-endian header length `n`, `n` bytes of JSON mapping tensor
//! names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data section
//! after the header), an optional `__metadata__` entry, then the data.
use super::source::ByteSource;
use crate::backend::float_bytes;
use crate::error::{Error, Result};
use safetensors::Dtype;
use serde_json::Value;
use std::collections::BTreeMap;

/// Headers larger than this are refused before they are read.
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// The dtypes weights may have; each is converted to f32 on load.
pub const SUPPORTED_DTYPES: &[&str] = &["F32", "F16", "BF16", "F64"];

/// Where one tensor lives and how it is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorEntry {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Absolute byte range in the file.
    pub start: u64,
    pub end: u64,
}

impl TensorEntry {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One safetensors file: its parsed header and the source to read tensors from.
pub struct SafetensorsFile<S> {
    source: S,
    tensors: BTreeMap<String, TensorEntry>,
}

impl<S: ByteSource> SafetensorsFile<S> {
    /// Reads and checks the header. Every entry must have a known dtype, a byte size that matches
    /// its shape, and lie inside the file.
    pub fn open(source: S) -> Result<Self> {
        let name = source.name().to_string();
        let bad = |m: String| Error::input(&name, m);
        let size = source.len();
        if size < 8 {
            return Err(bad(format!(
                "truncated: {size} bytes, but a safetensors file starts with an 8-byte header length"
            )));
        }
        let n = u64::from_le_bytes(
            source
                .read_at(0, 8)?
                .try_into()
                .map_err(|_| bad("short read".into()))?,
        );
        if n > MAX_HEADER_BYTES {
            return Err(bad(format!(
                "header length {n} bytes is larger than the {MAX_HEADER_BYTES} allowed (not a safetensors file?)"
            )));
        }
        if 8 + n > size {
            return Err(bad(format!(
                "header length {n} runs past the end of the file ({size} bytes): truncated or not a safetensors file"
            )));
        }
        let header = source.read_at(8, n as usize)?;
        let json: Value = serde_json::from_slice(&header)
            .map_err(|e| bad(format!("the header is not valid JSON: {e}")))?;
        let Value::Object(map) = json else {
            return Err(bad("the header is not a JSON object".into()));
        };
        let data_start = 8 + n;
        let mut tensors = BTreeMap::new();
        for (key, entry) in map {
            if key == "__metadata__" {
                continue;
            }
            let t = parse_entry(&name, &key, &entry, data_start, size)?;
            tensors.insert(key, t);
        }
        Ok(SafetensorsFile { source, tensors })
    }

    pub fn name(&self) -> &str {
        self.source.name()
    }

    /// Tensor names and entries, sorted by name.
    pub fn tensors(&self) -> &BTreeMap<String, TensorEntry> {
        &self.tensors
    }

    /// The tensor `name` converted to f32 (row-major, `entry.numel()` values).
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let (dtype, bytes) = self.read_raw(name)?;
        Ok(to_f32(dtype, &bytes))
    }

    /// The tensor `name` as stored: its dtype and little-endian bytes (row-major; the length
    /// was checked against the shape when the header was read).
    pub fn read_raw(&self, name: &str) -> Result<(Dtype, Vec<u8>)> {
        let entry = self.tensors.get(name).ok_or_else(|| {
            Error::input(
                self.name(),
                format!("no tensor named `{name}` in this file"),
            )
        })?;
        let bytes = self
            .source
            .read_at(entry.start, (entry.end - entry.start) as usize)?;
        Ok((entry.dtype, bytes))
    }
}

fn parse_entry(
    file: &str,
    key: &str,
    entry: &Value,
    data_start: u64,
    size: u64,
) -> Result<TensorEntry> {
    let bad = |m: String| Error::input(file, format!("tensor `{key}`: {m}"));
    let dtype_name = entry
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the header entry has no `dtype` string".into()))?;
    let dtype: Dtype = serde_json::from_value(Value::String(dtype_name.to_string()))
        .map_err(|_| bad(format!("unknown dtype \"{dtype_name}\"")))?;
    if !SUPPORTED_DTYPES.contains(&dtype_name) {
        return Err(bad(format!(
            "dtype {dtype_name} is not supported for weights (supported: {})",
            SUPPORTED_DTYPES.join(", ")
        )));
    }
    let shape: Vec<usize> = entry
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|dims| {
            dims.iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect()
        })
        .ok_or_else(|| bad("the header entry has no `shape` list of integers".into()))?;
    let offsets: Vec<u64> = entry
        .get("data_offsets")
        .and_then(Value::as_array)
        .and_then(|o| o.iter().map(Value::as_u64).collect())
        .filter(|o: &Vec<u64>| o.len() == 2)
        .ok_or_else(|| bad("the header entry has no `data_offsets` pair".into()))?;
    let (begin, end) = (offsets[0], offsets[1]);
    let bytes = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .and_then(|n| n.checked_mul(dtype.bitsize() as u64 / 8))
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    if end < begin || end - begin != bytes {
        return Err(bad(format!(
            "data_offsets [{begin}, {end}] hold {} bytes, but shape {shape:?} of {dtype_name} needs {bytes}",
            end.saturating_sub(begin)
        )));
    }
    let (start, stop) = (data_start + begin, data_start.saturating_add(end));
    if stop > size {
        return Err(bad(format!(
            "truncated: its data ends at byte {stop}, but the file has {size} bytes"
        )));
    }
    Ok(TensorEntry {
        dtype,
        shape,
        start,
        end: stop,
    })
}

/// Little-endian `bytes` of `dtype` as f32 (the dtype was checked against
/// [`SUPPORTED_DTYPES`] and the length against the shape when the header was read).
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    let decode: fn(&[u8], &mut [f32]) = match dtype {
        Dtype::F16 => float_bytes::decode_f16,
        Dtype::BF16 => float_bytes::decode_bf16,
        Dtype::F64 => {
            return bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                .collect();
        }
        _ => match bytemuck::try_cast_slice::<u8, f32>(bytes) {
            // A copy of the words (no zeroed buffer first) where the bytes are aligned.
            Ok(words) if cfg!(target_endian = "little") => return words.to_vec(),
            _ => float_bytes::decode_f32,
        },
    };
    let mut out = vec![0.0; bytes.len() * 8 / dtype.bitsize()];
    decode(bytes, &mut out);
    out
}

/// All tensors of a checkpoint, single-file or sharded, by name.
pub struct Checkpoint<S> {
    files: Vec<SafetensorsFile<S>>,
    /// Tensor name → index into `files`.
    index: BTreeMap<String, usize>,
}

impl<S: ByteSource> Checkpoint<S> {
    /// A checkpoint in one file.
    pub fn single(source: S) -> Result<Self> {
        Self::from_files(vec![SafetensorsFile::open(source)?])
    }

    /// A sharded checkpoint: `index_json` is the text of `model.safetensors.index.json` (named
    /// `index_name` in errors); `open` opens a shard by its file name, failing for a missing one.
    pub fn sharded(
        index_name: &str,
        index_json: &str,
        mut open: impl FnMut(&str) -> Result<S>,
    ) -> Result<Self> {
        let json: Value = serde_json::from_str(index_json)
            .map_err(|e| Error::input(index_name, format!("not valid JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::input(index_name, "no `weight_map` object"))?;
        let mut shard_names: Vec<&str> = Vec::new();
        for (tensor, shard) in map {
            let shard = shard.as_str().ok_or_else(|| {
                Error::input(
                    index_name,
                    format!("`{tensor}` maps to {shard}, expected a file name"),
                )
            })?;
            if !shard_names.contains(&shard) {
                shard_names.push(shard);
            }
        }
        shard_names.sort_unstable();
        let mut files = Vec::with_capacity(shard_names.len());
        for shard in &shard_names {
            let source = open(shard).map_err(|e| {
                Error::input(
                    index_name,
                    format!("names the shard {shard}, which cannot be opened: {e}"),
                )
            })?;
            files.push(SafetensorsFile::open(source)?);
        }
        let ckpt = Self::from_files(files)?;
        for (tensor, shard) in map {
            let shard = shard.as_str().unwrap_or_default();
            match ckpt.index.get(tensor) {
                Some(&i) if ckpt.files[i].name().ends_with(shard) => {}
                Some(&i) => {
                    return Err(Error::input(
                        index_name,
                        format!(
                            "maps `{tensor}` to {shard}, but it is in {}",
                            ckpt.files[i].name()
                        ),
                    ));
                }
                None => {
                    return Err(Error::input(
                        index_name,
                        format!("maps `{tensor}` to {shard}, which does not contain it"),
                    ));
                }
            }
        }
        Ok(ckpt)
    }

    fn from_files(files: Vec<SafetensorsFile<S>>) -> Result<Self> {
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (i, f) in files.iter().enumerate() {
            for name in f.tensors().keys() {
                if let Some(&j) = index.get(name) {
                    return Err(Error::input(
                        f.name(),
                        format!("tensor `{name}` is also in {}", files[j].name()),
                    ));
                }
                index.insert(name.clone(), i);
            }
        }
        Ok(Checkpoint { files, index })
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// The header entry of `name` and the file holding it.
    pub fn entry(&self, name: &str) -> Option<(&TensorEntry, &str)> {
        let f = &self.files[*self.index.get(name)?];
        Some((f.tensors().get(name)?, f.name()))
    }

    /// The tensor `name` as f32.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        match self.index.get(name) {
            Some(&i) => self.files[i].read_f32(name),
            None => Err(Error::input(
                "checkpoint",
                format!("no tensor named `{name}`"),
            )),
        }
    }

    /// The tensor `name` as stored (see [`SafetensorsFile::read_raw`]).
    pub fn read_raw(&self, name: &str) -> Result<(Dtype, Vec<u8>)> {
        match self.index.get(name) {
            Some(&i) => self.files[i].read_raw(name),
            None => Err(Error::input(
                "checkpoint",
                format!("no tensor named `{name}`"),
            )),
        }
    }

    /// The packed format the file holding `name` stores it in besides its safetensors bytes
    /// (a GGUF import's blocks: [`ByteSource::stored_format`]).
    pub fn stored_format(&self, name: &str) -> Option<crate::backend::Format> {
        let f = &self.files[*self.index.get(name)?];
        f.source.stored_format(name)
    }

    /// The bytes of `name` in its [`Checkpoint::stored_format`].
    pub fn read_stored(&self, name: &str) -> Result<Vec<u8>> {
        match self.index.get(name) {
            Some(&i) => self.files[i].source.read_stored(name),
            None => Err(Error::input(
                "checkpoint",
                format!("no tensor named `{name}`"),
            )),
        }
    }

    /// The dtype most tensors are stored in (for an export that keeps it).
    pub fn main_dtype(&self) -> Option<Dtype> {
        let mut counts: BTreeMap<String, (usize, Dtype)> = BTreeMap::new();
        for f in &self.files {
            for e in f.tensors().values() {
                counts
                    .entry(format!("{:?}", e.dtype))
                    .or_insert((0, e.dtype))
                    .0 += e.numel();
            }
        }
        counts.into_values().max_by_key(|&(n, _)| n).map(|(_, d)| d)
    }
}
