//! The trained values of a decomposed model (every Σ and, when trained, the RMSNorm weights),
//! read and swapped as a whole: the page generates with the original model by swapping Σ₀ and
//! the original norms in, then swaps the current values back.
use crate::backend::Backend;
use crate::error::Result;
use crate::model::weights::{Linear, ModelWeights};

/// Every trainable vector of a model, in a fixed order: the Σ of each decomposed layer (in
/// [`ModelWeights::linears_mut`] order), then per decoder layer its two norm weights, then the
/// final norm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trained {
    pub sigmas: Vec<Vec<f32>>,
    pub norms: Vec<Vec<f32>>,
}

fn norms_mut<T>(w: &mut ModelWeights<T>) -> Vec<&mut T> {
    let mut out = Vec::with_capacity(2 * w.layers.len() + 1);
    for layer in &mut w.layers {
        out.push(&mut layer.input_norm);
        out.push(&mut layer.post_attention_norm);
    }
    out.push(&mut w.final_norm);
    out
}

fn sigmas_mut<T>(w: &mut ModelWeights<T>) -> Vec<&mut T> {
    w.linears_mut()
        .into_iter()
        .filter_map(|(_, _, lin)| match lin {
            Linear::Svd(s) => Some(&mut s.sigma),
            Linear::Dense { .. } => None,
        })
        .collect()
}

/// Reads the current values back from the backend.
pub async fn read<B: Backend>(be: &B, w: &mut ModelWeights<B::Tensor>) -> Result<Trained> {
    be.flush()?;
    let mut out = Trained::default();
    for s in sigmas_mut(w) {
        out.sigmas.push(be.read(s).await?);
    }
    for n in norms_mut(w) {
        out.norms.push(be.read(n).await?);
    }
    Ok(out)
}

/// Writes `values` into the model (shapes are checked by the backend's `write`).
pub fn write<B: Backend>(be: &B, w: &mut ModelWeights<B::Tensor>, values: &Trained) -> Result<()> {
    let sigmas = sigmas_mut(w);
    if sigmas.len() != values.sigmas.len() {
        return Err(crate::Error::param(
            "swap",
            format!(
                "the model has {} decomposed layers, the saved values {}",
                sigmas.len(),
                values.sigmas.len()
            ),
        ));
    }
    for (t, v) in sigmas.into_iter().zip(&values.sigmas) {
        be.write(t, v)?;
    }
    for (t, v) in norms_mut(w).into_iter().zip(&values.norms) {
        be.write(t, v)?;
    }
    Ok(())
}
