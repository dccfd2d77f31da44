// matmul_rows: C = alpha · A · op(B) (+ C when accumulate) for few rows (M ≤ 8), A stored [M, K]
// (no transpose): the single-token and short steps of generation, where a 64-row tile would
// waste most of its work. op(B) is [K, N]: B stored [K, N], or [N, K] when TRANS_B.
// A workgroup of 256 invocations owns 32 output columns; each column's K range is split over 8
// lanes (every row's partial sum kept in registers), then the lanes' partials are added through
// workgroup memory. Lanes are adjacent for TRANS_B (consecutive k of one B row: coalesced) and
// columns are adjacent otherwise (consecutive n of one B row: coalesced).
// B is read through `frozen_value(e)` from the piece composed before this file (see matmul.wgsl).
struct Params {
    m: u32,
    n: u32,
    k: u32,
    accumulate: u32, // 1: C += product
    alpha: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;       // [M, K]
// binding 2: B, [K, N] or [N, K] (declared by the frozen/ piece)
@group(0) @binding(3) var<storage, read_write> c: array<f32>; // [M, N]

override TRANS_B: bool = false;

const MAX_M: u32 = 8u;
const LANES: u32 = 8u;
const COLS: u32 = 32u;
var<workgroup> part: array<f32, 2048>; // [256 invocations][MAX_M]

fn invocation(col: u32, lane: u32) -> u32 {
    if (TRANS_B) { return col * LANES + lane; }
    return lane * COLS + col;
}

@compute @workgroup_size(256)
fn matmul_rows(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x + wid.y * nwg.x;
    var col: u32;
    var lane: u32;
    if (TRANS_B) {
        col = lid / LANES;
        lane = lid % LANES;
    } else {
        col = lid % COLS;
        lane = lid / COLS;
    }
    let j = group * COLS + col;
    var acc: array<f32, 8>;
    for (var r = 0u; r < MAX_M; r++) { acc[r] = 0.0; }
    if (j < p.n) {
        for (var kk = lane; kk < p.k; kk += LANES) {
            var bv: f32;
            if (TRANS_B) { bv = frozen_value(j * p.k + kk); } else { bv = frozen_value(kk * p.n + j); }
            for (var r = 0u; r < p.m; r++) {
                acc[r] += a[r * p.k + kk] * bv;
            }
        }
    }
    for (var r = 0u; r < MAX_M; r++) { part[lid * MAX_M + r] = acc[r]; }
    workgroupBarrier();
    if (lane == 0u && j < p.n) {
        for (var r = 0u; r < p.m; r++) {
            var s = 0.0;
            for (var l = 0u; l < LANES; l++) {
                s += part[invocation(col, l) * MAX_M + r];
            }
            var out = p.alpha * s;
            if (p.accumulate != 0u) { out += c[r * p.n + j]; }
            c[r * p.n + j] = out;
        }
    }
}
