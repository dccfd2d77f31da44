//! The crate's error type: every fallible call returns `Result<T>`; user input never panics.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// An op received a tensor whose shape does not fit the others.
    #[error("{op}: {what} has shape {found}, expected {expected}")]
    Shape {
        op: &'static str,
        what: &'static str,
        expected: String,
        found: String,
    },
    /// An op parameter is out of range (e.g. a column window past the end of a row).
    #[error("{op}: {message}")]
    Param { op: &'static str, message: String },
    /// No WebGPU / Vulkan / Metal / DX12 adapter: the caller can fall back to the CPU backend.
    #[error("no GPU adapter available ({0}); the CPU backend can be used instead")]
    NoAdapter(String),
    /// The adapter exists but a device could not be created, or the device reported an error.
    #[error("GPU device error: {0}")]
    Device(String),
    /// The GPU device is gone (driver reset, browser reclaimed it, or `GpuContext::lose`):
    /// nothing on it can be read back; the run goes on from its last checkpoint on a new device.
    #[error("the GPU device was lost ({0})")]
    DeviceLost(String),
    /// A user file (config, weights, tokenizer, dataset) is missing, unreadable or malformed.
    /// `file` names it (a path natively, the file name in the browser).
    #[error("{file}: {message}")]
    Input { file: String, message: String },
    /// A model or option this build does not handle (an unknown `model_type`, rope type, …);
    /// the message lists what is supported.
    #[error("{0}")]
    Unsupported(String),
    /// A single tensor is larger than one storage binding (or buffer) may be on this device.
    #[error("{what} needs {bytes} bytes, but this device allows at most {limit} bytes per {kind}")]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        kind: &'static str,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A problem with the user file `file`.
    pub fn input(file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            file: file.into(),
            message: message.into(),
        }
    }

    pub(crate) fn param(op: &'static str, message: impl Into<String>) -> Self {
        Error::Param {
            op,
            message: message.into(),
        }
    }
}
