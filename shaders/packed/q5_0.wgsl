// packed/q5_0: element `e` of a Q5_0 tensor. Block (32 values, 22 bytes): f16 `d`, 4 bytes of high
// bits (bit `i` of the little-endian u32 is bit 4 of value `i`), 16 bytes of nibbles as in Q4_0;
// `x = d · (q − 16)`.
fn packed_value(e: u32) -> f32 {
    let b = (e / 32u) * 22u;
    let i = e % 32u;
    let low = (packed_byte(b + 6u + i % 16u) >> ((i / 16u) * 4u)) & 0xFu;
    let high = (packed_byte(b + 2u + i / 8u) >> (i % 8u)) & 1u;
    return packed_f16(b) * f32(i32(low | (high << 4u)) - 16);
}

// Elements `e .. e + 4` (`e % 4 == 0`, so one block), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let b = (e / 32u) * 22u;
    let i = e % 32u;
    let low = packed_fields(packed_u32_at(b + 6u + i % 16u), (i / 16u) * 4u, 0xFu);
    let qh = packed_u32_at(b + 2u) >> i;
    let high = (vec4<u32>(qh) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u);
    return packed_f16(b) * (vec4<f32>(low | (high << vec4<u32>(4u))) - vec4<f32>(16.0));
}
