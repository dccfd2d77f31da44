// rmsnorm_forward: y[t, c] = x[t, c] · rstd[t] · w[c], rstd[t] = 1 / sqrt(mean_c(x[t, c]²) + eps).
// One workgroup of 256 invocations per row: each invocation sums x² over a strided slice of the
// row, the partial sums are reduced over the workgroup (common/workgroup_reduce.wgsl), then
// every invocation scales its slice. Rows are spread over a 2-D grid (row = wid.x + wid.y · nwg.x) past 65535.
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [T, C]
@group(0) @binding(2) var<storage, read> w: array<f32>;          // [C]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;    // [T, C]
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>; // [T]

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn rmsnorm_forward(ids: GroupIds, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // Uniform across the workgroup, so the early return keeps the barriers below uniform.
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    let lid = ids.lid;
    var acc = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        let v = x[base + c];
        acc += v * v;
    }
    let r = 1.0 / sqrt(workgroup_sum(ids, acc) / f32(p.cols) + p.eps);
    if (lid == 0u) { rstd[row] = r; }
    for (var c = lid; c < p.cols; c += WG) {
        y[base + c] = x[base + c] * r * w[c];
    }
}
