// attention_forward: causal grouped-query attention, one workgroup per (row r, query head h).
// Row r = b·S + t attends to key rows b·S + [min(window_start[r], t), t] of kv head h / group:
//   s_j = scale · q_r·k_j,  lse[r, h] = log Σ_j exp(s_j),  out[r, h] = Σ_j exp(s_j − lse) · v_j.
// Keys go in blocks of 64 (one score per invocation, a full dot product over the head dim), with
// an online softmax (running max and sum); the output is split over the head dim, each
// invocation owning dims lid + 64·i for i < SLOTS. head_dim ≤ 256.
struct Params {
    rows: u32,     // B·S
    seq: u32,      // S
    heads: u32,    // H
    kv_heads: u32, // Hkv
    group: u32,    // H / Hkv
    head_dim: u32, // D ≤ 256
    scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;            // [B·S, H·D]
@group(0) @binding(2) var<storage, read> k: array<f32>;            // [B·S, Hkv·D]
@group(0) @binding(3) var<storage, read> v: array<f32>;            // [B·S, Hkv·D]
@group(0) @binding(4) var<storage, read> window_start: array<u32>; // [B·S]
@group(0) @binding(5) var<storage, read_write> out: array<f32>;    // [B·S, H·D]
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;    // [B·S, H]

override SLOTS: u32 = 4u; // ceil(D / 64), at most 4
const WG: u32 = 64u;

var<workgroup> q_s: array<f32, 256>;  // q[r, h, :]
var<workgroup> score: array<f32, 64>; // scaled scores of the current key block
var<workgroup> prob: array<f32, 64>;  // exp(score − running max)
var<workgroup> n_keys_s: u32;

@compute @workgroup_size(64)
fn attention_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = wid.x + wid.y * nwg.x; // r · H + h
    if (idx >= p.rows * p.heads) { return; }
    let D = p.head_dim;
    let r = idx / p.heads;
    let h = idx % p.heads;
    let t = r % p.seq;
    let kw = p.kv_heads * D;
    let kv_off = (h / p.group) * D;
    for (var d = lid; d < D; d += WG) { q_s[d] = q[idx * D + d]; }
    if (lid == 0u) {
        n_keys_s = t - min(window_start[r], t) + 1u;
    }
    let n_keys = workgroupUniformLoad(&n_keys_s); // also the barrier after filling q_s
    let first = r + 1u - n_keys;

    var m = -1e30; // running max (finite, so exp(m − max) is 0 on the first block)
    var l = 0.0;   // running Σ exp(s − m)
    var acc: array<f32, 4>;
    for (var j0 = 0u; j0 < n_keys; j0 += WG) {
        let nb = min(WG, n_keys - j0);
        if (lid < nb) {
            let k_off = (first + j0 + lid) * kw + kv_off;
            var s = 0.0;
            for (var d = 0u; d < D; d++) { s += q_s[d] * k[k_off + d]; }
            score[lid] = p.scale * s;
        }
        workgroupBarrier();
        var mb = m;
        for (var j = 0u; j < nb; j++) { mb = max(mb, score[j]); }
        if (lid < nb) { prob[lid] = exp(score[lid] - mb); }
        workgroupBarrier();
        let alpha = exp(m - mb);
        m = mb;
        for (var i = 0u; i < SLOTS; i++) { acc[i] *= alpha; }
        var sum = 0.0;
        for (var j = 0u; j < nb; j++) {
            let pj = prob[j];
            sum += pj;
            let v_off = (first + j0 + j) * kw + kv_off;
            for (var i = 0u; i < SLOTS; i++) {
                let d = lid + i * WG;
                if (d < D) { acc[i] += pj * v[v_off + d]; }
            }
        }
        l = l * alpha + sum;
        // The next block's scores overwrite `score` only after everyone read it (barrier above);
        // `prob` is rewritten only after the next first barrier.
    }
    let inv = 1.0 / l;
    for (var i = 0u; i < SLOTS; i++) {
        let d = lid + i * WG;
        if (d < D) { out[idx * D + d] = acc[i] * inv; }
    }
    if (lid == 0u) { lse[idx] = m + log(l); }
}
