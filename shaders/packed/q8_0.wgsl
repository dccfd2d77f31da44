// packed/q8_0: element `e` of a Q8_0 tensor. Block (32 values, 34 bytes): f16 `d`, 32 × i8 `q`;
// `x = q · d` (exact in f32: an 11-bit significand times a 7-bit integer).
fn packed_value(e: u32) -> f32 {
    let b = (e / 32u) * 34u;
    return f32(packed_i8(b + 2u + e % 32u)) * packed_f16(b);
}
