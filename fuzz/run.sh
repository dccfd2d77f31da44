#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each from its committed seeds (corpus/<target>/
# seed-*), with the memory and time limits of a browser tab, and prints libFuzzer's final line.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain is used with
# RUSTC_BOOTSTRAP=1 for the sanitizer flags. Crashes land in artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
export RUSTC_BOOTSTRAP=1
for t in safetensors shard_index gguf config dataset chat_template tokenizer; do
  mkdir -p "corpus/$t"
  cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 \
    -timeout=20 -max_len=262144 2>&1 | grep -E "^(Done|==|SUMMARY|.*crash-|.*timeout-|.*oom-)" | tail -3
  echo "== $t done"
done
