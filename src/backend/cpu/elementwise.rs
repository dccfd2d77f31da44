//! Elementwise and gather ops on the host: residual add, bias, column scaling, embedding lookup,
//! SwiGLU forward and backward.
use super::Real;
use super::parallel::{ELEMENTS, blocks, blocks2};

/// `x += y`.
pub fn add_assign<F: Real>(x: &mut [F], y: &[F]) {
    x.iter_mut().zip(y).for_each(|(a, &b)| *a = *a + b);
}

/// `y[t, :] += b`. y `[T, cols]`, b `[cols]`.
pub fn add_bias<F: Real>(y: &mut [F], b: &[F], cols: usize) {
    for row in y.chunks_mut(cols) {
        add_assign(row, b);
    }
}

/// `dst[t, c] = src[t, c] · s[c]`.
pub fn mul_cols<F: Real>(src: &[F], s: &[F], cols: usize, dst: &mut [F]) {
    for (d, x) in dst.chunks_mut(cols).zip(src.chunks(cols)) {
        for c in 0..cols {
            d[c] = x[c] * s[c];
        }
    }
}

/// `out[t, :] = table[ids[t], :]`; an id ≥ vocab gives a zero row.
pub fn embedding<F: Real>(table: &[F], vocab: usize, cols: usize, ids: &[u32], out: &mut [F]) {
    for (row, &id) in out.chunks_mut(cols).zip(ids) {
        let id = id as usize;
        if id < vocab {
            row.copy_from_slice(&table[id * cols..(id + 1) * cols]);
        } else {
            row.fill(F::zero());
        }
    }
}

fn sigmoid<F: Real>(x: F) -> F {
    F::one() / (F::one() + (-x).vexp())
}

/// `out = silu(gate) ⊙ up`, `silu(x) = x · sigmoid(x)`.
pub fn swiglu_forward<F: Real>(gate: &[F], up: &[F], out: &mut [F]) {
    blocks(out, ELEMENTS, |b, out| {
        let at = b * ELEMENTS;
        let (gate, up) = (&gate[at..at + out.len()], &up[at..at + out.len()]);
        for i in 0..out.len() {
            out[i] = gate[i] * sigmoid(gate[i]) * up[i];
        }
    });
}

/// `(gelu_tanh(x), gelu_tanh'(x))`: `gelu_tanh(x) = 0.5 · x · (1 + tanh(u))`,
/// `u = √(2/π) · (x + 0.044715 · x³)` (PyTorch's `gelu(approximate="tanh")`). Computed with
/// `s = σ(2u)`, since `0.5 · (1 + tanh u) = s` and `0.5 · (1 − tanh² u) = 2s(1 − s)`: no
/// cancellation in `1 + tanh u` for very negative `x`, and the same formula as the WGSL kernel.
fn gelu_tanh<F: Real>(x: F) -> (F, F) {
    // √(2/π) and 0.044715 in F's own precision (f64 in the gradient checks).
    let c = F::from(0.797_884_560_802_865_4_f64).unwrap_or_else(F::one);
    let k = F::from(0.044_715_f64).unwrap_or_else(F::zero);
    let two = F::from_f32(2.0);
    let s = sigmoid(two * c * (x + k * x * x * x));
    let slope = s + x * two * s * (F::one() - s) * c * (F::one() + F::from_f32(3.0) * k * x * x);
    (x * s, slope)
}

/// GeGLU: `out = gelu_tanh(gate) ⊙ up` (Gemma's `gelu_pytorch_tanh`).
pub fn geglu_forward<F: Real>(gate: &[F], up: &[F], out: &mut [F]) {
    blocks(out, ELEMENTS, |b, out| {
        let at = b * ELEMENTS;
        let (gate, up) = (&gate[at..at + out.len()], &up[at..at + out.len()]);
        for i in 0..out.len() {
            out[i] = gelu_tanh(gate[i]).0 * up[i];
        }
    });
}

/// `dgate = dout ⊙ up ⊙ gelu_tanh'(gate)`, `dup = dout ⊙ gelu_tanh(gate)`.
pub fn geglu_backward<F: Real>(gate: &[F], up: &[F], dout: &[F], dgate: &mut [F], dup: &mut [F]) {
    blocks2(dgate, ELEMENTS, dup, ELEMENTS, |b, dgate, dup| {
        let (at, n) = (b * ELEMENTS, dgate.len());
        let (gate, up, dout) = (&gate[at..at + n], &up[at..at + n], &dout[at..at + n]);
        for i in 0..n {
            let (value, slope) = gelu_tanh(gate[i]);
            dup[i] = dout[i] * value;
            dgate[i] = dout[i] * up[i] * slope;
        }
    });
}

/// `dgate = dout ⊙ up ⊙ silu'(gate)`, `dup = dout ⊙ silu(gate)`,
/// with `silu'(x) = σ(x) · (1 + x · (1 − σ(x)))`.
pub fn swiglu_backward<F: Real>(gate: &[F], up: &[F], dout: &[F], dgate: &mut [F], dup: &mut [F]) {
    blocks2(dgate, ELEMENTS, dup, ELEMENTS, |b, dgate, dup| {
        let (at, n) = (b * ELEMENTS, dgate.len());
        let (gate, up, dout) = (&gate[at..at + n], &up[at..at + n], &dout[at..at + n]);
        for i in 0..n {
            let s = sigmoid(gate[i]);
            dup[i] = dout[i] * gate[i] * s;
            dgate[i] = dout[i] * up[i] * s * (F::one() + gate[i] * (F::one() - s));
        }
    });
}
