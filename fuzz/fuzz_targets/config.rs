//! The libFuzzer entry of the `config` target. Its body (what the input is, what is checked) is
//! `fuzz/bodies/config.rs`, which `tests/fuzz_regressions.rs` replays in plain `cargo test`.
#![no_main]

#[path = "../bodies/config.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
