//! Causal grouped-query attention on the host, forward and backward.
//!
//! Row `r = b·S + t`; query head `h` reads key/value head `h / (H / Hkv)`. Row `r` attends to keys
//! `t' ∈ [window_start[r], t]` of its own sequence. Scores `s = scale · q·k`, probabilities
//! `p = exp(s − lse)`. Backward (as in FlashAttention): `D = Σ_d dout·out`,
//! `dS = p · (dout·v − D)`, `dq = scale Σ dS·k`, `dk = scale Σ dS·q`, `dv = Σ p·dout`.
use super::Real;
use crate::backend::{AttentionDims, CachedAttentionDims};

struct Geometry {
    seq: usize,
    heads: usize,
    group: usize,
    d: usize,
    qw: usize,
    kw: usize,
}

impl Geometry {
    fn new(dims: &AttentionDims) -> Self {
        Geometry {
            seq: dims.seq,
            heads: dims.n_heads,
            group: dims.n_heads / dims.n_kv_heads,
            d: dims.head_dim,
            qw: dims.n_heads * dims.head_dim,
            kw: dims.n_kv_heads * dims.head_dim,
        }
    }
    /// Keys visible from row `r` as a range of rows.
    fn keys(&self, r: usize, window_start: &[u32]) -> std::ops::Range<usize> {
        let b0 = (r / self.seq) * self.seq;
        let t = r - b0;
        let start = (window_start[r] as usize).min(t);
        b0 + start..r + 1
    }
}

fn dot<F: Real>(a: &[F], b: &[F]) -> F {
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

/// out `[B·S, H·D]`, lse `[B·S, H]`.
#[allow(clippy::too_many_arguments)]
pub fn forward<F: Real>(
    q: &[F],
    k: &[F],
    v: &[F],
    window_start: &[u32],
    dims: &AttentionDims,
    out: &mut [F],
    lse: &mut [F],
) {
    let g = Geometry::new(dims);
    let scale = F::from_f32(dims.scale);
    let rows = dims.batch * dims.seq;
    let mut scores = Vec::new();
    for r in 0..rows {
        let keys = g.keys(r, window_start);
        for h in 0..g.heads {
            let kv = h / g.group;
            let qr = &q[r * g.qw + h * g.d..r * g.qw + (h + 1) * g.d];
            scores.clear();
            scores.extend(
                keys.clone()
                    .map(|j| scale * dot(qr, &k[j * g.kw + kv * g.d..j * g.kw + (kv + 1) * g.d])),
            );
            let max = scores.iter().fold(F::neg_infinity(), |a, &b| a.max(b));
            let sum: F = scores.iter().map(|&s| (s - max).exp()).sum();
            let l = max + sum.ln();
            lse[r * g.heads + h] = l;
            let o = &mut out[r * g.qw + h * g.d..r * g.qw + (h + 1) * g.d];
            o.fill(F::zero());
            for (&s, j) in scores.iter().zip(keys.clone()) {
                let p = (s - l).exp();
                let vr = &v[j * g.kw + kv * g.d..j * g.kw + (kv + 1) * g.d];
                for i in 0..g.d {
                    o[i] = o[i] + p * vr[i];
                }
            }
        }
    }
}

/// Overwrites dq `[B·S, H·D]`, dk and dv `[B·S, Hkv·D]`.
#[allow(clippy::too_many_arguments)]
pub fn backward<F: Real>(
    q: &[F],
    k: &[F],
    v: &[F],
    window_start: &[u32],
    dims: &AttentionDims,
    out: &[F],
    lse: &[F],
    dout: &[F],
    dq: &mut [F],
    dk: &mut [F],
    dv: &mut [F],
) {
    let g = Geometry::new(dims);
    let scale = F::from_f32(dims.scale);
    let rows = dims.batch * dims.seq;
    dq.fill(F::zero());
    dk.fill(F::zero());
    dv.fill(F::zero());
    for r in 0..rows {
        for h in 0..g.heads {
            let kv = h / g.group;
            let qs = r * g.qw + h * g.d..r * g.qw + (h + 1) * g.d;
            let (qr, dor) = (&q[qs.clone()], &dout[qs.clone()]);
            let delta = dot(dor, &out[qs.clone()]);
            let l = lse[r * g.heads + h];
            for j in g.keys(r, window_start) {
                let ks = j * g.kw + kv * g.d..j * g.kw + (kv + 1) * g.d;
                let p = (scale * dot(qr, &k[ks.clone()]) - l).exp();
                let ds = p * (dot(dor, &v[ks.clone()]) - delta);
                for i in 0..g.d {
                    dq[qs.start + i] = dq[qs.start + i] + scale * ds * k[ks.start + i];
                    dk[ks.start + i] = dk[ks.start + i] + scale * ds * qr[i];
                    dv[ks.start + i] = dv[ks.start + i] + p * dor[i];
                }
            }
        }
    }
}

/// Attention of `dims.rows` new query rows against a key/value cache; overwrites out
/// `[rows, H·D]`. k, v `[L, Hkv·D]` (only the first `q_offset + rows` rows are read).
pub fn cached<F: Real>(q: &[F], k: &[F], v: &[F], dims: &CachedAttentionDims, out: &mut [F]) {
    let (d, group) = (dims.head_dim, dims.n_heads / dims.n_kv_heads);
    let (qw, kw) = (dims.n_heads * d, dims.n_kv_heads * d);
    let scale = F::from_f32(dims.scale);
    let mut scores = Vec::new();
    for i in 0..dims.rows {
        let pos = dims.q_offset + i;
        let lo = if dims.window == 0 {
            0
        } else {
            (pos + 1).saturating_sub(dims.window)
        };
        for h in 0..dims.n_heads {
            let kv = h / group;
            let qr = &q[i * qw + h * d..i * qw + (h + 1) * d];
            scores.clear();
            scores.extend(
                (lo..=pos).map(|j| scale * dot(qr, &k[j * kw + kv * d..j * kw + (kv + 1) * d])),
            );
            let max = scores.iter().fold(F::neg_infinity(), |a, &b| a.max(b));
            let sum: F = scores.iter().map(|&s| (s - max).exp()).sum();
            let o = &mut out[i * qw + h * d..i * qw + (h + 1) * d];
            o.fill(F::zero());
            for (&s, j) in scores.iter().zip(lo..=pos) {
                let p = (s - max).exp() / sum;
                let vr = &v[j * kw + kv * d..j * kw + (kv + 1) * d];
                for (o, &x) in o.iter_mut().zip(vr) {
                    *o = *o + p * x;
                }
            }
        }
    }
}
