#!/usr/bin/env bash
# Runs every fuzz target (or those named after SECONDS) for SECONDS (default 60) each from its
# corpus (committed seeds corpus/<target>/seed-* plus whatever earlier runs kept) and the inputs
# that once made it fail (regressions/<target>/, read but not written), with the memory
# and time limits of a browser tab. Prints per target: executions, final coverage, and the
# execution and second at which coverage last grew ("nothing new" after that point).
# Full libFuzzer logs go to logs/<target>.log, crashes to artifacts/<target>/; a crash, once
# fixed, goes into regressions/<target>/ (named after what it did), which
# tests/fuzz_regressions.rs replays in plain `cargo test` through the same body
# (bodies/<target>.rs).
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain is used with
# RUSTC_BOOTSTRAP=1 for the sanitizer flags.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(safetensors shard_index gguf config dataset chat_template tokenizer)
export RUSTC_BOOTSTRAP=1
mkdir -p logs
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  # libFuzzer's status lines carry the execution count and the elapsed seconds when -print_pcs
  # is off; -print_final_stats gives the totals.
  extra=()
  [ -d "regressions/$t" ] && extra=("regressions/$t")
  cargo fuzz run -O "$t" "corpus/$t" "${extra[@]}" -- -max_total_time="$SECONDS_EACH" \
    -rss_limit_mb=4096 -timeout=20 -max_len=262144 -print_final_stats=1 >"logs/$t.log" 2>&1
  status=$?
  runs=$(grep -E '^stat::number_of_executed_units' "logs/$t.log" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+' "logs/$t.log" | tail -1 | grep -oE 'cov: [0-9]+' | awk '{print $2}')
  # The execution (and, from its exec/s, the second) at which the coverage count last grew:
  # nothing new was found after it.
  last_new=$(awk '/^#[0-9]+/ {
      for (i = 1; i < NF; i++) { if ($i == "cov:") c = $(i + 1); if ($i == "exec/s:") r = $(i + 1) }
      n = substr($1, 2); if (c != last) { at = n; rate = r; last = c } }
    END { printf "exec %s (~%d s)", at, (rate > 0 ? at / rate : 0) }' "logs/$t.log")
  crashes=$(grep -cE '(crash|timeout|oom|leak)-[0-9a-f]+' "logs/$t.log")
  echo "$t: exit $status, ${runs:-?} runs, cov ${cov:-?}, last new coverage at ${last_new:-none}, crash files $crashes"
done
