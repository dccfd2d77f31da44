//! RMSNorm on the host, forward and backward.
use super::Real;
use super::parallel::{ROWS, blocks, blocks2};

/// `y = x · rstd · w` per row; `rstd[t] = 1 / sqrt(mean(x[t]²) + eps)`. x, y `[rows, cols]`.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_forward<F: Real>(
    x: &[F],
    w: &[F],
    rows: usize,
    cols: usize,
    eps: F,
    y: &mut [F],
    rstd: &mut [F],
) {
    let n = F::from(cols).unwrap_or(F::one());
    let (y, rstd) = (&mut y[..rows * cols], &mut rstd[..rows]);
    blocks2(y, ROWS * cols, rstd, ROWS, |b, y, rstd| {
        for (i, r_out) in rstd.iter_mut().enumerate() {
            let t = b * ROWS + i;
            let xr = &x[t * cols..(t + 1) * cols];
            let ms = xr.iter().map(|&v| v * v).sum::<F>() / n;
            let r = F::one() / (ms + eps).sqrt();
            *r_out = r;
            for c in 0..cols {
                y[i * cols + c] = xr[c] * r * w[c];
            }
        }
    });
}

/// `dx (+)= rstd · (w⊙dy − x̂ · mean(x̂ ⊙ w⊙dy))` with `x̂ = x · rstd`; `dw += Σ_t dy ⊙ x̂`.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_backward<F: Real>(
    x: &[F],
    w: &[F],
    rstd: &[F],
    dy: &[F],
    rows: usize,
    cols: usize,
    dx: &mut [F],
    accumulate_dx: bool,
    dw: Option<&mut [F]>,
) {
    let n = F::from(cols).unwrap_or(F::one());
    blocks(&mut dx[..rows * cols], ROWS * cols, |b, dx| {
        for i in 0..dx.len() / cols {
            let t = b * ROWS + i;
            let r = rstd[t];
            let (xr, dyr) = (&x[t * cols..(t + 1) * cols], &dy[t * cols..(t + 1) * cols]);
            let dot = (0..cols).map(|c| xr[c] * r * w[c] * dyr[c]).sum::<F>() / n;
            for c in 0..cols {
                let g = r * (w[c] * dyr[c] - xr[c] * r * dot);
                let d = &mut dx[i * cols + c];
                *d = if accumulate_dx { *d + g } else { g };
            }
        }
    });
    if let Some(dw) = dw {
        // Column blocks: each sums its columns over every row, in row order.
        blocks(&mut dw[..cols], 64, |b, dw| {
            let c0 = b * 64;
            for t in 0..rows {
                let (xr, dyr) = (&x[t * cols + c0..], &dy[t * cols + c0..]);
                for (j, d) in dw.iter_mut().enumerate() {
                    *d = *d + dyr[j] * (xr[j] * rstd[t]);
                }
            }
        });
    }
}
