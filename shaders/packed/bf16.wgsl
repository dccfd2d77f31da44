// packed/bf16: element `e` of a BF16 tensor (2 bytes per value): its 16 bits are the top half of
// the f32.
fn packed_value(e: u32) -> f32 {
    return bitcast<f32>(packed_u16(e * 2u) << 16u);
}
