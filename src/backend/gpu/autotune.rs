//! The quick measurement that picks the matmul tile size for an adapter: the same products on
//! the 64×64 tiles and on the 128×128 ones (GPU tuning `wide_tiles`), timed by the wall clock
//! around a read that waits for them. Which tile wins depends on the GPU's registers, workgroup
//! memory and occupancy, so it is measured rather than guessed; the caller keeps the result per
//! adapter (the CLI in its cache directory, see `svdtune`'s `gpu_autotune.rs`).
use super::{GpuBackend, GpuTuning};
use crate::backend::{Backend, Matmul};
use crate::error::Result;

/// The products timed when an engine starts: `x Wᵀ` at 512 tokens for a small model's
/// attention (`[512, 1024]·[1024, 1024]ᵀ`) and MLP widths (`[512, 1024]·[4096, 1024]ᵀ`), and a
/// larger batch (`[2048, 2048]·[2048, 2048]ᵀ`): `(m, n, k)`.
pub const TILE_SHAPES: &[(usize, usize, usize)] =
    &[(512, 1024, 1024), (512, 4096, 1024), (2048, 2048, 2048)];

/// One shape's best time (ms, over the repetitions) on each tile size.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TileTiming {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub narrow_ms: f64,
    pub wide_ms: f64,
}

/// Times `iters` products `C = A Bᵀ` of each shape on both tile sizes, best of `reps`
/// (after one untimed run of each, which compiles the pipelines); `now` is a clock in ms. The
/// backend's tuning is left as it was.
pub async fn time_tiles(
    be: &GpuBackend,
    shapes: &[(usize, usize, usize)],
    (iters, reps): (usize, usize),
    now: &dyn Fn() -> f64,
) -> Result<Vec<TileTiming>> {
    let before = be.tuning();
    let result = time_tiles_with(be, shapes, (iters, reps), now, before).await;
    be.set_tuning(before)?;
    result
}

async fn time_tiles_with(
    be: &GpuBackend,
    shapes: &[(usize, usize, usize)],
    (iters, reps): (usize, usize),
    now: &dyn Fn() -> f64,
    base: GpuTuning,
) -> Result<Vec<TileTiming>> {
    let mut out = Vec::with_capacity(shapes.len());
    for &(m, n, k) in shapes {
        let fill = |len: usize, step: f32| -> Vec<f32> {
            (0..len).map(|i| ((i as f32) * step).sin() * 0.1).collect()
        };
        let a = be.tensor(&fill(m * k, 0.37), &[m, k])?;
        let b = be.tensor(&fill(n * k, 0.11), &[n, k])?;
        let mut c = be.zeros(&[m, n])?;
        let mut best = [f64::INFINITY; 2];
        for rep in 0..=reps {
            for (v, wide_min) in [0, 1].into_iter().enumerate() {
                be.set_tuning(GpuTuning {
                    wide_tile_min: wide_min,
                    ..base
                })?;
                let t0 = now();
                for _ in 0..if rep == 0 { 1 } else { iters } {
                    be.matmul(&a, &b, &mut c, Matmul::NT)?;
                }
                be.read(&c).await?;
                if rep > 0 {
                    best[v] = best[v].min(now() - t0);
                }
            }
        }
        out.push(TileTiming {
            m,
            n,
            k,
            narrow_ms: best[0],
            wide_ms: best[1],
        });
    }
    Ok(out)
}

/// The `wide_tile_min` that timings support: the least `min(m, n)` from which the wide tiles
/// were at least 5 % faster on that shape and on every larger one measured; 0 (never) when they
/// did not win on the largest.
pub fn choose_wide_min(timings: &[TileTiming]) -> usize {
    let mut by_size: Vec<_> = timings.iter().map(|t| (t.m.min(t.n), t)).collect();
    by_size.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
    let mut min = 0;
    for (size, t) in by_size {
        if t.wide_ms <= 0.95 * t.narrow_ms {
            min = size;
        } else {
            break;
        }
    }
    min
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(m: usize, n: usize, narrow_ms: f64, wide_ms: f64) -> TileTiming {
        TileTiming {
            m,
            n,
            k: 64,
            narrow_ms,
            wide_ms,
        }
    }

    #[test]
    fn wide_from_the_smallest_shape_where_it_wins_on_every_larger_one() {
        let all = [t(512, 1024, 2.0, 1.0), t(2048, 2048, 9.0, 5.0)];
        assert_eq!(choose_wide_min(&all), 512);
        let large_only = [t(512, 1024, 2.0, 2.0), t(2048, 2048, 9.0, 5.0)];
        assert_eq!(choose_wide_min(&large_only), 2048);
        // A win below a loss does not count: the sizes between would run the slower tile.
        let gap = [t(512, 1024, 2.0, 1.0), t(2048, 2048, 9.0, 9.5)];
        assert_eq!(choose_wide_min(&gap), 0);
        // Within 5 % is no win.
        assert_eq!(choose_wide_min(&[t(512, 512, 1.0, 0.97)]), 0);
        assert_eq!(choose_wide_min(&[]), 0);
    }
}
