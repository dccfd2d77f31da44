// sum_blocks: out[i] (+)= Σ_r partials[i · blocks + r] for i < n: the row-block partials of dΣ
// (matmul_col_dot.wgsl, col_dot_blocks.wgsl) added into the gradients, for every trained tensor
// in one dispatch when they share one buffer.
struct Params {
    n: u32,
    blocks: u32,
    accumulate: u32, // 1: add to what out holds
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;  // [n, blocks] (or more rows)
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [n]

@compute @workgroup_size(256)
fn sum_blocks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    var acc = 0.0;
    for (var r = 0u; r < p.blocks; r++) {
        acc += partials[i * p.blocks + r];
    }
    if (p.accumulate != 0u) { acc += out[i]; }
    out[i] = acc;
}
