//! A whole data file → tokenized [`Example`]s, the records that were skipped (line and reason),
//! truncation counts and statistics; plus a deterministic train/eval split.
//!
//! Every record goes through: reader (UTF-8, JSON, size) → format (fields, roles, empty turns) →
//! template and tokenizer (template errors, zero trained tokens). A failure at any step skips
//! that record only; the first [`DatasetOptions::max_reported_skips`] are kept with their line
//! and reason, all are counted. A file with no usable record is an error that quotes the first
//! skips.
use std::io::Read;

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

use super::encode::encode_sample;
use super::formats::{Format, unknown_record_reason};
use super::reader::{Container, DEFAULT_MAX_RECORD_BYTES, RecordReader};
use super::{LossMode, ModelText};
use crate::{Error, Result};

/// How to read and cut the data.
#[derive(Clone, Debug)]
pub struct DatasetOptions {
    /// Examples longer than this many tokens are cut to it (keeping the start); `None` = no cut.
    pub max_tokens: Option<usize>,
    pub loss: LossMode,
    /// Records (lines) larger than this are skipped unread.
    pub max_record_bytes: usize,
    /// How many skipped records are kept for the report (all are counted).
    pub max_reported_skips: usize,
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions {
            max_tokens: None,
            loss: LossMode::Assistant,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_reported_skips: 20,
        }
    }
}

/// One tokenized record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// 1-based line of the file where the record starts.
    pub line: usize,
    pub input_ids: Vec<u32>,
    /// 0/1 per token, same length as `input_ids`.
    pub loss_mask: Vec<u8>,
    /// Tokens before truncation (`> input_ids.len()` when the record was cut).
    pub full_len: usize,
}

impl Example {
    pub fn truncated(&self) -> bool {
        self.full_len > self.input_ids.len()
    }
    pub fn trained_tokens(&self) -> usize {
        self.loss_mask.iter().filter(|&&m| m == 1).count()
    }
}

/// A skipped record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Counts over the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Non-blank records read, usable or not.
    pub records: usize,
    pub examples: usize,
    pub skipped: usize,
    /// Tokens kept (after truncation) and, of those, trained ones.
    pub tokens: usize,
    pub trained_tokens: usize,
    /// Examples that were cut to `max_tokens`.
    pub truncated: usize,
    /// Longest example before truncation, in tokens, and its line.
    pub longest: usize,
    pub longest_line: usize,
}

/// A loaded, tokenized dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub container: Container,
    pub format: Format,
    /// Line of the record the format was detected from.
    pub format_line: usize,
    pub examples: Vec<Example>,
    /// The first skipped records (see [`DatasetOptions::max_reported_skips`]).
    pub skips: Vec<Skip>,
    pub stats: Stats,
}

impl Dataset {
    /// From the file's bytes (the browser path).
    pub fn from_bytes(bytes: &[u8], model: &ModelText, opts: &DatasetOptions) -> Result<Self> {
        Self::from_reader(bytes, model, opts)
    }

    /// From a file on disk, read incrementally.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(
        path: &std::path::Path,
        model: &ModelText,
        opts: &DatasetOptions,
    ) -> Result<Self> {
        let f = std::fs::File::open(path)
            .map_err(|e| Error::param("dataset", format!("cannot open {}: {e}", path.display())))?;
        Self::from_reader(std::io::BufReader::new(f), model, opts)
            .map_err(|e| named(e, &path.display().to_string(), true))
    }

    /// From any reader; records stream through one at a time.
    pub fn from_reader<R: Read>(src: R, model: &ModelText, opts: &DatasetOptions) -> Result<Self> {
        let mut reader = RecordReader::new(src, opts.max_record_bytes);
        let mut format: Option<(Format, usize)> = None;
        let mut examples = Vec::new();
        let mut skips = Vec::new();
        let mut stats = Stats::default();
        let mut skip = |stats: &mut Stats, line: usize, reason: String| {
            stats.skipped += 1;
            if skips.len() < opts.max_reported_skips {
                skips.push(Skip { line, reason });
            }
        };
        for rec in reader.by_ref() {
            let rec = rec?;
            stats.records += 1;
            let obj = match rec.value {
                Ok(o) => o,
                Err(reason) => {
                    skip(&mut stats, rec.line, reason);
                    continue;
                }
            };
            let (fmt, fmt_line) = match format {
                Some(f) => f,
                None => match Format::detect(&obj) {
                    Some(f) => {
                        format = Some((f, rec.line));
                        (f, rec.line)
                    }
                    None => {
                        skip(&mut stats, rec.line, unknown_record_reason(&obj));
                        continue;
                    }
                },
            };
            let sample = match fmt.parse(&obj) {
                Ok(s) => s,
                Err(reason) => {
                    let reason = if reason.starts_with("missing field") {
                        format!(
                            "{reason} (the file's format, detected at line {fmt_line}, is {}: each record needs {})",
                            fmt.name(),
                            fmt.fields()
                        )
                    } else {
                        reason
                    };
                    skip(&mut stats, rec.line, reason);
                    continue;
                }
            };
            let enc = match encode_sample(&sample, &model.template, &model.tokenizer, opts.loss) {
                Ok(e) => e,
                Err(e) => {
                    skip(&mut stats, rec.line, e.to_string());
                    continue;
                }
            };
            let full_len = enc.input_ids.len();
            let (mut ids, mut mask) = (enc.input_ids, enc.loss_mask);
            if let Some(max) = opts.max_tokens
                && full_len > max
            {
                ids.truncate(max);
                mask.truncate(max);
                stats.truncated += 1;
            }
            let ex = Example {
                line: rec.line,
                input_ids: ids,
                loss_mask: mask,
                full_len,
            };
            if ex.trained_tokens() == 0 {
                skip(
                    &mut stats,
                    rec.line,
                    format!(
                        "no trained token left after truncation to {} tokens",
                        ex.input_ids.len()
                    ),
                );
                continue;
            }
            if full_len > stats.longest {
                stats.longest = full_len;
                stats.longest_line = rec.line;
            }
            stats.tokens += ex.input_ids.len();
            stats.trained_tokens += ex.trained_tokens();
            examples.push(ex);
        }
        stats.examples = examples.len();
        let container = reader.container();
        match (container, format) {
            (Some(container), Some((format, format_line))) if !examples.is_empty() => Ok(Dataset {
                container,
                format,
                format_line,
                examples,
                skips,
                stats,
            }),
            _ => {
                let mut msg = format!(
                    "no usable record ({} read, {} skipped)",
                    stats.records, stats.skipped
                );
                for s in skips.iter().take(3) {
                    msg.push_str(&format!("; {s}"));
                }
                // When every reported skip is the chat template's, the template is at fault:
                // the error is the template's (kind "template") and names its file.
                let template = crate::error::TEMPLATE_OP;
                let by_template = |s: &Skip| s.reason.starts_with(template);
                let op = if !skips.is_empty() && skips.iter().all(by_template) {
                    template
                } else {
                    "dataset"
                };
                if skips.iter().any(by_template) {
                    msg.push_str(&format!(
                        " (the chat template is read from {})",
                        model.template.origin()
                    ));
                }
                Err(Error::param(op, msg))
            }
        }
    }

    /// Deterministic train/eval split of example indices: a seeded shuffle picks
    /// `round(n · eval_fraction)` eval examples (at least 1 when the fraction is > 0 and there are
    /// 2+ examples, never all); both lists are returned in file order.
    pub fn split(&self, eval_fraction: f64, seed: u64) -> Split {
        split_indices(self.examples.len(), eval_fraction, seed)
    }
}

/// An error of reading the data file `name` that names it once: the file's own faults become
/// [`Error::Input`] (`"name: no usable record …"`, not `"dataset: name: …"`); the chat
/// template's keep their kind and get `name` in front of the message when `template_too` (the
/// page names the data file in its own words).
pub fn named(e: Error, name: &str, template_too: bool) -> Error {
    match e {
        Error::Param {
            op: "dataset",
            message,
        } => Error::input(name, message),
        Error::Param { op, message } if template_too => Error::Param {
            op,
            message: format!("{name}: {message}"),
        },
        other => other,
    }
}

/// Train and eval example indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub eval: Vec<usize>,
}

/// See [`Dataset::split`].
pub fn split_indices(n: usize, eval_fraction: f64, seed: u64) -> Split {
    let frac = if eval_fraction.is_finite() {
        eval_fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut n_eval = (n as f64 * frac).round() as usize;
    if frac > 0.0 && n >= 2 {
        n_eval = n_eval.max(1);
    }
    n_eval = n_eval.min(n.saturating_sub(1));
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
    let mut eval = idx[..n_eval].to_vec();
    let mut train = idx[n_eval..].to_vec();
    eval.sort_unstable();
    train.sort_unstable();
    Split { train, eval }
}
