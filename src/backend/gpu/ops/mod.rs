//! Per-op GPU encoders: each builds its `Params`, picks the grid and records dispatches.
pub mod attention;
pub mod attention_cached;
pub mod dequant;
pub mod elementwise;
pub mod linalg;
pub mod loss;
pub mod norm;
pub mod optim;
pub mod rope;
pub mod svd;

use crate::error::{Error, Result};

/// A dimension as the u32 the shaders index with, or an error when it does not fit.
pub fn u32_of(op: &'static str, what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::param(
            op,
            format!("{what} = {v} exceeds the 32-bit indices the shaders use"),
        )
    })
}

/// Workgroups of 256 invocations covering `n` elements, as a 2-D grid.
pub fn grid_256(op: &'static str, n: usize) -> Result<[u32; 3]> {
    Ok(super::recorder::grid(
        u32_of(op, "element count", n)?.div_ceil(256),
    ))
}
