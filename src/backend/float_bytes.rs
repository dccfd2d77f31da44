//! Little-endian f32, f16 and bf16 bytes (a checkpoint's tensors, a packed weight's storage) to
//! f32 and f32 to f16 and bf16 bytes (packed factors, exports), written so that the loops
//! vectorise: the bytes are read as `u16`/`f32` words where they are aligned (they are wherever
//! the allocator gave the buffer its usual alignment), and f16 is converted without branches
//! (`half`'s conversion is a branchy software routine in wasm, 8× slower there: bench/README.md,
//! "The last panel, half floats and larger groups"). Every value is `half`'s bit for bit, except
//! that an f16 or bf16 NaN widened to f32 keeps its payload without `half`'s forced quiet bit (no
//! caller tells NaNs apart).

/// One f16 (its bits) as f32, exactly: normal values re-biased, subnormals renormalised by a
/// float subtraction, infinities and NaNs given the all-ones exponent.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    const EXP: u32 = 0x7c00 << 13; // f16's exponent field, moved to f32's position
    let h = h as u32;
    let shifted = (h & 0x7fff) << 13;
    let exp = shifted & EXP;
    let normal = f32::from_bits(shifted + ((127 - 15) << 23));
    let inf_nan = f32::from_bits(shifted + ((255 - 31) << 23));
    // (1 + m / 1024) · 2⁻¹⁴ − 2⁻¹⁴ = m · 2⁻²⁴, the subnormal's value, exact.
    let subnormal = f32::from_bits(shifted + ((127 - 14) << 23)) - f32::from_bits((127 - 14) << 23);
    let v = if exp == EXP {
        inf_nan
    } else if exp == 0 {
        subnormal
    } else {
        normal
    };
    f32::from_bits(v.to_bits() | ((h & 0x8000) << 16))
}

/// `out[i]` = the i-th little-endian f16 of `bytes` (`bytes.len() == 2 · out.len()`).
pub fn decode_f16(bytes: &[u8], out: &mut [f32]) {
    each_u16(bytes, out, f16_to_f32);
}

/// `out[i]` = the i-th little-endian bf16 of `bytes` (`bytes.len() == 2 · out.len()`).
pub fn decode_bf16(bytes: &[u8], out: &mut [f32]) {
    each_u16(bytes, out, |h| f32::from_bits((h as u32) << 16));
}

/// `out[i]` = the i-th little-endian f32 of `bytes` (`bytes.len() == 4 · out.len()`).
pub fn decode_f32(bytes: &[u8], out: &mut [f32]) {
    match bytemuck::try_cast_slice::<u8, f32>(bytes) {
        Ok(words) if cfg!(target_endian = "little") => out.copy_from_slice(words),
        _ => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
    }
}

/// One f32 as f16 (its bits), rounded to nearest, ties to even: `half`'s `f16::from_f32`
/// bitwise, NaNs included (quieted, the top of the payload kept).
#[inline(always)]
pub fn f32_to_f16(v: f32) -> u16 {
    let bits = v.to_bits();
    let sign = (bits >> 16) & 0x8000;
    let abs = bits & 0x7fff_ffff;
    // Normal results: re-bias the exponent, round the 13 dropped bits to nearest even (a carry
    // out of the mantissa moves to the next exponent, up to infinity from 65520 on).
    let normal = abs
        .wrapping_add(((15u32).wrapping_sub(127) << 23).wrapping_add(0xfff))
        .wrapping_add((abs >> 13) & 1)
        >> 13;
    // Below 2⁻¹⁴ (subnormal or zero): adding 0.5 aligns the result's ten bits at the bottom of
    // the mantissa, and the float addition rounds them to nearest even.
    const HALF: u32 = 126 << 23;
    let subnormal = (f32::from_bits(abs) + f32::from_bits(HALF))
        .to_bits()
        .wrapping_sub(HALF);
    let mantissa = abs & 0x007f_ffff;
    let inf_nan = 0x7c00 | if mantissa != 0 { 0x0200 } else { 0 } | (mantissa >> 13);
    let h = if abs >= 0x7f80_0000 {
        inf_nan
    } else if abs >= (127 + 16) << 23 {
        0x7c00
    } else if abs < (127 - 14) << 23 {
        subnormal
    } else {
        normal
    };
    (h | sign) as u16
}

/// One f32 as bf16 (its bits), rounded to nearest, ties to even: `half`'s `bf16::from_f32`
/// bitwise, NaNs included (quieted).
#[inline(always)]
pub fn f32_to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16;
    let h = if bits & 0x7fff_ffff > 0x7f80_0000 {
        (bits >> 16) | 0x0040
    } else {
        rounded
    };
    h as u16
}

/// `values` as little-endian f16 (`to_f16` [`f32_to_f16`]) or bf16 ([`f32_to_bf16`]) bytes.
pub fn encode_halves(values: &[f32], to_half: fn(f32) -> u16) -> Vec<u8> {
    let mut words = vec![0u16; values.len()];
    for (w, &v) in words.iter_mut().zip(values) {
        *w = to_half(v).to_le();
    }
    bytemuck::cast_slice(&words).to_vec()
}

/// `out[i] = f(u16 i of bytes)`, over aligned words when the bytes allow it.
#[inline(always)]
fn each_u16(bytes: &[u8], out: &mut [f32], f: impl Fn(u16) -> f32) {
    match bytemuck::try_cast_slice::<u8, u16>(bytes) {
        Ok(words) => {
            for (o, &w) in out.iter_mut().zip(words) {
                *o = f(u16::from_le(w));
            }
        }
        Err(_) => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f(u16::from_le_bytes([b[0], b[1]]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_f16_matches_half() {
        for h in 0..=u16::MAX {
            let (ours, theirs) = (f16_to_f32(h), half::f16::from_bits(h).to_f32());
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{h:#06x}: {ours}");
                assert_eq!(
                    ours.to_bits() & 0x807f_ffff & !0x0040_0000,
                    theirs.to_bits() & 0x807f_ffff & !0x0040_0000,
                    "{h:#06x}: payload"
                );
            } else {
                assert_eq!(
                    ours.to_bits(),
                    theirs.to_bits(),
                    "{h:#06x}: {ours} against {theirs}"
                );
            }
        }
    }

    /// f32 → f16 and bf16 against `half` over every exponent, many mantissas per exponent
    /// (ties, the bits around them, the extremes) and both signs.
    #[test]
    fn f32_to_halves_match_half() {
        let mut checked = 0;
        for exp in 0..256u32 {
            for m in (0..1u32 << 23).step_by(997).chain([
                0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7f_e000, 0x7f_f000, 0x7f_ffff,
            ]) {
                for sign in [0, 1u32 << 31] {
                    let v = f32::from_bits(sign | exp << 23 | m);
                    assert_eq!(
                        f32_to_f16(v),
                        half::f16::from_f32(v).to_bits(),
                        "f16 of {v:e} ({:#010x})",
                        v.to_bits()
                    );
                    assert_eq!(
                        f32_to_bf16(v),
                        half::bf16::from_f32(v).to_bits(),
                        "bf16 of {v:e} ({:#010x})",
                        v.to_bits()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 4_000_000);
        let bytes = encode_halves(&[1.0, -2.5, 65520.0], f32_to_f16);
        assert_eq!(bytes, [0x00, 0x3c, 0x00, 0xc1, 0x00, 0x7c]);
    }

    /// The aligned and the unaligned paths give the same values (`half`'s, and the bytes' own
    /// for f32).
    #[test]
    fn aligned_and_unaligned_bytes_decode_alike() {
        let halves: Vec<u16> = (0..1000u32).map(|i| (i * 65_521 % 65_536) as u16).collect();
        let floats: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.37).collect();
        let mut buf = vec![0u8; 4 * 1000 + 8];
        for shift in 0..4 {
            let b16 = &mut buf[shift..shift + 2000];
            for (c, h) in b16.chunks_exact_mut(2).zip(&halves) {
                c.copy_from_slice(&h.to_le_bytes());
            }
            let mut out = vec![0.0; 1000];
            decode_f16(&buf[shift..shift + 2000], &mut out);
            let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            for (&o, &h) in out.iter().zip(&halves) {
                assert!(same(o, half::f16::from_bits(h).to_f32()), "f16 {h:#06x}");
            }
            decode_bf16(&buf[shift..shift + 2000], &mut out);
            for (&o, &h) in out.iter().zip(&halves) {
                assert!(same(o, half::bf16::from_bits(h).to_f32()), "bf16 {h:#06x}");
            }
            for (c, f) in buf[shift..shift + 4000].chunks_exact_mut(4).zip(&floats) {
                c.copy_from_slice(&f.to_le_bytes());
            }
            decode_f32(&buf[shift..shift + 4000], &mut out);
            assert_eq!(out, floats);
        }
    }
}
