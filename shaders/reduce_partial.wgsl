// reduce_partial: first pass of a total sum (square = 0) or sum of squares (square = 1).
// Workgroup b reduces the 2048 elements x[b·2048 .. (b+1)·2048) (256 invocations × 8, strided so
// neighbouring invocations read neighbouring elements) to partial[offset + b]. sum_partials then
// adds the partials of one or several tensors (and takes the square root for a norm): WGSL has no
// float atomics, so the reduction is two-pass. Blocks use a 2-D grid (wid.x + wid.y · nwg.x).
struct Params {
    n: u32,      // elements of x
    offset: u32, // index in `partial` of this tensor's first partial
    square: u32, // 1: sum x², 0: sum x
    blocks: u32, // ceil(n / 2048), the number of partials written
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;             // [n]
@group(0) @binding(2) var<storage, read_write> partial: array<f32>; // [≥ offset + blocks]

const WG: u32 = 256u;
const PER: u32 = 8u;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn reduce_partial(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= p.blocks) { return; } // uniform across the workgroup
    let lid = lid3.x;
    let base = b * (WG * PER) + lid;
    var acc = 0.0;
    for (var k = 0u; k < PER; k++) {
        let idx = base + k * WG;
        if (idx < p.n) {
            let v = x[idx];
            if (p.square != 0u) { acc += v * v; } else { acc += v; }
        }
    }
    red[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) { partial[p.offset + b] = red[0]; }
}
