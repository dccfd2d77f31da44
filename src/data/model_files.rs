//! The text side of a Hugging Face model folder: `tokenizer.json`, `tokenizer_config.json`,
//! optional `chat_template.jinja` and optional `generation_config.json`, loaded together.
use super::{ChatTemplate, TextTokenizer};
use crate::Result;

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

    /// From a model folder on disk.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        let read = |name: &str, required: bool| -> Result<Option<Vec<u8>>> {
            let p = dir.join(name);
            match std::fs::read(&p) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
                Err(e) => Err(crate::Error::param(
                    "model files",
                    format!("cannot read {}: {e}", p.display()),
                )),
            }
        };
        let text = |name: &str, bytes: Option<Vec<u8>>| -> Result<Option<String>> {
            bytes
                .map(|b| {
                    String::from_utf8(b).map_err(|_| {
                        crate::Error::param(
                            "model files",
                            format!("{} is not valid UTF-8", dir.join(name).display()),
                        )
                    })
                })
                .transpose()
        };
        let tokenizer = read("tokenizer.json", true)?.unwrap_or_default();
        let config = text(
            "tokenizer_config.json",
            read("tokenizer_config.json", false)?,
        )?;
        let jinja = text("chat_template.jinja", read("chat_template.jinja", false)?)?;
        let generation = text(
            "generation_config.json",
            read("generation_config.json", false)?,
        )?;
        Self::from_files(
            &tokenizer,
            config.as_deref(),
            jinja.as_deref(),
            generation.as_deref(),
        )
    }
}
