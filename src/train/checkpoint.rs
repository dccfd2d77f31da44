//! Training checkpoints: the trainable tensors (Σ, norm weights), the AdamW moments and step, and
//! the run's state (progress through the data, seed, options) as JSON metadata, in one small
//! safetensors file. The frozen factors are not stored: the decomposition is deterministic for a
//! seed and backend, so a resumed run recomputes them and continues exactly.
//!
//! Tensors are keyed by the name of what they hold, the [`trainables`] registry's
//! [`Key::trained_name`](trainables::Key::trained_name): `sigma:model.layers.0.self_attn.q_proj`,
//! `norm:model.norm.weight`, and the moments `m:sigma:…`, `v:sigma:…`. Files of format 1 named
//! them by position (`param.00012`, `m.00012`, `v.00012`) in the registry's order, which is the
//! order that format wrote; they still load, each position mapped to its name through that
//! order, and errors name both.
use super::step::Trainer;
use crate::backend::{Backend, TensorInfo};
use crate::error::{Error, Result};
use crate::model::trainables;
use crate::model::weights::ModelWeights;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Format tag written, and checked on load.
const FORMAT: &str = "svdtune-checkpoint-2";
/// The earlier format: tensors named by position (`param.NNNNN`, `m.NNNNN`, `v.NNNNN`).
const FORMAT_POSITIONAL: &str = "svdtune-checkpoint-1";

/// Where a run stands, stored beside the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Optimizer steps applied.
    pub step: u32,
    /// Steps attempted (applied or skipped as non-finite).
    pub steps_done: usize,
    /// Epoch and position in that epoch's batch order.
    pub epoch: usize,
    pub batch_in_epoch: usize,
    pub seed: u64,
    /// The training options, as the caller serialized them (checked on resume).
    pub options: serde_json::Value,
    /// `model_type`, layers and hidden size of the model it belongs to.
    pub model: String,
}

fn bytes_of(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn model_id<B: Backend>(t: &Trainer<B>) -> String {
    let c = &t.model.cfg;
    format!(
        "{} {}×{} vocab {}",
        c.family.model_type(),
        c.num_layers,
        c.hidden_size,
        c.vocab_size
    )
}

/// Serializes the trainer's trainable tensors, optimizer state and `state`.
pub async fn save<B: Backend>(be: &B, t: &mut Trainer<B>, state: &RunState) -> Result<Vec<u8>> {
    let mut state = state.clone();
    state.step = t.opt.step;
    state.model = model_id(t);
    held_shapes(t)?; // the moments pair with the trained tensors
    let names = stored_names(&t.model.weights, t.train_norms, FORMAT);
    let trained = trainables::trained(&t.model.weights, t.train_norms);
    let held = trained
        .iter()
        .map(|(_, p)| *p)
        .chain(&t.opt.m)
        .chain(&t.opt.v);
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(names.len());
    for ((name, _), x) in names.into_iter().zip(held) {
        let data = be.read(x).await?;
        tensors.push((name, x.shape().dims().to_vec(), bytes_of(&data)));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let views = tensors
        .iter()
        .map(|(n, s, b)| {
            TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::param("checkpoint", e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let sum = checksum(tensors.iter().map(|(n, _, b)| (n.as_str(), b.as_slice())));
    let meta = [
        ("format".to_string(), FORMAT.to_string()),
        ("checksum".to_string(), sum),
        (
            "state".to_string(),
            serde_json::to_string(&state).map_err(|e| Error::param("checkpoint", e.to_string()))?,
        ),
    ]
    .into_iter()
    .collect();
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::param("checkpoint", e.to_string()))
}

/// CRC-32 of every tensor's name and bytes, in name order, as 8 hex digits: a checkpoint written
/// half-way or altered afterwards never reads as valid.
fn checksum<'a>(tensors: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = crc32fast::Hasher::new();
    for (name, bytes) in tensors {
        h.update(name.as_bytes());
        h.update(bytes);
    }
    format!("{:08x}", h.finalize())
}

/// The name each tensor of a checkpoint in `format` has, with the name of what it holds (the
/// same for format 2): the trained tensors, then their first moments, then their second
/// moments, each in registry order (the order of the tensors `Trainer` holds).
fn stored_names<T>(w: &ModelWeights<T>, train_norms: bool, format: &str) -> Vec<(String, String)> {
    let keys: Vec<String> = trainables::trained(w, train_norms)
        .iter()
        .map(|(k, _)| k.trained_name())
        .collect();
    let mut out = Vec::with_capacity(3 * keys.len());
    for (prefix, positional) in [("", "param"), ("m:", "m"), ("v:", "v")] {
        for (i, k) in keys.iter().enumerate() {
            let what = format!("{prefix}{k}");
            let stored = if format == FORMAT_POSITIONAL {
                format!("{positional}.{i:05}")
            } else {
                what.clone()
            };
            out.push((stored, what));
        }
    }
    out
}

/// The shapes of the tensors a checkpoint of `t` holds, in the order of [`stored_names`].
fn held_shapes<B: Backend>(t: &Trainer<B>) -> Result<Vec<Vec<usize>>> {
    let trained = trainables::trained(&t.model.weights, t.train_norms);
    if t.opt.m.len() != trained.len() || t.opt.v.len() != trained.len() {
        return Err(Error::param(
            "checkpoint",
            format!(
                "{} trained tensors but {} and {} moment buffers",
                trained.len(),
                t.opt.m.len(),
                t.opt.v.len()
            ),
        ));
    }
    Ok(trained
        .iter()
        .map(|(_, p)| *p)
        .chain(&t.opt.m)
        .chain(&t.opt.v)
        .map(|x| x.shape().dims().to_vec())
        .collect())
}

/// The run state stored in a checkpoint (checks that the file is one).
pub fn read_state(name: &str, bytes: &[u8]) -> Result<RunState> {
    read_meta(name, bytes).map(|(_, state)| state)
}

/// The format tag and the run state of a checkpoint.
fn read_meta(name: &str, bytes: &[u8]) -> Result<(String, RunState)> {
    let bad = |m: String| Error::input(name, m);
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| {
        bad(format!(
            "not a readable checkpoint ({e}); it may be incomplete"
        ))
    })?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let format = meta.get("format").cloned().unwrap_or_default();
    if format != FORMAT && format != FORMAT_POSITIONAL {
        return Err(bad(format!(
            "not an svdtune checkpoint (expected format {FORMAT} or {FORMAT_POSITIONAL})"
        )));
    }
    let state = serde_json::from_str(meta.get("state").map(String::as_str).unwrap_or(""))
        .map_err(|e| bad(format!("damaged run state: {e}")))?;
    Ok((format, state))
}

/// Restores a checkpoint made by [`save`] into `t` (same model, plan and options); returns the
/// run state. `name` names the file in errors. A file from another model or plan, or a damaged
/// one, is refused without changing `t`.
pub fn load<B: Backend>(be: &B, t: &mut Trainer<B>, name: &str, bytes: &[u8]) -> Result<RunState> {
    let bad = |m: String| Error::input(name, m);
    let (format, state) = read_meta(name, bytes)?;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| {
        bad(format!(
            "not a readable checkpoint ({e}); it may be incomplete"
        ))
    })?;
    let mut names: Vec<&str> = st.names().into_iter().collect();
    names.sort_unstable();
    let views: Vec<(&str, TensorView<'_>)> = names
        .iter()
        .filter_map(|&n| st.tensor(n).ok().map(|v| (n, v)))
        .collect();
    let found = checksum(views.iter().map(|(n, v)| (*n, v.data())));
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a readable checkpoint ({e})")))?;
    let stored = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("checksum").cloned());
    if stored.as_deref() != Some(found.as_str()) {
        return Err(bad(
            "damaged: its checksum does not match its contents (written half-way or altered); \
             it was not used"
                .to_string(),
        ));
    }
    if state.model != model_id(t) {
        return Err(bad(format!(
            "belongs to a different model ({}; this one is {})",
            state.model,
            model_id(t)
        )));
    }
    let read = |(stored, what): &(String, String), shape: &[usize]| -> Result<Vec<f32>> {
        let label = if stored == what {
            format!("tensor `{what}`")
        } else {
            format!("tensor `{stored}` ({what})")
        };
        let v = st.tensor(stored).map_err(|_| {
            bad(format!(
                "{label} is missing: another rank fraction or norm setting?"
            ))
        })?;
        if v.dtype() != Dtype::F32 || v.shape() != shape {
            return Err(bad(format!(
                "{label} is {:?} {:?}, this run needs F32 {shape:?} (another rank fraction?)",
                v.dtype(),
                v.shape()
            )));
        }
        Ok(v.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    // Read and check everything before writing anything.
    let expected = stored_names(&t.model.weights, t.train_norms, &format);
    if format == FORMAT_POSITIONAL && st.len() != expected.len() {
        return Err(bad(format!(
            "holds {} tensors, this run has {} (another rank fraction or norm setting?)",
            st.len(),
            expected.len()
        )));
    }
    let known: HashSet<&str> = expected.iter().map(|(s, _)| s.as_str()).collect();
    if let Some(extra) = names.iter().find(|n| !known.contains(**n)) {
        return Err(bad(format!(
            "tensor `{extra}` is not one this run trains (another rank fraction or norm \
             setting, or another model?)"
        )));
    }
    let values = expected
        .iter()
        .zip(held_shapes(t)?)
        .map(|(names, shape)| read(names, &shape))
        .collect::<Result<Vec<_>>>()?;
    let mut values = values.into_iter();
    for (_, p) in trainables::trained_mut(&mut t.model.weights, t.train_norms) {
        be.write(p, &values.next().unwrap_or_default())?;
    }
    for x in t.opt.m.iter_mut().chain(t.opt.v.iter_mut()) {
        be.write(x, &values.next().unwrap_or_default())?;
    }
    t.opt.step = state.step;
    Ok(state)
}
