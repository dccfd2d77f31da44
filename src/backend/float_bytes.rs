//! Little-endian f32, f16 and bf16 bytes (a checkpoint's tensors, a packed weight's storage) to
//! f32, written so that the loops vectorise: the bytes are read as `u16`/`f32` words where they
//! are aligned (they are wherever the allocator gave the buffer its usual alignment), and f16 is
//! widened without branches. In the page's wasm engine `half`'s per-value f16 conversion (a
//! software routine with branches there) took about 5 ns per value, this one 0.6 ns; bf16 and
//! f32 went from 0.6 to 0.3 ns per value (node's V8, one thread, `simd128`). Every value is
//! bitwise `half`'s, except that a NaN keeps its payload without `half`'s forced quiet bit (no caller
//! tells NaNs apart).

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
