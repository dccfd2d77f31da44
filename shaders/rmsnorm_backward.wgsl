// rmsnorm_backward: dx[t, c] (+)= rstd[t] · (w[c]·dy[t, c] − x̂[t, c] · mean_c(x̂ ⊙ w ⊙ dy)[t]),
// x̂ = x · rstd (rstd saved by rmsnorm_forward). dw is not computed here: the encoder adds
// Σ_t dy · x · rstd with the col_dot kernels.
// One workgroup of 256 invocations per row: strided partial dot products, reduced over the
// workgroup (common/workgroup_reduce.wgsl). Rows are spread over a 2-D grid (row = wid.x + wid.y · nwg.x) past 65535.
struct Params {
    rows: u32,
    cols: u32,
    accumulate_dx: u32, // 1: add to what dx holds
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [T, C]
@group(0) @binding(2) var<storage, read> w: array<f32>;        // [C]
@group(0) @binding(3) var<storage, read> rstd: array<f32>;     // [T]
@group(0) @binding(4) var<storage, read> dy: array<f32>;       // [T, C]
@group(0) @binding(5) var<storage, read_write> dx: array<f32>; // [T, C]

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn rmsnorm_backward(ids: GroupIds, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // Uniform across the workgroup, so the early return keeps the barriers below uniform.
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    let r = rstd[row];
    let lid = ids.lid;
    // Σ_c x · w · dy; the two factors of rstd are applied once after the reduction.
    var acc = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        acc += x[base + c] * w[c] * dy[base + c];
    }
    // mean_c(x̂ ⊙ w ⊙ dy)
    let dot = workgroup_sum(ids, acc) * r / f32(p.cols);
    for (var c = lid; c < p.cols; c += WG) {
        let i = base + c;
        var g = r * (w[c] * dy[i] - x[i] * r * dot);
        if (p.accumulate_dx != 0u) { g += dx[i]; }
        dx[i] = g;
    }
}
