// attention_cached: attention of new query rows against a key/value cache (generation).
// Query row i sits at position pos = q_offset + i; its head h attends cache rows lo ..= pos of kv
// head h / group, lo = max(0, pos + 1 − window) (0 when window is 0):
//   s_j = scale · q_ih·k_j,  out[i, h] = Σ_j exp(s_j − max) · v_j / Σ_j exp(s_j − max).
// One workgroup per (row, head). The scores of a pair live in its row of a scratch buffer
// [rows·H, span], span = q_offset + rows; three passes: scores and max, exp and sum, then the
// weighted sum of v with each invocation owning head dims lid + 64·s.
struct Params {
    rows: u32,     // new query rows
    q_offset: u32, // position of row 0
    heads: u32,    // H
    group: u32,    // H / Hkv
    head_dim: u32, // D
    kv_width: u32, // Hkv·D
    window: u32,   // 0 = unlimited
    scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;            // [rows, H·D]
@group(0) @binding(2) var<storage, read> k: array<f32>;            // [L, Hkv·D]
@group(0) @binding(3) var<storage, read> v: array<f32>;            // [L, Hkv·D]
@group(0) @binding(4) var<storage, read_write> scores: array<f32>; // [rows·H, span]
@group(0) @binding(5) var<storage, read_write> out: array<f32>;    // [rows, H·D]

const WG: u32 = 64u;
var<workgroup> red: array<f32, 64>;

// Tree reduction over the workgroup of one value per invocation: max when `take_max`, else sum.
fn reduce(lid: u32, x: f32, take_max: bool) -> f32 {
    red[lid] = x;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            if (take_max) {
                red[lid] = max(red[lid], red[lid + s]);
            } else {
                red[lid] = red[lid] + red[lid + s];
            }
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn attention_cached(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let pair = wid.x + wid.y * nwg.x; // i · H + h
    // Uniform exit: every invocation of a workgroup shares `pair`.
    if (pair >= p.rows * p.heads) { return; }
    let i = pair / p.heads;
    let h = pair % p.heads;
    let D = p.head_dim;
    let pos = p.q_offset + i;
    var lo = 0u;
    if (p.window != 0u && pos + 1u > p.window) { lo = pos + 1u - p.window; }
    let span = p.q_offset + p.rows;
    let srow = pair * span;
    let qo = i * p.heads * D + h * D;
    let ko = (h / p.group) * D;

    var m = -3.0e38;
    for (var j = lo + lid; j <= pos; j += WG) {
        var s = 0.0;
        for (var d = 0u; d < D; d++) {
            s += q[qo + d] * k[j * p.kv_width + ko + d];
        }
        s *= p.scale;
        scores[srow + j] = s;
        m = max(m, s);
    }
    m = reduce(lid, m, true);

    var l = 0.0;
    for (var j = lo + lid; j <= pos; j += WG) {
        let e = exp(scores[srow + j] - m);
        scores[srow + j] = e;
        l += e;
    }
    storageBarrier();
    l = reduce(lid, l, false);
    let inv = 1.0 / l;

    for (var d = lid; d < D; d += WG) {
        var acc = 0.0;
        for (var j = lo; j <= pos; j++) {
            acc += scores[srow + j] * v[j * p.kv_width + ko + d];
        }
        out[qo + d] = acc * inv;
    }
}
