//! RMSNorm on the host, forward and backward.
use super::Real;

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
    for t in 0..rows {
        let xr = &x[t * cols..(t + 1) * cols];
        let ms = xr.iter().map(|&v| v * v).sum::<F>() / n;
        let r = F::one() / (ms + eps).sqrt();
        rstd[t] = r;
        for c in 0..cols {
            y[t * cols + c] = xr[c] * r * w[c];
        }
    }
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
    mut dw: Option<&mut [F]>,
) {
    let n = F::from(cols).unwrap_or(F::one());
    for t in 0..rows {
        let r = rstd[t];
        let (xr, dyr) = (&x[t * cols..(t + 1) * cols], &dy[t * cols..(t + 1) * cols]);
        let dot = (0..cols).map(|c| xr[c] * r * w[c] * dyr[c]).sum::<F>() / n;
        for c in 0..cols {
            let xhat = xr[c] * r;
            let g = r * (w[c] * dyr[c] - xhat * dot);
            let d = &mut dx[t * cols + c];
            *d = if accumulate_dx { *d + g } else { g };
            if let Some(dw) = dw.as_deref_mut() {
                dw[c] = dw[c] + dyr[c] * xhat;
            }
        }
    }
}
