// col_dot_blocks: dΣ's column dot products by blocks of 64 rows from a k already in memory
// (where matmul_col_dot's tiles do not apply: few rows, split K):
//   partials[col · blocks + r] += Σ_{t in rows 64r .. 64r + 63} h[t, col] · k[t, col]
// One 16×16 workgroup per 64×64 block (tile/col_dots.wgsl, composed before this file).
struct Params {
    m: u32,
    n: u32,
    blocks: u32, // row blocks of `partials` (≥ ceil(M / 64))
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;             // [M, N]
@group(0) @binding(2) var<storage, read> h: array<f32>;             // [M, N]
@group(0) @binding(3) var<storage, read_write> partials: array<f32>; // [N, blocks]

@compute @workgroup_size(16, 16, 1)
fn col_dot_blocks(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * 64u;
    let col0 = wid.x * 64u;
    var vals: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (r < p.m && col < p.n) { vals[i][j] = k[r * p.n + col]; }
        }
    }
    add_col_dots(vals, lid, row0, col0, wid.y);
}
