//! The session's dataset: the chat file as the page's data worker read it (token ids and loss
//! masks, [`crate::data::wire`]; the engine never renders a chat template from a data file), its
//! statistics and skipped records, and the batches of a run (train split, eval split, every
//! example). The file may have been read with a longer cut than the run's sequence length (the
//! page reads it once, up to the model's context, and tries lengths here): it is then cut to
//! `seq_len` ([`Dataset::cut`]) without reading it again.
use super::{Work, no_model};
use crate::backend::Backend;
use crate::data::wire::{self, Encoded};
use crate::data::{Batch as DataBatch, Dataset};
use crate::error::{Error, Result};
use crate::train::run::TrainOptions;
use crate::train::setup::{RunBatches, all_batches, dataset_options};
use serde::Serialize;

#[derive(Serialize)]
pub struct DataInfo {
    pub name: String,
    pub format: &'static str,
    pub container: &'static str,
    pub records: usize,
    pub examples: usize,
    pub skipped: usize,
    pub truncated: usize,
    pub tokens: usize,
    pub trained_tokens: usize,
    pub longest: usize,
    pub longest_line: usize,
    /// The sequence length the statistics are for, and the cut the file was read with.
    pub seq_len: usize,
    pub read_len: Option<usize>,
    /// Untruncated lengths: the one 95 % of the examples fit in, the median.
    pub p95_len: usize,
    pub median_len: usize,
    /// Whether examples are packed into rows, and the train rows that makes.
    pub pack: bool,
    pub train_rows: usize,
    /// Tokens of the train examples, and the tokens their batches hold with padding.
    pub train_real_tokens: usize,
    pub train_batch_tokens: usize,
    /// The first skipped records: `{line, reason}`.
    pub skips: Vec<(usize, String)>,
    pub train_examples: usize,
    pub eval_examples: usize,
    pub train_batches: usize,
    pub eval_batches: usize,
}

impl<B: Backend> Work<B> {
    /// Takes the data file `name` as the data worker encoded it ([`wire::encode`]).
    pub fn set_data(&mut self, name: String, bytes: &[u8]) -> Result<()> {
        self.data = Some((name.clone(), wire::decode(bytes, &name)?));
        Ok(())
    }

    /// The dataset, which must have been read for `options`' `seq_len` and loss mode.
    pub(super) fn dataset(&self, options: &TrainOptions) -> Result<(String, Dataset)> {
        self.model.as_ref().ok_or_else(no_model)?;
        let (
            name,
            Encoded {
                dataset,
                max_tokens,
                loss,
            },
        ) = self.data.as_ref().ok_or_else(|| {
            Error::param(
                "session",
                "no dataset: drop a chat data file (.jsonl or .json)",
            )
        })?;
        let want = dataset_options(options.seq_len, options.all_tokens);
        let longer = max_tokens.is_none_or(|m| m >= options.seq_len);
        if !longer || *loss != want.loss {
            return Err(Error::param(
                "session",
                format!(
                    "{name} was read for other settings (sequence length {max_tokens:?}, \
                     {loss:?} tokens trained); read it again"
                ),
            ));
        }
        let ds = if *max_tokens == want.max_tokens {
            dataset.clone()
        } else {
            dataset
                .cut(options.seq_len)
                .map_err(|e| crate::data::dataset::named(e, name, false))?
        };
        Ok((name.clone(), ds))
    }

    /// Batches of the run (train and eval split) and of every example.
    pub(super) fn batches(
        &self,
        ds: &Dataset,
        o: &TrainOptions,
    ) -> Result<(RunBatches, Vec<DataBatch>)> {
        let loaded = self.model.as_ref().ok_or_else(no_model)?;
        let pad = loaded.text.tokenizer.pad_token_id();
        Ok((
            RunBatches::new(ds, pad, o)?,
            all_batches(ds, pad, o.batch_size, o.seq_len)?,
        ))
    }

    /// Statistics and skipped records of the dataset under `options`.
    pub fn data_info(&self, options: &TrainOptions) -> Result<DataInfo> {
        let (name, ds) = self.dataset(options)?;
        let (run, _) = self.batches(&ds, options)?;
        let read_len = self.data.as_ref().and_then(|d| d.1.max_tokens);
        let rows = run.train.iter().map(|b| b.rows).sum();
        let s = &ds.stats;
        Ok(DataInfo {
            name,
            format: ds.format.name(),
            container: ds.container.name(),
            records: s.records,
            examples: s.examples,
            skipped: s.skipped,
            truncated: s.truncated,
            tokens: s.tokens,
            trained_tokens: s.trained_tokens,
            longest: s.longest,
            longest_line: s.longest_line,
            skips: ds
                .skips
                .iter()
                .map(|k| (k.line, k.reason.clone()))
                .collect(),
            train_examples: run.train_examples,
            eval_examples: run.eval_examples,
            train_batches: run.train.len(),
            eval_batches: run.eval.len(),
            seq_len: options.seq_len,
            read_len,
            p95_len: ds.length_percentile(0.95),
            median_len: ds.length_percentile(0.5),
            pack: options.pack,
            train_rows: rows,
            train_real_tokens: run.train.iter().map(|b| b.real_tokens).sum(),
            train_batch_tokens: run.train.iter().map(|b| b.batch * b.seq_len).sum(),
        })
    }
}
