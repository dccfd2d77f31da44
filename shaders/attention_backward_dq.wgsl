// attention_backward_dq: dq of causal grouped-query attention, over the keys j that (row r,
// query head h) sees (as in attention_forward), recomputing the probabilities from lse:
//   p_j = exp(scale · q_rh·k_j − lse),  dq[r, h] = scale · Σ_j p_j · (dout_rh·v_j − Δ) · k_j.
// Tiling as in attention_forward: one workgroup per (sequence b, kv head c, tile of BQ consecutive
// (row, head) pairs of kv head c); keys in blocks of 64, one key per invocation for the 2·BQ dot
// products; the sums over keys are split over the head dim, each invocation owning dims
// lid + 64·s (s < SLOTS) of every pair. head_dim ≤ 256, BQ · SLOTS ≤ 16.
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
@group(0) @binding(5) var<storage, read> stats: array<f32>;        // [B·S, H, 2]: (lse, Δ)
@group(0) @binding(6) var<storage, read> dout: array<f32>;         // [B·S, H·D]
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;     // [B·S, H·D]

override SLOTS: u32 = 4u; // ceil(D / 64): head dims per invocation
override BQ: u32 = 4u;    // pairs per workgroup, ≤ 16 / SLOTS (so BQ · D ≤ 1024)
const WG: u32 = 64u;

var<workgroup> q_s: array<f32, 1024>;  // [BQ, D]: q of the tile's pairs (0 for padding)
var<workgroup> do_s: array<f32, 1024>; // [BQ, D]: dout of the tile's pairs
var<workgroup> ds_s: array<f32, 1024>; // [BQ, 64]: p · (dout·v − Δ) of a key block (0 if invisible)
var<workgroup> lo_s: array<u32, 16>;   // [BQ]: first visible key position of each pair
var<workgroup> hi_s: array<u32, 16>;   // [BQ]: last visible key position (the pair's own t)
var<workgroup> lse_s: array<f32, 16>;  // [BQ]
var<workgroup> delta_s: array<f32, 16>; // [BQ]
var<workgroup> first_s: u32;

// Pair e of kv head c in the sequence starting at row `base`: position t = e / group, query head
// c · group + e % group. Returns its (row, head) index (base + t) · H + h.
fn pair_row(base: u32, c: u32, e: u32) -> u32 {
    return (base + e / p.group) * p.heads + c * p.group + e % p.group;
}

@compute @workgroup_size(64)
fn attention_backward_dq(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let pairs = p.seq * p.group;
    let n_tiles = (pairs + BQ - 1u) / BQ;
    let idx = wid.x + wid.y * nwg.x; // (b · Hkv + c) · n_tiles + tile
    if (idx >= (p.rows / p.seq) * p.kv_heads * n_tiles) { return; }
    let D = p.head_dim;
    let tile = idx % n_tiles;
    let c = (idx / n_tiles) % p.kv_heads;
    let base = (idx / n_tiles / p.kv_heads) * p.seq;
    let e0 = tile * BQ;
    let n_pairs = min(BQ, pairs - e0);

    for (var x = lid; x < BQ * D; x += WG) {
        var qv = 0.0;
        var dv = 0.0;
        if (x / D < n_pairs) {
            let off = pair_row(base, c, e0 + x / D) * D + x % D;
            qv = q[off];
            dv = dout[off];
        }
        q_s[x] = qv;
        do_s[x] = dv;
    }
    if (lid < BQ) {
        var lo = 1u; // padding pairs see nothing (lo > hi)
        var hi = 0u;
        var l = 0.0;
        var delta = 0.0;
        if (lid < n_pairs) {
            hi = (e0 + lid) / p.group;
            lo = min(window_start[base + hi], hi);
            let row = pair_row(base, c, e0 + lid);
            l = stats[2u * row];
            delta = stats[2u * row + 1u];
        }
        lo_s[lid] = lo;
        hi_s[lid] = hi;
        lse_s[lid] = l;
        delta_s[lid] = delta;
    }
    let last = (e0 + n_pairs - 1u) / p.group;
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
    var acc: array<f32, 16>; // [BQ, SLOTS]: Σ ds · k of every pair
    for (var x = 0u; x < BQ * SLOTS; x++) { acc[x] = 0.0; }
    for (var j0 = 0u; j0 < n_keys; j0 += WG) {
        let nb = min(WG, n_keys - j0);
        if (lid < nb) {
            let kt = first + j0 + lid;
            let k_off = ((base + kt) * p.kv_heads + c) * D;
            var s: array<f32, 16>;  // [BQ]: q·k of every pair with key kt
            var dp: array<f32, 16>; // [BQ]: dout·v of every pair with key kt
            for (var qi = 0u; qi < BQ; qi++) {
                s[qi] = 0.0;
                dp[qi] = 0.0;
            }
            for (var d = 0u; d < D; d++) {
                let kd = k[k_off + d];
                let vd = v[k_off + d];
                for (var qi = 0u; qi < BQ; qi++) {
                    s[qi] += q_s[qi * D + d] * kd;
                    dp[qi] += do_s[qi * D + d] * vd;
                }
            }
            for (var qi = 0u; qi < BQ; qi++) {
                var ds = 0.0;
                if (lo_s[qi] <= kt && kt <= hi_s[qi]) {
                    ds = exp(p.scale * s[qi] - lse_s[qi]) * (dp[qi] - delta_s[qi]);
                }
                ds_s[qi * WG + lid] = ds;
            }
        }
        workgroupBarrier();
        for (var j = 0u; j < nb; j++) {
            let k_off = ((base + first + j0 + j) * p.kv_heads + c) * D;
            var kd: array<f32, 4>; // [SLOTS]: this invocation's dims of k_j (0 past D)
            for (var s = 0u; s < SLOTS; s++) {
                let d = lid + s * WG;
                var x = 0.0;
                if (d < D) { x = k[k_off + d]; }
                kd[s] = x;
            }
            for (var qi = 0u; qi < BQ; qi++) {
                let ds = ds_s[qi * WG + j];
                for (var s = 0u; s < SLOTS; s++) { acc[qi * SLOTS + s] += ds * kd[s]; }
            }
        }
        workgroupBarrier(); // everyone is done with ds_s before the next block
    }
    for (var qi = 0u; qi < n_pairs; qi++) {
        let off = pair_row(base, c, e0 + qi) * D;
        for (var s = 0u; s < SLOTS; s++) {
            let d = lid + s * WG;
            if (d < D) { dq[off + d] = p.scale * acc[qi * SLOTS + s]; }
        }
    }
}
