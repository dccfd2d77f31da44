//! How a frozen tensor's elements are stored: f32 (every tensor the backends compute with), or
//! packed in the precision the checkpoint stores them in (f16, bf16), so a model's weights take
//! the memory they take in the file. A packed tensor is accepted only as the B operand of
//! `matmul` (every layout) and as the `embedding` table; every other op refuses it with
//! `Error::Packed`. Activations, Σ, norms, gradients and optimizer state stay f32.
//!
//! The packed bytes are the file's own little-endian bytes, element `e` in row-major order at
//! bytes `2e .. 2e + 2`: on the GPU two values per u32 (element `e` in the low half of word
//! `e / 2` when `e` is even), unpacked by the shader snippets in `shaders/packed/`.
use crate::error::{Error, Result};

/// Storage format of a tensor's elements (`"f32"`, `"f16"`, `"bf16"` in options and JSON).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// 32-bit IEEE float: every tensor ops compute with.
    #[default]
    F32,
    /// 16-bit IEEE half float, kept packed.
    F16,
    /// bfloat16 (the top half of an f32), kept packed.
    Bf16,
}

impl Format {
    /// The safetensors dtype name (`"F32"`, `"F16"`, `"BF16"`).
    pub fn name(self) -> &'static str {
        match self {
            Format::F32 => "F32",
            Format::F16 => "F16",
            Format::Bf16 => "BF16",
        }
    }

    /// Whether tensors of this format are packed (anything but f32).
    pub fn is_packed(self) -> bool {
        self != Format::F32
    }

    /// Bytes that hold `numel` elements.
    pub fn bytes_for(self, numel: usize) -> usize {
        match self {
            Format::F32 => numel * 4,
            Format::F16 | Format::Bf16 => numel * 2,
        }
    }

    /// Elements `first .. first + out.len()` of the packed `bytes`, as f32 (exact: every f16
    /// and bf16 value is an f32). `bytes` must hold them (callers check lengths first).
    pub fn decode(self, bytes: &[u8], first: usize, out: &mut [f32]) {
        let size = self.bytes_for(1);
        let src = &bytes[first * size..(first + out.len()) * size];
        match self {
            Format::F32 => {
                for (o, b) in out.iter_mut().zip(src.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            Format::F16 => {
                for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
                    *o = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            Format::Bf16 => {
                for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
                    *o = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16);
                }
            }
        }
    }

    /// `values` rounded to this format (to nearest, ties to even) as little-endian bytes.
    pub fn encode(self, values: &[f32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes_for(values.len()));
        for &v in values {
            match self {
                Format::F32 => out.extend_from_slice(&v.to_le_bytes()),
                Format::F16 => out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
                Format::Bf16 => out.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
            }
        }
        out
    }

    /// `values` rounded to this format and back: the f32 values a packed tensor holds.
    pub fn round(self, values: &[f32]) -> Vec<f32> {
        let bytes = self.encode(values);
        let mut out = vec![0.0; values.len()];
        self.decode(&bytes, 0, &mut out);
        out
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `f32_only!("op"; a, b)`: [`expect_f32`] on the named tensors (each tensor's variable name is
/// the name the error reports).
macro_rules! f32_only {
    ($op:literal; $($t:ident),+) => {
        $crate::backend::format::expect_f32($op, &[$((stringify!($t), $t.format())),+])
    };
}

/// Fails with `Error::Packed` unless every named tensor is f32 (the check every op but the B
/// operand of `matmul` and the `embedding` table runs).
pub(crate) fn expect_f32(op: &'static str, tensors: &[(&'static str, Format)]) -> Result<()> {
    match tensors.iter().find(|(_, f)| f.is_packed()) {
        Some(&(what, format)) => Err(Error::Packed { op, what, format }),
        None => Ok(()),
    }
}
