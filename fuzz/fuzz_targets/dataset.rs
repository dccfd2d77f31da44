//! The libFuzzer entry of the `dataset` target. Its body (what the input is, what is checked) is
//! `fuzz/bodies/dataset.rs`, which `tests/fuzz_regressions.rs` replays in plain `cargo test`.
#![no_main]

#[path = "../bodies/dataset.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
