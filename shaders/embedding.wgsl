// embedding: out[t, :] = table[ids[t], :]; an id past the table gives a zero row.
// The table is read through `frozen_value(e)` (element e, row-major) from the piece composed
// before this file: shaders/frozen/f32.wgsl, or shaders/frozen/packed.wgsl after a
// shaders/packed/ snippet (an embedding kept in its stored precision).
struct Params {
    n: u32,     // rows · cols
    cols: u32,
    vocab: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;       // [T]
// binding 2: table, [V, C] (declared by the frozen/ piece)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [T, C]

@compute @workgroup_size(256)
fn embedding(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let id = ids[i / p.cols];
    var v = 0.0;
    if (id < p.vocab) { v = frozen_value(id * p.cols + i % p.cols); }
    out[i] = v;
}
