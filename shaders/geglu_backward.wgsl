// geglu_backward: dgate = dout ⊙ up ⊙ gelu_tanh'(gate), dup = dout ⊙ gelu_tanh(gate), with
// u = √(2/π) · (x + 0.044715 · x³), t = tanh(u):
// gelu_tanh'(x) = 0.5 · (1 + t) + 0.5 · x · (1 − t²) · √(2/π) · (1 + 3 · 0.044715 · x²),
// computed with s = σ(2u): 0.5 · (1 + t) = s, 0.5 · (1 − t²) = 2s(1 − s) (as the forward).
struct Params {
    n: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;        // [T, I]
@group(0) @binding(2) var<storage, read> up: array<f32>;          // [T, I]
@group(0) @binding(3) var<storage, read> dout: array<f32>;        // [T, I]
@group(0) @binding(4) var<storage, read_write> dgate: array<f32>; // [T, I]
@group(0) @binding(5) var<storage, read_write> dup: array<f32>;   // [T, I]

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const KAPPA: f32 = 0.044715;

@compute @workgroup_size(256)
fn geglu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let g = gate[i];
    let s = 1.0 / (1.0 + exp(-2.0 * SQRT_2_OVER_PI * (g + KAPPA * g * g * g)));
    dup[i] = dout[i] * g * s;
    let dgelu = s + g * 2.0 * s * (1.0 - s) * SQRT_2_OVER_PI * (1.0 + 3.0 * KAPPA * g * g);
    dgate[i] = dout[i] * up[i] * dgelu;
}
