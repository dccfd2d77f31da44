// sum_partials: second pass of column reductions: out[c] (+)= Σ_i partial[i, c], optionally
// followed by a square root (global gradient norm).
struct Params {
    cols: u32,
    chunks: u32,
    accumulate: u32, // 1: add to what out holds
    sqrt_out: u32,   // 1: out[c] = sqrt(sum)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;   // [chunks, cols]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [cols]

@compute @workgroup_size(256)
fn sum_partials(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.cols) { return; }
    var acc = 0.0;
    for (var i = 0u; i < p.chunks; i++) {
        acc += partial[i * p.cols + c];
    }
    if (p.accumulate != 0u) { acc += out[c]; }
    if (p.sqrt_out != 0u) { acc = sqrt(acc); }
    out[c] = acc;
}
