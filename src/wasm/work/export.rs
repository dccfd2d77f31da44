//! The session's downloads: the merged Hugging Face folder as a zip streamed to the page, the
//! merged model as one GGUF file streamed to the page (the merged folder is built in memory
//! first, then written as GGUF one tensor at a time), and the PEFT LoRA adapter of the run as a
//! zip.
use super::{Phase, Work, no_model};
use crate::backend::Backend;
use crate::error::Result;
use crate::export::gguf_writer::check_model_type;
use crate::export::{
    AdapterOptions, GgufExported, GgufOutType, MemoryTarget, MergedDtype, StreamTarget, ZipTarget,
    base_model_name, export_adapter, export_gguf, export_merged, export_merged_as,
};
use crate::model::load::open_checkpoint;

impl<B: Backend> Work<B> {
    /// The merged Hugging Face folder as a zip streamed into `out`, its floating-point tensors
    /// in `dtype`; returns the entry names.
    pub async fn export_merged<W: std::io::Write>(
        &mut self,
        out: W,
        dtype: MergedDtype,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<(Vec<String>, W)> {
        let be = &self.be;
        let loaded = self.model.as_ref().ok_or_else(no_model)?;
        let model = match &loaded.phase {
            Phase::Dense(m) => m,
            Phase::Training(t) => &t.run.trainer.model,
            Phase::Broken => return Err(no_model()),
        };
        let source = open_checkpoint(&loaded.files)?;
        let mut zip = ZipTarget::new(format!("{}.zip", loaded.name), out);
        let checkpoint = (&source, &loaded.files);
        export_merged_as(
            be,
            &model.cfg,
            &model.weights,
            checkpoint,
            dtype,
            &mut zip,
            progress,
        )
        .await?;
        let files = zip.files().to_vec();
        Ok((files, zip.finish_archive()?))
    }

    /// The merged model as the GGUF file `{name}.gguf` streamed into `out`, its matrices as
    /// `ty`; returns what was written and `out`. A family llama.cpp has no mapping for here is
    /// refused before anything is merged. Holds the merged folder in memory (one copy of the
    /// weights in their dtype) while the GGUF streams; `progress(done, total, tensor)` counts the
    /// merge's tensors, then the GGUF's.
    pub async fn export_gguf<W: std::io::Write>(
        &mut self,
        out: W,
        ty: GgufOutType,
        mut progress: impl FnMut(usize, usize, &str),
    ) -> Result<(GgufExported, W)> {
        let be = &self.be;
        let loaded = self.model.as_ref().ok_or_else(no_model)?;
        check_model_type(&loaded.files)?;
        let model = match &loaded.phase {
            Phase::Dense(m) => m,
            Phase::Training(t) => &t.run.trainer.model,
            Phase::Broken => return Err(no_model()),
        };
        let source = open_checkpoint(&loaded.files)?;
        let mut merged = MemoryTarget::new();
        export_merged(
            be,
            &model.cfg,
            &model.weights,
            &source,
            &loaded.files,
            &mut merged,
            &mut progress,
        )
        .await?;
        drop(source);
        let files = merged.into_model_files();
        let mut target = StreamTarget::new(out);
        let file = format!("{}.gguf", loaded.name);
        let done = export_gguf(&files, &mut target, &file, &loaded.name, ty, &mut progress)?;
        let (out, _) = target.into_inner()?;
        Ok((done, out))
    }

    /// The PEFT LoRA adapter of the run as a zip.
    pub async fn export_adapter(&mut self) -> Result<Vec<u8>> {
        let name = self.model.as_ref().ok_or_else(no_model)?.name.clone();
        let (be, t) = self.training()?;
        let sigma0: Vec<(String, Vec<f32>)> = t
            .inits
            .iter()
            .map(|l| (l.module.clone(), l.sigma0.clone()))
            .collect();
        let opts = AdapterOptions {
            base_model: base_model_name(&t.run.trainer.model.cfg, &name),
            include_norms: !t.run.options.freeze_norms,
        };
        let model = &t.run.trainer.model;
        let mut zip = ZipTarget::new("adapter.zip", Vec::new());
        export_adapter(be, &model.cfg, &model.weights, &sigma0, &opts, &mut zip).await?;
        zip.finish_archive()
    }
}
