// embedding: out[t, :] = table[ids[t], :]; an id past the table gives a zero row.
// A table or output held in row blocks (src/backend/gpu/split.rs) is gathered one pair of
// blocks per dispatch: output row t reads ids[first_id + t]; this binding holds table rows
// table_row0 .. table_row0 + vocab; other ids give zero when zero_outside, else are skipped.
// The table is read through `frozen_value(e)` (element e, row-major) from the piece composed
// before this file: shaders/frozen/f32.wgsl, or shaders/frozen/packed.wgsl after a
// shaders/packed/ snippet (an embedding kept in its stored precision).
struct Params {
    n: u32,     // rows · cols
    cols: u32,
    vocab: u32,        // table rows in this binding
    table_row0: u32,   // the first of them in the whole table
    first_id: u32,     // index in ids of output row 0
    zero_outside: u32, // 1: ids not in this binding give zero rows; 0: their rows are left
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;       // [T]
// binding 2: table, [V, C] (declared by the frozen/ piece)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [T, C]

@compute @workgroup_size(256)
fn embedding(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let id = ids[p.first_id + i / p.cols];
    // Unsigned: an id below table_row0 wraps past vocab.
    let row = id - p.table_row0;
    if (row < p.vocab) {
        out[i] = frozen_value(row * p.cols + i % p.cols);
    } else if (p.zero_outside != 0u) {
        out[i] = 0.0;
    }
}
