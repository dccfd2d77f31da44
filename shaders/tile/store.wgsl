// tile/store: the output of tile/matmul.wgsl's block into one C, composed after it by the kernels
// with a single output (matmul, matmul_pair, matmul_col_dot), which declare `p` (m, n,
// accumulate, alpha) and `c`.
// Writes `alpha · acc` (added to C when accumulating) into slice `z` of C ([slices, M, N]).
fn store_tile(acc: array<vec4<f32>, 4>, lid: vec3<u32>, row0: u32, col0: u32, z: u32) {
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (col < p.n) {
                let idx = z * p.m * p.n + r * p.n + col;
                var v = p.alpha * acc[i][j];
                if (p.accumulate != 0u) { v += c[idx]; }
                c[idx] = v;
            }
        }
    }
}
