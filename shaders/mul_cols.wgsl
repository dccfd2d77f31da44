// mul_cols: dst[t, c] = src[t, c] · s[c] (h ⊙ Σ in the SVD layer).
struct Params {
    n: u32,    // rows · cols
    cols: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;       // [T, C]
@group(0) @binding(2) var<storage, read> s: array<f32>;         // [C]
@group(0) @binding(3) var<storage, read_write> dst: array<f32>; // [T, C]

@compute @workgroup_size(256)
fn mul_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < p.n) { dst[i] = src[i] * s[i % p.cols]; }
}
