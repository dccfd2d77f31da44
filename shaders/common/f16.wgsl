// common/f16: f16 bits to f32 without `shader-f16` (naga asks a capability even for
// `unpack2x16float`), composed before shaders/packed/bytes.wgsl and before kernels that read an
// f16 tensor of their own (matmul_pair's factor).

// The f16 with bits `h` as f32, exactly (integer decoding, so no `shader-f16` and no reliance on
// how an implementation converts f16 subnormals: each f16 is an f32 exactly).
fn f16_bits_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let ex = (h >> 10u) & 0x1Fu;
    let man = h & 0x3FFu;
    if (ex == 0u) {
        // Zero or subnormal: man · 2^-24 (an f32 normal number, or zero).
        return bitcast<f32>(sign | bitcast<u32>(ldexp(f32(man), -24)));
    }
    if (ex == 31u) {
        // Inf, or NaN (quiet, as the CPU conversion makes it).
        return bitcast<f32>(sign | 0x7F800000u | select(0u, 0x400000u | (man << 13u), man != 0u));
    }
    return bitcast<f32>(sign | ((ex + 112u) << 23u) | (man << 13u));
}
