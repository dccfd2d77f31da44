// packed/f16: element e of an IEEE half-float tensor, row-major, two values per u32 of the
// storage binding `packed: array<u32>` (declared by the shader this snippet is composed into):
// element e is the low half of word e / 2 when e is even, the high half when odd (the file's
// little-endian bytes). Converted with integer ops, exactly (subnormals, infinities and NaN
// included): no shader-f16, and no unpack2x16float (which needs a capability some validators
// withhold and may flush subnormals).
fn packed_value(e: u32) -> f32 {
    let h = (packed[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;
    let sign = (h & 0x8000u) << 16u;
    let exp = (h >> 10u) & 0x1fu;
    let mant = h & 0x3ffu;
    if (exp == 0u) {
        // Zero or subnormal: mant · 2^-24, exact in f32.
        let v = f32(mant) * 5.9604644775390625e-8;
        return bitcast<f32>(bitcast<u32>(v) | sign);
    }
    if (exp == 31u) {
        return bitcast<f32>(sign | 0x7f800000u | (mant << 13u));
    }
    return bitcast<f32>(sign | ((exp + 112u) << 23u) | (mant << 13u));
}
