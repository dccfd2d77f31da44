// packed/bf16: element `e` of a BF16 tensor (2 bytes per value): its 16 bits are the top half of
// the f32.
fn packed_value(e: u32) -> f32 {
    return bitcast<f32>(packed_u16(e * 2u) << 16u);
}

// Elements `e .. e + 4` (`e % 4 == 0`), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let a = packed[e / 2u];
    let b = packed[e / 2u + 1u];
    return vec4<f32>(bitcast<f32>(a << 16u), bitcast<f32>(a & 0xFFFF0000u),
                     bitcast<f32>(b << 16u), bitcast<f32>(b & 0xFFFF0000u));
}
