// swiglu_forward: out = silu(gate) ⊙ up, silu(x) = x · sigmoid(x).
struct Params {
    n: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;      // [T, I]
@group(0) @binding(2) var<storage, read> up: array<f32>;        // [T, I]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [T, I]

@compute @workgroup_size(256)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let g = gate[i];
    out[i] = g / (1.0 + exp(-g)) * up[i];
}
