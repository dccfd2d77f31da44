// attention_backward_delta: per (row r, query head h), stats[r, h] = (lse[r, h], Δ[r, h]) with
// Δ = Σ_d dout[r, h, d] · out[r, h, d]. lse and Δ are packed together so the dq and dk/dv
// kernels read both through one binding (they stay within 8 storage buffers).
// One invocation per (r, h).
struct Params {
    rows: u32,     // B·S
    seq: u32,      // S
    heads: u32,    // H
    kv_heads: u32, // Hkv
    group: u32,    // H / Hkv
    head_dim: u32, // D
    scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> out: array<f32>;          // [B·S, H·D]
@group(0) @binding(2) var<storage, read> dout: array<f32>;         // [B·S, H·D]
@group(0) @binding(3) var<storage, read> lse: array<f32>;          // [B·S, H]
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;  // [B·S, H, 2]: (lse, Δ)

@compute @workgroup_size(256)
fn attention_backward_delta(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u; // r · H + h
    if (idx >= p.rows * p.heads) { return; }
    let off = idx * p.head_dim;
    var delta = 0.0;
    for (var d = 0u; d < p.head_dim; d++) { delta += dout[off + d] * out[off + d]; }
    stats[2u * idx] = lse[idx];
    stats[2u * idx + 1u] = delta;
}
