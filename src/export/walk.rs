//! The model's tensors on the backend by their Hugging Face names, for the exports: linear
//! layers paired with their [`LinearSpec`], RMSNorm weights, biases, all from the one walk of
//! the [`trainables`] registry.
use crate::backend::SvdLinear;
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::layout::{self, LinearSpec};
use crate::model::trainables::{self, Part};
use crate::model::weights::{Linear, ModelWeights};
use std::collections::BTreeMap;

/// A tensor the export reads from the backend.
pub(crate) enum Held<'a, T> {
    /// Read as it is: a dense weight, a bias, an RMSNorm weight of most families.
    Tensor(&'a T),
    /// An RMSNorm weight held as `offset + w` (Gemma's `1 + w`): `offset` is subtracted.
    Norm(&'a T, f32),
    /// A decomposed weight, merged (`W + U diag(Σ − Σ₀) Vᵀ`) before it is read.
    Merge(&'a SvdLinear<T>),
}

/// Every linear layer with its spec (module name, kind, `m × n`), in execution order (the
/// [`trainables`] registry's). Fails when the weights do not have the layers `cfg` implies.
pub(crate) fn linears<'a, T>(
    cfg: &ModelConfig,
    weights: &'a ModelWeights<T>,
) -> Result<Vec<(LinearSpec, &'a Linear<T>)>> {
    let held = weights.linears();
    let specs = layout::linear_layers(cfg);
    if specs.len() != held.len() {
        return Err(Error::param(
            "export",
            format!(
                "the weights hold {} linear layers, but the config implies {}",
                held.len(),
                specs.len()
            ),
        ));
    }
    specs
        .into_iter()
        .zip(held)
        .map(|(spec, (layer, kind, lin))| {
            if spec.layer != layer || spec.kind != kind {
                return Err(Error::param(
                    "export",
                    format!(
                        "the weights do not match the config at {} (found {kind:?} of layer {layer:?})",
                        spec.module
                    ),
                ));
            }
            Ok((spec, lin))
        })
        .collect()
}

/// The RMSNorm weights by name, in registry order: per layer before attention and before the
/// MLP, then the final norm.
pub(crate) fn norms<T>(weights: &ModelWeights<T>) -> Vec<(String, &T)> {
    trainables::entries(weights)
        .into_iter()
        .filter_map(|e| match e.part {
            Part::Norm(t) => Some((e.key.name(), t)),
            Part::Linear(_) => None,
        })
        .collect()
}

/// Every tensor the export takes from the backend, by checkpoint name: norms, linear weights
/// (`lm_head.weight` too when the checkpoint ties it to the embedding) and biases. The frozen
/// token embedding is not among them.
pub(crate) fn backend_tensors<'a, T>(
    cfg: &ModelConfig,
    weights: &'a ModelWeights<T>,
) -> Result<BTreeMap<String, Held<'a, T>>> {
    let mut out = BTreeMap::new();
    let offset = cfg.family.norm_offset();
    for (name, t) in norms(weights) {
        out.insert(name, Held::Norm(t, offset));
    }
    for (spec, lin) in linears(cfg, weights)? {
        let (weight, bias) = match lin {
            Linear::Dense { w, bias } => (Held::Tensor(w), bias.as_ref()),
            Linear::Svd(s) => (Held::Merge(s), s.bias.as_ref()),
        };
        out.insert(spec.weight_name(), weight);
        if let Some(b) = bias {
            out.insert(spec.bias_name(), Held::Tensor(b));
        }
    }
    Ok(out)
}
