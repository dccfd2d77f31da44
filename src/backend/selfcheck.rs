//! Engine self-check: runs a fixed set of ops on deterministic inputs on two backends and
//! compares the results. The CLI (`svdtune check`) and the web page use it to show that a
//! machine's GPU computes what the CPU reference computes before a user trusts it with training.
use crate::backend::{
    AdamW, AttentionDims, Backend, DSigma, Matmul, SvdLinear, svd_linear_acts, svd_linear_backward,
    svd_linear_forward,
};
use crate::error::Result;

/// One op's comparison.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckResult {
    pub op: &'static str,
    /// Largest `|a − b| / (1 + |b|)` over the op's outputs.
    pub max_error: f32,
    pub passed: bool,
}

/// Tolerance on the scaled error of every op (f32 arithmetic in a different order).
pub const TOLERANCE: f32 = 1e-3;

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// Runs the op set on `be` and returns each op's outputs, concatenated.
async fn outputs<B: Backend>(be: &B) -> Result<Vec<(&'static str, Vec<f32>)>> {
    let mut out = Vec::new();
    let (t, m, n, q) = (37, 45, 29, 5);
    let x = be.tensor(&data(t * n, 1), &[t, n])?;
    let w = be.tensor(&data(m * n, 2), &[m, n])?;
    let mut y = be.zeros(&[t, m])?;
    be.matmul(&x, &w, &mut y, Matmul::NT)?;
    out.push(("matmul", be.read(&y).await?));

    let layer = SvdLinear {
        w,
        u: be.tensor(&data(m * q, 3), &[m, q])?,
        v: be.tensor(&data(n * q, 4), &[n, q])?,
        sigma: be.tensor(&data(q, 5), &[q])?,
        neg_sigma0: be.tensor(&data(q, 11), &[q])?,
        bias: Some(be.tensor(&data(m, 6), &[m])?),
    };
    let mut acts = svd_linear_acts(be, t, q)?;
    svd_linear_forward(be, &layer, &x, &mut acts, &mut y)?;
    let g = be.tensor(&data(t * m, 7), &[t, m])?;
    let (mut dx, mut ds) = (be.zeros(&[t, n])?, be.zeros(&[q])?);
    svd_linear_backward(
        be,
        &layer,
        &g,
        &mut acts,
        &mut dx,
        false,
        DSigma::Sum(&mut ds),
    )?;
    let mut svd = be.read(&y).await?;
    svd.extend(be.read(&dx).await?);
    svd.extend(be.read(&ds).await?);
    out.push(("svd_linear", svd));

    let norm_w = be.tensor(&data(n, 8), &[n])?;
    let (mut xn, mut rstd) = (be.zeros(&[t, n])?, be.zeros(&[t])?);
    be.rmsnorm_forward(&x, &norm_w, 1e-5, &mut xn, &mut rstd)?;
    let mut dxn = be.zeros(&[t, n])?;
    let mut dw = be.zeros(&[n])?;
    be.rmsnorm_backward(&x, &norm_w, &rstd, &dx, &mut dxn, false, Some(&mut dw))?;
    let mut norm = be.read(&xn).await?;
    norm.extend(be.read(&dxn).await?);
    norm.extend(be.read(&dw).await?);
    out.push(("rmsnorm", norm));

    let dims = AttentionDims {
        batch: 1,
        seq: t,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 8,
        scale: 8f32.sqrt().recip(),
    };
    let qa = be.tensor(&data(t * 32, 9), &[t, 32])?;
    let ka = be.tensor(&data(t * 16, 10), &[t, 16])?;
    let va = be.tensor(&data(t * 16, 11), &[t, 16])?;
    let ws = be.ids(&vec![0; t])?;
    let (mut o, mut lse) = (be.zeros(&[t, 32])?, be.zeros(&[t, 4])?);
    be.attention_forward(&qa, &ka, &va, &ws, dims, &mut o, &mut lse)?;
    let d_o = be.tensor(&data(t * 32, 12), &[t, 32])?;
    let (mut dq, mut dk, mut dv) = (
        be.zeros(&[t, 32])?,
        be.zeros(&[t, 16])?,
        be.zeros(&[t, 16])?,
    );
    be.attention_backward(
        &qa, &ka, &va, &ws, dims, &o, &lse, &d_o, &mut dq, &mut dk, &mut dv,
    )?;
    let mut att = be.read(&o).await?;
    for tensor in [&dq, &dk, &dv] {
        att.extend(be.read(tensor).await?);
    }
    out.push(("attention", att));

    let (gate, up) = (
        be.tensor(&data(t * n, 13), &[t, n])?,
        be.tensor(&data(t * n, 14), &[t, n])?,
    );
    let (mut act, mut dgate, mut dup) =
        (be.zeros(&[t, n])?, be.zeros(&[t, n])?, be.zeros(&[t, n])?);
    be.swiglu_forward(&gate, &up, &mut act)?;
    be.swiglu_backward(&gate, &up, &x, &mut dgate, &mut dup)?;
    let mut swi = be.read(&act).await?;
    swi.extend(be.read(&dgate).await?);
    swi.extend(be.read(&dup).await?);
    out.push(("swiglu", swi));

    let vocab = 1000;
    let mut logits = be.tensor(
        &data(t * vocab, 15)
            .iter()
            .map(|z| z * 8.0)
            .collect::<Vec<_>>(),
        &[t, vocab],
    )?;
    let targets = be.ids(
        &(0..t as u32)
            .map(|i| i * 97 % vocab as u32)
            .collect::<Vec<_>>(),
    )?;
    let weights = be.tensor(
        &(0..t)
            .map(|i| (i % 3 != 0) as u32 as f32)
            .collect::<Vec<_>>(),
        &[t],
    )?;
    let mut losses = be.zeros(&[t])?;
    be.cross_entropy(
        &mut logits,
        &targets,
        &weights,
        0,
        1.0 / t as f32,
        &mut losses,
    )?;
    let mut total = be.zeros(&[1])?;
    be.sum(&losses, &mut total)?;
    let mut ce = be.read(&total).await?;
    ce.extend(be.read(&logits).await?);
    out.push(("cross_entropy", ce));

    let mut sigma = layer.sigma;
    let (mut m1, mut v1, mut gn) = (be.zeros(&[q])?, be.zeros(&[q])?, be.zeros(&[1])?);
    be.global_norm(&[&ds], &mut gn)?;
    let hp = AdamW {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        step: 1,
        max_grad_norm: 1.0,
    };
    be.adamw(&mut sigma, &ds, &mut m1, &mut v1, &gn, hp)?;
    let mut opt = be.read(&gn).await?;
    opt.extend(be.read(&sigma).await?);
    out.push(("adamw", opt));
    Ok(out)
}

/// Runs the op set on `test` and on `reference` and compares each op.
pub async fn compare<A: Backend, B: Backend>(test: &A, reference: &B) -> Result<Vec<CheckResult>> {
    let got = outputs(test).await?;
    let want = outputs(reference).await?;
    Ok(got
        .into_iter()
        .zip(want)
        .map(|((op, a), (_, b))| {
            let max_error = if a.len() != b.len() {
                f32::INFINITY
            } else {
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
                    .fold(0.0, |m, e| if e.is_nan() { f32::NAN } else { m.max(e) })
            };
            CheckResult {
                op,
                max_error,
                passed: max_error <= TOLERANCE,
            }
        })
        .collect())
}
