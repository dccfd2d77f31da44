// attention_backward_dq: dq for causal grouped-query attention, one workgroup per (row r, query
// head h), over the keys j of row r (as in attention_forward):
//   p_j = exp(scale · q_r·k_j − lse),  dq[r, h] = scale · Σ_j p_j · (dout_r·v_j − Δ) · k_j.
// Keys go in blocks of 64 (one key per invocation for the dot products); the sum over keys is
// split over the head dim, each invocation owning dims lid + 64·i for i < SLOTS. head_dim ≤ 256.
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
@group(0) @binding(5) var<storage, read> stats: array<f32>;        // [B·S, H, 2]: (lse, Δ)
@group(0) @binding(6) var<storage, read> dout: array<f32>;         // [B·S, H·D]
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;     // [B·S, H·D]

override SLOTS: u32 = 4u; // ceil(D / 64), at most 4
const WG: u32 = 64u;

var<workgroup> q_s: array<f32, 256>;  // q[r, h, :]
var<workgroup> do_s: array<f32, 256>; // dout[r, h, :]
var<workgroup> ds_s: array<f32, 64>;  // p · (dout·v − Δ) of the current key block
var<workgroup> n_keys_s: u32;

@compute @workgroup_size(64)
fn attention_backward_dq(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = wid.x + wid.y * nwg.x; // r · H + h
    if (idx >= p.rows * p.heads) { return; }
    let D = p.head_dim;
    let r = idx / p.heads;
    let h = idx % p.heads;
    let t = r % p.seq;
    let kw = p.kv_heads * D;
    let kv_off = (h / p.group) * D;
    for (var d = lid; d < D; d += WG) {
        q_s[d] = q[idx * D + d];
        do_s[d] = dout[idx * D + d];
    }
    if (lid == 0u) {
        n_keys_s = t - min(window_start[r], t) + 1u;
    }
    let n_keys = workgroupUniformLoad(&n_keys_s); // also the barrier after filling q_s, do_s
    let first = r + 1u - n_keys;
    let l = stats[2u * idx];
    let delta = stats[2u * idx + 1u];

    var acc: array<f32, 4>;
    for (var j0 = 0u; j0 < n_keys; j0 += WG) {
        let nb = min(WG, n_keys - j0);
        if (lid < nb) {
            let k_off = (first + j0 + lid) * kw + kv_off;
            var s = 0.0;
            var dp = 0.0;
            for (var d = 0u; d < D; d++) {
                s += q_s[d] * k[k_off + d];
                dp += do_s[d] * v[k_off + d];
            }
            ds_s[lid] = exp(p.scale * s - l) * (dp - delta);
        }
        workgroupBarrier();
        for (var j = 0u; j < nb; j++) {
            let ds = ds_s[j];
            let k_off = (first + j0 + j) * kw + kv_off;
            for (var i = 0u; i < SLOTS; i++) {
                let d = lid + i * WG;
                if (d < D) { acc[i] += ds * k[k_off + d]; }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < SLOTS; i++) {
        let d = lid + i * WG;
        if (d < D) { dq[idx * D + d] = p.scale * acc[i]; }
    }
}
