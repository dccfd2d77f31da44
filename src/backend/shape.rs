//! Tensor shapes and the shape checks every op runs at entry.
use crate::error::{Error, Result};
use std::fmt;

/// Row-major dimensions of a tensor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn new(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }
    /// Elements per row: the product of all dimensions after the first (1 for a vector).
    pub fn row_width(&self) -> usize {
        self.0.iter().skip(1).product()
    }
    /// Number of rows: the first dimension (1 for a scalar).
    pub fn rows(&self) -> usize {
        self.0.first().copied().unwrap_or(1)
    }
    /// `(rows, cols)` of a 2-D tensor, or a shape error naming `op` and `what`.
    pub fn matrix(&self, op: &'static str, what: &'static str) -> Result<(usize, usize)> {
        match self.0.as_slice() {
            [r, c] => Ok((*r, *c)),
            _ => Err(Error::Shape {
                op,
                what,
                expected: "[rows, cols]".into(),
                found: self.to_string(),
            }),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|d| d.to_string()).collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// Fails unless `found` equals `expected`.
pub(crate) fn expect(
    op: &'static str,
    what: &'static str,
    found: &Shape,
    expected: &[usize],
) -> Result<()> {
    if found.dims() == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            op,
            what,
            expected: Shape::new(expected).to_string(),
            found: found.to_string(),
        })
    }
}

/// Fails unless `found` has `expected` elements (any arrangement).
pub(crate) fn expect_numel(
    op: &'static str,
    what: &'static str,
    found: &Shape,
    expected: usize,
) -> Result<()> {
    if found.numel() == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            op,
            what,
            expected: format!("{expected} elements"),
            found: found.to_string(),
        })
    }
}

/// Fails unless `len` equals `expected` (for id vectors and host slices).
pub(crate) fn expect_len(
    op: &'static str,
    what: &'static str,
    len: usize,
    expected: usize,
) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            op,
            what,
            expected: format!("length {expected}"),
            found: format!("length {len}"),
        })
    }
}
