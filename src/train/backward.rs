//! The loss and the backward pass, written once against the [`Backend`] trait.
//!
//! Loss: `lm_head` runs over chunks of `N` rows of the final hidden states; each chunk's logits
//! become dlogits in place (masked cross-entropy), then go back through `lm_head` at once, so
//! the `[T, V]` logits never exist whole. Backward then walks the layers in reverse: final norm,
//! and per layer MLP (down, SwiGLU, gate/up, norm) and attention (o, attention, inverse RoPE,
//! q/k norms where present, q/k/v, norm), adding into the residual gradient. Only Σ and the norm
//! weights get gradients. A q/k norm's backward is the RMSNorm backward on the `[T·H, D]` view
//! (see `model::forward::head_norm_forward`): its weight gradient `Σ_{t,h} dy ⊙ x̂` sums over
//! rows and heads alike, which is what the column reduction over `T·H` rows computes.
//! When the forward pass kept only each layer's input ([`Keep::Inputs`]), each layer's forward
//! runs again from that input, into one shared set of activations, just before its backward: the
//! same ops on the same values, so the gradients are the stored-activation path's bit for bit.
use super::grads::{BackScratch, Grads};
use crate::backend::svd_linear::{DSigma, SvdLinearActs, svd_linear_backward};
use crate::backend::{AttentionDims, Backend, Matmul};
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::acts::{Activations, HeadActs, Keep, LinearActs, Saved};
use crate::model::config::Activation;
use crate::model::forward::{AttentionMode, Batch, RopeCache, layer_forward, lm_head, with_heads};
use crate::model::layout::LinearKind;
use crate::model::trainables::NormKind;
use crate::model::weights::{GateUpProj, LayerWeights, Linear, ModelWeights, QkvProj};

/// `dx (+)= g W` through a linear layer; a decomposed one also adds `Σ_t h ⊙ (g U)` to `dsigma`
/// (dΣ, or its row-block partial sums: [`DSigma`]). g `[T, m]`, dx `[T, n]`.
pub fn linear_backward<B: Backend>(
    be: &B,
    lin: &Linear<B::Tensor>,
    g: &B::Tensor,
    acts: Option<&mut SvdLinearActs<B::Tensor>>,
    dx: &mut B::Tensor,
    accumulate: bool,
    dsigma: Option<DSigma<'_, B::Tensor>>,
) -> Result<()> {
    match lin {
        Linear::Dense { w, .. } => {
            let spec = Matmul::NN.accumulate_if(accumulate);
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
                grads.sigma_mut(None, LinearKind::LmHead).map(DSigma::Sum),
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
    let kept = match acts.keep {
        Keep::Every => acts.layers.len() == w.layers.len(),
        Keep::Inputs => acts.inputs.len() == w.layers.len() && acts.replay.is_some(),
        Keep::Nothing => false,
    };
    if !kept {
        return Err(Error::param(
            "backward",
            "the forward pass kept one activation set; training needs one per layer \
             (or every layer's input, to recompute them)",
        ));
    }
    grads.clear_partials(be)?;
    be.rmsnorm_backward(
        &acts.stream,
        &w.final_norm,
        &acts.final_rstd,
        &bs.dxn,
        &mut bs.dstream,
        false,
        grads.norm_mut(None, NormKind::Final),
    )?;
    let tables = rope.all_tables(be, batch.position_span)?;
    let dims = cfg.attention_dims(batch.batch, batch.seq);
    for l in (0..w.layers.len()).rev() {
        let li = acts.lin_index(l);
        let saved = if let (Some(x), Some(input)) = (acts.replay.as_mut(), acts.inputs.get(l)) {
            // Recompute the layer from its input into the shared activations.
            be.copy_rows(input, 0, x, 0, acts.rows)?;
            let mode = AttentionMode::Batch {
                window_start: match &batch.window_start_local {
                    Some(local) if cfg.is_local_layer(l) => local,
                    _ => &batch.window_start,
                },
                batch: batch.batch,
                seq: batch.seq,
            };
            let s = &mut acts.layers[0];
            layer_forward(
                be,
                cfg,
                l,
                &w.layers[l],
                tables.layer(cfg, l),
                &batch.positions,
                mode,
                x,
                s,
                &mut acts.lin[li],
                &mut acts.scratch,
            )?;
            s
        } else {
            &mut acts.layers[l]
        };
        layer_backward(
            be,
            cfg,
            l,
            &w.layers[l],
            tables.layer(cfg, l),
            batch,
            dims,
            saved,
            &mut acts.lin[li],
            bs,
            grads,
        )?;
    }
    // Every decoder layer's dΣ blocks into the gradients (one dispatch when they are grouped).
    grads.add_partials(be)
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
    let window_start = match &batch.window_start_local {
        Some(w) if cfg.is_local_layer(l) => w,
        _ => &batch.window_start,
    };
    let l = Some(l);
    let (h, hkv, d) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
    let missing = || Error::param("backward", "output norms need their saved inputs");
    // MLP: x_out = x_mid + [N_out](down(act(gate(xn)) ⊙ up(xn))), xn = norm(x_mid).
    let g_down = match &lw.sandwich {
        None => &bs.dstream,
        Some(sw) => {
            let (Some(p), Some(r), Some(dp)) = (&s.mlp_proj, &s.rstd_mlp_out, &mut bs.dproj) else {
                return Err(missing());
            };
            let dw = g.norm_mut(l, NormKind::PostFeedforward);
            be.rmsnorm_backward(p, &sw.mlp_out, r, &bs.dstream, dp, false, dw)?;
            &*dp
        }
    };
    linear_backward(
        be,
        &lw.down,
        g_down,
        lin.down.as_mut(),
        &mut bs.dact,
        false,
        g.sigma_blocks_mut(l, LinearKind::Down).map(DSigma::Blocks),
    )?;
    match cfg.activation {
        Activation::Silu => {
            be.swiglu_backward(&s.gate, &s.up, &bs.dact, &mut bs.dgate, &mut bs.dup)?
        }
        Activation::GeluTanh => {
            be.geglu_backward(&s.gate, &s.up, &bs.dact, &mut bs.dgate, &mut bs.dup)?
        }
    }
    match &lw.gate_up {
        GateUpProj::Separate { gate, up } => {
            linear_backward(
                be,
                gate,
                &bs.dgate,
                lin.gate.as_mut(),
                &mut bs.dxn,
                false,
                g.sigma_blocks_mut(l, LinearKind::Gate).map(DSigma::Blocks),
            )?;
            linear_backward(
                be,
                up,
                &bs.dup,
                lin.up.as_mut(),
                &mut bs.dxn,
                true,
                g.sigma_blocks_mut(l, LinearKind::Up).map(DSigma::Blocks),
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
                g.sigma_blocks_mut(l, LinearKind::GateUp)
                    .map(DSigma::Blocks),
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
        g.norm_mut(
            l,
            if lw.sandwich.is_some() {
                NormKind::PreFeedforward
            } else {
                NormKind::PostAttention
            },
        ),
    )?;
    // Attention: x_mid = x_in + [N_out](o(attn(rope(q(xn)), rope(k(xn)), v(xn)))),
    // xn = norm(x_in).
    let g_o = match &lw.sandwich {
        None => &bs.dstream,
        Some(sw) => {
            let (Some(p), Some(r), Some(dp)) = (&s.attn_proj, &s.rstd_attn_out, &mut bs.dproj)
            else {
                return Err(missing());
            };
            let dw = g.norm_mut(l, NormKind::PostAttention);
            be.rmsnorm_backward(p, &sw.attn_out, r, &bs.dstream, dp, false, dw)?;
            &*dp
        }
    };
    linear_backward(
        be,
        &lw.o,
        g_o,
        lin.o.as_mut(),
        &mut bs.dattn,
        false,
        g.sigma_blocks_mut(l, LinearKind::O).map(DSigma::Blocks),
    )?;
    be.attention_backward(
        &s.q,
        &s.k,
        &s.v,
        window_start,
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
    // Per-head q/k norms: dq, dk are gradients of the normed heads; dq_raw, dk_raw of the
    // projections.
    let (dq, dk) = if lw.q_norm.is_some() || lw.k_norm.is_some() {
        let (Some(qn), Some(kn), Some(qr), Some(kr), Some(rq), Some(rk), Some(dqr), Some(dkr)) = (
            &lw.q_norm,
            &lw.k_norm,
            &mut s.q_raw,
            &mut s.k_raw,
            &s.rstd_q,
            &s.rstd_k,
            &mut bs.dq_raw,
            &mut bs.dk_raw,
        ) else {
            return Err(Error::param(
                "backward",
                "q/k norms need their saved inputs and gradient buffers",
            ));
        };
        let dqn = g.norm_mut(l, NormKind::Query);
        head_norm_backward(be, qr, qn, rq, h, &mut bs.dq, dqr, dqn)?;
        let dkn = g.norm_mut(l, NormKind::Key);
        head_norm_backward(be, kr, kn, rk, hkv, &mut bs.dk, dkr, dkn)?;
        (&*dqr, &*dkr)
    } else {
        (&bs.dq, &bs.dk)
    };
    match &lw.qkv {
        QkvProj::Separate { q, k, v } => {
            linear_backward(
                be,
                q,
                dq,
                lin.q.as_mut(),
                &mut bs.dxn,
                false,
                g.sigma_blocks_mut(l, LinearKind::Q).map(DSigma::Blocks),
            )?;
            linear_backward(
                be,
                k,
                dk,
                lin.k.as_mut(),
                &mut bs.dxn,
                true,
                g.sigma_blocks_mut(l, LinearKind::K).map(DSigma::Blocks),
            )?;
            linear_backward(
                be,
                v,
                &bs.dv,
                lin.v.as_mut(),
                &mut bs.dxn,
                true,
                g.sigma_blocks_mut(l, LinearKind::V).map(DSigma::Blocks),
            )?;
        }
        QkvProj::Fused(f) => {
            let (qw, kw) = (h * d, hkv * d);
            let dqkv = fused(&mut bs.dqkv, "qkv")?;
            be.copy_cols(dq, 0, dqkv, 0, qw)?;
            be.copy_cols(dk, 0, dqkv, qw, kw)?;
            be.copy_cols(&bs.dv, 0, dqkv, qw + kw, kw)?;
            linear_backward(
                be,
                f,
                dqkv,
                lin.q.as_mut(),
                &mut bs.dxn,
                false,
                g.sigma_blocks_mut(l, LinearKind::Qkv).map(DSigma::Blocks),
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

/// Backward of [`crate::model::forward::head_norm_forward`]: `dx = ` RMSNorm backward of each
/// head, `dw += Σ_{t,h} dy ⊙ x̂`. x, dy, dx `[T, H·D]`, w `[D]`, rstd `[T·H]`, dw `[D]`.
#[allow(clippy::too_many_arguments)]
pub fn head_norm_backward<B: Backend>(
    be: &B,
    x: &mut B::Tensor,
    w: &B::Tensor,
    rstd: &B::Tensor,
    heads: usize,
    dy: &mut B::Tensor,
    dx: &mut B::Tensor,
    dw: Option<&mut B::Tensor>,
) -> Result<()> {
    with_heads(be, &mut [x, dy, dx], heads, |be, t| {
        let [x, dy, dx] = t else {
            return Err(Error::param("head norm", "three tensors"));
        };
        be.rmsnorm_backward(x, w, rstd, dy, dx, false, dw)
    })
}
