//! `svdtune inspect MODEL --memory`: the memory a training run of the model needs, as
//! [`svdtune::train::memory::estimate_with`] computes it from the config alone (no weight read;
//! for a `.gguf`, its header alone; with `--weights stored`, each tensor's stored size from the
//! safetensors headers or the GGUF tensor table), for the CPU backend's loss chunk at a given
//! batch: weights, factors (`--factor-dtype`), optimizer, activations (`--recompute`) and the
//! total, against a GPU memory size (`--gpu-memory`, which `auto` recomputation is decided
//! against) and the page's wasm32 CPU engine (4 GiB).
use crate::inspect::thousands;
use serde::Serialize;
use svdtune::backend::Backend;
use svdtune::backend::cpu::{CpuBackend, WASM32_MEMORY};
use svdtune::error::human_bytes;
use svdtune::model::ModelConfig;
use svdtune::svd::plan::SvdPlan;
use svdtune::train::memory::{
    FactorDtype, MemoryEstimate, MemoryOptions, Recompute, StoredSizes, WeightStorage,
    estimate_with,
};
use svdtune::{Error, Result};

/// What the estimate is asked for.
pub struct MemoryRequest<'a> {
    pub rank_fraction: f64,
    pub train_norms: bool,
    pub batch: usize,
    pub seq: usize,
    pub recompute: Recompute,
    pub factor_dtype: FactorDtype,
    pub storage: WeightStorage,
    /// Per-tensor stored sizes (read from the headers for [`WeightStorage::Stored`]).
    pub stored: Option<&'a StoredSizes>,
    /// The GPU memory the run should fit, bytes.
    pub gpu_memory: u64,
}

/// The figures printed (and written with `--json`).
#[derive(Serialize)]
pub struct MemoryReport {
    pub batch_size: usize,
    pub seq_len: usize,
    pub rank_fraction: f64,
    pub train_norms: bool,
    pub factor_dtype: FactorDtype,
    pub weight_storage: WeightStorage,
    /// Bytes: weights, factors, optimizer, activations, the decomposition's working tensors
    /// (held before training, so the total counts the larger of it and optimizer +
    /// activations); whether activations are recomputed.
    #[serde(flatten)]
    pub estimate: MemoryEstimate,
    pub total: u64,
    pub gpu_memory: u64,
    pub fits_gpu_memory: bool,
    /// The limit of the page's CPU engine (wasm32 addresses 4 GiB).
    pub wasm32_cpu_limit: u64,
    pub fits_wasm32_cpu: bool,
}

impl MemoryReport {
    /// The estimate for `r`; `auto` recomputes only when the run with stored activations does
    /// not fit `r.gpu_memory`.
    pub fn new(cfg: &ModelConfig, r: &MemoryRequest) -> Result<Self> {
        if r.batch == 0 || r.seq == 0 {
            return Err(Error::Unsupported(
                "--batch-size and --seq-len must be at least 1".into(),
            ));
        }
        let plan = SvdPlan::new(cfg, r.rank_fraction, r.train_norms)?;
        let options = |recompute| MemoryOptions {
            batch: r.batch,
            seq: r.seq,
            logit_chunk_elements: CpuBackend.logit_chunk_elements(),
            recompute,
            factor_dtype: r.factor_dtype,
            storage: r.storage,
            stored: r.stored,
        };
        let with = |on| estimate_with(cfg, &plan, &options(on));
        let est = match r.recompute {
            Recompute::On => with(true),
            Recompute::Off => with(false),
            Recompute::Auto => {
                let stored = with(false);
                if stored.total() <= r.gpu_memory {
                    stored
                } else {
                    with(true)
                }
            }
        };
        Ok(MemoryReport {
            batch_size: r.batch,
            seq_len: r.seq,
            rank_fraction: r.rank_fraction,
            train_norms: r.train_norms,
            factor_dtype: r.factor_dtype,
            weight_storage: r.storage,
            estimate: est,
            total: est.total(),
            gpu_memory: r.gpu_memory,
            fits_gpu_memory: est.total() <= r.gpu_memory,
            wasm32_cpu_limit: WASM32_MEMORY,
            fits_wasm32_cpu: est.total() <= WASM32_MEMORY,
        })
    }

    /// The table on stdout.
    pub fn print(&self) {
        println!(
            "memory of a training run, batches of {} × {}, rank fraction {}{}, {} factors, \
             weights {}, activations {} (estimated from the config and headers):",
            self.batch_size,
            self.seq_len,
            self.rank_fraction,
            if self.train_norms {
                ""
            } else {
                ", norms frozen"
            },
            match self.factor_dtype {
                FactorDtype::F32 => "f32",
                FactorDtype::F16 => "f16",
            },
            match self.weight_storage {
                WeightStorage::UpcastF32 => "as f32",
                WeightStorage::Stored => "as stored",
            },
            if self.estimate.recompute {
                "recomputed in backward"
            } else {
                "stored"
            }
        );
        let e = &self.estimate;
        for (what, bytes) in [
            ("weights", e.weights),
            ("factors", e.factors),
            ("optimizer", e.optimizer),
            ("activations", e.activations),
            ("decomposition", e.decomposition),
            ("total", self.total),
        ] {
            println!(
                "  {what:<13} {:>18} bytes  {:>10}",
                thousands(bytes),
                human_bytes(bytes)
            );
        }
        let fits = |yes: bool| if yes { "fits" } else { "does not fit" };
        println!(
            "  GPU memory {}: {}",
            human_bytes(self.gpu_memory),
            fits(self.fits_gpu_memory)
        );
        println!(
            "  the page's CPU engine (wasm32, {} GiB): {}",
            self.wasm32_cpu_limit >> 30,
            fits(self.fits_wasm32_cpu)
        );
    }
}
