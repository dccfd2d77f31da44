// tile/store_wide: tile/store.wgsl for the 8×8 outputs of tile/matmul_wide.wgsl, composed after
// it by matmul and matmul_pair, which declare `p` (m, n, accumulate, alpha) and `c`.
// Writes `alpha · acc` (added to C when accumulating) into slice `z` of C ([slices, M, N]).
fn store_tile(acc: array<vec4<f32>, 16>, lid: vec3<u32>, row0: u32, col0: u32, z: u32) {
    for (var i = 0u; i < 8u; i++) {
        let r = row0 + tile_row(lid, i);
        if (r >= p.m) { continue; }
        for (var h = 0u; h < 2u; h++) {
            for (var j = 0u; j < 4u; j++) {
                let col = col0 + 64u * h + lid.x * 4u + j;
                if (col < p.n) {
                    let idx = z * p.m * p.n + r * p.n + col;
                    var v = p.alpha * acc[2u * i + h][j];
                    if (p.accumulate != 0u) { v += c[idx]; }
                    c[idx] = v;
                }
            }
        }
    }
}
