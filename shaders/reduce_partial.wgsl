// reduce_partial: first pass of a total sum (square = 0) or sum of squares (square = 1) over up
// to 7 tensors in one dispatch (the global gradient norm over every trained tensor).
// The blocks of slot s are start[s] .. start[s + 1] (start[s] = 0xFFFFFFFF for an unused slot);
// workgroup b reduces the 2048 elements x_s[(b − start[s])·2048 ..) (256 invocations × 8,
// strided so neighbouring invocations read neighbouring elements) to partial[offset + b].
// sum_partials then adds the partials of every dispatch (and takes the square root for a norm):
// WGSL has no float atomics, so the reduction is two-pass. Blocks use a 2-D grid
// (wid.x + wid.y · nwg.x). Unused slots bind any buffer (they are never read).
struct Params {
    offset: u32, // index in `partial` of this dispatch's first partial
    square: u32, // 1: sum x², 0: sum x
    blocks: u32, // partials written by this dispatch (Σ over slots of ceil(n / 2048))
    slots: u32,  // tensors bound, 1 ..= 7
    n: array<vec4<u32>, 2>,     // elements of x_s (slot s at n[s / 4][s % 4])
    start: array<vec4<u32>, 2>, // first block of slot s
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x0: array<f32>; // [n0]
@group(0) @binding(2) var<storage, read> x1: array<f32>; // [n1]
@group(0) @binding(3) var<storage, read> x2: array<f32>; // [n2]
@group(0) @binding(4) var<storage, read> x3: array<f32>; // [n3]
@group(0) @binding(5) var<storage, read> x4: array<f32>; // [n4]
@group(0) @binding(6) var<storage, read> x5: array<f32>; // [n5]
@group(0) @binding(7) var<storage, read> x6: array<f32>; // [n6]
@group(0) @binding(8) var<storage, read_write> partial: array<f32>; // [≥ offset + blocks]

const WG: u32 = 256u;
const PER: u32 = 8u;
fn load(s: u32, i: u32) -> f32 {
    switch s {
        case 0u: { return x0[i]; }
        case 1u: { return x1[i]; }
        case 2u: { return x2[i]; }
        case 3u: { return x3[i]; }
        case 4u: { return x4[i]; }
        case 5u: { return x5[i]; }
        default: { return x6[i]; }
    }
}

@compute @workgroup_size(256)
fn reduce_partial(ids: GroupIds, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= p.blocks) { return; } // uniform across the workgroup
    var s = 0u;
    for (var k = 1u; k < p.slots; k++) {
        if (b >= p.start[k / 4u][k % 4u]) { s = k; }
    }
    let n = p.n[s / 4u][s % 4u];
    let lid = ids.lid;
    let base = (b - p.start[s / 4u][s % 4u]) * (WG * PER) + lid;
    var acc = 0.0;
    for (var k = 0u; k < PER; k++) {
        let idx = base + k * WG;
        if (idx < n) {
            let v = load(s, idx);
            if (p.square != 0u) { acc += v * v; } else { acc += v; }
        }
    }
    let total = workgroup_sum(ids, acc);
    if (lid == 0u) { partial[p.offset + b] = total; }
}
