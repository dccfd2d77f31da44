//! The body of every fuzz target, one file each (`run(data)`), shared by two callers without a
//! copy: each `fuzz_targets/<target>.rs` is a `fuzz_target!` wrapper that includes its file with
//! `#[path]`, and `tests/fuzz_regressions.rs` includes this module and replays the committed
//! corpora and `fuzz/regressions/` through the same bodies in plain `cargo test`.
//! A body returns normally for any input; a panic (or a broken invariant, asserted inside the
//! body) is the finding.
pub mod chat_template;
pub mod config;
pub mod dataset;
pub mod gguf;
pub mod safetensors;
pub mod shard_index;
pub mod tokenizer;
