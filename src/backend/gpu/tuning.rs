//! The GPU backend's tuning knobs: which variant of a kernel runs and with which workgroup
//! shape, where more than one is correct. Every setting gives the same results up to float
//! summation order (the kernel tests run each variant; `subgroup_reduce` sums rows in another
//! order), except `f16_tiles`, which rounds the
//! tiled products' inputs to f16 and is off unless asked for; only speed differs per adapter,
//! so the defaults are what measured best on the software devices, the CLI measures the tile
//! size per hardware GPU (`autotune.rs`), and `bench/device.sh` sweeps them on a real GPU
//! (`svdtune bench --gpu-tuning KEY=VALUE,…`).
use crate::error::{Error, Result};

/// Knobs of the kernels whose variants this backend owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GpuTuning {
    /// `col_dot` (dΣ, RMSNorm dw) runs in one pass (`shaders/col_dot.wgsl`) up to this many
    /// rows, and as `col_dot_partial` + `sum_partials` past it (0: always two passes).
    pub col_dot_single_pass_rows: usize,
    /// Fewest invocations per column of the one-pass `col_dot` (a power of two ≤ 256); narrow
    /// outputs get more, so that a workgroup's 256 invocations stay busy.
    pub col_dot_min_lanes: u32,
    /// Tensors reduced by one dispatch of `reduce_partial` (the global gradient norm over every
    /// trained tensor), 1 ..= 7.
    pub reduce_tensors_per_dispatch: usize,
    /// Natively, the tiled products (the kernels of [`crate::backend::gpu::kernels::Kernel::proven_in_range`])
    /// run from shader modules without wgpu's runtime checks (index clamping, loop bounding).
    /// Ignored in browsers, where WebGPU always checks.
    pub unchecked_tiles: bool,
    /// `matmul` and `matmul_pair` run on 128×128 tiles of 8×8 outputs per invocation
    /// (`shaders/tile/matmul_wide.wgsl`) when the output has at least this many rows and
    /// columns, and on 64×64 tiles of 4×4 below (0: never).
    pub wide_tile_min: usize,
    /// The tiled products stage A and B in workgroup memory as f16 (`shader-f16`; products
    /// still accumulate in f32): half the workgroup memory traffic, inputs rounded to f16's 11
    /// significant bits. Off by default; refused where the device has no `shader-f16`.
    pub f16_tiles: bool,
    /// Natively, on devices with subgroups: the row reductions (RMSNorm forward and backward,
    /// cross-entropy, the gradient norm's first pass) reduce within each subgroup in registers
    /// and combine the subgroups' results once, instead of eight halvings in workgroup memory
    /// with a barrier each (`shaders/common/workgroup_reduce_subgroups.wgsl`). Off by default
    /// until measured on a device; refused in browsers and on devices without subgroups.
    pub subgroup_reduce: bool,
}

impl Default for GpuTuning {
    fn default() -> Self {
        GpuTuning {
            col_dot_single_pass_rows: 1 << 16,
            col_dot_min_lanes: 4,
            reduce_tensors_per_dispatch: 7,
            unchecked_tiles: !cfg!(target_arch = "wasm32"),
            wide_tile_min: 0,
            f16_tiles: false,
            subgroup_reduce: false,
        }
    }
}

impl GpuTuning {
    /// The defaults for an adapter: on a GPU emulated in software (lavapipe, SwiftShader) the
    /// column dots run in two passes, since their workgroup barrier is slow there (on lavapipe a
    /// SmolLM2-shaped step took 31 s with one pass and 21 s with two, `bench/README.md`); real
    /// GPUs start from [`GpuTuning::default`] until `bench/device.sh` measures them.
    pub fn for_adapter(software: bool) -> Self {
        let mut t = GpuTuning::default();
        if software {
            t.col_dot_single_pass_rows = 0;
        }
        t
    }

    /// Parses `key=value` pairs separated by commas over [`GpuTuning::default`] (`""` gives
    /// the defaults). Keys: `col_dot_rows`, `col_dot_lanes`, `reduce_tensors`, `unchecked_tiles`
    /// (0 or 1), `wide_tiles` (the least rows and columns for 128×128 tiles, 0: never),
    /// `f16_tiles` (0 or 1), `subgroup_reduce` (0 or 1).
    pub fn parse(text: &str) -> Result<Self> {
        GpuTuning::default().apply(text)
    }

    /// As [`GpuTuning::parse`], over these settings (`""` leaves them as they are).
    pub fn apply(self, text: &str) -> Result<Self> {
        let mut t = self;
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = |why: &str| Error::param("gpu tuning", format!("\"{item}\": {why}"));
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| bad("expected KEY=VALUE"))?;
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| bad("the value is not a whole number"))?;
            match key.trim() {
                "col_dot_rows" => t.col_dot_single_pass_rows = n,
                "col_dot_lanes" => t.col_dot_min_lanes = u32::try_from(n).unwrap_or(0),
                "reduce_tensors" => t.reduce_tensors_per_dispatch = n,
                "unchecked_tiles" if n <= 1 => t.unchecked_tiles = n == 1,
                "unchecked_tiles" => return Err(bad("0 (checked) or 1 (unchecked)")),
                "wide_tiles" => t.wide_tile_min = n,
                "f16_tiles" if n <= 1 => t.f16_tiles = n == 1,
                "f16_tiles" => return Err(bad("0 (f32 tiles) or 1 (f16 tiles)")),
                "subgroup_reduce" if n <= 1 => t.subgroup_reduce = n == 1,
                "subgroup_reduce" => {
                    return Err(bad("0 (workgroup memory) or 1 (subgroup operations)"));
                }
                _ => {
                    return Err(bad(
                        "unknown key (col_dot_rows, col_dot_lanes, reduce_tensors, unchecked_tiles, wide_tiles, f16_tiles, subgroup_reduce)",
                    ));
                }
            }
        }
        t.check()?;
        Ok(t)
    }

    /// Refuses settings no kernel can run with.
    pub fn check(&self) -> Result<()> {
        let lanes = self.col_dot_min_lanes;
        if !lanes.is_power_of_two() || lanes > 256 {
            return Err(Error::param(
                "gpu tuning",
                format!("col_dot_lanes = {lanes}: a power of two from 1 to 256"),
            ));
        }
        if !(1..=7).contains(&self.reduce_tensors_per_dispatch) {
            return Err(Error::param(
                "gpu tuning",
                format!(
                    "reduce_tensors = {}: 1 to 7 (a dispatch binds at most 8 buffers)",
                    self.reduce_tensors_per_dispatch
                ),
            ));
        }
        Ok(())
    }

    /// The invocations per column of the one-pass `col_dot` over `cols` columns: enough columns
    /// per workgroup to cover `cols` (at least 8), the rest of the 256 invocations as lanes, and
    /// at least [`GpuTuning::col_dot_min_lanes`].
    pub fn col_dot_lanes(&self, cols: usize) -> u32 {
        let per = cols.clamp(8, 256).next_power_of_two() as u32;
        (256 / per).max(self.col_dot_min_lanes)
    }

    /// Whether an `[m, n]` output of the tiled products runs on the 128×128 tiles.
    pub fn wide_tiles(&self, m: usize, n: usize) -> bool {
        self.wide_tile_min > 0 && m >= self.wide_tile_min && n >= self.wide_tile_min
    }

    /// One line for logs and benchmark tables.
    pub fn describe(&self) -> String {
        format!(
            "col_dot_rows={},col_dot_lanes={},reduce_tensors={},unchecked_tiles={},wide_tiles={},f16_tiles={},subgroup_reduce={}",
            self.col_dot_single_pass_rows,
            self.col_dot_min_lanes,
            self.reduce_tensors_per_dispatch,
            u8::from(self.unchecked_tiles),
            self.wide_tile_min,
            u8::from(self.f16_tiles),
            u8::from(self.subgroup_reduce)
        )
    }
}
