//! The loss and the backward pass, written once against the [`Backend`] trait.
//!
//! Loss: `lm_head` runs over chunks of `N` rows of the final hidden states; each chunk's logits
//! become dlogits in place (masked cross-entropy), then go back through `lm_head` at once, so
//! the `[T, V]` logits never exist whole. Backward then walks the layers in reverse: final norm,
//! and per layer MLP (down, SwiGLU, gate/up, norm) and attention (o, attention, inverse RoPE,
//! q/k/v, norm), adding into the residual gradient. Only Σ and the norm weights get gradients.
use super::grads::{BackScratch, Grads};
use crate::backend::svd_linear::{SvdLinearActs, svd_linear_backward};
use crate::backend::{AttentionDims, Backend, Matmul};
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::acts::{Activations, HeadActs, LinearActs, Saved};
use crate::model::forward::{Batch, RopeCache, lm_head};
use crate::model::layout::LinearKind;
use crate::model::trainables::NormKind;
use crate::model::weights::{GateUpProj, LayerWeights, Linear, ModelWeights, QkvProj};

/// `dx (+)= g W` through a linear layer; a decomposed one also adds `Σ_t h ⊙ (g U)` to `dsigma`.
/// g `[T, m]`, dx `[T, n]`.
pub fn linear_backward<B: Backend>(
    be: &B,
    lin: &Linear<B::Tensor>,
    g: &B::Tensor,
    acts: Option<&mut SvdLinearActs<B::Tensor>>,
    dx: &mut B::Tensor,
    accumulate: bool,
    dsigma: Option<&mut B::Tensor>,
) -> Result<()> {
    match lin {
        Linear::Dense { w, .. } => {
            let spec = if accumulate {
                Matmul::NN.accumulate()
            } else {
                Matmul::NN
            };
            be.matmul(g, w, dx, spec)
        }
        Linear::Svd(s) => {
            let missing = |what: &str| {
                Error::param("backward", format!("a decomposed layer needs its {what}"))
            };
            let acts = acts.ok_or_else(|| missing("activations"))?;
            let dsigma = dsigma.ok_or_else(|| missing("dΣ buffer"))?;
            svd_linear_backward(be, s, g, acts, dx, accumulate, dsigma)
        }
    }
}

/// Buffers of the chunked loss: `N` rows of logits at a time.
pub struct LossHead<T> {
    pub head: HeadActs<T>,
    /// Logits of a chunk `[N, V]`, overwritten with dlogits.
    pub logits: T,
    /// Gradient of the chunk's hidden rows `[N, C]`.
    pub dx: T,
    /// Per-row weighted loss `[T]`; their sum is the mean loss.
    pub losses: T,
    /// `[1]`: the sum of `losses`.
    pub total: T,
}

impl<T> LossHead<T> {
    /// For `rows` rows in chunks of `chunk` rows (`chunk` must divide `rows`).
    pub fn new<B: Backend<Tensor = T>>(
        be: &B,
        cfg: &ModelConfig,
        w: &ModelWeights<T>,
        rows: usize,
        chunk: usize,
    ) -> Result<Self> {
        if chunk == 0 || !rows.is_multiple_of(chunk) {
            return Err(Error::param(
                "loss",
                format!("a chunk of {chunk} rows does not divide {rows} rows"),
            ));
        }
        Ok(LossHead {
            head: HeadActs::new(be, cfg, w, chunk)?,
            logits: be.zeros(&[chunk, cfg.vocab_size])?,
            dx: be.zeros(&[chunk, cfg.hidden_size])?,
            losses: be.zeros(&[rows])?,
            total: be.zeros(&[1])?,
        })
    }
}

/// The largest chunk of rows that divides `rows` and keeps `[chunk, vocab]` logits under
/// `max_elements`.
pub fn loss_chunk(rows: usize, vocab: usize, max_elements: usize) -> usize {
    let cap = (max_elements / vocab.max(1)).clamp(1, rows.max(1));
    (1..=cap)
        .rev()
        .find(|c| rows.is_multiple_of(*c))
        .unwrap_or(1)
}

/// The weighted cross-entropy of the batch: `lh.total[0] = scale · Σ_t w_t · CE_t`. With
/// `grads` (training), also backpropagates through `lm_head` (dΣ of lm_head accumulated) and
/// leaves the gradient of the final hidden states in `dhidden` `[T, C]`.
/// targets `[T]` (next token per row; a value ≥ V is masked), weights `[T]`.
#[allow(clippy::too_many_arguments)]
pub fn loss_and_head_backward<B: Backend>(
    be: &B,
    w: &ModelWeights<B::Tensor>,
    acts: &Activations<B::Tensor>,
    lh: &mut LossHead<B::Tensor>,
    targets: &B::Ids,
    weights: &B::Tensor,
    scale: f32,
    mut backward: Option<(&mut Grads<B::Tensor>, &mut B::Tensor)>,
) -> Result<()> {
    let n = lh.head.rows;
    for row0 in (0..acts.rows).step_by(n) {
        lm_head(be, w, &acts.hidden, row0, &mut lh.head, &mut lh.logits)?;
        be.cross_entropy(
            &mut lh.logits,
            targets,
            weights,
            row0,
            scale,
            &mut lh.losses,
        )?;
        if let Some((grads, dhidden)) = backward.as_mut() {
            linear_backward(
                be,
                &w.lm_head,
                &lh.logits,
                lh.head.svd.as_mut(),
                &mut lh.dx,
                false,
                grads.sigma_mut(None, LinearKind::LmHead),
            )?;
            be.copy_rows(&lh.dx, 0, dhidden, row0, n)?;
        }
    }
    be.sum(&lh.losses, &mut lh.total)
}

/// Backward from the gradient of the final hidden states (in `bs.dxn`) to Σ and the norm
/// weights of every layer. Needs the training activations of the matching forward pass.
#[allow(clippy::too_many_arguments)]
pub fn backward<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    w: &ModelWeights<B::Tensor>,
    rope: &mut RopeCache<B::Tensor>,
    batch: &Batch<B::Ids>,
    acts: &mut Activations<B::Tensor>,
    bs: &mut BackScratch<B::Tensor>,
    grads: &mut Grads<B::Tensor>,
) -> Result<()> {
    if acts.layers.len() != w.layers.len() {
        return Err(Error::param(
            "backward",
            "the forward pass kept one activation set; training needs one per layer",
        ));
    }
    be.rmsnorm_backward(
        &acts.stream,
        &w.final_norm,
        &acts.final_rstd,
        &bs.dxn,
        &mut bs.dstream,
        false,
        grads.norm_mut(None, NormKind::Final),
    )?;
    let (cos, sin) = rope.tables(be, batch.position_span)?;
    let dims = cfg.attention_dims(batch.batch, batch.seq);
    for l in (0..w.layers.len()).rev() {
        layer_backward(
            be,
            cfg,
            l,
            &w.layers[l],
            (cos, sin),
            batch,
            dims,
            &mut acts.layers[l],
            &mut acts.lin[l],
            bs,
            grads,
        )?;
    }
    Ok(())
}

fn saved<'a, T>(x: &'a Option<T>, what: &str) -> Result<&'a T> {
    x.as_ref()
        .ok_or_else(|| Error::param("backward", format!("the forward pass did not keep {what}")))
}

fn fused<'a, T>(x: &'a mut Option<T>, what: &str) -> Result<&'a mut T> {
    x.as_mut().ok_or_else(|| {
        Error::param(
            "backward",
            format!("no {what} buffer for a fused projection"),
        )
    })
}

/// One layer in reverse. On entry `bs.dstream` is the gradient of the layer's output; on exit,
/// of its input.
#[allow(clippy::too_many_arguments)]
fn layer_backward<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    l: usize,
    lw: &LayerWeights<B::Tensor>,
    (cos, sin): (&B::Tensor, &B::Tensor),
    batch: &Batch<B::Ids>,
    dims: AttentionDims,
    s: &mut Saved<B::Tensor>,
    lin: &mut LinearActs<B::Tensor>,
    bs: &mut BackScratch<B::Tensor>,
    g: &mut Grads<B::Tensor>,
) -> Result<()> {
    let l = Some(l);
    let (h, hkv, d) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
    // MLP: x_out = x_mid + down(silu(gate(xn)) ⊙ up(xn)), xn = norm(x_mid).
    linear_backward(
        be,
        &lw.down,
        &bs.dstream,
        lin.down.as_mut(),
        &mut bs.dact,
        false,
        g.sigma_mut(l, LinearKind::Down),
    )?;
    be.swiglu_backward(&s.gate, &s.up, &bs.dact, &mut bs.dgate, &mut bs.dup)?;
    match &lw.gate_up {
        GateUpProj::Separate { gate, up } => {
            linear_backward(
                be,
                gate,
                &bs.dgate,
                lin.gate.as_mut(),
                &mut bs.dxn,
                false,
                g.sigma_mut(l, LinearKind::Gate),
            )?;
            linear_backward(
                be,
                up,
                &bs.dup,
                lin.up.as_mut(),
                &mut bs.dxn,
                true,
                g.sigma_mut(l, LinearKind::Up),
            )?;
        }
        GateUpProj::Fused(f) => {
            let i = cfg.intermediate_size;
            let dgu = fused(&mut bs.dgate_up, "gate_up")?;
            be.copy_cols(&bs.dgate, 0, dgu, 0, i)?;
            be.copy_cols(&bs.dup, 0, dgu, i, i)?;
            linear_backward(
                be,
                f,
                dgu,
                lin.gate.as_mut(),
                &mut bs.dxn,
                false,
                g.sigma_mut(l, LinearKind::GateUp),
            )?;
        }
    }
    be.rmsnorm_backward(
        saved(&s.x_mid, "x_mid")?,
        &lw.post_attention_norm,
        &s.rstd_mlp,
        &bs.dxn,
        &mut bs.dstream,
        true,
        g.norm_mut(l, NormKind::PostAttention),
    )?;
    // Attention: x_mid = x_in + o(attn(rope(q(xn)), rope(k(xn)), v(xn))), xn = norm(x_in).
    linear_backward(
        be,
        &lw.o,
        &bs.dstream,
        lin.o.as_mut(),
        &mut bs.dattn,
        false,
        g.sigma_mut(l, LinearKind::O),
    )?;
    be.attention_backward(
        &s.q,
        &s.k,
        &s.v,
        &batch.window_start,
        dims,
        &s.attn,
        &s.lse,
        &bs.dattn,
        &mut bs.dq,
        &mut bs.dk,
        &mut bs.dv,
    )?;
    let pos = &batch.positions;
    be.rope_qk(&mut bs.dq, &mut bs.dk, pos, cos, sin, (h, hkv), d, true)?;
    match &lw.qkv {
        QkvProj::Separate { q, k, v } => {
            linear_backward(
                be,
                q,
                &bs.dq,
                lin.q.as_mut(),
                &mut bs.dxn,
                false,
                g.sigma_mut(l, LinearKind::Q),
            )?;
            linear_backward(
                be,
                k,
                &bs.dk,
                lin.k.as_mut(),
                &mut bs.dxn,
                true,
                g.sigma_mut(l, LinearKind::K),
            )?;
            linear_backward(
                be,
                v,
                &bs.dv,
                lin.v.as_mut(),
                &mut bs.dxn,
                true,
                g.sigma_mut(l, LinearKind::V),
            )?;
        }
        QkvProj::Fused(f) => {
            let (qw, kw) = (h * d, hkv * d);
            let dqkv = fused(&mut bs.dqkv, "qkv")?;
            be.copy_cols(&bs.dq, 0, dqkv, 0, qw)?;
            be.copy_cols(&bs.dk, 0, dqkv, qw, kw)?;
            be.copy_cols(&bs.dv, 0, dqkv, qw + kw, kw)?;
            linear_backward(
                be,
                f,
                dqkv,
                lin.q.as_mut(),
                &mut bs.dxn,
                false,
                g.sigma_mut(l, LinearKind::Qkv),
            )?;
        }
    }
    be.rmsnorm_backward(
        saved(&s.x_in, "x_in")?,
        &lw.input_norm,
        &s.rstd_attn,
        &bs.dxn,
        &mut bs.dstream,
        true,
        g.norm_mut(l, NormKind::Input),
    )?;
    Ok(())
}
