// attention_forward: causal grouped-query attention. Row r = b·S + t, query head h attends to the
// key rows b·S + [min(window_start[r], t), t] of kv head h / group:
//   s_j = scale · q_rh·k_j,  lse[r, h] = log Σ_j exp(s_j),  out[r, h] = Σ_j exp(s_j − lse) · v_j.
// Tiling: one workgroup per (sequence b, kv head c, tile of BQ consecutive (row, head) pairs that
// read kv head c, pairs ordered (t, h)), so every k and v row loaded serves BQ pairs. Keys go in
// blocks of 64 (one key per invocation for the BQ dot products over the head dim), with an online
// softmax per pair (running max and sum); the outputs are split over the head dim, each invocation
// owning dims lid + 64·s (s < SLOTS) of every pair. head_dim ≤ 256, BQ · SLOTS ≤ 16.
struct Params {
    rows: u32,     // B·S (> 0)
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

override SLOTS: u32 = 4u; // ceil(D / 64): head dims per invocation
override BQ: u32 = 4u;    // pairs per workgroup, ≤ 16 / SLOTS (so BQ · D ≤ 1024)
const WG: u32 = 64u;
const MASKED: f32 = -3.0e38; // score of an invisible key (exp(MASKED − max) = 0)

var<workgroup> q_s: array<f32, 1024>;  // [BQ, D]: q of the tile's pairs (0 for padding)
var<workgroup> prob: array<f32, 1024>; // [BQ, 64]: scores, then exp(score − max), of a key block
var<workgroup> lo_s: array<u32, 16>;   // [BQ]: first visible key position of each pair
var<workgroup> hi_s: array<u32, 16>;   // [BQ]: last visible key position (the pair's own t)
var<workgroup> m_s: array<f32, 16>;    // [BQ]: running max of each pair
var<workgroup> alpha_s: array<f32, 16>; // [BQ]: exp(old max − new max) for the current block
var<workgroup> l_s: array<f32, 16>;    // [BQ]: final Σ exp(score − max) of each pair
var<workgroup> first_s: u32;

// Pair e of kv head c in the sequence starting at row `base`: position t = e / group, query head
// c · group + e % group. Returns its (row, head) index (base + t) · H + h, the row of lse and
// (times D) the offset of its q and out rows.
fn pair_row(base: u32, c: u32, e: u32) -> u32 {
    return (base + e / p.group) * p.heads + c * p.group + e % p.group;
}

@compute @workgroup_size(64)
fn attention_forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let pairs = p.seq * p.group; // (t, h) pairs of one sequence and kv head
    let n_tiles = (pairs + BQ - 1u) / BQ;
    let idx = wid.x + wid.y * nwg.x; // (b · Hkv + c) · n_tiles + tile
    if (idx >= (p.rows / p.seq) * p.kv_heads * n_tiles) { return; }
    let D = p.head_dim;
    let tile = idx % n_tiles;
    let c = (idx / n_tiles) % p.kv_heads;
    let base = (idx / n_tiles / p.kv_heads) * p.seq; // row of t = 0
    let e0 = tile * BQ;
    let n_pairs = min(BQ, pairs - e0);

    for (var x = lid; x < BQ * D; x += WG) {
        var val = 0.0;
        if (x / D < n_pairs) { val = q[pair_row(base, c, e0 + x / D) * D + x % D]; }
        q_s[x] = val;
    }
    if (lid < BQ) {
        var lo = 1u; // padding pairs see nothing (lo > hi)
        var hi = 0u;
        if (lid < n_pairs) {
            hi = (e0 + lid) / p.group;
            lo = min(window_start[base + hi], hi);
        }
        lo_s[lid] = lo;
        hi_s[lid] = hi;
        m_s[lid] = -1e30;
    }
    let last = (e0 + n_pairs - 1u) / p.group; // the tile's last position
    if (lid == 0u) {
        var first = last;
        for (var t = e0 / p.group; t <= last; t++) { first = min(first, min(window_start[base + t], t)); }
        first_s = first;
    }
    let first = workgroupUniformLoad(&first_s); // also the barrier after the fills above
    let n_keys = last + 1u - first;

    // Every function-scope array is zeroed explicitly where it is used: some WebGPU compilers
    // (Tint → SwiftShader in Chromium) zero an uninitialised `var` only once per invocation, not
    // each time its declaration in a loop body runs.
    var acc: array<f32, 16>; // [BQ, SLOTS]: unnormalised outputs of every pair
    for (var x = 0u; x < BQ * SLOTS; x++) { acc[x] = 0.0; }
    var l = 0.0;             // running Σ exp(score − max) of pair lid (lid < BQ)
    for (var j0 = 0u; j0 < n_keys; j0 += WG) {
        let nb = min(WG, n_keys - j0);
        if (lid < nb) {
            let kt = first + j0 + lid;
            let k_off = ((base + kt) * p.kv_heads + c) * D;
            var s: array<f32, 16>; // [BQ]: q·k of every pair with key kt
            for (var qi = 0u; qi < BQ; qi++) { s[qi] = 0.0; }
            for (var d = 0u; d < D; d++) {
                let kd = k[k_off + d];
                for (var qi = 0u; qi < BQ; qi++) { s[qi] += q_s[qi * D + d] * kd; }
            }
            for (var qi = 0u; qi < BQ; qi++) {
                let visible = lo_s[qi] <= kt && kt <= hi_s[qi];
                prob[qi * WG + lid] = select(MASKED, p.scale * s[qi], visible);
            }
        }
        workgroupBarrier();
        if (lid < BQ) {
            let old = m_s[lid];
            var mb = old;
            for (var j = 0u; j < nb; j++) { mb = max(mb, prob[lid * WG + j]); }
            m_s[lid] = mb;
            alpha_s[lid] = exp(old - mb);
        }
        workgroupBarrier();
        if (lid < nb) {
            for (var qi = 0u; qi < BQ; qi++) { prob[qi * WG + lid] = exp(prob[qi * WG + lid] - m_s[qi]); }
        }
        workgroupBarrier();
        for (var qi = 0u; qi < BQ; qi++) {
            let a = alpha_s[qi];
            for (var s = 0u; s < SLOTS; s++) { acc[qi * SLOTS + s] *= a; }
        }
        if (lid < BQ) {
            var sum = 0.0;
            for (var j = 0u; j < nb; j++) { sum += prob[lid * WG + j]; }
            l = l * alpha_s[lid] + sum;
        }
        for (var j = 0u; j < nb; j++) {
            let v_off = ((base + first + j0 + j) * p.kv_heads + c) * D;
            var vd: array<f32, 4>; // [SLOTS]: this invocation's dims of v_j (0 past D)
            for (var s = 0u; s < SLOTS; s++) {
                let d = lid + s * WG;
                var x = 0.0;
                if (d < D) { x = v[v_off + d]; }
                vd[s] = x;
            }
            for (var qi = 0u; qi < BQ; qi++) {
                let pr = prob[qi * WG + j];
                for (var s = 0u; s < SLOTS; s++) { acc[qi * SLOTS + s] += pr * vd[s]; }
            }
        }
        workgroupBarrier(); // everyone is done with prob and alpha_s before the next block
    }
    if (lid < BQ) { l_s[lid] = l; }
    workgroupBarrier();
    for (var qi = 0u; qi < n_pairs; qi++) {
        let inv = 1.0 / l_s[qi];
        let o_off = pair_row(base, c, e0 + qi) * D;
        for (var s = 0u; s < SLOTS; s++) {
            let d = lid + s * WG;
            if (d < D) { out[o_off + d] = acc[qi * SLOTS + s] * inv; }
        }
    }
    if (lid < n_pairs) { lse[pair_row(base, c, e0 + lid)] = m_s[lid] + log(l); }
}
