//! GGUF metadata: the typed values of the key/value section, and typed look-ups whose errors name
//! the file, the key and the expected type.
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// The value types of the format (their codes are the discriminants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    pub fn from_code(code: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match code {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// Fewest bytes one value of this type takes in a file (a string: its 8-byte length).
    pub fn min_size(self) -> u64 {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            // element type + count
            Array => 12,
        }
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    /// Element type and items (arrays of arrays are refused by the reader).
    Array(ValueType, Vec<Value>),
}

impl Value {
    /// An integer of any width, as i128 (`None` for other types).
    pub fn as_int(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// A float or an integer as f64 (`None` for other types).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_int().map(|i| i as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The type's name as the format calls it, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "uint8",
            Value::I8(_) => "int8",
            Value::U16(_) => "uint16",
            Value::I16(_) => "int16",
            Value::U32(_) => "uint32",
            Value::I32(_) => "int32",
            Value::F32(_) => "float32",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::U64(_) => "uint64",
            Value::I64(_) => "int64",
            Value::F64(_) => "float64",
            Value::Array(..) => "array",
        }
    }
}

/// The key/value section of one file.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// The file, named in errors.
    pub file: String,
    pub values: BTreeMap<String, Value>,
}

impl Metadata {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    fn bad(&self, key: &str, expected: &str, found: &Value) -> Error {
        Error::input(
            &self.file,
            format!(
                "metadata `{key}` should be {expected}, found a {}",
                found.type_name()
            ),
        )
    }

    /// A non-negative integer that fits `usize`.
    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        if let Value::Array(..) = v {
            return Err(Error::Unsupported(format!(
                "{}: metadata `{key}` holds one value per layer, which is not supported (all layers must be alike)",
                self.file
            )));
        }
        v.as_int()
            .and_then(|i| usize::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| self.bad(key, "a non-negative integer", v))
    }

    /// A required non-negative integer.
    pub fn require_usize(&self, key: &str) -> Result<usize> {
        self.usize(key)?.ok_or_else(|| self.missing(key))
    }

    /// A number (float or integer) as f64.
    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a number", v)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.bad(key, "a bool", v)),
        }
    }

    pub fn str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a string", v)),
        }
    }

    /// An array of strings.
    pub fn str_array(&self, key: &str) -> Result<Option<Vec<&str>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(ValueType::String, items)) => {
                Ok(Some(items.iter().filter_map(Value::as_str).collect()))
            }
            Some(v) => Err(self.bad(key, "an array of strings", v)),
        }
    }

    /// An array of integers of any width.
    pub fn int_array(&self, key: &str) -> Result<Option<Vec<i128>>> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Array(_, items)) => items
                .iter()
                .map(|x| {
                    x.as_int()
                        .ok_or_else(|| self.bad(key, "an array of integers", v))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.bad(key, "an array of integers", v)),
        }
    }

    /// The error for a required key that is absent.
    pub fn missing(&self, key: &str) -> Error {
        Error::input(
            &self.file,
            format!("the required metadata key `{key}` is missing"),
        )
    }
}
