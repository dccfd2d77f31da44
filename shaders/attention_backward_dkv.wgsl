// attention_backward_dkv: dk and dv for causal grouped-query attention, one workgroup per
// (key row j, kv head c); it owns dk[j, c, :] and dv[j, c, :], so no atomics are needed.
// It visits every (query row i, query head h) pair with i ≥ j in the same sequence and h in the
// group of c; the pair sees key j when min(window_start[i], t_i) ≤ t_j. With
//   p = exp(scale · q_ih·k_j − lse_ih),  ds = p · (dout_ih·v_j − Δ_ih):
//   dk[j, c] = scale · Σ ds · q_ih,  dv[j, c] = Σ p · dout_ih.
// Pairs go in blocks of 64 (one pair per invocation for the dot products); the sums are split
// over the head dim, each invocation owning dims lid + 64·i for i < SLOTS. head_dim ≤ 256.
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
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;     // [B·S, Hkv·D]
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;     // [B·S, Hkv·D]

override SLOTS: u32 = 4u; // ceil(D / 64), at most 4
const WG: u32 = 64u;

var<workgroup> k_s: array<f32, 256>; // k[j, c, :]
var<workgroup> v_s: array<f32, 256>; // v[j, c, :]
var<workgroup> p_s: array<f32, 64>;  // p of the current pair block (0 where masked)
var<workgroup> ds_s: array<f32, 64>; // ds of the current pair block (0 where masked)

@compute @workgroup_size(64)
fn attention_backward_dkv(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = wid.x + wid.y * nwg.x; // j · Hkv + c
    if (idx >= p.rows * p.kv_heads) { return; }
    let D = p.head_dim;
    let j = idx / p.kv_heads;
    let c = idx % p.kv_heads;
    let tj = j % p.seq;
    let qw = p.heads * D;
    for (var d = lid; d < D; d += WG) {
        k_s[d] = k[idx * D + d];
        v_s[d] = v[idx * D + d];
    }
    workgroupBarrier();
    // Pair e ↦ query row i = j + e / group, query head h = c · group + e % group.
    let n_pairs = (p.seq - tj) * p.group;

    var acc_k: array<f32, 4>;
    var acc_v: array<f32, 4>;
    for (var e0 = 0u; e0 < n_pairs; e0 += WG) {
        let nb = min(WG, n_pairs - e0);
        if (lid < nb) {
            let e = e0 + lid;
            let i = j + e / p.group;
            let h = c * p.group + e % p.group;
            var pr = 0.0;
            var ds = 0.0;
            if (min(window_start[i], tj + e / p.group) <= tj) {
                let row = i * p.heads + h;
                let off = row * D;
                var s = 0.0;
                var dp = 0.0;
                for (var d = 0u; d < D; d++) {
                    s += q[off + d] * k_s[d];
                    dp += dout[off + d] * v_s[d];
                }
                pr = exp(p.scale * s - stats[2u * row]);
                ds = pr * (dp - stats[2u * row + 1u]);
            }
            p_s[lid] = pr;
            ds_s[lid] = ds;
        }
        workgroupBarrier();
        for (var e = 0u; e < nb; e++) {
            let pr = p_s[e];
            if (pr == 0.0) { continue; } // masked (or underflowed: contributes nothing)
            let ds = ds_s[e];
            let off = (j + (e0 + e) / p.group) * qw + (c * p.group + (e0 + e) % p.group) * D;
            for (var i = 0u; i < SLOTS; i++) {
                let d = lid + i * WG;
                if (d < D) {
                    acc_k[i] += ds * q[off + d];
                    acc_v[i] += pr * dout[off + d];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < SLOTS; i++) {
        let d = lid + i * WG;
        if (d < D) {
            dk[idx * D + d] = p.scale * acc_k[i];
            dv[idx * D + d] = acc_v[i];
        }
    }
}
