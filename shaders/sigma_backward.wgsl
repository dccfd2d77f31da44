// sigma_backward: the Σ part of an SVD layer's backward in ONE pass over k = g U:
//   dsigma[c] += Σ_t h[t, c] · k[t, c]        (dΣ)
//   k_scaled[t, c] = k[t, c] · (sigma[c] + neg_sigma0[c])   (k ⊙ (Σ − Σ₀), for dx)
// For row counts up to GpuTuning::col_dot_single_pass_rows (past it, col_dot and mul_cols run).
// The same walk as col_dot.wgsl: a workgroup of 256 invocations covers 256 / LANES adjacent
// columns with LANES invocations per column; lane l takes rows l, l + LANES, …, writes its
// k_scaled entries as it reads k, and lane 0 adds the lanes' sums from workgroup memory.
struct Params {
    rows: u32,
    cols: u32, // q
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;               // [T, q]
@group(0) @binding(2) var<storage, read> k: array<f32>;               // [T, q]
@group(0) @binding(3) var<storage, read> sigma: array<f32>;           // [q]
@group(0) @binding(4) var<storage, read> neg_sigma0: array<f32>;      // [q]
@group(0) @binding(5) var<storage, read_write> dsigma: array<f32>;    // [q]
@group(0) @binding(6) var<storage, read_write> k_scaled: array<f32>;  // [T, q]

// Invocations per column; a power of two dividing 256 (the host picks it per shape).
override LANES: u32 = 4u;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn sigma_backward(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let per = 256u / LANES; // columns per workgroup
    let lid = lid3.x;
    let lane = lid / per;
    let c = wid.x * per + lid % per;
    var acc = 0.0;
    if (c < p.cols) {
        let d = sigma[c] + neg_sigma0[c];
        for (var t = lane; t < p.rows; t += LANES) {
            let i = t * p.cols + c;
            let kv = k[i];
            acc += h[i] * kv;
            k_scaled[i] = kv * d;
        }
    }
    red[lid] = acc;
    workgroupBarrier();
    if (lane == 0u && c < p.cols) {
        var sum = 0.0;
        for (var l = 0u; l < LANES; l++) {
            sum += red[l * per + lid];
        }
        dsigma[c] = dsigma[c] + sum;
    }
}
