//! GPU adapter and device, natively (any wgpu backend: Vulkan, Metal, DX12; lavapipe in CI) and in
//! the browser (WebGPU), behind one async constructor. Device errors are captured, not panics.
use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

/// Portability caps every browser adapter grants; requested as the device's limits so native runs
/// fail the same way a browser would if a kernel exceeded them.
pub const MAX_STORAGE_BUFFERS_PER_STAGE: u32 = 8;
pub const MAX_INVOCATIONS_PER_WORKGROUP: u32 = 256;
pub const MAX_BIND_GROUPS: u32 = 4;

/// Subgroup operations, requested natively where the adapter has them (GPU tuning
/// `subgroup_reduce`); in browsers none (WebGPU's `subgroups` is not used).
#[cfg(not(target_arch = "wasm32"))]
const NATIVE_SUBGROUPS: wgpu::Features = wgpu::Features::SUBGROUP;
#[cfg(target_arch = "wasm32")]
const NATIVE_SUBGROUPS: wgpu::Features = wgpu::Features::empty();

/// Ends a device from outside the engine: [`GpuContext::loss_handle`].
#[derive(Clone)]
pub struct LossHandle {
    device: wgpu::Device,
    lost: Arc<Mutex<Option<String>>>,
}

impl LossHandle {
    /// See [`GpuContext::lose`].
    pub fn lose(&self) {
        if let Ok(mut slot) = self.lost.lock() {
            slot.get_or_insert_with(|| "destroyed on request".to_string());
        }
        self.device.destroy();
    }
}

/// Limits lower than the device's own, so that a device can behave like a smaller GPU (the page's
/// `?max-binding=` and `?max-memory=`, the tests, `--gpu-memory` on the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeviceCaps {
    /// Largest storage binding, bytes.
    pub binding: Option<u64>,
    /// Most buffer bytes held at once.
    pub memory: Option<u64>,
}

/// Owns the device and queue; created once per engine.
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// The first uncaptured device error (validation, internal), reported by `take_error`.
    error: Arc<Mutex<Option<String>>>,
    /// The first out-of-memory error, reported by the allocation that caused it (natively) or
    /// by `take_error` (in the browser, where it arrives later).
    oom: Arc<Mutex<Option<String>>>,
    /// Why the device was lost (driver reset, browser tab in the background too long, `lose`),
    /// once it is; every later call fails with `Error::DeviceLost`.
    lost: Arc<Mutex<Option<String>>>,
    /// Lower limits than the device's, when asked for.
    caps: DeviceCaps,
}

impl GpuContext {
    /// Finds an adapter and opens a device with the adapter's own buffer-size limits (the WebGPU
    /// defaults of 128 MiB per binding are too small for embeddings and heads of common models),
    /// capped to the portable per-stage and per-workgroup limits above.
    pub async fn new() -> Result<Self> {
        Self::with_binding_cap(None).await
    }

    /// As [`GpuContext::new`], with the largest storage binding lowered to `cap` bytes when
    /// given (enforced by the engine, since browsers never grant less than the WebGPU
    /// defaults): a device that behaves like a smaller GPU, so the page and the tests can check
    /// what a user with one sees.
    pub async fn with_binding_cap(cap: Option<u64>) -> Result<Self> {
        Self::with_caps(DeviceCaps {
            binding: cap,
            memory: None,
        })
        .await
    }

    /// As [`GpuContext::new`], with the given lower limits: buffers beyond `caps.memory` bytes
    /// held at once are refused as out of memory, exactly as a real exhausted GPU reports it.
    /// Natively, wgpu is also asked to refuse allocations past 95 % of the driver's memory
    /// budget (Vulkan with `VK_EXT_memory_budget`, D3D12), rather than let the driver fail
    /// later.
    pub async fn with_caps(caps: DeviceCaps) -> Result<Self> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.memory_budget_thresholds.for_resource_creation = Some(95);
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| Error::NoAdapter(e.to_string()))?;
        let mut limits = adapter.limits();
        limits.max_storage_buffers_per_shader_stage = limits
            .max_storage_buffers_per_shader_stage
            .min(MAX_STORAGE_BUFFERS_PER_STAGE);
        limits.max_compute_invocations_per_workgroup = limits
            .max_compute_invocations_per_workgroup
            .min(MAX_INVOCATIONS_PER_WORKGROUP);
        limits.max_bind_groups = limits.max_bind_groups.min(MAX_BIND_GROUPS);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("svdtune"),
                // Timestamps only serve `svdtune bench`'s time per kernel (`profile.rs`); f16
                // only the `f16_tiles` setting, subgroups (natively) only `subgroup_reduce`
                // (`tuning.rs`).
                required_features: adapter.features()
                    & (wgpu::Features::TIMESTAMP_QUERY
                        | wgpu::Features::SHADER_F16
                        | NATIVE_SUBGROUPS),
                required_limits: limits,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Device(format!("request_device: {e}")))?;
        let error = Arc::new(Mutex::new(None));
        let oom = Arc::new(Mutex::new(None));
        let (sink, oom_sink) = (error.clone(), oom.clone());
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let slot = match e {
                wgpu::Error::OutOfMemory { .. } => &oom_sink,
                _ => &sink,
            };
            if let Ok(mut slot) = slot.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = sink.lock() {
                let why = match reason {
                    wgpu::DeviceLostReason::Destroyed => "destroyed",
                    wgpu::DeviceLostReason::Unknown => "lost by the driver or the browser",
                };
                let message = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                slot.get_or_insert_with(|| format!("{why}{message}"));
            }
        });
        Ok(GpuContext {
            adapter,
            device,
            queue,
            error,
            oom,
            lost,
            caps,
        })
    }

    /// Ends the device now, as a driver reset would: every later call fails with
    /// `Error::DeviceLost`. Lets a user (and the tests) check that a run survives it.
    pub fn lose(&self) {
        self.loss_handle().lose();
    }

    /// A handle that can end the device while the engine is busy with it (see [`Self::lose`]).
    pub fn loss_handle(&self) -> LossHandle {
        LossHandle {
            device: self.device.clone(),
            lost: self.lost.clone(),
        }
    }

    /// `Error::DeviceLost` once the device is gone.
    pub fn check_lost(&self) -> Result<()> {
        match self.lost.lock().ok().and_then(|s| s.clone()) {
            Some(why) => Err(Error::DeviceLost(why)),
            None => Ok(()),
        }
    }

    /// `"<adapter name> (<backend>)"`; browsers may hide the name, then the driver description
    /// (if any) stands in for it.
    pub fn describe(&self) -> String {
        let info = self.adapter.get_info();
        let name = [&info.name, &info.driver_info, &info.driver]
            .into_iter()
            .find(|s| !s.is_empty())
            .map_or("unnamed adapter", |s| s.as_str());
        format!("{name} ({:?})", info.backend)
    }

    /// Whether shaders may use subgroup operations (natively only: `subgroup_reduce`).
    pub fn has_subgroups(&self) -> bool {
        !NATIVE_SUBGROUPS.is_empty() && self.device.features().contains(NATIVE_SUBGROUPS)
    }

    /// Whether shaders may use f16 arithmetic and storage (`shader-f16`).
    pub fn has_shader_f16(&self) -> bool {
        self.device.features().contains(wgpu::Features::SHADER_F16)
    }

    /// The adapter as exactly as wgpu names it (name, backend, PCI ids, driver): the key of
    /// measurements kept per adapter.
    pub fn adapter_key(&self) -> String {
        let i = self.adapter.get_info();
        format!(
            "{} | {:?} | {:04x}:{:04x} | {} {}",
            i.name, i.backend, i.vendor, i.device, i.driver, i.driver_info
        )
    }

    /// Why this adapter is a GPU emulated in software (llvmpipe, SwiftShader, …), if it is one
    /// (see [`super::software`]).
    pub fn software_reason(&self) -> Option<String> {
        super::software::software_reason(&self.adapter.get_info())
    }

    /// Largest buffer that can be bound as one storage binding on this device.
    pub fn max_binding_bytes(&self) -> u64 {
        let l = self.device.limits();
        let device = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
        self.caps.binding.map_or(device, |cap| cap.min(device))
    }

    /// Most buffer bytes this engine may hold at once, when a budget was set.
    pub fn memory_cap(&self) -> Option<u64> {
        self.caps.memory
    }

    /// Returns (and clears) the out-of-memory error seen since the last call, if any.
    pub fn take_oom(&self) -> Option<String> {
        self.oom.lock().ok().and_then(|mut s| s.take())
    }

    /// Returns (and clears) the first device error seen since the last call; a lost device
    /// comes first, then running out of memory (`held` bytes in use: the message says so).
    pub fn take_error(&self, held: u64) -> Result<()> {
        self.check_lost()?;
        if let Some(msg) = self.take_oom() {
            return Err(Error::OutOfMemory {
                device: "GPU",
                what: format!("this step's buffers ({msg})"),
                bytes: None,
                held,
                limit: self.caps.memory,
            });
        }
        match self.error.lock().ok().and_then(|mut s| s.take()) {
            Some(msg) => Err(Error::Device(msg)),
            None => Ok(()),
        }
    }

    /// Waits for submitted work natively (no-op on the web, where the browser drives callbacks).
    pub fn poll_wait(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Device(format!("poll: {e}")))?;
        Ok(())
    }
}
