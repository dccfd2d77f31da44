// tile/col_dots: column dot products of a 64×64 block, composed into matmul_col_dot.wgsl and
// col_dot_blocks.wgsl. Invocation (lid.x, lid.y) of a 16×16 workgroup holds the block's values
// `vals` at rows row0 + 4·lid.y + i and columns col0 + 4·lid.x + j; `add_col_dots` adds
// Σ_rows h[row, col] · vals to partials[col · p.blocks + block] (each (column, block) slot has
// one owner per dispatch, so no atomics). The kernel file declares `p` (m, n, blocks), `h`
// ([M, N]) and `partials` ([N, blocks] or longer).
var<workgroup> red: array<f32, 1024>; // [16 row groups][64 columns]

fn add_col_dots(vals: array<vec4<f32>, 4>, lid: vec3<u32>, row0: u32, col0: u32, block: u32) {
    var s = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (col < p.n) { s[j] += vals[i][j] * h[r * p.n + col]; }
        }
    }
    for (var j = 0u; j < 4u; j++) { red[lid.y * 64u + lid.x * 4u + j] = s[j]; }
    workgroupBarrier();
    if (lid.y == 0u) {
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (col < p.n) {
                var sum = 0.0;
                for (var y = 0u; y < 16u; y++) { sum += red[y * 64u + lid.x * 4u + j]; }
                let o = col * p.blocks + block;
                partials[o] = partials[o] + sum;
            }
        }
    }
}
