//! The libFuzzer entry of the `chat_template` target. Its body (what the input is, what is checked) is
//! `fuzz/bodies/chat_template.rs`, which `tests/fuzz_regressions.rs` replays in plain `cargo test`.
#![no_main]

#[path = "../bodies/chat_template.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
