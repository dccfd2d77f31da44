//! Training checkpoints: the trainable tensors (Σ, norm weights), the AdamW moments and step, and
//! the run's state (progress through the data, seed, options) as JSON metadata, in one small
//! safetensors file. The frozen factors are not stored: the decomposition is deterministic for a
//! seed and backend, so a resumed run recomputes them and continues exactly.
use super::optim::trainable_mut;
use super::step::Trainer;
use crate::backend::{Backend, TensorInfo};
use crate::error::{Error, Result};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};

/// Format tag checked on load.
const FORMAT: &str = "svdtune-checkpoint-1";

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
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let train_norms = t.train_norms;
    for (i, p) in trainable_mut(&mut t.model.weights, train_norms)
        .into_iter()
        .enumerate()
    {
        let data = be.read(p).await?;
        tensors.push((
            format!("param.{i:05}"),
            p.shape().dims().to_vec(),
            bytes_of(&data),
        ));
    }
    for (kind, list) in [("m", &t.opt.m), ("v", &t.opt.v)] {
        for (i, x) in list.iter().enumerate() {
            let data = be.read(x).await?;
            tensors.push((
                format!("{kind}.{i:05}"),
                x.shape().dims().to_vec(),
                bytes_of(&data),
            ));
        }
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

/// The run state stored in a checkpoint (checks that the file is one).
pub fn read_state(name: &str, bytes: &[u8]) -> Result<RunState> {
    let bad = |m: String| Error::input(name, m);
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| {
        bad(format!(
            "not a readable checkpoint ({e}); it may be incomplete"
        ))
    })?;
    let meta = meta.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad(format!(
            "not an svdtune checkpoint (expected format {FORMAT})"
        )));
    }
    serde_json::from_str(meta.get("state").map(String::as_str).unwrap_or(""))
        .map_err(|e| bad(format!("damaged run state: {e}")))
}

/// Restores a checkpoint made by [`save`] into `t` (same model, plan and options); returns the
/// run state. `name` names the file in errors. A file from another model or plan, or a damaged
/// one, is refused without changing `t`.
pub fn load<B: Backend>(be: &B, t: &mut Trainer<B>, name: &str, bytes: &[u8]) -> Result<RunState> {
    let bad = |m: String| Error::input(name, m);
    let state = read_state(name, bytes)?;
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
    let read = |key: &str, shape: &[usize]| -> Result<Vec<f32>> {
        let v = st.tensor(key).map_err(|_| {
            bad(format!(
                "tensor {key} is missing: another rank fraction or norm setting?"
            ))
        })?;
        if v.dtype() != Dtype::F32 || v.shape() != shape {
            return Err(bad(format!(
                "tensor {key} has shape {:?}, this run needs {shape:?} (another rank fraction?)",
                v.shape()
            )));
        }
        Ok(v.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    // Read and check everything before writing anything.
    let train_norms = t.train_norms;
    let params = trainable_mut(&mut t.model.weights, train_norms);
    let n = params.len();
    let expected = n * 3;
    if st.len() != expected {
        return Err(bad(format!(
            "holds {} tensors, this run has {expected} (another rank fraction or norm setting?)",
            st.len()
        )));
    }
    let mut values = Vec::with_capacity(expected);
    for (i, p) in params.iter().enumerate() {
        values.push(read(&format!("param.{i:05}"), p.shape().dims())?);
    }
    for (kind, list) in [("m", &t.opt.m), ("v", &t.opt.v)] {
        for (i, x) in list.iter().enumerate() {
            values.push(read(&format!("{kind}.{i:05}"), x.shape().dims())?);
        }
    }
    let mut values = values.into_iter();
    for p in trainable_mut(&mut t.model.weights, train_norms) {
        be.write(p, &values.next().unwrap_or_default())?;
    }
    for x in t.opt.m.iter_mut().chain(t.opt.v.iter_mut()) {
        be.write(x, &values.next().unwrap_or_default())?;
    }
    t.opt.step = state.step;
    Ok(state)
}
