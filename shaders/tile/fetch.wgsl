// tile/fetch: one invocation's share of a K step of the tiled products (tile/matmul.wgsl,
// tile/matmul_wide.wgsl), composed beside them: 4 consecutive rows of A (`fetch_a`) or columns
// of B (`fetch_b`) at one depth, through the kernel file's loaders. `s` is the invocation's slot
// from the tile's `a_slot` / `b_slot`: (depth within the step, group of 4 rows or columns).
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
