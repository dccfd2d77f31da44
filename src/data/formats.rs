//! Dataset formats: detected once per file from the first record with known fields, then every
//! record is converted to a [`Sample`] or rejected with a reason.
//!
//! | format | fields | becomes |
//! |---|---|---|
//! | OpenAI/TRL messages | `messages: [{role, content}]` (roles system/user/assistant) | every assistant turn trained |
//! | ShareGPT | `conversations: [{from, value}]` (from human/gpt/system; user/assistant accepted) | same |
//! | Alpaca | `instruction`, optional `input`, `output`, optional `system` | user = instruction (+ "\n\n" + input), assistant = output |
//! | TRL prompt/completion | `prompt`, `completion`: both message lists, or both strings | only the completion trained |
//! | plain text | `text` | every token trained (language modelling) |
use serde_json::{Map, Value};

use super::reader::kind_name;
use super::{Conversation, Message, Role, Sample};

/// A dataset format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Messages,
    ShareGpt,
    Alpaca,
    PromptCompletion,
    Text,
}

impl Format {
    /// Human-readable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Messages => "OpenAI/TRL messages",
            Format::ShareGpt => "ShareGPT conversations",
            Format::Alpaca => "Alpaca instruction/input/output",
            Format::PromptCompletion => "TRL prompt/completion",
            Format::Text => "plain text",
        }
    }

    /// The format a record's keys point to, if any.
    pub fn detect(record: &Map<String, Value>) -> Option<Format> {
        let has = |k: &str| record.contains_key(k);
        if has("messages") {
            Some(Format::Messages)
        } else if has("conversations") {
            Some(Format::ShareGpt)
        } else if has("prompt") && has("completion") {
            Some(Format::PromptCompletion)
        } else if has("instruction") && has("output") {
            Some(Format::Alpaca)
        } else if has("text") {
            Some(Format::Text)
        } else {
            None
        }
    }

    /// Converts one record of this format. The error is the skip reason.
    pub fn parse(self, record: &Map<String, Value>) -> Result<Sample, String> {
        match self {
            Format::Messages => {
                let msgs = message_list(record, "messages", "role", "content", role_openai)?;
                chat(msgs, 0)
            }
            Format::ShareGpt => {
                let msgs = message_list(record, "conversations", "from", "value", role_sharegpt)?;
                chat(msgs, 0)
            }
            Format::Alpaca => alpaca(record),
            Format::PromptCompletion => prompt_completion(record),
            Format::Text => {
                let text = string_field(record, "text")?;
                if text.trim().is_empty() {
                    return Err("field 'text' is empty".into());
                }
                Ok(Sample::Text {
                    prompt: String::new(),
                    completion: text.to_string(),
                })
            }
        }
    }

    /// The fields a record of this format needs (for "missing field" messages).
    pub fn fields(self) -> &'static str {
        match self {
            Format::Messages => "'messages'",
            Format::ShareGpt => "'conversations'",
            Format::Alpaca => "'instruction' and 'output'",
            Format::PromptCompletion => "'prompt' and 'completion'",
            Format::Text => "'text'",
        }
    }
}

/// Explains why a record matches no format.
pub fn unknown_record_reason(record: &Map<String, Value>) -> String {
    let keys: Vec<&str> = record.keys().map(|k| k.as_str()).take(8).collect();
    format!(
        "no known fields (expected 'messages', 'conversations', 'prompt'+'completion', \
         'instruction'+'output' or 'text'); found keys: [{}]",
        keys.join(", ")
    )
}

fn role_openai(s: &str) -> Option<Role> {
    Role::parse(s)
}

fn role_sharegpt(s: &str) -> Option<Role> {
    match s {
        "human" | "user" => Some(Role::User),
        "gpt" | "assistant" => Some(Role::Assistant),
        "system" => Some(Role::System),
        _ => None,
    }
}

fn string_field<'a>(record: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match record.get(key) {
        None => Err(format!("missing field '{key}'")),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(format!(
            "field '{key}' must be a string, found {}",
            kind_name(v)
        )),
    }
}

fn message_list(
    record: &Map<String, Value>,
    key: &str,
    role_key: &str,
    content_key: &str,
    role_of: fn(&str) -> Option<Role>,
) -> Result<Vec<Message>, String> {
    let list = match record.get(key) {
        None => return Err(format!("missing field '{key}'")),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(format!(
                "field '{key}' must be a list of messages, found {}",
                kind_name(v)
            ));
        }
    };
    parse_messages(list, key, role_key, content_key, role_of)
}

fn parse_messages(
    list: &[Value],
    key: &str,
    role_key: &str,
    content_key: &str,
    role_of: fn(&str) -> Option<Role>,
) -> Result<Vec<Message>, String> {
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let n = i + 1;
        let Value::Object(m) = m else {
            return Err(format!(
                "{key} message {n} must be an object, found {}",
                kind_name(m)
            ));
        };
        let role = match m.get(role_key) {
            Some(Value::String(r)) => {
                role_of(r).ok_or_else(|| format!("unknown role '{r}' in {key} message {n}"))?
            }
            Some(v) => {
                return Err(format!(
                    "{key} message {n}: '{role_key}' must be a string, found {}",
                    kind_name(v)
                ));
            }
            None => return Err(format!("{key} message {n} has no '{role_key}'")),
        };
        let content = match m.get(content_key) {
            Some(Value::String(c)) => c.clone(),
            Some(Value::Null) | None => {
                return Err(format!("{key} message {n} has no '{content_key}'"));
            }
            Some(v) => {
                return Err(format!(
                    "{key} message {n}: '{content_key}' must be a string, found {}",
                    kind_name(v)
                ));
            }
        };
        out.push(Message { role, content });
    }
    Ok(out)
}

/// Checks a conversation: something to train on, no empty assistant turn.
fn chat(messages: Vec<Message>, train_from: usize) -> Result<Sample, String> {
    if messages.is_empty() {
        return Err("the conversation has no messages".into());
    }
    for (i, m) in messages.iter().enumerate() {
        if m.role == Role::Assistant && m.content.trim().is_empty() {
            return Err(format!("empty assistant turn (message {})", i + 1));
        }
    }
    if !messages[train_from..]
        .iter()
        .any(|m| m.role == Role::Assistant)
    {
        return Err("no assistant turn to train on".into());
    }
    Ok(Sample::Chat(Conversation {
        messages,
        train_from,
    }))
}

fn alpaca(record: &Map<String, Value>) -> Result<Sample, String> {
    let instruction = string_field(record, "instruction")?;
    let output = string_field(record, "output")?;
    let input = match record.get("input") {
        None | Some(Value::Null) => "",
        Some(_) => string_field(record, "input")?,
    };
    if instruction.trim().is_empty() {
        return Err("field 'instruction' is empty".into());
    }
    let mut msgs = Vec::with_capacity(3);
    if let Some(Value::String(s)) = record.get("system")
        && !s.trim().is_empty()
    {
        msgs.push(Message::system(s.clone()));
    }
    let user = if input.trim().is_empty() {
        instruction.to_string()
    } else {
        format!("{instruction}\n\n{input}")
    };
    msgs.push(Message::user(user));
    msgs.push(Message::assistant(output));
    chat(msgs, 0)
}

fn prompt_completion(record: &Map<String, Value>) -> Result<Sample, String> {
    match (record.get("prompt"), record.get("completion")) {
        (Some(Value::Array(p)), Some(Value::Array(c))) => {
            let mut msgs = parse_messages(p, "prompt", "role", "content", role_openai)?;
            let completion = parse_messages(c, "completion", "role", "content", role_openai)?;
            if completion.is_empty() {
                return Err("field 'completion' has no messages".into());
            }
            let train_from = msgs.len();
            msgs.extend(completion);
            chat(msgs, train_from)
        }
        (Some(Value::String(p)), Some(Value::String(c))) => {
            if c.trim().is_empty() {
                return Err("field 'completion' is empty".into());
            }
            Ok(Sample::Text {
                prompt: p.clone(),
                completion: c.clone(),
            })
        }
        (Some(p), Some(c)) => Err(format!(
            "'prompt' and 'completion' must both be message lists or both strings, found {} and {}",
            kind_name(p),
            kind_name(c)
        )),
        (None, _) => Err("missing field 'prompt'".into()),
        (_, None) => Err("missing field 'completion'".into()),
    }
}
