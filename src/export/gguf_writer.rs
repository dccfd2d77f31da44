//! A model folder (typically the merged model `svdtune train --out` wrote) as one GGUF v3 file
//! that llama.cpp, Ollama and LM Studio load: the metadata of [`super::gguf_meta`], the tensors
//! under llama.cpp's names ([`crate::gguf::names`], shared with the importer), the q/k rows of
//! llama-architecture models permuted as `convert_hf_to_gguf.py` does, Phi-3's longrope factors
//! as `rope_factors_{long,short}.weight`, Llama 3's RoPE scaling as `rope_freqs.weight`.
//!
//! Tensor types as llama.cpp's converter picks them: 1-D tensors (norms, biases, rope factors)
//! F32; matrices in the chosen [`GgufOutType`]; for Q8_0 a matrix whose rows are not a multiple
//! of 32 values falls back to F16. Q8_0 is `quantize_row_q8_0_ref`: per block of 32 values
//! `d = amax / 127` (stored as f16), `q = round(x / d)` (half away from zero).
//!
//! Layout: `GGUF`, version 3, tensor count, metadata count, the metadata, the tensor table
//! (name, dims innermost first, type, offset), padding to [`ALIGNMENT`], then each tensor's data
//! padded to [`ALIGNMENT`]. The header is built first (every size is known from the shapes); the
//! tensors are then read, converted and written one at a time.
use super::gguf_meta::{
    ALIGNMENT, GGUF_MODEL_TYPES, Pairs, gguf_arch, gguf_metadata, unsupported_family,
};
use super::target::{ByteSink, ExportTarget};
use crate::error::{Error, Result};
use crate::gguf::llama3_rope::{Llama3Params, rope_freqs};
use crate::gguf::metadata::Value;
use crate::gguf::names::{gguf_name_for, norm_shift, permute_rows, permuted_heads};
use crate::gguf::types::GgmlType;
use crate::model::config::Family;
use crate::model::layout::{check_checkpoint, expected_tensors};
use crate::model::load::{open_checkpoint, read_config};
use crate::model::rope::RopeScaling;
use crate::model::{ModelConfig, ModelFiles};

/// The tensor type of an export's matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgufOutType {
    F16,
    Bf16,
    Q8_0,
}

impl GgufOutType {
    pub const NAMES: &'static [&'static str] = &["f16", "bf16", "q8_0"];

    /// From `f16`, `bf16` or `q8_0` (any case); another name is an error listing them.
    pub fn parse(s: &str) -> Result<GgufOutType> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::Bf16),
            "q8_0" => Ok(Self::Q8_0),
            other => Err(Error::Unsupported(format!(
                "GGUF type \"{other}\" is not supported (supported: {})",
                Self::NAMES.join(", ")
            ))),
        }
    }

    pub fn ggml(self) -> GgmlType {
        match self {
            Self::F16 => GgmlType::F16,
            Self::Bf16 => GgmlType::BF16,
            Self::Q8_0 => GgmlType::Q8_0,
        }
    }

    /// llama.cpp's `general.file_type` (`LlamaFileType`).
    pub fn file_type(self) -> u32 {
        match self {
            Self::F16 => 1,
            Self::Bf16 => 32,
            Self::Q8_0 => 7,
        }
    }
}

/// Where a tensor's values come from.
#[derive(Clone, Debug)]
enum Source {
    /// A checkpoint tensor, with the head count to permute its rows with.
    /// `shift` is added (Gemma's norms: llama.cpp stores `1 + w`).
    Checkpoint {
        hf: String,
        permute: Option<usize>,
        shift: f32,
    },
    /// Values computed here (Phi-3's rope factors).
    Values(Vec<f32>),
}

/// One tensor of the file.
#[derive(Clone, Debug)]
pub struct GgufTensor {
    pub name: String,
    /// Row-major shape (GGUF lists it reversed).
    pub shape: Vec<usize>,
    pub ty: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
    source: Source,
}

impl GgufTensor {
    fn numel(&self) -> u64 {
        self.shape.iter().product::<usize>() as u64
    }

    /// Bytes of data (unpadded).
    pub fn size(&self) -> u64 {
        let block = self.ty.block_size().unwrap_or(1);
        self.numel() / block * self.ty.type_size().unwrap_or(4)
    }
}

fn pad(n: u64) -> u64 {
    n.div_ceil(ALIGNMENT) * ALIGNMENT
}

/// The tensors of the export of `cfg` as type `ty`, in file order, with their offsets.
pub fn plan_tensors(cfg: &ModelConfig, ty: GgufOutType) -> Result<Vec<GgufTensor>> {
    let permutes = gguf_arch(cfg.family) == "llama";
    let mut out = Vec::new();
    for (hf, shape) in expected_tensors(cfg) {
        let name = gguf_name_for(gguf_arch(cfg.family), &hf).ok_or_else(|| {
            Error::Unsupported(format!(
                "tensor `{hf}` has no llama.cpp name for GGUF export"
            ))
        })?;
        let permute = if permutes {
            permuted_heads(&name, cfg.num_heads, cfg.num_kv_heads)
        } else {
            None
        };
        let ggml = if shape.len() < 2 {
            GgmlType::F32
        } else if ty == GgufOutType::Q8_0 && !shape[shape.len() - 1].is_multiple_of(32) {
            GgmlType::F16
        } else {
            ty.ggml()
        };
        out.push(GgufTensor {
            name,
            shape,
            ty: ggml,
            offset: 0,
            source: Source::Checkpoint {
                shift: if hf.ends_with("norm.weight") {
                    norm_shift(gguf_arch(cfg.family))
                } else {
                    0.0
                },
                hf,
                permute,
            },
        });
    }
    if let (
        Family::Phi3,
        RopeScaling::LongRope {
            short_factor,
            long_factor,
            ..
        },
    ) = (cfg.family, &cfg.rope.scaling)
    {
        for (name, f) in [
            ("rope_factors_long.weight", long_factor),
            ("rope_factors_short.weight", short_factor),
        ] {
            out.push(GgufTensor {
                name: name.into(),
                shape: vec![f.len()],
                ty: GgmlType::F32,
                offset: 0,
                source: Source::Values(f.iter().map(|&v| v as f32).collect()),
            });
        }
    }
    if let (
        Family::Llama,
        &RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        },
    ) = (cfg.family, &cfg.rope.scaling)
    {
        let p = Llama3Params {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        };
        let freqs = rope_freqs(cfg.rope.theta, cfg.rope.head_dim, &p);
        out.push(GgufTensor {
            name: "rope_freqs.weight".into(),
            shape: vec![freqs.len()],
            ty: GgmlType::F32,
            offset: 0,
            source: Source::Values(freqs),
        });
    }
    let mut at = 0;
    for t in &mut out {
        t.offset = at;
        at += pad(t.size());
    }
    Ok(out)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends one metadata value (without its type code, which [`put_kv`] writes).
fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(ty, items) => {
            out.extend_from_slice(&(*ty as u32).to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                put_value(out, i);
            }
        }
    }
}

fn type_code(v: &Value) -> u32 {
    use crate::gguf::metadata::ValueType as T;
    (match v {
        Value::U8(_) => T::U8,
        Value::I8(_) => T::I8,
        Value::U16(_) => T::U16,
        Value::I16(_) => T::I16,
        Value::U32(_) => T::U32,
        Value::I32(_) => T::I32,
        Value::F32(_) => T::F32,
        Value::Bool(_) => T::Bool,
        Value::String(_) => T::String,
        Value::U64(_) => T::U64,
        Value::I64(_) => T::I64,
        Value::F64(_) => T::F64,
        Value::Array(..) => T::Array,
    }) as u32
}

/// The header bytes: magic, version, counts, metadata, tensor table, padding to the data.
pub fn header_bytes(meta: &Pairs, tensors: &[GgufTensor]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"GGUF");
    h.extend_from_slice(&3u32.to_le_bytes());
    h.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    h.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    for (k, v) in meta {
        put_str(&mut h, k);
        h.extend_from_slice(&type_code(v).to_le_bytes());
        put_value(&mut h, v);
    }
    for t in tensors {
        put_str(&mut h, &t.name);
        h.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
        for &d in t.shape.iter().rev() {
            h.extend_from_slice(&(d as u64).to_le_bytes());
        }
        h.extend_from_slice(&t.ty.0.to_le_bytes());
        h.extend_from_slice(&t.offset.to_le_bytes());
    }
    h.resize(pad(h.len() as u64) as usize, 0);
    h
}

/// `values` as Q8_0 blocks (`values.len()` a multiple of 32), as ggml's
/// `quantize_row_q8_0_ref` computes them.
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 34);
    for block in values.chunks_exact(32) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|&x| (x * id).round() as i8 as u8));
    }
    out
}

/// `values` encoded as `ty` (F32, F16, BF16 or Q8_0). Refuses a value that is not finite or
/// that F16 cannot hold, naming the tensor.
pub fn encode(name: &str, ty: GgmlType, values: &[f32]) -> Result<Vec<u8>> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::input(
            name,
            format!(
                "value {i} is {}: a model with it cannot be exported",
                values[i]
            ),
        ));
    }
    Ok(match ty {
        GgmlType::F16 => {
            let mut out = Vec::with_capacity(values.len() * 2);
            for (i, &v) in values.iter().enumerate() {
                let h = half::f16::from_f32(v);
                if h.is_infinite() {
                    return Err(Error::input(
                        name,
                        format!("value {i} ({v}) is beyond the range of f16; export as bf16"),
                    ));
                }
                out.extend_from_slice(&h.to_le_bytes());
            }
            out
        }
        GgmlType::BF16 => values
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
        GgmlType::Q8_0 => quantize_q8_0(values),
        _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    })
}

/// Refuses a `config.json` whose `model_type` has no llama.cpp mapping here, naming the
/// supported ones (before the engine's own config checks, whose message would not say GGUF).
pub fn check_model_type<F: ModelFiles>(files: &F) -> Result<()> {
    const CONFIG: &str = crate::model::load::CONFIG;
    if !files.has(CONFIG) {
        return Ok(());
    }
    let json: serde_json::Value = serde_json::from_str(&files.read_text(CONFIG)?)
        .map_err(|e| Error::input(files.describe(CONFIG), format!("not valid JSON: {e}")))?;
    match json.get("model_type").and_then(serde_json::Value::as_str) {
        Some(t) if !GGUF_MODEL_TYPES.contains(&t) => Err(unsupported_family(t)),
        _ => Ok(()),
    }
}

/// What an export wrote.
#[derive(Clone, Debug)]
pub struct GgufExported {
    pub architecture: &'static str,
    pub tensors: usize,
    pub metadata_keys: usize,
    pub bytes: u64,
    /// Whether the file carries a tokenizer.
    pub tokenizer: bool,
}

/// Writes the model folder `files` as the GGUF file `file_name` into `out`, `ty` for its
/// matrices, `name` as `general.name`; `progress(done, total, tensor)` after each tensor. Only
/// one tensor is held at a time.
pub fn export_gguf<F: ModelFiles, T: ExportTarget>(
    files: &F,
    out: &mut T,
    file_name: &str,
    name: &str,
    ty: GgufOutType,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<GgufExported> {
    check_model_type(files)?;
    let cfg = read_config(files)?;
    let meta = gguf_metadata(files, &cfg, name, ty.file_type())?;
    let ckpt = open_checkpoint(files)?;
    check_checkpoint(&cfg, &ckpt)?;
    let tensors = plan_tensors(&cfg, ty)?;
    let header = header_bytes(&meta, &tensors);
    let mut sink = out.create(file_name)?;
    sink.write_all(&header)?;
    let mut bytes = header.len() as u64;
    let total = tensors.len();
    for (i, t) in tensors.iter().enumerate() {
        let values = match &t.source {
            Source::Values(v) => v.clone(),
            Source::Checkpoint { hf, permute, shift } => {
                let mut v = ckpt.read_f32(hf)?;
                if *shift != 0.0 {
                    v.iter_mut().for_each(|x| *x += *shift);
                }
                match permute {
                    None => v,
                    Some(n_head) => {
                        let cols = t.shape.get(1).copied().unwrap_or(1);
                        permute_rows(&v, t.shape[0], cols, *n_head).ok_or_else(|| {
                            Error::input(
                                hf.as_str(),
                                format!(
                                    "{} rows cannot be {n_head} heads of row pairs",
                                    t.shape[0]
                                ),
                            )
                        })?
                    }
                }
            }
        };
        let mut data = encode(&t.name, t.ty, &values)?;
        drop(values);
        data.resize(pad(data.len() as u64) as usize, 0);
        sink.write_all(&data)?;
        bytes += data.len() as u64;
        progress(i + 1, total, &t.name);
    }
    out.finish(sink)?;
    Ok(GgufExported {
        architecture: gguf_arch(cfg.family),
        tensors: total,
        metadata_keys: meta.len(),
        bytes,
        tokenizer: meta.iter().any(|(k, _)| k == "tokenizer.ggml.model"),
    })
}
