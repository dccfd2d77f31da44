//! The libFuzzer entry of the `shard_index` target. Its body (what the input is, what is checked) is
//! `fuzz/bodies/shard_index.rs`, which `tests/fuzz_regressions.rs` replays in plain `cargo test`.
#![no_main]

#[path = "../bodies/shard_index.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
