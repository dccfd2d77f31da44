// packed/q4_0: element `e` of a Q4_0 tensor. Block (32 values, 18 bytes): f16 `d`, 16 bytes of
// nibbles (values 0..16 in the low nibbles, 16..32 in the high ones); `x = d · (q − 8)`.
fn packed_value(e: u32) -> f32 {
    let b = (e / 32u) * 18u;
    let i = e % 32u;
    let q = (packed_byte(b + 2u + i % 16u) >> ((i / 16u) * 4u)) & 0xFu;
    return packed_f16(b) * f32(i32(q) - 8);
}

// Elements `e .. e + 4` (`e % 4 == 0`, so one block), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let b = (e / 32u) * 18u;
    let i = e % 32u;
    let q = packed_fields(packed_u32_at(b + 2u + i % 16u), (i / 16u) * 4u, 0xFu);
    return packed_f16(b) * (vec4<f32>(q) - vec4<f32>(8.0));
}
