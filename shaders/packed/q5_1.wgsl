// packed/q5_1: element `e` of a Q5_1 tensor. Block (32 values, 24 bytes): f16 `d`, f16 `m`, 4
// bytes of high bits and 16 bytes of nibbles as in Q5_0; `x = d · q + m` (`d · q` exact in f32).
fn packed_value(e: u32) -> f32 {
    let b = (e / 32u) * 24u;
    let i = e % 32u;
    let low = (packed_byte(b + 8u + i % 16u) >> ((i / 16u) * 4u)) & 0xFu;
    let high = (packed_byte(b + 4u + i / 8u) >> (i % 8u)) & 1u;
    return packed_f16(b) * f32(low | (high << 4u)) + packed_f16(b + 2u);
}

// Elements `e .. e + 4` (`e % 4 == 0`, so one block), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let b = (e / 32u) * 24u;
    let i = e % 32u;
    let low = packed_fields(packed_u32_at(b + 8u + i % 16u), (i / 16u) * 4u, 0xFu);
    let qh = packed_u32_at(b + 4u) >> i;
    let high = (vec4<u32>(qh) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u);
    return packed_f16(b) * vec4<f32>(low | (high << vec4<u32>(4u))) + vec4<f32>(packed_f16(b + 2u));
}
