//! The libFuzzer entry of the `safetensors` target. Its body (what the input is, what is checked) is
//! `fuzz/bodies/safetensors.rs`, which `tests/fuzz_regressions.rs` replays in plain `cargo test`.
#![no_main]

#[path = "../bodies/safetensors.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
