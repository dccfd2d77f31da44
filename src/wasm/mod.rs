//! The `#[wasm_bindgen]` facade: the only JavaScript-facing API. Runs inside the page's worker.
//! [`Session`] is the training page's engine (model, data, decomposition, training, generation,
//! exports, checkpoints); [`engine_check`] and [`plan_summary`] need no session. [`text`] is the
//! data worker's side: chat templates and tokenizers run there, in a wasm instance of their own,
//! so that a hostile template can only end that worker. Errors reach JS as `Error`s with a
//! `kind` ([`crate::Error::kind`]).
mod blob_target;
mod convert;
mod engine;
mod memory;
mod original;
mod page_files;
mod session;
mod text;
mod tiles;
mod work;

pub use session::Session;
pub use text::{encode_dataset, encode_prompt};
/// `initThreadPool(n)` in JS (threaded build only): starts `n` Web Workers that share this
/// instance's memory and makes them rayon's global pool, which the CPU engine's splits use. Call
/// it once, right after `init()` and before any engine call (the first use of the pool without it
/// fixes the pool at one thread, the calling one).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

use crate::backend::Backend;
use crate::backend::cpu::CpuBackend;
use crate::backend::gpu::GpuBackend;
use crate::backend::selfcheck;
use convert::js_err;
use wasm_bindgen::prelude::*;

#[derive(serde::Serialize)]
struct EngineReport {
    /// Adapter description, or `None` when WebGPU is unavailable.
    adapter: Option<String>,
    /// Why no adapter could be used (shown to the user next to the CPU-fallback notice).
    gpu_error: Option<String>,
    max_storage_binding_bytes: Option<u64>,
    results: Vec<selfcheck::CheckResult>,
    elapsed_ms: f64,
}

/// Opens WebGPU and compares every GPU op with the CPU reference.
/// Resolves to `{adapter, gpu_error, max_storage_binding_bytes, results: [{op, max_error, passed}], elapsed_ms}`.
#[wasm_bindgen(js_name = engineCheck)]
pub async fn engine_check() -> Result<JsValue, JsValue> {
    let started = js_sys::Date::now();
    let report = match GpuBackend::new().await {
        Ok(gpu) => {
            let results = selfcheck::compare(&gpu, &CpuBackend)
                .await
                .map_err(js_err)?;
            EngineReport {
                adapter: Some(gpu.name()),
                gpu_error: None,
                max_storage_binding_bytes: Some(gpu.context().max_binding_bytes()),
                results,
                elapsed_ms: js_sys::Date::now() - started,
            }
        }
        Err(e) => EngineReport {
            adapter: None,
            gpu_error: Some(e.to_string()),
            max_storage_binding_bytes: None,
            results: Vec::new(),
            elapsed_ms: js_sys::Date::now() - started,
        },
    };
    convert::to_js(&report).map_err(js_err)
}

/// `{threaded, threads, relaxed}`: whether this build can run threads (feature `threads`: shared
/// memory, atomics), how many threads the CPU engine's splits run on (rayon's pool; 1 without
/// one), and whether it was compiled with relaxed SIMD (fused multiply-adds in the matrix
/// product).
#[wasm_bindgen(js_name = engineThreads)]
pub fn engine_threads() -> Result<JsValue, JsValue> {
    #[derive(serde::Serialize)]
    struct Threads {
        threaded: bool,
        threads: usize,
        relaxed: bool,
    }
    let report = Threads {
        threaded: cfg!(feature = "threads"),
        relaxed: cfg!(target_feature = "relaxed-simd"),
        threads: rayon::current_num_threads(),
    };
    convert::to_js(&report).map_err(js_err)
}

/// The model summary and SVD plan from the text of a `config.json` (no weights needed): the
/// same numbers `svdtune inspect --json` prints. Errors name the option or field at fault.
#[wasm_bindgen(js_name = planSummary)]
pub fn plan_summary(
    config_json: &str,
    rank_fraction: f64,
    freeze_norms: bool,
) -> Result<JsValue, JsValue> {
    let cfg = crate::model::ModelConfig::from_json("config.json", config_json).map_err(js_err)?;
    let summary =
        crate::svd::PlanSummary::new(&cfg, rank_fraction, !freeze_norms).map_err(js_err)?;
    convert::to_js(&summary).map_err(js_err)
}
