// mul_cols: dst[t, c] = src[t, c] · (s[c] + s_add[c]) (h ⊙ (Σ − Σ₀) in the SVD layer, with
// s = Σ and s_add = −Σ₀: the delta is formed here, in f32, exactly as Σ + (−Σ₀) elsewhere), or
// src[t, c] · s[c] when has_add = 0.
struct Params {
    n: u32,       // rows · cols
    cols: u32,
    has_add: u32, // 0: s_add is ignored (any buffer)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;       // [T, C]
@group(0) @binding(2) var<storage, read> s: array<f32>;         // [C]
@group(0) @binding(3) var<storage, read> s_add: array<f32>;     // [C] (any buffer if has_add = 0)
@group(0) @binding(4) var<storage, read_write> dst: array<f32>; // [T, C]

@compute @workgroup_size(256)
fn mul_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let c = i % p.cols;
    var scale = s[c];
    if (p.has_add != 0u) { scale = scale + s_add[c]; }
    dst[i] = src[i] * scale;
}
