// matmul_pair: C = alpha · (A1 · op(B1) + (A2 ⊙ s) · B2ᵀ) (+ C when accumulate): the SVD layer's
// two products into one output in one dispatch (`y = x Wᵀ + (h ⊙ (Σ − Σ₀)) Uᵀ` forward,
// `dx = g W + (k ⊙ (Σ − Σ₀)) Vᵀ` backward). A1 `[M, K1]`, op(B1) `[K1, N]` (B1 stored [K1, N],
// or [N, K1] when TRANS_B), A2 `[M, K2]`, B2 stored `[N, K2]`, s `[K2]` = scale + scale_add
// (a column scale of A2; 1 when has_scale = 0).
// Tiling: shaders/tile/matmul.wgsl (composed before this file), over one K range of
// k1_pad + K2: K tiles below k1_pad (K1 rounded up to whole 16-wide tiles) read the first
// product, the others the second, so no tile mixes the two. B1 is read through `frozen_value(e)`
// (a shaders/frozen/ piece, like matmul.wgsl); B2 (the frozen factor U or V) is f32, or f16 two
// per u32 when FACTOR_F16 (decoded by shaders/common/f16.wgsl, composed before).
struct Params {
    m: u32,
    n: u32,
    k: u32,          // K1
    accumulate: u32, // 1: C += product
    alpha: f32,
    k2: u32,
    k1_pad: u32,     // K1 rounded up to a multiple of 16
    has_scale: u32,  // 0: A2 is used as it is (scale bindings are any buffer)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;          // A1 [M, K1]
// binding 2: B1, [K1, N] or [N, K1] (declared by the frozen/ piece)
@group(0) @binding(3) var<storage, read_write> c: array<f32>;    // [M, N]
@group(0) @binding(4) var<storage, read> a2: array<f32>;         // [M, K2]
@group(0) @binding(5) var<storage, read> factor: array<u32>;     // B2 [N, K2], f32 or f16 bits
@group(0) @binding(6) var<storage, read> scale: array<f32>;      // [K2]
@group(0) @binding(7) var<storage, read> scale_add: array<f32>;  // [K2]

const TRANS_A: bool = false;
override TRANS_B: bool = false;
override FACTOR_F16: bool = false;

fn factor_value(e: u32) -> f32 {
    if (FACTOR_F16) { return f16_bits_to_f32((factor[e >> 1u] >> ((e & 1u) << 4u)) & 0xFFFFu); }
    return bitcast<f32>(factor[e]);
}

fn load_a(row: u32, kk: u32, k_end: u32) -> f32 {
    if (row >= p.m) { return 0.0; }
    if (kk < p.k1_pad) {
        if (kk >= p.k) { return 0.0; }
        return a[row * p.k + kk];
    }
    let j = kk - p.k1_pad;
    if (j >= p.k2) { return 0.0; }
    var v = a2[row * p.k2 + j];
    if (p.has_scale != 0u) { v *= scale[j] + scale_add[j]; }
    return v;
}

fn load_b(kk: u32, col: u32, k_end: u32) -> f32 {
    if (col >= p.n) { return 0.0; }
    if (kk < p.k1_pad) {
        if (kk >= p.k) { return 0.0; }
        if (TRANS_B) { return frozen_value(col * p.k + kk); }
        return frozen_value(kk * p.n + col);
    }
    let j = kk - p.k1_pad;
    if (j >= p.k2) { return 0.0; }
    return factor_value(col * p.k2 + j);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_pair(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let acc = tile_product(lid, row0, col0, 0u, p.k1_pad + p.k2);
    store_tile(acc, lid, row0, col0, 0u);
}
