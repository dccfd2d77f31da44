//! A read dataset cut to a shorter sequence length without reading the file again, and the
//! lengths it needs. The page reads a data file once with a generous cap (its data worker runs
//! the chat template and tokenizer, which is the slow part), then tries sequence lengths on the
//! engine's copy: [`Dataset::cut`] gives what reading with `max_tokens = max` would have given
//! (same examples, masks, skips and statistics), and [`Dataset::length_percentile`] tells which
//! length fits most examples (from each example's untruncated length).
use super::{Dataset, Skip};
use crate::{Error, Result};

impl Dataset {
    /// The dataset as if read with `max_tokens = max`: examples longer than `max` are cut, those
    /// left without a trained token become skips, and the statistics are counted again. `max`
    /// must be at least 1.
    pub fn cut(&self, max: usize) -> Result<Dataset> {
        if max == 0 {
            return Err(Error::param(
                "dataset",
                "a sequence length must be at least 1",
            ));
        }
        let mut out = self.clone();
        let s = &mut out.stats;
        // Examples cut when the file was read and dropped for it stay counted as cut.
        let dropped_cut = s.truncated - self.examples.iter().filter(|e| e.truncated()).count();
        s.truncated = dropped_cut;
        s.tokens = 0;
        s.trained_tokens = 0;
        (s.longest, s.longest_line) = (0, 0);
        out.examples.clear();
        let mut new_skips = Vec::new();
        for ex in &self.examples {
            let mut ex = ex.clone();
            if ex.input_ids.len() > max {
                ex.input_ids.truncate(max);
                ex.loss_mask.truncate(max);
            }
            if ex.truncated() {
                s.truncated += 1;
            }
            if ex.trained_tokens() == 0 {
                s.skipped += 1;
                new_skips.push(Skip {
                    line: ex.line,
                    reason: format!("no trained token left after truncation to {max} tokens"),
                });
                continue;
            }
            if ex.full_len > s.longest {
                (s.longest, s.longest_line) = (ex.full_len, ex.line);
            }
            s.tokens += ex.input_ids.len();
            s.trained_tokens += ex.trained_tokens();
            out.examples.push(ex);
        }
        s.examples = out.examples.len();
        if out.examples.is_empty() {
            return Err(Error::param(
                "dataset",
                format!("no example keeps a trained token when cut to {max} tokens"),
            ));
        }
        let keep = self.skips.len().max(20);
        out.skips.extend(new_skips);
        out.skips.sort_by_key(|k| k.line);
        out.skips.truncate(keep);
        Ok(out)
    }

    /// The untruncated length (in tokens) that `fraction` (0..=1) of the examples fit in:
    /// the smallest `L` with at least `ceil(fraction · n)` examples of at most `L` tokens.
    pub fn length_percentile(&self, fraction: f64) -> usize {
        let mut lens: Vec<usize> = self.examples.iter().map(|e| e.full_len).collect();
        if lens.is_empty() {
            return 0;
        }
        lens.sort_unstable();
        let k = (fraction.clamp(0.0, 1.0) * lens.len() as f64).ceil() as usize;
        lens[k.clamp(1, lens.len()) - 1]
    }
}
