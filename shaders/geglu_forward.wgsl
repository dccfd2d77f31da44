// geglu_forward: out = gelu_tanh(gate) ⊙ up (Gemma's gelu_pytorch_tanh),
// gelu_tanh(x) = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
// Computed as x · σ(2u) (= 0.5 · x · (1 + tanh u)): exp saturates to 0 or inf cleanly at
// both ends, where an exp-based tanh would give NaN, and 1 + tanh u does not cancel.
struct Params {
    n: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;      // [T, I]
@group(0) @binding(2) var<storage, read> up: array<f32>;        // [T, I]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [T, I]

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const KAPPA: f32 = 0.044715;

@compute @workgroup_size(256)
fn geglu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let g = gate[i];
    let s = 1.0 / (1.0 + exp(-2.0 * SQRT_2_OVER_PI * (g + KAPPA * g * g * g)));
    out[i] = g * s * up[i];
}
