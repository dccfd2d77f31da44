//! The model's chat template, rendered as transformers' `apply_chat_template(tokenize=False)` does:
//! Jinja with `trim_blocks` and `lstrip_blocks`, loop controls, Python string/dict methods
//! (`minijinja_contrib::pycompat`, with a bounded `str.join`), `raise_exception(msg)`, `strftime_now(fmt)`, a Python-style
//! `tojson`, and the tokenizer's special tokens (`bos_token`, `eos_token`, …) as variables.
//!
//! Where the template comes from, first match wins: `chat_template.jinja`, then
//! `tokenizer_config.json`'s `chat_template` (a string, or the list form of named templates, of
//! which `default` is used), else ChatML with a notice ([`ChatTemplate::notice`]).
//! `{% generation %}` / `{% endgeneration %}` markers (used by transformers for assistant masks)
//! are accepted and render as nothing, whitespace control included.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{Environment, Error as JinjaError, ErrorKind};
use serde_json::Value as Json;

use super::{Message, py_methods, pyjson, strftime};
use crate::{Error, Result};

/// ChatML, what transformers used to fall back to for a tokenizer without a template.
pub const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + \
message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}\
{{ '<|im_start|>assistant\\n' }}{% endif %}";

const NAME: &str = "chat_template";
/// `i64::MIN` = use the clock.
const CLOCK: i64 = i64::MIN;

/// Work one render may do (minijinja's fuel: one per instruction, one per 64 bytes of data it
/// builds or formats). Real templates need under 130,000 for 2,000 turns and under 310,000 for
/// 2 MB of text; a template that loops without end, or builds values of gigabytes, stops here
/// with a clear error instead of hanging or killing the page (about 0.2 s and 64 MB of data).
const RENDER_FUEL: u64 = 1_000_000;
/// Conversations with more message text than this get [`RENDER_FUEL`] plus one step per
/// [`TEXT_BYTES_PER_EXTRA_STEP`] bytes of it: a template reads each message a few times, at one
/// step per 64 bytes read (a Qwen3-style template needs about 300,000 for 2 MB of text; records
/// go up to 8 MiB).
const LARGE_TEXT_BYTES: usize = 1 << 20;
const TEXT_BYTES_PER_EXTRA_STEP: usize = 4;
/// Bytes one render may write (a conversation renders to kilobytes).
pub(super) const MAX_RENDER_BYTES: usize = 8 << 20;

/// An `io::Write` that refuses to grow past [`MAX_RENDER_BYTES`] (and remembers it did).
#[derive(Default)]
struct Bounded {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDER_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A compiled chat template plus the special-token variables it is rendered with.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    vars: Vec<(String, Value)>,
    bos: Option<String>,
    eos: Option<String>,
    notice: Option<String>,
    /// The file the template came from (`chat_template.jinja`, `tokenizer_config.json`, or a
    /// path to one natively), named by errors that say the template itself is at fault.
    origin: String,
    fixed_time: Arc<AtomicI64>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("source_len", &self.source.len())
            .finish()
    }
}

/// A special token in `tokenizer_config.json`: a string or an `AddedToken` object with `content`.
pub(crate) fn token_string(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn err(message: impl Into<String>) -> Error {
    Error::param(crate::error::TEMPLATE_OP, message)
}

impl ChatTemplate {
    /// Builds the template from the model folder's `tokenizer_config.json` text and, if present,
    /// its `chat_template.jinja` text.
    pub fn from_files(
        tokenizer_config_json: &str,
        chat_template_jinja: Option<&str>,
    ) -> Result<Self> {
        let config: Json = serde_json::from_str(tokenizer_config_json)
            .map_err(|e| err(format!("tokenizer_config.json is not valid JSON: {e}")))?;
        let config = config
            .as_object()
            .ok_or_else(|| err("tokenizer_config.json must hold a JSON object"))?;
        let mut notice = None;
        let mut origin = "tokenizer_config.json";
        let source = match chat_template_jinja {
            Some(s) => {
                origin = "chat_template.jinja";
                s.to_string()
            }
            None => match config.get("chat_template") {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Array(list)) => named_default(list)?,
                Some(Json::Null) | None => {
                    origin = "the built-in ChatML template";
                    notice = Some(
                        "the model has no chat template (no chat_template.jinja and no \
                         chat_template in tokenizer_config.json); using ChatML"
                            .to_string(),
                    );
                    CHATML.to_string()
                }
                Some(_) => {
                    return Err(err(
                        "tokenizer_config.json: chat_template must be a string or a list of {name, template}",
                    ));
                }
            },
        };
        let mut vars = Vec::new();
        for key in [
            "bos_token",
            "eos_token",
            "unk_token",
            "sep_token",
            "pad_token",
            "cls_token",
            "mask_token",
        ] {
            if let Some(s) = token_string(config.get(key)) {
                vars.push((key.to_string(), Value::from(s)));
            }
        }
        if let Some(Json::Array(list)) = config.get("additional_special_tokens") {
            let toks: Vec<Value> = list
                .iter()
                .filter_map(|v| token_string(Some(v)))
                .map(Value::from)
                .collect();
            vars.push(("additional_special_tokens".into(), Value::from(toks)));
        }
        let bos = token_string(config.get("bos_token"));
        let eos = token_string(config.get("eos_token"));
        let mut t = Self::from_source(&source, vars)?;
        t.bos = bos;
        t.eos = eos;
        t.notice = notice;
        t.origin = origin.to_string();
        Ok(t)
    }

    /// Compiles a template source with the given extra variables (special tokens).
    pub fn from_source(source: &str, vars: Vec<(String, Value)>) -> Result<Self> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| err(format!("{e}")))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(RENDER_FUEL));
        env.set_unknown_method_callback(py_methods::unknown_method_callback);
        env.add_filter("tojson", pyjson::tojson_filter);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<Value, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        let fixed_time = Arc::new(AtomicI64::new(CLOCK));
        let clock = fixed_time.clone();
        env.add_function("strftime_now", move |fmt: String| -> String {
            let t = clock.load(Ordering::Relaxed);
            let t = if t == CLOCK { strftime::unix_now() } else { t };
            strftime::format(&fmt, t)
        });
        let source = strip_generation_tags(source);
        env.add_template_owned(NAME, source.clone()).map_err(|e| {
            err(format!(
                "cannot compile the chat template: {}",
                describe(&e)
            ))
        })?;
        Ok(ChatTemplate {
            env,
            source,
            vars,
            bos: None,
            eos: None,
            notice: None,
            origin: "the chat template".to_string(),
            fixed_time,
        })
    }

    /// The BOS token string from `tokenizer_config.json`, if any.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos.as_deref()
    }

    /// The EOS token string from `tokenizer_config.json`, if any.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos.as_deref()
    }

    /// Set when the model had no template and ChatML is used instead.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// The file the template came from: `chat_template.jinja` or `tokenizer_config.json` (see
    /// [`ChatTemplate::set_origin`]), or "the built-in ChatML template".
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Names the template's file as the user knows it (a path natively).
    pub fn set_origin(&mut self, origin: impl Into<String>) {
        self.origin = origin.into();
    }

    /// The template source as compiled.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Pins `strftime_now` to `unix_seconds` (UTC) for reproducible renders; `None` = the clock.
    pub fn set_time(&self, unix_seconds: Option<i64>) {
        self.fixed_time
            .store(unix_seconds.unwrap_or(CLOCK), Ordering::Relaxed);
    }

    /// Renders `messages`, with the assistant prompt opener appended when
    /// `add_generation_prompt` (as transformers: `tools` and `documents` are none).
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let msgs: Vec<Value> = messages
            .iter()
            .map(|m| {
                Value::from_pairs([
                    ("role", Value::from(m.role.as_str())),
                    ("content", Value::from(m.content.as_str())),
                ])
            })
            .collect();
        let mut ctx: Vec<(String, Value)> = self.vars.clone();
        ctx.push(("messages".into(), Value::from(msgs)));
        ctx.push((
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        ));
        ctx.push(("tools".into(), Value::from(())));
        ctx.push(("documents".into(), Value::from(())));
        let text: usize = messages
            .iter()
            .map(|m| m.role.as_str().len() + m.content.len())
            .sum();
        let (fuel, larger_budget) = if text > LARGE_TEXT_BYTES {
            let fuel = RENDER_FUEL + (text / TEXT_BYTES_PER_EXTRA_STEP) as u64;
            let mut env = self.env.clone();
            env.set_fuel(Some(fuel));
            (fuel, Some(env))
        } else {
            (RENDER_FUEL, None)
        };
        let env = larger_budget.as_ref().unwrap_or(&self.env);
        let tmpl = env.get_template(NAME).map_err(|e| err(describe(&e)))?;
        let mut out = Bounded::default();
        match tmpl.render_captured_to(Value::from_pairs(ctx), &mut out) {
            Ok(_) => String::from_utf8(out.bytes)
                .map_err(|_| err("the chat template rendered text that is not UTF-8")),
            Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(err(format!(
                "the chat template in {} did not finish within {fuel} steps for one conversation \
                 (a loop without end, or values too large?)",
                self.origin
            ))),
            Err(_) if out.overflowed => Err(err(format!(
                "the chat template in {} wrote more than {} MiB for one conversation",
                self.origin,
                MAX_RENDER_BYTES >> 20
            ))),
            Err(e) => Err(err(describe(&e))),
        }
    }
}

/// The `default` entry of the list form `[{"name": …, "template": …}]`.
fn named_default(list: &[Json]) -> Result<String> {
    let mut names = Vec::new();
    for item in list {
        let name = item.get("name").and_then(Json::as_str);
        let tmpl = item.get("template").and_then(Json::as_str);
        match (name, tmpl) {
            (Some("default"), Some(t)) => return Ok(t.to_string()),
            (Some(n), Some(_)) => names.push(n.to_string()),
            _ => {
                return Err(err(
                    "tokenizer_config.json: each chat_template entry needs a 'name' and a 'template'",
                ));
            }
        }
    }
    Err(err(format!(
        "tokenizer_config.json lists chat templates [{}] but none is named 'default'",
        names.join(", ")
    )))
}

/// Longest template error message kept whole; longer ones (a template may raise megabytes) are
/// cut.
const MAX_MESSAGE_BYTES: usize = 1000;

/// A template error with its detail (cut to [`MAX_MESSAGE_BYTES`]) and the template line where it
/// happened.
fn describe(e: &JinjaError) -> String {
    let mut s = match e.kind() {
        ErrorKind::InvalidOperation => e.detail().unwrap_or("invalid operation").to_string(),
        _ => e.to_string(),
    };
    // `raise_exception('x' * 50000000)`: a skipped record's reason is kept for the report
    if s.len() > MAX_MESSAGE_BYTES {
        let total = s.len();
        let mut cut = MAX_MESSAGE_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(&format!("… ({total} bytes in all)"));
    }
    if let Some(line) = e.line()
        && e.kind() != ErrorKind::InvalidOperation
    {
        s.push_str(&format!(" (template line {line})"));
    }
    s
}

/// Replaces `{% generation %}` / `{% endgeneration %}` (with any whitespace-control marks) by an
/// `{% if true %}` … `{% endif %}` pair with the same marks, so whitespace handling is unchanged.
fn strip_generation_tags(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find("{%") {
        out.push_str(&rest[..i]);
        let tag = &rest[i..];
        // The closing mark after the opening one (`{%}` is not a tag that closes itself).
        let Some(end) = tag[2..].find("%}").map(|e| e + 2) else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let (lead, body) = match inner.chars().next() {
            Some(c @ ('-' | '+')) => (Some(c), &inner[1..]),
            _ => (None, inner),
        };
        let (body, trail) = match body.chars().last() {
            Some(c @ ('-' | '+')) => (&body[..body.len() - 1], Some(c)),
            _ => (body, None),
        };
        let word = body.trim();
        let repl = match word {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match repl {
            Some(r) => {
                out.push_str("{%");
                if let Some(c) = lead {
                    out.push(c);
                }
                out.push(' ');
                out.push_str(r);
                out.push(' ');
                if let Some(c) = trail {
                    out.push(c);
                }
                out.push_str("%}");
            }
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_tags_become_plain_blocks() {
        assert_eq!(
            strip_generation_tags("a{%- generation %}b{% endgeneration -%}c{{ x }}"),
            "a{%- if true %}b{% endif -%}c{{ x }}"
        );
    }
}
