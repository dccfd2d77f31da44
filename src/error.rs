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
    /// A packed frozen tensor (f16, bf16) was passed where an op needs f32: packed tensors are
    /// accepted only as the B operand of `matmul` and as the `embedding` table.
    #[error(
        "{op}: {what} is stored as {format}; packed tensors are accepted only as the B operand \
         of matmul and as the embedding table"
    )]
    Packed {
        op: &'static str,
        what: &'static str,
        format: crate::backend::Format,
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
    /// Not enough memory for a buffer or a whole run: the GPU refused an allocation (out of
    /// memory, or beyond a budget set with `?max-memory=` / `--gpu-memory`), the run's estimate
    /// exceeds that budget, or host memory (wasm32: 4 GiB at most) could not grow.
    #[error(
        "not enough {device} memory for {what}{}{}{}; \
         a shorter sequence length, a smaller batch or a smaller model needs less",
        .bytes.map_or(String::new(), |b| format!(": it needs {}", human_bytes(b))),
        if *.held > 0 { format!(", with {} already in use", human_bytes(*.held)) } else { String::new() },
        .limit.map_or(String::new(), |l| format!(", of at most {} available", human_bytes(l)))
    )]
    OutOfMemory {
        /// "GPU" or "host".
        device: &'static str,
        what: String,
        /// What the refused allocation needed, when known (a browser reports its out-of-memory
        /// errors later, without the size).
        bytes: Option<u64>,
        held: u64,
        limit: Option<u64>,
    },
}

/// `1234567890` → `"1.23 GB"` (decimal units, as memory sizes are shown to users).
pub fn human_bytes(b: u64) -> String {
    match b {
        0..1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        _ => format!("{:.2} GB", b as f64 / 1e9),
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The `op` of [`Error::Param`]s raised by the chat template (kind `"template"`).
pub const TEMPLATE_OP: &str = "chat template";

impl Error {
    /// A stable, machine-readable name of the error's kind, for callers that act on it rather
    /// than show it (the page switches on it: `err.kind` in JavaScript). One per variant, and
    /// `"template"` for a chat template that cannot be compiled or rendered:
    ///
    /// | kind | variant |
    /// |---|---|
    /// | `shape` | [`Error::Shape`] (an engine bug: an op got mismatched tensors) |
    /// | `packed` | [`Error::Packed`] (an engine bug: a packed weight reached an f32-only op) |
    /// | `invalid` | [`Error::Param`] (an option out of range, a call out of order) |
    /// | `template` | [`Error::Param`] from the chat template |
    /// | `no-gpu` | [`Error::NoAdapter`] |
    /// | `device-error` | [`Error::Device`] |
    /// | `device-lost` | [`Error::DeviceLost`] |
    /// | `bad-input` | [`Error::Input`] |
    /// | `unsupported` | [`Error::Unsupported`] |
    /// | `binding-too-large` | [`Error::TooLarge`] |
    /// | `out-of-memory` | [`Error::OutOfMemory`] |
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Shape { .. } => "shape",
            Error::Packed { .. } => "packed",
            Error::Param { op, .. } if *op == TEMPLATE_OP => "template",
            Error::Param { .. } => "invalid",
            Error::NoAdapter(_) => "no-gpu",
            Error::Device(_) => "device-error",
            Error::DeviceLost(_) => "device-lost",
            Error::Input { .. } => "bad-input",
            Error::Unsupported(_) => "unsupported",
            Error::TooLarge { .. } => "binding-too-large",
            Error::OutOfMemory { .. } => "out-of-memory",
        }
    }

    /// A problem with the user file `file`.
    pub fn input(file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            file: file.into(),
            message: message.into(),
        }
    }

    /// Says what an out-of-memory error was allocating for (a tensor's name, "the training
    /// buffers …"), keeping the buffer it names; other errors pass through.
    pub fn allocating(self, context: impl FnOnce() -> String) -> Self {
        match self {
            Error::OutOfMemory {
                device,
                what,
                bytes,
                held,
                limit,
            } => Error::OutOfMemory {
                device,
                what: format!("{} ({what})", context()),
                bytes,
                held,
                limit,
            },
            e => e,
        }
    }

    pub(crate) fn param(op: &'static str, message: impl Into<String>) -> Self {
        Error::Param {
            op,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every variant (a new variant fails to compile here until it is listed).
    fn one_of_each() -> Vec<Error> {
        let all = vec![
            Error::Shape {
                op: "matmul",
                what: "a",
                expected: "[2, 3]".into(),
                found: "[3, 2]".into(),
            },
            Error::Packed {
                op: "add_assign",
                what: "y",
                format: crate::backend::Format::Bf16,
            },
            Error::param("options", "lr must be positive"),
            Error::param(TEMPLATE_OP, "out of fuel"),
            Error::NoAdapter("none".into()),
            Error::Device("validation".into()),
            Error::DeviceLost("reset".into()),
            Error::input("config.json", "not JSON"),
            Error::Unsupported("model_type x".into()),
            Error::TooLarge {
                what: "embed".into(),
                bytes: 2,
                limit: 1,
                kind: "binding",
            },
            Error::OutOfMemory {
                device: "GPU",
                what: "w".into(),
                bytes: None,
                held: 0,
                limit: None,
            },
        ];
        for e in &all {
            // Exhaustive: adding a variant breaks this match, and so this list.
            match e {
                Error::Shape { .. }
                | Error::Packed { .. }
                | Error::Param { .. }
                | Error::NoAdapter(_)
                | Error::Device(_)
                | Error::DeviceLost(_)
                | Error::Input { .. }
                | Error::Unsupported(_)
                | Error::TooLarge { .. }
                | Error::OutOfMemory { .. } => {}
            }
        }
        all
    }

    #[test]
    fn every_variant_has_its_own_kebab_case_kind() {
        let kinds: Vec<&str> = one_of_each().iter().map(Error::kind).collect();
        assert_eq!(
            kinds,
            [
                "shape",
                "packed",
                "invalid",
                "template",
                "no-gpu",
                "device-error",
                "device-lost",
                "bad-input",
                "unsupported",
                "binding-too-large",
                "out-of-memory"
            ]
        );
        let distinct: std::collections::HashSet<&str> = kinds.iter().copied().collect();
        assert_eq!(distinct.len(), kinds.len());
        for k in kinds {
            assert!(
                k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{k}"
            );
        }
    }

    #[test]
    fn a_kind_survives_the_allocating_context() {
        let e = Error::OutOfMemory {
            device: "host",
            what: "x".into(),
            bytes: Some(1),
            held: 0,
            limit: None,
        };
        assert_eq!(e.allocating(|| "the batch".into()).kind(), "out-of-memory");
    }
}
