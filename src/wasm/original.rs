//! The trained values of a decomposed model (every Σ and the RMSNorm weights, trained or not),
//! read and swapped as a whole: the page generates with the original model by swapping Σ₀ and
//! the original norms in, then swaps the current values back. The SVD layers are in delta form
//! (`x Wᵀ + ((x V) ⊙ (Σ − Σ₀)) Uᵀ`, see [`crate::backend::svd_linear`]), so with Σ₀ swapped in
//! their factored term is exactly zero and the model is the loaded one bit for bit: nothing but
//! Σ and the norms needs to change. Which tensors, in which order, is the [`trainables`]
//! registry's.
use crate::backend::Backend;
use crate::error::Result;
use crate::model::trainables::{self, Key};
use crate::model::weights::ModelWeights;

/// Every trainable vector of a model with its key, in registry order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trained {
    pub values: Vec<(Key, Vec<f32>)>,
}

/// Reads the current values back from the backend.
pub async fn read<B: Backend>(be: &B, w: &mut ModelWeights<B::Tensor>) -> Result<Trained> {
    be.flush()?;
    let mut out = Trained::default();
    for (key, t) in trainables::trained(w, true) {
        out.values.push((key, be.read(t).await?));
    }
    Ok(out)
}

/// Writes `values` into the model. Every value must belong to the tensor at its place (same
/// key); shapes are checked by the backend's `write`.
pub fn write<B: Backend>(be: &B, w: &mut ModelWeights<B::Tensor>, values: &Trained) -> Result<()> {
    let targets = trainables::trained_mut(w, true);
    let keys: Vec<Key> = targets.iter().map(|(k, _)| *k).collect();
    trainables::check_same("swap", &keys, values.values.iter().map(|(k, _)| *k))?;
    for ((_, t), (_, v)) in targets.into_iter().zip(&values.values) {
        be.write(t, v)?;
    }
    Ok(())
}
