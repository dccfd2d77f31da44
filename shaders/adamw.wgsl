// adamw: one AdamW step (torch.optim.AdamW semantics) with gradient clipping by a global norm
// that stays on the GPU:
//   c = min(1, max_norm / (grad_norm + 1e-6))   (c = 1 when clip = 0, i.e. max_norm = ∞)
//   g = grad · c;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   param = param · (1 − lr·wd) − step_size · m / (sqrt(v / bc2) + eps)
// with step_size = lr / (1 − β1^step) and bc2 = 1 − β2^step computed on the host in f32.
// decay, step_size and bc2 change every step: they come last in Params, outside the bind-group
// cache key, and the host rewrites them in place (Recorder::dispatch_stepped).
// If grad_norm[0] is NaN or ±∞, nothing is written (the step is skipped). The finite test
// works on the bits, since WGSL has no isnan/isinf and may assume finite arithmetic.
struct Params {
    n: u32,               // elements
    clip: u32,            // 1: clip to max_norm; 0: no clipping
    max_norm: f32,        // clipping threshold (finite when clip = 1)
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32, // 1 − β1
    one_minus_beta2: f32, // 1 − β2
    eps: f32,
    // per step:
    decay: f32,           // 1 − lr · weight_decay
    step_size: f32,       // lr / (1 − β1^step)
    bc2: f32,             // 1 − β2^step
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>; // [n]
@group(0) @binding(2) var<storage, read> grad: array<f32>;        // [n]
@group(0) @binding(3) var<storage, read_write> m: array<f32>;     // [n] first moment
@group(0) @binding(4) var<storage, read_write> v: array<f32>;     // [n] second moment
@group(0) @binding(5) var<storage, read> grad_norm: array<f32>;   // [1] global gradient norm

@compute @workgroup_size(256)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let gn = grad_norm[0];
    if ((bitcast<u32>(gn) & 0x7f800000u) == 0x7f800000u) { return; } // NaN or ±∞: skip the step
    // min(1, max_norm / d) without forming a quotient that could overflow: the quotient is < 1
    // exactly when max_norm < d (d > 0).
    var c = 1.0;
    let d = gn + 1e-6;
    if (p.clip != 0u && p.max_norm < d) { c = p.max_norm / d; }
    let g = grad[i] * c;
    let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
    let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    let denom = sqrt(vi / p.bc2) + p.eps;
    param[i] = param[i] * p.decay - p.step_size * mi / denom;
}
