//! Shape checks no backend can skip: ops called with bad shapes or out-of-range indices on the
//! CPU and the GPU backend return the same typed error, and the GPU records nothing (no bind
//! group, no buffer, the output untouched, no device error at the next flush). Each case is one
//! generic function run on both backends. Runs natively and in browsers.
mod common;
use common::*;
use svdtune::Error;
use svdtune::Result;
use svdtune::backend::cpu::{CpuBackend, CpuTensor};
use svdtune::backend::gpu::{GpuBackend, GpuTensor};
use svdtune::backend::{AdamW, AttentionDims, Backend, CachedAttentionDims, Matmul};

/// Fills the output tensor before each case, so a kernel that ran anyway shows.
const SENTINEL: f32 = 7.25;

/// A bad call on `be`; `out` (the op's output, holding [`SENTINEL`]) must stay untouched.
type Case<B> = fn(&B, &mut <B as svdtune::backend::Kernels>::Tensor) -> Result<()>;

/// The error `case` gives on the CPU, checked to leave `out` as it was.
fn on_cpu(shape: &[usize], case: Case<CpuBackend>) -> Error {
    let be = CpuBackend;
    let n = shape.iter().product();
    let mut out: CpuTensor = be.tensor(&vec![SENTINEL; n], shape).unwrap();
    let err = case(&be, &mut out).expect_err("the CPU backend accepted a bad call");
    assert!(out.data.iter().all(|&x| x == SENTINEL), "CPU wrote {err}");
    err
}

/// The error `case` gives on the GPU, checked to have recorded nothing.
async fn on_gpu(g: &GpuBackend, shape: &[usize], case: Case<GpuBackend>) -> Error {
    let n = shape.iter().product();
    let mut out: GpuTensor = g.tensor(&vec![SENTINEL; n], shape).unwrap();
    g.flush().unwrap();
    let (groups, bytes) = (g.cached_bind_groups(), g.memory().live_bytes);
    let err = case(g, &mut out).expect_err("the GPU backend accepted a bad call");
    g.flush()
        .unwrap_or_else(|e| panic!("{err}: the device saw work: {e}"));
    assert_eq!(g.cached_bind_groups(), groups, "{err}: bind groups made");
    assert_eq!(g.memory().live_bytes, bytes, "{err}: buffers kept");
    let got = g.read(&out).await.unwrap();
    assert!(got.iter().all(|&x| x == SENTINEL), "GPU wrote {err}");
    err
}

/// Runs `case` on both backends; both must fail with the same error, of the kind `shape`
/// (`Error::Shape`, else `Error::Param`), whose message starts with `prefix`.
async fn same_error(
    g: &GpuBackend,
    out: &[usize],
    shape: bool,
    prefix: &str,
    (c, gc): (Case<CpuBackend>, Case<GpuBackend>),
) {
    let ce = on_cpu(out, c);
    let ge = on_gpu(g, out, gc).await;
    assert_eq!(ce.to_string(), ge.to_string(), "CPU and GPU errors differ");
    let kind_ok = if shape {
        matches!(ce, Error::Shape { .. }) && matches!(ge, Error::Shape { .. })
    } else {
        matches!(ce, Error::Param { .. }) && matches!(ge, Error::Param { .. })
    };
    assert!(kind_ok, "{prefix}: wrong kinds {ce:?} / {ge:?}");
    assert!(
        ce.to_string().starts_with(prefix),
        "expected `{prefix}…`, got `{ce}`"
    );
}

/// Both instantiations of a generic case.
macro_rules! both {
    ($f:ident) => {
        (
            $f::<CpuBackend> as Case<CpuBackend>,
            $f::<GpuBackend> as Case<GpuBackend>,
        )
    };
}

fn zeros<B: Backend>(be: &B, shape: &[usize]) -> B::Tensor {
    be.zeros(shape).unwrap()
}

fn matmul_inner<B: Backend>(be: &B, c: &mut B::Tensor) -> Result<()> {
    be.matmul(&zeros(be, &[2, 3]), &zeros(be, &[4, 5]), c, Matmul::NN)
}
fn matmul_out<B: Backend>(be: &B, c: &mut B::Tensor) -> Result<()> {
    be.matmul(&zeros(be, &[2, 3]), &zeros(be, &[5, 3]), c, Matmul::NT)
}
fn copy_rows_range<B: Backend>(be: &B, dst: &mut B::Tensor) -> Result<()> {
    be.copy_rows(&zeros(be, &[6, 4]), 3, dst, 2, 3)
}
fn copy_cols_range<B: Backend>(be: &B, dst: &mut B::Tensor) -> Result<()> {
    be.copy_cols(&zeros(be, &[3, 8]), 6, dst, 0, 3)
}
fn add_assign_shape<B: Backend>(be: &B, x: &mut B::Tensor) -> Result<()> {
    be.add_assign(x, &zeros(be, &[4, 3]))
}
fn add_bias_len<B: Backend>(be: &B, y: &mut B::Tensor) -> Result<()> {
    be.add_bias(y, &zeros(be, &[4]))
}
fn col_dot_scale<B: Backend>(be: &B, out: &mut B::Tensor) -> Result<()> {
    let a = zeros(be, &[5, 3]);
    be.col_dot(&a, &a, Some(&zeros(be, &[4])), out, false)
}
fn svd_merge_u<B: Backend>(be: &B, out: &mut B::Tensor) -> Result<()> {
    let (w, u, s, v) = (
        zeros(be, &[4, 3]),
        zeros(be, &[3, 2]),
        zeros(be, &[2]),
        zeros(be, &[3, 2]),
    );
    be.svd_merge(&w, &u, &s, &v, out)
}
fn embedding_out<B: Backend>(be: &B, out: &mut B::Tensor) -> Result<()> {
    be.embedding(&zeros(be, &[10, 4]), &be.ids(&[1, 2, 3])?, out)
}
fn rmsnorm_rstd<B: Backend>(be: &B, y: &mut B::Tensor) -> Result<()> {
    let (x, w, mut rstd) = (zeros(be, &[3, 4]), zeros(be, &[4]), zeros(be, &[4]));
    be.rmsnorm_forward(&x, &w, 1e-5, y, &mut rstd)
}
fn rmsnorm_dw<B: Backend>(be: &B, dw: &mut B::Tensor) -> Result<()> {
    let (x, w, rstd) = (zeros(be, &[3, 4]), zeros(be, &[4]), zeros(be, &[3]));
    let (dy, mut dx) = (zeros(be, &[3, 4]), zeros(be, &[3, 4]));
    be.rmsnorm_backward(&x, &w, &rstd, &dy, &mut dx, false, Some(dw))
}
fn rope_odd_head<B: Backend>(be: &B, x: &mut B::Tensor) -> Result<()> {
    let (cos, sin) = (zeros(be, &[8, 2]), zeros(be, &[8, 2]));
    be.rope(x, &be.ids(&[0, 1])?, &cos, &sin, 2, 3, false)
}
fn rope_positions<B: Backend>(be: &B, x: &mut B::Tensor) -> Result<()> {
    let (cos, sin) = (zeros(be, &[8, 2]), zeros(be, &[8, 2]));
    be.rope(x, &be.ids(&[0, 1, 2])?, &cos, &sin, 2, 4, false)
}

const ATT: AttentionDims = AttentionDims {
    batch: 1,
    seq: 3,
    n_heads: 2,
    n_kv_heads: 1,
    head_dim: 4,
    scale: 0.5,
};

fn attention_lse<B: Backend>(be: &B, out: &mut B::Tensor) -> Result<()> {
    let (q, kv, mut lse) = (zeros(be, &[3, 8]), zeros(be, &[3, 4]), zeros(be, &[3, 1]));
    be.attention_forward(&q, &kv, &kv, &be.ids(&[0; 3])?, ATT, out, &mut lse)
}
fn attention_heads<B: Backend>(be: &B, out: &mut B::Tensor) -> Result<()> {
    let dims = AttentionDims {
        n_kv_heads: 3,
        ..ATT
    };
    let (q, kv, mut lse) = (zeros(be, &[3, 8]), zeros(be, &[3, 4]), zeros(be, &[3, 2]));
    be.attention_forward(&q, &kv, &kv, &be.ids(&[0; 3])?, dims, out, &mut lse)
}
fn attention_dq<B: Backend>(be: &B, dq: &mut B::Tensor) -> Result<()> {
    let (q, kv, lse) = (zeros(be, &[3, 8]), zeros(be, &[3, 4]), zeros(be, &[3, 2]));
    let (mut dk, mut dv) = (zeros(be, &[3, 4]), zeros(be, &[3, 4]));
    let ws = be.ids(&[0; 3])?;
    be.attention_backward(&q, &kv, &kv, &ws, ATT, &q, &lse, &q, dq, &mut dk, &mut dv)
}
fn attention_cached_span<B: Backend>(be: &B, out: &mut B::Tensor) -> Result<()> {
    let dims = CachedAttentionDims {
        rows: 2,
        q_offset: 3,
        n_heads: 2,
        n_kv_heads: 1,
        head_dim: 4,
        window: 0,
        scale: 0.5,
    };
    let (q, cache) = (zeros(be, &[2, 8]), zeros(be, &[4, 4]));
    be.attention_cached(&q, &cache, &cache, dims, out)
}
fn swiglu_dup<B: Backend>(be: &B, dup: &mut B::Tensor) -> Result<()> {
    let t = zeros(be, &[3, 5]);
    be.swiglu_backward(&t, &t, &t, &mut zeros(be, &[3, 5]), dup)
}
fn cross_entropy_rows<B: Backend>(be: &B, logits: &mut B::Tensor) -> Result<()> {
    let (targets, weights) = (be.ids(&[0; 4])?, zeros(be, &[4]));
    be.cross_entropy(logits, &targets, &weights, 2, 1.0, &mut zeros(be, &[4]))
}
fn sum_out<B: Backend>(be: &B, out: &mut B::Tensor) -> Result<()> {
    be.sum(&zeros(be, &[3, 3]), out)
}
fn global_norm_out<B: Backend>(be: &B, out: &mut B::Tensor) -> Result<()> {
    let x = zeros(be, &[3, 3]);
    be.global_norm(&[&x, &x], out)
}
fn adamw_moment<B: Backend>(be: &B, param: &mut B::Tensor) -> Result<()> {
    let hp = AdamW {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        step: 1,
        max_grad_norm: 1.0,
    };
    let (grad, norm) = (zeros(be, &[6]), zeros(be, &[1]));
    be.adamw(
        param,
        &grad,
        &mut zeros(be, &[5]),
        &mut zeros(be, &[6]),
        &norm,
        hp,
    )
}
fn write_len<B: Backend>(be: &B, t: &mut B::Tensor) -> Result<()> {
    be.write(t, &[1.0; 5])
}
fn write_ids_len<B: Backend>(be: &B, _out: &mut B::Tensor) -> Result<()> {
    be.write_ids(&mut be.ids(&[1, 2, 3])?, &[4, 5])
}
fn tensor_len<B: Backend>(be: &B, _out: &mut B::Tensor) -> Result<()> {
    be.tensor(&[1.0; 5], &[2, 3]).map(drop)
}

async fn bad_calls_fail_alike() {
    let g = gpu().await;
    let g = &g;
    same_error(g, &[2, 5], true, "matmul: b ", both!(matmul_inner)).await;
    same_error(g, &[2, 4], true, "matmul: c ", both!(matmul_out)).await;
    same_error(g, &[4, 4], false, "copy_rows: ", both!(copy_rows_range)).await;
    same_error(g, &[3, 8], false, "copy_cols: ", both!(copy_cols_range)).await;
    same_error(g, &[3, 4], true, "add_assign: y ", both!(add_assign_shape)).await;
    same_error(g, &[3, 5], true, "add_bias: vector ", both!(add_bias_len)).await;
    same_error(g, &[3], true, "col_dot: row_scale ", both!(col_dot_scale)).await;
    same_error(g, &[4, 3], true, "svd_merge: u ", both!(svd_merge_u)).await;
    same_error(g, &[3, 5], true, "embedding: out ", both!(embedding_out)).await;
    same_error(g, &[3, 4], true, "rmsnorm: rstd ", both!(rmsnorm_rstd)).await;
    same_error(g, &[5], true, "rmsnorm: dw ", both!(rmsnorm_dw)).await;
    same_error(g, &[2, 6], false, "rope: head_dim ", both!(rope_odd_head)).await;
    same_error(g, &[2, 8], true, "rope: positions ", both!(rope_positions)).await;
    same_error(g, &[3, 8], true, "attention: lse ", both!(attention_lse)).await;
    same_error(
        g,
        &[3, 8],
        false,
        "attention: 2 query ",
        both!(attention_heads),
    )
    .await;
    same_error(g, &[3, 4], true, "attention: q ", both!(attention_dq)).await;
    let cached = "attention_cached: query rows end";
    same_error(g, &[2, 8], false, cached, both!(attention_cached_span)).await;
    same_error(g, &[3, 4], true, "swiglu: dup ", both!(swiglu_dup)).await;
    let rows = "cross_entropy: rows 2+3";
    same_error(g, &[3, 7], false, rows, both!(cross_entropy_rows)).await;
    same_error(g, &[2], true, "sum: out ", both!(sum_out)).await;
    same_error(
        g,
        &[1, 2],
        true,
        "global_norm: out ",
        both!(global_norm_out),
    )
    .await;
    same_error(g, &[6], true, "adamw: m ", both!(adamw_moment)).await;
    same_error(g, &[2, 3], true, "write: data ", both!(write_len)).await;
    same_error(g, &[1], true, "write_ids: data ", both!(write_ids_len)).await;
    same_error(g, &[1], true, "tensor: data ", both!(tensor_len)).await;
}
gpu_test!(bad_calls_fail_alike_on_both_backends, bad_calls_fail_alike);
