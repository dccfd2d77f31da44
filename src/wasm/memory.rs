//! The memory table the page shows after a model's config is read and before its weights load:
//! `train::memory`'s estimate for the page's settings (batch size, sequence length, rank
//! fraction, factor precision), the frozen weights counted as loading keeps them (a safetensors
//! checkpoint's header dtypes; a GGUF file's matrices as the blocks they load as), recomputation as
//! `auto` would choose, against the run's limit: the smaller of the page's "GPU memory" setting
//! (`memory_limit` in the options; browsers report no GPU memory size) and the backend's own
//! (`?max-memory=` on WebGPU, wasm32's 4 GiB for the CPU engine). Reads headers only.
use super::convert::train_options;
use super::engine::BackendInfo;
use super::page_files::Dropped;
use crate::error::{Error, Result};
use crate::model::load::read_config;
use crate::svd::SvdPlan;
use crate::train::memory::{MemoryOptions, StoredSizes, estimate_with, plan_memory_within};
use crate::train::setup::run_limit;
use serde::Serialize;

/// The estimate of one run as the page shows it; bytes throughout.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryView {
    pub weights: u64,
    pub factors: u64,
    pub optimizer: u64,
    pub activations: u64,
    /// The decomposition's working tensors, held before training over weights and factors.
    pub decomposition: u64,
    /// The run's peak: weights, factors and the larger of optimizer + activations and the
    /// decomposition's working tensors.
    pub total: u64,
    /// Whether the activations are recomputed (as `auto` chooses, or as the options ask).
    pub recompute: bool,
    pub batch_size: usize,
    pub seq_len: usize,
    /// The limit the run is checked against (none: no limit known).
    pub limit: Option<u64>,
    /// `"GPU"` or `"host"` (the CPU engine's wasm memory).
    pub device: &'static str,
    /// Whether the run fits `limit`.
    pub fits: bool,
    /// The refusal, with the numbers, when it does not fit (the message the engine would give).
    pub refused: Option<String>,
    /// Bytes no batch shape changes: weights, factors, and the larger of the optimizer and the
    /// decomposition's working tensors (the model cannot train in `limit` at any batch size
    /// when these alone exceed it).
    pub fixed: u64,
}

/// The dropped files (`names[i]` the path of `files[i]`, as for `Session::loadModel`) read for
/// their config and stored tensor sizes.
fn read_model(
    names: Vec<String>,
    files: js_sys::Array,
) -> Result<(crate::model::ModelConfig, StoredSizes)> {
    let files = Dropped::new("memory", names, files)?.open(false)?;
    Ok((read_config(&files)?, StoredSizes::from_files(&files)?))
}

/// The table for the model in `files` and the page's `options` (any subset of `TrainOptions`)
/// on `backend`.
pub fn memory_view(
    backend: &BackendInfo,
    names: Vec<String>,
    files: js_sys::Array,
    options: wasm_bindgen::JsValue,
) -> Result<MemoryView> {
    let o = train_options(options)?;
    let (cfg, stored) = read_model(names, files)?;
    let plan = SvdPlan::new(&cfg, o.rank_fraction, !o.freeze_norms)?;
    let mo = MemoryOptions::for_run(&o, backend.logit_chunk_elements, &stored);
    let limit = run_limit(backend.max_memory_bytes, &o);
    let device = if backend.gpu { "GPU" } else { "host" };
    let (est, refused) = match plan_memory_within(&cfg, &plan, o.recompute, &mo, limit, device) {
        Ok(est) => (est, None),
        Err(e @ Error::OutOfMemory { .. }) => {
            // The numbers of the smallest run (recomputed unless the options forbid it).
            let on = o.recompute != crate::train::memory::Recompute::Off;
            let est = estimate_with(
                &cfg,
                &plan,
                &MemoryOptions {
                    recompute: on,
                    ..mo.clone()
                },
            );
            (est, Some(e.to_string()))
        }
        Err(e) => return Err(e),
    };
    Ok(MemoryView {
        weights: est.weights,
        factors: est.factors,
        optimizer: est.optimizer,
        activations: est.activations,
        decomposition: est.decomposition,
        total: est.total(),
        recompute: est.recompute,
        batch_size: o.batch_size,
        seq_len: o.seq_len,
        limit,
        device,
        fits: refused.is_none(),
        refused,
        fixed: est.weights + est.factors + est.optimizer.max(est.decomposition),
    })
}
