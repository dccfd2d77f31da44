// dequant_rows: out[r, c] = element (row0 + r, c) of a packed tensor [R, C] (a GGUF block tensor,
// or F16 / BF16), for r in 0..rows, as f32. Composed after shaders/packed/bytes.wgsl and one
// shaders/packed/<type>.wgsl, which define `packed_value(e)` (element `e` in row-major order) and
// `packed_value4(e)` (elements e..e+4, e % 4 == 0); the values are bitwise those of the CPU
// dequantization (src/gguf/dequant.rs, kquants.rs). With `quad` set (n and first multiples of 4)
// each invocation writes 4 values through `packed_value4`, else one through `packed_value`.
struct Params {
    n: u32,     // rows · C
    first: u32, // row0 · C: the first element read
    quad: u32,  // 1: 4 values per invocation
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> packed: array<u32>;    // the tensor's bytes, padded to 4
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [rows, C]

@compute @workgroup_size(256)
fn dequant_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (p.quad == 0u) {
        if (i >= p.n) { return; }
        out[i] = packed_value(p.first + i);
        return;
    }
    let e = i * 4u;
    if (e >= p.n) { return; }
    let v = packed_value4(p.first + e);
    out[e] = v.x;
    out[e + 1u] = v.y;
    out[e + 2u] = v.z;
    out[e + 3u] = v.w;
}
