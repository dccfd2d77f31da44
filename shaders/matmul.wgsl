// matmul: C = alpha · op(A) · op(B) (+ C when accumulate), any shape.
// op(A) is [M, K]: A stored [M, K], or [K, M] when TRANS_A.
// op(B) is [K, N]: B stored [K, N], or [N, K] when TRANS_B (Hugging Face weight layout).
// Tiling: shaders/tile/matmul.wgsl (composed before this file). Edges are zero-padded on load.
// Split-K (k_chunk > 0): workgroup z sums only K range [z·k_chunk, (z+1)·k_chunk) and writes
// alpha · its partial product to slice z of C ([splits, M, N]); a second pass adds the slices.
// It keeps a GPU busy when C has few tiles but K is long (Gram matrices of tall factors).
// B is read through `frozen_value(e)` (element e of B, row-major) from the piece composed
// before this file: shaders/frozen/f32.wgsl (f32 B at binding 2), or shaders/frozen/packed.wgsl
// after a shaders/packed/ snippet (a frozen weight kept in its stored precision).
struct Params {
    m: u32,
    n: u32,
    k: u32,
    accumulate: u32, // 1: C += product
    alpha: f32,
    k_chunk: u32,    // 0: the whole K in one workgroup; else the K range of each z slice
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;       // [M, K] or [K, M]
// binding 2: B, [K, N] or [N, K] (declared by the frozen/ piece)
@group(0) @binding(3) var<storage, read_write> c: array<f32>; // [M, N]

override TRANS_A: bool = false;
override TRANS_B: bool = false;

fn load_a(row: u32, kk: u32, k_end: u32) -> f32 {
    if (row >= p.m || kk >= k_end) { return 0.0; }
    if (TRANS_A) { return a[kk * p.m + row]; }
    return a[row * p.k + kk];
}

fn load_b(kk: u32, col: u32, k_end: u32) -> f32 {
    if (kk >= k_end || col >= p.n) { return 0.0; }
    if (TRANS_B) { return frozen_value(col * p.k + kk); }
    return frozen_value(kk * p.n + col);
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var k_begin = 0u;
    var k_end = p.k;
    if (p.k_chunk != 0u) {
        k_begin = wid.z * p.k_chunk;
        k_end = min(k_begin + p.k_chunk, p.k);
    }
    let acc = tile_product(lid, row0, col0, k_begin, k_end);
    store_tile(acc, lid, row0, col0, wid.z);
}
