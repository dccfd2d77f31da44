// packed/q4_1: element `e` of a Q4_1 tensor. Block (32 values, 20 bytes): f16 `d`, f16 `m`, 16
// bytes of nibbles as in Q4_0; `x = d · q + m`. `d · q` is exact in f32, so a fused multiply-add
// rounds the same way as the CPU's multiply then add.
fn packed_value(e: u32) -> f32 {
    let b = (e / 32u) * 20u;
    let i = e % 32u;
    let q = (packed_byte(b + 4u + i % 16u) >> ((i / 16u) * 4u)) & 0xFu;
    return packed_f16(b) * f32(q) + packed_f16(b + 2u);
}
