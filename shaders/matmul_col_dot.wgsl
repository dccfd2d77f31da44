// matmul_col_dot: the SVD layer's backward `k = g U` (A = g [M, K], B = U [K, N], k [M, N]) and,
// from the same registers, dΣ's column dot products by blocks of 64 rows:
//   partials[col · blocks + r] += Σ_{t in rows 64r .. 64r + 63} h[t, col] · k[t, col]
// (tile/col_dots.wgsl), summed over r later for every trained tensor at once (sum_blocks.wgsl).
// Tiling: shaders/tile/matmul.wgsl; B through `frozen_value(e)` (f32, or the factor's f16).
struct Params {
    m: u32,
    n: u32,
    k: u32,
    accumulate: u32, // always 0: k is overwritten
    alpha: f32,      // always 1
    blocks: u32,     // row blocks of `partials` (≥ ceil(M / 64))
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;             // g [M, K]
// binding 2: B = U, [K, N] (declared by the frozen/ piece)
@group(0) @binding(3) var<storage, read_write> c: array<f32>;       // k [M, N]
@group(0) @binding(4) var<storage, read> h: array<f32>;             // [M, N]
@group(0) @binding(5) var<storage, read_write> partials: array<f32>; // [N, blocks]

const TRANS_A: bool = false;
const TRANS_B: bool = false;

fn load_a(row: u32, kk: u32, k_end: u32) -> f32 {
    if (row >= p.m || kk >= k_end) { return 0.0; }
    return a[row * p.k + kk];
}

fn load_b(kk: u32, col: u32, k_end: u32) -> f32 {
    if (kk >= k_end || col >= p.n) { return 0.0; }
    return frozen_value(kk * p.n + col);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_col_dot(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let acc = tile_product(lid, row0, col0, 0u, p.k);
    store_tile(acc, lid, row0, col0, 0u);
    add_col_dots(acc, lid, row0, col0, wid.y);
}
