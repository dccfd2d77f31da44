//! AdamW over the trainable vectors (Σ of every decomposed layer, norm weights) with clipping by
//! the global gradient norm, and the learning-rate schedules (linear warmup, then cosine, linear
//! or constant, as transformers' `get_*_schedule_with_warmup` define them).
use super::grads::Grads;
use crate::backend::{AdamW, Backend};
use crate::error::{Error, Result};
use crate::model::trainables::Key;

/// The decay after warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    Cosine,
    Linear,
    Constant,
}

impl std::str::FromStr for Decay {
    type Err = Error;
    fn from_str(s: &str) -> Result<Decay> {
        match s {
            "cosine" => Ok(Decay::Cosine),
            "linear" => Ok(Decay::Linear),
            "constant" => Ok(Decay::Constant),
            other => Err(Error::param(
                "schedule",
                format!("unknown schedule \"{other}\" (supported: cosine, linear, constant)"),
            )),
        }
    }
}

/// Learning rate per optimizer step.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    pub peak_lr: f32,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub decay: Decay,
}

impl Schedule {
    /// The rate of optimizer step `step` (0-based): `peak · step / warmup` during warmup, then
    /// the decay over the remaining steps (cosine: `0.5 · (1 + cos(π · progress))`).
    pub fn lr(&self, step: usize) -> f32 {
        let peak = self.peak_lr as f64;
        if step < self.warmup_steps {
            return (peak * step as f64 / self.warmup_steps.max(1) as f64) as f32;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let factor = match self.decay {
            Decay::Constant => 1.0,
            Decay::Linear => 1.0 - progress,
            Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        };
        (peak * factor.max(0.0)) as f32
    }
}

/// AdamW settings other than the rate.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Clip the global gradient norm to this (`f32::INFINITY`: no clipping).
    pub max_grad_norm: f32,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
        }
    }
}

/// The grouped tensors of an [`Optimizer`] (see [`Backend::group`]).
struct Flat<T> {
    params: T,
    m: T,
    v: T,
}

/// AdamW moments of every trainable tensor (in the order of [`Grads::all`]) and the step count.
pub struct Optimizer<T> {
    pub m: Vec<T>,
    pub v: Vec<T>,
    /// The trained tensors and both moments each in one buffer, when the backend groups tensors
    /// ([`Optimizer::group`]): one norm and one AdamW dispatch per step instead of one per tensor.
    flat: Option<Flat<T>>,
    /// `[1]`: the global gradient norm of the last step (before clipping).
    pub grad_norm: T,
    /// Optimizer steps applied so far (AdamW's bias correction uses `step + 1`).
    pub step: u32,
    pub config: AdamWConfig,
}

impl<T: crate::backend::TensorInfo> Optimizer<T> {
    /// Zero moments shaped like `grads`.
    pub fn new<B: Backend<Tensor = T>>(
        be: &B,
        grads: &Grads<T>,
        config: AdamWConfig,
    ) -> Result<Self> {
        let shapes: Vec<Vec<usize>> = grads
            .all()
            .iter()
            .map(|g| g.shape().dims().to_vec())
            .collect();
        Ok(Optimizer {
            m: shapes.iter().map(|s| be.zeros(s)).collect::<Result<_>>()?,
            v: shapes.iter().map(|s| be.zeros(s)).collect::<Result<_>>()?,
            grad_norm: be.zeros(&[1])?,
            flat: None,
            step: 0,
            config,
        })
    }

    /// Places `params` (the trained tensors, from
    /// [`trained_mut`](crate::model::trainables::trained_mut), checked by key), their gradients
    /// and both moments each in one buffer where the backend groups tensors
    /// ([`Backend::group`]); a no-op elsewhere. `params` must stay the model's tensors (written
    /// in place, never replaced) for as long as this optimizer updates them.
    pub fn group<B: Backend<Tensor = T>>(
        &mut self,
        be: &B,
        mut params: Vec<(Key, &mut T)>,
        grads: &mut Grads<T>,
    ) -> Result<()> {
        grads.check_keys(params.iter().map(|(k, _)| *k))?;
        grads.group(be)?;
        let mut refs: Vec<&mut T> = params.iter_mut().map(|(_, p)| &mut **p).collect();
        let params = be.group(&mut refs)?;
        let m = be.group(&mut self.m.iter_mut().collect::<Vec<_>>())?;
        let v = be.group(&mut self.v.iter_mut().collect::<Vec<_>>())?;
        self.flat = match (params, m, v, grads.flat()) {
            (Some(params), Some(m), Some(v), Some(_)) => Some(Flat { params, m, v }),
            _ => None,
        };
        Ok(())
    }

    /// Records one update of `params` (from [`trained_mut`](crate::model::trainables::trained_mut),
    /// the same trained tensors as `grads`, checked by key) at rate `lr`: the global norm of
    /// `grads`, then AdamW with clipping. The kernels leave everything unchanged when the norm
    /// is not finite; the caller reads `grad_norm` and calls [`Optimizer::applied`] if it was.
    pub fn update<B: Backend<Tensor = T>>(
        &mut self,
        be: &B,
        params: Vec<(Key, &mut T)>,
        grads: &Grads<T>,
        lr: f32,
    ) -> Result<()> {
        grads.check_keys(params.iter().map(|(k, _)| *k))?;
        let gs = grads.all();
        if gs.len() != self.m.len() {
            return Err(Error::param(
                "optimizer",
                format!("{} gradients, {} moment buffers", gs.len(), self.m.len()),
            ));
        }
        let c = self.config;
        let hp = AdamW {
            lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weight_decay: c.weight_decay,
            step: self.step + 1,
            max_grad_norm: c.max_grad_norm,
        };
        if let (Some(f), Some(g)) = (&mut self.flat, grads.flat()) {
            // Zeros between the tensors: they add nothing to the norm, and stay zero.
            be.global_norm(&[g], &mut self.grad_norm)?;
            return be.adamw(&mut f.params, g, &mut f.m, &mut f.v, &self.grad_norm, hp);
        }
        be.global_norm(&gs, &mut self.grad_norm)?;
        for ((((_, p), g), m), v) in params.into_iter().zip(gs).zip(&mut self.m).zip(&mut self.v) {
            be.adamw(p, g, m, v, &self.grad_norm, hp)?;
        }
        Ok(())
    }

    /// Counts an update whose gradient norm was finite (so the kernels applied it).
    pub fn applied(&mut self) {
        self.step += 1;
    }
}
