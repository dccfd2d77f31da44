//! A typed reader of one `config.json` object: every accessor names the file and the key in its
//! error, and a JSON `null` counts as absent (as transformers reads it).
use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// Reads typed fields of one JSON object, naming the file and key in every error.
pub(super) struct Fields<'a> {
    pub(super) file: &'a str,
    pub(super) map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }
    pub(super) fn bad(&self, key: &str, expected: &str, found: &Value) -> Error {
        Error::input(
            self.file,
            format!("`{key}` should be {expected}, found {found}"),
        )
    }
    pub(super) fn usize_opt(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.bad(key, "a non-negative integer", v)),
        }
    }
    pub(super) fn usize(&self, key: &str) -> Result<usize> {
        self.usize_opt(key)?.ok_or_else(|| {
            Error::input(self.file, format!("the required field `{key}` is missing"))
        })
    }
    pub(super) fn positive(&self, key: &str) -> Result<usize> {
        match self.usize(key)? {
            0 => Err(Error::input(self.file, format!("`{key}` must be > 0"))),
            n => Ok(n),
        }
    }
    pub(super) fn f64_opt(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a number", v)),
        }
    }
    pub(super) fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(key, "true or false", v)),
        }
    }
    pub(super) fn str_opt(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a string", v)),
        }
    }
    pub(super) fn f64_list(&self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|x| {
                    x.as_f64()
                        .ok_or_else(|| self.bad(key, "a list of numbers", x))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.bad(key, "a list of numbers", v)),
        }
    }
    /// A token id or a list of them (`eos_token_id`).
    pub(super) fn ids(&self, key: &str) -> Result<Vec<u32>> {
        let one = |v: &Value| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| self.bad(key, "a token id or a list of token ids", v))
        };
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(one).collect(),
            Some(v) => Ok(vec![one(v)?]),
        }
    }
}
