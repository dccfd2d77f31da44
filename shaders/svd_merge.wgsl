// svd_merge: out[i, j] = w_res[i, j] + Σ_r u[i, r] · sigma[r] · v[j, r]   (W' + U diag(Σ) Vᵀ).
// One invocation per output element, 16×16 per workgroup. Runs once per layer at export.
struct Params {
    m: u32,
    n: u32,
    q: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w_res: array<f32>;     // [m, n]
@group(0) @binding(2) var<storage, read> u: array<f32>;         // [m, q]
@group(0) @binding(3) var<storage, read> sigma: array<f32>;     // [q]
@group(0) @binding(4) var<storage, read> v: array<f32>;         // [n, q]
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // [m, n]

@compute @workgroup_size(16, 16, 1)
fn svd_merge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let i = gid.y;
    if (i >= p.m || j >= p.n) { return; }
    var acc = w_res[i * p.n + j];
    for (var r = 0u; r < p.q; r++) {
        acc += u[i * p.q + r] * sigma[r] * v[j * p.q + r];
    }
    out[i * p.n + j] = acc;
}
