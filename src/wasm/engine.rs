//! The session's engine on one of the two backends: WebGPU when the browser gives an adapter,
//! otherwise the CPU backend (slower; the page says so). [`on_work!`] runs the same generic code
//! on whichever it is.
use super::work::Work;
use crate::backend::Backend;
use crate::backend::cpu::CpuBackend;
use crate::backend::gpu::{DeviceCaps, GpuBackend};
use serde::Serialize;

/// The engine, on the GPU or on the CPU.
pub enum AnyWork {
    Gpu(Box<Work<GpuBackend>>),
    Cpu(Box<Work<CpuBackend>>),
}

/// Which backend a session got, and why not the GPU when it did not.
#[derive(Clone, Debug, Serialize)]
pub struct BackendInfo {
    /// `true` on WebGPU.
    pub gpu: bool,
    /// The backend's name (the adapter's on WebGPU).
    pub name: String,
    /// Why WebGPU is not used (no `navigator.gpu`, no adapter, the device failed, or the page
    /// asked for the CPU).
    pub gpu_error: Option<String>,
    /// The device's largest storage binding, in bytes (WebGPU only).
    pub max_binding_bytes: Option<u64>,
    /// The most memory a run may hold, when known: the `?max-memory=` budget on WebGPU (browsers
    /// report no GPU memory size), wasm32's 4 GiB for the CPU engine.
    pub max_memory_bytes: Option<u64>,
    /// The backend's [`Backend::logit_chunk_elements`] (the memory estimate needs it).
    pub logit_chunk_elements: usize,
}

/// Runs `$body` with `$w` bound to the `Work<B>` of either backend.
macro_rules! on_work {
    ($any:expr, $w:ident => $body:expr) => {
        match $any {
            $crate::wasm::engine::AnyWork::Gpu($w) => $body,
            $crate::wasm::engine::AnyWork::Cpu($w) => $body,
        }
    };
}
pub(crate) use on_work;

/// WebGPU unless `cpu_only` or unavailable, else the CPU backend; `caps` lower the largest
/// storage binding and the memory budget (to see what a smaller GPU would refuse).
pub async fn open(cpu_only: bool, caps: DeviceCaps) -> (AnyWork, BackendInfo) {
    let gpu_error = if cpu_only {
        "the CPU engine was chosen".to_string()
    } else {
        match GpuBackend::with_caps(caps).await {
            Ok(gpu) => {
                let info = BackendInfo {
                    gpu: true,
                    name: gpu.name(),
                    gpu_error: None,
                    max_binding_bytes: Some(gpu.context().max_binding_bytes()),
                    max_memory_bytes: gpu.memory_limit(),
                    logit_chunk_elements: gpu.logit_chunk_elements(),
                };
                return (AnyWork::Gpu(Box::new(Work::new(gpu))), info);
            }
            Err(e) => e.to_string(),
        }
    };
    let info = BackendInfo {
        gpu: false,
        name: CpuBackend.name(),
        gpu_error: Some(gpu_error),
        max_binding_bytes: None,
        max_memory_bytes: CpuBackend.memory_limit(),
        logit_chunk_elements: CpuBackend.logit_chunk_elements(),
    };
    (AnyWork::Cpu(Box::new(Work::new(CpuBackend))), info)
}
