// packed/q5_k: element `e` of a Q5_K tensor. Super-block (256 values, 176 bytes): as Q4_K, with
// 32 bytes of high bits before the 128 bytes of nibbles: bit 4 of value `f` is bit `f / 32` of
// byte `f % 32`; `x = (d · scale) · q − dmin · min` (products exact in f32, one rounding).

// Scale (x) and min (y) of sub-block `j` from the 12 bytes at `s` (ggml's `get_scale_min_k4`).
fn packed_scale_min_k4(s: u32, j: u32) -> vec2<u32> {
    if (j < 4u) {
        return vec2<u32>(packed_byte(s + j) & 0x3Fu, packed_byte(s + j + 4u) & 0x3Fu);
    }
    let hi = packed_byte(s + j + 4u);
    let sc = (hi & 0xFu) | ((packed_byte(s + j - 4u) >> 2u) & 0x30u);
    let m = (hi >> 4u) | ((packed_byte(s + j) >> 2u) & 0x30u);
    return vec2<u32>(sc, m);
}

fn packed_value(e: u32) -> f32 {
    let b = (e / 256u) * 176u;
    let f = e % 256u;
    let sm = packed_scale_min_k4(b + 4u, f / 32u);
    let dl = packed_f16(b) * f32(sm.x);
    let ml = packed_f16(b + 2u) * f32(sm.y);
    let low = (packed_byte(b + 48u + 32u * (f / 64u) + f % 32u) >> (4u * ((f % 64u) / 32u))) & 0xFu;
    let high = (packed_byte(b + 16u + f % 32u) >> (f / 32u)) & 1u;
    return dl * f32(low | (high << 4u)) - ml;
}

// Elements `e .. e + 4` (`e % 4 == 0`: one sub-block), as four calls of `packed_value` give them.
fn packed_value4(e: u32) -> vec4<f32> {
    let b = (e / 256u) * 176u;
    let f = e % 256u;
    let sm = packed_scale_min_k4(b + 4u, f / 32u);
    let dl = packed_f16(b) * f32(sm.x);
    let ml = packed_f16(b + 2u) * f32(sm.y);
    let low = packed_fields(packed_u32_at(b + 48u + 32u * (f / 64u) + f % 32u), 4u * ((f % 64u) / 32u), 0xFu);
    let high = packed_fields(packed_u32_at(b + 16u + f % 32u), f / 32u, 1u);
    return dl * vec4<f32>(low | (high << vec4<u32>(4u))) - vec4<f32>(ml);
}
