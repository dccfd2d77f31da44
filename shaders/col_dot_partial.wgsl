// col_dot_partial: first pass of out[c] = Σ_t a[t, c] · b[t, c] · row_scale[t].
// Workgroup (x, y) sums rows [y·CHUNK, (y+1)·CHUNK) for 256 columns into partial[y, c];
// sum_partials adds the chunks (WGSL has no float atomics, so the reduction is two-pass).
struct Params {
    rows: u32,
    cols: u32,
    chunk: u32,     // rows per partial
    has_scale: u32, // 0: row_scale is ignored (treated as 1)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;             // [T, C]
@group(0) @binding(2) var<storage, read> b: array<f32>;             // [T, C]
@group(0) @binding(3) var<storage, read> row_scale: array<f32>;     // [T] (any buffer if has_scale = 0)
@group(0) @binding(4) var<storage, read_write> partial: array<f32>; // [ceil(T / chunk), C]

@compute @workgroup_size(256)
fn col_dot_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.cols) { return; }
    let t0 = wid.y * p.chunk;
    let t1 = min(t0 + p.chunk, p.rows);
    var acc = 0.0;
    for (var t = t0; t < t1; t++) {
        var s = 1.0;
        if (p.has_scale != 0u) { s = row_scale[t]; }
        acc += a[t * p.cols + c] * b[t * p.cols + c] * s;
    }
    partial[wid.y * p.cols + c] = acc;
}
