//! The page's measurement of the matrix tiles on its GPU, as the CLI makes it natively
//! (`autotune.rs`): the same products on 64×64 and on 128×128 tiles, timed by the page's clock,
//! and `wide_tiles` set to what they support. The page keeps the result per adapter in its
//! storage and hands it back on later visits ([`set_tiles`]), so it measures once per GPU.
use super::convert::now_ms;
use super::engine::AnyWork;
use crate::backend::gpu::autotune::{TILE_SHAPES, TileTiming, choose_wide_min, time_tiles};
use crate::error::{Error, Result};
use serde::Serialize;

/// Small products for checking the measurement on a software adapter (`?measure-tiles=small`):
/// its timings say nothing, but every step of it runs.
const SMALL_SHAPES: &[(usize, usize, usize)] = &[(64, 128, 64), (128, 256, 128)];

/// What a measurement found.
#[derive(Clone, Debug, Serialize)]
pub struct TileChoice {
    /// The `wide_tiles` now in use: the least rows and columns for 128×128 tiles (0: never).
    pub wide_tiles: usize,
    /// Each product's best time on both tile sizes.
    pub timings: Vec<TileTiming>,
    /// How long the measurement took, in ms.
    pub ms: f64,
}

fn gpu(work: &AnyWork) -> Result<&crate::backend::gpu::GpuBackend> {
    match work {
        AnyWork::Gpu(w) => Ok(&w.be),
        AnyWork::Cpu(_) => Err(Error::Unsupported(
            "the matrix tiles are measured on WebGPU, and this engine is the CPU's".into(),
        )),
    }
}

/// Measures the tiles (the model-sized products of `TILE_SHAPES`, or small ones) and sets
/// `wide_tiles` to what the timings support.
pub async fn measure_tiles(work: &AnyWork, small: bool) -> Result<TileChoice> {
    let be = gpu(work)?;
    let now: &dyn Fn() -> f64 = &|| performance_now().unwrap_or_else(now_ms);
    let start = now();
    // Fewer repetitions than the CLI's (10 products, best of 3): the page measures while its
    // user waits, on GPUs that may be small.
    let (shapes, runs) = if small {
        (SMALL_SHAPES, (2, 1))
    } else {
        (TILE_SHAPES, (5, 2))
    };
    let timings = time_tiles(be, shapes, runs, now).await?;
    let wide_tiles = choose_wide_min(&timings);
    set_tiles(work, wide_tiles)?;
    Ok(TileChoice {
        wide_tiles,
        timings,
        ms: now() - start,
    })
}

/// Uses 128×128 tiles for outputs of at least `wide_tiles` rows and columns (0: never), as a
/// measurement kept from an earlier visit says.
pub fn set_tiles(work: &AnyWork, wide_tiles: usize) -> Result<()> {
    let be = gpu(work)?;
    let tuning = be.tuning();
    be.set_tuning(crate::backend::gpu::GpuTuning {
        wide_tile_min: wide_tiles,
        ..tuning
    })
}

/// The worker's high-resolution clock (`performance.now()`), where there is one.
fn performance_now() -> Option<f64> {
    let perf = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok()?;
    let now = js_sys::Reflect::get(&perf, &"now".into()).ok()?;
    let now: js_sys::Function = wasm_bindgen::JsCast::dyn_into(now).ok()?;
    now.call0(&perf).ok()?.as_f64()
}
