// tile/matmul_wide: the wide variant of tile/matmul.wgsl for large products (GPU tuning
// `wide_tiles`), composed the same way before matmul.wgsl and matmul_pair.wgsl with
// tile/store_wide.wgsl. A 128×128 block of C per workgroup of 16×16 invocations, 8×8 outputs
// per invocation (rows 4·lid.y + i and 64 + 4·lid.y + i, columns 4·lid.x + j and
// 64 + 4·lid.x + j, i, j < 4), K in steps of 8 staged through workgroup memory as vec4s: each
// depth step reads two vec4s of A and two of B for 64 multiply-adds. The next K step is fetched
// into registers while the current one is multiplied. Same loaders and staging (tile/fetch.wgsl)
// as tile/matmul.wgsl.
const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 8u;

// The 8×8 outputs of invocation `lid` in the block at (row0, col0), over K range [k_begin, k_end):
// acc[2·i + h][j] for row row0 + tile_row(lid, i) and column col0 + 64·h + 4·lid.x + j.
fn tile_product(lid: vec3<u32>, row0: u32, col0: u32, k_begin: u32, k_end: u32) -> array<vec4<f32>, 16> {
    let tid = lid.y * 16u + lid.x;
    let sa = a_slot(tid);
    let sb = b_slot(tid);
    var acc: array<vec4<f32>, 16>;
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
            let a0 = vec4<f32>(tile_a[kk * 32u + lid.y]);
            let a1 = vec4<f32>(tile_a[kk * 32u + 16u + lid.y]);
            let b0 = vec4<f32>(tile_b[kk * 32u + lid.x]);
            let b1 = vec4<f32>(tile_b[kk * 32u + 16u + lid.x]);
            acc[0] += a0.x * b0;
            acc[1] += a0.x * b1;
            acc[2] += a0.y * b0;
            acc[3] += a0.y * b1;
            acc[4] += a0.z * b0;
            acc[5] += a0.z * b1;
            acc[6] += a0.w * b0;
            acc[7] += a0.w * b1;
            acc[8] += a1.x * b0;
            acc[9] += a1.x * b1;
            acc[10] += a1.y * b0;
            acc[11] += a1.y * b1;
            acc[12] += a1.z * b0;
            acc[13] += a1.z * b1;
            acc[14] += a1.w * b0;
            acc[15] += a1.w * b1;
        }
        workgroupBarrier();
    }
    return acc;
}

// The block row of output row i (0 ≤ i < 8) of invocation `lid`.
fn tile_row(lid: vec3<u32>, i: u32) -> u32 {
    return select(4u * lid.y + i, 60u + 4u * lid.y + i, i >= 4u);
}
