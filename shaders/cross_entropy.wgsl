// cross_entropy: masked softmax cross-entropy over a chunk of rows, loss and gradient in one pass.
// Row i of logits [N, V] is row r = row_offset + i of the batch. One workgroup of 256 per row:
// pass 1 finds the max, pass 2 sums exp(z − max) (workgroup reductions of
// common/workgroup_reduce.wgsl), then
//   logits[i, j] = (exp(z_j − lse) − [j = target]) · w   (dlogits, in place)
//   losses[r]    = w · (lse − z[target])                  (exactly 0 when w = 0)
// with w = weights[r] · scale; a target ≥ V is masked (w = 0: zero loss and zero gradient row).
// Rows are spread over a 2-D grid of workgroups (linear index wid.x + wid.y · nwg.x) for N > 65535.
// scale changes with every batch: it comes last in Params, outside the bind-group cache key, and
// the host rewrites it in place (Recorder::dispatch_stepped).
struct Params {
    rows: u32,       // N, rows in this chunk
    vocab: u32,      // V
    row_offset: u32, // batch row of logits row 0
    scale: f32,      // per step: usually 1 / Σ weights
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>; // [N, V], overwritten with dlogits
@group(0) @binding(2) var<storage, read> targets: array<u32>;      // [T_total]
@group(0) @binding(3) var<storage, read> weights: array<f32>;      // [T_total]
@group(0) @binding(4) var<storage, read_write> losses: array<f32>; // [T_total], rows r written

const WG: u32 = 256u;
// The lowest finite f32: the max of an invocation that holds no element (V < 256).
const LOWEST: f32 = -3.4028234e38; // the lowest finite f32 (Tint rejects literals that round past it)

@compute @workgroup_size(256)
fn cross_entropy(ids: GroupIds, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = wid.x + wid.y * nwg.x;
    if (i >= p.rows) { return; } // uniform across the workgroup
    let lid = ids.lid;
    let r = p.row_offset + i;
    let base = i * p.vocab;
    let tgt = targets[r];
    var w = 0.0;
    var z_t = 0.0;
    if (tgt < p.vocab) {
        w = weights[r] * p.scale;
        z_t = logits[base + tgt]; // read before any invocation overwrites the row (barriers follow)
    }
    var m = LOWEST;
    for (var j = lid; j < p.vocab; j += WG) {
        m = max(m, logits[base + j]);
    }
    let mx = workgroup_max(ids, m);
    var s = 0.0;
    for (var j = lid; j < p.vocab; j += WG) {
        s += exp(logits[base + j] - mx);
    }
    let lse = mx + log(workgroup_sum(ids, s));
    // Each invocation rewrites only the elements it read, so no barrier is needed here.
    for (var j = lid; j < p.vocab; j += WG) {
        var d = exp(logits[base + j] - lse) * w;
        if (j == tgt) { d -= w; }
        logits[base + j] = d;
    }
    if (lid == 0u) {
        var loss = 0.0;
        if (w != 0.0) { loss = w * (lse - z_t); }
        losses[r] = loss;
    }
}
