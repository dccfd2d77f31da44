// packed/q4_1: element `e` of a Q4_1 tensor. Block (32 values, 20 bytes): f16 `d`, f16 `m`, 16
// bytes of nibbles as in Q4_0; `x = d · q + m`. `d · q` is exact in f32, so a fused multiply-add
// rounds the same way as the CPU's multiply then add.
fn packed_value(e: u32) -> f32 {
    let b = (e / 32u) * 20u;
    let i = e % 32u;
    let q = (packed_byte(b + 4u + i % 16u) >> ((i / 16u) * 4u)) & 0xFu;
    return packed_f16(b) * f32(q) + packed_f16(b + 2u);
}

// Elements `e .. e + 4` (`e % 4 == 0`, so one block), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let b = (e / 32u) * 20u;
    let i = e % 32u;
    let q = packed_fields(packed_u32_at(b + 4u + i % 16u), (i / 16u) * 4u, 0xFu);
    return packed_f16(b) * vec4<f32>(q) + vec4<f32>(packed_f16(b + 2u));
}
