//! The session's dataset: the dropped chat file read with the loaded model's template and
//! tokenizer, its statistics and skipped records, and the batches of a run (train split, eval
//! split, every example).
use super::{Work, no_model};
use crate::backend::Backend;
use crate::data::{Batch as DataBatch, Dataset};
use crate::error::{Error, Result};
use crate::model::ByteSource;
use crate::model::source::BlobSource;
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
    /// The first skipped records: `{line, reason}`.
    pub skips: Vec<(usize, String)>,
    pub train_examples: usize,
    pub eval_examples: usize,
    pub train_batches: usize,
    pub eval_batches: usize,
}

impl<B: Backend> Work<B> {
    /// The dataset read with the model's template and tokenizer, cut to `seq_len`.
    pub(super) fn dataset(&self, options: &TrainOptions) -> Result<(String, Dataset)> {
        let loaded = self.model.as_ref().ok_or_else(no_model)?;
        let (name, blob) = self.data.as_ref().ok_or_else(|| {
            Error::param(
                "session",
                "no dataset: drop a chat data file (.jsonl or .json)",
            )
        })?;
        let src = BlobSource::new(name.clone(), blob.clone())?;
        let bytes = src.read_at(0, src.len() as usize)?;
        let opts = dataset_options(options.seq_len, options.all_tokens);
        let ds = Dataset::from_bytes(&bytes, &loaded.text, &opts).map_err(|e| match e {
            Error::Param { op, message } => Error::Param {
                op,
                message: format!("{name}: {message}"),
            },
            other => other,
        })?;
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
        })
    }
}
