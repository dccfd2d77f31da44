// attention_backward_dkv: dk and dv of causal grouped-query attention. For key row j = b·S + t_j
// of kv head c, over every (query row i, query head h) pair with i ≥ j in the same sequence and h
// in the group of c that sees key j (min(window_start[i], t_i) ≤ t_j), with
//   p = exp(scale · q_ih·k_j − lse_ih),  ds = p · (dout_ih·v_j − Δ_ih):
//   dk[j, c] = scale · Σ ds · q_ih,  dv[j, c] = Σ p · dout_ih.
// Tiling: one workgroup per (sequence b, kv head c, tile of BK consecutive key rows); it owns those
// rows of dk and dv, so no atomics are needed, and every q and dout row loaded serves BK keys.
// Pairs go in blocks of 64 (one pair per invocation for the 2·BK dot products over the head dim);
// the sums are split over the head dim, each invocation owning dims lid + 64·s (s < SLOTS) of
// every key. head_dim ≤ 256, BK · SLOTS ≤ 12.
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
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;     // [B·S, Hkv·D]
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;     // [B·S, Hkv·D]

override SLOTS: u32 = 4u; // ceil(D / 64): head dims per invocation
override BK: u32 = 3u;    // key rows per workgroup, ≤ 12 / SLOTS (so BK · D ≤ 768)
const WG: u32 = 64u;

var<workgroup> k_s: array<f32, 768>;  // [BK, D]: k of the tile's keys (0 for padding)
var<workgroup> v_s: array<f32, 768>;  // [BK, D]: v of the tile's keys
var<workgroup> p_s: array<f32, 768>;  // [BK, 64]: p of a pair block (0 where invisible)
var<workgroup> ds_s: array<f32, 768>; // [BK, 64]: ds of a pair block (0 where invisible)
var<workgroup> seen_s: array<u32, 64>; // [64]: 1 if the pair sees any key of the tile

@compute @workgroup_size(64)
fn attention_backward_dkv(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n_tiles = (p.seq + BK - 1u) / BK;
    let idx = wid.x + wid.y * nwg.x; // (b · Hkv + c) · n_tiles + tile
    if (idx >= (p.rows / p.seq) * p.kv_heads * n_tiles) { return; }
    let D = p.head_dim;
    let tile = idx % n_tiles;
    let c = (idx / n_tiles) % p.kv_heads;
    let base = (idx / n_tiles / p.kv_heads) * p.seq;
    let t0 = tile * BK;                   // position of the tile's first key
    let n_keys = min(BK, p.seq - t0);
    let kv_row0 = (base + t0) * p.kv_heads + c; // (row, kv head) index of key 0; key kk adds kk · Hkv

    for (var x = lid; x < BK * D; x += WG) {
        var kv = 0.0;
        var vv = 0.0;
        if (x / D < n_keys) {
            let off = (kv_row0 + (x / D) * p.kv_heads) * D + x % D;
            kv = k[off];
            vv = v[off];
        }
        k_s[x] = kv;
        v_s[x] = vv;
    }
    workgroupBarrier();
    // Pair e: query position t = t0 + e / group, query head c · group + e % group.
    let n_pairs = (p.seq - t0) * p.group;

    // Every function-scope array is zeroed explicitly where it is used: some WebGPU compilers
    // (Tint → SwiftShader in Chromium) zero an uninitialised `var` only once per invocation, not
    // each time its declaration in a loop body runs.
    var acc_k: array<f32, 12>; // [BK, SLOTS]: Σ ds · q
    var acc_v: array<f32, 12>; // [BK, SLOTS]: Σ p · dout
    for (var x = 0u; x < BK * SLOTS; x++) {
        acc_k[x] = 0.0;
        acc_v[x] = 0.0;
    }
    for (var e0 = 0u; e0 < n_pairs; e0 += WG) {
        let nb = min(WG, n_pairs - e0);
        if (lid < nb) {
            let e = e0 + lid;
            let t = t0 + e / p.group;
            let lo = min(window_start[base + t], t);
            // keys kk of the tile visible from this pair: lo ≤ t0 + kk ≤ t, kk < n_keys
            var seen = 0u;
            if (lo < t0 + n_keys) {
                seen = 1u;
                let row = (base + t) * p.heads + c * p.group + e % p.group;
                let off = row * D;
                var s: array<f32, 12>;  // [BK]: q·k of this pair with every key
                var dp: array<f32, 12>; // [BK]: dout·v of this pair with every key
                for (var kk = 0u; kk < BK; kk++) {
                    s[kk] = 0.0;
                    dp[kk] = 0.0;
                }
                for (var d = 0u; d < D; d++) {
                    let qd = q[off + d];
                    let dod = dout[off + d];
                    for (var kk = 0u; kk < BK; kk++) {
                        s[kk] += qd * k_s[kk * D + d];
                        dp[kk] += dod * v_s[kk * D + d];
                    }
                }
                let l = stats[2u * row];
                let delta = stats[2u * row + 1u];
                for (var kk = 0u; kk < BK; kk++) {
                    var pr = 0.0;
                    if (kk < n_keys && lo <= t0 + kk && t0 + kk <= t) { pr = exp(p.scale * s[kk] - l); }
                    p_s[kk * WG + lid] = pr;
                    ds_s[kk * WG + lid] = pr * (dp[kk] - delta);
                }
            }
            seen_s[lid] = seen;
        }
        workgroupBarrier();
        for (var i = 0u; i < nb; i++) {
            if (seen_s[i] == 0u) { continue; }
            let e = e0 + i;
            let off = ((base + t0 + e / p.group) * p.heads + c * p.group + e % p.group) * D;
            var qd: array<f32, 4>;  // [SLOTS]: this invocation's dims of q_ih (0 past D)
            var dod: array<f32, 4>; // [SLOTS]: this invocation's dims of dout_ih (0 past D)
            for (var s = 0u; s < SLOTS; s++) {
                let d = lid + s * WG;
                var qx = 0.0;
                var dx = 0.0;
                if (d < D) {
                    qx = q[off + d];
                    dx = dout[off + d];
                }
                qd[s] = qx;
                dod[s] = dx;
            }
            for (var kk = 0u; kk < BK; kk++) {
                let pr = p_s[kk * WG + i];
                let ds = ds_s[kk * WG + i];
                for (var s = 0u; s < SLOTS; s++) {
                    acc_k[kk * SLOTS + s] += ds * qd[s];
                    acc_v[kk * SLOTS + s] += pr * dod[s];
                }
            }
        }
        workgroupBarrier(); // everyone is done with p_s, ds_s, seen_s before the next block
    }
    for (var kk = 0u; kk < n_keys; kk++) {
        let off = (kv_row0 + kk * p.kv_heads) * D;
        for (var s = 0u; s < SLOTS; s++) {
            let d = lid + s * WG;
            if (d < D) {
                dk[off + d] = p.scale * acc_k[kk * SLOTS + s];
                dv[off + d] = acc_v[kk * SLOTS + s];
            }
        }
    }
}
