// add_bias: y[t, c] += b[c] for every row t.
struct Params {
    n: u32,    // rows · cols
    cols: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>; // [T, C]
@group(0) @binding(2) var<storage, read> b: array<f32>;       // [C]

@compute @workgroup_size(256)
fn add_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < p.n) { y[i] += b[i % p.cols]; }
}
