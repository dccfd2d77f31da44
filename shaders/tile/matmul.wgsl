// tile/matmul: the tiled product of matmul, matmul_pair, matmul_col_dot and matmul_multi
// (composed before their files). A 64×64 block of C per workgroup of 16×16
// invocations, 4×4 outputs per invocation held in registers, K in steps of 16 staged through
// workgroup memory. The kernel file composed after this one declares `TRANS_A`, `TRANS_B` and the
// tile loaders `load_a(row, kk, k_end)` / `load_b(kk, col, k_end)` (0 outside the operands).
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [BM][BK]
var<workgroup> tile_b: array<f32, 1024>; // [BK][BN]

// The 4×4 outputs of invocation `lid` in the block at (row0, col0), over K range [k_begin, k_end).
fn tile_product(lid: vec3<u32>, row0: u32, col0: u32, k_begin: u32, k_end: u32) -> array<vec4<f32>, 4> {
    let tid = lid.y * 16u + lid.x;
    var acc: array<vec4<f32>, 4>;
    for (var t = k_begin; t < k_end; t += BK) {
        for (var i = 0u; i < 4u; i++) {
            let idx = tid + i * 256u;
            // A tile: BM rows × BK; with TRANS_A, consecutive threads walk rows (contiguous in A).
            var ar: u32; var ac: u32;
            if (TRANS_A) { ar = idx % BM; ac = idx / BM; } else { ar = idx / BK; ac = idx % BK; }
            tile_a[ar * BK + ac] = load_a(row0 + ar, t + ac, k_end);
            // B tile: BK × BN columns; with TRANS_B, consecutive threads walk k (contiguous in B).
            var br: u32; var bc: u32;
            if (TRANS_B) { br = idx % BK; bc = idx / BK; } else { br = idx / BN; bc = idx % BN; }
            tile_b[br * BN + bc] = load_b(t + br, col0 + bc, k_end);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let bo = kk * BN + lid.x * 4u;
            let bv = vec4<f32>(tile_b[bo], tile_b[bo + 1u], tile_b[bo + 2u], tile_b[bo + 3u]);
            for (var i = 0u; i < 4u; i++) {
                acc[i] += tile_a[(lid.y * 4u + i) * BK + kk] * bv;
            }
        }
        workgroupBarrier();
    }
    return acc;
}
