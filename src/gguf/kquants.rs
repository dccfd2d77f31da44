//! The K-quants (256-value super-blocks of 16 or 8 sub-blocks with their own scales): Q2_K, Q3_K,
//! Q4_K, Q5_K, Q6_K. Each function appends one block's 256 values. The bit layouts are ggml's
//! (`block_q*_K` in ggml-common.h), and each value is computed with the operations, in f32 and in
//! the order, that `gguf.quants` uses, so the results are bitwise identical.
//!
//! Value `f` (0..256) of a block is read from its packed fields as the comments say; `f / 16`
//! (or `f / 32`) picks the sub-block scale.
use super::dequant::f16_at;

const QK: usize = 256;

/// Q2_K: 16 × u8 scales (low nibble scale, high nibble min), 64 bytes of 2-bit values, f16 `d`,
/// f16 `dmin`. Value `f` = bits `2·((f % 128) / 32)` of `qs[32·(f / 128) + f % 32]`;
/// `x = (d · scale) · q − dmin · min`.
pub fn q2_k(b: &[u8], out: &mut Vec<f32>) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f16_at(&b[80..]), f16_at(&b[82..]));
    out.extend((0..QK).map(|f| {
        let s = scales[f / 16];
        let (dl, ml) = (d * f32::from(s & 0x0F), dmin * f32::from(s >> 4));
        let q = (qs[32 * (f / 128) + f % 32] >> (2 * ((f % 128) / 32))) & 3;
        dl * f32::from(q) - ml
    }));
}

/// The 16 six-bit Q3_K scales (minus 32) from their 12 packed bytes: scale `j` takes its low 4
/// bits from byte `j % 8` (nibble `j / 8`) and its high 2 bits from byte `8 + j % 4` (bits
/// `2·(j / 4)`).
fn q3_scales(s: &[u8]) -> [f32; 16] {
    std::array::from_fn(|j| {
        let low = (s[j % 8] >> (4 * (j / 8))) & 0x0F;
        let high = (s[8 + j % 4] >> (2 * (j / 4))) & 0x03;
        f32::from((low | (high << 4)) as i8 - 32)
    })
}

/// Q3_K: 32 bytes of high-bit mask, 64 bytes of 2-bit values, 12 bytes of scales, f16 `d`.
/// Value `f`: low bits as in Q2_K, high bit = bit `f / 32` of `hmask[f % 32]`, and
/// `q = low − 4` when that bit is clear; `x = (d · scale) · q`.
pub fn q3_k(b: &[u8], out: &mut Vec<f32>) {
    let (hmask, qs) = (&b[0..32], &b[32..96]);
    let scales = q3_scales(&b[96..108]);
    let d = f16_at(&b[108..]);
    out.extend((0..QK).map(|f| {
        let low = ((qs[32 * (f / 128) + f % 32] >> (2 * ((f % 128) / 32))) & 3) as i8;
        let high = (hmask[f % 32] >> (f / 32)) & 1;
        let q = low - if high == 0 { 4 } else { 0 };
        (d * scales[f / 16]) * f32::from(q)
    }));
}

/// The 8 six-bit scales and mins of Q4_K / Q5_K from 12 packed bytes: for `j < 4` the low 6 bits
/// of bytes `j` (scale) and `4 + j` (min); for `j ≥ 4` a nibble of byte `8 + j − 4` plus the top 2
/// bits of bytes `j − 4` and `j`.
fn scale_min(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let sc = std::array::from_fn(|j| {
        if j < 4 {
            s[j] & 0x3F
        } else {
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 2) & 0x30)
        }
    });
    let m = std::array::from_fn(|j| {
        if j < 4 {
            s[j + 4] & 0x3F
        } else {
            (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30)
        }
    });
    (sc, m)
}

/// The 4-bit part of value `f` of Q4_K / Q5_K: nibble `(f % 64) / 32` of `qs[32·(f / 64) + f % 32]`.
fn nibble(qs: &[u8], f: usize) -> u8 {
    (qs[32 * (f / 64) + f % 32] >> (4 * ((f % 64) / 32))) & 0x0F
}

/// Q4_K: f16 `d`, f16 `dmin`, 12 bytes of scales/mins, 128 bytes of nibbles;
/// `x = (d · scale) · q − dmin · min` with sub-block `f / 32`.
pub fn q4_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16_at(b), f16_at(&b[2..]));
    let (sc, m) = scale_min(&b[4..16]);
    let qs = &b[16..144];
    out.extend((0..QK).map(|f| {
        let (dl, ml) = (d * f32::from(sc[f / 32]), dmin * f32::from(m[f / 32]));
        dl * f32::from(nibble(qs, f)) - ml
    }));
}

/// Q5_K: as Q4_K with 32 bytes of high bits before the nibbles: bit 4 of value `f` is bit
/// `f / 32` of `qh[f % 32]`.
pub fn q5_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16_at(b), f16_at(&b[2..]));
    let (sc, m) = scale_min(&b[4..16]);
    let (qh, qs) = (&b[16..48], &b[48..176]);
    out.extend((0..QK).map(|f| {
        let (dl, ml) = (d * f32::from(sc[f / 32]), dmin * f32::from(m[f / 32]));
        let q = nibble(qs, f) | (((qh[f % 32] >> (f / 32)) & 1) << 4);
        dl * f32::from(q) - ml
    }));
}

/// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 × i8 scales, f16 `d`.
/// Value `f` (half `h = f / 128`, `r = f % 128`): low = nibble `r / 64` of
/// `ql[64·h + r % 64]`, high = bits `2·(r / 32)` of `qh[32·h + r % 32]`;
/// `x = (d · scale[f / 16]) · (q − 32)`.
pub fn q6_k(b: &[u8], out: &mut Vec<f32>) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16_at(&b[208..]);
    out.extend((0..QK).map(|f| {
        let (h, r) = (f / 128, f % 128);
        let low = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
        let high = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
        let q = (low | (high << 4)) as i8 - 32;
        (d * f32::from(scales[f / 16] as i8)) * f32::from(q)
    }));
}
