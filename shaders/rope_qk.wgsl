// rope_qk: rotary position embedding of q and k in place in one dispatch (rope.wgsl on both),
// Hugging Face rotate_half pairing. For row t, head h of q (h < H) or of k (H ≤ h < H + Hkv) and
// i < half (half = head_dim / 2), with c = cos[pos, i], s = ±sin[pos, i] (negated when inverse:
// the backward pass), pos = positions[t]:
//   (x_i, x_{i+half}) ← (x_i·c − x_{i+half}·s, x_{i+half}·c + x_i·s).
// A position ≥ table_rows leaves the row unchanged. One invocation per (t, h, i).
struct Params {
    n: u32,          // rows · (H + Hkv) · half
    q_heads: u32,    // H
    k_heads: u32,    // Hkv
    half: u32,       // head_dim / 2
    table_rows: u32, // P
    inverse: u32,    // 1: rotate by −angle
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;    // [T, H · head_dim]
@group(0) @binding(2) var<storage, read_write> k: array<f32>;    // [T, Hkv · head_dim]
@group(0) @binding(3) var<storage, read> positions: array<u32>;  // [T]
@group(0) @binding(4) var<storage, read> cos_t: array<f32>;      // [P, head_dim / 2]
@group(0) @binding(5) var<storage, read> sin_t: array<f32>;      // [P, head_dim / 2]

@compute @workgroup_size(256)
fn rope_qk(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    if (idx >= p.n) { return; }
    let i = idx % p.half;
    let heads = p.q_heads + p.k_heads;
    let th = idx / p.half; // t · (H + Hkv) + h
    let t = th / heads;
    let h = th % heads;
    let pos = positions[t];
    if (pos >= p.table_rows) { return; }
    let c = cos_t[pos * p.half + i];
    var s = sin_t[pos * p.half + i];
    if (p.inverse != 0u) { s = -s; }
    if (h < p.q_heads) {
        let j = (t * p.q_heads + h) * 2u * p.half + i;
        let a = q[j];
        let b = q[j + p.half];
        q[j] = a * c - b * s;
        q[j + p.half] = b * c + a * s;
    } else {
        let j = (t * p.k_heads + (h - p.q_heads)) * 2u * p.half + i;
        let a = k[j];
        let b = k[j + p.half];
        k[j] = a * c - b * s;
        k[j + p.half] = b * c + a * s;
    }
}
