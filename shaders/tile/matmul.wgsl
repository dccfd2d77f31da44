// tile/matmul: the tiled product of matmul, matmul_pair, matmul_col_dot and matmul_multi
// (composed before their files). A 64×64 block of C per workgroup of 16×16
// invocations, 4×4 outputs per invocation held in registers, K in steps of 16 staged through
// workgroup memory as vec4s: each depth step of the inner loop reads one vec4 of A (the
// invocation's 4 rows) and one of B (its 4 columns) for 16 multiply-adds. The next K step's
// operands are fetched into registers while the current one is multiplied. The kernel file
// composed after this one declares `TRANS_A`, `TRANS_B` and the tile loaders
// `load_a(row, kk, k_end)` / `load_b(kk, col, k_end)` (0 outside the operands); the tiles in
// workgroup memory and their loads are tile/fetch.wgsl's.
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// The 4×4 outputs of invocation `lid` in the block at (row0, col0), over K range [k_begin, k_end):
// acc[i][j] for row row0 + 4·lid.y + i and column col0 + 4·lid.x + j.
fn tile_product(lid: vec3<u32>, row0: u32, col0: u32, k_begin: u32, k_end: u32) -> array<vec4<f32>, 4> {
    let tid = lid.y * 16u + lid.x;
    let sa = a_slot(tid);
    let sb = b_slot(tid);
    var acc: array<vec4<f32>, 4>;
    var next_a = vec4<f32>(0.0);
    var next_b = vec4<f32>(0.0);
    if (k_begin < k_end) {
        next_a = fetch_a(sa, row0, k_begin, k_end);
        next_b = fetch_b(sb, col0, k_begin, k_end);
    }
    for (var t = k_begin; t < k_end; t += BK) {
        stage(sa, sb, next_a, next_b);
        workgroupBarrier();
        if (t + BK < k_end) {
            next_a = fetch_a(sa, row0, t + BK, k_end);
            next_b = fetch_b(sb, col0, t + BK, k_end);
        }
        for (var kk = 0u; kk < BK; kk++) {
            let av = vec4<f32>(tile_a[kk * 16u + lid.y]);
            let bv = vec4<f32>(tile_b[kk * 16u + lid.x]);
            acc[0] += av.x * bv;
            acc[1] += av.y * bv;
            acc[2] += av.z * bv;
            acc[3] += av.w * bv;
        }
        workgroupBarrier();
    }
    return acc;
}
