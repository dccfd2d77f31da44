//! Tensor data of a GGUF file → f32: the float types (F32, F16, BF16) and the 32-value block
//! quantizations (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1); the 256-value K-quants are in [`super::kquants`].
//!
//! Each formula is evaluated in f32 with the same operations in the same order as
//! `gguf.quants.dequantize` (gguf-py, which transformers also uses to load GGUF files) and
//! ggml's reference `dequantize_row_*`, so the values are bitwise identical to theirs.
use super::kquants;
use super::types::GgmlType;

/// The f16 at `b[0..2]` as f32 (exact).
pub(super) fn f16_at(b: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

/// Dequantizes `bytes` holding `numel` values of type `ty`. The error says what is wrong (the
/// caller names the tensor and file).
pub fn dequantize(ty: GgmlType, bytes: &[u8], numel: usize) -> Result<Vec<f32>, String> {
    if !ty.is_supported() {
        return Err(format!(
            "type {ty} is not supported (supported: {})",
            GgmlType::supported_list()
        ));
    }
    let (Some(block), Some(size)) = (ty.block_size(), ty.type_size()) else {
        return Err(format!("unknown type {ty}"));
    };
    let (block, size) = (block as usize, size as usize);
    if !numel.is_multiple_of(block) || numel / block * size != bytes.len() {
        return Err(format!(
            "{} bytes of {ty} data cannot hold {numel} values ({block} values per {size}-byte block)",
            bytes.len()
        ));
    }
    let mut out = Vec::with_capacity(numel);
    let blocks = bytes.chunks_exact(size);
    match ty {
        GgmlType::F32 => out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        GgmlType::F16 => out.extend(blocks.map(f16_at)),
        GgmlType::BF16 => out.extend(
            blocks.map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)),
        ),
        GgmlType::Q8_0 => blocks.for_each(|b| q8_0(b, &mut out)),
        GgmlType::Q4_0 => blocks.for_each(|b| q4_0(b, &mut out)),
        GgmlType::Q4_1 => blocks.for_each(|b| q4_1(b, &mut out)),
        GgmlType::Q5_0 => blocks.for_each(|b| q5_0(b, &mut out)),
        GgmlType::Q5_1 => blocks.for_each(|b| q5_1(b, &mut out)),
        GgmlType::Q2_K => blocks.for_each(|b| kquants::q2_k(b, &mut out)),
        GgmlType::Q3_K => blocks.for_each(|b| kquants::q3_k(b, &mut out)),
        GgmlType::Q4_K => blocks.for_each(|b| kquants::q4_k(b, &mut out)),
        GgmlType::Q5_K => blocks.for_each(|b| kquants::q5_k(b, &mut out)),
        GgmlType::Q6_K => blocks.for_each(|b| kquants::q6_k(b, &mut out)),
        _ => return Err(format!("type {ty} has no dequantizer")),
    }
    Ok(out)
}

/// Q8_0: f16 `d`, 32 × i8 `q`; `x = q · d`.
fn q8_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b);
    out.extend(b[2..34].iter().map(|&q| f32::from(q as i8) * d));
}

/// The 4-bit values of a 32-block: low nibbles of the 16 bytes, then the high nibbles.
fn nibbles(qs: &[u8]) -> impl Iterator<Item = u8> + '_ {
    qs.iter().map(|q| q & 0x0F).chain(qs.iter().map(|q| q >> 4))
}

/// Q4_0: f16 `d`, 16 bytes of nibbles; `x = d · (q − 8)`.
fn q4_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b);
    out.extend(nibbles(&b[2..18]).map(|q| d * f32::from(q as i8 - 8)));
}

/// Q4_1: f16 `d`, f16 `m`, 16 bytes of nibbles; `x = d · q + m`.
fn q4_1(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (f16_at(b), f16_at(&b[2..]));
    out.extend(nibbles(&b[4..20]).map(|q| d * f32::from(q) + m));
}

/// The 5-bit values of a 32-block: nibbles as in Q4, bit `j` of the u32 `qh` as bit 4 of value `j`.
fn five_bits<'a>(qh: &'a [u8], qs: &'a [u8]) -> impl Iterator<Item = u8> + 'a {
    let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    nibbles(qs)
        .enumerate()
        .map(move |(j, q)| q | ((((qh >> j) & 1) as u8) << 4))
}

/// Q5_0: f16 `d`, u32 high bits, 16 bytes of nibbles; `x = d · (q − 16)`.
fn q5_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b);
    out.extend(five_bits(&b[2..6], &b[6..22]).map(|q| d * f32::from(q as i8 - 16)));
}

/// Q5_1: f16 `d`, f16 `m`, u32 high bits, 16 bytes of nibbles; `x = d · q + m`.
fn q5_1(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (f16_at(b), f16_at(&b[2..]));
    out.extend(five_bits(&b[4..8], &b[8..24]).map(|q| d * f32::from(q) + m));
}
