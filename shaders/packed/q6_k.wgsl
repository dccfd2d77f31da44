// packed/q6_k: element `e` of a Q6_K tensor. Super-block (256 values, 210 bytes): 128 bytes of low
// nibbles, 64 bytes of 2-bit high parts, 16 × i8 scales, f16 `d`. Value `f` (half `h = f / 128`,
// `r = f % 128`): low = nibble `r / 64` of byte `64·h + r % 64`, high = bits `2·(r / 32)` of byte
// `128 + 32·h + r % 32`; `x = (d · scale[f / 16]) · (q − 32)` (exact in f32: 11 + 7 + 5 bits).
fn packed_value(e: u32) -> f32 {
    let b = (e / 256u) * 210u;
    let f = e % 256u;
    let h = f / 128u;
    let r = f % 128u;
    let low = (packed_byte(b + 64u * h + r % 64u) >> (4u * (r / 64u))) & 0xFu;
    let high = (packed_byte(b + 128u + 32u * h + r % 32u) >> (2u * (r / 32u))) & 3u;
    let q = i32(low | (high << 4u)) - 32;
    return (packed_f16(b + 208u) * f32(packed_i8(b + 192u + f / 16u))) * f32(q);
}

// Elements `e .. e + 4` (`e % 4 == 0`: one scale), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let b = (e / 256u) * 210u;
    let f = e % 256u;
    let h = f / 128u;
    let r = f % 128u;
    let low = packed_fields(packed_u32_at(b + 64u * h + r % 64u), 4u * (r / 64u), 0xFu);
    let high = packed_fields(packed_u32_at(b + 128u + 32u * h + r % 32u), 2u * (r / 32u), 3u);
    let q = vec4<i32>(low | (high << vec4<u32>(4u))) - vec4<i32>(32);
    return (packed_f16(b + 208u) * f32(packed_i8(b + 192u + f / 16u))) * vec4<f32>(q);
}
