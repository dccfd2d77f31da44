// copy_cols: dst[t, dst_col + j] = src[t, src_col + j] for j < width (split/join fused projections).
struct Params {
    n: u32,        // rows · width
    width: u32,
    src_cols: u32,
    src_col: u32,
    dst_cols: u32,
    dst_col: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;       // [T, src_cols]
@group(0) @binding(2) var<storage, read_write> dst: array<f32>; // [T, dst_cols]

@compute @workgroup_size(256)
fn copy_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let t = i / p.width;
    let j = i % p.width;
    dst[t * p.dst_cols + p.dst_col + j] = src[t * p.src_cols + p.src_col + j];
}
