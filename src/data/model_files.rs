//! The text side of a Hugging Face model folder: `tokenizer.json`, `tokenizer_config.json`,
//! optional `chat_template.jinja` and optional `generation_config.json`, loaded together.
use super::{ChatTemplate, TextTokenizer};
use crate::model::{ByteSource, ModelFiles};
use crate::{Error, Result};

/// The files of a model folder that [`ModelText::from_model_files`] reads (the rest is config
/// and weights): what the page hands its data worker.
pub const TEXT_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "generation_config.json",
];

/// Chat template + tokenizer of one model.
#[derive(Debug)]
pub struct ModelText {
    pub template: ChatTemplate,
    pub tokenizer: TextTokenizer,
}

impl ModelText {
    /// From file contents (the browser path). A missing `tokenizer_config.json` means no special
    /// tokens and the ChatML fallback template.
    pub fn from_files(
        tokenizer_json: &[u8],
        tokenizer_config_json: Option<&str>,
        chat_template_jinja: Option<&str>,
        generation_config_json: Option<&str>,
    ) -> Result<Self> {
        let template =
            ChatTemplate::from_files(tokenizer_config_json.unwrap_or("{}"), chat_template_jinja)?;
        let mut tokenizer = TextTokenizer::from_bytes(tokenizer_json, tokenizer_config_json)?;
        if let Some(g) = generation_config_json {
            tokenizer = tokenizer.with_generation_config(g)?;
        }
        Ok(ModelText {
            template,
            tokenizer,
        })
    }

    /// From a model folder (a directory natively, dropped files in the browser): reads
    /// `tokenizer.json` (required) and the optional files, naming any that cannot be read.
    pub fn from_model_files<F: ModelFiles>(files: &F) -> Result<Self> {
        let optional = |name: &str| -> Result<Option<String>> {
            if files.has(name) {
                files.read_text(name).map(Some)
            } else {
                Ok(None)
            }
        };
        const TOKENIZER: &str = "tokenizer.json";
        if !files.has(TOKENIZER) {
            return Err(Error::input(
                files.describe(TOKENIZER),
                "missing: the model folder needs its tokenizer.json",
            ));
        }
        let src = files.open(TOKENIZER)?;
        let tokenizer = src.read_at(0, src.len() as usize)?;
        let config = optional("tokenizer_config.json")?;
        let jinja = optional("chat_template.jinja")?;
        let generation = optional("generation_config.json")?;
        let mut text = Self::from_files(
            &tokenizer,
            config.as_deref(),
            jinja.as_deref(),
            generation.as_deref(),
        )?;
        let origin = text.template.origin().to_string();
        if origin == "chat_template.jinja" || origin == "tokenizer_config.json" {
            let named = files.describe(&origin);
            text.template.set_origin(named);
        }
        Ok(text)
    }

    /// From a model folder on disk.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        Self::from_model_files(&crate::model::load::DirFiles::new(dir)?)
    }
}
