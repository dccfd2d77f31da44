//! Rotary-embedding tables, computed as Hugging Face transformers does (`ROPE_INIT_FUNCTIONS`
//! followed by `LlamaRotaryEmbedding.forward`), for the default, linear, Llama 3 and Phi-3
//! longrope variants.
//!
//! The tables are `cos`, `sin` `[positions, head_dim/2]`: both halves of a head share one angle
//! (the `rotate_half` pairing of [`crate::backend::Backend::rope`]), so the duplicated half of
//! the Hugging Face `emb = cat(freqs, freqs)` is not stored.
//!
//! Precision follows PyTorch's float32 arithmetic step by step, so that the tables agree with
//! transformers bit for bit or within one unit in the last place:
//! - `inv_freq[i] = 1 / theta^(2i/D)`: the exponent is the f32 quotient `(2i as f32) / (D as f32)`,
//!   `theta` is rounded to f32, and the power is the f32 nearest to the exact power of those two
//!   f32 values (PyTorch's vectorised `powf` is within 1 ulp of it), then an f32 reciprocal.
//! - Python scalars (`factor`, `low_freq_factor`, ...) enter f32 tensor arithmetic rounded to f32;
//!   arithmetic that transformers does on Python floats (`old_context_len / low_freq_factor`,
//!   the attention factor) is done in f64 first, as Python does.
//! - `scalar / tensor` is `tensor.reciprocal() * scalar` in PyTorch, and is done that way here.
//! - The angle `p · inv_freq[i]` is one f32 product; its cos and sin are evaluated in f64 and
//!   rounded to f32, then multiplied by the f32 attention factor.
//!
//! `partial_rotary_factor` is not supported (the whole head is rotated); `dynamic`, `ntk` and
//! `yarn` scaling are rejected with an error naming the supported types.
use crate::error::{Error, Result};

const OP: &str = "rope";

/// The `rope_type` names [`RopeScaling::from_hf`] accepts.
pub const SUPPORTED_ROPE_TYPES: &[&str] = &["default", "linear", "llama3", "longrope", "su"];

/// How the rotary frequencies are scaled (a Hugging Face config's `rope_scaling`).
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE (`rope_scaling` absent or `rope_type` "default").
    None,
    /// "linear" (position interpolation): `inv_freq / factor`.
    Linear { factor: f64 },
    /// "llama3" (Llama 3.1 and later): frequencies whose wavelength exceeds
    /// `original_max_position_embeddings / low_freq_factor` are divided by `factor`, those whose
    /// wavelength is below `original_max_position_embeddings / high_freq_factor` are kept, and
    /// the band in between is interpolated smoothly.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
    /// "longrope" / "su" (Phi-3): `inv_freq[i] = 1 / (ext[i] · theta^(2i/D))` with `ext` =
    /// `long_factor` when the sequence length exceeds `original_max_position_embeddings`, else
    /// `short_factor` (each of length `head_dim/2`). cos and sin are multiplied by the attention
    /// factor: `attention_factor` if given, else `sqrt(1 + ln(f) / ln(original))` when
    /// `f > 1`, else 1, where `f` = `factor` if given, else
    /// `max_position_embeddings / original_max_position_embeddings` (Phi-3 gives no `factor`).
    LongRope {
        short_factor: Vec<f64>,
        long_factor: Vec<f64>,
        original_max_position_embeddings: usize,
        factor: Option<f64>,
        attention_factor: Option<f64>,
    },
}

/// The `rope_scaling` object of a Hugging Face `config.json`, every field optional, as a
/// config reader fills it in; [`RopeScaling::from_hf`] validates it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RopeScalingFields {
    /// `rope_type` (or the legacy `type`); `None` means "default".
    pub rope_type: Option<String>,
    pub factor: Option<f64>,
    pub low_freq_factor: Option<f64>,
    pub high_freq_factor: Option<f64>,
    /// From `rope_scaling`, or for Phi-3 longrope from the top level of the config.
    pub original_max_position_embeddings: Option<usize>,
    pub short_factor: Option<Vec<f64>>,
    pub long_factor: Option<Vec<f64>>,
    pub attention_factor: Option<f64>,
}

impl RopeScaling {
    /// The scaling a Hugging Face `rope_scaling` object describes (`None` = no `rope_scaling`).
    /// Unsupported types and missing required fields are `Error::Param`.
    pub fn from_hf(fields: Option<&RopeScalingFields>) -> Result<RopeScaling> {
        let Some(f) = fields else {
            return Ok(RopeScaling::None);
        };
        let rope_type = f.rope_type.as_deref().unwrap_or("default");
        let need = |v: Option<f64>, name: &str| v.ok_or_else(|| missing(rope_type, name));
        let original = || {
            f.original_max_position_embeddings
                .ok_or_else(|| missing(rope_type, "original_max_position_embeddings"))
        };
        match rope_type {
            "default" => Ok(RopeScaling::None),
            "linear" => Ok(RopeScaling::Linear {
                factor: need(f.factor, "factor")?,
            }),
            "llama3" => Ok(RopeScaling::Llama3 {
                factor: need(f.factor, "factor")?,
                low_freq_factor: need(f.low_freq_factor, "low_freq_factor")?,
                high_freq_factor: need(f.high_freq_factor, "high_freq_factor")?,
                original_max_position_embeddings: original()?,
            }),
            "longrope" | "su" => Ok(RopeScaling::LongRope {
                short_factor: f
                    .short_factor
                    .clone()
                    .ok_or_else(|| missing(rope_type, "short_factor"))?,
                long_factor: f
                    .long_factor
                    .clone()
                    .ok_or_else(|| missing(rope_type, "long_factor"))?,
                original_max_position_embeddings: original()?,
                factor: f.factor,
                attention_factor: f.attention_factor,
            }),
            other => Err(Error::param(
                OP,
                format!(
                    "rope_scaling type \"{other}\" is not supported (supported: {})",
                    SUPPORTED_ROPE_TYPES.join(", ")
                ),
            )),
        }
    }
}

fn missing(rope_type: &str, field: &str) -> Error {
    Error::param(
        OP,
        format!("rope_scaling of type \"{rope_type}\" needs the field `{field}`"),
    )
}

/// What the tables are built from.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeConfig {
    /// Rotated width per head (even).
    pub head_dim: usize,
    /// `rope_theta` (the frequency base).
    pub theta: f64,
    /// The config's `max_position_embeddings` (longrope derives its attention factor from it).
    pub max_position_embeddings: usize,
    pub scaling: RopeScaling,
}

/// cos/sin tables for positions `0 .. positions`, each `[positions, half]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeTables {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub positions: usize,
    /// `head_dim / 2`.
    pub half: usize,
    /// The factor cos and sin were multiplied by (1 except for longrope).
    pub attention_scaling: f32,
}

fn positive(what: &str, v: f64) -> Result<f32> {
    let v32 = v as f32;
    if v.is_finite() && v > 0.0 && v32.is_finite() && v32 > 0.0 {
        Ok(v32)
    } else {
        Err(Error::param(
            OP,
            format!("{what} must be a finite number > 0, got {v}"),
        ))
    }
}

/// `b^e` for f32 operands, rounded to f32 from an f64 evaluation (within 1 ulp of PyTorch's
/// float32 `pow`, and the same on every platform).
fn pow_f32(b: f32, e: f32) -> f32 {
    (b as f64).powf(e as f64) as f32
}

/// `theta^(2i/D)` for `i < D/2`, as transformers computes it in float32.
fn base_powers(head_dim: usize, theta: f32) -> Vec<f32> {
    let dim = head_dim as f32;
    (0..head_dim / 2)
        .map(|i| pow_f32(theta, (2 * i) as f32 / dim))
        .collect()
}

/// The inverse frequencies `[head_dim/2]` and the attention scaling for a table that serves
/// sequences of `seq_len` positions (only longrope depends on `seq_len`: it uses its long
/// factors when `seq_len > original_max_position_embeddings`, as transformers does with
/// `seq_len = max(position_ids) + 1`).
pub fn inv_freq(cfg: &RopeConfig, seq_len: usize) -> Result<(Vec<f32>, f32)> {
    if cfg.head_dim == 0 || !cfg.head_dim.is_multiple_of(2) {
        return Err(Error::param(
            OP,
            format!("head_dim must be even and > 0, got {}", cfg.head_dim),
        ));
    }
    let theta = positive("rope_theta", cfg.theta)?;
    let half = cfg.head_dim / 2;
    let default = || {
        base_powers(cfg.head_dim, theta)
            .into_iter()
            .map(|p| 1.0f32 / p)
            .collect::<Vec<f32>>()
    };
    match &cfg.scaling {
        RopeScaling::None => Ok((default(), 1.0)),
        RopeScaling::Linear { factor } => {
            let factor = positive("linear rope factor", *factor)?;
            Ok((default().into_iter().map(|f| f / factor).collect(), 1.0))
        }
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } => {
            let (factor, low, high, old_len) = (
                *factor,
                *low_freq_factor,
                *high_freq_factor,
                *original_max_position_embeddings,
            );
            let factor32 = positive("llama3 factor", factor)?;
            let low32 = positive("llama3 low_freq_factor", low)?;
            positive("llama3 high_freq_factor", high)?;
            if high <= low {
                return Err(Error::param(
                    OP,
                    format!(
                        "llama3 high_freq_factor ({high}) must be greater than low_freq_factor ({low})"
                    ),
                ));
            }
            if old_len == 0 {
                return Err(Error::param(
                    OP,
                    "llama3 original_max_position_embeddings must be > 0",
                ));
            }
            // Python floats, then rounded to f32 where they meet the f32 tensors.
            let old = old_len as f64;
            let low_wavelen = (old / low) as f32;
            let high_wavelen = (old / high) as f32;
            let band = (high - low) as f32;
            let old32 = old as f32;
            let two_pi = std::f64::consts::TAU as f32;
            let out = default()
                .into_iter()
                .map(|inv| {
                    let wavelen = (1.0f32 / inv) * two_pi;
                    let llama = if wavelen > low_wavelen {
                        inv / factor32
                    } else {
                        inv
                    };
                    let smooth = ((1.0f32 / wavelen) * old32 - low32) / band;
                    let smoothed = (1.0f32 - smooth) * llama / factor32 + smooth * llama;
                    // `~(wavelen < high) * ~(wavelen > low)` in transformers; wavelen is never NaN here.
                    let medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
                    if medium { smoothed } else { llama }
                })
                .collect();
            Ok((out, 1.0))
        }
        RopeScaling::LongRope {
            short_factor,
            long_factor,
            original_max_position_embeddings,
            factor,
            attention_factor,
        } => {
            let original = *original_max_position_embeddings;
            if original == 0 {
                return Err(Error::param(
                    OP,
                    "longrope original_max_position_embeddings must be > 0",
                ));
            }
            for (name, list) in [("short_factor", short_factor), ("long_factor", long_factor)] {
                if list.len() != half {
                    return Err(Error::param(
                        OP,
                        format!(
                            "longrope {name} has {} entries, expected head_dim / 2 = {half}",
                            list.len()
                        ),
                    ));
                }
                for &v in list.iter() {
                    positive(&format!("every longrope {name} entry"), v)?;
                }
            }
            let factor = match factor {
                Some(f) => {
                    positive("longrope factor", *f)?;
                    *f
                }
                None => cfg.max_position_embeddings as f64 / original as f64,
            };
            let mscale = match attention_factor {
                Some(a) => positive("longrope attention_factor", *a)?,
                None if factor <= 1.0 => 1.0,
                None => (1.0 + factor.ln() / (original as f64).ln()).sqrt() as f32,
            };
            let ext = if seq_len > original {
                long_factor
            } else {
                short_factor
            };
            let out = base_powers(cfg.head_dim, theta)
                .into_iter()
                .zip(ext)
                .map(|(p, &e)| 1.0f32 / ((e as f32) * p))
                .collect();
            Ok((out, mscale))
        }
    }
}

/// cos/sin tables for positions `0 .. seq_len`: `cos[p, i] = cos(p · inv_freq[i]) · mscale`
/// (likewise sin), with [`inv_freq`]`(cfg, seq_len)`.
pub fn tables(cfg: &RopeConfig, seq_len: usize) -> Result<RopeTables> {
    tables_for(cfg, seq_len, seq_len)
}

/// Whether a sequence of `seq_len` positions uses longrope's long factors.
pub fn uses_long_factors(cfg: &RopeConfig, seq_len: usize) -> bool {
    matches!(&cfg.scaling, RopeScaling::LongRope { original_max_position_embeddings, .. }
        if seq_len > *original_max_position_embeddings)
}

/// Tables for positions `0 .. positions` with the frequencies chosen for sequences of
/// `seq_len` positions (they differ only for longrope), so a table can cover more positions
/// than the sequence that picks its factors.
pub fn tables_for(cfg: &RopeConfig, seq_len: usize, positions: usize) -> Result<RopeTables> {
    let (inv, mscale) = inv_freq(cfg, seq_len)?;
    let seq_len = positions;
    let half = inv.len();
    let n = seq_len.checked_mul(half).ok_or_else(|| {
        Error::param(
            OP,
            format!("a table of {seq_len} positions × {half} is too large"),
        )
    })?;
    let (mut cos, mut sin) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for p in 0..seq_len {
        let pos = p as f32;
        for &f in &inv {
            let angle = (pos * f) as f64;
            cos.push(angle.cos() as f32 * mscale);
            sin.push(angle.sin() as f32 * mscale);
        }
    }
    Ok(RopeTables {
        cos,
        sin,
        positions: seq_len,
        half,
        attention_scaling: mscale,
    })
}
