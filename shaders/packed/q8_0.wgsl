// packed/q8_0: element `e` of a Q8_0 tensor. Block (32 values, 34 bytes): f16 `d`, 32 × i8 `q`;
// `x = q · d` (exact in f32: an 11-bit significand times a 7-bit integer).
fn packed_value(e: u32) -> f32 {
    let b = (e / 32u) * 34u;
    return f32(packed_i8(b + 2u + e % 32u)) * packed_f16(b);
}

// Elements `e .. e + 4` (`e % 4 == 0`, so one block), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let b = (e / 32u) * 34u;
    let w = packed_u32_at(b + 2u + e % 32u);
    let q = vec4<f32>(f32(packed_i8_of(w, 0u)), f32(packed_i8_of(w, 1u)),
                      f32(packed_i8_of(w, 2u)), f32(packed_i8_of(w, 3u)));
    return q * packed_f16(b);
}
