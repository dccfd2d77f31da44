// packed/bf16: element e of a bfloat16 tensor, row-major, two values per u32 of the storage
// binding `packed: array<u32>` (declared by the shader this snippet is composed into): element e
// is the low half of word e / 2 when e is even, the high half when odd (the file's little-endian
// bytes). A bf16 is the top half of an f32, so the value is exact.
fn packed_value(e: u32) -> f32 {
    let w = packed[e >> 1u];
    return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (e & 1u) == 1u));
}
