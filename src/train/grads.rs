//! Gradient buffers of the trainable vectors (Σ of every decomposed layer, RMSNorm weights) and
//! the scratch buffers of the backward pass. Nothing here is ever allocated for `W`, `U`, `V`, `Σ₀`,
//! biases or embeddings: they get no gradient. There is one gradient per trained entry of the
//! [`trainables`] registry, in its order; backward finds each by its [`Key`].
use crate::backend::{Backend, DSIGMA_BLOCK_ROWS, TensorInfo};
use crate::error::Result;
use crate::model::ModelConfig;
use crate::model::layout::LinearKind;
use crate::model::trainables::{self, Key, NormKind};
use crate::model::weights::ModelWeights;
use std::collections::HashMap;

/// Every gradient of one training step: one per trained tensor of the model, shaped like it, in
/// the order of [`trainables::trained`].
pub struct Grads<T> {
    tensors: Vec<T>,
    /// All of `tensors` in one buffer, when the backend grouped them ([`Grads::group`]).
    flat: Option<T>,
    /// Per tensor, the row-block partial sums of its gradient `[numel rounded up to 64, R]`
    /// ([`Backend::matmul_col_dot`]: the decoder layers' dΣ), added to the gradients at the end
    /// of each backward pass ([`Grads::add_partials`]). Norm weights get zeros, so that grouped
    /// partials line up with the grouped gradients: element `i` of `flat` has its blocks at row
    /// `i` of `flat_partials`.
    partials: Vec<T>,
    flat_partials: Option<T>,
    keys: Vec<Key>,
    index: HashMap<Key, usize>,
}

/// Gradient elements are grouped in units of this many (256 bytes, the largest storage offset
/// alignment WebGPU allows): each tensor's partials then take the same units times R.
const GROUP_UNIT: usize = 64;

impl<T: TensorInfo> Grads<T> {
    /// Zeroed gradients for every decomposed layer (dΣ `[q]`), and for the norms (`[C]`) when
    /// `train_norms`, for backward passes of up to `rows` token rows.
    pub fn new<B: Backend<Tensor = T>>(
        be: &B,
        w: &ModelWeights<T>,
        train_norms: bool,
        rows: usize,
    ) -> Result<Self> {
        let trained = trainables::trained(w, train_norms);
        let blocks = rows.div_ceil(DSIGMA_BLOCK_ROWS).max(1);
        let mut tensors = Vec::with_capacity(trained.len());
        let mut partials = Vec::with_capacity(trained.len());
        let mut keys = Vec::with_capacity(trained.len());
        for (key, t) in trained {
            tensors.push(be.zeros(t.shape().dims())?);
            let units = t.shape().numel().next_multiple_of(GROUP_UNIT);
            partials.push(be.zeros(&[units, blocks])?);
            keys.push(key);
        }
        let index = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        Ok(Grads {
            tensors,
            flat: None,
            partials,
            flat_partials: None,
            keys,
            index,
        })
    }
}

impl<T: TensorInfo> Grads<T> {
    /// Every gradient tensor, in registry order (the order of [`Grads::keys`]).
    pub fn all(&self) -> Vec<&T> {
        self.tensors.iter().collect()
    }

    /// Whose gradient each tensor of [`Grads::all`] is.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The gradient of the tensor at `key` (`None` when it does not train).
    pub fn get(&self, key: Key) -> Option<&T> {
        self.index.get(&key).map(|&i| &self.tensors[i])
    }

    /// [`Grads::get`], mutable.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.index.get(&key).map(|&i| &mut self.tensors[i])
    }

    /// dΣ `[q]` of the linear `kind` of decoder `layer` (`None`: `lm_head`), when decomposed.
    pub fn sigma_mut(&mut self, layer: Option<usize>, kind: LinearKind) -> Option<&mut T> {
        self.get_mut(Key::Linear { layer, kind })
    }

    /// The partial sums `[q_p, R]` of the same dΣ (see [`Grads::add_partials`]).
    pub fn sigma_blocks_mut(&mut self, layer: Option<usize>, kind: LinearKind) -> Option<&mut T> {
        let i = *self.index.get(&Key::Linear { layer, kind })?;
        Some(&mut self.partials[i])
    }

    /// The gradient `[C]` of a norm weight, when norms train.
    pub fn norm_mut(&mut self, layer: Option<usize>, kind: NormKind) -> Option<&mut T> {
        self.get_mut(Key::Norm { layer, kind })
    }

    /// Checks that `keys` (the trained tensors a caller pairs with these gradients) are the
    /// ones the gradients were made for, in the same order.
    pub fn check_keys(&self, keys: impl ExactSizeIterator<Item = Key>) -> Result<()> {
        trainables::check_same("gradients", &self.keys, keys)
    }

    /// Places the gradients in one buffer, and their partial sums in another, where the
    /// backend does that ([`Backend::group`]).
    pub fn group<B: Backend<Tensor = T>>(&mut self, be: &B) -> Result<()> {
        self.flat = be.group(&mut self.tensors.iter_mut().collect::<Vec<_>>())?;
        let mut partials = be.group(&mut self.partials.iter_mut().collect::<Vec<_>>())?;
        // Row i of the grouped partials holds the blocks of element i of the grouped gradients
        // when both groups laid their tensors out in the same units.
        if let (Some(flat), Some(p), Some(first)) =
            (&self.flat, &mut partials, self.partials.first())
        {
            let (n, blocks) = (flat.shape().numel(), first.shape().dims()[1]);
            if n.is_multiple_of(GROUP_UNIT) && p.shape().numel() == n * blocks {
                p.set_shape(crate::backend::Shape::new(&[n, blocks]));
                self.flat_partials = partials;
            }
        }
        Ok(())
    }

    /// Zeroes the partial sums (start of a backward pass).
    pub fn clear_partials<B: Backend<Tensor = T>>(&mut self, be: &B) -> Result<()> {
        if let Some(p) = &mut self.flat_partials {
            return be.fill(p, 0.0);
        }
        self.partials.iter_mut().try_for_each(|p| be.fill(p, 0.0))
    }

    /// Adds the partial sums to the gradients (end of a backward pass): one dispatch when grouped.
    pub fn add_partials<B: Backend<Tensor = T>>(&mut self, be: &B) -> Result<()> {
        if let (Some(flat), Some(p)) = (&mut self.flat, &self.flat_partials) {
            return be.sum_blocks(p, flat, true);
        }
        for ((g, p), key) in self.tensors.iter_mut().zip(&self.partials).zip(&self.keys) {
            if matches!(key, Key::Linear { .. }) {
                be.sum_blocks(p, g, true)?;
            }
        }
        Ok(())
    }

    /// Every gradient in one tensor, when grouped (zeros between them).
    pub fn flat(&self) -> Option<&T> {
        self.flat.as_ref()
    }

    /// Sets every gradient to zero (start of an optimizer step).
    pub fn zero<B: Backend<Tensor = T>>(&mut self, be: &B) -> Result<()> {
        if let Some(flat) = &mut self.flat {
            return be.fill(flat, 0.0);
        }
        for g in &mut self.tensors {
            be.fill(g, 0.0)?;
        }
        Ok(())
    }
}

/// Scratch buffers of the backward pass for `T` rows, reused by every layer.
pub struct BackScratch<T> {
    /// Gradient of the residual stream `[T, C]`.
    pub dstream: T,
    /// Gradient of a block's normed input `[T, C]` (also the gradient of the final hidden states).
    pub dxn: T,
    /// `[T, H·D]`.
    pub dattn: T,
    pub dq: T,
    /// Gradients of the projected queries and keys before their per-head norms
    /// `[T, H·D]`, `[T, Hkv·D]` (q/k norms).
    pub dq_raw: Option<T>,
    pub dk_raw: Option<T>,
    /// `[T, Hkv·D]`.
    pub dk: T,
    pub dv: T,
    /// Gradient of o_proj's / down_proj's output through Gemma's output norms `[T, C]`.
    pub dproj: Option<T>,
    /// `[T, I]`.
    pub dact: T,
    pub dgate: T,
    pub dup: T,
    /// Fused `[T, (H + 2·Hkv)·D]` (Phi-3).
    pub dqkv: Option<T>,
    /// Fused `[T, 2·I]` (Phi-3).
    pub dgate_up: Option<T>,
}

impl<T> BackScratch<T> {
    pub fn new<B: Backend<Tensor = T>>(
        be: &B,
        cfg: &ModelConfig,
        w: &ModelWeights<T>,
        rows: usize,
    ) -> Result<Self> {
        let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
        let (qw, kw) = (cfg.q_width(), cfg.kv_width());
        let fused_qkv = w.fused_qkv();
        let fused_gu = w.fused_gate_up();
        let qk_norm = cfg.family.has_qk_norm();
        Ok(BackScratch {
            dstream: be.zeros(&[rows, c])?,
            dxn: be.zeros(&[rows, c])?,
            dattn: be.zeros(&[rows, qw])?,
            dq: be.zeros(&[rows, qw])?,
            dq_raw: qk_norm.then(|| be.zeros(&[rows, qw])).transpose()?,
            dk_raw: qk_norm.then(|| be.zeros(&[rows, kw])).transpose()?,
            dk: be.zeros(&[rows, kw])?,
            dv: be.zeros(&[rows, kw])?,
            dproj: cfg
                .family
                .has_sandwich_norms()
                .then(|| be.zeros(&[rows, c]))
                .transpose()?,
            dact: be.zeros(&[rows, i])?,
            dgate: be.zeros(&[rows, i])?,
            dup: be.zeros(&[rows, i])?,
            dqkv: fused_qkv
                .then(|| be.zeros(&[rows, qw + 2 * kw]))
                .transpose()?,
            dgate_up: fused_gu.then(|| be.zeros(&[rows, 2 * i])).transpose()?,
        })
    }
}
