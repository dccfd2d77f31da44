//! The libFuzzer entry of the `tokenizer` target. Its body (what the input is, what is checked) is
//! `fuzz/bodies/tokenizer.rs`, which `tests/fuzz_regressions.rs` replays in plain `cargo test`.
#![no_main]

#[path = "../bodies/tokenizer.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
