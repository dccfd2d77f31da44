//! The `tojson` filter as transformers defines it for chat templates: Python's
//! `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)`.
//! (minijinja's own `tojson` escapes `<`, `>`, `&` and `'` for HTML and uses other separators, which
//! would change the rendered prompt.)
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Output bound: the same as a whole render's (a template can hand `tojson` any value it builds,
/// including many references to one large string).
const MAX_JSON_BYTES: usize = super::template::MAX_RENDER_BYTES;
/// Nesting bound: writing recurses once per level.
const MAX_JSON_DEPTH: usize = 128;
/// Widest `indent` accepted (real templates use 2 or 4).
const MAX_INDENT: i64 = 64;

fn json_error(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("tojson: {}", msg.into()),
    )
}

/// `{{ x | tojson }}`, `{{ x | tojson(indent=2) }}`, also `separators=[a, b]` and `sort_keys=true`.
pub(crate) fn tojson_filter(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let separators: Option<Value> = kwargs.get("separators")?;
    let _ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => {
            if let Some(s) = v.as_str() {
                Some(s.to_string())
            } else {
                let n = v
                    .as_i64()
                    .ok_or_else(|| json_error("indent must be an integer"))?;
                if n > MAX_INDENT {
                    return Err(json_error(format!("indent {n} is wider than {MAX_INDENT}")));
                }
                Some(" ".repeat(n.max(0) as usize))
            }
        }
    };
    let (item_sep, key_sep) = match separators {
        Some(v) if !v.is_none() => {
            let a = v.get_item_by_index(0)?;
            let b = v.get_item_by_index(1)?;
            match (a.as_str(), b.as_str()) {
                (Some(a), Some(b)) => (a.to_string(), b.to_string()),
                _ => return Err(json_error("separators must be two strings")),
            }
        }
        _ if indent.is_some() => (",".to_string(), ": ".to_string()),
        _ => (", ".to_string(), ": ".to_string()),
    };
    let mut w = Writer {
        out: String::new(),
        indent,
        item_sep,
        key_sep,
        sort_keys: sort_keys.unwrap_or(false),
    };
    w.value(&value, 0)?;
    Ok(Value::from(w.out))
}

struct Writer {
    out: String,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

/// Fails if `bytes` more would make `out` larger than [`MAX_JSON_BYTES`].
fn room_for(out: &str, bytes: usize) -> Result<(), Error> {
    if out.len().saturating_add(bytes) > MAX_JSON_BYTES {
        return Err(json_error(format!(
            "the JSON text would be larger than {} MiB",
            MAX_JSON_BYTES >> 20
        )));
    }
    Ok(())
}

fn push_to(out: &mut String, s: &str) -> Result<(), Error> {
    room_for(out, s.len())?;
    out.push_str(s);
    Ok(())
}

impl Writer {
    fn push(&mut self, s: &str) -> Result<(), Error> {
        push_to(&mut self.out, s)
    }

    fn newline(&mut self, level: usize) -> Result<(), Error> {
        if let Some(ind) = &self.indent {
            push_to(&mut self.out, "\n")?;
            for _ in 0..level {
                push_to(&mut self.out, ind)?;
            }
        }
        Ok(())
    }

    fn separator(&mut self, item: bool) -> Result<(), Error> {
        let sep = if item { &self.item_sep } else { &self.key_sep };
        push_to(&mut self.out, sep)
    }

    fn string(&mut self, s: &str) -> Result<(), Error> {
        // escapes only make it longer: check before the work and after
        room_for(&self.out, s.len() + 2)?;
        write_str(&mut self.out, s);
        room_for(&self.out, 0)
    }

    fn value(&mut self, v: &Value, level: usize) -> Result<(), Error> {
        if level > MAX_JSON_DEPTH {
            return Err(json_error(format!(
                "the value nests more than {MAX_JSON_DEPTH} levels deep"
            )));
        }
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => self.push("null")?,
            ValueKind::Bool => self.push(if v.is_true() { "true" } else { "false" })?,
            ValueKind::Number => {
                if v.is_integer() {
                    self.push(&v.to_string())?;
                } else {
                    let f = f64::try_from(v.clone())?;
                    self.push(&py_float(f))?;
                }
            }
            ValueKind::String => self.string(v.as_str().unwrap_or_default())?,
            ValueKind::Map => {
                let mut keys: Vec<Value> = v.try_iter()?.collect();
                if keys.is_empty() {
                    return self.push("{}");
                }
                if self.sort_keys {
                    keys.sort_by_key(|a| a.to_string());
                }
                self.push("{")?;
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        self.separator(true)?;
                    }
                    self.newline(level + 1)?;
                    let key = match k.as_str() {
                        Some(s) => s.to_string(),
                        None if k.is_none() => "null".to_string(),
                        None if k.kind() == ValueKind::Bool => {
                            (if k.is_true() { "true" } else { "false" }).to_string()
                        }
                        None => k.to_string(),
                    };
                    self.string(&key)?;
                    self.separator(false)?;
                    self.value(&v.get_item(k)?, level + 1)?;
                }
                self.newline(level)?;
                self.push("}")?;
            }
            ValueKind::Seq | ValueKind::Iterable => {
                // items one at a time: a lazily repeated list can stand for millions of them
                let mut items = v.try_iter()?.peekable();
                if items.peek().is_none() {
                    return self.push("[]");
                }
                self.push("[")?;
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        self.separator(true)?;
                    }
                    self.newline(level + 1)?;
                    self.value(&item, level + 1)?;
                }
                self.newline(level)?;
                self.push("]")?;
            }
            _ => {
                return Err(json_error(format!(
                    "cannot serialize a value of kind {}",
                    v.kind()
                )));
            }
        }
        Ok(())
    }
}

/// A JSON string as Python writes it with `ensure_ascii=False`: only `"`, `\` and control
/// characters are escaped.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{f:e}"); // e.g. "1.5e-5", "-2e20"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}
