//! Every CPU backward against f64 central finite differences of its forward.
//! For an op `out = f(inputs)` and a fixed random `R`, `L = Σ out ⊙ R`; the analytic gradient is the
//! backward with `dout = R`, and the numeric one is `(L(x + ε) − L(x − ε)) / 2ε` per input element.
#![cfg(not(target_arch = "wasm32"))]
mod common;
use common::rand_vec;
use svdtune::backend::cpu::{CpuBackend, attention, elementwise, linalg, loss, norm, rope};
use svdtune::backend::{
    AttentionDims, Backend, Matmul, SvdLinear, svd_linear_acts, svd_linear_backward,
};

const EPS: f64 = 1e-6;

fn f64s(n: usize, seed: u64) -> Vec<f64> {
    rand_vec(n, seed).into_iter().map(f64::from).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Numeric gradient of `loss` with respect to `x`.
fn numeric(x: &[f64], loss: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            xp[i] = x[i] + EPS;
            let up = loss(&xp);
            xp[i] = x[i] - EPS;
            let down = loss(&xp);
            xp[i] = x[i];
            (up - down) / (2.0 * EPS)
        })
        .collect()
}

/// Fails unless analytic and numeric gradients agree to `tol` (absolute + relative).
fn check(what: &str, analytic: &[f64], numeric: &[f64], tol: f64) {
    assert_eq!(analytic.len(), numeric.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        let err = (a - n).abs();
        assert!(
            err <= tol * (1.0 + n.abs()),
            "{what}[{i}]: analytic {a} vs numeric {n} (err {err:e})"
        );
        worst = worst.max(err);
    }
    assert!(
        analytic.iter().any(|a| a.abs() > 1e-3),
        "{what}: gradient is all zero; the check would be vacuous"
    );
    eprintln!("{what}: max |analytic − numeric| = {worst:e}");
}

#[test]
fn rmsnorm_backward_matches_finite_differences() {
    let (rows, cols, eps) = (3, 7, 1e-5);
    let (x, w, r) = (f64s(rows * cols, 1), f64s(cols, 2), f64s(rows * cols, 3));
    let fwd = |x: &[f64], w: &[f64]| {
        let (mut y, mut rstd) = (vec![0.0; rows * cols], vec![0.0; rows]);
        norm::rmsnorm_forward(x, w, rows, cols, eps, &mut y, &mut rstd);
        (y, rstd)
    };
    let (_, rstd) = fwd(&x, &w);
    for accumulate in [false, true] {
        let base = f64s(rows * cols, 4);
        let mut dx = if accumulate {
            base.clone()
        } else {
            vec![9.0; rows * cols]
        };
        let mut dw = vec![0.0; cols];
        norm::rmsnorm_backward(
            &x,
            &w,
            &rstd,
            &r,
            rows,
            cols,
            &mut dx,
            accumulate,
            Some(&mut dw),
        );
        if accumulate {
            dx.iter_mut().zip(&base).for_each(|(d, b)| *d -= b);
        }
        check(
            "rmsnorm dx",
            &dx,
            &numeric(&x, |x| dot(&fwd(x, &w).0, &r)),
            1e-6,
        );
        check(
            "rmsnorm dw",
            &dw,
            &numeric(&w, |w| dot(&fwd(&x, w).0, &r)),
            1e-6,
        );
    }
}

#[test]
fn rope_backward_is_the_transpose() {
    // Tables with a scale ≠ 1 (as longrope's attention factor) so "inverse" must be the transpose.
    let (rows, heads, d, p) = (4, 2, 6, 5);
    let half = d / 2;
    let ang = f64s(p * half, 5);
    let (cos, sin): (Vec<f64>, Vec<f64>) = ang
        .iter()
        .map(|a| (1.3 * (3.0 * a).cos(), 1.3 * (3.0 * a).sin()))
        .unzip();
    let positions = [4u32, 0, 2, 3];
    let (x, r) = (f64s(rows * heads * d, 6), f64s(rows * heads * d, 7));
    let fwd = |x: &[f64]| {
        let mut y = x.to_vec();
        rope::rope(&mut y, &positions, &cos, &sin, p, heads, d, false);
        y
    };
    let mut dx = r.clone();
    rope::rope(&mut dx, &positions, &cos, &sin, p, heads, d, true);
    check("rope dx", &dx, &numeric(&x, |x| dot(&fwd(x), &r)), 1e-7);
}

#[test]
fn attention_backward_matches_finite_differences() {
    let dims = AttentionDims {
        batch: 2,
        seq: 5,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 3,
        scale: 0.6,
    };
    let rows = dims.batch * dims.seq;
    let (qw, kw) = (
        dims.n_heads * dims.head_dim,
        dims.n_kv_heads * dims.head_dim,
    );
    // Sequence 0: plain causal; sequence 1: two packed conversations (rows 0-1 and 2-4).
    let window: Vec<u32> = vec![0, 0, 0, 0, 0, 0, 0, 2, 2, 2];
    let (q, k, v) = (f64s(rows * qw, 8), f64s(rows * kw, 9), f64s(rows * kw, 10));
    let r = f64s(rows * qw, 11);
    let fwd = |q: &[f64], k: &[f64], v: &[f64]| {
        let (mut out, mut lse) = (vec![0.0; rows * qw], vec![0.0; rows * dims.n_heads]);
        attention::forward(q, k, v, &window, &dims, &mut out, &mut lse);
        (out, lse)
    };
    let (out, lse) = fwd(&q, &k, &v);
    let (mut dq, mut dk, mut dv) = (
        vec![0.0; rows * qw],
        vec![0.0; rows * kw],
        vec![0.0; rows * kw],
    );
    attention::backward(
        &q, &k, &v, &window, &dims, &out, &lse, &r, &mut dq, &mut dk, &mut dv,
    );
    check(
        "attention dq",
        &dq,
        &numeric(&q, |q| dot(&fwd(q, &k, &v).0, &r)),
        1e-6,
    );
    check(
        "attention dk",
        &dk,
        &numeric(&k, |k| dot(&fwd(&q, k, &v).0, &r)),
        1e-6,
    );
    check(
        "attention dv",
        &dv,
        &numeric(&v, |v| dot(&fwd(&q, &k, v).0, &r)),
        1e-6,
    );
}

#[test]
fn swiglu_backward_matches_finite_differences() {
    let n = 11;
    let (gate, up, r) = (
        f64s(n, 12).iter().map(|g| g * 4.0).collect::<Vec<_>>(),
        f64s(n, 13),
        f64s(n, 14),
    );
    let fwd = |g: &[f64], u: &[f64]| {
        let mut out = vec![0.0; n];
        elementwise::swiglu_forward(g, u, &mut out);
        out
    };
    let (mut dg, mut du) = (vec![0.0; n], vec![0.0; n]);
    elementwise::swiglu_backward(&gate, &up, &r, &mut dg, &mut du);
    check(
        "swiglu dgate",
        &dg,
        &numeric(&gate, |g| dot(&fwd(g, &up), &r)),
        1e-7,
    );
    check(
        "swiglu dup",
        &du,
        &numeric(&up, |u| dot(&fwd(&gate, u), &r)),
        1e-7,
    );
}

#[test]
fn geglu_backward_matches_finite_differences() {
    let n = 11;
    let (gate, up, r) = (
        f64s(n, 15).iter().map(|g| g * 4.0).collect::<Vec<_>>(),
        f64s(n, 16),
        f64s(n, 17),
    );
    let fwd = |g: &[f64], u: &[f64]| {
        let mut out = vec![0.0; n];
        elementwise::geglu_forward(g, u, &mut out);
        out
    };
    // PyTorch's gelu(approximate="tanh") at a few points (f64).
    let mut at = vec![0.0_f64; 3];
    elementwise::geglu_forward(&[-1.0, 0.5, 3.0], &[1.0; 3], &mut at);
    for (got, want) in at
        .iter()
        .zip([-0.158_808_009_4, 0.345_714_009_8, 2.996_362_607_9])
    {
        assert!((got - want).abs() < 1e-9_f64, "gelu_tanh: {got} vs {want}");
    }
    let (mut dg, mut du) = (vec![0.0; n], vec![0.0; n]);
    elementwise::geglu_backward(&gate, &up, &r, &mut dg, &mut du);
    check(
        "geglu dgate",
        &dg,
        &numeric(&gate, |g| dot(&fwd(g, &up), &r)),
        1e-7,
    );
    check(
        "geglu dup",
        &du,
        &numeric(&up, |u| dot(&fwd(&gate, u), &r)),
        1e-7,
    );
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let (rows, vocab) = (4, 9);
    let logits: Vec<f64> = f64s(rows * vocab, 15).iter().map(|z| z * 3.0).collect();
    let targets = [2u32, 8, 0, 100]; // the last row's target is out of range: masked
    let weights = [1.0, 0.5, 0.0, 1.0];
    let scale = 1.0 / 1.5;
    let total = |z: &[f64]| {
        let (mut z, mut losses) = (z.to_vec(), vec![0.0; rows]);
        loss::cross_entropy(&mut z, vocab, &targets, &weights, scale, &mut losses);
        losses.iter().sum::<f64>()
    };
    let mut grad = logits.clone();
    let mut losses = vec![0.0; rows];
    loss::cross_entropy(&mut grad, vocab, &targets, &weights, scale, &mut losses);
    check(
        "cross_entropy dlogits",
        &grad,
        &numeric(&logits, total),
        1e-7,
    );
    assert_eq!(losses[2], 0.0, "weight 0 gives zero loss");
    assert_eq!(losses[3], 0.0, "an out-of-range target is masked");
}

/// The SVD layer's backward as composed in `svd_linear_backward` (f32 CPU backend) against f64
/// finite differences of the delta form's factored forward `y = x Wᵀ + ((x V) ⊙ (Σ − Σ₀)) Uᵀ + b`:
/// dΣ and dx (`g W + ((g U) ⊙ (Σ − Σ₀)) Vᵀ`).
#[test]
fn svd_linear_backward_matches_finite_differences() {
    let (t, m, n, q) = (3, 5, 4, 2);
    let (w, u, v, s, b) = (
        f64s(m * n, 16),
        f64s(m * q, 17),
        f64s(n * q, 18),
        f64s(q, 19),
        f64s(m, 20),
    );
    // The delta form: y = x Wᵀ + ((x V) ⊙ (Σ − Σ₀)) Uᵀ + b, with Σ₀ frozen and W the original.
    let s0 = f64s(q, 23);
    let (x, r) = (f64s(t * n, 21), f64s(t * m, 22));
    let fwd = |x: &[f64], s: &[f64]| {
        let mut y = vec![0.0; t * m];
        linalg::matmul(x, &w, &mut y, t, m, n, Matmul::NT);
        let mut h = vec![0.0; t * q];
        linalg::matmul(x, &v, &mut h, t, q, n, Matmul::NN);
        let d: Vec<f64> = s.iter().zip(&s0).map(|(a, b)| a - b).collect();
        let mut hs = vec![0.0; t * q];
        elementwise::mul_cols(&h, &d, q, &mut hs);
        linalg::matmul(&hs, &u, &mut y, t, m, q, Matmul::NT.accumulate());
        elementwise::add_bias(&mut y, &b, m);
        y
    };
    let be = CpuBackend;
    let f32s = |v: &[f64], shape: &[usize]| {
        be.tensor(&v.iter().map(|&x| x as f32).collect::<Vec<_>>(), shape)
            .unwrap()
    };
    let neg_s0: Vec<f64> = s0.iter().map(|x| -x).collect();
    let layer = SvdLinear {
        w: f32s(&w, &[m, n]),
        u: f32s(&u, &[m, q]),
        v: f32s(&v, &[n, q]),
        sigma: f32s(&s, &[q]),
        neg_sigma0: f32s(&neg_s0, &[q]),
        bias: Some(f32s(&b, &[m])),
    };
    let mut acts = svd_linear_acts(&be, t, q).unwrap();
    let mut y = be.zeros(&[t, m]).unwrap();
    svdtune::backend::svd_linear_forward(&be, &layer, &f32s(&x, &[t, n]), &mut acts, &mut y)
        .unwrap();
    let (mut dx, mut ds) = (be.zeros(&[t, n]).unwrap(), be.zeros(&[q]).unwrap());
    svd_linear_backward(
        &be,
        &layer,
        &f32s(&r, &[t, m]),
        &mut acts,
        &mut dx,
        false,
        svdtune::backend::DSigma::Sum(&mut ds),
    )
    .unwrap();
    let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    check(
        "svd_linear dx",
        &widen(&dx.data),
        &numeric(&x, |x| dot(&fwd(x, &s), &r)),
        1e-5,
    );
    check(
        "svd_linear dsigma",
        &widen(&ds.data),
        &numeric(&s, |s| dot(&fwd(&x, s), &r)),
        1e-5,
    );
}
