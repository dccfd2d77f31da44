//! What `GpuBackend` tells about itself while it runs, and the switches measurements use: its
//! buffer bytes (live, peak, the peak restarted per phase), record-only mode, the caches'
//! sizes, kernel variants, dispatch and transfer counts, and timestamp profiles
//! (`svdtune bench`, the memory and cache tests).
use super::recorder::{self, GpuCacheStats};
use super::{GpuBackend, GpuTuning};
use super::{KernelClock, KernelTime};
use crate::error::{Error, Result};

impl GpuBackend {
    /// GPU buffer bytes held now and at most so far (weights, activations, scratch).
    pub fn memory(&self) -> recorder::GpuMemory {
        self.rec.memory()
    }
    /// Record only (`svdtune bench --record-only`): from now on every command is recorded and
    /// every buffer made exactly as in a real run, but no command is submitted, so the kernels do
    /// not run and every value read back is zero. [`GpuBackend::memory`] then gives a run's
    /// buffer bytes at any shape in the time it takes to upload the weights (allocation does not
    /// depend on the values).
    pub fn set_record_only(&self, on: bool) {
        self.rec.record_only.set(on);
    }
    /// Starts [`GpuMemory::peak_bytes`] again from the bytes held now, so the next reading is
    /// the peak of what runs in between (`svdtune bench`: the decomposition's, then the steps').
    pub fn restart_peak(&self) {
        self.rec.collect();
        self.rec.ledger.restart_peak();
    }
    /// Number of cached bind groups (tests check that repeated steps create none).
    pub fn cached_bind_groups(&self) -> usize {
        self.rec.cached_bind_groups()
    }
    /// Live bind groups, pipelines, buffers and bytes, and how many of each were created so far
    /// (a training loop past its first steps creates none).
    pub fn cache_stats(&self) -> GpuCacheStats {
        self.rec.stats()
    }
    /// The kernel variants in use.
    pub fn tuning(&self) -> GpuTuning {
        self.rec.tuning.get()
    }
    /// Chooses the kernel variants of the work recorded from now on (checked first).
    pub fn set_tuning(&self, tuning: GpuTuning) -> Result<()> {
        tuning.check()?;
        if tuning.f16_tiles && !self.context().has_shader_f16() {
            return Err(Error::param(
                "gpu tuning",
                format!(
                    "f16_tiles=1 needs shader-f16, which {} does not offer",
                    self.context().describe()
                ),
            ));
        }
        if tuning.subgroup_reduce && !self.context().has_subgroups() {
            return Err(Error::param(
                "gpu tuning",
                format!(
                    "subgroup_reduce=1 needs subgroup operations, which {} does not offer{}",
                    self.context().describe(),
                    if cfg!(target_arch = "wasm32") {
                        " here (a native setting)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        self.rec.tuning.set(tuning);
        Ok(())
    }
    /// Dispatches recorded per kernel (shader name) since the last call, largest count first;
    /// the counts start again from zero (`svdtune bench` reads them around one step).
    pub fn take_dispatch_counts(&self) -> Vec<(&'static str, u64)> {
        self.rec.take_dispatch_counts()
    }
    /// Starts timing every dispatch (up to `max_dispatches`) with GPU timestamps, or natively
    /// without them with the wall clock of each dispatch alone; `None` where neither is
    /// possible (a browser without timestamps). See `profile.rs`.
    pub fn start_profile(&self, max_dispatches: usize) -> Result<Option<KernelClock>> {
        self.rec.start_profile(max_dispatches)
    }
    /// As [`GpuBackend::start_profile`] with this clock; false when the device cannot give it.
    pub fn start_profile_with(&self, max_dispatches: usize, clock: KernelClock) -> Result<bool> {
        self.rec.start_profile_with(max_dispatches, clock)
    }
    /// Time per kernel since [`GpuBackend::start_profile`], longest first.
    pub async fn take_profile(&self) -> Result<Option<Vec<KernelTime>>> {
        self.rec.take_profile().await
    }
    /// Buffer copies and clears recorded since the last call (they are not dispatches).
    pub fn take_transfer_count(&self) -> u64 {
        self.rec.take_transfer_count()
    }
}
