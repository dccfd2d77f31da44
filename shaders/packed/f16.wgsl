// packed/f16: element `e` of an F16 tensor (2 bytes per value), exactly as f32.
fn packed_value(e: u32) -> f32 {
    return packed_f16(e * 2u);
}
