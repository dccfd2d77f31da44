//! The one walk over a model's weights: every linear layer and every RMSNorm weight, each with
//! its [`Key`] (which layer, what it is, hence its Hugging Face name), in one fixed order. The
//! trainable tensors (Σ of each decomposed linear, and the norm weights when trained) are the
//! entries of this walk that train; everything that needs them in a fixed order — gradients
//! (`train::grads`), the optimizer's moments and update and the gradient norm (`train::optim`),
//! checkpoints (`train::checkpoint`, keyed by [`Key::trained_name`]), the page's
//! original-weights swap (`wasm::original`), the exports (`export::walk`) and the decomposition
//! (via [`ModelWeights::linears_mut`]) — derives it from here.
//!
//! The order, per decoder layer: q, k, v (or fused qkv), o, gate, up (or fused gate_up), down,
//! the input norm, the post-attention norm (Gemma: the attention-output norm, then the pre- and
//! post-feedforward norms), then `q_norm` and `k_norm` where present;
//! then the final norm and `lm_head`. Without q/k norms it is the order in which checkpoints of
//! format 1 stored their positional `param.NNNNN` tensors.
//!
//! Adding a new kind of trained tensor (as Qwen3's per-layer `q_norm`/`k_norm` were) is one change
//! here: a [`NormKind`] variant with its name in [`Key::name`], and one line in the `walk!`
//! macro below that visits the new field of [`LayerWeights`]. Gradients, moments, the gradient
//! norm, checkpoints, the page's swap and the exports follow; none of them enumerates the
//! trained tensors. What a new tensor needs besides is not an enumeration of trained tensors:
//! the field itself, its place in the checkpoint layout (`layout::expected_tensors`) and the
//! loader, the forward and backward ops that use it (backward fetches its gradient with
//! `Grads::norm_mut`), and its size in the plan's parameter count (`svd::plan`), which is
//! reckoned from `config.json` before any weight exists.
use super::layout::{self, FINAL_NORM, LinearKind};
use super::weights::{GateUpProj, LayerWeights, Linear, ModelWeights, QkvProj};
use crate::error::{Error, Result};

/// Which RMSNorm weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NormKind {
    /// Before attention (`input_layernorm`).
    Input,
    /// Before the MLP (`post_attention_layernorm`); Gemma: of the attention output.
    PostAttention,
    /// Before the MLP where the post-attention norm norms the attention output
    /// (`pre_feedforward_layernorm`; Gemma).
    PreFeedforward,
    /// Of the MLP output (`post_feedforward_layernorm`; Gemma).
    PostFeedforward,
    /// Each query head before RoPE (`self_attn.q_norm`, `[D]`; Qwen3, Gemma 3).
    Query,
    /// Each key head before RoPE (`self_attn.k_norm`, `[D]`; Qwen3).
    Key,
    /// After the last layer (`model.norm`).
    Final,
}

/// Where a tensor sits in a model: its decoder layer (`None` outside the layers) and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A linear layer; what trains is its Σ `[q]` when it is decomposed.
    Linear {
        layer: Option<usize>,
        kind: LinearKind,
    },
    /// An RMSNorm weight `[C]`.
    Norm {
        layer: Option<usize>,
        kind: NormKind,
    },
}

impl Key {
    /// The Hugging Face name: the module of a linear (`model.layers.3.self_attn.q_proj`,
    /// `lm_head`), the weight tensor of a norm (`model.layers.3.input_layernorm.weight`,
    /// `model.norm.weight`).
    pub fn name(&self) -> String {
        match *self {
            Key::Linear { layer, kind } => layout::linear_module(layer, kind),
            Key::Norm {
                kind: NormKind::Final,
                ..
            } => FINAL_NORM.to_string(),
            Key::Norm { layer, kind } => {
                let l = layer.unwrap_or_default();
                let [input, post] = layout::layer_norms(l);
                let [q, k] = layout::qk_norms(l);
                let [pre_ff, post_ff] = layout::feedforward_norms(l);
                match kind {
                    NormKind::Input => input,
                    NormKind::PostAttention => post,
                    NormKind::PreFeedforward => pre_ff,
                    NormKind::PostFeedforward => post_ff,
                    NormKind::Query => q,
                    NormKind::Key => k,
                    NormKind::Final => FINAL_NORM.to_string(),
                }
            }
        }
    }

    /// The name of what trains here, as checkpoints store it: `sigma:<module>` for a linear's
    /// Σ, `norm:<weight name>` for a norm weight.
    pub fn trained_name(&self) -> String {
        match self {
            Key::Linear { .. } => format!("sigma:{}", self.name()),
            Key::Norm { .. } => format!("norm:{}", self.name()),
        }
    }
}

/// What an entry of the walk holds: a linear layer `L` (`&Linear<T>` or `&mut Linear<T>`) or a
/// norm weight `N` (`&T` or `&mut T`).
pub enum Part<L, N> {
    Linear(L),
    Norm(N),
}

/// One entry of the walk.
pub struct Entry<L, N> {
    pub key: Key,
    pub part: Part<L, N>,
}

/// An entry borrowed shared.
pub type EntryRef<'a, T> = Entry<&'a Linear<T>, &'a T>;
/// An entry borrowed mutably.
pub type EntryMut<'a, T> = Entry<&'a mut Linear<T>, &'a mut T>;

fn linear<L, N>(layer: Option<usize>, kind: LinearKind, lin: L) -> Entry<L, N> {
    Entry {
        key: Key::Linear { layer, kind },
        part: Part::Linear(lin),
    }
}

fn norm<L, N>(layer: Option<usize>, kind: NormKind, t: N) -> Entry<L, N> {
    Entry {
        key: Key::Norm { layer, kind },
        part: Part::Norm(t),
    }
}

/// The walk, written once; `$m` is empty for the shared flavour and `mut` for the mutable one.
macro_rules! walk {
    ($layer_fn:ident, $model_fn:ident, $linears_fn:ident, $trained_fn:ident $(, $m:tt)?) => {
        /// The entries of decoder layer `l`, in registry order.
        pub fn $layer_fn<'a, T>(
            l: usize,
            lw: &'a $($m)? LayerWeights<T>,
            out: &mut Vec<Entry<&'a $($m)? Linear<T>, &'a $($m)? T>>,
        ) {
            let l = Some(l);
            match & $($m)? lw.qkv {
                QkvProj::Separate { q, k, v } => {
                    out.push(linear(l, LinearKind::Q, q));
                    out.push(linear(l, LinearKind::K, k));
                    out.push(linear(l, LinearKind::V, v));
                }
                QkvProj::Fused(f) => out.push(linear(l, LinearKind::Qkv, f)),
            }
            out.push(linear(l, LinearKind::O, & $($m)? lw.o));
            match & $($m)? lw.gate_up {
                GateUpProj::Separate { gate, up } => {
                    out.push(linear(l, LinearKind::Gate, gate));
                    out.push(linear(l, LinearKind::Up, up));
                }
                GateUpProj::Fused(f) => out.push(linear(l, LinearKind::GateUp, f)),
            }
            out.push(linear(l, LinearKind::Down, & $($m)? lw.down));
            out.push(norm(l, NormKind::Input, & $($m)? lw.input_norm));
            match & $($m)? lw.sandwich {
                None => out.push(norm(l, NormKind::PostAttention, & $($m)? lw.post_attention_norm)),
                Some(s) => {
                    out.push(norm(l, NormKind::PostAttention, & $($m)? s.attn_out));
                    out.push(norm(l, NormKind::PreFeedforward, & $($m)? lw.post_attention_norm));
                    out.push(norm(l, NormKind::PostFeedforward, & $($m)? s.mlp_out));
                }
            }
            if let Some(t) = & $($m)? lw.q_norm {
                out.push(norm(l, NormKind::Query, t));
            }
            if let Some(t) = & $($m)? lw.k_norm {
                out.push(norm(l, NormKind::Key, t));
            }
        }

        /// Every linear layer and norm weight of the model, in registry order.
        pub fn $model_fn<T>(
            w: & $($m)? ModelWeights<T>,
        ) -> Vec<Entry<& $($m)? Linear<T>, & $($m)? T>> {
            let mut out = Vec::with_capacity(10 * w.layers.len() + 2);
            for (l, lw) in (& $($m)? w.layers).into_iter().enumerate() {
                $layer_fn(l, lw, &mut out);
            }
            out.push(norm(None, NormKind::Final, & $($m)? w.final_norm));
            out.push(linear(None, LinearKind::LmHead, & $($m)? w.lm_head));
            out
        }

        /// Every linear layer with its decoder layer and kind, in registry order.
        pub fn $linears_fn<T>(
            w: & $($m)? ModelWeights<T>,
        ) -> Vec<(Option<usize>, LinearKind, & $($m)? Linear<T>)> {
            $model_fn(w)
                .into_iter()
                .filter_map(|e| match (e.key, e.part) {
                    (Key::Linear { layer, kind }, Part::Linear(lin)) => Some((layer, kind, lin)),
                    _ => None,
                })
                .collect()
        }

        /// The trained tensors, in registry order: Σ of every decomposed linear, and the norm
        /// weights when `train_norms`.
        pub fn $trained_fn<T>(
            w: & $($m)? ModelWeights<T>,
            train_norms: bool,
        ) -> Vec<(Key, & $($m)? T)> {
            $model_fn(w)
                .into_iter()
                .filter_map(|e| match e.part {
                    Part::Linear(Linear::Svd(s)) => Some((e.key, & $($m)? s.sigma)),
                    Part::Linear(Linear::Dense { .. }) => None,
                    Part::Norm(t) => train_norms.then_some((e.key, t)),
                })
                .collect()
        }
    };
}

walk!(layer_entries, entries, linears, trained);
walk!(
    layer_entries_mut,
    entries_mut,
    linears_mut,
    trained_mut,
    mut
);

/// The slot of a linear in a layer's per-projection buffers (q, k, v, o, gate, up, down): fused
/// qkv fills q, fused gate_up fills gate; `lm_head` has none.
pub fn slot(kind: LinearKind) -> Option<usize> {
    match kind {
        LinearKind::Q | LinearKind::Qkv => Some(0),
        LinearKind::K => Some(1),
        LinearKind::V => Some(2),
        LinearKind::O => Some(3),
        LinearKind::Gate | LinearKind::GateUp => Some(4),
        LinearKind::Up => Some(5),
        LinearKind::Down => Some(6),
        LinearKind::LmHead => None,
    }
}

/// Checks that `found` holds the tensors `expected` names, in the same order (values made for
/// one model or setting paired with the tensors of another); `context` names the pairing.
pub fn check_same(
    context: &'static str,
    expected: &[Key],
    found: impl ExactSizeIterator<Item = Key>,
) -> Result<()> {
    if found.len() != expected.len() {
        return Err(Error::param(
            context,
            format!(
                "{} trainable tensors where {} were expected",
                found.len(),
                expected.len()
            ),
        ));
    }
    match found.zip(expected).find(|(f, e)| f != *e) {
        Some((f, e)) => Err(Error::param(
            context,
            format!(
                "{} stands where {} was expected",
                f.trained_name(),
                e.trained_name()
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_hugging_face_names() {
        let lin = |layer, kind| Key::Linear { layer, kind };
        let norm = |layer, kind| Key::Norm { layer, kind };
        for (key, name, trained) in [
            (
                lin(Some(3), LinearKind::Q),
                "model.layers.3.self_attn.q_proj",
                "sigma:model.layers.3.self_attn.q_proj",
            ),
            (
                lin(Some(0), LinearKind::Qkv),
                "model.layers.0.self_attn.qkv_proj",
                "sigma:model.layers.0.self_attn.qkv_proj",
            ),
            (
                lin(Some(1), LinearKind::GateUp),
                "model.layers.1.mlp.gate_up_proj",
                "sigma:model.layers.1.mlp.gate_up_proj",
            ),
            (lin(None, LinearKind::LmHead), "lm_head", "sigma:lm_head"),
            (
                norm(Some(2), NormKind::Input),
                "model.layers.2.input_layernorm.weight",
                "norm:model.layers.2.input_layernorm.weight",
            ),
            (
                norm(Some(2), NormKind::PostAttention),
                "model.layers.2.post_attention_layernorm.weight",
                "norm:model.layers.2.post_attention_layernorm.weight",
            ),
            (
                norm(Some(1), NormKind::Query),
                "model.layers.1.self_attn.q_norm.weight",
                "norm:model.layers.1.self_attn.q_norm.weight",
            ),
            (
                norm(Some(1), NormKind::Key),
                "model.layers.1.self_attn.k_norm.weight",
                "norm:model.layers.1.self_attn.k_norm.weight",
            ),
            (
                norm(None, NormKind::Final),
                "model.norm.weight",
                "norm:model.norm.weight",
            ),
        ] {
            assert_eq!(key.name(), name);
            assert_eq!(key.trained_name(), trained);
        }
    }

    #[test]
    fn pairing_names_the_first_stranger() {
        let a = Key::Linear {
            layer: None,
            kind: LinearKind::LmHead,
        };
        let b = Key::Norm {
            layer: None,
            kind: NormKind::Final,
        };
        assert!(check_same("swap", &[a, b], [a, b].into_iter()).is_ok());
        let err = check_same("swap", &[a, b], [b, a].into_iter()).unwrap_err();
        assert!(err.to_string().contains("norm:model.norm.weight"), "{err}");
        let err = check_same("swap", &[a, b], [a].into_iter()).unwrap_err();
        assert!(err.to_string().contains("1 trainable tensors"), "{err}");
    }
}
