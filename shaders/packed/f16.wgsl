// packed/f16: element `e` of an F16 tensor (2 bytes per value), exactly as f32.
fn packed_value(e: u32) -> f32 {
    return packed_f16(e * 2u);
}

// Elements `e .. e + 4` (`e % 4 == 0`), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let a = packed[e / 2u];
    let b = packed[e / 2u + 1u];
    return vec4<f32>(f16_bits_to_f32(a & 0xFFFFu), f16_bits_to_f32(a >> 16u),
                     f16_bits_to_f32(b & 0xFFFFu), f16_bits_to_f32(b >> 16u));
}
