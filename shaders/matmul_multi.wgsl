// matmul_multi: one input by up to three matrices, C_i = A · B_i, in one dispatch: the SVD
// layers that read the same input (q, k, v; gate, up) project it on their factors V at once.
// A [M, K]; B_i [K, N_i] (f32, or f16 two per u32 when FACTOR_F16; common/f16.wgsl composed
// before); C_i [M, N_i]. The tiles (tile/matmul.wgsl) run over the columns of [B_1 | B_2 | B_3]
// (N = N_1 + N_2 + N_3; N_3 = 0 with two matrices, whose third bindings are any buffers).
struct Params {
    m: u32,
    n: u32,  // N_1 + N_2 + N_3
    k: u32,
    n1: u32,
    n2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;         // [M, K]
@group(0) @binding(2) var<storage, read> b1: array<u32>;        // [K, N_1]
@group(0) @binding(3) var<storage, read> b2: array<u32>;        // [K, N_2]
@group(0) @binding(4) var<storage, read> b3: array<u32>;        // [K, N_3]
@group(0) @binding(5) var<storage, read_write> c1: array<f32>;  // [M, N_1]
@group(0) @binding(6) var<storage, read_write> c2: array<f32>;  // [M, N_2]
@group(0) @binding(7) var<storage, read_write> c3: array<f32>;  // [M, N_3]

const TRANS_A: bool = false;
const TRANS_B: bool = false;
override FACTOR_F16: bool = false;

fn element(w: u32, e: u32) -> f32 {
    if (FACTOR_F16) { return f16_bits_to_f32((w >> ((e & 1u) << 4u)) & 0xFFFFu); }
    return bitcast<f32>(w);
}

fn load_a(row: u32, kk: u32, k_end: u32) -> f32 {
    if (row >= p.m || kk >= k_end) { return 0.0; }
    return a[row * p.k + kk];
}

fn load_b(kk: u32, col: u32, k_end: u32) -> f32 {
    if (kk >= k_end || col >= p.n) { return 0.0; }
    let shift = select(0u, 1u, FACTOR_F16);
    if (col < p.n1) {
        let e = kk * p.n1 + col;
        return element(b1[e >> shift], e);
    }
    if (col < p.n1 + p.n2) {
        let e = kk * p.n2 + col - p.n1;
        return element(b2[e >> shift], e);
    }
    let n3 = p.n - p.n1 - p.n2;
    let e = kk * n3 + col - p.n1 - p.n2;
    return element(b3[e >> shift], e);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_multi(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let acc = tile_product(lid, row0, col0, 0u, p.k);
    let n3 = p.n - p.n1 - p.n2;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (col < p.n1) {
                c1[r * p.n1 + col] = acc[i][j];
            } else if (col < p.n1 + p.n2) {
                c2[r * p.n2 + col - p.n1] = acc[i][j];
            } else if (col < p.n) {
                c3[r * n3 + col - p.n1 - p.n2] = acc[i][j];
            }
        }
    }
}
