//! How a frozen tensor's elements are stored: f32 (every tensor the backends compute with), or
//! packed in the precision the checkpoint stores them in (f16, bf16, or the GGUF block types
//! Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), so a model's weights take the memory they
//! take in the file. A packed tensor is accepted only as the B operand of
//! `matmul` (every layout) and as the `embedding` table; every other op refuses it with
//! `Error::Packed`. Activations, Σ, norms, gradients and optimizer state stay f32.
//!
//! The packed bytes are the file's own little-endian bytes. f16/bf16: element `e` in row-major
//! order at bytes `2e .. 2e + 2`: on the GPU two values per u32 (element `e` in the low half of
//! word `e / 2` when `e` is even). GGUF blocks: each row of `n` elements is `n / QK` whole blocks
//! of ggml's layout (QK = 32 values for Q8_0..Q5_1, 256 for the K-quants), so a tensor's last
//! dimension must be a multiple of QK ([`Format::check_row`]). Shaders read them through the
//! snippets in `shaders/packed/`; the host through [`crate::gguf::dequant`] (bitwise the same
//! values). Block formats are read only: [`Format::encode`] refuses them.
use super::float_bytes;
use crate::error::{Error, Result};
use crate::gguf::GgmlType;

/// Storage format of a tensor's elements (`"f32"`, `"f16"`, `"bf16"`, `"q8_0"`, …, `"q6_k"` in
/// options and JSON).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[allow(non_camel_case_types)]
pub enum Format {
    /// 32-bit IEEE float: every tensor ops compute with.
    #[default]
    F32,
    /// 16-bit IEEE half float, kept packed.
    F16,
    /// bfloat16 (the top half of an f32), kept packed.
    Bf16,
    /// GGUF blocks of 32 values: f16 scale, 32 × i8.
    Q8_0,
    /// GGUF blocks of 32 values: f16 scale, 32 nibbles.
    Q4_0,
    /// GGUF blocks of 32 values: f16 scale and min, 32 nibbles.
    Q4_1,
    /// GGUF blocks of 32 five-bit values with an f16 scale.
    Q5_0,
    /// GGUF blocks of 32 five-bit values with an f16 scale and min.
    Q5_1,
    /// GGUF super-blocks of 256 four-bit values.
    Q4_K,
    /// GGUF super-blocks of 256 five-bit values.
    Q5_K,
    /// GGUF super-blocks of 256 six-bit values.
    Q6_K,
}

/// Every format, in declaration order (tests, kernel tables).
pub const ALL_FORMATS: [Format; 11] = [
    Format::F32,
    Format::F16,
    Format::Bf16,
    Format::Q8_0,
    Format::Q4_0,
    Format::Q4_1,
    Format::Q5_0,
    Format::Q5_1,
    Format::Q4_K,
    Format::Q5_K,
    Format::Q6_K,
];

impl Format {
    /// The safetensors dtype name (`"F32"`, `"F16"`, `"BF16"`), or ggml's for a block type
    /// (`"Q4_K"`).
    pub fn name(self) -> &'static str {
        match self {
            Format::F32 => "F32",
            Format::F16 => "F16",
            Format::Bf16 => "BF16",
            Format::Q8_0 => "Q8_0",
            Format::Q4_0 => "Q4_0",
            Format::Q4_1 => "Q4_1",
            Format::Q5_0 => "Q5_0",
            Format::Q5_1 => "Q5_1",
            Format::Q4_K => "Q4_K",
            Format::Q5_K => "Q5_K",
            Format::Q6_K => "Q6_K",
        }
    }

    /// The ggml tensor type of the same layout.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            Format::F32 => GgmlType::F32,
            Format::F16 => GgmlType::F16,
            Format::Bf16 => GgmlType::BF16,
            Format::Q8_0 => GgmlType::Q8_0,
            Format::Q4_0 => GgmlType::Q4_0,
            Format::Q4_1 => GgmlType::Q4_1,
            Format::Q5_0 => GgmlType::Q5_0,
            Format::Q5_1 => GgmlType::Q5_1,
            Format::Q4_K => GgmlType::Q4_K,
            Format::Q5_K => GgmlType::Q5_K,
            Format::Q6_K => GgmlType::Q6_K,
        }
    }

    /// The format holding tensors of GGUF type `ty` as stored (`None` for a type the backends
    /// do not read directly: Q2_K, Q3_K, IQ*, …).
    pub fn from_ggml(ty: GgmlType) -> Option<Format> {
        ALL_FORMATS.into_iter().find(|f| f.ggml_type() == ty)
    }

    /// Whether tensors of this format are packed (anything but f32).
    pub fn is_packed(self) -> bool {
        self != Format::F32
    }

    /// Whether this is a GGUF block type (read only, rows of whole blocks).
    pub fn is_block(self) -> bool {
        self.block().0 > 1
    }

    /// `(values, bytes)` of one block (1 value for the float formats).
    pub fn block(self) -> (usize, usize) {
        match self {
            Format::F32 => (1, 4),
            Format::F16 | Format::Bf16 => (1, 2),
            Format::Q8_0 => (32, 34),
            Format::Q4_0 => (32, 18),
            Format::Q4_1 => (32, 20),
            Format::Q5_0 => (32, 22),
            Format::Q5_1 => (32, 24),
            Format::Q4_K => (256, 144),
            Format::Q5_K => (256, 176),
            Format::Q6_K => (256, 210),
        }
    }

    /// Bytes that hold `numel` elements (whole blocks: see [`Format::check_row`]).
    pub fn bytes_for(self, numel: usize) -> usize {
        let (qk, size) = self.block();
        numel.div_ceil(qk) * size
    }

    /// Refuses (`Error::Param`) a tensor whose rows of `cols` elements are not whole blocks.
    pub fn check_row(self, op: &'static str, cols: usize) -> Result<()> {
        let (qk, size) = self.block();
        if cols.is_multiple_of(qk) {
            return Ok(());
        }
        Err(Error::param(
            op,
            format!(
                "a {self} tensor's rows must be whole blocks of {qk} values ({size} bytes), \
                 but its rows have {cols} values"
            ),
        ))
    }

    /// Elements `first .. first + out.len()` of the packed `bytes`, as f32 (exact for f16 and
    /// bf16; for a block type bitwise [`crate::gguf::dequant::dequantize`]'s values). `bytes`
    /// must hold them (callers check lengths first); for a block type, the blocks covering the
    /// range are decoded.
    pub fn decode(self, bytes: &[u8], first: usize, out: &mut [f32]) {
        if self.is_block() {
            let (qk, size) = self.block();
            let (b0, b1) = (first / qk, (first + out.len()).div_ceil(qk));
            let values = crate::gguf::dequant::dequantize(
                self.ggml_type(),
                &bytes[b0 * size..b1 * size],
                (b1 - b0) * qk,
            );
            match values {
                Ok(v) => out.copy_from_slice(&v[first - b0 * qk..][..out.len()]),
                // Unreachable: the byte range is whole blocks of a type `dequantize` reads.
                Err(_) => out.fill(f32::NAN),
            }
            return;
        }
        let size = self.bytes_for(1);
        let src = &bytes[first * size..(first + out.len()) * size];
        match self {
            Format::F32 => float_bytes::decode_f32(src, out),
            Format::F16 => float_bytes::decode_f16(src, out),
            Format::Bf16 => float_bytes::decode_bf16(src, out),
            _ => {}
        }
    }

    /// `values` rounded to this format (to nearest, ties to even) as little-endian bytes. A
    /// block type is refused (`Error::Unsupported`): tensors are only read in them.
    pub fn encode(self, values: &[f32]) -> Result<Vec<u8>> {
        match self {
            Format::F32 => Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            Format::F16 => Ok(float_bytes::encode_halves(values, float_bytes::f32_to_f16)),
            Format::Bf16 => Ok(float_bytes::encode_halves(values, float_bytes::f32_to_bf16)),
            _ => Err(Error::Unsupported(format!(
                "values cannot be written as {self}: GGUF block types are read only \
                 (use f32, f16 or bf16)"
            ))),
        }
    }

    /// `values` rounded to this format and back: the f32 values a packed tensor holds (a block
    /// type is refused, as by [`Format::encode`]).
    pub fn round(self, values: &[f32]) -> Result<Vec<f32>> {
        let bytes = self.encode(values)?;
        let mut out = vec![0.0; values.len()];
        self.decode(&bytes, 0, &mut out);
        Ok(out)
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
