//! Reading a GGUF file's header: magic, version, metadata key/values, the tensor table, the data
//! offset; and reading one tensor's values as f32.
//!
//! Layout (little-endian, versions 2 and 3): `"GGUF"`, u32 version, u64 tensor count, u64
//! key/value count; each key/value: string key, u32 value type, value (strings are a u64 byte
//! length and UTF-8 bytes; arrays a u32 element type, u64 count and the elements); each tensor:
//! string name, u32 dimension count, u64 dimensions (innermost first), u32 ggml type, u64 offset
//! into the data section. The data section starts at the end of the tensor table rounded up to
//! `general.alignment` (default 32).
//!
//! Every count and size is checked against the file's length before anything is allocated, and
//! every tensor's byte range is checked to lie inside the file, so a truncated or hostile file
//! gives an error naming what is wrong, never a panic or a huge allocation.
use super::cursor::Cursor;
use super::dequant::dequantize;
use super::metadata::{Metadata, Value, ValueType};
use super::types::GgmlType;
use crate::error::{Error, Result};
use crate::model::ByteSource;
use std::collections::{BTreeMap, HashSet};

const MAGIC: &[u8; 4] = b"GGUF";
/// Versions read (version 1 had 32-bit counts and is long obsolete).
pub const SUPPORTED_VERSIONS: &[u32] = &[2, 3];
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Longest string accepted (keys, names, tokens, chat templates).
const MAX_STRING: u64 = 16 << 20;
/// ggml tensors have at most 4 dimensions.
const MAX_DIMS: u32 = 4;

/// One entry of the tensor table.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions as GGUF lists them: innermost (contiguous) first.
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Absolute byte offset of the data in the file.
    pub start: u64,
    /// Bytes of data.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// The row-major shape (outermost first), as PyTorch and safetensors write it.
    pub fn shape(&self) -> Vec<usize> {
        // Each dimension was checked to fit usize when the table was read.
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of values.
    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }
}

/// A parsed GGUF header.
#[derive(Clone, Debug)]
pub struct GgufFile {
    /// The file's name (for errors).
    pub file: String,
    pub version: u32,
    pub metadata: Metadata,
    /// In file order.
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
}

impl GgufFile {
    /// Reads and checks the header of `src`, every tensor's data range included.
    pub fn read(src: &impl ByteSource) -> Result<GgufFile> {
        Self::parse(src, true)
    }

    /// Reads and checks the header of `src` without requiring the tensor data to be present
    /// (metadata and shapes only: `svdtune inspect`); [`GgufFile::read_f32`] still refuses a
    /// range past the end.
    pub fn read_header(src: &impl ByteSource) -> Result<GgufFile> {
        Self::parse(src, false)
    }

    fn parse(src: &impl ByteSource, check_data: bool) -> Result<GgufFile> {
        let name = src.name().to_string();
        let mut c = Cursor::new(src);
        if src.len() < 4 {
            return Err(Error::input(
                &name,
                format!(
                    "not a GGUF file: {} bytes, too short for the \"GGUF\" magic",
                    src.len()
                ),
            ));
        }
        let magic = c.take(4, "the magic")?.to_vec();
        if magic != MAGIC {
            return Err(Error::input(
                &name,
                format!(
                    "not a GGUF file: it starts with the bytes {:02x?}, expected \"GGUF\" ({:02x?})",
                    magic, MAGIC
                ),
            ));
        }
        let version = c.u32("the version")?;
        if !SUPPORTED_VERSIONS.contains(&version) {
            let hint = if SUPPORTED_VERSIONS.contains(&version.swap_bytes()) {
                " (a big-endian GGUF file; only little-endian files are supported)"
            } else {
                ""
            };
            return Err(Error::input(
                &name,
                format!(
                    "GGUF version {version} is not supported{hint} (supported: {SUPPORTED_VERSIONS:?})"
                ),
            ));
        }
        let n_tensors = c.u64("the tensor count")?;
        let n_kv = c.u64("the metadata count")?;
        // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor entry at
        // least 8 (name length) + 4 (dims) + 8 (one dim) + 4 (type) + 8 (offset).
        bound_count(&c, n_kv, 13, "metadata entries")?;
        bound_count(&c, n_tensors, 32, "tensors")?;
        let mut metadata = Metadata {
            file: name.clone(),
            values: BTreeMap::new(),
        };
        for i in 0..n_kv {
            let key = c.string(&format!("the key of metadata entry {i}"), MAX_STRING)?;
            let code = c.u32(&format!("the type of metadata `{key}`"))?;
            let ty = ValueType::from_code(code).ok_or_else(|| {
                c.error(format!("metadata `{key}` has unknown value type {code}"))
            })?;
            let value = read_value(&mut c, ty, &key, true)?;
            if metadata.values.insert(key.clone(), value).is_some() {
                return Err(c.error(format!("metadata key `{key}` appears twice")));
            }
        }
        let alignment = match metadata.usize("general.alignment")? {
            None => DEFAULT_ALIGNMENT,
            Some(a) if a > 0 && a.is_power_of_two() => a as u64,
            Some(a) => {
                return Err(Error::input(
                    &name,
                    format!("general.alignment {a} is not a power of two"),
                ));
            }
        };
        let mut infos = Vec::new();
        let mut seen = HashSet::new();
        for i in 0..n_tensors {
            let info = read_tensor_info(&mut c, i)?;
            if !seen.insert(info.0.clone()) {
                return Err(c.error(format!("tensor `{}` is listed twice", info.0)));
            }
            infos.push(info);
        }
        let data_offset = c
            .pos()
            .checked_next_multiple_of(alignment)
            .ok_or_else(|| c.error("the data section offset overflows"))?;
        let tensors = infos
            .into_iter()
            .map(|(name, dims, ty, offset)| {
                locate(src, check_data, data_offset, name, dims, ty, offset)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GgufFile {
            file: name,
            version,
            metadata,
            tensors,
            alignment,
            data_offset,
        })
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The values of `t` as f32, in the file's row-major order (innermost dimension contiguous).
    pub fn read_f32(&self, src: &impl ByteSource, t: &TensorInfo) -> Result<Vec<f32>> {
        let len = usize::try_from(t.n_bytes).map_err(|_| {
            Error::input(
                &self.file,
                format!(
                    "tensor `{}` ({} bytes) is too large for this platform",
                    t.name, t.n_bytes
                ),
            )
        })?;
        let bytes = src.read_at(t.start, len)?;
        dequantize(t.ggml_type, &bytes, t.numel())
            .map_err(|m| Error::input(&self.file, format!("tensor `{}`: {m}", t.name)))
    }
}

/// Refuses a count that the rest of the file cannot hold at `min_size` bytes per item.
fn bound_count<S: ByteSource>(c: &Cursor<S>, count: u64, min_size: u64, what: &str) -> Result<()> {
    match count.checked_mul(min_size) {
        Some(bytes) if bytes <= c.remaining() => Ok(()),
        _ => Err(c.error(format!(
            "truncated or corrupt: the header claims {count} {what}, more than the {} bytes left in the file can hold",
            c.remaining()
        ))),
    }
}

/// One value of type `ty`; arrays only where `allow_array` (no arrays of arrays).
fn read_value<S: ByteSource>(
    c: &mut Cursor<S>,
    ty: ValueType,
    key: &str,
    allow_array: bool,
) -> Result<Value> {
    let what = format!("the value of `{key}`");
    Ok(match ty {
        ValueType::U8 => Value::U8(c.u8(&what)?),
        ValueType::I8 => Value::I8(c.u8(&what)? as i8),
        ValueType::U16 => Value::U16(c.u16(&what)?),
        ValueType::I16 => Value::I16(c.u16(&what)? as i16),
        ValueType::U32 => Value::U32(c.u32(&what)?),
        ValueType::I32 => Value::I32(c.u32(&what)? as i32),
        ValueType::F32 => Value::F32(c.f32(&what)?),
        ValueType::U64 => Value::U64(c.u64(&what)?),
        ValueType::I64 => Value::I64(c.u64(&what)? as i64),
        ValueType::F64 => Value::F64(c.f64(&what)?),
        ValueType::Bool => match c.u8(&what)? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(c.error(format!("`{key}` is a bool of value {b}, expected 0 or 1"))),
        },
        ValueType::String => Value::String(c.string(&what, MAX_STRING)?),
        ValueType::Array => {
            if !allow_array {
                return Err(c.error(format!(
                    "`{key}` is an array of arrays, which is not supported"
                )));
            }
            let code = c.u32(&format!("the element type of `{key}`"))?;
            let item = ValueType::from_code(code)
                .ok_or_else(|| c.error(format!("array `{key}` has unknown element type {code}")))?;
            let n = c.u64(&format!("the length of `{key}`"))?;
            bound_count(c, n, item.min_size(), &format!("elements in `{key}`"))?;
            // Bounded by the bytes left, but values are larger in memory than in the file.
            let mut items = Vec::with_capacity(n.min(1 << 16) as usize);
            for _ in 0..n {
                items.push(read_value(c, item, key, false)?);
            }
            Value::Array(item, items)
        }
    })
}

/// A tensor table entry as read: name, dims, type, offset into the data section.
type RawInfo = (String, Vec<u64>, GgmlType, u64);

fn read_tensor_info<S: ByteSource>(c: &mut Cursor<S>, i: u64) -> Result<RawInfo> {
    let name = c.string(&format!("the name of tensor {i}"), MAX_STRING)?;
    let n_dims = c.u32(&format!("the dimension count of tensor `{name}`"))?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(c.error(format!(
            "tensor `{name}` has {n_dims} dimensions, expected 1 to {MAX_DIMS}"
        )));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64(&format!("the dimensions of tensor `{name}`"))?);
    }
    let ty = GgmlType(c.u32(&format!("the type of tensor `{name}`"))?);
    let offset = c.u64(&format!("the data offset of tensor `{name}`"))?;
    Ok((name, dims, ty, offset))
}

/// Checks a table entry's size and (when `check_data`) its byte range against the file.
fn locate(
    src: &impl ByteSource,
    check_data: bool,
    data_offset: u64,
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    offset: u64,
) -> Result<TensorInfo> {
    let file = src.name();
    let bad = |m: String| Error::input(file, format!("tensor `{name}`: {m}"));
    let (Some(block), Some(type_size)) = (ty.block_size(), ty.type_size()) else {
        return Err(bad(format!(
            "unknown ggml type code {} (supported: {})",
            ty.0,
            GgmlType::supported_list()
        )));
    };
    let mut numel: u64 = 1;
    for &d in &dims {
        numel = numel
            .checked_mul(d)
            .filter(|&n| usize::try_from(n).is_ok() && n <= i64::MAX as u64)
            .ok_or_else(|| bad(format!("dimensions {dims:?} are too large")))?;
    }
    if !dims[0].is_multiple_of(block) {
        return Err(bad(format!(
            "its rows have {} values, not a multiple of the {} values per {ty} block",
            dims[0], block
        )));
    }
    let n_bytes = (numel / block)
        .checked_mul(type_size)
        .ok_or_else(|| bad(format!("dimensions {dims:?} are too large")))?;
    let range = data_offset
        .checked_add(offset)
        .and_then(|start| start.checked_add(n_bytes).map(|end| (start, end)));
    match range {
        Some((start, end)) if end <= src.len() || !check_data => Ok(TensorInfo {
            name,
            dims,
            ggml_type: ty,
            start,
            n_bytes,
        }),
        _ => Err(bad(format!(
            "its data ({n_bytes} bytes at offset {offset} of the data section, which starts at byte {data_offset}) runs past the end of the file ({} bytes): truncated download?",
            src.len()
        ))),
    }
}
