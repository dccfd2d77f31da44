// embedding: out[t, :] = table[ids[t], :]; an id past the table gives a zero row.
struct Params {
    n: u32,     // rows · cols
    cols: u32,
    vocab: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;     // [V, C]
@group(0) @binding(2) var<storage, read> ids: array<u32>;       // [T]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [T, C]

@compute @workgroup_size(256)
fn embedding(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let id = ids[i / p.cols];
    var v = 0.0;
    if (id < p.vocab) { v = table[id * p.cols + i % p.cols]; }
    out[i] = v;
}
