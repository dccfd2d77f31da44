//! Python methods on template values: `minijinja_contrib::pycompat`, with bounds where pycompat
//! has none, so that a hostile template gets an error instead of exhausting memory or time:
//! - `str.join`: pycompat charges only its separators, so `''.join(['x' * 1000000] * 100000)`
//!   would build 100 GB; here the result is bounded like a render's output;
//! - `str.format`: widths, precisions and repeated fields are checked against the same bound
//!   before pycompat formats;
//! - `str.split`, `str.rsplit`, `str.splitlines`: at most [`MAX_PIECES`] pieces;
//! - `str.strip`, `lstrip`, `rstrip` with characters: done here with a set, linear in the string;
//! - `str.startswith`, `str.endswith` with a sequence of prefixes, and `list.count`: charged to
//!   the render's fuel for what they compare (the engine charges only the receiving string).
use std::collections::BTreeSet;
use std::fmt::Write;

use minijinja::value::{Kwargs, Value};
use minijinja::{Error, ErrorKind, State};

/// Largest string `str.join` or `str.format` builds (the same bound as a render's output).
pub(crate) const MAX_JOINED_BYTES: usize = super::template::MAX_RENDER_BYTES;
/// Most pieces a split returns.
pub(crate) const MAX_PIECES: usize = 1_000_000;
/// Widest width or precision `str.format` accepts.
const MAX_FORMAT_WIDTH: u64 = 4096;

/// The unknown-method callback the template environment uses.
pub(crate) fn unknown_method_callback(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        match (method, args) {
            ("join", [items]) => return join(s, items),
            ("format", _) => check_format(s, args)?,
            ("split" | "rsplit" | "splitlines", _) => check_pieces(s, method, args)?,
            ("strip" | "lstrip" | "rstrip", [chars]) if chars.as_str().is_some() => {
                return Ok(strip(s, method, chars.as_str().unwrap_or_default()));
            }
            ("startswith" | "endswith", [affixes, ..]) if affixes.as_str().is_none() => {
                charge_affixes(state, s, affixes)?;
            }
            _ => {}
        }
    } else if let ("count", Some(len)) = (method, value.len()) {
        // compares every item: half a step each, like the engine's own loops
        state.consume_fuel(len as u64 / 2 + 1)?;
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// Charges `s.startswith(affixes)` with a sequence for the bytes each affix compares (one step
/// per 64, as the engine charges reading) and half a step per affix.
fn charge_affixes(state: &State, s: &str, affixes: &Value) -> Result<(), Error> {
    let (mut bytes, mut items) = (0u64, 0u64);
    for affix in affixes.try_iter()? {
        items += 1;
        bytes += affix.as_str().map_or(0, |a| a.len().min(s.len())) as u64;
    }
    state.consume_fuel(bytes / 64 + items / 2 + 1)
}

/// `separator.join(items)`, each item written as `{{ item }}` would.
fn join(separator: &str, items: &Value) -> Result<Value, Error> {
    let mut joined = String::new();
    for (i, item) in items.try_iter()?.enumerate() {
        if i > 0 {
            push_bounded(&mut joined, separator)?;
        }
        match item.as_str() {
            Some(s) => push_bounded(&mut joined, s)?,
            // formatting a container is charged to the render's fuel, and stops when it is gone
            None => {
                write!(joined, "{item}").ok();
                push_bounded(&mut joined, "")?;
            }
        }
    }
    Ok(Value::from(joined))
}

fn push_bounded(out: &mut String, s: &str) -> Result<(), Error> {
    if out.len() + s.len() > MAX_JOINED_BYTES {
        return Err(too_large());
    }
    out.push_str(s);
    Ok(())
}

fn too_large() -> Error {
    invalid(format!(
        "str.join: the joined string would be larger than {} MiB",
        MAX_JOINED_BYTES >> 20
    ))
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// Refuses a `str.format` whose widths or precisions, or fields times its longest string
/// argument, would exceed the output bound.
fn check_format(template: &str, args: &[Value]) -> Result<(), Error> {
    let fields = template.matches('{').count();
    let mut longest = 0;
    for arg in args {
        if let Some(s) = arg.as_str() {
            longest = longest.max(s.len());
        } else if let Ok(kwargs) = Kwargs::try_from(arg.clone()) {
            for key in kwargs.args() {
                let v: Value = kwargs.peek(key)?;
                longest = longest.max(v.as_str().map_or(0, str::len));
            }
        }
    }
    if fields.saturating_mul(longest) > MAX_JOINED_BYTES {
        return Err(invalid(format!(
            "str.format: the result would be larger than {} MiB",
            MAX_JOINED_BYTES >> 20
        )));
    }
    // widths and precisions: digit runs after a `:` inside a field
    for spec in template
        .split('{')
        .skip(1)
        .filter_map(|f| f.split('}').next())
    {
        let Some((_, spec)) = spec.split_once(':') else {
            continue;
        };
        for digits in spec
            .split(|c: char| !c.is_ascii_digit())
            .filter(|d| !d.is_empty())
        {
            if digits.len() > 6 || digits.parse::<u64>().unwrap_or(u64::MAX) > MAX_FORMAT_WIDTH {
                return Err(invalid(format!(
                    "str.format: width or precision {digits} is above {MAX_FORMAT_WIDTH}"
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a split into more than [`MAX_PIECES`] pieces (counted without allocating).
fn check_pieces(s: &str, method: &str, args: &[Value]) -> Result<(), Error> {
    let pieces = match (method, args.first().and_then(Value::as_str)) {
        ("splitlines", _) => s.lines().count(),
        (_, Some(sep)) if !sep.is_empty() => s.matches(sep).count() + 1,
        _ => s.split_whitespace().count(),
    };
    if pieces > MAX_PIECES {
        return Err(invalid(format!(
            "str.{method}: more than {MAX_PIECES} pieces"
        )));
    }
    Ok(())
}

/// `s.strip(chars)` and its one-sided forms, as Python: the characters are a set.
fn strip(s: &str, method: &str, chars: &str) -> Value {
    let set: BTreeSet<char> = chars.chars().collect();
    let strip = |c: char| set.contains(&c);
    Value::from(match method {
        "lstrip" => s.trim_start_matches(strip),
        "rstrip" => s.trim_end_matches(strip),
        _ => s.trim_matches(strip),
    })
}
