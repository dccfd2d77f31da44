// rmsnorm_forward: y[t, c] = x[t, c] · rstd[t] · w[c], rstd[t] = 1 / sqrt(mean_c(x[t, c]²) + eps).
// One workgroup of 256 invocations per row: each invocation sums x² over a strided slice of the
// row, the partial sums are tree-reduced in workgroup memory, then every invocation scales its
// slice. Rows are spread over a 2-D grid (row = wid.x + wid.y · nwg.x) past 65535.
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
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn rmsnorm_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // Uniform across the workgroup, so the early return keeps the barriers below uniform.
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var acc = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        let v = x[base + c];
        acc += v * v;
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { partial[lid] += partial[lid + s]; }
        workgroupBarrier();
    }
    let r = 1.0 / sqrt(partial[0] / f32(p.cols) + p.eps);
    if (lid == 0u) { rstd[row] = r; }
    for (var c = lid; c < p.cols; c += WG) {
        y[base + c] = x[base + c] * r * w[c];
    }
}
