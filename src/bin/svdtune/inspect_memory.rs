//! `svdtune inspect MODEL --memory`: the memory a training run of the model needs, as
//! [`svdtune::train::memory::estimate`] computes it from the config alone (no weight read; for a
//! `.gguf`, its header alone), for the CPU backend at a given batch: weights, optimizer,
//! activations and the total, and whether it fits the page's wasm32 CPU engine (4 GiB).
use crate::inspect::thousands;
use serde::Serialize;
use svdtune::backend::Backend;
use svdtune::backend::cpu::{CpuBackend, WASM32_MEMORY};
use svdtune::error::human_bytes;
use svdtune::model::ModelConfig;
use svdtune::svd::plan::SvdPlan;
use svdtune::train::memory::{MemoryEstimate, estimate};
use svdtune::{Error, Result};

/// The figures printed (and written with `--json`).
#[derive(Serialize)]
pub struct MemoryReport {
    pub batch_size: usize,
    pub seq_len: usize,
    pub rank_fraction: f64,
    pub train_norms: bool,
    /// Bytes: weights, optimizer, activations.
    #[serde(flatten)]
    pub estimate: MemoryEstimate,
    pub total: u64,
    /// The limit of the page's CPU engine (wasm32 addresses 4 GiB).
    pub wasm32_cpu_limit: u64,
    pub fits_wasm32_cpu: bool,
}

impl MemoryReport {
    /// The estimate for batches of `batch × seq` rows at `rank_fraction` on the CPU backend.
    pub fn new(
        cfg: &ModelConfig,
        rank_fraction: f64,
        train_norms: bool,
        batch: usize,
        seq: usize,
    ) -> Result<Self> {
        if batch == 0 || seq == 0 {
            return Err(Error::Unsupported(
                "--batch-size and --seq-len must be at least 1".into(),
            ));
        }
        let plan = SvdPlan::new(cfg, rank_fraction, train_norms)?;
        let est = estimate(cfg, &plan, batch, seq, CpuBackend.logit_chunk_elements());
        Ok(MemoryReport {
            batch_size: batch,
            seq_len: seq,
            rank_fraction,
            train_norms,
            estimate: est,
            total: est.total(),
            wasm32_cpu_limit: WASM32_MEMORY,
            fits_wasm32_cpu: est.total() <= WASM32_MEMORY,
        })
    }

    /// The table on stdout.
    pub fn print(&self) {
        println!(
            "memory of a training run, batches of {} × {}, rank fraction {}{} (CPU backend, estimated from the config):",
            self.batch_size,
            self.seq_len,
            self.rank_fraction,
            if self.train_norms {
                ""
            } else {
                ", norms frozen"
            }
        );
        let e = &self.estimate;
        for (what, bytes) in [
            ("weights", e.weights),
            ("optimizer", e.optimizer),
            ("activations", e.activations),
            ("total", self.total),
        ] {
            println!(
                "  {what:<12} {:>18} bytes  {:>10}",
                thousands(bytes),
                human_bytes(bytes)
            );
        }
        println!(
            "  the page's CPU engine (wasm32, {} GiB): {}",
            self.wasm32_cpu_limit >> 30,
            if self.fits_wasm32_cpu {
                "fits"
            } else {
                "does not fit"
            }
        );
    }
}
