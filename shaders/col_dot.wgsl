// col_dot: out[c] (+)= Σ_t a[t, c] · b[t, c] · row_scale[t] in ONE pass (dΣ of an SVD layer,
// RMSNorm dw), for row counts small enough that a workgroup can walk them all; past the
// threshold (GpuTuning::col_dot_single_pass_rows) col_dot_partial + sum_partials run instead.
// A workgroup of 256 invocations covers 256 / LANES adjacent columns with LANES invocations
// per column: lane l sums rows l, l + LANES, … (adjacent invocations read adjacent columns), the
// lanes meet in workgroup memory and lane 0 writes (WGSL has no float atomics; a workgroup owns
// its columns, so no second pass is needed).
struct Params {
    rows: u32,
    cols: u32,
    has_scale: u32,  // 0: row_scale is ignored (treated as 1)
    accumulate: u32, // 1: add to what out holds
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;         // [T, C]
@group(0) @binding(2) var<storage, read> b: array<f32>;         // [T, C]
@group(0) @binding(3) var<storage, read> row_scale: array<f32>; // [T] (any buffer if has_scale = 0)
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [C]

// Invocations per column; a power of two dividing 256 (the host picks it per shape).
override LANES: u32 = 4u;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn col_dot(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let per = 256u / LANES; // columns per workgroup
    let lid = lid3.x;
    let lane = lid / per;
    let c = wid.x * per + lid % per;
    var acc = 0.0;
    if (c < p.cols) {
        for (var t = lane; t < p.rows; t += LANES) {
            var s = 1.0;
            if (p.has_scale != 0u) { s = row_scale[t]; }
            acc += a[t * p.cols + c] * b[t * p.cols + c] * s;
        }
    }
    red[lid] = acc;
    workgroupBarrier();
    if (lane == 0u && c < p.cols) {
        var sum = 0.0;
        for (var l = 0u; l < LANES; l++) {
            sum += red[l * per + lid];
        }
        if (p.accumulate != 0u) { sum += out[c]; }
        out[c] = sum;
    }
}
