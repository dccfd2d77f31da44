//! The libFuzzer entry of the `gguf` target. Its body (what the input is, what is checked) is
//! `fuzz/bodies/gguf.rs`, which `tests/fuzz_regressions.rs` replays in plain `cargo test`.
#![no_main]

#[path = "../bodies/gguf.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
