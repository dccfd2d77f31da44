//! Llama 3's RoPE scaling in GGUF files: llama.cpp keeps no `rope_scaling` keys for it, only
//! the tensor `rope_freqs.weight` (`head_dim / 2` f32 divisors of the inverse frequencies) that
//! `convert_hf_to_gguf.py` computes from `factor`, `low_freq_factor`, `high_freq_factor` and
//! `original_max_position_embeddings`. [`rope_freqs`] computes it as that converter does (for the
//! export); [`fit`] finds the parameters back from it (for the import).
//!
//! The divisors depend only on `factor` and on the two wavelengths `original / low` and
//! `original / high`, so the three other parameters are found up to a common scale: the fit keeps
//! Llama 3's `low_freq_factor = 1`, `high_freq_factor = 4` and takes `original` from a smoothed
//! divisor (8192 when none is smoothed and 8192 fits). Any parameters that reproduce every divisor
//! give the same model; a tensor no parameters reproduce is refused.

/// Llama 3's RoPE scaling parameters, as `config.json`'s `rope_scaling` spells them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3Params {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: usize,
}

/// The wavelength `2π / inv_freq` of each rotary pair, in f32 as the converter computes it:
/// `1 / theta^(2i / head_dim)`.
fn wavelengths(theta: f64, head_dim: usize) -> Vec<f32> {
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0f32 / (theta as f32).powf((2 * i) as f32 / head_dim as f32);
            std::f32::consts::TAU / freq
        })
        .collect()
}

/// `rope_freqs.weight` for `p` (`head_dim / 2` values): 1 where the wavelength is below
/// `original / high`, `factor` above `original / low`, smoothed in between.
pub fn rope_freqs(theta: f64, head_dim: usize, p: &Llama3Params) -> Vec<f32> {
    let old = p.original_max_position_embeddings as f64;
    let (low_wavelen, high_wavelen) = (old / p.low_freq_factor, old / p.high_freq_factor);
    wavelengths(theta, head_dim)
        .into_iter()
        .map(|w| {
            let w = f64::from(w);
            if w < high_wavelen {
                1.0
            } else if w > low_wavelen {
                p.factor as f32
            } else {
                let smooth =
                    (old / w - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
                (1.0 / ((1.0 - smooth) / p.factor + smooth)) as f32
            }
        })
        .collect()
}

/// Whether `p` gives `values` (within f32 rounding).
fn reproduces(values: &[f32], theta: f64, head_dim: usize, p: &Llama3Params) -> bool {
    rope_freqs(theta, head_dim, p)
        .iter()
        .zip(values)
        .all(|(a, b)| (a - b).abs() <= 1e-5 * a.abs().max(1.0))
}

/// The parameters that give `values` (`rope_freqs.weight`), `Ok(None)` when every divisor is 1
/// (no scaling), or why none do.
pub fn fit(values: &[f32], theta: f64, head_dim: usize) -> Result<Option<Llama3Params>, String> {
    if values.len() != head_dim / 2 {
        return Err(format!(
            "it has {} values, but head_dim / 2 = {}",
            values.len(),
            head_dim / 2
        ));
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite() || **v < 1.0) {
        return Err(format!(
            "it holds {bad}; Llama 3 scaling divides frequencies by factors of at least 1"
        ));
    }
    let factor = values.iter().copied().fold(1.0f32, f32::max);
    if factor - 1.0 <= 1e-6 {
        return Ok(None);
    }
    let factor = f64::from(factor);
    let (low, high) = (1.0, 4.0);
    let waves = wavelengths(theta, head_dim);
    let tol = 1e-5 * factor;
    // A smoothed divisor v at wavelength w: 1/v = (1 - s)/factor + s, s = (original/w - low)/(high - low).
    let originals: Vec<f64> = values
        .iter()
        .zip(&waves)
        .filter(|(v, _)| f64::from(**v) > 1.0 + tol && f64::from(**v) < factor - tol)
        .map(|(v, w)| {
            let s = (1.0 / f64::from(*v) - 1.0 / factor) / (1.0 - 1.0 / factor);
            f64::from(*w) * (s * (high - low) + low)
        })
        .collect();
    let candidates: Vec<f64> = if originals.is_empty() {
        // Only the band edges are known: the smallest original that keeps every divisor of 1
        // below `original / high`, unless Llama 3's 8192 fits.
        let top_kept = values
            .iter()
            .zip(&waves)
            .filter(|(v, _)| **v == 1.0)
            .map(|(_, w)| f64::from(*w))
            .fold(0.0, f64::max);
        vec![8192.0, (top_kept * high).floor() + 1.0]
    } else {
        vec![originals.iter().sum::<f64>() / originals.len() as f64]
    };
    for original in candidates {
        let p = Llama3Params {
            factor,
            low_freq_factor: low,
            high_freq_factor: high,
            original_max_position_embeddings: original.round().max(1.0) as usize,
        };
        if reproduces(values, theta, head_dim, &p) {
            return Ok(Some(p));
        }
    }
    Err("its values do not follow Llama 3's RoPE scaling with low_freq_factor 1 and high_freq_factor 4".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(factor: f64, original: usize) -> Llama3Params {
        Llama3Params {
            factor,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: original,
        }
    }

    #[test]
    fn llama_3_2_parameters_are_found_back() {
        // Llama 3.2 1B/3B: theta 500000, head_dim 64, factor 32, original 8192.
        let p = params(32.0, 8192);
        let v = rope_freqs(500000.0, 64, &p);
        assert!(v.iter().any(|&x| x > 1.0 && x < 32.0), "some are smoothed");
        assert_eq!(fit(&v, 500000.0, 64), Ok(Some(p)));
        // Llama 3.1 8B: factor 8, head_dim 128.
        let p = params(8.0, 8192);
        assert_eq!(
            fit(&rope_freqs(500000.0, 128, &p), 500000.0, 128),
            Ok(Some(p))
        );
    }

    #[test]
    fn a_small_original_with_one_smoothed_divisor_is_found_back() {
        let p = params(8.0, 16);
        assert_eq!(
            fit(&rope_freqs(500000.0, 16, &p), 500000.0, 16),
            Ok(Some(p))
        );
    }

    #[test]
    fn no_scaling_and_bad_tensors() {
        assert_eq!(fit(&[1.0; 8], 10000.0, 16), Ok(None));
        assert!(
            fit(&[1.0; 7], 10000.0, 16)
                .unwrap_err()
                .contains("head_dim / 2 = 8")
        );
        assert!(fit(&[0.5; 8], 10000.0, 16).is_err());
        let mut v = rope_freqs(500000.0, 64, &params(32.0, 8192));
        v[5] = 3.0; // not on the curve
        assert!(fit(&v, 500000.0, 64).is_err());
    }
}
