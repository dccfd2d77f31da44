//! Text generation with a key/value cache: the prompt goes through the model once (prefill),
//! then each new token is one single-row step attending to the cached keys and values. Stops at
//! an end-of-sequence id or after `max_new_tokens`. Only the last row's logits are read back.
use super::acts::{Activations, HeadActs};
use super::config::ModelConfig;
use super::forward::{Keys, lm_head, run_model};
use super::load::Model;
use super::sample::{Sampler, Sampling};
use crate::backend::Backend;
use crate::error::{Error, Result};

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-sequence token was produced (it is the last token returned).
    Eos,
    /// `max_new_tokens` were produced.
    Length,
    /// The model's `max_position_embeddings` was reached.
    ContextFull,
}

/// The new tokens and why generation stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub stop: StopReason,
}

/// Key/value cache of every layer: `[capacity, Hkv·D]` each.
struct KvCache<T> {
    k: Vec<T>,
    v: Vec<T>,
}

impl<T> KvCache<T> {
    fn new<B: Backend<Tensor = T>>(be: &B, cfg: &ModelConfig, capacity: usize) -> Result<Self> {
        let mut cache = KvCache {
            k: Vec::with_capacity(cfg.num_layers),
            v: Vec::with_capacity(cfg.num_layers),
        };
        for _ in 0..cfg.num_layers {
            cache.k.push(be.zeros(&[capacity, cfg.kv_width()])?);
            cache.v.push(be.zeros(&[capacity, cfg.kv_width()])?);
        }
        Ok(cache)
    }
}

/// The next-token logits `[V]` after `prompt` (one prefill pass).
pub async fn prompt_logits<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    prompt: &[u32],
) -> Result<Vec<f32>> {
    let cfg = model.cfg.clone();
    check_prompt(&cfg, prompt)?;
    let mut cache = KvCache::new(be, &cfg, prompt.len())?;
    let mut head = HeadActs::new(be, &cfg, &model.weights, 1)?;
    let mut logits = be.zeros(&[1, cfg.vocab_size])?;
    let mut acts = Activations::new(be, &cfg, &model.weights, prompt.len(), false)?;
    let mut input = StepInput::new(be, prompt.len())?;
    step(
        be,
        model,
        &mut cache,
        &mut acts,
        &mut input,
        &mut head,
        &mut logits,
        prompt,
        0,
    )
    .await
}

/// A prompt must be non-empty, inside the vocabulary and shorter than the context.
fn check_prompt(cfg: &ModelConfig, prompt: &[u32]) -> Result<()> {
    if prompt.is_empty() {
        return Err(Error::param("generate", "the prompt has no tokens"));
    }
    if let Some(&bad) = prompt.iter().find(|&&id| id as usize >= cfg.vocab_size) {
        return Err(Error::param(
            "generate",
            format!(
                "prompt token {bad} is outside the vocabulary of {}",
                cfg.vocab_size
            ),
        ));
    }
    let limit = cfg.max_position_embeddings;
    if prompt.len() >= limit {
        return Err(Error::param(
            "generate",
            format!(
                "the prompt has {} tokens; the model handles at most {limit} positions",
                prompt.len()
            ),
        ));
    }
    Ok(())
}

/// Generates up to `max_new_tokens` after `prompt`. `on_token` sees each new token as it is
/// produced (for streaming output).
pub async fn generate<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    prompt: &[u32],
    max_new_tokens: usize,
    sampling: Sampling,
    eos_ids: &[u32],
    mut on_token: impl FnMut(u32),
) -> Result<Generation> {
    let each = async |t: u32| on_token(t);
    generate_async(be, model, prompt, max_new_tokens, sampling, eos_ids, each).await
}

/// [`generate`] with an asynchronous `on_token`, awaited after each new token before the next
/// one is computed: the page's engine hands each token to its worker and yields to the worker's
/// event loop there, so the token's message goes out while generation continues.
pub async fn generate_async<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    prompt: &[u32],
    max_new_tokens: usize,
    sampling: Sampling,
    eos_ids: &[u32],
    mut on_token: impl AsyncFnMut(u32),
) -> Result<Generation> {
    let cfg = model.cfg.clone();
    let mut sampler = Sampler::new(sampling)?;
    check_prompt(&cfg, prompt)?;
    let limit = cfg.max_position_embeddings;
    let capacity = (prompt.len() + max_new_tokens).min(limit);
    let mut cache = KvCache::new(be, &cfg, capacity)?;
    let mut head = HeadActs::new(be, &cfg, &model.weights, 1)?;
    let mut logits = be.zeros(&[1, cfg.vocab_size])?;
    let mut tokens = Vec::new();
    if max_new_tokens == 0 {
        return Ok(Generation {
            tokens,
            stop: StopReason::Length,
        });
    }

    let mut prefill = Activations::new(be, &cfg, &model.weights, prompt.len(), false)?;
    let mut next = {
        let mut input = StepInput::new(be, prompt.len())?;
        let row_logits = step(
            be,
            model,
            &mut cache,
            &mut prefill,
            &mut input,
            &mut head,
            &mut logits,
            prompt,
            0,
        )
        .await?;
        sampler.next(&row_logits)?
    };
    drop(prefill);
    let mut single = Activations::new(be, &cfg, &model.weights, 1, false)?;
    let mut input = StepInput::new(be, 1)?;
    loop {
        tokens.push(next);
        on_token(next).await;
        if eos_ids.contains(&next) {
            return Ok(Generation {
                tokens,
                stop: StopReason::Eos,
            });
        }
        if tokens.len() >= max_new_tokens {
            return Ok(Generation {
                tokens,
                stop: StopReason::Length,
            });
        }
        let pos = prompt.len() + tokens.len() - 1;
        if pos >= capacity {
            return Ok(Generation {
                tokens,
                stop: StopReason::ContextFull,
            });
        }
        let row_logits = step(
            be,
            model,
            &mut cache,
            &mut single,
            &mut input,
            &mut head,
            &mut logits,
            &[next],
            pos,
        )
        .await?;
        next = sampler.next(&row_logits)?;
    }
}

/// Token ids and positions of the rows of one step, reused across decode steps.
struct StepInput<I> {
    ids: I,
    positions: I,
}

impl<I> StepInput<I> {
    fn new<B: Backend<Ids = I>>(be: &B, rows: usize) -> Result<Self> {
        Ok(StepInput {
            ids: be.ids(&vec![0; rows])?,
            positions: be.ids(&vec![0; rows])?,
        })
    }
}

/// Runs `ids` (at positions `q_offset ..`) through the model against the cache and returns the
/// logits of the last row.
#[allow(clippy::too_many_arguments)]
async fn step<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    cache: &mut KvCache<B::Tensor>,
    acts: &mut Activations<B::Tensor>,
    input: &mut StepInput<B::Ids>,
    head: &mut HeadActs<B::Tensor>,
    logits: &mut B::Tensor,
    ids: &[u32],
    q_offset: usize,
) -> Result<Vec<f32>> {
    let cfg = &model.cfg;
    let w = &model.weights;
    let rows = ids.len();
    let positions: Vec<u32> = (q_offset..q_offset + rows).map(|p| p as u32).collect();
    be.write_ids(&mut input.ids, ids)?;
    be.write_ids(&mut input.positions, &positions)?;
    let tables = model.rope.all_tables(be, q_offset + rows)?;
    let keys = Keys::Cached {
        k: &mut cache.k,
        v: &mut cache.v,
        q_offset,
    };
    run_model(be, cfg, w, tables, &input.ids, &input.positions, keys, acts)?;
    lm_head(be, w, &acts.hidden, rows - 1, head, logits)?;
    be.flush()?;
    be.read(logits).await
}
