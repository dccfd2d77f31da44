//! Decomposing a whole model (`decompose_model`): every planned layer through
//! [`super::decompose::factors`], turned into its SVD layer in place, with progress per layer and a
//! stop between groups. Consecutive layers run side by side where the backend runs several pieces
//! of work at once (the CPU backend: one per pool thread), in groups whose working tensors fit in
//! those of the largest layer, so the peak stays the one `train::memory` estimates.
use super::decompose::{DecomposeOptions, LayerInit, factors, layer_seed};
use super::plan::{PlannedLayer, SvdPlan};
use crate::backend::svd_linear::sigma_tensors;
use crate::backend::{Backend, Format, SvdLinear, TensorInfo};
use crate::error::{Error, Result};
use crate::model::weights::{Linear, ModelWeights};
use crate::model::{LinearKind, ModelConfig, layout};
use std::ops::ControlFlow;

/// Decomposes every layer of `plan` in place (`Linear::Dense` → `Linear::Svd`, the bias moved
/// over), in plan order, which is the order of [`ModelWeights::linears_mut`]. Layer `i` uses the
/// seed [`layer_seed`]`(opts.seed, i)`. Each dense `W` moves into its SVD layer unchanged (no
/// residual is built), so memory grows only by the factors and the decomposition's scratch.
/// `progress(done, total, module)` after each layer.
/// Returns `Σ₀` of every layer, in plan order.
pub async fn decompose_model<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    weights: &mut ModelWeights<B::Tensor>,
    plan: &SvdPlan,
    opts: &DecomposeOptions,
    progress: impl FnMut(usize, usize, &str),
) -> Result<Vec<LayerInit>> {
    decompose_model_until(be, cfg, weights, plan, opts, never_stop(progress)).await
}

/// `progress` as a callback of [`decompose_model_until`] that never stops.
pub fn never_stop(
    mut progress: impl FnMut(usize, usize, &str),
) -> impl FnMut(usize, usize, &str) -> ControlFlow<()> {
    move |done, total, module| {
        progress(done, total, module);
        ControlFlow::Continue(())
    }
}

/// [`decompose_model`] that stops after the layer whose `progress` returns `Break`: the layers
/// before stay decomposed and the rest dense, and the result holds `Σ₀` of the decomposed ones
/// (fewer than the plan's layers when stopped).
pub async fn decompose_model_until<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    weights: &mut ModelWeights<B::Tensor>,
    plan: &SvdPlan,
    opts: &DecomposeOptions,
    mut progress: impl FnMut(usize, usize, &str) -> ControlFlow<()>,
) -> Result<Vec<LayerInit>> {
    let specs = layout::linear_layers(cfg);
    let mut linears = weights.linears_mut();
    let total = plan.layers.len();
    if linears.len() != total || specs.len() != total {
        return Err(Error::param(
            "decompose",
            format!(
                "the plan has {total} layers, the model {} and its config {}",
                linears.len(),
                specs.len()
            ),
        ));
    }
    for (i, ((layer, kind, lin), p)) in linears.iter().zip(&plan.layers).enumerate() {
        check_layer((*layer, *kind), lin, p, &specs[i].module)?;
    }
    // Layers run side by side in groups (consecutive, at most `LAYERS_PER_THREAD` per work the
    // backend runs at once) whose working tensors and f32 factors together fit in those of the
    // largest layer: the peak stays the one `train::memory` estimates.
    let scratch: Vec<u64> = linears
        .iter()
        .zip(&plan.layers)
        .map(|((_, _, lin), p)| {
            let packed = matches!(lin, Linear::Dense { w, .. } if w.format().is_packed());
            layer_scratch_bytes(p.m, p.n, p.q, packed) + factor_bytes(p.m, p.n, p.q)
        })
        .collect();
    let most = match be.concurrent_works() {
        // One piece at a time (the GPU's queue): nothing to gain from a group.
        0 | 1 => 1,
        n => n * LAYERS_PER_THREAD,
    };
    let mut out = Vec::with_capacity(total);
    let mut first = 0;
    while first < total {
        let end = group_end(&scratch, first, most);
        let group = first..end;
        // A packed W is read through an f32 copy of its layer, dropped after its group.
        let mut copies = Vec::with_capacity(group.len());
        for i in group.clone() {
            let w = dense(linears[i].2)?;
            copies.push(
                crate::backend::unpacked(be, w)
                    .map_err(|e| in_module(&plan.layers[i].module, e))?,
            );
        }
        let layer_opts = |i: usize| DecomposeOptions {
            seed: layer_seed(opts.seed, i),
            ..*opts
        };
        let mut works = Vec::with_capacity(group.len());
        for (i, copy) in group.clone().zip(&copies) {
            let w = copy.as_ref().map_or_else(|| dense(linears[i].2), Ok)?;
            let o = layer_opts(i);
            // The factors are put in their format on the layer's own thread too.
            works.push(async move {
                let f = factors(be, w, plan.layers[i].q, &o).await?;
                let u = in_format(be, f.u, o.factor_format).await?;
                let v = in_format(be, f.v, o.factor_format).await?;
                Ok::<_, Error>((u, v, f.sigma0))
            });
        }
        // Safety: each layer's decomposition holds the backend, its tensors and host data.
        let results = unsafe { be.on_own_threads_each(works) }.await;
        drop(copies);
        for (i, f) in group.zip(results) {
            let p = &plan.layers[i];
            let (u, v, sigma0) = f.map_err(|e| in_module(&p.module, e))?;
            let (sigma, neg_sigma0) = sigma_tensors(be, &sigma0)?;
            let Linear::Dense { w, bias } = &mut *linears[i].2 else {
                return Err(Error::param(
                    "decompose",
                    format!("{} is already decomposed", p.module),
                ));
            };
            // W moves into the SVD layer unchanged; a one-element stand-in holds its place
            // until the dense layer is replaced below. Nothing can fail in between: on error
            // the model keeps its dense layer.
            let w = std::mem::replace(w, be.zeros(&[1])?);
            *linears[i].2 = Linear::Svd(SvdLinear {
                w,
                u,
                v,
                sigma,
                neg_sigma0,
                bias: bias.take(),
            });
            out.push(LayerInit {
                module: p.module.clone(),
                q: p.q,
                sigma0,
            });
            if progress(i + 1, total, &p.module).is_break() {
                return Ok(out);
            }
        }
        first = end;
        // The page's worker sees a Stop between groups.
        crate::task::yield_now().await;
    }
    Ok(out)
}

/// Layers per pool thread in a group: a thread that finishes a layer takes the group's next one,
/// so threads wait for each other only at the group's end; the group is also how often progress
/// is reported and a Stop is seen. 4 gave most of what 16 did (figures: bench/README.md, "The
/// last panel, half floats and larger groups").
const LAYERS_PER_THREAD: usize = 4;

/// The end of the group of layers that starts at `first`: at most `most` consecutive
/// layers whose `scratch` bytes together stay within the largest layer's.
fn group_end(scratch: &[u64], first: usize, most: usize) -> usize {
    let budget = scratch.iter().copied().max().unwrap_or(0);
    let mut end = first + 1;
    let mut held = scratch[first];
    while end < scratch.len() && end - first < most && held + scratch[end] <= budget {
        held += scratch[end];
        end += 1;
    }
    end
}

/// The weight of a dense layer (checked dense by [`check_layer`]).
fn dense<T>(lin: &Linear<T>) -> Result<&T> {
    match lin {
        Linear::Dense { w, .. } => Ok(w),
        Linear::Svd(_) => Err(Error::param("decompose", "the layer is already decomposed")),
    }
}

/// Bytes the decomposition of one `[m, n]` layer at rank `q` holds beyond the model while it
/// runs (`svd::decompose`): a packed W's f32 copy; Ω, Y, its orthonormal basis and the previous
/// one (or a readback of Y) of `[big, k]`; Bᵀ and its basis of `[c, k]`.
pub fn layer_scratch_bytes(m: usize, n: usize, q: usize, packed_w: bool) -> u64 {
    let (m, n) = (m as u64, n as u64);
    let k = (q as u64 + DecomposeOptions::default().oversampling as u64).min(m.min(n));
    let copy = if packed_w { 4 * m * n } else { 0 };
    copy + 4 * 4 * m.max(n) * k + 3 * 4 * m.min(n) * k
}

/// The f32 factors `U` `[m, q]` and `V` `[n, q]` one layer's decomposition returns.
fn factor_bytes(m: usize, n: usize, q: usize) -> u64 {
    4 * (m + n) as u64 * q as u64
}

/// The plan's layer `i` against the model's: same position, kind, shape, module, bias, and
/// still dense.
fn check_layer<T: TensorInfo>(
    (layer, kind): (Option<usize>, LinearKind),
    lin: &Linear<T>,
    p: &PlannedLayer,
    module: &str,
) -> Result<()> {
    let dims = lin.dims()?;
    if (layer, kind) != (p.layer, p.kind) || dims != (p.m, p.n) || module != p.module {
        return Err(Error::param(
            "decompose",
            format!(
                "{}: the plan expects a [{}, {}] {:?} layer, the model has a [{}, {}] {:?} \
                 layer there",
                p.module, p.m, p.n, p.kind, dims.0, dims.1, kind
            ),
        ));
    }
    let Linear::Dense { bias, .. } = lin else {
        return Err(Error::param(
            "decompose",
            format!("{} is already decomposed", p.module),
        ));
    };
    if bias.is_some() != p.bias {
        let has = |b: bool| if b { "with" } else { "without" };
        return Err(Error::param(
            "decompose",
            format!(
                "{}: the plan expects a layer {} bias, the model has one {} bias",
                p.module,
                has(p.bias),
                has(bias.is_some())
            ),
        ));
    }
    Ok(())
}

/// `t` (f32) held in `format`: itself, or a packed copy made through the host.
async fn in_format<B: Backend>(be: &B, t: B::Tensor, format: Format) -> Result<B::Tensor> {
    if !format.is_packed() {
        return Ok(t);
    }
    be.flush()?;
    let values = be.read(&t).await?;
    let shape = t.shape().dims().to_vec();
    drop(t);
    be.frozen_tensor(format, &format.encode(&values)?, &shape)
}

/// Names the layer in an error (device errors and size limits speak for themselves).
fn in_module(module: &str, e: Error) -> Error {
    match e {
        Error::Device(_) | Error::TooLarge { .. } | Error::NoAdapter(_) => e,
        other => Error::param("decompose", format!("{module}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::group_end;

    /// Groups never hold more than `most` layers nor more bytes than the largest layer.
    #[test]
    fn groups_fit_in_the_largest_layer() {
        let scratch = [10, 2, 2, 2, 9, 1, 1];
        let mut groups = Vec::new();
        let mut first = 0;
        while first < scratch.len() {
            let end = group_end(&scratch, first, 2);
            groups.push(first..end);
            first = end;
        }
        assert_eq!(groups, [0..1, 1..3, 3..4, 4..6, 6..7]);
        assert_eq!(group_end(&scratch, 1, 3), 4);
        assert_eq!(group_end(&scratch, 1, 1), 2);
    }
}
