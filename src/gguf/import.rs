//! A GGUF model as a Hugging Face folder: [`GgufModel::open`] reads the header, checks every
//! tensor's type, name and shape against the config its metadata implies and builds the small
//! files; [`GgufModel::write_to`] then streams `model.safetensors` (f32, Hugging Face names and
//! layout) into an [`ExportTarget`] one tensor at a time, so the model is never held twice.
use super::config::{Arch, RopeTensors, TensorFacts, generation_config, heads, hf_config};
use super::names::{
    gguf_name_for, hf_name_for, norm_shift, permuted_heads, unpermute_row_bytes, unpermute_rows,
};
use super::reader::GgufFile;
use super::tokenizer::{TokenizerFiles, tokenizer_files};
use super::types::GgmlType;
use crate::error::{Error, Result};
use crate::export::safetensors_writer::{SafetensorsWriter, TensorHeader, write_safetensors};
use crate::export::target::{ExportTarget, MemoryTarget, write_file};
use crate::model::layout::expected_tensors;
use crate::model::{ByteSource, MemoryFiles, ModelConfig};
use safetensors::Dtype;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The weights file written.
pub const WEIGHTS: &str = "model.safetensors";

/// One tensor of the output: where it comes from and how it is laid out.
#[derive(Clone, Debug)]
struct Planned {
    hf_name: String,
    /// Index into the file's tensor table.
    index: usize,
    /// Row-major Hugging Face shape.
    shape: Vec<usize>,
    /// Head count to undo llama.cpp's q/k row permutation with.
    unpermute: Option<usize>,
    /// Subtracted from the values (Gemma's norms, stored by llama.cpp as `1 + w`).
    shift: f32,
}

/// What an import holds and writes (the CLI prints it, the page shows it).
#[derive(Clone, Debug, Serialize)]
pub struct ImportSummary {
    /// `general.architecture`.
    pub architecture: String,
    /// `general.name`, when given.
    pub name: Option<String>,
    pub layers: usize,
    pub hidden_size: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab_size: usize,
    pub context_length: usize,
    pub tied_embeddings: bool,
    /// GGUF tensor types and how many tensors have each, most frequent first.
    pub tensor_types: Vec<(String, usize)>,
    pub parameters: usize,
    /// `gpt2 / smollm: 49152 tokens (17 added)`, or `None` when the file has no tokenizer.
    pub tokenizer: Option<String>,
    /// Files written, in order.
    pub files: Vec<String>,
    /// Size of `model.safetensors`.
    pub weights_bytes: u64,
}

/// An opened GGUF model, ready to be written as a Hugging Face folder.
pub struct GgufModel<S: ByteSource> {
    src: S,
    pub file: GgufFile,
    pub arch: Arch,
    /// The config the written `config.json` parses to.
    pub cfg: ModelConfig,
    config_json: String,
    generation_json: Option<String>,
    pub tokenizer: Option<TokenizerFiles>,
    planned: Vec<Planned>,
}

impl<S: ByteSource> GgufModel<S> {
    /// Reads the header of `src` and checks it: a supported architecture, supported tensor types,
    /// llama.cpp tensor names that map to the Hugging Face ones, exactly the tensors (with the
    /// shapes) the config implies, and a tokenizer this importer can convert (when there is one).
    pub fn open(src: S) -> Result<Self> {
        let file = GgufFile::read(&src)?;
        Self::from_header(src, file)
    }

    /// As [`GgufModel::open`], from the header alone: the tensor data need not be present (a
    /// file cut off after its header still gives the config and tokenizer files; reading a
    /// tensor then fails naming the file).
    pub fn open_header(src: S) -> Result<Self> {
        let file = GgufFile::read_header(&src)?;
        Self::from_header(src, file)
    }

    fn from_header(src: S, file: GgufFile) -> Result<Self> {
        let name = file.file.clone();
        let meta = &file.metadata;
        let arch = Arch::from_metadata(meta)?;
        if let Some(t) = file.tensors.iter().find(|t| !t.ggml_type.is_supported()) {
            return Err(Error::input(
                &name,
                format!(
                    "tensor `{}` has type {}, which is not supported (supported: {})",
                    t.name,
                    t.ggml_type,
                    GgmlType::supported_list()
                ),
            ));
        }
        let mut by_hf = BTreeMap::new();
        let mut factors = [None, None, None];
        for (index, t) in file.tensors.iter().enumerate() {
            if let Some(slot) = ROPE_TENSORS.iter().position(|&n| n == t.name) {
                factors[slot] = Some(index);
                continue;
            }
            let hf = hf_name_for(arch.name(), &t.name)
                .ok_or_else(|| unknown_tensor(&name, &t.name, arch))?;
            by_hf.insert(hf, index);
        }
        let embed = by_hf
            .get("model.embed_tokens.weight")
            .map(|&i| &file.tensors[i])
            .ok_or_else(|| {
                Error::input(&name, "the token embedding `token_embd.weight` is missing")
            })?;
        let has = |hf: &str| by_hf.contains_key(hf);
        let facts = TensorFacts {
            vocab_rows: embed.shape()[0],
            embed_cols: embed.shape().get(1).copied().unwrap_or(0),
            n_tensors: file.tensors.len(),
            tied: !has("lm_head.weight"),
            attention_bias: has("model.layers.0.self_attn.q_proj.bias"),
            mlp_bias: has("model.layers.0.mlp.gate_proj.bias"),
        };
        let read = |i: usize| file.read_f32(&src, &file.tensors[i]);
        let rope = match factors {
            [None, None, None] => None,
            [Some(long), Some(short), None] => Some(RopeTensors::LongRope {
                long: read(long)?,
                short: read(short)?,
            }),
            [None, None, Some(freqs)] => Some(RopeTensors::Freqs(read(freqs)?)),
            [..] => {
                return Err(Error::input(
                    &name,
                    "the file has rope_freqs.weight with longrope factors, or only one of rope_factors_long.weight and rope_factors_short.weight",
                ));
            }
        };
        let config = hf_config(meta, arch, &facts, rope.as_ref())?;
        let config_json = serde_json::to_string_pretty(&config)
            .map_err(|e| Error::input(&name, format!("cannot write config.json: {e}")))?;
        let cfg = ModelConfig::from_json(&format!("{name} (as config.json)"), &config_json)?;
        let h = heads(meta, arch)?;
        let mut planned = Vec::new();
        for (hf, shape) in expected_tensors(&cfg) {
            let gguf = gguf_name_for(arch.name(), &hf).unwrap_or_else(|| hf.clone());
            let Some(index) = by_hf.remove(&hf) else {
                return Err(Error::input(
                    &name,
                    format!(
                        "the tensor `{gguf}` (shape {:?}) that this {} model needs is missing",
                        gguf_dims(&shape),
                        arch.name()
                    ),
                ));
            };
            let t = &file.tensors[index];
            if t.shape() != shape {
                return Err(Error::input(
                    &name,
                    format!(
                        "tensor `{gguf}` has dimensions {:?}, but the metadata implies {:?}",
                        t.dims,
                        gguf_dims(&shape)
                    ),
                ));
            }
            let unpermute = if arch.permutes_qk() {
                permuted_heads(&t.name, h.n_head, h.n_head_kv)
            } else {
                None
            };
            let shift = if hf.ends_with("norm.weight") {
                norm_shift(arch.name())
            } else {
                0.0
            };
            planned.push(Planned {
                shift,
                hf_name: hf,
                index,
                shape,
                unpermute,
            });
        }
        if let Some((_, &index)) = by_hf.iter().next() {
            return Err(Error::input(
                &name,
                format!(
                    "unexpected tensor `{}`: a {} model with this metadata has no such weight",
                    file.tensors[index].name,
                    arch.name()
                ),
            ));
        }
        let tokenizer = tokenizer_files(meta, Some(cfg.max_position_embeddings))?;
        if let Some(t) = &tokenizer
            && t.n_tokens > cfg.vocab_size
        {
            return Err(Error::input(
                &name,
                format!(
                    "the vocabulary has {} tokens, but token_embd.weight has only {} rows",
                    t.n_tokens, cfg.vocab_size
                ),
            ));
        }
        let generation_json = generation_config(meta)?
            .map(|g| serde_json::to_string_pretty(&g))
            .transpose()
            .map_err(|e| {
                Error::input(&name, format!("cannot write generation_config.json: {e}"))
            })?;
        Ok(GgufModel {
            src,
            file,
            arch,
            cfg,
            config_json,
            generation_json,
            tokenizer,
            planned,
        })
    }

    /// The text of the `config.json` written.
    pub fn config_json(&self) -> &str {
        &self.config_json
    }

    /// Names of the Hugging Face tensors written.
    pub fn tensor_names(&self) -> Vec<&str> {
        self.planned.iter().map(|p| p.hf_name.as_str()).collect()
    }

    /// The values of the Hugging Face tensor `hf_name`, dequantized and in Hugging Face layout.
    pub fn tensor_f32(&self, hf_name: &str) -> Result<Vec<f32>> {
        let p = self
            .planned
            .iter()
            .find(|p| p.hf_name == hf_name)
            .ok_or_else(|| {
                Error::input(&self.file.file, format!("no tensor maps to `{hf_name}`"))
            })?;
        self.values(p)
    }

    fn planned(&self, hf_name: &str) -> Option<&Planned> {
        self.planned.iter().find(|p| p.hf_name == hf_name)
    }

    /// The packed format the backends can hold the Hugging Face matrix `hf_name` in as the file
    /// stores it (GGUF blocks Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; F16; BF16), or
    /// `None` (F32, a type only [`GgufModel::tensor_f32`] reads, a tensor that is not 2-D or whose
    /// values are shifted on import).
    pub fn stored_format(&self, hf_name: &str) -> Option<crate::backend::Format> {
        let p = self.planned(hf_name)?;
        let t = &self.file.tensors[p.index];
        let f = crate::backend::Format::from_ggml(t.ggml_type)?;
        let ok = f.is_packed() && p.shape.len() == 2 && p.shift == 0.0;
        (ok && p.shape[1].is_multiple_of(f.block().0)).then_some(f)
    }

    /// The stored bytes of the matrix `hf_name` (see [`GgufModel::stored_format`]) in Hugging
    /// Face row order (llama.cpp's q/k row permutation undone on whole rows of blocks).
    pub fn tensor_stored(&self, hf_name: &str) -> Result<Vec<u8>> {
        let (Some(p), Some(f)) = (self.planned(hf_name), self.stored_format(hf_name)) else {
            return Err(Error::input(
                &self.file.file,
                format!("`{hf_name}` is not a matrix kept in its stored blocks"),
            ));
        };
        let t = &self.file.tensors[p.index];
        let len = usize::try_from(t.n_bytes).map_err(|_| {
            Error::input(
                &self.file.file,
                format!("tensor `{}` is too large for this platform", t.name),
            )
        })?;
        let (rows, cols) = (p.shape[0], p.shape[1]);
        if f.bytes_for(rows * cols) != len {
            return Err(Error::input(
                &self.file.file,
                format!(
                    "tensor `{}`: {len} bytes of {f} cannot be a [{rows}, {cols}] matrix",
                    t.name
                ),
            ));
        }
        let bytes = self.src.read_at(t.start, len)?;
        let Some(n_head) = p.unpermute else {
            return Ok(bytes);
        };
        unpermute_row_bytes(&bytes, rows, f.bytes_for(cols), n_head).ok_or_else(|| {
            Error::input(
                &self.file.file,
                format!(
                    "tensor `{}`: {rows} rows cannot be {n_head} heads of row pairs",
                    t.name
                ),
            )
        })
    }

    fn values(&self, p: &Planned) -> Result<Vec<f32>> {
        let t = &self.file.tensors[p.index];
        let mut data = self.file.read_f32(&self.src, t)?;
        if p.shift != 0.0 {
            data.iter_mut().for_each(|x| *x -= p.shift);
        }
        let Some(n_head) = p.unpermute else {
            return Ok(data);
        };
        let rows = p.shape[0];
        let cols = p.shape.get(1).copied().unwrap_or(1);
        unpermute_rows(&data, rows, cols, n_head).ok_or_else(|| {
            Error::input(
                &self.file.file,
                format!(
                    "tensor `{}`: {rows} rows cannot be {n_head} heads of row pairs",
                    t.name
                ),
            )
        })
    }

    pub(crate) fn headers(&self) -> Vec<TensorHeader> {
        self.planned
            .iter()
            .map(|p| TensorHeader::new(&p.hf_name, Dtype::F32, &p.shape))
            .collect()
    }

    /// The small files, by name, in the order they are written.
    pub fn small_files(&self) -> Vec<(&'static str, &str)> {
        let mut files = vec![("config.json", self.config_json.as_str())];
        if let Some(g) = &self.generation_json {
            files.push(("generation_config.json", g));
        }
        if let Some(t) = &self.tokenizer {
            files.push(("tokenizer.json", &t.tokenizer_json));
            files.push(("tokenizer_config.json", &t.tokenizer_config_json));
        }
        files
    }

    /// The small files (config, generation config, tokenizer) in memory, without the weights:
    /// what `inspect` and `data` read.
    pub fn header_files(&self) -> MemoryFiles {
        let mut files = MemoryFiles::new();
        for (name, text) in self.small_files() {
            files.insert(name, text.as_bytes());
        }
        files
    }

    /// The model's name as the file gives it: `general.name`, else `general.basename`.
    pub fn model_name(&self) -> Option<String> {
        ["general.name", "general.basename"].iter().find_map(|k| {
            let v = self.file.metadata.str(k).ok().flatten()?.trim();
            (!v.is_empty()).then(|| v.to_string())
        })
    }

    /// What the import holds and will write.
    pub fn summary(&self) -> Result<ImportSummary> {
        let mut counts: BTreeMap<GgmlType, usize> = BTreeMap::new();
        for t in &self.file.tensors {
            *counts.entry(t.ggml_type).or_default() += 1;
        }
        let mut tensor_types: Vec<(String, usize)> =
            counts.into_iter().map(|(t, n)| (t.name(), n)).collect();
        tensor_types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let writer = SafetensorsWriter::new(WEIGHTS, self.headers())?;
        let mut files: Vec<String> = self
            .small_files()
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        files.push(WEIGHTS.into());
        let c = &self.cfg;
        Ok(ImportSummary {
            architecture: self.arch.name().into(),
            name: self
                .file
                .metadata
                .str("general.name")
                .ok()
                .flatten()
                .map(str::to_string),
            layers: c.num_layers,
            hidden_size: c.hidden_size,
            heads: c.num_heads,
            kv_heads: c.num_kv_heads,
            vocab_size: c.vocab_size,
            context_length: c.max_position_embeddings,
            tied_embeddings: c.tie_word_embeddings,
            tensor_types,
            parameters: self
                .planned
                .iter()
                .map(|p| p.shape.iter().product::<usize>())
                .sum(),
            tokenizer: self.tokenizer.as_ref().map(|t| {
                format!(
                    "{} / {}: {} tokens ({} added)",
                    t.model, t.pre, t.n_tokens, t.n_added
                )
            }),
            files,
            weights_bytes: writer.file_len(),
        })
    }

    /// Writes the folder into `out`: `config.json`, `generation_config.json` (when the file names
    /// special tokens), `tokenizer.json` and `tokenizer_config.json` (when it has a tokenizer),
    /// then `model.safetensors` one tensor at a time; `progress(done, total, tensor)` after each.
    pub fn write_to<T: ExportTarget>(
        &self,
        out: &mut T,
        mut progress: impl FnMut(usize, usize, &str),
    ) -> Result<()> {
        for (name, text) in self.small_files() {
            write_file(out, name, text.as_bytes())?;
        }
        let by_name: HashMap<&str, &Planned> = self
            .planned
            .iter()
            .map(|p| (p.hf_name.as_str(), p))
            .collect();
        let total = self.planned.len();
        let mut done = 0;
        let mut sink = out.create(WEIGHTS)?;
        write_safetensors(WEIGHTS, &mut sink, self.headers(), |h| {
            let p = by_name
                .get(h.name.as_str())
                .ok_or_else(|| Error::input(WEIGHTS, format!("no source for `{}`", h.name)))?;
            let values = self.values(p)?;
            done += 1;
            progress(done, total, &h.name);
            Ok(values)
        })?;
        out.finish(sink)
    }

    /// The folder in memory (what [`crate::model::Model::load`] and
    /// [`crate::data::ModelText::from_model_files`] read).
    pub fn hf_files(&self, progress: impl FnMut(usize, usize, &str)) -> Result<MemoryFiles> {
        let mut out = MemoryTarget::new();
        self.write_to(&mut out, progress)?;
        Ok(out.into_model_files())
    }
}

/// A row-major shape as GGUF lists dimensions (innermost first).
fn gguf_dims(shape: &[usize]) -> Vec<usize> {
    shape.iter().rev().copied().collect()
}

/// RoPE tensors, read into `config.json` rather than weights: Phi-3's longrope factors and
/// Llama 3's per-frequency divisors.
const ROPE_TENSORS: [&str; 3] = [
    "rope_factors_long.weight",
    "rope_factors_short.weight",
    "rope_freqs.weight",
];

fn unknown_tensor(file: &str, tensor: &str, arch: Arch) -> Error {
    Error::input(
        file,
        format!(
            "tensor `{tensor}`: a {} model has no such weight (handled: token_embd, output_norm, output, \
             rope_freqs, and per layer attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, \
             ffn_gate, ffn_up, ffn_down; phi3: attn_qkv, rope_factors_long, rope_factors_short)",
            arch.name()
        ),
    )
}
