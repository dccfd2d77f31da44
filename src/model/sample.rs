//! Picking the next token from logits: greedy (temperature 0) or temperature + top-p (nucleus)
//! sampling in the order transformers applies them (scale by 1/T, keep the smallest set of most
//! likely tokens whose probability reaches p, renormalise, draw). Seeded and deterministic.
use crate::error::{Error, Result};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// Sampling settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// 0 = greedy (argmax, first index on ties, like `torch.argmax`).
    pub temperature: f32,
    /// Nucleus mass in (0, 1]; 1 keeps every token.
    pub top_p: f32,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

/// Draws tokens with [`Sampling`] settings.
pub struct Sampler {
    cfg: Sampling,
    rng: Xoshiro256PlusPlus,
}

impl Sampler {
    /// Checks the settings: temperature finite and ≥ 0, top_p in (0, 1].
    pub fn new(cfg: Sampling) -> Result<Self> {
        if !(cfg.temperature.is_finite() && cfg.temperature >= 0.0) {
            return Err(Error::param(
                "sampling",
                format!(
                    "temperature must be a finite number ≥ 0, got {}",
                    cfg.temperature
                ),
            ));
        }
        if !(cfg.top_p > 0.0 && cfg.top_p <= 1.0) {
            return Err(Error::param(
                "sampling",
                format!("top_p must be in (0, 1], got {}", cfg.top_p),
            ));
        }
        Ok(Sampler {
            cfg,
            rng: Xoshiro256PlusPlus::seed_from_u64(cfg.seed),
        })
    }

    /// The next token for `logits` `[V]`. Non-finite logits are an error (a broken model).
    pub fn next(&mut self, logits: &[f32]) -> Result<u32> {
        if logits.is_empty() || logits.iter().any(|x| x.is_nan()) {
            return Err(Error::param(
                "sampling",
                "the model produced NaN logits (its weights are broken)",
            ));
        }
        if self.cfg.temperature == 0.0 {
            return Ok(argmax(logits));
        }
        let t = self.cfg.temperature as f64;
        let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let mut probs: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &x)| (i as u32, ((x as f64 - max) / t).exp()))
            .collect();
        let total: f64 = probs.iter().map(|p| p.1).sum();
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut kept = 0;
        let mut mass = 0.0;
        for (_, p) in &probs {
            kept += 1;
            mass += p / total;
            if mass >= self.cfg.top_p as f64 {
                break;
            }
        }
        probs.truncate(kept.max(1));
        let kept_total: f64 = probs.iter().map(|p| p.1).sum();
        let u = (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) * kept_total;
        let mut acc = 0.0;
        for &(id, p) in &probs {
            acc += p;
            if u < acc {
                return Ok(id);
            }
        }
        Ok(probs[probs.len() - 1].0)
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best as u32
}
