//! Python methods on template values: `minijinja_contrib::pycompat`, except `str.join`, which
//! pycompat charges only for its separators, so `''.join(['x' * 1000000] * 100000)` would build
//! 100 GB. Here the joined string is bounded like a whole render's output.
use std::fmt::Write;

use minijinja::value::Value;
use minijinja::{Error, ErrorKind, State};

/// Largest string `str.join` builds (the same bound as a render's output).
pub(crate) const MAX_JOINED_BYTES: usize = 8 << 20;

/// The unknown-method callback the template environment uses.
pub(crate) fn unknown_method_callback(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    match (value.as_str(), method, args) {
        (Some(separator), "join", [items]) => join(separator, items),
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
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
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "str.join: the joined string would be larger than {} MiB",
            MAX_JOINED_BYTES >> 20
        ),
    )
}
