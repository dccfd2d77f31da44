//! A model's weights on a backend, loaded one tensor at a time from a checkpoint, and the linear
//! layer forward shared by dense (as loaded) and decomposed (SVD) layers.
//!
//! Frozen weights (the embedding and every linear weight, `lm_head` included) stay in the
//! precision the checkpoint stores them in when that is f16 or bf16, or a GGUF block type the
//! backends read (a `.gguf` loaded through [`crate::gguf::ImportedWeights`], whose source offers
//! the stored blocks: [`super::source::ByteSource::stored_format`]) ([`WeightPrecision::Stored`],
//! the default): packed tensors the backends read only as matmul B operands and embedding
//! tables (see [`crate::backend::Format`]). Norm weights and biases are always f32.
//! [`WeightPrecision::F32`] upcasts everything, as every version before this one did.
use super::config::{Family, ModelConfig};
use super::layout::{self, EMBED, FINAL_NORM, LinearKind, LinearSpec};
use super::safetensors::Checkpoint;
use super::source::ByteSource;
use super::trainables::{self, Key, Part};
use crate::backend::svd_linear::{
    SvdLinear, SvdLinearActs, svd_linear_forward_into, svd_linear_output,
};
use crate::backend::{Backend, Format, Matmul, TensorInfo, check_budget};
use safetensors::Dtype;

/// How frozen weights are held on the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightPrecision {
    /// In the checkpoint's precision when it is f16 or bf16 (packed), else f32.
    #[default]
    Stored,
    /// Everything upcast to f32.
    F32,
}

impl WeightPrecision {
    /// The format a frozen weight of `dtype` is held in.
    pub fn format_of(self, dtype: Dtype) -> Format {
        match (self, dtype) {
            (WeightPrecision::Stored, Dtype::F16) => Format::F16,
            (WeightPrecision::Stored, Dtype::BF16) => Format::Bf16,
            _ => Format::F32,
        }
    }
}
use crate::error::{Error, Result};

/// A linear layer `y = x Wᵀ + b`, `W` `[m, n]`: as loaded, or decomposed for SVD-training.
pub enum Linear<T> {
    Dense { w: T, bias: Option<T> },
    Svd(SvdLinear<T>),
}

impl<T: TensorInfo> Linear<T> {
    /// `(m, n)`: output and input features.
    pub fn dims(&self) -> Result<(usize, usize)> {
        match self {
            Linear::Dense { w, .. } => w.shape().matrix("linear", "weight"),
            Linear::Svd(s) => s.dims().map(|(m, n, _)| (m, n)),
        }
    }
    /// The rank of a decomposed layer (`None` when dense).
    pub fn rank(&self) -> Option<usize> {
        match self {
            Linear::Dense { .. } => None,
            Linear::Svd(s) => Some(s.sigma.shape().numel()),
        }
    }
}

/// `y = x Wᵀ + b`. x `[T, n]`, y `[T, m]`. A decomposed layer needs its activations `acts`
/// (`h = x V` is kept there for backward).
pub fn linear_forward<B: Backend>(
    be: &B,
    lin: &Linear<B::Tensor>,
    x: &B::Tensor,
    acts: Option<&mut SvdLinearActs<B::Tensor>>,
    y: &mut B::Tensor,
) -> Result<()> {
    linear_forward_into(be, lin, x, acts, y, false)
}

/// `y += x Wᵀ + b` ([`linear_forward`] added into `y`: the residual stream takes a sublayer's
/// output projection without a separate output or add).
pub fn linear_forward_add<B: Backend>(
    be: &B,
    lin: &Linear<B::Tensor>,
    x: &B::Tensor,
    acts: Option<&mut SvdLinearActs<B::Tensor>>,
    y: &mut B::Tensor,
) -> Result<()> {
    linear_forward_into(be, lin, x, acts, y, true)
}

/// One linear layer of [`linears_forward`]: the layer, its activations (decomposed layers) and
/// its output.
pub type LinearOut<'a, T> = (&'a Linear<T>, Option<&'a mut SvdLinearActs<T>>, &'a mut T);

/// `y = x Wᵀ + b` for linear layers that read the same `x` (q, k, v; gate, up): the decomposed
/// ones project `x` on their `V` in one [`Backend::matmul_multi`], then each adds its own parts.
pub fn linears_forward<B: Backend>(
    be: &B,
    x: &B::Tensor,
    layers: &mut [LinearOut<'_, B::Tensor>],
) -> Result<()> {
    let mut vs = Vec::with_capacity(layers.len());
    let mut hs = Vec::with_capacity(layers.len());
    for (lin, acts, _) in layers.iter_mut() {
        if let (Linear::Svd(s), Some(a)) = (*lin, acts.as_deref_mut()) {
            vs.push(&s.v);
            hs.push(&mut a.h);
        }
    }
    let projected = vs.len() >= 2;
    if projected {
        be.matmul_multi(x, &vs, &mut hs)?;
    }
    drop(hs);
    for (lin, acts, y) in layers.iter_mut() {
        match (*lin, acts.as_deref_mut()) {
            (Linear::Svd(s), Some(a)) if projected => svd_linear_output(be, s, x, a, y, false)?,
            (lin, acts) => linear_forward(be, lin, x, acts, y)?,
        }
    }
    Ok(())
}

fn linear_forward_into<B: Backend>(
    be: &B,
    lin: &Linear<B::Tensor>,
    x: &B::Tensor,
    acts: Option<&mut SvdLinearActs<B::Tensor>>,
    y: &mut B::Tensor,
    accumulate: bool,
) -> Result<()> {
    match lin {
        Linear::Dense { w, bias } => {
            let spec = Matmul::NT.accumulate_if(accumulate);
            be.matmul(x, w, y, spec)?;
            if let Some(b) = bias {
                be.add_bias(y, b)?;
            }
            Ok(())
        }
        Linear::Svd(s) => {
            let acts = acts.ok_or_else(|| {
                Error::param("linear", "a decomposed layer needs its activation buffers")
            })?;
            svd_linear_forward_into(be, s, x, acts, y, accumulate)
        }
    }
}

/// q, k, v projections: separate, or fused into one `[q | k | v]` matrix (Phi-3).
pub enum QkvProj<T> {
    Separate {
        q: Linear<T>,
        k: Linear<T>,
        v: Linear<T>,
    },
    Fused(Linear<T>),
}

/// gate and up projections: separate, or fused into one `[gate | up]` matrix (Phi-3).
pub enum GateUpProj<T> {
    Separate { gate: Linear<T>, up: Linear<T> },
    Fused(Linear<T>),
}

/// Gemma's norms of the sublayer outputs, before each residual add, `[C]` each.
pub struct SandwichNorms<T> {
    /// Of the attention output (Gemma's `post_attention_layernorm`).
    pub attn_out: T,
    /// Of the MLP output (`post_feedforward_layernorm`).
    pub mlp_out: T,
}

/// One decoder layer. Norm weights are held as the kernels use them: `1 + w` for Gemma
/// (see [`Family::norm_offset`]).
pub struct LayerWeights<T> {
    /// RMSNorm before attention, `[C]`.
    pub input_norm: T,
    /// RMSNorm before the MLP, `[C]` (`post_attention_layernorm`; Gemma's
    /// `pre_feedforward_layernorm`).
    pub post_attention_norm: T,
    /// Gemma's output norms.
    pub sandwich: Option<SandwichNorms<T>>,
    /// RMSNorm of each query head and each key head before RoPE, `[D]` each (Qwen3).
    pub q_norm: Option<T>,
    pub k_norm: Option<T>,
    pub qkv: QkvProj<T>,
    pub o: Linear<T>,
    pub gate_up: GateUpProj<T>,
    pub down: Linear<T>,
}

impl<T> LayerWeights<T> {
    /// Per linear slot, in the order q, k, v, o, gate, up, down, a value made from that layer
    /// (`None` for the empty slots of fused projections: fused qkv fills q, fused gate_up
    /// fills gate). Builds per-layer buffers that mirror the projections.
    pub fn per_slot<U>(
        &self,
        mut f: impl FnMut(&Linear<T>) -> Result<Option<U>>,
    ) -> Result<[Option<U>; 7]> {
        let mut entries = Vec::new();
        trainables::layer_entries(0, self, &mut entries);
        let mut out = [None, None, None, None, None, None, None];
        for e in entries {
            if let (Key::Linear { kind, .. }, Part::Linear(lin)) = (e.key, e.part) {
                let slot = trainables::slot(kind).ok_or_else(|| {
                    Error::param("layer", format!("{kind:?} is not a projection of a layer"))
                })?;
                out[slot] = f(lin)?;
            }
        }
        Ok(out)
    }
}

/// All weights of a model.
pub struct ModelWeights<T> {
    /// Token embedding `[V, C]` (frozen).
    pub embed: T,
    /// `sqrt(C)` in every entry `[C]` when the embeddings are scaled (Gemma).
    pub embed_scale: Option<T>,
    pub layers: Vec<LayerWeights<T>>,
    /// Final RMSNorm `[C]`.
    pub final_norm: T,
    /// Output projection `[V, C]`: its own copy of the embedding when the checkpoint ties them.
    pub lm_head: Linear<T>,
}

impl<T> ModelWeights<T> {
    /// Whether q/k/v are one fused projection (Phi-3).
    pub fn fused_qkv(&self) -> bool {
        matches!(self.layers.first().map(|l| &l.qkv), Some(QkvProj::Fused(_)))
    }

    /// Whether gate/up are one fused projection (Phi-3).
    pub fn fused_gate_up(&self) -> bool {
        matches!(
            self.layers.first().map(|l| &l.gate_up),
            Some(GateUpProj::Fused(_))
        )
    }

    /// Every linear layer with its kind and decoder layer, in execution order.
    pub fn linears(&self) -> Vec<(Option<usize>, LinearKind, &Linear<T>)> {
        trainables::linears(self)
    }

    /// [`ModelWeights::linears`], mutable.
    pub fn linears_mut(&mut self) -> Vec<(Option<usize>, LinearKind, &mut Linear<T>)> {
        trainables::linears_mut(self)
    }
}

impl<T: TensorInfo> ModelWeights<T> {
    /// Bytes the backend holds for these weights, each tensor in its own [`Format`] (a packed
    /// weight counts its stored bytes; a decomposed layer counts W, U, V, Σ, −Σ₀ and its bias).
    pub fn held_bytes(&self) -> u64 {
        let bytes = |t: &T| t.format().bytes_for(t.shape().numel()) as u64;
        let opt = |t: &Option<T>| t.as_ref().map_or(0, bytes);
        let mut total = bytes(&self.embed) + opt(&self.embed_scale) + bytes(&self.final_norm);
        for l in &self.layers {
            total += bytes(&l.input_norm) + bytes(&l.post_attention_norm);
            total += opt(&l.q_norm) + opt(&l.k_norm);
            if let Some(s) = &l.sandwich {
                total += bytes(&s.attn_out) + bytes(&s.mlp_out);
            }
        }
        for (_, _, lin) in self.linears() {
            total += match lin {
                Linear::Dense { w, bias } => bytes(w) + opt(bias),
                Linear::Svd(s) => {
                    [&s.w, &s.u, &s.v, &s.sigma, &s.neg_sigma0]
                        .into_iter()
                        .map(bytes)
                        .sum::<u64>()
                        + opt(&s.bias)
                }
            };
        }
        total
    }
}

/// Uploads tensors one at a time, counting them for progress reports.
struct Loader<'a, B: Backend, S, P> {
    be: &'a B,
    ckpt: &'a Checkpoint<S>,
    precision: WeightPrecision,
    done: usize,
    total: usize,
    progress: P,
}

impl<B: Backend, S: ByteSource, P: FnMut(usize, usize, &str)> Loader<'_, B, S, P> {
    /// A norm weight, plus the family's offset (Gemma's `1 + w`).
    fn norm(&mut self, name: &str, len: usize, offset: f32) -> Result<B::Tensor> {
        let mut data = self.ckpt.read_f32(name)?;
        if offset != 0.0 {
            data.iter_mut().for_each(|x| *x += offset);
        }
        self.upload(name, &[len], &data)
    }

    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<B::Tensor> {
        let data = self.ckpt.read_f32(name)?;
        self.upload(name, shape, &data)
    }

    fn upload(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<B::Tensor> {
        let t = self
            .be
            .tensor(data, shape)
            .map_err(|e| e.allocating(|| name.to_string()))?;
        self.done += 1;
        (self.progress)(self.done, self.total, name);
        Ok(t)
    }

    /// A frozen weight: packed in its stored precision when [`WeightPrecision`] says so.
    fn frozen(&mut self, name: &str, shape: &[usize]) -> Result<B::Tensor> {
        let format = frozen_format(self.ckpt, self.precision, name);
        let f32_bytes;
        let packed_bytes;
        let bytes: &[u8] = if format.is_packed() {
            packed_bytes = match self.ckpt.stored_format(name) {
                Some(_) => self.ckpt.read_stored(name)?,
                None => self.ckpt.read_raw(name)?.1,
            };
            &packed_bytes
        } else {
            f32_bytes = self.ckpt.read_f32(name)?;
            bytemuck::cast_slice(&f32_bytes)
        };
        let t = self
            .be
            .frozen_tensor(format, bytes, shape)
            .map_err(|e| e.allocating(|| name.to_string()))?;
        self.done += 1;
        (self.progress)(self.done, self.total, name);
        Ok(t)
    }

    fn linear(&mut self, spec: &LinearSpec, weight_name: &str) -> Result<Linear<B::Tensor>> {
        let w = self.frozen(weight_name, &[spec.out_features, spec.in_features])?;
        let bias = if spec.bias {
            Some(self.tensor(&spec.bias_name(), &[spec.out_features])?)
        } else {
            None
        };
        Ok(Linear::Dense { w, bias })
    }
}

/// The format frozen matrix `name` is held in: a GGUF import's stored blocks (or f16/bf16)
/// when its source offers them, else as [`WeightPrecision::format_of`] says for its dtype;
/// always f32 under [`WeightPrecision::F32`].
fn frozen_format<S: ByteSource>(
    ckpt: &Checkpoint<S>,
    precision: WeightPrecision,
    name: &str,
) -> Format {
    if precision == WeightPrecision::F32 {
        return Format::F32;
    }
    if let Some(f) = ckpt.stored_format(name) {
        return f;
    }
    let dtype = ckpt.entry(name).map(|(e, _)| e.dtype);
    dtype.map_or(Format::F32, |d| precision.format_of(d))
}

/// Refuses, before anything is uploaded, a model with a tensor larger than one binding of the
/// device (the error names the tensor, its size and the device's limit), or whose weights
/// together exceed the memory the backend can hold (see [`Backend::memory_limit`]).
fn check_limits<B: Backend, S: ByteSource>(
    be: &B,
    cfg: &ModelConfig,
    ckpt: &Checkpoint<S>,
    precision: WeightPrecision,
) -> Result<()> {
    let tensors = layout::expected_tensors(cfg);
    // Norms and biases (1-D) are always f32; matrices as the precision holds them.
    let format_of = |name: &str, shape: &[usize]| match shape.len() {
        2 => frozen_format(ckpt, precision, name),
        _ => Format::F32,
    };
    let bytes_of = |name: &str, shape: &[usize]| {
        let n = shape.iter().map(|&d| d as u64).product::<u64>();
        let (qk, size) = format_of(name, shape).block();
        n.div_ceil(qk as u64) * size as u64
    };
    if let Some(limit) = be.max_binding_bytes() {
        for (name, shape) in &tensors {
            // A matrix larger than one binding is held in row blocks (`Backend::frozen_tensor`):
            // two of its rows as f32 must fit.
            let (bytes, what) = match shape[..] {
                [_, cols] => (
                    2 * cols as u64 * 4,
                    format!(
                        "{name} {shape:?}, held in blocks of rows: two of its rows as f32 \
                         (the smallest block)"
                    ),
                ),
                _ => {
                    let f = format_of(name, shape);
                    (
                        bytes_of(name, shape),
                        format!("{name} {shape:?} ({f} on the device)"),
                    )
                }
            };
            if bytes > limit {
                return Err(Error::TooLarge {
                    what,
                    bytes,
                    limit,
                    kind: "storage binding",
                });
            }
        }
    }
    let total: u64 = tensors
        .iter()
        .map(|(name, shape)| bytes_of(name, shape))
        .sum();
    check_budget(be, total, || {
        format!("the model's {} tensors", tensors.len())
    })
}

/// Reads and uploads the checkpoint's tensors one at a time (host memory stays near the size of
/// the largest tensor). The checkpoint is first checked against the config (names and shapes).
/// `progress(done, total, name)` is called after each tensor.
pub fn load_weights<B: Backend, S: ByteSource>(
    be: &B,
    cfg: &ModelConfig,
    ckpt: &Checkpoint<S>,
    progress: impl FnMut(usize, usize, &str),
) -> Result<ModelWeights<B::Tensor>> {
    load_weights_with(be, cfg, ckpt, WeightPrecision::Stored, progress)
}

/// [`load_weights`], holding frozen weights in `precision`.
pub fn load_weights_with<B: Backend, S: ByteSource>(
    be: &B,
    cfg: &ModelConfig,
    ckpt: &Checkpoint<S>,
    precision: WeightPrecision,
    progress: impl FnMut(usize, usize, &str),
) -> Result<ModelWeights<B::Tensor>> {
    layout::check_checkpoint(cfg, ckpt)?;
    check_limits(be, cfg, ckpt, precision)?;
    let mut ld = Loader {
        be,
        ckpt,
        precision,
        done: 0,
        total: layout::expected_tensors(cfg).len() + usize::from(cfg.tie_word_embeddings),
        progress,
    };
    let linears = layout::linear_layers(cfg);
    let mut specs = linears.iter();
    let mut next = |kind: LinearKind| -> Result<LinearSpec> {
        specs
            .next()
            .filter(|s| s.kind == kind)
            .cloned()
            .ok_or_else(|| Error::param("load", format!("layer plan out of order at {kind:?}")))
    };
    let c = cfg.hidden_size;
    let embed = ld.frozen(EMBED, &[cfg.vocab_size, c])?;
    let off = cfg.family.norm_offset();
    let mut layers = Vec::with_capacity(cfg.num_layers);
    for l in 0..cfg.num_layers {
        let [n1, n2] = layout::layer_norms(l);
        let input_norm = ld.norm(&n1, c, off)?;
        let (post_attention_norm, sandwich) = if cfg.family.has_sandwich_norms() {
            let attn_out = ld.norm(&n2, c, off)?;
            let [pre, post] = layout::feedforward_norms(l);
            let pre = ld.norm(&pre, c, off)?;
            let mlp_out = ld.norm(&post, c, off)?;
            (pre, Some(SandwichNorms { attn_out, mlp_out }))
        } else {
            (ld.norm(&n2, c, off)?, None)
        };
        let (q_norm, k_norm) = if cfg.family.has_qk_norm() {
            let [nq, nk] = layout::qk_norms(l);
            let d = cfg.head_dim;
            (Some(ld.norm(&nq, d, off)?), Some(ld.norm(&nk, d, off)?))
        } else {
            (None, None)
        };
        let qkv = if cfg.family == Family::Phi3 {
            let s = next(LinearKind::Qkv)?;
            QkvProj::Fused(ld.linear(&s, &s.weight_name())?)
        } else {
            let (sq, sk, sv) = (
                next(LinearKind::Q)?,
                next(LinearKind::K)?,
                next(LinearKind::V)?,
            );
            QkvProj::Separate {
                q: ld.linear(&sq, &sq.weight_name())?,
                k: ld.linear(&sk, &sk.weight_name())?,
                v: ld.linear(&sv, &sv.weight_name())?,
            }
        };
        let so = next(LinearKind::O)?;
        let o = ld.linear(&so, &so.weight_name())?;
        let gate_up = if cfg.family == Family::Phi3 {
            let s = next(LinearKind::GateUp)?;
            GateUpProj::Fused(ld.linear(&s, &s.weight_name())?)
        } else {
            let (sg, su) = (next(LinearKind::Gate)?, next(LinearKind::Up)?);
            GateUpProj::Separate {
                gate: ld.linear(&sg, &sg.weight_name())?,
                up: ld.linear(&su, &su.weight_name())?,
            }
        };
        let sd = next(LinearKind::Down)?;
        let down = ld.linear(&sd, &sd.weight_name())?;
        layers.push(LayerWeights {
            input_norm,
            post_attention_norm,
            sandwich,
            q_norm,
            k_norm,
            qkv,
            o,
            gate_up,
            down,
        });
    }
    let final_norm = ld.norm(FINAL_NORM, c, off)?;
    let embed_scale = if cfg.scale_embeddings {
        // transformers: `torch.tensor(hidden_size ** 0.5)`, an f32 scalar.
        let s = (cfg.hidden_size as f64).sqrt() as f32;
        Some(be.tensor(&vec![s; c], &[c])?)
    } else {
        None
    };
    let head = next(LinearKind::LmHead)?;
    let head_weight = if cfg.tie_word_embeddings {
        EMBED.to_string()
    } else {
        head.weight_name()
    };
    let lm_head = ld.linear(&head, &head_weight)?;
    Ok(ModelWeights {
        embed,
        embed_scale,
        layers,
        final_norm,
        lm_head,
    })
}
