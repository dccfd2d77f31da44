//! The merged export: a Hugging Face model folder with every tensor of the original checkpoint
//! under its original name, shape and dtype, decomposed layers merged (`W + U diag(Σ − Σ₀) Vᵀ`) on
//! the backend, laid out in the same files (one `model.safetensors`, or the same shards with a
//! `model.safetensors.index.json`), plus `config.json` and the tokenizer files.
//!
//! One tensor is on the host at a time: each is merged or read back, converted and streamed into
//! its file before the next. Values that are not finite are refused (naming the tensor) before
//! they reach a file; Σ and the norm weights are checked before any file is started.
use super::files::{copy_passthrough, merged_config_json, to_json};
use super::safetensors_writer::{SafetensorsWriter, TensorHeader};
use super::target::{ExportTarget, write_file};
use super::walk::{self, Held};
use crate::backend::{Backend, TensorInfo, read_f32, svd_linear_delta, unpacked};
use crate::error::{Error, Result};
use crate::model::layout::EMBED;
use crate::model::load::{CONFIG, INDEX, SINGLE};
use crate::model::safetensors::Checkpoint;
use crate::model::weights::{Linear, ModelWeights};
use crate::model::{ModelConfig, ModelFiles};
use safetensors::Dtype;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Name of the head weight written explicitly for a tied checkpoint.
const LM_HEAD: &str = "lm_head.weight";

/// The dtype of the merged model's floating-point tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergedDtype {
    /// Each tensor's dtype in the source checkpoint (f32 for a GGUF import).
    #[default]
    Source,
    F32,
    F16,
    Bf16,
}

impl MergedDtype {
    /// The dtype a tensor stored as `source` is written in (integer tensors keep theirs).
    pub fn of(self, source: Dtype) -> Dtype {
        let float = matches!(source, Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16);
        match self {
            MergedDtype::F32 if float => Dtype::F32,
            MergedDtype::F16 if float => Dtype::F16,
            MergedDtype::Bf16 if float => Dtype::BF16,
            _ => source,
        }
    }

    /// `config.json`'s `torch_dtype` for it (`None`: the source's, unchanged).
    fn torch_name(self) -> Option<&'static str> {
        match self {
            MergedDtype::Source => None,
            MergedDtype::F32 => Some("float32"),
            MergedDtype::F16 => Some("float16"),
            MergedDtype::Bf16 => Some("bfloat16"),
        }
    }
}

impl std::str::FromStr for MergedDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "source" => Ok(MergedDtype::Source),
            "f32" => Ok(MergedDtype::F32),
            "f16" => Ok(MergedDtype::F16),
            "bf16" => Ok(MergedDtype::Bf16),
            _ => Err(Error::param(
                "merged dtype",
                format!("`{s}` is not one of source, f32, f16, bf16"),
            )),
        }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exported {
    /// File names, in the order they were finished.
    pub files: Vec<String>,
    /// Tensors written.
    pub tensors: usize,
}

/// Writes the merged model to `out`. `source` is the checkpoint the weights were loaded from
/// (names, dtypes, shapes; the frozen embedding and any extra tensor are copied from it);
/// `model_files` is its folder (the shard index and the tokenizer files come from there).
/// Norm weights, biases and dense layers are read back from the backend (they may have been
/// trained). A tied checkpoint gets an explicit, trained `lm_head.weight` (in the embedding's
/// file, with its dtype) and `tie_word_embeddings: false`. `progress(done, total, tensor)`
/// after each tensor.
pub async fn export_merged<B: Backend, F: ModelFiles>(
    be: &B,
    cfg: &ModelConfig,
    weights: &ModelWeights<B::Tensor>,
    source: &Checkpoint<F::Source>,
    model_files: &F,
    out: &mut impl ExportTarget,
    progress: impl FnMut(usize, usize, &str),
) -> Result<Exported> {
    let files = (source, model_files);
    export_merged_as(be, cfg, weights, files, MergedDtype::Source, out, progress).await
}

/// As [`export_merged`], with every floating-point tensor written in `dtype` (a GGUF import's
/// f32 checkpoint as f16 or bf16, say); `config.json`'s `torch_dtype` says so.
pub async fn export_merged_as<B: Backend, F: ModelFiles>(
    be: &B,
    cfg: &ModelConfig,
    weights: &ModelWeights<B::Tensor>,
    (source, model_files): (&Checkpoint<F::Source>, &F),
    dtype: MergedDtype,
    out: &mut impl ExportTarget,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<Exported> {
    crate::model::layout::check_checkpoint(cfg, source)?;
    let held = walk::backend_tensors(cfg, weights)?;
    preflight(be, cfg, weights).await?;
    let FilePlan { shards, index } = plan_files(cfg, source, model_files, &held, dtype)?;
    let total: usize = shards.iter().map(|(_, t)| t.len()).sum();
    let mut done = Exported::default();
    let mut weight_map = Map::new();
    let (mut total_size, mut total_params) = (0u64, 0u64);
    for (file_name, tensors) in shards {
        let mut w = SafetensorsWriter::new(&file_name, tensors)?;
        total_size += w.data_len();
        let mut file = out.create(&file_name)?;
        w.write_header(&mut file)?;
        for t in w.order().to_vec() {
            let data = match held.get(&t.name) {
                Some(h) => read_held(be, h).await?,
                None => source.read_f32(&t.name)?,
            };
            w.write_f32(&mut file, &t.name, &data)?;
            weight_map.insert(t.name.clone(), Value::String(file_name.clone()));
            total_params += t.numel() as u64;
            done.tensors += 1;
            progress(done.tensors, total, &t.name);
        }
        w.finish()?;
        out.finish(file)?;
        done.files.push(file_name);
    }
    if let Some(mut meta) = index {
        meta.insert("total_size".into(), json!(total_size));
        meta.insert("total_parameters".into(), json!(total_params));
        let text = to_json(&json!({ "metadata": meta, "weight_map": weight_map }))?;
        write_file(out, INDEX, text.as_bytes())?;
        done.files.push(INDEX.into());
    }
    let mut cfg_out = cfg.clone();
    if let Some(name) = dtype.torch_name() {
        for key in ["torch_dtype", "dtype"] {
            if key == "torch_dtype" || cfg_out.raw.contains_key(key) {
                cfg_out.raw.insert(key.into(), Value::String(name.into()));
            }
        }
    }
    write_file(out, CONFIG, merged_config_json(&cfg_out)?.as_bytes())?;
    done.files.push(CONFIG.into());
    done.files.extend(copy_passthrough(model_files, out)?);
    Ok(done)
}

/// A norm weight as the checkpoint stores it: the engine's `offset + w` less `offset` (Gemma's
/// `1 + w`; exact for trained values, within one f32 rounding of `1 + w` for untouched ones).
pub(crate) fn without_offset(mut data: Vec<f32>, offset: f32) -> Vec<f32> {
    if offset != 0.0 {
        data.iter_mut().for_each(|x| *x -= offset);
    }
    data
}

/// A tensor from the backend, merged first when decomposed.
async fn read_held<B: Backend>(be: &B, held: &Held<'_, B::Tensor>) -> Result<Vec<f32>> {
    match held {
        Held::Tensor(t) => read_f32(be, t).await,
        Held::Norm(t, offset) => Ok(without_offset(be.read(t).await?, *offset)),
        Held::Merge(s) => {
            let (m, n, q) = s.dims()?;
            let mut delta = be.zeros(&[q])?;
            svd_linear_delta(be, s, &mut delta)?;
            // Packed W, U, V are merged through f32 copies of this one layer's.
            let (w32, u_32, v_32) = (
                unpacked(be, &s.w)?,
                unpacked(be, &s.u)?,
                unpacked(be, &s.v)?,
            );
            let mut merged = be.zeros_large(&[m, n])?;
            let (w, u, v) = (
                w32.as_ref().unwrap_or(&s.w),
                u_32.as_ref().unwrap_or(&s.u),
                v_32.as_ref().unwrap_or(&s.v),
            );
            be.svd_merge(w, u, &delta, v, &mut merged)?;
            be.flush()?;
            be.read(&merged).await
        }
    }
}

/// Refuses the export before any file is started when a Σ or a norm weight is not finite (what
/// a diverged training run leaves behind).
pub(crate) async fn preflight<B: Backend>(
    be: &B,
    cfg: &ModelConfig,
    weights: &ModelWeights<B::Tensor>,
) -> Result<()> {
    for (spec, lin) in walk::linears(cfg, weights)? {
        if let Linear::Svd(s) = lin {
            check_finite(
                &format!("Σ of `{}`", spec.module),
                &be.read(&s.sigma).await?,
            )?;
        }
    }
    for (name, t) in walk::norms(weights) {
        check_finite(&format!("`{name}`"), &be.read(t).await?)?;
    }
    Ok(())
}

/// Fails naming `what` and the first value that is NaN or infinite.
pub(crate) fn check_finite(what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::param(
            "export",
            format!(
                "refusing to export: {what} holds {} at index {i} (training diverged?)",
                values[i]
            ),
        )),
    }
}

/// The weight files of an export.
struct FilePlan {
    /// File name and its tensors, sorted by file name.
    shards: Vec<(String, Vec<TensorHeader>)>,
    /// The source index's `metadata`, when the source was sharded (an index is written).
    index: Option<Map<String, Value>>,
}

/// Lays out the output files like the source's. Checks that each tensor held on the backend
/// matches the checkpoint's shape and that the checkpoint has every one of them.
fn plan_files<F: ModelFiles>(
    cfg: &ModelConfig,
    source: &Checkpoint<F::Source>,
    model_files: &F,
    held: &BTreeMap<String, Held<'_, impl TensorInfo>>,
    dtype: MergedDtype,
) -> Result<FilePlan> {
    let (weight_map, index_meta) = if model_files.has(INDEX) {
        let name = model_files.describe(INDEX);
        let json: Value = serde_json::from_str(&model_files.read_text(INDEX)?)
            .map_err(|e| Error::input(&name, format!("not valid JSON: {e}")))?;
        let map = json.get("weight_map").and_then(Value::as_object).cloned();
        let meta = json
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        (map.unwrap_or_default(), Some(meta))
    } else {
        (Map::new(), None)
    };
    let file_of = |name: &str, holder: &str| -> String {
        if index_meta.is_none() {
            return SINGLE.to_string();
        }
        match weight_map.get(name).and_then(Value::as_str) {
            Some(f) => f.to_string(),
            None => holder
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or(holder)
                .to_string(),
        }
    };
    let mut files: BTreeMap<String, Vec<TensorHeader>> = BTreeMap::new();
    for name in source.names() {
        let (entry, holder) = source
            .entry(name)
            .ok_or_else(|| Error::param("export", format!("checkpoint lost `{name}`")))?;
        if let Some(h) = held.get(name) {
            check_shape(name, holder, &entry.shape, h)?;
        }
        files
            .entry(file_of(name, holder))
            .or_default()
            .push(TensorHeader::new(name, dtype.of(entry.dtype), &entry.shape));
    }
    if cfg.tie_word_embeddings && source.entry(LM_HEAD).is_none() {
        let (embed, holder) = source.entry(EMBED).ok_or_else(|| {
            Error::input("checkpoint", format!("the embedding `{EMBED}` is missing"))
        })?;
        if let Some(h) = held.get(LM_HEAD) {
            check_shape(LM_HEAD, holder, &embed.shape, h)?;
        }
        files
            .entry(file_of(EMBED, holder))
            .or_default()
            .push(TensorHeader::new(
                LM_HEAD,
                dtype.of(embed.dtype),
                &embed.shape,
            ));
    }
    for name in held.keys() {
        if !files.values().flatten().any(|t| &t.name == name) {
            return Err(Error::input(
                "checkpoint",
                format!("has no tensor `{name}`: the weights were not loaded from this checkpoint"),
            ));
        }
    }
    Ok(FilePlan {
        shards: files.into_iter().collect(),
        index: index_meta,
    })
}

/// The checkpoint's shape of `name` must be the backend tensor's.
fn check_shape<T: TensorInfo>(
    name: &str,
    file: &str,
    shape: &[usize],
    held: &Held<'_, T>,
) -> Result<()> {
    let found = match held {
        Held::Tensor(t) | Held::Norm(t, _) => t.shape().dims().to_vec(),
        Held::Merge(s) => {
            let (m, n, _) = s.dims()?;
            vec![m, n]
        }
    };
    if found != shape {
        return Err(Error::input(
            file,
            format!("tensor `{name}` has shape {shape:?}, but the trained weight is {found:?}"),
        ));
    }
    Ok(())
}
