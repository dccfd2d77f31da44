//! Rotary position embedding on the host (Hugging Face `rotate_half` pairing).
use super::Real;

/// In place on x `[T, n_heads · head_dim]`: for each head and `i < head_dim/2`, with
/// `c = cos[pos, i]`, `s = sin[pos, i]` (negated when `inverse`):
/// `(x_i, x_{i+h}) ← (x_i·c − x_{i+h}·s, x_{i+h}·c + x_i·s)`. A position past the table leaves
/// the row unchanged (positions are validated on the host).
#[allow(clippy::too_many_arguments)]
pub fn rope<F: Real>(
    x: &mut [F],
    positions: &[u32],
    cos: &[F],
    sin: &[F],
    table_rows: usize,
    n_heads: usize,
    head_dim: usize,
    inverse: bool,
) {
    let half = head_dim / 2;
    let width = n_heads * head_dim;
    for (t, &pos) in positions.iter().enumerate() {
        let pos = pos as usize;
        if pos >= table_rows {
            continue;
        }
        for h in 0..n_heads {
            let base = t * width + h * head_dim;
            for i in 0..half {
                let c = cos[pos * half + i];
                let s = if inverse {
                    -sin[pos * half + i]
                } else {
                    sin[pos * half + i]
                };
                let (a, b) = (x[base + i], x[base + i + half]);
                x[base + i] = a * c - b * s;
                x[base + i + half] = b * c + a * s;
            }
        }
    }
}
