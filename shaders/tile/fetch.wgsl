// tile/fetch: the workgroup tiles of the tiled products (tile/matmul.wgsl,
// tile/matmul_wide.wgsl, which set BM = BN and BK with BK · BM = 1024), composed beside them,
// and one invocation's share of a K step: 4 consecutive rows of A (`fetch_a`) or columns of B
// (`fetch_b`) at one depth, through the kernel file's loaders, stored as one vec4 (`stage`).
// The tiles' element: the registry swaps this line for `vec4<f16>` under GPU tuning f16_tiles.
alias tile_vec = vec4<f32>;
var<workgroup> tile_a: array<tile_vec, 256>; // [BK][BM / 4]: rows 4g .. 4g + 3 at depth kk
var<workgroup> tile_b: array<tile_vec, 256>; // [BK][BN / 4]: columns 4g .. 4g + 3 at depth kk

// Invocation `tid`'s slot in a K step: (depth kk, group g of 4 rows or columns), arranged so
// that consecutive invocations read consecutive addresses.
fn a_slot(tid: u32) -> vec2<u32> {
    if (TRANS_A) { return vec2<u32>(tid / (BM / 4u), tid % (BM / 4u)); } // A stored [K, M]: walk rows
    return vec2<u32>(tid % BK, tid / BK);                                 // A stored [M, K]: walk k
}
fn b_slot(tid: u32) -> vec2<u32> {
    if (TRANS_B) { return vec2<u32>(tid % BK, tid / BK); }               // B stored [N, K]: walk k
    return vec2<u32>(tid / (BN / 4u), tid % (BN / 4u));                   // B stored [K, N]: walk columns
}

// Stores the fetched vectors at their slots.
fn stage(sa: vec2<u32>, sb: vec2<u32>, a: vec4<f32>, b: vec4<f32>) {
    tile_a[sa.x * (BM / 4u) + sa.y] = tile_vec(a);
    tile_b[sb.x * (BN / 4u) + sb.y] = tile_vec(b);
}

fn fetch_a(s: vec2<u32>, row0: u32, t: u32, k_end: u32) -> vec4<f32> {
    let r = row0 + 4u * s.y;
    let kk = t + s.x;
    return vec4<f32>(load_a(r, kk, k_end), load_a(r + 1u, kk, k_end), load_a(r + 2u, kk, k_end),
                     load_a(r + 3u, kk, k_end));
}
fn fetch_b(s: vec2<u32>, col0: u32, t: u32, k_end: u32) -> vec4<f32> {
    let c = col0 + 4u * s.y;
    let kk = t + s.x;
    return vec4<f32>(load_b(kk, c, k_end), load_b(kk, c + 1u, k_end), load_b(kk, c + 2u, k_end),
                     load_b(kk, c + 3u, k_end));
}
