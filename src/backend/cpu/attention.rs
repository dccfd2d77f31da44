//! Causal grouped-query attention on the host, forward and backward.
//!
//! Row `r = b·S + t`; query head `h` reads key/value head `h / (H / Hkv)`. Row `r` attends to keys
//! `t' ∈ [window_start[r], t]` of its own sequence. Scores `s = scale · q·k`, probabilities
//! `p = exp(s − lse)`. Backward (as in FlashAttention): `D = Σ_d dout·out`,
//! `dS = p · (dout·v − D)`, `dq = scale Σ dS·k`, `dk = scale Σ dS·q`, `dv = Σ p·dout`; the
//! backward forms these per sequence and head as matrix products over `[T, T]` blocks.
use super::Real;
use super::vector;
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

/// `Σ a·b` with eight partial sums (vectorizes; head dims are multiples of 8 in practice).
fn dot<F: Real>(a: &[F], b: &[F]) -> F {
    let mut acc = [F::zero(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] = acc[i] + x[i] * y[i];
        }
    }
    let tail: F = ra.iter().zip(rb).map(|(&x, &y)| x * y).sum();
    acc.iter().fold(tail, |s, &x| s + x)
}

/// Runs `f(first_sequence, sequences)` over the batch's sequences split into contiguous groups,
/// one per pool thread (a single call for one sequence or a pool of one thread). Sequences are
/// independent: every output row depends only on its own sequence's rows.
fn per_sequences(batch: usize, f: impl Fn(usize, usize) + Sync) {
    let threads = rayon::current_num_threads().min(batch);
    if threads > 1 {
        let per = batch.div_ceil(threads);
        rayon::scope(|s| {
            for first in (0..batch).step_by(per) {
                let f = &f;
                s.spawn(move |_| f(first, per.min(batch - first)));
            }
        });
        return;
    }
    f(0, batch);
}

/// Shares a mutable slice between threads that write disjoint row ranges of it.
#[derive(Clone, Copy)]
struct Rows<'a, F> {
    ptr: *mut F,
    len: usize,
    _slice: std::marker::PhantomData<&'a mut [F]>,
}
unsafe impl<F: Send> Send for Rows<'_, F> {}
unsafe impl<F: Send> Sync for Rows<'_, F> {}

impl<'a, F> Rows<'a, F> {
    fn new(s: &'a mut [F]) -> Self {
        Rows {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _slice: std::marker::PhantomData,
        }
    }
    /// Elements `range` of the slice.
    ///
    /// # Safety
    /// Concurrent callers must ask for disjoint ranges, within the slice.
    unsafe fn part(self, range: std::ops::Range<usize>) -> &'a mut [F] {
        assert!(range.start <= range.end && range.end <= self.len);
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
}

/// `p = scale · Q Kᵀ` `[T, T]` for one sequence and head: `q` and `k` start at the head's first
/// element (rows `qw` and `kw` apart). Forward and backward both form the scores this way, so the
/// backward's probabilities are exactly the forward's.
fn scores<F: Real>(g: &Geometry, scale: F, q: &[F], k: &[F], p: &mut [F]) {
    let (t, d) = (g.seq, g.d);
    let (qw, kw, ti) = (g.qw as isize, g.kw as isize, t as isize);
    F::gemm(
        t,
        d,
        t,
        scale,
        q,
        (qw, 1),
        k,
        (1, kw),
        F::zero(),
        p,
        (ti, 1),
    );
}

/// out `[B·S, H·D]`, lse `[B·S, H]`. Sequences run in parallel (see [`per_sequences`]).
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
    let (s, qw, kw, h) = (
        dims.seq,
        dims.n_heads * dims.head_dim,
        dims.n_kv_heads * dims.head_dim,
        dims.n_heads,
    );
    let (out, lse) = (Rows::new(out), Rows::new(lse));
    per_sequences(dims.batch, |first, n| {
        let rows = first * s..(first + n) * s;
        let part = AttentionDims { batch: n, ..*dims };
        // SAFETY: each group writes only its own sequences' rows.
        let (o, l) = unsafe {
            (
                out.part(rows.start * qw..rows.end * qw),
                lse.part(rows.start * h..rows.end * h),
            )
        };
        forward_rows(
            &q[rows.start * qw..rows.end * qw],
            &k[rows.start * kw..rows.end * kw],
            &v[rows.start * kw..rows.end * kw],
            &window_start[rows.clone()],
            &part,
            o,
            l,
        );
    });
}

#[allow(clippy::too_many_arguments)]
fn forward_rows<F: Real>(
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
    let (t, d, qw, kw) = (g.seq, g.d, g.qw as isize, g.kw as isize);
    let ti = t as isize;
    // Per sequence and head: S = scale·Q Kᵀ (the same product the backward forms, so both see
    // the same scores), row-wise softmax over the visible keys, O = P V.
    let mut p = vec![F::zero(); t * t];
    for b in 0..dims.batch {
        let r0 = b * t;
        for h in 0..g.heads {
            let kv = h / g.group;
            let qo = r0 * g.qw + h * d;
            let ko = r0 * g.kw + kv * d;
            scores(&g, scale, &q[qo..], &k[ko..], &mut p);
            for i in 0..t {
                let keys = g.keys(r0 + i, window_start);
                let (lo, hi) = (keys.start - r0, keys.end - r0);
                let row = &mut p[i * t..(i + 1) * t];
                let max = vector::max(&row[lo..hi]);
                let sum = vector::exp_shifted(&mut row[lo..hi], max);
                lse[(r0 + i) * g.heads + h] = max + sum.ln();
                let inv = F::one() / sum;
                for x in &mut row[lo..hi] {
                    *x = *x * inv;
                }
                row[..lo].fill(F::zero());
                row[hi..].fill(F::zero());
            }
            F::gemm(
                t,
                t,
                d,
                F::one(),
                &p,
                (ti, 1),
                &v[ko..],
                (kw, 1),
                F::zero(),
                &mut out[qo..],
                (qw, 1),
            );
        }
    }
}

/// Overwrites dq `[B·S, H·D]`, dk and dv `[B·S, Hkv·D]`. Sequences run in parallel.
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
    let (s, qw, kw, h) = (
        dims.seq,
        dims.n_heads * dims.head_dim,
        dims.n_kv_heads * dims.head_dim,
        dims.n_heads,
    );
    let (dq, dk, dv) = (Rows::new(dq), Rows::new(dk), Rows::new(dv));
    per_sequences(dims.batch, |first, n| {
        let r = first * s..(first + n) * s;
        let (qr, kr) = (r.start * qw..r.end * qw, r.start * kw..r.end * kw);
        let part = AttentionDims { batch: n, ..*dims };
        // SAFETY: each group writes only its own sequences' rows.
        let (gq, gk, gv) = unsafe {
            (
                dq.part(qr.clone()),
                dk.part(kr.clone()),
                dv.part(kr.clone()),
            )
        };
        backward_rows(
            &q[qr.clone()],
            &k[kr.clone()],
            &v[kr],
            &window_start[r.clone()],
            &part,
            &out[qr.clone()],
            &lse[r.start * h..r.end * h],
            &dout[qr],
            gq,
            gk,
            gv,
        );
    });
}

#[allow(clippy::too_many_arguments)]
fn backward_rows<F: Real>(
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
    let (t, d, qw, kw) = (g.seq, g.d, g.qw as isize, g.kw as isize);
    let ti = t as isize;
    dk.fill(F::zero());
    dv.fill(F::zero());
    // Per sequence and head, as matrix products over the whole [T, T] block (masked entries
    // get p = 0): S = scale·Q Kᵀ, P = exp(S − lse), dP = dO Vᵀ, dS = P ⊙ (dP − D),
    // dQ = scale·dS K, dK += scale·dSᵀ Q, dV += Pᵀ dO.
    let mut p = vec![F::zero(); t * t];
    let mut ds = vec![F::zero(); t * t];
    for b in 0..dims.batch {
        let r0 = b * t;
        for h in 0..g.heads {
            let kv = h / g.group;
            let qo = r0 * g.qw + h * d;
            let ko = r0 * g.kw + kv * d;
            scores(&g, scale, &q[qo..], &k[ko..], &mut p);
            F::gemm(
                t,
                d,
                t,
                F::one(),
                &dout[qo..],
                (qw, 1),
                &v[ko..],
                (1, kw),
                F::zero(),
                &mut ds,
                (ti, 1),
            );
            for i in 0..t {
                let keys = g.keys(r0 + i, window_start);
                let (lo, hi) = (keys.start - r0, keys.end - r0);
                let l = lse[(r0 + i) * g.heads + h];
                let row = qo + i * g.qw;
                let delta = dot(&dout[row..row + d], &out[row..row + d]);
                let (pr, dr) = (&mut p[i * t..(i + 1) * t], &mut ds[i * t..(i + 1) * t]);
                for (p, d) in pr[lo..hi].iter_mut().zip(&mut dr[lo..hi]) {
                    *p = (*p - l).vexp();
                    *d = *p * (*d - delta);
                }
                for x in [pr, dr] {
                    x[..lo].fill(F::zero());
                    x[hi..].fill(F::zero());
                }
            }
            F::gemm(
                t,
                t,
                d,
                scale,
                &ds,
                (ti, 1),
                &k[ko..],
                (kw, 1),
                F::zero(),
                &mut dq[qo..],
                (qw, 1),
            );
            F::gemm(
                t,
                t,
                d,
                scale,
                &ds,
                (1, ti),
                &q[qo..],
                (qw, 1),
                F::one(),
                &mut dk[ko..],
                (kw, 1),
            );
            F::gemm(
                t,
                t,
                d,
                F::one(),
                &p,
                (1, ti),
                &dout[qo..],
                (qw, 1),
                F::one(),
                &mut dv[ko..],
                (kw, 1),
            );
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
